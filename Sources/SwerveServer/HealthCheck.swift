import SwerveHTTP
import Synchronization

/// `--health PATH`: a path answered before any file lookup, `200 ok` while the server takes traffic and `503` once
/// it is about to stop (after SIGTERM, for the drain delay, then while draining), so a load balancer takes it out
/// of rotation before the listener closes. Never cached (`Cache-Control: no-store`).
final class HealthCheck: Sendable {
    /// The path as a client sends it (no query; compared byte for byte, as a proxy's probe sends it).
    let path: [UInt8]
    /// Set when shutdown begins (`Server.beginDraining`); from then on the check fails.
    let draining = Atomic<Bool>(false)

    static let okBody: StaticString = "ok\n"
    static let drainingBody: StaticString = "draining\n"
    static let contentType: StaticString = "text/plain; charset=utf-8"

    /// `path` must be an absolute path without a query, spaces or control characters (`/healthz`).
    init(path: String) throws(ServerError) {
        let bytes = Array(path.utf8)
        guard bytes.first == UInt8(ascii: "/"), !bytes.contains(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
        else {
            throw ServerError("invalid --health '\(path)': expected an absolute path such as /healthz (no query, no spaces)", usage: true)
        }
        self.path = bytes
    }

    /// The answer's head: `200` with `ok`, or `503` with `draining`; `text/plain`, never stored. The caller sets
    /// the connection field and appends `body(draining:)` unless the request was HEAD.
    static func head(draining: Bool, nosniff: Bool) -> ResponseHead {
        let body = draining ? drainingBody : okBody
        var response = ResponseHead(status: draining ? .serviceUnavailable : .ok, contentLength: body.utf8CodeUnitCount)
        response.contentType = UnsafeRawBufferPointer(start: contentType.utf8Start, count: contentType.utf8CodeUnitCount)
        response.cacheControl = HTTPHandler.noStore
        response.nosniff = nosniff
        return response
    }

    static func body(draining: Bool) -> UnsafeRawBufferPointer {
        let body = draining ? drainingBody : okBody
        return UnsafeRawBufferPointer(start: body.utf8Start, count: body.utf8CodeUnitCount)
    }

    /// Whether a request's path without its query (`RequestHead.pathWithoutQuery`) is the health path.
    func matches(_ requestPath: UnsafeRawBufferPointer) -> Bool {
        path.withUnsafeBytes { requestPath.elementsEqual($0) }
    }
}

import SwerveEngine
import SwerveHTTP

/// `--redirect-http ADDR:PORT`: a plain-HTTP listener that answers every request with `308 Permanent Redirect` to
/// the same URL over https (`HTTPSRedirect.location`), so `http://example.org/a` leads to `https://example.org/a`.
/// RFC 9110 §15.4.9: 308 means "the target resource has been assigned a new permanent URI" and, unlike 301, a
/// client "MUST NOT change the request method" — a POST stays a POST. The health path (`--health`) is answered
/// here as on the HTTPS port, so a load balancer probing plain HTTP sees the server's state, not a redirect.
///
/// It runs on an engine of its own (one loop): redirects are cheap, and the site's loops never see plain HTTP.
/// A request with a body is answered and the connection closed (lingering) rather than its body read.
final class RedirectHandler: ConnectionHandler {
    struct ConnectionState: BitwiseCopyable {}

    private var parser = RequestParser()
    private var date = DateCache()
    /// The HTTPS listener's port, for the Location (left out when it is 443).
    private let httpsPort: UInt16
    private let health: HealthCheck?
    private let nosniff: Bool

    init(httpsPort: UInt16, health: HealthCheck?, nosniff: Bool) {
        self.httpsPort = httpsPort
        self.health = health
        self.nosniff = nosniff
    }

    func makeConnectionState() -> ConnectionState { ConnectionState() }
    func connectionClosed(id: Int32, state: inout ConnectionState) {}
    func tick(now: Int64) -> Bool { false }

    func process(
        _ input: UnsafeRawBufferPointer, state: inout ConnectionState, output: inout OutputWriter, context: ProcessContext
    ) -> ProcessOutcome {
        var consumed = 0
        while consumed < input.count {
            // A head (its Location is at most the request's authority and target) and a small page.
            if output.freeBytes < 16 * 1024 || output.freeSegments < 4 { return .outputFull(consumed: consumed) }
            let request = UnsafeRawBufferPointer(rebasing: input[consumed...])
            switch parser.parse(request) {
            case .incomplete:
                return .needInput(consumed: consumed, midMessage: true)
            case .error(let error):
                writePage(error.status, location: nil, isHead: false, connection: .close, output: &output, context: context)
                return .close(consumed: input.count, lingering: true)
            case .head(let head):
                consumed += head.headerLength
                let hasBody = head.contentLength > 0 || head.chunked
                let keepAlive = head.keepAlive && !context.draining && !hasBody
                let connection: ResponseHead.ConnectionField = !keepAlive ? .close : (head.versionMinor == 0 ? .keepAlive : .none)
                let isHead = head.method == .head
                if let health, head.method == .get || isHead, health.matches(head.pathWithoutQuery(in: request)) {
                    let draining = context.draining || health.draining.load(ordering: .relaxed)
                    var response = HealthCheck.head(draining: draining, nosniff: nosniff)
                    response.connection = connection
                    output.appendHead(response, date: date.bytes(at: context.wallClockSeconds))
                    if !isHead { output.append(HealthCheck.body(draining: draining)) }
                } else if let location = HTTPSRedirect.location(
                    authority: head.authority?.bytes(in: request), path: head.path.bytes(in: request), httpsPort: httpsPort) {
                    location.withUnsafeBytes { location in
                        writePage(.permanentRedirect, location: location, isHead: isHead, connection: connection, output: &output, context: context)
                    }
                } else {
                    // HTTP/1.0 without Host: no name to redirect to (HTTP/1.1 without Host is refused by the parser).
                    writePage(.badRequest, location: nil, isHead: isHead, connection: connection, output: &output, context: context)
                }
                if !keepAlive { return .close(consumed: input.count, lingering: hasBody) }
            }
        }
        return .needInput(consumed: consumed, midMessage: false)
    }

    /// A status with the server's small HTML page for it (`ErrorPage`), and the Location when there is one.
    private func writePage(
        _ status: HTTPStatus, location: UnsafeRawBufferPointer?, isHead: Bool, connection: ResponseHead.ConnectionField,
        output: inout OutputWriter, context: ProcessContext
    ) {
        var response = ResponseHead(status: status, contentLength: ErrorPage.length(status))
        response.contentType = UnsafeRawBufferPointer(start: ErrorPage.contentType.utf8Start, count: ErrorPage.contentType.utf8CodeUnitCount)
        response.location = location
        response.connection = connection
        response.nosniff = nosniff
        output.appendHead(response, date: date.bytes(at: context.wallClockSeconds))
        if !isHead { output.appendErrorPage(status) }
    }
}

// HTTP status codes the server can emit, and the error type the socket-free parsers return.
//
// Cost: both types are two or three words of plain data (an Int and StaticString pointers into the
// binary's read-only data). Creating one allocates nothing, so error paths are as cheap as success paths.

/// A response status: the numeric code and its reason phrase (RFC 9110 §15).
///
/// `reason` is a `StaticString` so that the serialiser can copy its bytes straight from read-only data.
/// Equality and hashing look at `code` only: two statuses with the same code are the same status.
public struct HTTPStatus: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let code: Int
    public let reason: StaticString

    @inlinable
    public init(code: Int, reason: StaticString) {
        self.code = code
        self.reason = reason
    }

    @inlinable
    public static func == (lhs: HTTPStatus, rhs: HTTPStatus) -> Bool { lhs.code == rhs.code }

    @inlinable
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "\(code) \(reason)" }

    public static let ok = HTTPStatus(code: 200, reason: "OK")
    public static let noContent = HTTPStatus(code: 204, reason: "No Content")
    public static let partialContent = HTTPStatus(code: 206, reason: "Partial Content")
    public static let movedPermanently = HTTPStatus(code: 301, reason: "Moved Permanently")
    public static let notModified = HTTPStatus(code: 304, reason: "Not Modified")
    public static let permanentRedirect = HTTPStatus(code: 308, reason: "Permanent Redirect")
    public static let badRequest = HTTPStatus(code: 400, reason: "Bad Request")
    public static let forbidden = HTTPStatus(code: 403, reason: "Forbidden")
    public static let notFound = HTTPStatus(code: 404, reason: "Not Found")
    public static let methodNotAllowed = HTTPStatus(code: 405, reason: "Method Not Allowed")
    public static let notAcceptable = HTTPStatus(code: 406, reason: "Not Acceptable")
    public static let requestTimeout = HTTPStatus(code: 408, reason: "Request Timeout")
    public static let lengthRequired = HTTPStatus(code: 411, reason: "Length Required")
    public static let preconditionFailed = HTTPStatus(code: 412, reason: "Precondition Failed")
    /// RFC 9110 §15.5.14 renamed "Payload Too Large" to "Content Too Large".
    public static let contentTooLarge = HTTPStatus(code: 413, reason: "Content Too Large")
    public static let uriTooLong = HTTPStatus(code: 414, reason: "URI Too Long")
    public static let rangeNotSatisfiable = HTTPStatus(code: 416, reason: "Range Not Satisfiable")
    /// RFC 6585 §5.
    public static let requestHeaderFieldsTooLarge = HTTPStatus(code: 431, reason: "Request Header Fields Too Large")
    public static let internalServerError = HTTPStatus(code: 500, reason: "Internal Server Error")
    public static let notImplemented = HTTPStatus(code: 501, reason: "Not Implemented")
    public static let serviceUnavailable = HTTPStatus(code: 503, reason: "Service Unavailable")
    public static let httpVersionNotSupported = HTTPStatus(code: 505, reason: "HTTP Version Not Supported")
}

/// Why a request (head or chunked body) was rejected: the status to answer with, and a short text for the log.
///
/// After any `ParseError` the connection's framing can no longer be trusted: the server should send the
/// status with `Connection: close` and close the connection.
///
/// Equality compares the status code and the bytes of `reason`.
public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPStatus
    /// Short, static log text, e.g. "whitespace before colon". Never contains request bytes.
    public var reason: StaticString

    @inlinable
    public init(status: HTTPStatus, reason: StaticString) {
        self.status = status
        self.reason = reason
    }

    public static func == (lhs: ParseError, rhs: ParseError) -> Bool {
        guard lhs.status == rhs.status else { return false }
        // withUTF8Buffer, not utf8CodeUnitCount: the latter traps on a single-scalar StaticString.
        return lhs.reason.withUTF8Buffer { x in rhs.reason.withUTF8Buffer { y in x.elementsEqual(y) } }
    }

    public var description: String { "\(status.code) \(reason)" }
}

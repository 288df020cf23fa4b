// The plain-data results of `RequestParser`: what a request head says, as offsets into the caller's buffer.
//
// Invariant: nothing here owns memory. Every type is a few words of trivial data (no references, no
// String/Array), so returning a `RequestHead` costs a copy of ~70 bytes and no retain/release.

/// The request method (RFC 9110 §9). Only the methods a static file server acts on get their own case.
///
/// RFC 9110 §9.1: "The method token is case-sensitive" — so `get` is `.other`, not `.get`.
public enum HTTPMethod: UInt8, Sendable {
    case get, head, options
    /// Any other syntactically valid method token (POST, PUT, get, ...). Its bytes are in `RequestHead.methodName`.
    case other
}

/// The methods of RFC 9110 §9 a file server does not allow, and PATCH (RFC 5789): recognised, so 405, not 501.
private let recognizedOtherMethods: [StaticString] = ["POST", "PUT", "DELETE", "CONNECT", "TRACE", "PATCH"]

extension HTTPMethod {
    /// Whether `token`, the name of an `.other` method, is a method this server recognises but allows on nothing.
    /// RFC 9110 §9.1: "An origin server that receives a request method that is unrecognized or not implemented
    /// SHOULD respond with the 501 (Not Implemented) status code. An origin server that receives a request method
    /// that is recognized and implemented, but not allowed for the target resource, SHOULD respond with the 405
    /// (Method Not Allowed) status code." Case-sensitive (§9.1), so `post` is not recognised.
    public static func isRecognized(_ token: UnsafeRawBufferPointer) -> Bool {
        recognizedOtherMethods.contains { name in name.withUTF8Buffer { $0.elementsEqual(token) } }
    }
}

/// Header fields the server acts on. Every other field line is validated and counted, then skipped.
///
/// Names match case-insensitively (RFC 9110 §5.1: "Field names are case-insensitive").
/// Order matters: the first four cases are the fields that frame the request (the parser tests
/// `rawValue <= transferEncoding.rawValue`); add new cases at the end.
public enum KnownHeader: UInt8, Sendable, CaseIterable {
    // The first four shape the request (the parser acts on them itself); keep them first.
    case host, connection, contentLength, transferEncoding, acceptEncoding,
        ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince, range, ifRange,
        accept, origin, accessControlRequestMethod, accessControlRequestHeaders,
        // For the access log.
        userAgent, referer
    // At most 32: `RequestParser.presentMask` is a UInt32.
}

/// Size limits for one request head. The parser clamps each value into a sane range (see the fields).
public struct ParserLimits: Sendable, Equatable {
    /// Longest accepted request-target, in bytes; longer → 414. Clamped to 1...(1 << 24).
    /// RFC 9112 §3: "It is RECOMMENDED that all HTTP senders and recipients support, at a minimum,
    /// request-line lengths of 8000 octets." — 8192 leaves room for the method and version.
    public var maxTargetLength: Int
    /// Largest header section (the field lines after the request line, each with its line terminator; the
    /// final empty line is not counted); larger → 431. Clamped to 0...(1 << 24).
    /// 16 KiB: browsers with large cookies stay under 8 KiB; nginx's default large buffer is 8 KiB.
    public var maxHeaderBytes: Int
    /// Most field lines accepted (all names, known or not); more → 431. Clamped to 0...10_000.
    /// 100 is what Apache (LimitRequestFields) uses; real browsers send 10–20.
    public var maxHeaderFields: Int

    @inlinable
    public init(maxTargetLength: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderFields: Int = 100) {
        self.maxTargetLength = maxTargetLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderFields = maxHeaderFields
    }

    public static let `default` = ParserLimits()
}

/// A byte range `start..<end` in the buffer that was parsed. A field value has its leading and trailing
/// whitespace (OWS) already removed. Valid only while the caller's buffer is unchanged.
public struct FieldValue: Sendable, Equatable, Hashable {
    public var start: Int32
    public var end: Int32

    @inlinable @inline(__always)
    public init(start: Int32, end: Int32) {
        self.start = start
        self.end = end
    }

    @inlinable @inline(__always)
    init(_ start: Int, _ end: Int) {
        // Safe narrowing: RequestParser clamps its limits so every head offset is < 2^26.
        self.start = Int32(truncatingIfNeeded: start)
        self.end = Int32(truncatingIfNeeded: end)
    }

    @inlinable
    public var count: Int { Int(end) - Int(start) }

    @inlinable
    public var isEmpty: Bool { end <= start }

    /// The bytes of this range inside `buffer` (the same buffer that was parsed). No copy.
    @inlinable
    public func bytes(in buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[Int(start)..<Int(end)])
    }

    /// ASCII case-insensitive comparison with a lower-case literal, e.g. `v.equalsLowercase("gzip", in: buf)`.
    /// `literal` must be lower-case ASCII. No allocation.
    @inlinable
    public func equalsLowercase(_ literal: StaticString, in buffer: UnsafeRawBufferPointer) -> Bool {
        let b = bytes(in: buffer)
        return literal.withUTF8Buffer { lit in
            guard lit.count == b.count else { return false }
            for k in 0..<lit.count where FieldValue.asciiLower(b[k]) != lit[k] { return false }
            return true
        }
    }

    /// A copy as a String, for logging and tests. Allocates: keep out of the hot path.
    public func string(in buffer: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes(in: buffer), as: UTF8.self)
    }
}

extension FieldValue {
    /// 'A'...'Z' → 'a'...'z'; every other byte unchanged.
    @inlinable @inline(__always)
    static func asciiLower(_ c: UInt8) -> UInt8 {
        c &- 0x41 < 26 ? c | 0x20 : c
    }
}

/// What a request head says. Byte ranges point into the buffer passed to `RequestParser.parse`.
public struct RequestHead: Sendable, Equatable {
    public var method: HTTPMethod
    /// 0 for HTTP/1.0, 1 for HTTP/1.1. A higher 1.x minor is reported as 1: RFC 9110 §2.5 "A recipient that
    /// receives a message with a major version number that it implements and a minor version number higher
    /// than what it implements SHOULD process the message as if it were in the highest minor version within
    /// that major version to which the recipient is conformant".
    public var versionMinor: UInt8
    /// The absolute-path plus optional "?query" of the request-target. For the absolute-form
    /// `GET http://host:8080/a?b HTTP/1.1` this is "/a?b", and "/" when that URI has no path.
    /// For the asterisk-form (`OPTIONS * HTTP/1.1`) this is "*".
    public var path: FieldValue
    /// RFC 9112 §9.3: HTTP/1.1 persists unless a "close" connection option is present; HTTP/1.0 persists
    /// only with a "keep-alive" connection option (and no "close").
    public var keepAlive: Bool
    /// The Content-Length, 0 when absent. Never set together with `chunked` (that request is rejected).
    public var contentLength: Int
    /// Transfer-Encoding is exactly `chunked` (the only coding accepted); drain the body with `ChunkedBodyDecoder`.
    public var chunked: Bool
    /// Bytes consumed from the start of the buffer through the empty line that ends the header section
    /// (includes skipped leading empty lines). A pipelined request starts at this offset.
    public var headerLength: Int
    /// Number of known fields stored in the parser (see `RequestParser.forEachField`).
    public var fieldCount: Int

    // Additions beyond the lead's sketch.

    /// The method token as sent (useful for `.other`, e.g. logging "POST").
    public var methodName: FieldValue
    /// The whole request-target as sent (for logs).
    public var target: FieldValue
    /// The authority the request is for: the request-target's authority for the absolute-form (RFC 9112 §3.2.2:
    /// the server "MUST ignore the received Host header field (if any) and instead use the host information of
    /// the request-target"), else the Host field value. `nil` only for HTTP/1.0 without Host. Syntax-checked.
    public var authority: FieldValue?
    /// The request-target was in absolute-form (`http://...`).
    public var isAbsoluteForm: Bool

    /// `path` without its query: `/a` of `/a?b`, as sent (not decoded). What names a fixed endpoint (a health check,
    /// `/metrics`) that is matched byte for byte.
    public func pathWithoutQuery(in buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let whole = path.bytes(in: buffer)
        let end = whole.firstIndex(of: UInt8(ascii: "?")) ?? whole.count
        return UnsafeRawBufferPointer(rebasing: whole[0..<end])
    }

    @inlinable
    public init(
        method: HTTPMethod, versionMinor: UInt8, path: FieldValue, keepAlive: Bool, contentLength: Int,
        chunked: Bool, headerLength: Int, fieldCount: Int, methodName: FieldValue, target: FieldValue,
        authority: FieldValue?, isAbsoluteForm: Bool
    ) {
        self.method = method
        self.versionMinor = versionMinor
        self.path = path
        self.keepAlive = keepAlive
        self.contentLength = contentLength
        self.chunked = chunked
        self.headerLength = headerLength
        self.fieldCount = fieldCount
        self.methodName = methodName
        self.target = target
        self.authority = authority
        self.isAbsoluteForm = isAbsoluteForm
    }
}

/// The outcome of one `RequestParser.parse` call.
public enum ParseResult: Sendable, Equatable {
    /// The empty line ending the head has not arrived and no limit is exceeded yet: read more, then parse
    /// the whole buffer again.
    case incomplete
    /// A complete, valid head. Its known fields are in the parser until the next `parse` call.
    case head(RequestHead)
    /// Reject with `error.status` and close the connection.
    case error(ParseError)
}

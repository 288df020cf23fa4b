/// `--cors ORIGINS`: which other origins' pages may read this site's responses (the Fetch standard's CORS protocol,
/// https://fetch.spec.whatwg.org/#http-cors-protocol). `*` allows every origin; a comma list allows those exactly,
/// and then the matching origin is echoed and every response says `Vary: Origin`, so a cache never hands one
/// origin's answer to another.
///
/// A static site has nothing a credentialed request could unlock, so `Access-Control-Allow-Credentials` is never
/// sent, and `*` stays a literal `*` (which browsers refuse for credentialed requests, as they should here).
///
/// Immutable after startup; `allowOrigin` runs per request that carries an `Origin` and allocates nothing.
public final class CORSPolicy: Sendable {
    /// How long a browser may cache a preflight answer (`Access-Control-Max-Age`): one day. Chromium caps it at
    /// two hours, Firefox at one day.
    public static let maxAgeSeconds = 86_400

    public enum PolicyError: Error, Equatable, Sendable, CustomStringConvertible {
        case empty
        case invalidOrigin(String)

        public var description: String {
            switch self {
            case .empty:
                return "--cors: expected '*' or a comma-separated list of origins (https://app.example, http://localhost:3000)"
            case .invalidOrigin(let origin):
                return "--cors: '\(origin)' is not an origin: expected scheme://host[:port], without a path or a trailing slash"
            }
        }
    }

    /// nil: every origin (`*`).
    private let origins: [[UInt8]]?

    /// `*`, or origins separated by commas (spaces around them ignored), each `scheme://host[:port]` as browsers
    /// send it in `Origin`; scheme and host are compared case-insensitively.
    public init(_ text: String) throws(PolicyError) {
        let items = text.split(separator: ",").map { HTTPSyntax.trimmingSpacesAndTabs($0.utf8) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw .empty }
        if items == ["*"] {
            origins = nil
            return
        }
        var list: [[UInt8]] = []
        for item in items {
            guard Self.isOrigin(item) else { throw .invalidOrigin(item) }
            list.append(Array(item.lowercased().utf8))
        }
        origins = list
    }

    /// Every origin is allowed (`*`).
    public var allowsAnyOrigin: Bool { origins == nil }

    /// The responses' Allow-Origin depends on the request's Origin: they vary on it, with or without one.
    public var variesByOrigin: Bool { origins != nil }

    /// The `Access-Control-Allow-Origin` value for a request whose `Origin` is `origin`: the static `*`, the
    /// request's own bytes when listed, or nil when it is not allowed (then no CORS field is sent, and the browser
    /// keeps the response from the page).
    public func allowOrigin(_ origin: UnsafeRawBufferPointer) -> CORSFields.AllowOrigin? {
        guard let origins else { return .any }
        for allowed in origins where allowed.count == origin.count {
            var equal = true
            for k in 0..<allowed.count where allowed[k] != FieldValue.asciiLower(origin[k]) {
                equal = false
                break
            }
            if equal { return .echo(origin) }
        }
        return nil
    }

    /// The `Access-Control-Request-Headers` of a preflight, to allow as asked when it is a plain list of field names
    /// (`#token`): echoing anything else would put arbitrary bytes into a response field.
    public static func allowedRequestHeaders(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        HTTPSyntax.isTokenList(value) ? value : nil
    }

    /// RFC 6454 §6.2's serialization: scheme "://" host [ ":" port ], the host a reg-name, IPv4 or bracketed IPv6.
    static func isOrigin(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let colon = bytes.firstIndex(of: 0x3A), colon > 0,
              bytes.count > colon + 3, bytes[colon + 1] == 0x2F, bytes[colon + 2] == 0x2F else { return false }
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1)
        let scheme = bytes[..<colon]
        guard let first = scheme.first, (first | 0x20) &- 0x61 < 26,
              scheme.allSatisfy({ ($0 | 0x20) &- 0x61 < 26 || $0 &- 0x30 < 10 || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E })
        else { return false }
        var rest = bytes[(colon + 3)...]
        if rest.first == 0x5B {
            guard let close = rest.firstIndex(of: 0x5D) else { return false }
            let inside = rest[(rest.startIndex + 1)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ HTTPSyntax.isHexDigit($0) || $0 == 0x3A || $0 == 0x2E }) else { return false }
            rest = rest[(close + 1)...]
        } else {
            let hostEnd = rest.firstIndex(of: 0x3A) ?? rest.endIndex
            let host = rest[..<hostEnd]
            guard !host.isEmpty, host.allSatisfy({ ($0 | 0x20) &- 0x61 < 26 || $0 &- 0x30 < 10 || $0 == 0x2D || $0 == 0x2E })
            else { return false }
            rest = rest[hostEnd...]
        }
        if rest.isEmpty { return true }
        // ":" port, 1–5 digits, nothing after.
        guard rest.first == 0x3A else { return false }
        let port = rest.dropFirst()
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0 &- 0x30 < 10 }) else { return false }
        return Int(String(decoding: port, as: UTF8.self))! <= 65535
    }
}

/// The CORS fields of one response (rendered by `ResponseHead`).
public struct CORSFields {
    public enum AllowOrigin {
        /// `*`.
        case any
        /// The request's own `Origin` bytes (valid as long as the request buffer).
        case echo(UnsafeRawBufferPointer)
    }

    public var allowOrigin: AllowOrigin
    /// A preflight answer (RFC-less, Fetch §3.2.3): Allow-Methods, Allow-Headers, Max-Age instead of Expose-Headers.
    public var preflight = false
    /// For a preflight: the `Access-Control-Request-Headers` it asked for, allowed as they are (a static site has
    /// no header it would refuse to receive).
    public var allowHeaders: UnsafeRawBufferPointer?

    public init(allowOrigin: AllowOrigin, preflight: Bool = false, allowHeaders: UnsafeRawBufferPointer? = nil) {
        self.allowOrigin = allowOrigin
        self.preflight = preflight
        self.allowHeaders = allowHeaders
    }

    /// The request-independent form (`*`, no echoed headers), which a head memo may reuse.
    var isStatic: Bool {
        if case .any = allowOrigin, allowHeaders == nil { return true }
        return false
    }

    var sizeBound: Int {
        var origin = 1
        if case .echo(let bytes) = allowOrigin { origin = bytes.count }
        return 160 + 2 * origin + (allowHeaders?.count ?? 0)
    }

    func render(into w: inout ByteWriter) {
        w.append("\r\nAccess-Control-Allow-Origin: ")
        appendOrigin(into: &w)
        if preflight {
            w.append("\r\nAccess-Control-Allow-Methods: GET, HEAD, OPTIONS")
            if let allowHeaders, !allowHeaders.isEmpty {
                w.append("\r\nAccess-Control-Allow-Headers: ")
                w.append(allowHeaders)
            }
            w.append("\r\nAccess-Control-Max-Age: ")
            w.append(decimal: CORSPolicy.maxAgeSeconds)
        } else {
            // Without these the calling page sees only the CORS-safelisted response headers: no ETag, no
            // Content-Length, no Server-Timing entries in its dev tools (Resource Timing needs Timing-Allow-Origin).
            w.append("\r\nAccess-Control-Expose-Headers: ETag, Content-Length, Content-Encoding, Server-Timing")
            w.append("\r\nTiming-Allow-Origin: ")
            appendOrigin(into: &w)
        }
    }

    private func appendOrigin(into w: inout ByteWriter) {
        switch allowOrigin {
        case .any: w.append("*")
        case .echo(let origin): w.append(origin)
        }
    }
}

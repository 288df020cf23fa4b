import Glibc

/// HTTP/2 messages in and out of HTTP/1.1's wire form, so one request pipeline (parser, planner, serialiser) answers
/// both versions and every response field is the same in each (RFC 9113 §8.3 maps the pseudo-header fields onto the
/// request line and Host; §8.2.2 lists the fields HTTP/2 leaves out). Pure.
public enum HTTP1Translation {
    /// The version shown for HTTP/2 requests in an access log line (RFC 9113 §3: "HTTP/2").
    public static let logVersion: StaticString = "HTTP/2.0"

    /// A request as an HTTP/1.1 head, for the HTTP/1.1 parser: the request line from :method and :path, Host from
    /// :authority, then the request's fields. Content-Length is left out: HTTP/2 frames the body itself
    /// (§8.1), and it is discarded. After the head (outside `headLength`), `logVersion`, so a log line can show
    /// the version the client spoke. nil when a byte would change the head's framing (nghttp2 already refuses
    /// such requests: this is the second guard, so a CR or a space can never smuggle a field or a second line).
    public static func head(of request: HTTP2ServerSession.Request) -> (bytes: [UInt8], headLength: Int)? {
        // RFC 9110 §5.6.2: a method is a token; RFC 9113 §8.3.1: :path holds no space or control character.
        guard !request.method.isEmpty, !request.path.isEmpty,
              request.method.allSatisfy(isVisible), request.path.allSatisfy(isVisible) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 + request.path.count + request.fields.reduce(0) { $0 + $1.name.count + $1.value.count + 4 })
        bytes += request.method
        bytes.append(0x20)
        bytes += request.path
        bytes += Array(" HTTP/1.1\r\n".utf8)
        if let authority = request.authority {
            guard authority.allSatisfy(isVisible) else { return nil }
            bytes += Array("host: ".utf8)
            bytes += authority
            bytes += crlf
        }
        for field in request.fields {
            // §8.3.1: with :authority present, Host is the same authority (written above from it).
            if request.authority != nil && field.name.elementsEqual("host".utf8) { continue }
            if field.name.elementsEqual("content-length".utf8) { continue }
            guard !field.name.isEmpty, field.name.allSatisfy(isVisible),
                  !field.value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else { return nil }
            bytes += field.name
            bytes += Array(": ".utf8)
            bytes += field.value
            bytes += crlf
        }
        bytes += crlf
        let headLength = bytes.count
        logVersion.withUTF8Buffer { bytes += $0 }
        return (bytes, headLength)
    }

    /// A response head in HTTP/1.1's form as HTTP/2 fields, without copying: the status code's digits, and into
    /// `fields` (emptied first) the name and value ranges of every field but §8.2.2's connection-specific ones
    /// (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade). Names are lowercased in place (§8.2.1).
    /// nil when `head` is not a status line and fields ending in a blank line.
    public static func responseFields(
        _ head: UnsafeMutableRawBufferPointer, into fields: inout [(name: Range<Int>, value: Range<Int>)]
    ) -> Range<Int>? {
        fields.removeAll(keepingCapacity: true)
        guard let base = head.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        // "HTTP/1.1 200 OK": the three digits after the first space.
        guard let statusEnd = lineEnd(base, head.count, from: 0),
              let space = memchr(base, 0x20, statusEnd).map({ UnsafeRawPointer($0) - UnsafeRawPointer(base) }),
              space + 4 <= statusEnd, (space + 1..<space + 4).allSatisfy({ base[$0] >= 0x30 && base[$0] <= 0x39 }) else { return nil }
        let status = (space + 1)..<(space + 4)
        var start = statusEnd + 2
        while true {
            guard let end = lineEnd(base, head.count, from: start) else { return nil }
            if end == start { return status }
            guard let found = memchr(base + start, 0x3A, end - start) else { return nil }
            let colon = UnsafeRawPointer(found) - UnsafeRawPointer(base)
            for i in start..<colon where base[i] >= 0x41 && base[i] <= 0x5A { base[i] += 0x20 }
            var valueStart = colon + 1
            while valueStart < end && (base[valueStart] == 0x20 || base[valueStart] == 0x09) { valueStart += 1 }
            if !isConnectionSpecific(UnsafeBufferPointer(start: base + start, count: colon - start)) {
                fields.append((start..<colon, valueStart..<end))
            }
            start = end + 2
        }
    }

    /// Where the line starting at `start` ends (the index of its CR; the head's lines end in CRLF), or nil when no
    /// CRLF follows.
    private static func lineEnd(_ base: UnsafeMutablePointer<UInt8>, _ count: Int, from start: Int) -> Int? {
        var at = start
        while at < count, let lf = memchr(base + at, 0x0A, count - at) {
            let index = UnsafeRawPointer(lf) - UnsafeRawPointer(base)
            if index > start && base[index - 1] == 0x0D { return index - 1 }
            at = index + 1
        }
        return nil
    }

    /// A lowercase name among §8.2.2's (compared only when its length is one of theirs).
    private static func isConnectionSpecific(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        switch name.count {
        case 7, 10, 16, 17: return connectionSpecific.contains { $0.count == name.count && $0.elementsEqual(name) }
        default: return false
        }
    }

    /// RFC 9113 §8.2.2: "An endpoint MUST NOT generate an HTTP/2 message containing connection-specific header
    /// fields"; "Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, and Upgrade" are named.
    static let connectionSpecific: [[UInt8]] = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"].map { Array($0.utf8) }

    private static let crlf: [UInt8] = [0x0D, 0x0A]

    private static func isVisible(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
}

import Glibc

/// HTTP/2 messages in and out of HTTP/1.1's wire form, so one request pipeline (parser, planner, serialiser) answers
/// both versions and every response field is the same in each (RFC 9113 §8.3 maps the pseudo-header fields onto the
/// request line and Host, which `HTTP2ServerSession.Request` writes as its fields arrive; §8.2.2 lists the fields
/// HTTP/2 leaves out). Pure.
public enum HTTP1Translation {
    /// The version shown for HTTP/2 requests in an access log line (RFC 9113 §3: "HTTP/2").
    public static let logVersion: StaticString = "HTTP/2.0"

    private static let requestLineEnd: StaticString = " HTTP/1.1\r\n"
    private static let hostName: StaticString = "host: "

    /// The bytes of a request line and Host field (`writeRequestLine`).
    static func requestLineLength(method: Range<Int>, path: Range<Int>, authority: Range<Int>?) -> Int {
        method.count + 1 + path.count + requestLineEnd.utf8CodeUnitCount
            + (authority.map { hostName.utf8CodeUnitCount + $0.count + 2 } ?? 0)
    }

    /// Writes at `at` an HTTP/1.1 request line from :method and :path and, from :authority, Host (the HTTP/1.1
    /// pipeline reads the authority from Host; RFC 9113 §8.3.1: "The recipient of an HTTP/2 request MUST NOT use the
    /// Host header field to determine the target URI if ":authority" is present", so a Host field beside it is never
    /// added): `requestLineLength` bytes. The three are read at their ranges from `base`, which end before `at`.
    static func writeRequestLine(
        at: UnsafeMutablePointer<UInt8>, from base: UnsafePointer<UInt8>, method: Range<Int>, path: Range<Int>, authority: Range<Int>?
    ) {
        var at = at
        func copy(_ range: Range<Int>) {
            precondition(base + range.upperBound <= at, "a pseudo-header value after the request line")
            memcpy(at, base + range.lowerBound, range.count)
            at += range.count
        }
        func put(_ text: StaticString) {
            memcpy(at, text.utf8Start, text.utf8CodeUnitCount)
            at += text.utf8CodeUnitCount
        }
        copy(method)
        at.pointee = 0x20
        at += 1
        copy(path)
        put(requestLineEnd)
        if let authority {
            put(hostName)
            copy(authority)
            put("\r\n")
        }
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

}

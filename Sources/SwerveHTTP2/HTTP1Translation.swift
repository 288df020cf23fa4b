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

    /// A response head in HTTP/1.1's form as an HTTP/2 status and field list: names lowercased (§8.2.1), the
    /// connection-specific fields dropped (§8.2.2: Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
    /// Upgrade). nil when `head` is not a status line and fields ending in a blank line.
    public static func response(_ head: [UInt8]) -> (status: Int, fields: [(name: [UInt8], value: [UInt8])])? {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index + 1 < head.count {
            if head[index] == 0x0D && head[index + 1] == 0x0A {
                lines.append(head[start..<index])
                start = index + 2
                index += 2
                if lines.last!.isEmpty { break }
                continue
            }
            index += 1
        }
        // "HTTP/1.1 200 OK": the three digits after the first space.
        guard lines.count >= 2, lines.last!.isEmpty, let statusLine = lines.first,
              let space = statusLine.firstIndex(of: 0x20), statusLine.endIndex - space >= 4 else { return nil }
        var status = 0
        for digit in statusLine[(space + 1)..<(space + 4)] {
            guard digit >= 0x30 && digit <= 0x39 else { return nil }
            status = status * 10 + Int(digit - 0x30)
        }
        var fields: [(name: [UInt8], value: [UInt8])] = []
        for line in lines.dropFirst().dropLast() {
            guard let colon = line.firstIndex(of: 0x3A) else { return nil }
            let name = line[line.startIndex..<colon].map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
            var valueStart = colon + 1
            while valueStart < line.endIndex && (line[valueStart] == 0x20 || line[valueStart] == 0x09) { valueStart += 1 }
            if connectionSpecific.contains(where: { $0.elementsEqual(name) }) { continue }
            fields.append((name, Array(line[valueStart...])))
        }
        return (status, fields)
    }

    /// RFC 9113 §8.2.2: "An endpoint MUST NOT generate an HTTP/2 message containing connection-specific header
    /// fields"; "Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, and Upgrade" are named.
    static let connectionSpecific: [[UInt8]] = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"].map { Array($0.utf8) }

    private static let crlf: [UInt8] = [0x0D, 0x0A]

    private static func isVisible(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
}

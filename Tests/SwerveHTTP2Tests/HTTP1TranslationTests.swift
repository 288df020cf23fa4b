import Testing

@testable import SwerveHTTP2

/// HTTP/2 requests into HTTP/1.1 heads and HTTP/1.1 response heads into HTTP/2 fields (RFC 9113 §8.2–§8.3).
@Suite("HTTP/2 ⇄ HTTP/1.1 translation (RFC 9113 §8)")
struct HTTP1TranslationTests {
    static func request(_ method: String, _ path: String, authority: String? = "example.org", _ fields: [(String, String)] = []) -> HTTP2ServerSession.Request {
        // In the order a client sends them (RFC 9113 §8.3: pseudo-header fields first).
        inOrder([(":method", method), (":path", path)] + (authority.map { [(":authority", $0)] } ?? []) + fields)
    }

    /// A request of `all`'s fields in that order, its block finished as the session finishes it.
    static func inOrder(_ all: [(String, String)]) -> HTTP2ServerSession.Request {
        var request = HTTP2ServerSession.Request(streamID: 1)
        for (name, value) in all {
            Array(name.utf8).withUnsafeBufferPointer { name in
                Array(value.utf8).withUnsafeBufferPointer { value in request.add(name: name, value: value, limit: 1 << 20) }
            }
        }
        request.finish()
        return request
    }

    /// `Request.withHTTP1Head` as text: the head, and what follows it (the log's version).
    static func text(_ request: HTTP2ServerSession.Request) -> (head: String, rest: String)? {
        request.withHTTP1Head { bytes, length in
            (String(decoding: bytes[0..<length], as: UTF8.self), String(decoding: bytes[length...], as: UTF8.self))
        }
    }

    @Test("§8.3.1: the request line from :method and :path, Host from :authority, fields in order, the log's version after the head")
    func requestHead() {
        let head = Self.text(Self.request("GET", "/a?b=c", [("accept-encoding", "gzip"), ("if-none-match", "\"x\"")]))
        #expect(head?.head == "GET /a?b=c HTTP/1.1\r\nhost: example.org\r\naccept-encoding: gzip\r\nif-none-match: \"x\"\r\n\r\n")
        #expect(head?.rest == "HTTP/2.0")
    }

    @Test("§8.3.1: a Host field beside :authority is dropped (the authority is the target's); without :authority, Host is kept")
    func hostField() {
        let both = Self.text(Self.request("GET", "/", [("host", "other.example")]))
        #expect(both?.head == "GET / HTTP/1.1\r\nhost: example.org\r\n\r\n")
        let hostOnly = Self.text(Self.request("GET", "/", authority: nil, [("host", "h")]))
        #expect(hostOnly?.head == "GET / HTTP/1.1\r\nhost: h\r\n\r\n")
    }

    @Test("§8.1: Content-Length is left out (HTTP/2 frames the body, which is discarded)")
    func contentLength() {
        let head = Self.text(Self.request("POST", "/form", [("content-length", "5"), ("content-type", "text/plain")]))
        #expect(head?.head == "POST /form HTTP/1.1\r\nhost: example.org\r\ncontent-type: text/plain\r\n\r\n")
    }

    @Test("bytes that would reframe the head are refused: CR, LF or NUL in a value, a space or control in the method, path or authority; so are no method or path, and a pseudo-header field after a regular one",
          arguments: [
            request("GET", "/", [("x", "a\r\nInjected: 1")]), request("GET", "/", [("x", "a\0")]),
            request("GET", "/a b"), request("GE T", "/"), request("GET", "/\u{7F}"), request("GET", "/", authority: "h\r\nx: y"),
            request("", "/"), request("GET", ""),
            // §8.3: "All pseudo-header fields MUST appear in a field block before all regular field lines".
            inOrder([(":method", "GET"), (":path", "/"), ("accept", "*/*"), (":authority", "example.org")]),
          ])
    func refused(_ request: HTTP2ServerSession.Request) {
        #expect(Self.text(request) == nil)
    }

    @Test("the word-at-a-time checks agree with the byte rules: every byte value at every position of 1 to 24 bytes")
    func fieldByteChecks() {
        for length in 1...24 {
            for position in 0..<length {
                for byte in 0...255 {
                    var bytes = [UInt8](repeating: 0x61, count: length)
                    bytes[position] = UInt8(byte)
                    bytes.withUnsafeBufferPointer { buffer in
                        #expect(HTTP2ServerSession.Request.isName(buffer) == (byte > 0x20 && byte < 0x7F), "\(length) \(position) \(byte)")
                        #expect(HTTP2ServerSession.Request.isValue(buffer) == !(byte == 0 || byte == 0x0A || byte == 0x0D),
                                "\(length) \(position) \(byte)")
                    }
                }
            }
        }
        [UInt8]().withUnsafeBufferPointer { empty in
            #expect(!HTTP2ServerSession.Request.isName(empty) && HTTP2ServerSession.Request.isValue(empty))
        }
    }

    @Test("§8.2: a rendered head becomes a status and lowercase fields; §8.2.2's connection-specific fields are dropped")
    func responseFields() {
        let head = Array(("HTTP/1.1 206 Partial Content\r\nServer: swerve\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
            + "Transfer-Encoding: chunked\r\nContent-Range: bytes 0-9/100\r\nETag: \"a-gz\"\r\nUpgrade: h2c\r\nProxy-Connection: x\r\n\r\n").utf8)
        let response = Self.response(head)
        #expect(response?.status == "206")
        #expect(response?.fields == ["server=swerve", "content-range=bytes 0-9/100", "etag=\"a-gz\""])
    }

    /// `responseFields` as strings: the status digits, and "name=value" per field.
    static func response(_ head: [UInt8]) -> (status: String, fields: [String])? {
        var bytes = head
        var ranges: [(name: Range<Int>, value: Range<Int>)] = [(0..<1, 0..<1)]
        return bytes.withUnsafeMutableBytes { buffer in
            guard let status = HTTP1Translation.responseFields(buffer, into: &ranges) else { return nil }
            let text = { (range: Range<Int>) in String(decoding: buffer[range], as: UTF8.self) }
            return (text(status), ranges.map { text($0.name) + "=" + text($0.value) })
        }
    }

    @Test("a head without its blank line, status digits or colons is not a head", arguments: [
        "HTTP/1.1 200 OK\r\nServer: swerve\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    ])
    func notAHead(_ text: String) {
        #expect(Self.response(Array(text.utf8)) == nil)
    }

    @Test("§3.4: the client preface is recognised whole, as a prefix, or not at all")
    func preface() {
        func match(_ s: String) -> HTTP2ServerSession.PrefaceMatch {
            Array(s.utf8).withUnsafeBytes { HTTP2ServerSession.matchPreface($0) }
        }
        #expect(match("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == .complete)
        #expect(match("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\u{4}") == .complete)
        #expect(match("PRI * HT") == .partial)
        #expect(match("GET / HTTP/1.1\r\n") == .different)
        #expect(match("PRI * HTTP/1.1\r\n") == .different)
    }
}

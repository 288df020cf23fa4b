import CNghttp2
import Glibc
import SwerveServer
import SwerveTestSupport
import Testing

/// HTTP/2 (RFC 9113) on Swerve's engine, in the clear with prior knowledge (§3.3) and over TLS with ALPN h2 (§3.2),
/// driven by nghttp2's client over a real socket. The answers must be HTTP/1.1's, field for field.
@Suite("HTTP/2 over the wire", .serialized)
struct HTTP2WireTests {
    static let text = textLike(40_000, seed: 41)
    static let large = pseudoRandomBytes(3_000_001, seed: 42)
    static let files: [String: [UInt8]] = [
        "index.html": Array("<!doctype html><title>t</title>\n".utf8), "app.js": text, "big.bin": large,
    ]

    /// A client on a fresh connection: TLS with ALPN h2, or cleartext prior knowledge.
    static func client(_ server: TestServer, tls: Bool, settings: [(Int32, UInt32)] = [], timeoutSeconds: Int = 10) throws -> HTTP2Client {
        let raw = try RawClient(port: server.port, timeoutSeconds: timeoutSeconds, tls: tls, alpn: tls ? ["h2", "http/1.1"] : [])
        if tls { #expect(raw.negotiatedProtocol == "h2") }
        return HTTP2Client(raw, settings: settings)
    }

    static func server(tls certificates: TestCertificates?, configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        try TestServer(files: files) {
            $0.tlsCertificate = certificates?.certificate
            $0.tlsKey = certificates?.key
            configure(&$0)
        }
    }

    /// An HTTP/1.1 response's fields as HTTP/2 carries them: names lowercase, no Date (the two may be a second apart),
    /// none of the connection-specific fields (§8.2.2).
    static func comparable(_ fields: [(name: String, value: String)]) -> [String] {
        fields.map { ($0.name.lowercased(), $0.value) }
            .filter { !["date", "connection", "keep-alive", "transfer-encoding"].contains($0.0) }
            .map { "\($0.0): \($0.1)" }
    }

    @Test("§8.3: the same requests get the same status, fields and bodies over HTTP/2 as over HTTP/1.1 (gzip, identity, HEAD, 304, 206, multipart, 404, 405, /)",
          arguments: [false, true])
    func sameAnswersAsHTTP11(tls: Bool) throws {
        let certificates = tls ? try TestCertificates() : nil
        let server = try Self.server(tls: certificates)
        defer { server.shutdown() }
        let h1 = try RawClient(port: server.port, tls: tls)
        try h1.send("GET /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n")
        let etag = try #require(try h1.readResponse().header("ETag"))
        // Warm the br and zstd bodies too, so both protocols see hits (a miss's Server-Timing carries its duration).
        for coding in ["br", "zstd"] {
            try h1.send("GET /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: \(coding)\r\n\r\n")
            _ = try h1.readResponse()
        }
        // (method, path, fields) in HTTP/2's lowercase form; HTTP/1.1 gets the same with Host: h.
        let requests: [(String, String, [(String, String)])] = [
            ("GET", "/app.js", [("accept-encoding", "gzip")]),
            ("GET", "/app.js", []),
            ("HEAD", "/app.js", [("accept-encoding", "gzip")]),
            ("GET", "/app.js", [("accept-encoding", "gzip"), ("if-none-match", etag)]),
            ("GET", "/app.js", [("accept-encoding", "gzip, deflate, br, zstd")]),
            ("GET", "/app.js", [("accept-encoding", "zstd")]),
            ("GET", "/app.js", [("accept-encoding", "br"), ("range", "bytes=5-50")]),
            ("GET", "/big.bin", [("range", "bytes=1000-1999")]),
            ("GET", "/big.bin", [("range", "bytes=0-9,100-109")]),
            ("GET", "/nope", []),
            ("DELETE", "/app.js", []),
            ("GET", "/", []),
            ("GET", "/big.bin", []),
        ]
        let h2 = try Self.client(server, tls: tls)
        // All at once on one connection: the streams are answered side by side.
        let ids = requests.map { h2.request($0.1, method: $0.0, $0.2) }
        /// A multipart/byteranges boundary is drawn per response (RFC 9110 §14.6): the same in both, for comparing.
        func sameBoundary(_ fields: [String], _ body: [UInt8]) -> ([String], [UInt8]) {
            guard let field = fields.first(where: { $0.hasPrefix("content-type: multipart/byteranges; boundary=") }) else { return (fields, body) }
            let boundary = Array(field.dropFirst("content-type: multipart/byteranges; boundary=".count).utf8)
            var out: [UInt8] = []
            var i = 0
            while i < body.count {
                if body[i...].starts(with: boundary) {
                    out += Array("BOUNDARY".utf8)
                    i += boundary.count
                } else {
                    out.append(body[i])
                    i += 1
                }
            }
            return (fields.map { $0 == field ? "content-type: multipart/byteranges; boundary=BOUNDARY" : $0 }, out)
        }
        for (request, id) in zip(requests, ids) {
            let head = "\(request.0) \(request.1) HTTP/1.1\r\nHost: h\r\n" + request.2.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
            try h1.send(head)
            let expected = try h1.readResponse(headRequest: request.0 == "HEAD")
            let got = try h2.response(id)
            #expect(got.closedWith == NGHTTP2_NO_ERROR.rawValue, "\(request)")
            #expect(got.status == expected.status, "\(request)")
            let mine = sameBoundary(got.fields.map { "\($0.name): \($0.value)" }.filter { !$0.hasPrefix("date: ") }, got.body)
            let theirs = sameBoundary(Self.comparable(expected.fields), expected.body)
            #expect(mine.0 == theirs.0, "\(request)")
            #expect(got.header("date") != nil)
            #expect(mine.1 == theirs.1, "\(request): \(got.body.count) bytes against \(expected.body.count)")
        }
        // The gzip body is the file's, compressed.
        #expect(gunzip(h2.streams[ids[0]]!.body) == Self.text)
    }

    @Test("§5.1: many streams at once, large bodies past the flow-control windows (§6.9), every byte in place", arguments: [false, true])
    func concurrentStreams(tls: Bool) throws {
        let certificates = tls ? try TestCertificates() : nil
        let server = try Self.server(tls: certificates)
        defer { server.shutdown() }
        let h2 = try Self.client(server, tls: tls)
        let ids = (0..<30).map { i in h2.request(i % 3 == 0 ? "/big.bin" : "/app.js", i % 2 == 0 ? [("accept-encoding", "gzip")] : []) }
        for (i, id) in ids.enumerated() {
            let stream = try h2.response(id)
            #expect(stream.status == 200)
            if i % 3 == 0 {
                #expect(stream.body == Self.large)
            } else if i % 2 == 0 {
                #expect(stream.header("content-encoding") == "gzip")
                #expect(gunzip(stream.body) == Self.text)
            } else {
                #expect(stream.body == Self.text)
            }
        }
    }

    @Test("§3.4: a preface split over several reads still starts HTTP/2; PRI after an HTTP/1.1 request is not a preface")
    func prefaceDetection() throws {
        let server = try Self.server(tls: nil)
        defer { server.shutdown() }
        let raw = try RawClient(port: server.port)
        // Three segments (no Nagle). Whether the server reads them apart is the scheduler's choice; the partial
        // match itself is pinned by HTTP1TranslationTests' preface test.
        var on: Int32 = 1
        setsockopt(raw.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        for piece in [Array(Self.preface[0..<3]), Array(Self.preface[3..<20]), Array(Self.preface[20...])] {
            try raw.send(piece)
        }
        let h2 = HTTP2Client(raw, sendsPreface: false)
        #expect(try h2.response(h2.request("/")).status == 200)
        let h1 = try RawClient(port: server.port)
        try h1.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try h1.readResponse().status == 200)
        try h1.send(Self.preface)
        // HTTP/1.1's parser answers the PRI line itself (a request for "*" that is not OPTIONS: 400), and the
        // connection closes: no HTTP/2 after a request was read as HTTP/1.1.
        let answer = try h1.readResponse()
        #expect(answer.status == 400 && answer.statusLine.hasPrefix("HTTP/1.1 "))
        #expect(h1.readsEOF())
    }

    @Test("directory listings are answered over HTTP/2 as over HTTP/1.1 (the listing is read off the loop for the stream)")
    func listing() throws {
        let server = try TestServer(files: ["docs/a.txt": Array("a".utf8), "docs/b.txt": Array("bb".utf8)]) { $0.listDirectories = true }
        defer { server.shutdown() }
        let expected = try fetch(server.port, "GET /docs/ HTTP/1.1\r\nHost: h\r\n\r\n")
        let h2 = try Self.client(server, tls: false)
        let ids = (0..<4).map { _ in h2.request("/docs/") }
        for id in ids {
            let got = try h2.response(id)
            #expect(got.status == 200)
            #expect(got.body == expected.body)
            #expect(got.header("content-type") == expected.header("Content-Type"))
        }
    }

    @Test("compressed streams (no cache: --cache-size 0) go out in DATA frames as they are compressed, in gzip, br and zstd, with HTTP/1.1's fields; many at once", arguments: [false, true])
    func gzipStreams(tls: Bool) throws {
        let certificates = tls ? try TestCertificates() : nil
        let bigText = textLike(1_500_000, seed: 43)
        let server = try TestServer(files: Self.files.merging(["big.js": bigText]) { $1 }) {
            $0.tlsCertificate = certificates?.certificate
            $0.tlsKey = certificates?.key
            $0.cacheSize = 0
        }
        defer { server.shutdown() }
        let h1 = try RawClient(port: server.port, tls: tls)
        try h1.send("GET /big.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n")
        let expected = try h1.readResponse()
        #expect(expected.chunked && expected.header("Content-Encoding") == "gzip")
        let h2 = try Self.client(server, tls: tls)
        let codings = ["gzip", "br", "zstd"]
        let ids = (0..<6).map { i in h2.request(i % 2 == 0 ? "/big.js" : "/app.js", [("accept-encoding", codings[i % 3])]) }
        let head = h2.request("/big.js", method: "HEAD", [("accept-encoding", "gzip")])
        for (i, id) in ids.enumerated() {
            let stream = try h2.response(id)
            #expect(stream.closedWith == NGHTTP2_NO_ERROR.rawValue)
            #expect(stream.status == 200)
            #expect(stream.header("content-encoding") == codings[i % 3])
            #expect(stream.header("content-length") == nil)
            #expect(try ReferenceDecoder.decode(stream.body, contentEncoding: codings[i % 3]) == (i % 2 == 0 ? bigText : Self.text),
                    "stream \(id)")
            if i == 0 {
                #expect(stream.fields.map { "\($0.name): \($0.value)" }.filter { !$0.hasPrefix("date: ") } == Self.comparable(expected.fields))
            }
        }
        let headStream = try h2.response(head)
        #expect(headStream.status == 200 && headStream.body.isEmpty && headStream.header("content-encoding") == "gzip")
    }

    @Test("rapid reset (CVE-2023-44487): a client opening and cancelling streams in a loop gets GOAWAY ENHANCE_YOUR_CALM; others are served")
    func rapidReset() throws {
        let server = try Self.server(tls: nil)
        defer { server.shutdown() }
        // A zero window keeps every stream open until the client cancels it.
        let abuser = try Self.client(server, tls: false, settings: [(Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), 0)])
        var cancelled = 0
        while abuser.goAway == nil && !abuser.closed && cancelled < 20_000 {
            let id = abuser.request("/big.bin")
            try abuser.flush()
            abuser.cancel(id)
            try abuser.flush()
            cancelled += 1
            if cancelled % 100 == 0 { abuser.receiveArrived() }
        }
        try abuser.run { abuser.goAway != nil }
        #expect(abuser.goAway?.code == NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        // Not before the bucket's burst (1,000) was used up.
        #expect(cancelled > 1000)
        let other = try Self.client(server, tls: false)
        #expect(try other.response(other.request("/app.js")).body == Self.text)
    }

    /// A frame's 9-byte header (RFC 9113 §4.1) and payload.
    static func frame(type: UInt8, flags: UInt8, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF), type, flags,
                UInt8(stream >> 24), UInt8((stream >> 16) & 0xFF), UInt8((stream >> 8) & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// The frames a server sent until it closed, as (type, error code for GOAWAY).
    static func framesUntilClose(_ raw: RawClient) -> [(type: UInt8, code: UInt32?)] {
        while raw.fill() {}
        let bytes = raw.takeBuffered()
        var frames: [(UInt8, UInt32?)] = []
        var at = 0
        while at + 9 <= bytes.count {
            let length = Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2])
            let type = bytes[at + 3]
            var code: UInt32?
            if type == 7 && at + 9 + 8 <= bytes.count {
                code = bytes[(at + 13)..<(at + 17)].reduce(0) { $0 << 8 | UInt32($1) }
            }
            frames.append((type, code))
            at += 9 + length
        }
        return frames
    }

    @Test("CONTINUATION flood (2024): a header block spread over more CONTINUATION frames than the limit ends with GOAWAY")
    func continuationFlood() throws {
        let server = try Self.server(tls: nil)
        defer { server.shutdown() }
        let raw = try RawClient(port: server.port)
        // HPACK (RFC 7541 appendix A): :method GET, :scheme http, :path /, :authority "h" (literal, indexed name 1).
        var bytes = Self.preface + Self.frame(type: 4, flags: 0, stream: 0, [])
        bytes += Self.frame(type: 1, flags: 0x1, stream: 1, [0x82, 0x86, 0x84, 0x41, 0x01, 0x68])
        for _ in 0..<50 {
            // A literal field without indexing, new name "x-a": "b".
            bytes += Self.frame(type: 9, flags: 0, stream: 1, [0x00, 0x03, 0x78, 0x2D, 0x61, 0x01, 0x62])
        }
        try raw.send(bytes)
        let frames = Self.framesUntilClose(raw)
        let goAway = frames.first { $0.type == 7 }
        // nghttp2 can send nothing after this fatal error: Swerve writes the GOAWAY itself.
        #expect(goAway?.code == NGHTTP2_ENHANCE_YOUR_CALM.rawValue, "\(frames)")
        #expect(!frames.contains { $0.type == 1 }, "no response HEADERS for the flooded stream")
        let other = try Self.client(server, tls: false)
        #expect(try other.response(other.request("/")).status == 200)
    }

    @Test("SETTINGS flood: a SETTINGS frame with more entries than the limit ends with GOAWAY ENHANCE_YOUR_CALM")
    func settingsFlood() throws {
        let server = try Self.server(tls: nil)
        defer { server.shutdown() }
        let raw = try RawClient(port: server.port)
        // 40 entries of SETTINGS_MAX_CONCURRENT_STREAMS = 100 (RFC 9113 §6.5.1: 6 bytes each).
        let entries: [UInt8] = (0..<40).flatMap { _ -> [UInt8] in [0, 3, 0, 0, 0, 100] }
        try raw.send(Self.preface + Self.frame(type: 4, flags: 0, stream: 0, entries))
        let frames = Self.framesUntilClose(raw)
        #expect(frames.first { $0.type == 7 }?.code == NGHTTP2_ENHANCE_YOUR_CALM.rawValue, "\(frames)")
    }

    @Test("§6.5.2: a request whose header list is over the limit is answered 431; the connection goes on")
    func headerListTooLarge() throws {
        let server = try Self.server(tls: nil)
        defer { server.shutdown() }
        let h2 = try Self.client(server, tls: false)
        let big = h2.request("/app.js", [("x-filler", String(repeating: "a", count: 30_000))])
        #expect(try h2.response(big).status == 431)
        #expect(try h2.response(h2.request("/app.js")).body == Self.text)
    }

    @Test("§6.9 zero-window stall: a client that never opens its window is closed by the idle timeout; others are served")
    func zeroWindowStall() throws {
        let server = try Self.server(tls: nil) { $0.keepAliveTimeout = 1 }
        defer { server.shutdown() }
        let stalled = try Self.client(server, tls: false, settings: [(Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), 0)])
        let id = stalled.request("/big.bin")
        try stalled.run { stalled.streams[id]?.status != nil }
        #expect(stalled.streams[id]?.status == 200 && stalled.streams[id]?.body.isEmpty == true)
        let other = try Self.client(server, tls: false)
        #expect(try other.response(other.request("/app.js")).body == Self.text)
        // Nothing moves on the stalled connection: the idle timeout closes it (the read would time out first if not),
        // after a GOAWAY naming the stream it processed (RFC 9113 §9.1).
        try stalled.run { stalled.closed }
        #expect(stalled.closed)
        #expect(stalled.raw.eof)
        #expect(stalled.goAway?.code == NGHTTP2_NO_ERROR.rawValue && stalled.goAway?.lastStream == id)
    }

    @Test("§9.1 idle timeout: an idle HTTP/2 connection gets GOAWAY NO_ERROR naming its last stream, then the close; HTTP/1.1 just closes")
    func idleTimeoutGoAway() throws {
        let server = try Self.server(tls: nil) { $0.keepAliveTimeout = 0.5 }
        defer { server.shutdown() }
        let h2 = try Self.client(server, tls: false)
        let id = h2.request("/app.js")
        #expect(try h2.response(id).body == Self.text)
        try h2.run { h2.closed }
        #expect(h2.goAway?.code == NGHTTP2_NO_ERROR.rawValue)
        #expect(h2.goAway?.lastStream == id)
        #expect(h2.raw.eof)
        // An HTTP/1.1 connection has no goodbye: its idle timeout closes it with nothing more on the wire.
        let h1 = try RawClient(port: server.port)
        try h1.send("GET /app.js HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try h1.readResponse().status == 200)
        #expect(h1.readsEOF())
    }

    @Test("§6.8 graceful shutdown: GOAWAY first, the stream in flight completes, then the connection closes")
    func gracefulShutdown() throws {
        let server = try Self.server(tls: nil) { $0.shutdownGrace = 20 }
        var stopper: Thread?
        defer { if let stopper { stopper.join() } else { server.shutdown() } }
        let client = try Self.client(server, tls: false, settings: [(Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), 0)],
                                     timeoutSeconds: 20)
        let id = client.request("/big.bin")
        try client.run { client.streams[id]?.status != nil }
        let idle = try Self.client(server, tls: false)
        #expect(try idle.response(idle.request("/")).status == 200)
        stopper = Thread { server.shutdown() }
        try client.run { client.goAway != nil }
        #expect(client.goAway?.code == NGHTTP2_NO_ERROR.rawValue)
        #expect(client.goAway?.lastStream == id)
        // The idle connection got its GOAWAY too, and was closed.
        try idle.run { idle.closed }
        #expect(idle.goAway?.code == NGHTTP2_NO_ERROR.rawValue)
        client.openWindow(id, by: Int32(Self.large.count))
        client.openWindow(0, by: Int32(Self.large.count))
        let stream = try client.response(id)
        #expect(stream.body == Self.large)
        try client.run { client.closed }
        #expect(client.closed)
    }
}

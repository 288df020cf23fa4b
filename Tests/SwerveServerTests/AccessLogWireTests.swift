import Foundation
import Glibc
import SwerveHTTP
import SwerveServer
import Synchronization
import Testing

/// The access log over the wire: exact lines for each kind of response, escaping of hostile bytes, JSON that a JSON
/// parser reads, and the logrotate reopen.
@Suite("Access log over the wire", .serialized)
struct AccessLogWireTests {
    static let small = Array(String(repeating: "a", count: 1024).utf8)
    static let script = textLike(6_000)
    static let files: [String: [UInt8]] = ["a.txt": small, "app.js": script]

    /// A server logging to a file in its temporary directory, written out every 20 ms.
    static func server(format: AccessLogFormat = .combined, configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> (TestServer, String) {
        var path = ""
        let server = try TestServer(files: files) { configuration in
            path = String(configuration.root.dropLast("/root".count)) + "/access.log"
            configuration.accessLog = .file(path)
            configuration.accessLogFormat = format
            configuration.accessLogFlushInterval = 0.02
            // One loop: each loop writes its own batches, so lines of two loops interleave by batch, not by time.
            configuration.workers = 1
            configure(&configuration)
        }
        return (server, path)
    }

    /// The file's lines once it has `count` of them (polled: a batch is written within the flush interval plus a
    /// loop tick), failing after 5 s.
    static func lines(_ path: String, count: Int) throws -> [String] {
        var text = ""
        for _ in 0..<500 {
            text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            if lines.count >= count { return lines }
            usleep(10_000)
        }
        throw TestFailure("expected \(count) lines in \(path), have: \(text)")
    }

    /// The `[time_local]` field replaced, so lines compare exactly.
    static func timeless(_ line: String) -> String {
        line.replacingOccurrences(of: #"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"#, with: "[T]", options: .regularExpression)
    }

    func get(_ port: UInt16, _ path: String, _ fields: String = "", method: String = "GET") throws -> WireResponse {
        try fetch(port, "\(method) \(path) HTTP/1.1\r\nHost: h\r\nUser-Agent: tester/1\r\n\(fields)\r\n", headRequest: method == "HEAD")
    }

    @Test("HTTP/2 requests are logged as HTTP/2.0, each with its body bytes; a header list over the limit is logged as its 431")
    func http2Lines() throws {
        let (server, path) = try Self.server()
        defer { server.shutdown() }
        let client = HTTP2Client(try RawClient(port: server.port))
        let agent = [("user-agent", "tester/2")]
        #expect(try client.response(client.request("/a.txt", agent)).status == 200)
        #expect(try client.response(client.request("/a.txt", method: "HEAD", agent)).status == 200)
        let missing = try client.response(client.request("/missing.html", agent))
        #expect(missing.status == 404)
        #expect(try client.response(client.request("/big", agent + [("x-filler", String(repeating: "a", count: 30_000))])).status == 431)
        let lines = try Self.lines(path, count: 4).map(Self.timeless)
        #expect(lines == [
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/2.0" 200 1024 "-" "tester/2""#,
            #"127.0.0.1 - - [T] "HEAD /a.txt HTTP/2.0" 200 0 "-" "tester/2""#,
            #"127.0.0.1 - - [T] "GET /missing.html HTTP/2.0" 404 \#(missing.body.count) "-" "tester/2""#,
            #"127.0.0.1 - - [T] "GET /big HTTP/2.0" 431 \#(ErrorPage.length(.requestHeaderFieldsTooLarge)) "-" "-""#,
        ])
    }

    @Test("a repeated request, answered again from the loop's memo of answers, is logged like the first (HTTP/1.1 and HTTP/2)")
    func repeatedRequestLines() throws {
        let (server, path) = try Self.server()
        defer { server.shutdown() }
        // Settled, so its bytes are kept in memory: only such answers are kept for replay.
        try TestServer.waitUntilSettled(server.root + "/a.txt")
        // Byte for byte the same request again on one connection, with another answer between (a replay must leave
        // its own status and size for the record, not the last response's).
        let h1 = try RawClient(port: server.port)
        for (method, target) in [("GET", "/a.txt"), ("GET", "/missing.html"), ("GET", "/a.txt"), ("HEAD", "/a.txt"),
                                 ("GET", "/missing.html"), ("HEAD", "/a.txt")] {
            try h1.send("\(method) \(target) HTTP/1.1\r\nHost: h\r\nUser-Agent: tester/1\r\n\r\n")
            _ = try h1.readResponse(headRequest: method == "HEAD")
        }
        let h2 = HTTP2Client(try RawClient(port: server.port))
        var missing = 0
        for target in ["/a.txt", "/missing.html", "/a.txt"] {
            let response = try h2.response(h2.request(target, [("user-agent", "tester/2")]))
            if target == "/a.txt" { #expect(response.status == 200 && response.body == Self.small) } else { missing = response.body.count }
        }
        let lines = try Self.lines(path, count: 9).map(Self.timeless)
        let notFound = { (version: String, agent: String) in
            #"127.0.0.1 - - [T] "GET /missing.html HTTP/\#(version)" 404 \#(missing) "-" "\#(agent)""#
        }
        #expect(lines == [
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/1.1" 200 1024 "-" "tester/1""#,
            notFound("1.1", "tester/1"),
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/1.1" 200 1024 "-" "tester/1""#,
            #"127.0.0.1 - - [T] "HEAD /a.txt HTTP/1.1" 200 0 "-" "tester/1""#,
            notFound("1.1", "tester/1"),
            #"127.0.0.1 - - [T] "HEAD /a.txt HTTP/1.1" 200 0 "-" "tester/1""#,
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/2.0" 200 1024 "-" "tester/2""#,
            notFound("2.0", "tester/2"),
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/2.0" 200 1024 "-" "tester/2""#,
        ])
    }

    @Test("combined: GET, HEAD, 304, 206, 404 and gzip each give one exact line, in order, with the body bytes sent")
    func combinedLines() throws {
        let (server, path) = try Self.server()
        defer { server.shutdown() }
        let port = server.port
        let full = try get(port, "/a.txt", "Referer: http://example.test/page\r\n")
        _ = try get(port, "/a.txt", method: "HEAD")
        let etag = try #require(full.header("ETag"))
        #expect(try get(port, "/a.txt", "If-None-Match: \(etag)\r\n").status == 304)
        #expect(try get(port, "/a.txt", "Range: bytes=0-99\r\n").status == 206)
        let missing = try get(port, "/missing.html")
        #expect(missing.status == 404)
        let miss = try get(port, "/app.js", "Accept-Encoding: gzip\r\n")
        let hit = try get(port, "/app.js", "Accept-Encoding: gzip\r\n")
        #expect(hit.header("Content-Encoding") == "gzip")
        let lines = try Self.lines(path, count: 7).map(Self.timeless)
        #expect(lines == [
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/1.1" 200 1024 "http://example.test/page" "tester/1""#,
            #"127.0.0.1 - - [T] "HEAD /a.txt HTTP/1.1" 200 0 "-" "tester/1""#,
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/1.1" 304 0 "-" "tester/1""#,
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/1.1" 206 100 "-" "tester/1""#,
            #"127.0.0.1 - - [T] "GET /missing.html HTTP/1.1" 404 \#(missing.body.count) "-" "tester/1""#,
            #"127.0.0.1 - - [T] "GET /app.js HTTP/1.1" 200 \#(miss.body.count) "-" "tester/1""#,
            #"127.0.0.1 - - [T] "GET /app.js HTTP/1.1" 200 \#(hit.body.count) "-" "tester/1""#,
        ])
        // The time is the server's local time, as nginx writes $time_local.
        let raw = try Self.lines(path, count: 7)[0]
        #expect(raw.range(of: #"^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/20\d\d:\d\d:\d\d:\d\d [+-]\d{4}\] "#, options: .regularExpression) != nil)
    }

    @Test("a hostile request line and fields are escaped (control bytes, quotes, backslashes, non-ASCII): one line each")
    func hostileBytesAreEscaped() throws {
        let (server, path) = try Self.server()
        defer { server.shutdown() }
        // Refused by the parser (a control byte in the target), but logged as sent, escaped.
        let client = try RawClient(port: server.port)
        try client.send(Array("GET /a\u{01}\"b\\c".utf8) + [0xFF, 0x7F, 0x0D, 0x0D] + Array(" HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        #expect(try client.readResponse().status == 400)
        // Accepted: quotes, a backslash and UTF-8 in the fields (a target with a quote, and DEL anywhere, are refused).
        let agent: [UInt8] = Array("evil\" \"-\" 200 0 \\".utf8) + [0xC3, 0xA9]
        let request = Array("GET /a.txt?q=%22 HTTP/1.1\r\nHost: h\r\nUser-Agent: ".utf8) + agent
            + Array("\r\nReferer: x\"y\r\n\r\n".utf8)
        let second = try RawClient(port: server.port)
        try second.send(request)
        #expect(try second.readResponse().status == 200)
        let lines = try Self.lines(path, count: 2).map(Self.timeless)
        #expect(lines.count == 2)
        #expect(lines[0] == #"127.0.0.1 - - [T] "GET /a\x01\x22b\x5Cc\xFF\x7F\x0D\x0D HTTP/1.1" 400 \#(ErrorPage.length(.badRequest)) "-" "-""#)
        #expect(lines[1] == #"127.0.0.1 - - [T] "GET /a.txt?q=%22 HTTP/1.1" 200 1024 "x\x22y" "evil\x22 \x22-\x22 200 0 \x5C\xC3\xA9""#)
    }

    @Test("a request target longer than the named limit is cut, and the line stays one line")
    func longTargetIsCut() throws {
        let (server, path) = try Self.server()
        defer { server.shutdown() }
        let long = "/" + String(repeating: "x", count: AccessLogLine.maximumTargetBytes + 500)
        #expect(try get(server.port, long).status == 404)
        let line = try Self.lines(path, count: 1)[0]
        let cut = "/" + String(repeating: "x", count: AccessLogLine.maximumTargetBytes - 1) + "..."
        #expect(Self.timeless(line).hasPrefix(#"127.0.0.1 - - [T] "GET \#(cut) HTTP/1.1" 404 "#))
    }

    @Test("common: the Common Log Format, without referer and user agent")
    func commonLines() throws {
        let (server, path) = try Self.server(format: .common)
        defer { server.shutdown() }
        _ = try get(server.port, "/a.txt", "Referer: http://r/\r\n")
        #expect(try Self.lines(path, count: 1).map(Self.timeless) == [#"127.0.0.1 - - [T] "GET /a.txt HTTP/1.1" 200 1024"#])
    }

    @Test("json: one object per line that a JSON parser reads, with every field; gzip miss then hit, identity, 404")
    func jsonLines() throws {
        let (server, path) = try Self.server(format: .json)
        defer { server.shutdown() }
        let port = server.port
        let miss = try get(port, "/app.js", "Accept-Encoding: gzip\r\nReferer: http://r/\"q\"\r\n")
        let hit = try get(port, "/app.js", "Accept-Encoding: gzip\r\n")
        _ = try get(port, "/a.txt")
        _ = try get(port, "/nope")
        let lines = try Self.lines(path, count: 4)
        let objects = try lines.map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let expected: [(status: Int, size: Int, encoding: String, cache: String, uri: String)] = [
            (200, miss.body.count, "gzip", "miss", "/app.js"), (200, hit.body.count, "gzip", "hit", "/app.js"),
            (200, 1024, "identity", "none", "/a.txt"), (404, objects[3]["size"] as? Int ?? -1, "identity", "none", "/nope"),
        ]
        for (object, want) in zip(objects, expected) {
            #expect(object["status"] as? Int == want.status)
            #expect(object["size"] as? Int == want.size)
            #expect(object["encoding"] as? String == want.encoding)
            #expect(object["cache"] as? String == want.cache)
            #expect(object["uri"] as? String == want.uri)
            #expect(object["method"] as? String == "GET")
            #expect(object["proto"] as? String == "HTTP/1.1")
            #expect(object["host"] as? String == "h")
            #expect(object["remote_ip"] as? String == "127.0.0.1")
            #expect((object["remote_port"] as? Int ?? 0) > 0)
            #expect(object["user_agent"] as? String == "tester/1")
            #expect((object["duration_ms"] as? Double ?? -1) >= 0)
            let ts = object["ts"] as? String ?? ""
            #expect(ts.range(of: #"^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil, "\(ts)")
        }
        #expect(objects[0]["referer"] as? String == #"http://r/\x22q\x22"#)
        #expect(objects[1]["referer"] as? String == "")
        #expect(lines[3].contains(#""size":\#(objects[3]["size"] as? Int ?? -1),"#))
    }

    @Test("pipelined requests each get their line, in order, with their own sizes")
    func pipelinedLines() throws {
        let (server, path) = try Self.server()
        defer { server.shutdown() }
        let client = try RawClient(port: server.port)
        try client.send("GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\nHEAD /a.txt HTTP/1.1\r\nHost: h\r\n\r\nGET /nope HTTP/1.1\r\nHost: h\r\n\r\n")
        _ = try client.readResponse()
        _ = try client.readResponse(headRequest: true)
        let notFound = try client.readResponse()
        #expect(try Self.lines(path, count: 3).map(Self.timeless) == [
            #"127.0.0.1 - - [T] "GET /a.txt HTTP/1.1" 200 1024 "-" "-""#,
            #"127.0.0.1 - - [T] "HEAD /a.txt HTTP/1.1" 200 0 "-" "-""#,
            #"127.0.0.1 - - [T] "GET /nope HTTP/1.1" 404 \#(notFound.body.count) "-" "-""#,
        ])
    }

    @Test("a client that leaves mid-body is logged with the bytes that were written, not the whole length")
    func abortedResponseCountsWhatLeft() throws {
        // Larger than every socket buffer between the two ends, so the response is still being written at the reset.
        let big = [UInt8](repeating: 0x61, count: 8 << 20)
        var path = ""
        let server = try TestServer(files: ["big.bin": big]) { configuration in
            path = String(configuration.root.dropLast("/root".count)) + "/access.log"
            configuration.accessLog = .file(path)
            configuration.accessLogFlushInterval = 0.02
            configuration.workers = 1
        }
        defer { server.shutdown() }
        let client = try RawClient(port: server.port)
        var small: Int32 = 4096
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try client.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
        var chunk = [UInt8](repeating: 0, count: 1024)
        #expect(read(client.fd, &chunk, chunk.count) > 0)
        // A reset rather than a FIN: the server's next write fails and it closes at once.
        client.reset()
        let line = Self.timeless(try Self.lines(path, count: 1)[0])
        let size = Int(line.split(separator: " ")[8]) ?? -1
        #expect(line.hasPrefix(#"127.0.0.1 - - [T] "GET /big.bin HTTP/1.1" 200 "#))
        #expect(size >= 0 && size < big.count, "\(line)")
    }

    @Test("SIGUSR1's reopen: lines before it stay in the renamed file, lines after it go to a new file at the path")
    func reopenAfterRotation() throws {
        let (server, path) = try Self.server()
        defer { server.shutdown() }
        _ = try get(server.port, "/a.txt")
        #expect(try Self.lines(path, count: 1).count == 1)
        #expect(rename(path, path + ".1") == 0)
        let reopened = Flag()
        server.server.reopenLogs { reopened.set() }
        for _ in 0..<500 where !reopened.isSet { usleep(10_000) }
        #expect(reopened.isSet)
        _ = try get(server.port, "/nope")
        let fresh = try Self.lines(path, count: 1).map(Self.timeless)
        #expect(fresh.count == 1)
        #expect(fresh[0].contains(#""GET /nope HTTP/1.1" 404"#))
        let rotated = try Self.lines(path + ".1", count: 1).map(Self.timeless)
        #expect(rotated == [#"127.0.0.1 - - [T] "GET /a.txt HTTP/1.1" 200 1024 "-" "tester/1""#])
    }

    @Test("lines still in a loop's batch at shutdown are written before stop returns")
    func shutdownFlushes() throws {
        var path = ""
        let server = try TestServer(files: Self.files) { configuration in
            path = String(configuration.root.dropLast("/root".count)) + "/access.log"
            configuration.accessLog = .file(path)
            // Far longer than the test: only the shutdown can write it.
            configuration.accessLogFlushInterval = 3600
        }
        _ = try get(server.port, "/a.txt")
        server.server.stop()
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        server.shutdown()
        #expect(Self.timeless(text) == "127.0.0.1 - - [T] \"GET /a.txt HTTP/1.1\" 200 1024 \"-\" \"tester/1\"\n")
    }
}

/// A flag one thread sets and another polls.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

extension AccessLogWireTests {
    @Test("a gzip stream (too large to cache) is logged when it ends: cache stream, its chunked body bytes")
    func streamedResponse() throws {
        let (server, path) = try Self.server(format: .json) { configuration in
            configuration.cacheSize = 64 * 1024
            configuration.cacheEntryMax = 4 * 1024
        }
        defer { server.shutdown() }
        let response = try get(server.port, "/app.js", "Accept-Encoding: gzip\r\n")
        #expect(response.chunked)
        #expect(gunzip(response.body) == Self.script)
        let object = try #require(JSONSerialization.jsonObject(with: Data(try Self.lines(path, count: 1)[0].utf8)) as? [String: Any])
        #expect(object["cache"] as? String == "stream")
        #expect(object["encoding"] as? String == "gzip")
        // Chunk framing counts as body bytes (nginx's $body_bytes_sent is what followed the head).
        let size = object["size"] as? Int ?? 0
        #expect(size > response.body.count && size < response.body.count + 64, "\(size) for \(response.body.count)")
    }
}

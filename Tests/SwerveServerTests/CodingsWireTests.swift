import Glibc
import SwerveServer
import SwerveTestSupport
import Testing

/// Issue 18 over the wire: Swerve's own br and zstd bodies beside gzip, each coding its own entry in the one
/// compressed-body cache with its own strong ETag (RFC 9110 §8.8.3), length, ranges and 304s, never stale; and
/// streams in each coding. Every body is checked by the coding's reference decoder (`ReferenceDecoder`).
@Suite("br, zstd and gzip from the cache over the wire", .serialized)
struct CodingsWireTests {
    static let codings: [(name: String, suffix: String)] = [("br", "-br"), ("zstd", "-zst"), ("gzip", "-gz")]

    @Test("§8.4.1 every coding's body decodes to exactly the file's bytes: 0 B, 1 B, 256 B, 100 KB, 1 MiB, incompressible",
          arguments: ["br", "zstd", "gzip"])
    func roundTrip(coding: String) throws {
        let files: [String: [UInt8]] = [
            "empty.js": [], "one.js": [0x41], "small.js": textLike(256, seed: 3), "mid.js": textLike(100_000, seed: 4),
            "big.js": textLike(1 << 20, seed: 5), "noise.js": pseudoRandomBytes(200_000),
        ]
        let server = try TestServer(files: files) { $0.gzipMinSize = 0 }
        defer { server.shutdown() }
        for (name, data) in files.sorted(by: { $0.key < $1.key }) {
            let response = try fetch(server.port, get("/" + name, "Accept-Encoding: \(coding)\r\n"))
            #expect(response.status == 200, "\(name)")
            #expect(response.header("Content-Encoding") == coding, "\(name)")
            #expect(response.header("Content-Length") == "\(response.body.count)", "\(name)")
            #expect(response.header("Vary") == "Accept-Encoding", "\(name)")
            #expect(try ReferenceDecoder.decode(response.body, contentEncoding: coding) == data, "\(coding) \(name)")
        }
        #expect(server.server.statistics.compressions == files.count)
    }

    @Test("§8.8.3 §13.1.2 §14.2 each coding: its own strong tag, a 304 against it, a range of its own bytes, If-Range, HEAD")
    func validatorsPerCoding() throws {
        let data = textLike(60_000, seed: 6)
        let server = try TestServer(files: ["a.js": data])
        defer { server.shutdown() }
        let identityTag = try #require(try fetch(server.port, get("/a.js")).header("ETag"))
        var tags: Set<String> = [identityTag]
        for (coding, suffix) in Self.codings {
            let ask = "Accept-Encoding: \(coding)\r\n"
            let cold = try fetch(server.port, get("/a.js", ask))
            let warm = try fetch(server.port, get("/a.js", ask))
            let tag = try #require(cold.header("ETag"))
            #expect(tag == String(identityTag.dropLast()) + suffix + "\"", "\(coding)")
            #expect(warm.header("ETag") == tag && warm.body == cold.body, "\(coding)")
            #expect((cold.header("Server-Timing") ?? "").hasPrefix("cache;desc=\"miss\";dur="), "\(coding)")
            #expect(warm.header("Server-Timing") == "cache;desc=\"hit\"", "\(coding)")
            tags.insert(tag)
            let notModified = try fetch(server.port, get("/a.js", ask + "If-None-Match: \(tag)\r\n"))
            #expect(notModified.status == 304 && notModified.body.isEmpty, "\(coding)")
            #expect(notModified.header("ETag") == tag && notModified.header("Vary") == "Accept-Encoding", "\(coding)")
            // The identity tag names other bytes: the full body.
            #expect(try fetch(server.port, get("/a.js", ask + "If-None-Match: \(identityTag)\r\n")).status == 200, "\(coding)")
            let length = cold.body.count
            let range = try fetch(server.port, get("/a.js", ask + "Range: bytes=10-99\r\n"))
            #expect(range.status == 206, "\(coding)")
            #expect(range.header("Content-Range") == "bytes 10-99/\(length)", "\(coding)")
            #expect(range.header("Content-Encoding") == coding, "\(coding)")
            #expect(range.body == Array(cold.body[10...99]), "\(coding)")
            let tail = try fetch(server.port, get("/a.js", ask + "Range: bytes=-50\r\nIf-Range: \(tag)\r\n"))
            #expect(tail.status == 206 && tail.body == Array(cold.body[(length - 50)...]), "\(coding)")
            let otherRange = try fetch(server.port, get("/a.js", ask + "Range: bytes=0-9\r\nIf-Range: \(identityTag)\r\n"))
            #expect(otherRange.status == 200 && otherRange.body == cold.body, "\(coding)")
            let head = try fetch(server.port, "HEAD /a.js HTTP/1.1\r\nHost: h\r\n\(ask)\r\n", headRequest: true)
            #expect(head.header("Content-Length") == "\(length)" && head.header("ETag") == tag, "\(coding)")
        }
        #expect(tags.count == 4)
        #expect(server.server.statistics.cache.entries == 3)
    }

    @Test("never stale, per coding: after a same-size rewrite every coding sends the new bytes under a new tag")
    func freshnessPerCoding() throws {
        let one = textLike(20_000, seed: 7)
        let two = textLike(20_000, seed: 8)
        let server = try TestServer(files: ["f.css": one])
        defer { server.shutdown() }
        let path = server.root + "/f.css"
        var before: [String: String] = [:]
        for (coding, _) in Self.codings {
            let response = try fetch(server.port, get("/f.css", "Accept-Encoding: \(coding)\r\n"))
            #expect(try ReferenceDecoder.decode(response.body, contentEncoding: coding) == one)
            before[coding] = response.header("ETag")
        }
        try TestServer.write(path, two)
        try TestServer.waitUntilSettled(path)
        for (coding, _) in Self.codings {
            let response = try fetch(server.port, get("/f.css", "Accept-Encoding: \(coding)\r\n"))
            #expect(response.header("Content-Encoding") == coding)
            #expect(try ReferenceDecoder.decode(response.body, contentEncoding: coding) == two, "\(coding)")
            #expect(response.header("ETag") != nil && response.header("ETag") != before[coding], "\(coding)")
            // The old tag no longer validates.
            let old = try fetch(server.port, get("/f.css", "Accept-Encoding: \(coding)\r\nIf-None-Match: \(before[coding]!)\r\n"))
            #expect(old.status == 200, "\(coding)")
        }
        // The new version's three entries only: the old ones were dropped with their version.
        #expect(server.server.statistics.cache.entries == 3)
    }

    @Test("§7.1 §8.8.1 a file above the entry limit streams chunked in the preferred accepted coding (br, zstd, gzip), with a weak tag")
    func streams() throws {
        let data = textLike(3_000_000, seed: 9)
        let server = try TestServer(files: ["huge.js": data]) { $0.cacheSize = 2 * 1024 * 1024 }
        defer { server.shutdown() }
        for (accept, expected) in [("gzip, deflate, br, zstd", "br"), ("zstd, gzip", "zstd"), ("gzip", "gzip")] {
            let client = try RawClient(port: server.port, timeoutSeconds: 30)
            try client.send(get("/huge.js", "Accept-Encoding: \(accept)\r\n"))
            let response = try client.readResponse()
            #expect(response.chunked && response.header("Content-Length") == nil, "\(accept)")
            #expect(response.header("Content-Encoding") == expected, "\(accept)")
            #expect(response.header("Server-Timing") == "cache;desc=\"stream\"", "\(accept)")
            #expect(try ReferenceDecoder.decode(response.body, contentEncoding: expected) == data, "\(accept)")
            // RFC 9110 §8.8.1: a stream's bytes are not promised to be byte-identical to a cached body's, so its tag
            // is weak: it validates a 304 (weak comparison) but no If-Range.
            let tag = try #require(response.header("ETag"), "\(accept)")
            #expect(tag.hasPrefix("W/\"") && tag.hasSuffix(["br": "-br\"", "zstd": "-zst\"", "gzip": "-gz\""][expected]!), "\(tag)")
            try client.send(get("/huge.js", "Accept-Encoding: \(accept)\r\nIf-None-Match: \(tag)\r\n"))
            let notModified = try client.readResponse()
            #expect(notModified.status == 304 && notModified.header("ETag") == tag, "\(accept)")
            try client.send(get("/huge.js", "Accept-Encoding: \(accept)\r\nIf-None-Match: \(tag.dropFirst(2))\r\n"))
            #expect(try client.readResponse().status == 304, "\(accept): the strong form of the tag compares weakly equal")
            try client.send(get("/huge.js", "Accept-Encoding: \(accept)\r\nIf-Match: \(tag)\r\n"))
            #expect(try client.readResponse().status == 412, "\(accept): If-Match compares strongly")
        }
        #expect(server.server.statistics.cache.entries == 0)
    }

    @Test("single flight per (file version, coding): concurrent first requests in two codings make one body each")
    func singleFlightPerCoding() throws {
        let server = try TestServer(files: ["a.js": textLike(400_000, seed: 10)])
        defer { server.shutdown() }
        var clients: [RawClient] = []
        for i in 0..<12 {
            let client = try RawClient(port: server.port, timeoutSeconds: 30)
            try client.send(get("/a.js", "Accept-Encoding: \(i % 2 == 0 ? "br" : "zstd")\r\n"))
            clients.append(client)
        }
        for (i, client) in clients.enumerated() {
            let response = try client.readResponse()
            #expect(response.header("Content-Encoding") == (i % 2 == 0 ? "br" : "zstd"))
        }
        #expect(server.server.statistics.compressions == 2)
    }

    @Test("--brotli-level and --zstd-level set the first pass: level 1 bodies are larger than level 11 / 19 ones")
    func levels() throws {
        let data = textLike(100_000, seed: 11)
        let fast = try TestServer(files: ["a.js": data]) { $0.brotliLevel = 1; $0.zstdLevel = 1 }
        defer { fast.shutdown() }
        let small = try TestServer(files: ["a.js": data]) { $0.brotliLevel = 11; $0.zstdLevel = 19 }
        defer { small.shutdown() }
        for coding in ["br", "zstd"] {
            let a = try fetch(fast.port, get("/a.js", "Accept-Encoding: \(coding)\r\n"))
            let b = try fetch(small.port, get("/a.js", "Accept-Encoding: \(coding)\r\n"))
            #expect(try ReferenceDecoder.decode(a.body, contentEncoding: coding) == data)
            #expect(try ReferenceDecoder.decode(b.body, contentEncoding: coding) == data)
            #expect(b.body.count < a.body.count, "\(coding): \(b.body.count) B at the top level, \(a.body.count) B at 1")
        }
    }
}

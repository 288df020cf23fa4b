import Glibc
import SwerveCompression
import SwerveHTTP
import SwerveServer
import Synchronization
import Testing
import SwerveTestSupport

/// Text-like content that compresses about 4× (like real JavaScript), deterministic.
func textLike(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    let words = ["function", "return", "const", "let", "if", "else", "document", "window", "=>", "{", "}", "(", ")",
                 ";", "\n", "  ", "value", "index", "array", "map", "filter", "true", "false", "null", "this"]
    let noise = pseudoRandomBytes(count, seed: seed)
    var out: [UInt8] = []
    out.reserveCapacity(count + 16)
    var i = 0
    while out.count < count {
        let word = words[Int(noise[i % noise.count]) % words.count]
        out.append(contentsOf: word.utf8)
        if noise[(i + 1) % noise.count] & 3 == 0 { out.append(contentsOf: String(noise[i % noise.count]).utf8) }
        out.append(0x20)
        i += 1
    }
    return Array(out.prefix(count))
}

func get(_ path: String, _ extra: String = "", version: String = "1.1") -> String {
    "GET \(path) HTTP/\(version)\r\nHost: h\r\n\(extra)\r\n"
}

/// RFC 9110 §8.4 / §12.5.3 over the wire: gzip negotiation, the compressed-body cache, sidecars, streaming.
@Suite("Compression", .serialized)
struct CompressionTests {
    @Test("§8.4.1 every gzip body gunzips to exactly the file's bytes (0 B, 1 B, 256 B, 100 KB)", arguments: [0, 1, 256, 100_000])
    func roundTrip(size: Int) throws {
        let data = textLike(size)
        let server = try TestServer(files: ["f.js": data]) { $0.gzipMinSize = 0 }
        defer { server.shutdown() }
        let response = try fetch(server.port, get("/f.js", "Accept-Encoding: gzip\r\n"))
        #expect(response.status == 200)
        #expect(response.header("Content-Encoding") == "gzip")
        #expect(response.header("Content-Length") == "\(response.body.count)")
        #expect(gunzip(response.body) == data)
        #expect(response.header("Vary") == "Accept-Encoding")
        #expect(response.header("Content-Type") == "text/javascript; charset=utf-8")
    }

    @Test("§12.5.3 negotiation over the wire: q-values, identity, 406")
    func negotiation() throws {
        let data = textLike(4000)
        let server = try TestServer(files: ["a.js": data, "p.png": pseudoRandomBytes(4000)])
        defer { server.shutdown() }
        let cases: [(String, String?)] = [
            ("gzip", "gzip"), ("GZIP;q=0.5", "gzip"), ("gzip;q=0", nil), ("identity;q=1, gzip;q=0.1", nil),
            ("*", "br"), ("x-gzip", "gzip"), ("deflate", nil), ("br;q=1, gzip;q=0.8", "br"), ("zstd", "zstd"),
            ("gzip, deflate, br, zstd", "br"), ("br;q=0, zstd, gzip", "zstd"), ("gzip, *;q=0.5", "gzip"),
            ("br, gzip;q=0.5, br;q=0.1", "gzip"), ("zstd;q=0.9, br;q=0.8, gzip", "gzip"), ("compress, x-foo", nil),
        ]
        for (header, expected) in cases {
            let response = try fetch(server.port, get("/a.js", "Accept-Encoding: \(header)\r\n"))
            #expect(response.status == 200, "\(header)")
            #expect(response.header("Content-Encoding") == expected, "\(header)")
            #expect(response.header("Vary") == "Accept-Encoding", "\(header)")
            #expect(try ReferenceDecoder.decode(response.body, contentEncoding: expected) == data, "\(header)")
        }
        // No Accept-Encoding: identity.
        #expect(try fetch(server.port, get("/a.js")).header("Content-Encoding") == nil)
        // identity refused and nothing else acceptable → 406.
        let refused = try fetch(server.port, get("/a.js", "Accept-Encoding: identity;q=0, deflate\r\n"))
        #expect(refused.status == 406)
        #expect(refused.header("Vary") == "Accept-Encoding")
        // Images are never compressed, and their 200s carry no Vary; a 406 is still chosen by Accept-Encoding
        // (§12.5.5), so it does.
        let png = try fetch(server.port, get("/p.png", "Accept-Encoding: gzip\r\n"))
        #expect(png.header("Content-Encoding") == nil)
        #expect(png.header("Vary") == nil)
        let pngRefused = try fetch(server.port, get("/p.png", "Accept-Encoding: gzip, identity;q=0\r\n"))
        #expect(pngRefused.status == 406)
        #expect(pngRefused.header("Vary") == "Accept-Encoding")
    }

    @Test("§9.3.2 HEAD returns exactly the headers GET would for gzip, cold and warm")
    func headParity() throws {
        let server = try TestServer(files: ["a.css": textLike(50_000)])
        defer { server.shutdown() }
        let head = try fetch(server.port, "HEAD /a.css HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n", headRequest: true)
        let getResponse = try fetch(server.port, get("/a.css", "Accept-Encoding: gzip\r\n"))
        let strip: (WireResponse) -> [String] = { $0.fields.filter { $0.name != "Date" && $0.name != "Server-Timing" }.map { "\($0.name): \($0.value)" } }
        #expect(strip(head) == strip(getResponse))
        #expect(head.header("Content-Length") == "\(getResponse.body.count)")
    }

    @Test("§8.8.3 the gzip representation has its own strong ETag; Server-Timing says miss, then hit")
    func etagAndServerTiming() throws {
        let server = try TestServer(files: ["a.js": textLike(30_000)])
        defer { server.shutdown() }
        let identity = try fetch(server.port, get("/a.js"))
        let cold = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        let warm = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        let identityTag = try #require(identity.header("ETag"))
        let gzipTag = try #require(cold.header("ETag"))
        #expect(gzipTag != identityTag && !gzipTag.hasPrefix("W/"))
        #expect(gzipTag == String(identityTag.dropLast()) + "-gz\"")
        #expect(warm.header("ETag") == gzipTag)
        #expect((cold.header("Server-Timing") ?? "").hasPrefix("cache;desc=\"miss\";dur="))
        #expect(warm.header("Server-Timing") == "cache;desc=\"hit\"")
        #expect(identity.header("Server-Timing") == nil)
        #expect(warm.body == cold.body)
    }

    @Test("§8.4.1 §14.1.2 §14.6 a cached gzip body ≥ 16 KiB (sealed memfd, sendfile) is byte-exact whole, as one range, as multipart ranges, pipelined and by HEAD")
    func largeCachedBodyFromMemfd() throws {
        let data = textLike(120_000, seed: 31)
        let server = try TestServer(files: ["big.js": data])
        defer { server.shutdown() }
        let gzipRequest = get("/big.js", "Accept-Encoding: gzip\r\n")
        let cold = try fetch(server.port, gzipRequest)
        #expect((cold.header("Server-Timing") ?? "").hasPrefix("cache;desc=\"miss\""))
        let warm = try fetch(server.port, gzipRequest)
        #expect(warm.header("Server-Timing") == "cache;desc=\"hit\"")
        #expect(CompressedBody.memfdBodies >= 1)  // at least this server's cache entry
        let gz = warm.body
        let n = gz.count
        #expect(n >= CompressedBody.memfdThreshold)
        #expect(warm.header("Content-Length") == "\(n)")
        #expect(gunzip(gz) == data)
        #expect(cold.body == gz)

        // §14.1.2 one range from the middle of the body, and a suffix range.
        let middle = try fetch(server.port, get("/big.js", "Accept-Encoding: gzip\r\nRange: bytes=1000-17999\r\n"))
        #expect(middle.status == 206)
        #expect(middle.header("Server-Timing") == "cache;desc=\"hit\"")
        #expect(middle.header("Content-Range") == "bytes 1000-17999/\(n)")
        #expect(middle.body == Array(gz[1000...17999]))
        let suffix = try fetch(server.port, get("/big.js", "Accept-Encoding: gzip\r\nRange: bytes=-777\r\n"))
        #expect(suffix.status == 206)
        #expect(suffix.body == Array(gz[(n - 777)...]))

        // §14.6 several ranges: each part is its exact slice.
        let multi = try fetch(server.port, get("/big.js", "Accept-Encoding: gzip\r\nRange: bytes=0-99, 5000-20999, -500\r\n"))
        #expect(multi.status == 206)
        #expect(multi.header("Server-Timing") == "cache;desc=\"hit\"")
        let contentType = try #require(multi.header("Content-Type"))
        let boundary = String(contentType.dropFirst("multipart/byteranges; boundary=".count))
        let parts = try parseMultipart(multi.body, boundary: boundary)
        #expect(parts.map(\.range) == ["bytes 0-99/\(n)", "bytes 5000-20999/\(n)", "bytes \(n - 500)-\(n - 1)/\(n)"])
        #expect(parts.map(\.body) == [Array(gz[0...99]), Array(gz[5000...20999]), Array(gz[(n - 500)...])])

        // One connection: whole, HEAD (no body), range, whole – pipelined, so sendfile segments of the same memfd
        // follow each other (and a header) in one output queue.
        let client = try RawClient(port: server.port)
        try client.send(gzipRequest + "HEAD /big.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n"
                        + get("/big.js", "Accept-Encoding: gzip\r\nRange: bytes=20000-\r\n") + gzipRequest)
        #expect(try client.readResponse().body == gz)
        let head = try client.readResponse(headRequest: true)
        #expect(head.status == 200 && head.header("Content-Length") == "\(n)" && head.body.isEmpty)
        #expect(try client.readResponse().body == Array(gz[20000...]))
        #expect(try client.readResponse().body == gz)
    }

    @Test("--server-timing off removes the field")
    func serverTimingOff() throws {
        let server = try TestServer(files: ["a.js": textLike(30_000)]) { $0.serverTiming = false }
        defer { server.shutdown() }
        #expect(try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n")).header("Server-Timing") == nil)
    }

    @Test("single flight: 20 concurrent first requests cause exactly one compression")
    func singleFlight() throws {
        let data = textLike(2_000_000)
        let server = try TestServer(files: ["big.js": data]) { $0.gzipLevel = 9 }
        defer { server.shutdown() }
        var clients: [RawClient] = []
        for _ in 0..<20 { clients.append(try RawClient(port: server.port)) }
        for client in clients { try client.send(get("/big.js", "Accept-Encoding: gzip\r\n")) }
        var bodies: Set<[UInt8]> = []
        for client in clients {
            let response = try client.readResponse()
            #expect(response.header("Content-Encoding") == "gzip")
            bodies.insert(response.body)
        }
        #expect(bodies.count == 1)
        #expect(gunzip(bodies.first!) == data)
        let stats = server.server.statistics
        #expect(stats.compressions == 1)
        #expect(stats.cache.entries == 1)
        #expect(stats.cache.bytesSaved == data.count - bodies.first!.count)
    }

    @Test("a slow compression of a large file does not delay a small-file request on the same loop")
    func compressionOffLoop() throws {
        let big = textLike(6_000_000, seed: 9)
        let server = try TestServer(files: ["big.js": big, "small.txt": Array("small".utf8)]) {
            $0.workers = 1
            $0.gzipLevel = 9
            // The claim is about the small request; under a loaded CI machine this compression can take longer than
            // the default 5 s wait, after which the big one would (correctly) go out uncompressed.
            $0.suspendTimeout = 60
        }
        defer { server.shutdown() }
        let slow = try RawClient(port: server.port, timeoutSeconds: 30)
        try slow.send(get("/big.js", "Accept-Encoding: gzip\r\n"))
        // The loop has taken the big request once its cache miss is counted: the compression job is submitted right
        // after it, on the same pass.
        var taken = false
        for _ in 0..<3000 where !taken {
            taken = server.server.statistics.cache.misses >= 1
            if !taken { usleep(1_000) }
        }
        #expect(taken, "the big request never reached the server")
        let start = monotonicSeconds()
        let small = try fetch(server.port, get("/small.txt"))
        let smallTime = monotonicSeconds() - start
        #expect(small.bodyText == "small")
        let response = try slow.readResponse()
        let bigTime = monotonicSeconds() - start
        #expect(gunzip(response.body) == big)
        // The small answer came while the big one was still being compressed.
        #expect(smallTime < bigTime)
        #expect(smallTime < 0.2, "small request took \(smallTime) s")
    }

    @Test("§7.1 a file above the entry limit streams as chunked gzip to HTTP/1.1 and goes identity to HTTP/1.0")
    func streaming() throws {
        let data = textLike(5_000_000, seed: 5)
        let server = try TestServer(files: ["huge.js": data]) { $0.cacheSize = 4 * 1024 * 1024 }
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, timeoutSeconds: 30)
        try client.send(get("/huge.js", "Accept-Encoding: gzip\r\n") + get("/huge.js", "Accept-Encoding: gzip\r\n"))
        for _ in 0..<2 {
            let response = try client.readResponse()
            #expect(response.chunked)
            #expect(response.header("Content-Length") == nil)
            #expect(response.header("Content-Encoding") == "gzip")
            #expect(response.header("Server-Timing") == "cache;desc=\"stream\"")
            #expect(gunzip(response.body) == data)
        }
        #expect(server.server.statistics.cache.entries == 0)
        let old = try fetch(server.port, get("/huge.js", "Accept-Encoding: gzip\r\n", version: "1.0"))
        #expect(old.header("Content-Encoding") == nil)
        #expect(!old.chunked)
        #expect(old.body == data)
    }

    @Test("a streamed response resumed while earlier output is still queued continues once the client reads again")
    func streamResumedBehindQueuedOutput() throws {
        // Two pipelined streamed responses and a client that pauses after the first: the socket fills, the worker
        // finishes the next piece while output is still queued, and the piece must be produced when the queue
        // drains — even though no request bytes are buffered any more.
        let data = textLike(3_000_000, seed: 9)
        let server = try TestServer(files: ["huge.js": data]) { $0.cacheSize = 1024 * 1024 }
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, timeoutSeconds: 5)
        try client.send(get("/huge.js", "Accept-Encoding: gzip\r\n") + get("/huge.js", "Accept-Encoding: gzip\r\n"))
        let first = try client.readResponse()
        #expect(first.chunked)
        usleep(1_000_000)  // the client is busy: the server's writes come up short and it waits for EPOLLOUT
        let second = try client.readResponse()
        #expect(second.chunked)
        #expect(gunzip(first.body) == data)
        #expect(gunzip(second.body) == data)
    }

    @Test("precompressed sidecars: a newer .gz is sent as is, an older one is ignored, .br and .zst when accepted (br first among equals)")
    func sidecars() throws {
        let source = textLike(20_000)
        let sidecar = Array("not really gzip, but the sidecar's own bytes".utf8)
        let zstd = try source.withUnsafeBytes { try ZstdEncoder(level: 19).compress($0) }
        let server = try TestServer(files: ["s.js": source, "s.js.gz": sidecar, "s.js.br": Array("brotli bytes".utf8), "s.js.zst": zstd])
        defer { server.shutdown() }
        let path = server.root + "/s.js"
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
        try TestServer.waitUntilSettled(path)
        let response = try fetch(server.port, get("/s.js", "Accept-Encoding: gzip\r\n"))
        #expect(response.header("Content-Encoding") == "gzip")
        #expect(response.body == sidecar)
        #expect(response.header("Content-Type") == "text/javascript; charset=utf-8")
        #expect(response.header("Server-Timing") == "cache;desc=\"precompressed\"")
        let brotli = try fetch(server.port, get("/s.js", "Accept-Encoding: gzip, br\r\n"))
        #expect(brotli.header("Content-Encoding") == "br")
        #expect(brotli.bodyText == "brotli bytes")
        #expect(brotli.header("ETag") != response.header("ETag"))
        #expect(try fetch(server.port, get("/s.js", "Accept-Encoding: gzip, zstd, br\r\n")).header("Content-Encoding") == "br")
        let zstdResponse = try fetch(server.port, get("/s.js", "Accept-Encoding: gzip, zstd\r\n"))
        #expect(zstdResponse.header("Content-Encoding") == "zstd")
        #expect(zstdResponse.header("Vary") == "Accept-Encoding")
        #expect(zstdResponse.body == zstd)
        #expect(zstdResponse.header("ETag") != response.header("ETag") && zstdResponse.header("ETag") != brotli.header("ETag"))
        // Make the source newer than both sidecars: they are ignored, Swerve compresses the source itself.
        times = [timespec(tv_sec: 1_900_000_000, tv_nsec: 0), timespec(tv_sec: 1_900_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
        try TestServer.waitUntilSettled(path)
        let fresh = try fetch(server.port, get("/s.js", "Accept-Encoding: gzip, br, zstd\r\n"))
        #expect(fresh.header("Content-Encoding") == "br")
        #expect(try ReferenceDecoder.decode(fresh.body, contentEncoding: "br") == source)
        #expect(fresh.header("Server-Timing")?.hasPrefix("cache;desc=\"miss\"") == true)
    }

    @Test("--encodings: its order decides among equal weights, and a coding left out is never sent (sidecar or not)")
    func encodingsOption() throws {
        let source = textLike(20_000)
        let files = ["s.js": source, "s.js.br": Array("brotli bytes".utf8), "s.js.zst": Array("zstd bytes".utf8)]
        let zstdFirst = try TestServer(files: files) { $0.encodings = EncodingPreference([.zstd, .br, .gzip]) }
        defer { zstdFirst.shutdown() }
        let gzipOnly = try TestServer(files: files) { $0.encodings = EncodingPreference([.gzip]) }
        defer { gzipOnly.shutdown() }
        for server in [zstdFirst, gzipOnly] {
            var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
            utimensat(AT_FDCWD, server.root + "/s.js", &times, 0)
            try TestServer.waitUntilSettled(server.root + "/s.js")
        }
        #expect(try fetch(zstdFirst.port, get("/s.js", "Accept-Encoding: br, zstd, gzip\r\n")).bodyText == "zstd bytes")
        #expect(try fetch(zstdFirst.port, get("/s.js", "Accept-Encoding: br, zstd;q=0.5\r\n")).bodyText == "brotli bytes")
        let gzipped = try fetch(gzipOnly.port, get("/s.js", "Accept-Encoding: br, zstd, gzip\r\n"))
        #expect(gzipped.header("Content-Encoding") == "gzip")
        #expect(gunzip(gzipped.body) == source)
        let plain = try fetch(gzipOnly.port, get("/s.js", "Accept-Encoding: br, zstd\r\n"))
        #expect(plain.header("Content-Encoding") == nil && plain.body == source)
    }

    @Test("never stale: same-size rewrite in the same second, rename replace, and delete are seen at once")
    func freshness() throws {
        let one = textLike(10_000, seed: 1)
        let two = textLike(10_000, seed: 2)
        let server = try TestServer(files: ["f.js": one])
        defer { server.shutdown() }
        let path = server.root + "/f.js"
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 1), timespec(tv_sec: 1_700_000_000, tv_nsec: 1)]
        utimensat(AT_FDCWD, path, &times, 0)
        try TestServer.waitUntilSettled(path)
        let first = try fetch(server.port, get("/f.js", "Accept-Encoding: gzip\r\n"))
        #expect(gunzip(first.body) == one)
        // Same size, same second: only the nanoseconds differ.
        try TestServer.write(path, two)
        times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 2), timespec(tv_sec: 1_700_000_000, tv_nsec: 2)]
        utimensat(AT_FDCWD, path, &times, 0)
        try TestServer.waitUntilSettled(path)
        let second = try fetch(server.port, get("/f.js", "Accept-Encoding: gzip\r\n"))
        #expect(gunzip(second.body) == two)
        #expect(second.header("ETag") != first.header("ETag"))
        // Replace by rename (a new inode), same size and timestamp as before.
        let three = textLike(10_000, seed: 3)
        try TestServer.write(server.root + "/f.js.tmp", three)
        utimensat(AT_FDCWD, server.root + "/f.js.tmp", &times, 0)
        rename(server.root + "/f.js.tmp", path)
        try TestServer.waitUntilSettled(path)
        let third = try fetch(server.port, get("/f.js", "Accept-Encoding: gzip\r\n"))
        #expect(gunzip(third.body) == three)
        #expect(third.header("ETag") != second.header("ETag"))
        unlink(path)
        #expect(try fetch(server.port, get("/f.js", "Accept-Encoding: gzip\r\n")).status == 404)
    }

    @Test("a file rewritten over and over while it is requested is answered while it is still changing (bounded retries)")
    func fileThatKeepsChanging() async throws {
        let size = 2 << 20
        let versions = [textLike(size, seed: 21), textLike(size, seed: 22)]
        let server = try TestServer(files: ["busy.js": versions[0]])
        defer { server.shutdown() }
        let path = server.root + "/busy.js"
        // A writer that keeps overwriting the file in place (pwrite of a whole version, never a truncate, so the
        // length stays right), every 8 ms: longer than a clock tick, so the file often looks settled when a request
        // comes, and then changes while the compression reads it.
        let stop = Atomic<Bool>(false)
        let stillWriting = Atomic<Bool>(true)
        let writer = Task.detached {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            defer { close(fd); stillWriting.store(false, ordering: .releasing) }
            let started = monotonicSeconds()
            var round = 0
            while !stop.load(ordering: .acquiring) && monotonicSeconds() - started < 20 {
                versions[round % 2].withUnsafeBytes { _ = pwrite(fd, $0.baseAddress, $0.count, 0) }
                round += 1
                usleep(8_000)
            }
        }
        for _ in 0..<4 {
            let response = try fetch(server.port, get("/busy.js", "Accept-Encoding: gzip\r\n"))
            #expect(response.status == 200)
            let body = response.header("Content-Encoding") == "gzip" ? gunzip(response.body) : response.body
            #expect(body?.count == size)
        }
        // Every answer came while the writer was still at it: no request waited for the file to stop changing.
        let writing = stillWriting.load(ordering: .acquiring)
        #expect(writing)
        stop.store(true, ordering: .releasing)
        _ = await writer.value
    }

    @Test("--cache-size 0 disables the cache: compressible files stream instead")
    func cacheDisabled() throws {
        let data = textLike(20_000)
        let server = try TestServer(files: ["a.js": data]) { $0.cacheSize = 0 }
        defer { server.shutdown() }
        let response = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        #expect(response.chunked)
        #expect(gunzip(response.body) == data)
        #expect(server.server.statistics.cache.entries == 0)
    }
}

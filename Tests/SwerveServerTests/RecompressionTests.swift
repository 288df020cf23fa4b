import Glibc
import SwerveServer
import SwerveTestSupport
import Testing

/// The background recompression of cached bodies, over the wire (zopfli for gzip, brotli 11, zstd 19): the smaller
/// body replaces the first pass's, and because its bytes differ, so does its strong ETag (RFC 9110 §8.8.1, §8.8.3);
/// a client holding the first pass's tag still gets its 304.
@Suite("Recompression", .serialized)
struct RecompressionTests {
    static let data = textLike(30_000)

    /// Asks for the gzip body until the zopfli one is served (the swap happens on an idle-priority thread).
    static func awaitZopfli(_ port: UInt16, path: String = "/a.js") throws -> WireResponse {
        try awaitRecompressed(port, path: path, coding: "gzip", suffix: "-zopfli")
    }

    /// Asks for `coding` until the body whose tag ends in `suffix` is served.
    static func awaitRecompressed(_ port: UInt16, path: String = "/a.js", coding: String, suffix: String) throws -> WireResponse {
        for _ in 0..<300 {
            let response = try fetch(port, get(path, "Accept-Encoding: \(coding)\r\n"))
            if response.header("ETag")?.hasSuffix(suffix + "\"") == true { return response }
            usleep(100_000)
        }
        throw TestFailure("no \(suffix) body after 30 s")
    }

    /// A server with zopfli on, after the swap: zlib's tag (from the first response) and zopfli's response.
    static func swapped() throws -> (server: TestServer, zlibTag: String, refined: WireResponse, zopfliTag: String) {
        let server = try TestServer(files: ["a.js": Self.data]) { $0.recompress = true }
        do {
            let zlibTag = try #require(try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n")).header("ETag"))
            let refined = try Self.awaitZopfli(server.port)
            return (server, zlibTag, refined, try #require(refined.header("ETag")))
        } catch {
            server.shutdown()
            throw error
        }
    }

    @Test("§8.8.3 zlib's body first (tag -gz), then zopfli's: smaller, same content, its own strong tag (-zopfli)")
    func swap() throws {
        let server = try TestServer(files: ["a.js": Self.data]) { $0.recompress = true }
        defer { server.shutdown() }
        let identityTag = try #require(try fetch(server.port, get("/a.js")).header("ETag"))
        let first = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        #expect(first.header("ETag") == String(identityTag.dropLast()) + "-gz\"")
        #expect(gunzip(first.body) == Self.data)
        let refined = try Self.awaitZopfli(server.port)
        #expect(refined.header("ETag") == String(identityTag.dropLast()) + "-zopfli\"")
        #expect(gunzip(refined.body) == Self.data)
        #expect(refined.body.count < first.body.count, "zopfli \(refined.body.count) B, zlib \(first.body.count) B")
        #expect(refined.header("Content-Length") == "\(refined.body.count)")
        #expect(refined.header("Content-Encoding") == "gzip")
        #expect(refined.header("Server-Timing") == "cache;desc=\"hit\"")
        #expect(server.server.statistics.recompressions == 1)
        #expect(server.server.statistics.compressions == 1)
    }

    @Test("§13.1.2 If-None-Match: the zopfli tag → 304 carrying it; zlib's earlier tag of the same version → 304 carrying that one (no re-download for the upgrade); another version's → 200")
    func conditional() throws {
        let (server, zlibTag, refined, zopfliTag) = try Self.swapped()
        defer { server.shutdown() }
        let notModified = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\nIf-None-Match: \(zopfliTag)\r\n"))
        #expect(notModified.status == 304)
        #expect(notModified.header("ETag") == zopfliTag)
        #expect(notModified.body.isEmpty)
        let earlier = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\nIf-None-Match: \(zlibTag)\r\n"))
        #expect(earlier.status == 304)
        #expect(earlier.header("ETag") == zlibTag)
        #expect(earlier.header("Vary") == "Accept-Encoding")
        #expect(earlier.body.isEmpty)
        // A tag of this version in another coding, or the identity tag, names other bytes: the full body.
        let identityTag = String(zlibTag.dropLast(4)) + "\""
        for other in [identityTag, String(zlibTag.dropLast(4)) + "-br\"", String(zlibTag.dropLast(4)) + "-zst19\""] {
            let changed = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\nIf-None-Match: \(other)\r\n"))
            #expect(changed.status == 200, "\(other)")
            #expect(changed.header("ETag") == zopfliTag)
            #expect(changed.body == refined.body)
        }
        // A GET with If-Match of the earlier pass is not answered from the earlier bytes (there are none): 412.
        let ifMatch = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\nIf-Match: \(zlibTag)\r\n"))
        #expect(ifMatch.status == 412)
    }

    @Test("§13.1.5 If-Range with zlib's tag cannot splice zopfli bytes onto zlib's: 200 whole; with zopfli's: 206")
    func ifRange() throws {
        let (server, zlibTag, refined, zopfliTag) = try Self.swapped()
        defer { server.shutdown() }
        let stale = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\nRange: bytes=100-\r\nIf-Range: \(zlibTag)\r\n"))
        #expect(stale.status == 200)
        #expect(stale.body == refined.body)
        let current = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\nRange: bytes=100-\r\nIf-Range: \(zopfliTag)\r\n"))
        #expect(current.status == 206)
        #expect(current.header("Content-Range") == "bytes 100-\(refined.body.count - 1)/\(refined.body.count)")
        #expect(current.body == Array(refined.body[100...]))
    }

    @Test("§8.8.3 br and zstd: the first pass (-br, -zst), then brotli 11 (-br11) and zstd 19 (-zst19), smaller, same content; the first tag still gets 304, If-Range with it gets the whole new body",
          arguments: [("br", "-br", "-br11"), ("zstd", "-zst", "-zst19")])
    func brotliAndZstd(coding: String, first: String, upgraded: String) throws {
        let server = try TestServer(files: ["a.js": Self.data]) { $0.recompress = true }
        defer { server.shutdown() }
        let initial = try fetch(server.port, get("/a.js", "Accept-Encoding: \(coding)\r\n"))
        let firstTag = try #require(initial.header("ETag"))
        #expect(firstTag.hasSuffix(first + "\""))
        let refined = try Self.awaitRecompressed(server.port, coding: coding, suffix: upgraded)
        let upgradedTag = try #require(refined.header("ETag"))
        #expect(upgradedTag == String(firstTag.dropLast(first.count + 1)) + upgraded + "\"")
        #expect(try ReferenceDecoder.decode(initial.body, contentEncoding: coding) == Self.data)
        #expect(try ReferenceDecoder.decode(refined.body, contentEncoding: coding) == Self.data)
        #expect(refined.body.count < initial.body.count, "\(upgraded) \(refined.body.count) B, first pass \(initial.body.count) B")
        #expect(refined.header("Content-Length") == "\(refined.body.count)")
        #expect(server.server.statistics.recompressions == 1)
        let earlier = try fetch(server.port, get("/a.js", "Accept-Encoding: \(coding)\r\nIf-None-Match: \(firstTag)\r\n"))
        #expect(earlier.status == 304 && earlier.header("ETag") == firstTag)
        let current = try fetch(server.port, get("/a.js", "Accept-Encoding: \(coding)\r\nIf-None-Match: \(upgradedTag)\r\n"))
        #expect(current.status == 304 && current.header("ETag") == upgradedTag)
        let stale = try fetch(server.port, get("/a.js", "Accept-Encoding: \(coding)\r\nRange: bytes=100-\r\nIf-Range: \(firstTag)\r\n"))
        #expect(stale.status == 200 && stale.body == refined.body)
    }

    @Test("a file changed while its old version is being recompressed never gets the old bytes: the slow job's swap is refused")
    func changedDuringRecompression() throws {
        // 1 MiB: zopfli takes seconds here, so the change lands while the old version's job runs or waits.
        let one = textLike(1 << 20, seed: 21)
        let two = textLike(1 << 20, seed: 22)
        let server = try TestServer(files: ["a.js": one]) { $0.recompress = true }
        defer { server.shutdown() }
        let path = server.root + "/a.js"
        let old = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        #expect(gunzip(old.body) == one)
        try TestServer.write(path, two)
        try TestServer.waitUntilSettled(path)
        // Every answer until the new version's own recompressed body arrives is the new content; the one thread
        // runs its jobs in order, so by then the old version's job has finished too.
        var seen = 0
        while true {
            let response = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
            #expect(gunzip(response.body) == two)
            #expect(response.header("ETag") != old.header("ETag"))
            seen += 1
            if response.header("ETag")?.hasSuffix("-zopfli\"") == true { break }
            guard seen < 600 else { throw TestFailure("no zopfli body for the new version after 60 s") }
            usleep(100_000)
        }
        // Only the new version's swap happened.
        #expect(server.server.statistics.recompressions == 1)
        #expect(server.server.statistics.cache.entries == 1)
    }

    @Test("--recompress off keeps zlib's body and tag, where a server with it on has swapped the same file meanwhile")
    func off() throws {
        let server = try TestServer(files: ["a.js": Self.data]) { $0.recompress = false }
        defer { server.shutdown() }
        let first = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        // The control: the same file, asked for afterwards from a server with recompression on. Once that one serves
        // zopfli's body, a recompression queued by the first request above would have had as long to land.
        let control = try Self.swapped()
        control.server.shutdown()
        let later = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        #expect(later.header("ETag") == first.header("ETag"))
        #expect(later.header("ETag")?.hasSuffix("-gz\"") == true)
        #expect(later.body == first.body)
        #expect(server.server.statistics.recompressions == 0)
    }
}

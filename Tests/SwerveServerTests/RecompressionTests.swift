import Glibc
import SwerveServer
import Testing

/// The background zopfli recompression of cached gzip bodies, over the wire: the smaller body replaces zlib's, and
/// because its bytes differ, so does its strong ETag (RFC 9110 §8.8.1, §8.8.3).
@Suite("Recompression", .serialized)
struct RecompressionTests {
    static let data = textLike(30_000)

    /// Asks for the gzip body until the zopfli one is served (the swap happens on an idle-priority thread).
    static func awaitZopfli(_ port: UInt16, path: String = "/a.js") throws -> WireResponse {
        for _ in 0..<300 {
            let response = try fetch(port, get(path, "Accept-Encoding: gzip\r\n"))
            if response.header("ETag")?.hasSuffix("-zopfli\"") == true { return response }
            usleep(100_000)
        }
        throw TestFailure("no zopfli body after 30 s")
    }

    /// A server with zopfli on, after the swap: zlib's tag (from the first response) and zopfli's response.
    static func swapped() throws -> (server: TestServer, zlibTag: String, refined: WireResponse, zopfliTag: String) {
        let server = try TestServer(files: ["a.js": Self.data]) { $0.zopfli = true }
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
        let server = try TestServer(files: ["a.js": Self.data]) { $0.zopfli = true }
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

    @Test("§13.1.2 If-None-Match: the zopfli tag → 304 carrying it; zlib's old tag no longer matches → 200")
    func conditional() throws {
        let (server, zlibTag, refined, zopfliTag) = try Self.swapped()
        defer { server.shutdown() }
        let notModified = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\nIf-None-Match: \(zopfliTag)\r\n"))
        #expect(notModified.status == 304)
        #expect(notModified.header("ETag") == zopfliTag)
        #expect(notModified.body.isEmpty)
        let changed = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\nIf-None-Match: \(zlibTag)\r\n"))
        #expect(changed.status == 200)
        #expect(changed.header("ETag") == zopfliTag)
        #expect(changed.body == refined.body)
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

    @Test("--zopfli off keeps zlib's body and tag")
    func off() throws {
        let server = try TestServer(files: ["a.js": Self.data]) { $0.zopfli = false }
        defer { server.shutdown() }
        let first = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        // zopfli needs ~0.1 s for 30 KB here: 1.5 s is ample time for a swap that should not happen.
        usleep(1_500_000)
        let later = try fetch(server.port, get("/a.js", "Accept-Encoding: gzip\r\n"))
        #expect(later.header("ETag") == first.header("ETag"))
        #expect(later.header("ETag")?.hasSuffix("-gz\"") == true)
        #expect(later.body == first.body)
        #expect(server.server.statistics.recompressions == 0)
    }
}

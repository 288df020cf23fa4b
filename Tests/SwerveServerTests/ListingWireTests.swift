import Foundation
import Glibc
import SwerveServer
import SwerveTestSupport
import Testing

/// `--list-dirs` over the wire: HTML and JSON, gzip, 304, HEAD, Vary, the policy, and a directory too large to list whole.
@Suite("Directory listings over the wire", .serialized)
struct ListingWireTests {
    static let files: [String: [UInt8]] = [
        "docs/a&b <1>.txt": Array("first".utf8),
        "docs/notes.md": textLike(3_000),
        "docs/sub/deep.txt": Array("deep".utf8),
        "docs/.secret": Array("hidden".utf8),
        "site/index.html": Array("<p>site</p>\n".utf8),
    ]

    func request(_ port: UInt16, _ path: String, _ fields: String = "", method: String = "GET") throws -> WireResponse {
        try fetch(port, "\(method) \(path) HTTP/1.1\r\nHost: h\r\n\(fields)\r\n", headRequest: method == "HEAD")
    }

    @Test("an HTML listing of a directory without index.html: escaped names, links, sizes, a parent link; Vary, ETag, no-cache")
    func html() throws {
        let server = try TestServer(files: Self.files) { $0.listDirectories = true }
        defer { server.shutdown() }
        let page = try request(server.port, "/docs/")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.header("Vary") == "Accept, Accept-Encoding")
        #expect(page.header("Cache-Control") == "no-cache")
        #expect(page.header("ETag")?.hasPrefix("\"sha256-") == true)
        let text = page.bodyText
        #expect(text.contains("<title>Index of /docs/</title>"))
        #expect(text.contains("<a href=\"./a%26b%20%3C1%3E.txt\">a&amp;b &lt;1&gt;.txt</a>"))
        #expect(text.contains("<a href=\"./sub/\">sub/</a>"))
        #expect(text.contains("<a href=\"../\">../</a>"))
        #expect(!text.contains("secret"))
        // Directories first.
        #expect(text.range(of: "./sub/")!.lowerBound < text.range(of: "./notes.md")!.lowerBound)
        // The link leads to the file.
        #expect(try request(server.port, "/docs/a%26b%20%3C1%3E.txt").bodyText == "first")
        // A directory with an index serves the index; without the slash it is still redirected.
        #expect(try request(server.port, "/site/").bodyText == "<p>site</p>\n")
        #expect(try request(server.port, "/docs").status == 301)
        // The root is listed without a parent link.
        let root = try request(server.port, "/")
        #expect(root.status == 200 && !root.bodyText.contains("href=\"../\""))
    }

    @Test("JSON by Accept or ?format=json; gzip, br or zstd when accepted; HEAD the same headers; 304 for its ETag, per representation")
    func representations() throws {
        let server = try TestServer(files: Self.files) { $0.listDirectories = true }
        defer { server.shutdown() }
        let json = try request(server.port, "/docs/", "Accept: application/json\r\n")
        #expect(json.header("Content-Type") == "application/json; charset=utf-8")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.body)) as? [[String: Any]])
        #expect(parsed.map { $0["name"] as? String } == ["sub", "a&b <1>.txt", "notes.md"])
        #expect(parsed[1]["size"] as? Int == 5 && parsed[0]["type"] as? String == "directory")
        #expect(try request(server.port, "/docs/?format=json").body == json.body)
        let bySize = try request(server.port, "/docs/?format=json&sort=size&order=desc").bodyText
        #expect(bySize.range(of: "notes.md")!.lowerBound < bySize.range(of: "a&b")!.lowerBound)

        let gzip = try request(server.port, "/docs/", "Accept-Encoding: gzip\r\n")
        #expect(gzip.header("Content-Encoding") == "gzip")
        #expect(gunzip(gzip.body) == (try request(server.port, "/docs/").body))
        #expect(gzip.header("ETag") != json.header("ETag"))
        let head = try request(server.port, "/docs/", "Accept-Encoding: gzip\r\n", method: "HEAD")
        #expect(head.body.isEmpty)
        #expect(head.rawHead.replacingDate() == gzip.rawHead.replacingDate())

        let etag = try #require(gzip.header("ETag"))
        let notModified = try request(server.port, "/docs/", "Accept-Encoding: gzip\r\nIf-None-Match: \(etag)\r\n")
        #expect(notModified.status == 304)
        #expect(notModified.header("ETag") == etag && notModified.header("Vary") == "Accept, Accept-Encoding")
        // The identity listing's tag is not the gzip one's: a 200.
        #expect(try request(server.port, "/docs/", "If-None-Match: \(etag)\r\n").status == 200)

        // A browser's Accept-Encoding gets brotli, zstd when preferred; each its own tag, each a 304 for it.
        let plain = try request(server.port, "/docs/").body
        for (accept, coding, suffix) in [("gzip, deflate, br, zstd", "br", "-br"), ("zstd, gzip;q=0.5", "zstd", "-zst")] {
            let compressed = try request(server.port, "/docs/", "Accept-Encoding: \(accept)\r\n")
            #expect(compressed.header("Content-Encoding") == coding)
            #expect(try ReferenceDecoder.decode(compressed.body, contentEncoding: coding) == plain)
            let tag = try #require(compressed.header("ETag"))
            #expect(tag == String(etag.dropLast(4)) + suffix + "\"")
            #expect(try request(server.port, "/docs/", "Accept-Encoding: \(accept)\r\nIf-None-Match: \(tag)\r\n").status == 304)
        }
    }

    @Test("a listing is never stale: a file added or rewritten inside shows at once, with another ETag")
    func fresh() throws {
        let server = try TestServer(files: Self.files) { $0.listDirectories = true }
        defer { server.shutdown() }
        let before = try request(server.port, "/docs/?format=json")
        try TestServer.write(server.root + "/docs/notes.md", textLike(9_000))
        let after = try request(server.port, "/docs/?format=json")
        #expect(after.bodyText.contains("\"size\":9000"))
        #expect(after.header("ETag") != before.header("ETag"))
    }

    @Test("off by default: a directory without index.html is a 404 (or the fallback for a page request)")
    func offByDefault() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        #expect(try request(server.port, "/docs/").status == 404)
        let listed = try TestServer(files: Self.files) { $0.listDirectories = true; $0.showHidden = true }
        defer { listed.shutdown() }
        #expect(try request(listed.port, "/docs/").bodyText.contains(".secret"))
    }

    @Test("a directory of 100,000 entries: the listing stops at 10,000 and says so, and other requests are served meanwhile")
    func hugeDirectory() throws {
        let server = try TestServer(files: ["ok.txt": Array("ok".utf8)]) { $0.listDirectories = true }
        defer { server.shutdown() }
        let big = server.root + "/big"
        mkdir(big, 0o755)
        for k in 0..<100_000 {
            let fd = open(big + "/f\(k)", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
            close(fd)
        }
        let listing = try RawClient(port: server.port, timeoutSeconds: 30)
        try listing.send(get("/big/?format=json"))
        // While the worker reads, the loop answers others.
        #expect(try fetch(server.port, get("/ok.txt")).bodyText == "ok")
        let response = try listing.readResponse()
        #expect(response.status == 200)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]])
        #expect(parsed.count == 10_000)
        let page = try fetch(server.port, get("/big/"))
        #expect(page.bodyText.contains("Showing the first 10000 entries of a larger directory."))
    }
}

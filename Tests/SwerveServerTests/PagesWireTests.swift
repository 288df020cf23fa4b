import Glibc
import SwerveServer
import Testing

/// `--fallback` (SPA routes) and error pages (`--error-page`, the default `404.html`) over the wire.
@Suite("Fallback and error pages over the wire", .serialized)
struct PagesWireTests {
    static let index = Array(("<!doctype html><title>app</title><div id=app></div>\n" + String(repeating: "<!-- pad -->", count: 40)).utf8)
    static let notFound = Array(("<!doctype html><h1>Not here</h1>\n" + String(repeating: "<p>sorry</p>", count: 40)).utf8)
    static let files: [String: [UInt8]] = [
        "index.html": index,
        "app.js": textLike(5_000),
        "docs/guide.html": Array("<p>guide</p>\n".utf8),
    ]
    static let navigate = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"

    func request(_ port: UInt16, _ path: String, _ fields: String = "", method: String = "GET") throws -> WireResponse {
        try fetch(port, "\(method) \(path) HTTP/1.1\r\nHost: h\r\n\(fields)\r\n", headRequest: method == "HEAD")
    }

    @Test("--fallback: a page route is the fallback file (200, its own ETag, Cache-Control, gzip), HEAD the same headers")
    func fallbackServesRoutes() throws {
        let server = try TestServer(files: Self.files) { $0.fallback = "index.html" }
        defer { server.shutdown() }
        let direct = try request(server.port, "/index.html", Self.navigate)
        let route = try request(server.port, "/settings/profile", Self.navigate)
        #expect(route.status == 200)
        #expect(route.body == Self.index)
        #expect(route.header("Content-Type") == "text/html; charset=utf-8")
        #expect(route.header("ETag") == direct.header("ETag"))
        #expect(route.header("Cache-Control") == "no-cache")
        #expect(route.header("Vary") == "Accept, Accept-Encoding")
        #expect(direct.header("Vary") == "Accept-Encoding")
        let gzip = try request(server.port, "/settings/profile", Self.navigate + "Accept-Encoding: gzip\r\n")
        #expect(gzip.header("Content-Encoding") == "gzip")
        #expect(gunzip(gzip.body) == Self.index)
        let head = try request(server.port, "/settings/profile", Self.navigate, method: "HEAD")
        #expect(head.body.isEmpty)
        #expect(head.rawHead.replacingDate() == route.rawHead.replacingDate())
        let etag = try #require(route.header("ETag"))
        let revalidated = try request(server.port, "/settings/profile", Self.navigate + "If-None-Match: \(etag)\r\n")
        #expect(revalidated.status == 304)
        #expect(revalidated.header("Vary") == "Accept, Accept-Encoding")
        // What exists is untouched; a directory without its slash is still redirected.
        #expect(try request(server.port, "/app.js", Self.navigate).body == Self.files["app.js"])
        #expect(try request(server.port, "/docs", Self.navigate).status == 301)
    }

    @Test("--fallback never hands a page to a script or an image: a missing asset stays 404 (and varies on Accept)")
    func fallbackSparesAssets() throws {
        let server = try TestServer(files: Self.files) { $0.fallback = "index.html"; $0.errorPages = ["404="] }
        defer { server.shutdown() }
        for (path, accept) in [("/app.3f9a.js", "Accept: */*\r\n"), ("/logo.png", "Accept: image/avif,image/webp,*/*;q=0.8\r\n"),
                               ("/api/data.json", "Accept: application/json\r\n"), ("/settings", "")] {
            let response = try request(server.port, path, accept)
            #expect(response.status == 404, "\(path)")
            #expect(response.header("Vary") == "Accept", "\(path)")
        }
        #expect(try request(server.port, "/settings", Self.navigate, method: "POST").status == 405)
    }

    @Test("a 404.html at the root answers 404s: the error status, its own type, gzip when accepted, no-store, no validators")
    func defaultNotFoundPage() throws {
        var files = Self.files
        files["404.html"] = Self.notFound
        let server = try TestServer(files: files)
        defer { server.shutdown() }
        let page = try request(server.port, "/missing")
        #expect(page.status == 404)
        #expect(page.body == Self.notFound)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.header("Cache-Control") == "no-store")
        #expect(page.header("ETag") == nil)
        #expect(page.header("Last-Modified") == nil)
        #expect(page.header("Accept-Ranges") == nil)
        let gzip = try request(server.port, "/missing", "Accept-Encoding: gzip\r\n")
        #expect(gzip.status == 404)
        #expect(gzip.header("Content-Encoding") == "gzip")
        #expect(gunzip(gzip.body) == Self.notFound)
        let head = try request(server.port, "/missing", method: "HEAD")
        #expect(head.status == 404 && head.body.isEmpty)
        #expect(head.header("Content-Length") == "\(Self.notFound.count)")
        // Preconditions and ranges are about the resource, which does not exist: the page is sent whole.
        #expect(try request(server.port, "/missing", "Range: bytes=0-3\r\n").body == Self.notFound)
        // The page itself is still a page of the site.
        #expect(try request(server.port, "/404.html").status == 200)
    }

    @Test("--error-page CODE=FILE for other codes; 404= turns the default off; a site without 404.html gets the built-in page")
    func configuredPages() throws {
        var files = Self.files
        files["404.html"] = Self.notFound
        files["errors/forbidden.html"] = Array("<p>forbidden</p>\n".utf8)
        let server = try TestServer(files: files) { $0.errorPages = ["403=errors/forbidden.html", "404="] }
        defer { server.shutdown() }
        #expect(symlink("index.html", server.root + "/link.html") == 0)  // refused without --follow-symlinks: 403
        let forbidden = try request(server.port, "/link.html")
        #expect(forbidden.status == 403)
        #expect(forbidden.bodyText == "<p>forbidden</p>\n")
        let builtIn = try request(server.port, "/missing")
        #expect(builtIn.status == 404)
        #expect(builtIn.body != Self.notFound)
        #expect(builtIn.bodyText.contains("404"))

        let plain = try TestServer(files: Self.files)
        defer { plain.shutdown() }
        let first = try request(plain.port, "/missing")
        #expect(first.status == 404 && first.bodyText.contains("404"))
        // A 404.html added later is used once the remembered absence has aged (the open-file cache's age).
        try TestServer.write(plain.root + "/404.html", Self.notFound)
        let addedAt = monotonicSeconds()
        var seen = false
        while monotonicSeconds() - addedAt < 5 {
            if try request(plain.port, "/missing").body == Self.notFound { seen = true; break }
            usleep(50_000)
        }
        #expect(seen)
    }

    @Test("a fallback or error page that is not in the root is refused at startup as a usage error")
    func startupChecks() {
        for configure in [{ (c: inout ServerConfiguration) in c.fallback = "nope.html" },
                          { (c: inout ServerConfiguration) in c.errorPages = ["404=errors/nope.html"] }] {
            do {
                let server = try TestServer(files: Self.files, configure: configure)
                server.shutdown()
                Issue.record("started with a missing page")
            } catch {
                #expect("\(error)".contains("no such file in the root"))
            }
        }
    }
}

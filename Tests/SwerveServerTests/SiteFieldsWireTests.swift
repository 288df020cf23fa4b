import Glibc
import SwerveServer
import Testing

/// `--header`, nosniff and `--cors` over the wire, for GET and HEAD, identity and gzip, 2xx, 304 and errors.
@Suite("Site fields over the wire: --header, nosniff, --cors")
struct SiteFieldsWireTests {
    static let files: [String: [UInt8]] = [
        "index.html": Array("<!doctype html><p>hi</p>\n".utf8),
        "app.js": textLike(4_000),
        "data.json": Array("{\"a\": 1}\n".utf8),
    ]

    func request(_ port: UInt16, _ path: String, _ fields: String = "", method: String = "GET") throws -> WireResponse {
        try fetch(port, "\(method) \(path) HTTP/1.1\r\nHost: h\r\n\(fields)\r\n", headRequest: method == "HEAD")
    }

    @Test("--header: every matching rule on 200, 206 and 304, GET and HEAD, gzip or not; never on an error")
    func headerRules() throws {
        let server = try TestServer(files: Self.files) {
            $0.headerRules = ["**=X-Frame-Options: DENY", "*.html=Content-Security-Policy: default-src 'self'"]
        }
        defer { server.shutdown() }
        let page = try request(server.port, "/index.html")
        #expect(page.header("X-Frame-Options") == "DENY")
        #expect(page.header("Content-Security-Policy") == "default-src 'self'")
        let script = try request(server.port, "/app.js", "Accept-Encoding: gzip\r\n")
        #expect(script.header("Content-Encoding") == "gzip")
        #expect(script.header("X-Frame-Options") == "DENY")
        #expect(script.header("Content-Security-Policy") == nil)
        let head = try request(server.port, "/index.html", method: "HEAD")
        #expect(head.rawHead.replacingDate() == page.rawHead.replacingDate())
        let etag = try #require(page.header("ETag"))
        let notModified = try request(server.port, "/index.html", "If-None-Match: \(etag)\r\n")
        #expect(notModified.status == 304)
        #expect(notModified.header("Content-Security-Policy") == "default-src 'self'")
        #expect(try request(server.port, "/index.html", "Range: bytes=0-3\r\n").header("X-Frame-Options") == "DENY")
        let missing = try request(server.port, "/missing.html")
        #expect(missing.status == 404)
        #expect(missing.header("X-Frame-Options") == nil)
    }

    @Test("nosniff on every response by default (200, 304, 404, OPTIONS); --no-nosniff leaves it out")
    func nosniff() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        let ok = try request(server.port, "/data.json")
        #expect(ok.header("X-Content-Type-Options") == "nosniff")
        #expect(try request(server.port, "/data.json", "If-None-Match: \(ok.header("ETag")!)\r\n").header("X-Content-Type-Options") == "nosniff")
        #expect(try request(server.port, "/nope").header("X-Content-Type-Options") == "nosniff")
        #expect(try request(server.port, "/", method: "OPTIONS").header("X-Content-Type-Options") == "nosniff")
        let off = try TestServer(files: Self.files) { $0.nosniff = false }
        defer { off.shutdown() }
        #expect(try request(off.port, "/data.json").header("X-Content-Type-Options") == nil)
    }

    @Test("--cors '*': Allow-Origin *, Expose-Headers and Timing-Allow-Origin on every answer to an Origin, errors too; no Vary: Origin")
    func corsAny() throws {
        let server = try TestServer(files: Self.files) { $0.cors = "*" }
        defer { server.shutdown() }
        let origin = "Origin: https://other.example\r\n"
        let ok = try request(server.port, "/data.json", origin)
        #expect(ok.header("Access-Control-Allow-Origin") == "*")
        #expect(ok.header("Access-Control-Expose-Headers") == "ETag, Content-Length, Content-Encoding, Server-Timing")
        #expect(ok.header("Timing-Allow-Origin") == "*")
        #expect(ok.header("Vary") == nil)
        let gzip = try request(server.port, "/app.js", origin + "Accept-Encoding: gzip\r\n")
        #expect(gzip.header("Access-Control-Allow-Origin") == "*")
        #expect(gzip.header("Vary") == "Accept-Encoding")
        #expect(try request(server.port, "/nope", origin).header("Access-Control-Allow-Origin") == "*")
        #expect(try request(server.port, "/data.json").header("Access-Control-Allow-Origin") == nil)
        let head = try request(server.port, "/data.json", origin, method: "HEAD")
        #expect(head.rawHead.replacingDate() == ok.rawHead.replacingDate())
    }

    @Test("--cors with a list: the listed origin is echoed, another gets nothing, and every response varies on Origin")
    func corsList() throws {
        let server = try TestServer(files: Self.files) { $0.cors = "https://app.example, http://localhost:3000" }
        defer { server.shutdown() }
        let allowed = try request(server.port, "/app.js", "Origin: http://localhost:3000\r\nAccept-Encoding: gzip\r\n")
        #expect(allowed.header("Access-Control-Allow-Origin") == "http://localhost:3000")
        #expect(allowed.header("Timing-Allow-Origin") == "http://localhost:3000")
        #expect(allowed.header("Vary") == "Accept-Encoding, Origin")
        let other = try request(server.port, "/data.json", "Origin: https://evil.example\r\n")
        #expect(other.status == 200)
        #expect(other.header("Access-Control-Allow-Origin") == nil)
        #expect(other.header("Vary") == "Origin")
        #expect(try request(server.port, "/data.json").header("Vary") == "Origin")
        let etag = try #require(allowed.header("ETag"))
        let notModified = try request(server.port, "/app.js", "Origin: https://app.example\r\nAccept-Encoding: gzip\r\nIf-None-Match: \(etag)\r\n")
        #expect(notModified.status == 304)
        #expect(notModified.header("Access-Control-Allow-Origin") == "https://app.example")
        #expect(notModified.header("Vary") == "Accept-Encoding, Origin")
    }

    @Test("a CORS preflight is 204 with Allow-Methods, the requested headers and Max-Age; without --cors OPTIONS stays as it was")
    func preflight() throws {
        let server = try TestServer(files: Self.files) { $0.cors = "https://app.example" }
        defer { server.shutdown() }
        let answer = try request(server.port, "/data.json",
                                 "Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-requested-with, content-type\r\n",
                                 method: "OPTIONS")
        #expect(answer.status == 204)
        #expect(answer.header("Access-Control-Allow-Origin") == "https://app.example")
        #expect(answer.header("Access-Control-Allow-Methods") == "GET, HEAD, OPTIONS")
        #expect(answer.header("Access-Control-Allow-Headers") == "x-requested-with, content-type")
        #expect(answer.header("Access-Control-Max-Age") == "86400")
        #expect(answer.header("Content-Length") == nil)
        #expect(answer.body.isEmpty)
        // From an origin not listed: a plain OPTIONS answer, which the browser takes as a refusal.
        let refused = try request(server.port, "/data.json",
                                  "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n", method: "OPTIONS")
        #expect(refused.status == 204)
        #expect(refused.header("Access-Control-Allow-Origin") == nil)
        #expect(refused.header("Allow") == "GET, HEAD, OPTIONS")
        let plain = try TestServer(files: Self.files)
        defer { plain.shutdown() }
        let options = try request(plain.port, "/data.json", "Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n", method: "OPTIONS")
        #expect(options.status == 204)
        #expect(options.header("Allow") == "GET, HEAD, OPTIONS")
        #expect(options.header("Access-Control-Allow-Origin") == nil)
    }
}

extension String {
    /// The same head with its Date value blanked, for comparing two responses made a second apart.
    func replacingDate() -> String {
        split(separator: "\r\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("Date: ") ? "Date: -" : String($0) }.joined(separator: "\r\n")
    }
}

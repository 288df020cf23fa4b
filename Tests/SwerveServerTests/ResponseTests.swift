import Glibc
import Testing

/// RFC 9110 semantics over the wire: methods, status codes, representation metadata.
@Suite("RFC 9110 responses")
struct ResponseTests {
    static let css = Array(String(repeating: "h1 { margin: 0 }\n", count: 10).utf8)
    static let files: [String: [UInt8]] = [
        "index.html": Array("<!DOCTYPE html><title>home</title>\n".utf8),
        "style.css": css,
        "docs/index.html": Array("<p>docs</p>\n".utf8),
        "empty-dir/.keep": [],
        "data.JSON": Array("{\"a\":1}".utf8),
        "blob": [1, 2, 3],
        ".secret": Array("hidden\n".utf8),
        "big.bin": pseudoRandomBytes(100_000),
    ]

    @Test("§15.3.1 200 for a file: every header right")
    func fileHeaders() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        let response = try fetch(server.port, "GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(response.statusLine == "HTTP/1.1 200 OK")
        #expect(response.header("Server") == "swerve")
        #expect(response.header("Content-Type") == "text/css; charset=utf-8")
        #expect(response.header("Content-Length") == "\(Self.css.count)")
        #expect(response.body == Self.css)
        let date = try #require(response.header("Date"))
        #expect(date.count == 29 && date.hasSuffix(" GMT"))
        let lastModified = try #require(response.header("Last-Modified"))
        #expect(lastModified.count == 29 && lastModified.hasSuffix(" GMT"))
        let etag = try #require(response.header("ETag"))
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && !etag.hasPrefix("W/"))
        // Field names appear once each.
        let names = response.fields.map { $0.name.lowercased() }
        #expect(Set(names).count == names.count)
    }

    @Test("§8.3 Content-Type from mime.types: case-insensitive extension, unknown → octet-stream")
    func contentTypes() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        #expect(try fetch(server.port, "GET /data.JSON HTTP/1.1\r\nHost: h\r\n\r\n").header("Content-Type") == "application/json; charset=utf-8")
        #expect(try fetch(server.port, "GET /blob HTTP/1.1\r\nHost: h\r\n\r\n").header("Content-Type") == "application/octet-stream")
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").header("Content-Type") == "text/html; charset=utf-8")
    }

    @Test("§9.3.2 HEAD gets exactly the headers GET gets, and no body")
    func headParity() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        for path in ["/style.css", "/big.bin", "/missing", "/docs"] {
            let client = try RawClient(port: server.port)
            try client.send("HEAD \(path) HTTP/1.1\r\nHost: h\r\n\r\nGET \(path) HTTP/1.1\r\nHost: h\r\n\r\n")
            let head = try client.readResponse(headRequest: true)
            let get = try client.readResponse()
            // The next bytes after HEAD's blank line are GET's status line: HEAD sent no body.
            #expect(head.statusLine == get.statusLine)
            let strip: (WireResponse) -> [String] = { $0.fields.filter { $0.name != "Date" }.map { "\($0.name): \($0.value)" } }
            #expect(strip(head) == strip(get), "path \(path)")
            #expect(Int(head.header("Content-Length") ?? "") == get.body.count)
        }
    }

    @Test("§15.5.5 404 carries a small HTML body with correct Content-Type and Content-Length")
    func notFound() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        let response = try fetch(server.port, "GET /nope.html HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(response.status == 404)
        #expect(response.header("Content-Type") == "text/html; charset=utf-8")
        #expect(response.header("Content-Length") == "\(response.body.count)")
        #expect(response.bodyText.contains("404 Not Found"))
    }

    @Test("§9.1 / §15.5.6 405 with Allow for recognised methods, 501 for unrecognised ones; §9.3.7 OPTIONS is 204 with Allow")
    func methods() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT"] {
            let response = try fetch(server.port, "\(method) /style.css HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
            #expect(response.status == 405, "\(method)")
            #expect(response.header("Allow") == "GET, HEAD, OPTIONS")
        }
        // §9.1: "The method token is case-sensitive", so `get` is as unknown as BREW. The request is well framed,
        // so the connection stays open for the next one.
        let client = try RawClient(port: server.port)
        for method in ["BREW", "FOO", "get", "Post"] {
            try client.send("\(method) /style.css HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.statusLine == "HTTP/1.1 501 Not Implemented", "\(method)")
            #expect(response.header("Allow") == nil)
            #expect(response.header("Connection") == nil)
            #expect(response.header("Content-Length") == "\(response.body.count)")
        }
        try client.send("GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try client.readResponse().body == Self.css)
        let options = try fetch(server.port, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(options.status == 204)
        #expect(options.header("Allow") == "GET, HEAD, OPTIONS")
        #expect(options.header("Content-Length") == nil)
        // A PUT must never write: the file is unchanged afterwards.
        _ = try fetch(server.port, "PUT /style.css HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz")
        #expect(try fetch(server.port, "GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n").body == Self.css)
    }

    @Test("§9.3.2 a HEAD the parser refuses gets its error status and no content")
    func headParseErrorsHaveNoContent() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        let requests = [
            ("HEAD /index.html HTTP/1.1\r\n\r\n", 400),                                   // no Host
            ("\r\nHEAD /index.html HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400),     // after an empty line
            ("HEAD /index.html HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("HEAD /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: h\r\n\r\n", 414),
            ("HEAD /index.html HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ]
        for (request, status) in requests {
            let client = try RawClient(port: server.port)
            try client.send(request)
            let response = try client.readResponse(headRequest: true)
            #expect(response.status == status, "\(request.prefix(40))")
            #expect(Int(response.header("Content-Length") ?? "") ?? 0 > 0)
            #expect(client.readsEOF(), "content after the head of a \(status) to HEAD")
        }
        // The same error to GET carries its page.
        let get = try fetch(server.port, "GET /index.html HTTP/1.1\r\n\r\n")
        #expect(get.status == 400)
        #expect(get.body.count == Int(get.header("Content-Length") ?? "") && get.bodyText.contains("400 Bad Request"))
    }

    @Test("§15.5.15 414 for a request-target over 8 KiB")
    func uriTooLong() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        let response = try fetch(server.port, "GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(response.status == 414)
        #expect(response.header("Connection") == "close")
    }

    @Test("RFC 6585 §5 431 for more than 100 header fields")
    func tooManyFields() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        var request = "GET / HTTP/1.1\r\nHost: h\r\n"
        for i in 0..<120 { request += "X-\(i): v\r\n" }
        let response = try fetch(server.port, request + "\r\n")
        #expect(response.status == 431)
    }

    @Test("§15.6.6 505 for HTTP/2.0 in an HTTP/1 request line; RFC 9112 §3.2 400 without Host")
    func versionAndHost() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        #expect(try fetch(server.port, "GET / HTTP/2.0\r\nHost: h\r\n\r\n").status == 505)
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\n\r\n").status == 400)
        #expect(try fetch(server.port, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status == 400)
        #expect(try fetch(server.port, "GET / HTTP/1.0\r\n\r\n").status == 200)
        #expect(try fetch(server.port, "GET http://example.com/style.css HTTP/1.1\r\nHost: example.com\r\n\r\n").body == Self.css)
    }

    @Test("§15.4.2 a directory without its slash → 301 with the query kept; with it → index.html")
    func directories() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        let redirect = try fetch(server.port, "GET /docs?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(redirect.status == 301)
        #expect(redirect.header("Location") == "/docs/?x=1")
        #expect(try fetch(server.port, "GET /docs/ HTTP/1.1\r\nHost: h\r\n\r\n").bodyText == "<p>docs</p>\n")
        #expect(try fetch(server.port, "GET /empty-dir/ HTTP/1.1\r\nHost: h\r\n\r\n").status == 404)
        let open = try fetch(server.port, "GET //evil.example/docs HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(!(open.header("Location") ?? "").hasPrefix("//"))
    }

    @Test("RFC 9111 §4.2.2 a trailing-slash 301 carries the Cache-Control its target (dir/index.html) gets, so no cache guesses a lifetime")
    func redirectCacheControl() throws {
        let server = try TestServer(files: Self.files) { $0.cacheRules = ["docs/**=public, max-age=60"] }
        defer { server.shutdown() }
        let redirect = try fetch(server.port, "GET /docs HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(redirect.status == 301)
        #expect(redirect.header("Cache-Control") == "public, max-age=60")
        #expect(try fetch(server.port, "GET /docs/ HTTP/1.1\r\nHost: h\r\n\r\n").header("Cache-Control") == "public, max-age=60")
        let plain = try TestServer(files: Self.files)
        defer { plain.shutdown() }
        #expect(try fetch(plain.port, "GET /docs HTTP/1.1\r\nHost: h\r\n\r\n").header("Cache-Control") == "no-cache")
    }

    @Test("RFC 9112 §3.2 an empty Host is accepted for an origin-form request; §3 GET HTTP/1.1 (no target) is 400")
    func emptyHostAndMissingTarget() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        #expect(try fetch(server.port, "GET /style.css HTTP/1.1\r\nHost:\r\n\r\n").body == Self.css)
        #expect(try fetch(server.port, "GET HTTP/1.1\r\nHost: h\r\n\r\n").status == 400)
    }

    @Test("traversal over the wire never returns bytes from outside the root")
    func traversalOverTheWire() throws {
        let server = try TestServer(files: Self.files)
        defer { server.shutdown() }
        try TestServer.write(server.directory + "/outside.txt", Array("TOP SECRET\n".utf8))
        let vectors = [
            "/../outside.txt", "/%2e%2e/outside.txt", "/..%2foutside.txt", "/%2e%2e%2foutside.txt",
            "/docs/../../outside.txt", "/./../outside.txt", "/%c0%ae%c0%ae/outside.txt", "/..%5coutside.txt",
            "/%252e%252e/outside.txt", "/.secret", "/docs/%2e%2e/%2e%2e/outside.txt", "/%00/../outside.txt",
        ]
        for vector in vectors {
            let response = try fetch(server.port, "GET \(vector) HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect([400, 403, 404].contains(response.status), "\(vector) → \(response.status)")
            #expect(!response.bodyText.contains("TOP SECRET"), "\(vector)")
        }
    }

    @Test("dotfiles are 404 unless --show-hidden")
    func hidden() throws {
        let server = try TestServer(files: Self.files) { $0.showHidden = true }
        defer { server.shutdown() }
        #expect(try fetch(server.port, "GET /.secret HTTP/1.1\r\nHost: h\r\n\r\n").bodyText == "hidden\n")
    }

    @Test("§6.6.1 Date is IMF-fixdate of now; §8.8.2.1 Last-Modified is never later than Date")
    func dates() throws {
        let server = try TestServer(files: ["future.txt": Array("f".utf8)])
        defer { server.shutdown() }
        // Date the file a day into the future.
        var times = [timespec(tv_sec: time(nil) + 86400, tv_nsec: 0), timespec(tv_sec: time(nil) + 86400, tv_nsec: 0)]
        utimensat(AT_FDCWD, server.root + "/future.txt", &times, 0)
        try TestServer.waitUntilSettled(server.root + "/future.txt")
        let response = try fetch(server.port, "GET /future.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(response.header("Last-Modified") == response.header("Date"))
    }

    @Test("§8.8.3 the ETag changes on a same-size rewrite within the same second")
    func etagNanoseconds() throws {
        let server = try TestServer(files: ["v.txt": Array("one\n".utf8)])
        defer { server.shutdown() }
        let path = server.root + "/v.txt"
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 100), timespec(tv_sec: 1_700_000_000, tv_nsec: 100)]
        utimensat(AT_FDCWD, path, &times, 0)
        try TestServer.waitUntilSettled(path)
        let first = try fetch(server.port, "GET /v.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        try TestServer.write(path, Array("two\n".utf8))
        times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 200), timespec(tv_sec: 1_700_000_000, tv_nsec: 200)]
        utimensat(AT_FDCWD, path, &times, 0)
        try TestServer.waitUntilSettled(path)
        let second = try fetch(server.port, "GET /v.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(first.header("Last-Modified") == second.header("Last-Modified"))
        #expect(first.header("ETag") != second.header("ETag"))
        #expect(second.bodyText == "two\n")
    }
}

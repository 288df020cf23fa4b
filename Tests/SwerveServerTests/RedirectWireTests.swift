import Glibc
import SwerveServer
import SwerveTestSupport
import Testing

/// `--redirect-http` (issue 17): plain HTTP answered with 308 to the https URL (RFC 9110 §15.4.9), the health path
/// excepted, over the wire.
@Suite("HTTP to HTTPS redirect", .serialized)
struct RedirectWireTests {
    static func server(_ certificates: TestCertificates, configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        try TestServer(files: ["index.html": Array("hello\n".utf8)]) {
            $0.tlsCertificate = certificates.certificate
            $0.tlsKey = certificates.key
            $0.redirectHTTP = "127.0.0.1:0"
            configure(&$0)
        }
    }

    @Test("every request gets 308 to the same path and query on the HTTPS port, on one keep-alive connection; HEAD has no body")
    func redirects() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        let port = try #require(server.server.redirectPort)
        let client = try RawClient(port: port)
        try client.send("GET /docs/a.html?x=1 HTTP/1.1\r\nHost: example.org:\(port)\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 308)
        #expect(response.statusLine == "HTTP/1.1 308 Permanent Redirect")
        #expect(response.header("Location") == "https://example.org:\(server.port)/docs/a.html?x=1")
        #expect(response.header("Content-Type") == "text/html; charset=utf-8")
        #expect(response.bodyText.contains("<h1>308 Permanent Redirect</h1>"))
        #expect(response.header("Date") != nil)
        // RFC 9110 §15.4.9: the method is kept, so any method is redirected the same way.
        try client.send("HEAD / HTTP/1.1\r\nHost: example.org\r\n\r\nDELETE /x HTTP/1.1\r\nHost: example.org\r\n\r\n")
        let head = try client.readResponse(headRequest: true)
        #expect(head.status == 308)
        #expect(head.header("Location") == "https://example.org:\(server.port)/")
        #expect(head.body.isEmpty)
        let delete = try client.readResponse()
        #expect(delete.header("Location") == "https://example.org:\(server.port)/x")
        // The Location leads to the page.
        let secure = try RawClient(port: server.port, tls: true)
        try secure.send("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n")
        #expect(try secure.readResponse().bodyText == "hello\n")
    }

    @Test("a request with a body is redirected and the connection closed; HTTP/1.0 without Host gets 400")
    func bodiesAndNoHost() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        let port = try #require(server.server.redirectPort)
        let post = try RawClient(port: port)
        try post.send("POST /form HTTP/1.1\r\nHost: example.org\r\nContent-Length: 5\r\n\r\nhello")
        let response = try post.readResponse()
        #expect(response.status == 308)
        #expect(response.header("Connection") == "close")
        #expect(post.readsEOF(), "\(post.lastError)")
        let old = try fetch(port, "GET / HTTP/1.0\r\n\r\n")
        #expect(old.status == 400)
        #expect(old.header("Location") == nil)
    }

    @Test("the health path is answered on the redirect listener too, 200 ok, not redirected")
    func health() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates) { $0.health = "/healthz" }
        defer { server.shutdown() }
        let port = try #require(server.server.redirectPort)
        let response = try fetch(port, "GET /healthz HTTP/1.1\r\nHost: example.org\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.bodyText == "ok\n")
        #expect(response.header("Cache-Control") == "no-store")
        #expect(try fetch(port, "GET /healthz/x HTTP/1.1\r\nHost: example.org\r\n\r\n").status == 308)
    }

    @Test("--redirect-http without TLS, or with a bad address, is a usage error")
    func usage() throws {
        #expect(throws: TestFailure("--redirect-http needs --tls-cert and --tls-key (it redirects to the HTTPS port)")) {
            _ = try TestServer { $0.redirectHTTP = "127.0.0.1:0" }
        }
        let certificates = try TestCertificates()
        #expect(throws: TestFailure("invalid --redirect-http 'eighty': expected ADDR:PORT, such as 0.0.0.0:80, [::]:80 or :80")) {
            _ = try Self.server(certificates) { $0.redirectHTTP = "eighty" }
        }
    }
}

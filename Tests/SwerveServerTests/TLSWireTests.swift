import Glibc
import SwerveServer
import SwerveTLS
import SwerveTestSupport
import Testing

/// HTTPS on Swerve's own engine (issue 17): HTTP/1.1 over TLS 1.2–1.3 (RFC 8446, RFC 9112), with throwaway
/// certificates made by the test (`TestCertificates`). Every request is real bytes through OpenSSL's client.
@Suite("HTTPS: HTTP/1.1 over TLS", .serialized)
struct TLSWireTests {
    static let text = textLike(40_000, seed: 31)
    static let large = pseudoRandomBytes(3_000_001, seed: 32)
    static let files: [String: [UInt8]] = [
        "index.html": Array("<!doctype html><title>t</title>\n".utf8), "app.js": text, "big.bin": large,
    ]

    static func server(_ certificates: TestCertificates, configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        try TestServer(files: files) {
            $0.tlsCertificate = certificates.certificate
            $0.tlsKey = certificates.key
            configure(&$0)
        }
    }

    /// The head without its Date line (two servers may answer in different seconds).
    static func headWithoutDate(_ response: WireResponse) -> String {
        response.rawHead.crlfLines().filter { !$0.hasPrefix("Date: ") }.joined(separator: "\r\n")
    }

    @Test("the same requests get the same heads and bodies over TLS as over cleartext (gzip, identity, HEAD, 304, 206, 404)")
    func sameAnswersAsCleartext() throws {
        let certificates = try TestCertificates()
        let secure = try Self.server(certificates)
        defer { secure.shutdown() }
        // The same root served in the clear: the same files, so the same identities and tags.
        let plain = try TestServer { $0.root = secure.root }
        defer { plain.shutdown() }
        let warm = "GET /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n"
        _ = try fetch(plain.port, warm)
        let tlsWarm = try RawClient(port: secure.port, tls: true)
        try tlsWarm.send(warm)
        let gzipped = try tlsWarm.readResponse()
        let etag = try #require(gzipped.header("ETag"))
        let requests: [(String, Bool)] = [
            (warm, false),
            ("GET /app.js HTTP/1.1\r\nHost: h\r\n\r\n", false),
            ("HEAD /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n", true),
            ("GET /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nIf-None-Match: \(etag)\r\n\r\n", false),
            ("GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=1000-1999\r\n\r\n", false),
            ("GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", false),
        ]
        let client = try RawClient(port: secure.port, tls: true)
        for (request, isHead) in requests {
            let clear = try fetch(plain.port, request, headRequest: isHead)
            try client.send(request)
            let overTLS = try client.readResponse(headRequest: isHead)
            #expect(Self.headWithoutDate(overTLS) == Self.headWithoutDate(clear), "\(request)")
            #expect(overTLS.body == clear.body, "\(request)")
            #expect(overTLS.header("Date") != nil)
        }
        #expect(client.tlsVersion == "TLSv1.3")
    }

    @Test("a 3 MB file and a cached gzip body arrive byte for byte over TLS, after pipelined requests on one connection")
    func largeBodies() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, tls: true)
        // Pipelined: a small file, the large one (pread + SSL_write in turns), the compressed one twice (a miss, then
        // the body from the cache).
        let gzip = "GET /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n"
        try client.send("GET /index.html HTTP/1.1\r\nHost: h\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n" + gzip + gzip)
        #expect(try client.readResponse().body == Self.files["index.html"])
        let big = try client.readResponse()
        #expect(big.status == 200)
        #expect(big.body == Self.large)
        for _ in 0..<2 {
            let compressed = try client.readResponse()
            #expect(compressed.header("Content-Encoding") == "gzip")
            #expect(gunzip(compressed.body) == Self.text)
        }
        #expect(server.server.tlsHandshakes.completed >= 1)
        // This machine's kernel has no kTLS, so the connection encrypted in user space: counted as such.
        #expect(server.server.tlsHandshakes.kernelTLS == 0)
    }

    @Test("a client with a tiny receive window gets every byte: ciphertext the socket did not take waits in the send buffer for EPOLLOUT")
    func slowReader() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, tls: true, receiveBuffer: 4096)
        let gzip = "GET /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n"
        try client.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n" + gzip + gzip + "GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try client.readResponse().body == Self.large)
        for _ in 0..<2 { #expect(gunzip(try client.readResponse().body) == Self.text) }
        #expect(try client.readResponse().body == Self.files["index.html"])
    }

    @Test("RFC 7301 ALPN: h2 is chosen when offered, http/1.1 otherwise; a client offering neither is refused; no ALPN is HTTP/1.1")
    func alpn() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        let browser = try RawClient(port: server.port, tls: true, alpn: ["h2", "http/1.1"])
        #expect(browser.negotiatedProtocol == "h2")
        let older = try RawClient(port: server.port, tls: true, alpn: ["http/1.1"])
        #expect(older.negotiatedProtocol == "http/1.1")
        try older.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try older.readResponse().status == 200)
        // RFC 7301 §3.2: no protocol in common is a no_application_protocol alert, and the handshake fails.
        #expect(throws: TestFailure.self) { _ = try RawClient(port: server.port, tls: true, alpn: ["spdy/3"]) }
        let none = try RawClient(port: server.port, tls: true)
        #expect(none.negotiatedProtocol == nil)
        try none.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try none.readResponse().status == 200)
        #expect(server.server.tlsHandshakes.failed >= 1)
    }

    @Test("plain HTTP sent to the TLS port is answered 400 in the clear and closed without a reset; garbage is closed")
    func plaintextToTLSPort() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        let client = try RawClient(port: server.port)
        try client.send("GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: curl\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 400)
        #expect(response.bodyText == "This port speaks HTTPS: use an https:// URL.\n")
        #expect(response.header("Connection") == "close")
        #expect(response.header("Date") != nil)
        #expect(client.readsEOF(), "\(client.lastError)")
        // Not TLS and not HTTP: OpenSSL's alert (if any), then an orderly EOF, not a reset.
        let garbage = try RawClient(port: server.port)
        try garbage.send(Array(repeating: 0x16, count: 3) + Array(repeating: 0xFF, count: 200))
        while garbage.fill() {}
        #expect(garbage.eof, "\(garbage.lastError)")
        // The server goes on serving.
        let after = try RawClient(port: server.port, tls: true)
        try after.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try after.readResponse().status == 200)
    }

    @Test("a handshake that does not complete within the handshake timeout is closed")
    func handshakeTimeout() throws {
        let certificates = try TestCertificates()
        // The header timeout far above the client's 10 s receive timeout: only the handshake's can close these.
        let server = try Self.server(certificates) {
            $0.handshakeTimeout = 0.3
            $0.headerTimeout = 60
        }
        defer { server.shutdown() }
        let silent = try RawClient(port: server.port)
        // Half a ClientHello's record header, then nothing.
        try silent.send([0x16, 0x03])
        #expect(silent.readsEOF(), "\(silent.lastError)")
        let idle = try RawClient(port: server.port)
        #expect(idle.readsEOF(), "\(idle.lastError)")
    }

    @Test("Connection: close ends with close_notify before the FIN (RFC 8446 §6.1)")
    func closeNotify() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, tls: true)
        try client.send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        #expect(client.readsEOF(), "\(client.lastError)")
        #expect(client.receivedCloseNotify)
    }

    @Test("a request and the client's FIN in one segment over TLS: answered, then closed at once (not at the keep-alive timeout)")
    func requestWithFIN() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates) { $0.keepAliveTimeout = 30 }
        defer { server.shutdown() }
        for requests in [1, 2] {
            let client = try RawClient(port: server.port, timeoutSeconds: 10, tls: true)
            // The server's session tickets are here once it has finished the handshake (and read on to EAGAIN).
            var ready = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
            #expect(poll(&ready, 1, 5_000) == 1)
            // Corked, the request's records and the FIN leave as one segment: the server's epoll reports data and
            // EPOLLRDHUP in one event, its read of them comes back short, and no later edge comes for the FIN.
            var on: Int32 = 1
            setsockopt(client.fd, Int32(IPPROTO_TCP), TCP_CORK, &on, socklen_t(MemoryLayout<Int32>.size))
            for _ in 0..<requests { try client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n") }
            shutdown(client.fd, Int32(SHUT_WR))
            for _ in 0..<requests { #expect(try client.readResponse().status == 200) }
            #expect(client.readsEOF(), "\(requests): \(client.lastError)")
        }
    }

    @Test("the handshake's last flight, a request and the FIN in one segment: answered, then closed at once")
    func handshakeRequestAndFIN() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates) { $0.keepAliveTimeout = 30 }
        defer { server.shutdown() }
        // Corked from the start, the client's Finished waits for the request and both leave with the FIN: the event
        // that completes the server's handshake is the only one that comes for all three.
        let client = try RawClient(port: server.port, timeoutSeconds: 10, tls: true, corked: true)
        try client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        shutdown(client.fd, Int32(SHUT_WR))
        #expect(try client.readResponse().status == 200)
        #expect(client.readsEOF(), "\(client.lastError)")
    }

    @Test("reload: new connections get the new certificate, an open one keeps working; a bad pair keeps the current one")
    func reload() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        let open = try RawClient(port: server.port, tls: true)
        let before = try #require(open.peerCertificateSerial)
        try certificates.makePair(commonName: "renewed.example")
        server.server.reloadTLS()
        let renewed = try RawClient(port: server.port, tls: true)
        let after = try #require(renewed.peerCertificateSerial)
        #expect(after != before)
        try open.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try open.readResponse().status == 200)
        // A key that does not belong to the certificate: the reload fails and the renewed pair stays.
        unlink(certificates.key)
        #expect(link(certificates.otherKey, certificates.key) == 0)
        server.server.reloadTLS()
        let still = try RawClient(port: server.port, tls: true)
        #expect(still.peerCertificateSerial == after)
        try still.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try still.readResponse().status == 200)
    }

    @Test("metrics count completed and failed handshakes, and which connections the kernel encrypts (none here: no kTLS)")
    func metrics() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates) { $0.metrics = "127.0.0.1:0" }
        defer { server.shutdown() }
        let port = try #require(server.server.metricsPort)
        for _ in 0..<2 {
            let client = try RawClient(port: server.port, tls: true)
            try client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(try client.readResponse().status == 200)
        }
        let plain = try RawClient(port: server.port)
        try plain.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try plain.readResponse().status == 400)
        let (_, page) = try MetricsWireTests.scrape(port) { $0["swerve_tls_handshakes_total{result=\"failed\"}"] == "1" }
        #expect(page["swerve_tls_handshakes_total{result=\"completed\"}"] == "2")
        #expect(page["swerve_tls_kernel_connections_total"] == "0")
        // Without TLS the series are not there.
        let clear = try TestServer { $0.metrics = "127.0.0.1:0" }
        defer { clear.shutdown() }
        let (_, clearPage) = try MetricsWireTests.scrape(try #require(clear.server.metricsPort)) { _ in true }
        #expect(clearPage["swerve_tls_kernel_connections_total"] == nil)
    }

    @Test("RFC 8446 §4.6.1 session tickets: a client resumes; after one key rotation still (and gets a new ticket), after two it does a full handshake; a reload keeps tickets")
    func sessionTickets() throws {
        let certificates = try TestCertificates()
        let server = try Self.server(certificates)
        defer { server.shutdown() }
        func connect(_ session: TLSClientSession?) throws -> RawClient {
            let client = try RawClient(port: server.port, tls: true, session: session)
            try client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            return client
        }
        let first = try connect(nil)
        #expect(!first.resumed)
        let ticket = try #require(first.session)
        #expect(try connect(ticket).resumed)
        // A certificate reload makes a new context; the tickets are the process's, so they still open.
        server.server.reloadTLS()
        #expect(try connect(ticket).resumed)
        TLSTicketKeys.shared.rotate()
        let afterOne = try connect(ticket)
        #expect(afterOne.resumed)
        TLSTicketKeys.shared.rotate()
        #expect(try !connect(ticket).resumed)
        // The ticket issued after the first rotation was sealed with the key that is now the previous one.
        let renewed = try #require(afterOne.session)
        #expect(try connect(renewed).resumed)
    }

    @Test("startup: a missing or mismatched pair is one clear error; --tls-cert without --tls-key is a usage error")
    func startupErrors() throws {
        let certificates = try TestCertificates()
        #expect(throws: TestFailure("cannot read the TLS certificate /nonexistent/cert.pem: No such file or directory")) {
            _ = try TestServer { $0.tlsCertificate = "/nonexistent/cert.pem"; $0.tlsKey = certificates.key }
        }
        #expect(throws: TestFailure(
            "the TLS private key \(certificates.otherKey) does not match the certificate \(certificates.certificate)")) {
            _ = try TestServer { $0.tlsCertificate = certificates.certificate; $0.tlsKey = certificates.otherKey }
        }
        #expect(throws: TestFailure("--tls-cert needs --tls-key (the certificate's private key)")) {
            _ = try TestServer { $0.tlsCertificate = certificates.certificate }
        }
        #expect(throws: TestFailure("--tls-key needs --tls-cert (the certificate chain it belongs to)")) {
            _ = try TestServer { $0.tlsKey = certificates.key }
        }
    }
}

import Glibc
import SwerveHTTP
import SwerveServer
import Testing

/// The epoll engine under the real server: large bodies, hostile clients, many clients, shutdown.
/// Serialized: the timing tests must not compete with the 1000-connection test for the two cores.
@Suite("Engine", .serialized)
struct EngineTests {
    @Test("a 20 MB file arrives whole: sha256 of the body equals the file's")
    func largeFileIntegrity() throws {
        let data = pseudoRandomBytes(20 * 1024 * 1024, seed: 42)
        let server = try TestServer(files: ["big.bin": data])
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, timeoutSeconds: 30)
        try client.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
        let expected = SHA256.hex(data)
        // FIPS 180-4 test vector, so a broken digest cannot hide behind comparing two equal wrong values.
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        do {
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("Content-Length") == "\(data.count)")
            #expect(SHA256.hex(response.body) == expected)
        }
    }

    @Test("large files to several clients of one loop, in turns: every body whole, a pipelined small answer after its file")
    func largeFilesTakeTurns() throws {
        let big = pseudoRandomBytes(4 * 1024 * 1024, seed: 43)
        let server = try TestServer(files: ["big.bin": big, "small.txt": Array("small".utf8)]) { $0.workers = 1 }
        defer { server.shutdown() }
        // Four clients on the one loop: each gets its file a turn (EventLoop.fileBytesPerTurn) at a time.
        let clients = try (0..<4).map { _ in try RawClient(port: server.port, timeoutSeconds: 30) }
        for client in clients {
            try client.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        }
        for client in clients {
            let file = try client.readResponse()
            #expect(file.status == 200)
            #expect(file.body.count == big.count)
            #expect(file.body == big)
            #expect(try client.readResponse().bodyText == "small")
        }
    }

    @Test("a FIFO in the root is refused at once and hangs nothing")
    func fifo() throws {
        let server = try TestServer(files: ["ok.txt": Array("ok".utf8)])
        defer { server.shutdown() }
        #expect(mkfifo(server.root + "/pipe", 0o644) == 0)
        let start = monotonicSeconds()
        let client = try RawClient(port: server.port, timeoutSeconds: 5)
        try client.send("GET /pipe HTTP/1.1\r\nHost: h\r\n\r\nGET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        let refused = try client.readResponse()
        #expect([403, 404].contains(refused.status))
        #expect(try client.readResponse().bodyText == "ok")
        #expect(monotonicSeconds() - start < 2)
    }

    @Test("slowloris: a header trickled byte by byte is cut at the header timeout while others are served")
    func slowloris() throws {
        let server = try TestServer(files: ["ok.txt": Array("ok".utf8)]) { $0.headerTimeout = 1 }
        defer { server.shutdown() }
        let slow = try RawClient(port: server.port, timeoutSeconds: 5)
        let start = monotonicSeconds()
        var closedAt: Double?
        let request = Array("GET /ok.txt HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".utf8)
        for byte in request {
            if (try? slow.send([byte])) == nil { closedAt = monotonicSeconds(); break }
            // Meanwhile a normal client is served promptly.
            let response = try fetch(server.port, "GET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(response.bodyText == "ok")
            usleep(100_000)
            if monotonicSeconds() - start > 3 { break }
        }
        if closedAt == nil, slow.readsEOF() { closedAt = monotonicSeconds() }
        let elapsed = try #require(closedAt) - start
        #expect(elapsed >= 0.9 && elapsed < 2.5, "closed after \(elapsed) s")
    }

    @Test("after the server sat idle longer than the header timeout, a new connection still gets its full header timeout")
    func deadlinesCountFromWakeUp() throws {
        // With no connection open the loop waits without a timeout; a deadline computed from the clock reading
        // taken before that wait would already be past when the next connection is accepted.
        let server = try TestServer(files: ["ok.txt": Array("ok".utf8)]) { $0.headerTimeout = 1 }
        defer { server.shutdown() }
        usleep(1_600_000)  // idle: longer than the header timeout, no connection open
        let client = try RawClient(port: server.port, timeoutSeconds: 5)
        usleep(400_000)  // the request comes a moment after the connect (a browser's preconnect), past a tick
        try client.send("GET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "ok")
    }

    @Test("an idle keep-alive connection is closed after the keep-alive timeout")
    func keepAliveTimeout() throws {
        let server = try TestServer(files: ["ok.txt": Array("ok".utf8)]) { $0.keepAliveTimeout = 1 }
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, timeoutSeconds: 5)
        try client.send("GET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        _ = try client.readResponse()
        let start = monotonicSeconds()
        #expect(client.readsEOF())
        let elapsed = monotonicSeconds() - start
        #expect(elapsed >= 0.7 && elapsed < 2.5, "closed after \(elapsed) s")
    }

    @Test("a client that never reads its responses does not block anyone else")
    func slowReader() throws {
        let data = pseudoRandomBytes(8 * 1024 * 1024, seed: 7)
        let server = try TestServer(files: ["big.bin": data, "ok.txt": Array("ok".utf8)])
        defer { server.shutdown() }
        let stuck = try RawClient(port: server.port)
        var bufferSize: Int32 = 4096
        setsockopt(stuck.fd, SOL_SOCKET, SO_RCVBUF, &bufferSize, socklen_t(MemoryLayout<Int32>.size))
        try stuck.send(String(repeating: "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", count: 20))
        for _ in 0..<20 {
            #expect(try fetch(server.port, "GET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n").bodyText == "ok")
        }
    }

    @Test("1000 concurrent connections are all answered")
    func thousandConnections() throws {
        let server = try TestServer(files: ["ok.txt": Array("ok".utf8)])
        defer { server.shutdown() }
        var clients: [RawClient] = []
        for _ in 0..<1000 { clients.append(try RawClient(port: server.port)) }
        for client in clients { try client.send("GET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n") }
        var answered = 0
        for client in clients where try client.readResponse().bodyText == "ok" { answered += 1 }
        #expect(answered == 1000)
    }

    @Test("--max-connections: beyond the cap new connections wait in the backlog and are served once one closes")
    func connectionCap() throws {
        let server = try TestServer(files: ["ok.txt": Array("ok".utf8)]) {
            $0.maxConnections = 4
            $0.workers = 1
        }
        defer { server.shutdown() }
        var held: [RawClient] = []
        for _ in 0..<4 {
            let client = try RawClient(port: server.port)
            try client.send("GET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(try client.readResponse().bodyText == "ok")
            held.append(client)
        }
        // The fifth connects (the kernel queues it) but is not accepted while four are open.
        let waiting = try RawClient(port: server.port, timeoutSeconds: 1)
        try waiting.send("GET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(!waiting.fill())
        held.removeFirst()  // closes one
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(waiting.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        #expect(try waiting.readResponse().bodyText == "ok")
    }

    @Test("IPv6: --host ::1 serves over [::1]")
    func ipv6() throws {
        let server = try TestServer(files: ["ok.txt": Array("ok".utf8)]) { $0.host = "::1" }
        defer { server.shutdown() }
        let client = try RawClient(port: server.port, host: "::1")
        try client.send("GET /ok.txt HTTP/1.1\r\nHost: [::1]\r\n\r\n")
        #expect(try client.readResponse().bodyText == "ok")
    }

    @Test("graceful stop: an in-flight large response finishes, idle connections close, no new connections")
    func gracefulStop() throws {
        let data = pseudoRandomBytes(48 * 1024 * 1024, seed: 3)
        let server = try TestServer(files: ["big.bin": data, "ok.txt": Array("ok".utf8)]) { $0.shutdownGrace = 10 }
        // An idle keep-alive connection: it has had its response and waits. (One that never sent a byte is not the
        // server's yet: the listener defers it until its first bytes, see EngineConfiguration.deferAcceptSeconds.)
        let idle = try RawClient(port: server.port)
        try idle.send("GET /ok.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try idle.readResponse().bodyText == "ok")
        let busy = try RawClient(port: server.port, timeoutSeconds: 20)
        try busy.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
        // Read only the beginning: the rest is still queued in the server (socket buffers hold a few MB at most)
        // when the stop begins.
        #expect(busy.fill())
        let port = server.port
        let stopper = Thread { server.shutdown() }
        // The stop has begun once the listener refuses connections; the big response is still in flight then.
        var refused = false
        for _ in 0..<1000 where !refused {
            refused = (try? RawClient(port: port)) == nil
            if !refused { usleep(5_000) }
        }
        #expect(refused, "the listener never closed")
        let response = try busy.readResponse()
        #expect(response.body.count == data.count)
        #expect(response.body == data)
        #expect(busy.readsEOF())
        #expect(idle.readsEOF())
        stopper.join()
        #expect((try? RawClient(port: port)) == nil)
    }

    @Test("a port in use is a clear startup error, also for SO_REUSEPORT listener groups", arguments: [1, 2])
    func portInUse(workers: Int) throws {
        let first = try TestServer()
        defer { first.shutdown() }
        var configuration = ServerConfiguration()
        configuration.root = first.root
        configuration.host = "127.0.0.1"
        configuration.port = first.port
        configuration.workers = workers
        #expect {
            _ = try Server(configuration: configuration)
        } throws: { error in
            "\(error)".contains("already in use")
        }
    }

    @Test("a missing root is a clear startup error")
    func missingRoot() throws {
        var configuration = ServerConfiguration()
        configuration.root = "/nonexistent/swerve-root"
        configuration.port = 0
        #expect(throws: ServerError.self) { _ = try Server(configuration: configuration) }
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A plain pthread for tests that need a second actor of their own (stopping a server while reading from it).
final class Thread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, testThreadEntry, box.toOpaque())
    }

    func run() { body() }

    func join() { pthread_join(thread, nil) }
}

private func testThreadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let thread = Unmanaged<Thread>.fromOpaque(argument!).takeRetainedValue()
    thread.run()
    return nil
}

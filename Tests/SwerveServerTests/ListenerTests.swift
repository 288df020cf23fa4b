import CSwerveSys
import Glibc
@testable import SwerveEngine
import Testing

/// The listener's socket options reach every accepted connection without a per-connection `setsockopt`.
@Suite("Listener")
struct ListenerTests {
    @Test(
        "accepted sockets inherit TCP_NODELAY and TCP_NOTSENT_LOWAT from the listener",
        arguments: [("127.0.0.1", 65536), ("::1", 131072), ("127.0.0.1", 0)])
    func acceptedSocketsInheritOptions(host: String, lowWatermark: Int) throws {
        let address = try #require(ListenAddress(host))
        let listener = try Listener.open(address: address, port: 0, reusePort: false, unsentLowWatermark: lowWatermark)
        defer { close(listener) }
        let port = Listener.boundPort(listener)
        #expect(port != 0)

        let client = try RawClient(port: port, host: host)
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pfd, 1, 5000) == 1)
        let accepted = accept4(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        #expect(accepted >= 0)
        defer { close(accepted) }

        #expect(tcpOption(accepted, TCP_NODELAY) == 1)
        // 0 = not set on the socket: the kernel's net.ipv4.tcp_notsent_lowat applies (unlimited by default).
        #expect(tcpOption(accepted, TCP_NOTSENT_LOWAT) == Int32(lowWatermark))
        // The client side is untouched: the options are the listener's, not a system-wide default.
        #expect(tcpOption(client.fd, TCP_NOTSENT_LOWAT) == 0)
    }

    @Test("TCP_DEFER_ACCEPT: a connection reaches accept4 only with its first bytes, and then they are there")
    func deferredAccept() throws {
        let address = try #require(ListenAddress("127.0.0.1"))
        let listener = try Listener.open(address: address, port: 0, reusePort: false, deferAcceptSeconds: 1)
        defer { close(listener) }
        #expect(tcpOption(listener, TCP_DEFER_ACCEPT) > 0)

        let client = try RawClient(port: Listener.boundPort(listener))
        // connect(2) on loopback returns after the handshake's last ACK has been processed: without the option the
        // connection would be in the accept queue now, and the listener readable.
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pfd, 1, 0) == 0)
        #expect(accept4(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)) == -1)

        try client.send("GET / HTTP/1.1\r\n")
        #expect(poll(&pfd, 1, 5000) == 1)
        let accepted = accept4(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        #expect(accepted >= 0)
        defer { close(accepted) }
        var waiting: Int32 = 0
        #expect(ioctl(accepted, UInt(FIONREAD), &waiting) == 0)
        #expect(waiting == 16)
    }

    private func tcpOption(_ fd: Int32, _ option: Int32) -> Int32 {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), option, &value, &length) == 0 else { return -1 }
        return value
    }
}

import CSwerveSys
import Glibc

/// A bound, listening, non-blocking TCP socket.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Family: Sendable { case ipv4, ipv6 }
    public let host: String
    public let family: Family
    fileprivate let v4: in_addr
    fileprivate let v6: in6_addr

    /// Parses a numeric IPv4 or IPv6 address (`0.0.0.0`, `127.0.0.1`, `::`, `::1`, `[::1]`). `localhost` is taken
    /// as 127.0.0.1. Names are not resolved: a server binds addresses, not DNS answers.
    public init?(_ text: String) {
        var host = text
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { host = "127.0.0.1" }
        var a4 = in_addr()
        var a6 = in6_addr()
        if inet_pton(AF_INET, host, &a4) == 1 {
            family = .ipv4
        } else if inet_pton(AF_INET6, host, &a6) == 1 {
            family = .ipv6
        } else {
            return nil
        }
        self.host = host
        v4 = a4
        v6 = a6
    }

    public static func == (l: ListenAddress, r: ListenAddress) -> Bool { l.host == r.host && l.family == r.family }

    public var description: String { family == .ipv6 ? "[\(host)]" : host }
}

enum Listener {
    /// Backlog for `listen`: the kernel caps it at net.core.somaxconn (4096 on current kernels). Large because a
    /// C10K burst of connects must not be dropped while the loop is busy.
    static let backlog: Int32 = 4096

    /// Creates a listening socket. `reusePort` lets every event loop own its own listener on the same port; the
    /// kernel then spreads new connections across them by hash, so loops never contend on one accept queue.
    ///
    /// The TCP options every client socket needs are set here, once: Linux creates an accepted socket as a clone of
    /// its listener (`tcp_create_openreq_child`), so `TCP_NODELAY` and `TCP_NOTSENT_LOWAT` carry over and each
    /// accepted connection costs no `setsockopt` (checked by `ListenerTests.acceptedSocketsInheritOptions`).
    /// `unsentLowWatermark` 0 leaves the kernel default. `deferAcceptSeconds` is the listener's own
    /// `TCP_DEFER_ACCEPT` (see `EngineConfiguration.deferAcceptSeconds`); 0 leaves it off.
    static func open(
        address: ListenAddress, port: UInt16, reusePort: Bool, unsentLowWatermark: Int = 0, deferAcceptSeconds: Int = 0,
        listen shouldListen: Bool = true
    ) throws(SystemError) -> Int32 {
        let domain = address.family == .ipv4 ? AF_INET : AF_INET6
        let fd = socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if reusePort {
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        // Responses are written whole (header and body in one writev, or the header with MSG_MORE before a sendfile),
        // so Nagle's algorithm would only delay the last segment of each response by an ACK round trip.
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        if unsentLowWatermark > 0 {
            var lowat = Int32(clamping: unsentLowWatermark)
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NOTSENT_LOWAT, &lowat, socklen_t(MemoryLayout<Int32>.size))
        }
        if deferAcceptSeconds > 0 {
            var seconds = Int32(clamping: deferAcceptSeconds)
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, &seconds, socklen_t(MemoryLayout<Int32>.size))
        }
        let rc: Int32
        switch address.family {
        case .ipv4:
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr = address.v4
            rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .ipv6:
            // `::` accepts IPv6 only; the user asks for IPv4 with 0.0.0.0. Dual-stack defaults differ between
            // distributions (net.ipv6.bindv6only), so say it explicitly.
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size))
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            sa.sin6_addr = address.v6
            rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        guard rc == 0 else {
            let error = SystemError("bind \(address):\(port)")
            Glibc.close(fd)
            throw error
        }
        guard shouldListen else { return fd }
        guard listen(fd, backlog) == 0 else {
            let error = SystemError("listen")
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// The port the kernel chose (for port 0).
    static func boundPort(_ fd: Int32) -> UInt16 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { return 0 }
        if storage.ss_family == sa_family_t(AF_INET) {
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
        }
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
    }
}

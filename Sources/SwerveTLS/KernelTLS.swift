import Glibc

/// Whether this kernel can take over TLS record encryption (kTLS), so that file bodies can go out with
/// `SSL_sendfile` instead of being read and encrypted in user space (issue 17). OpenSSL enables it per connection
/// after the handshake when the context asks for it (`SSL_OP_ENABLE_KTLS`) and the kernel has the `tls` upper-layer
/// protocol; this probe answers the second half once, at start, for the startup line and the metrics.
///
/// The probe attaches the `tls` ULP to a connected loopback TCP socket, exactly what OpenSSL does first
/// (`setsockopt(fd, SOL_TCP, TCP_ULP, "tls")`): ENOENT means the kernel has no `tls` module (as on this machine:
/// no `/proc/net/tls_stat`). To check a server on another kernel: `grep -c . /proc/net/tls_stat` lists its
/// counters, and `TlsTxSw`/`TlsTxDevice` rise as kTLS connections are made.
public enum KernelTLS {
    public enum Availability: Equatable, Sendable {
        case available
        /// The reason, from the failing call (`errno`).
        case unavailable(reason: String)
    }

    /// The probe's answer for this process, made on first use (a socket pair on loopback), then kept: the kernel's
    /// modules do not come and go under a running server, and the server and each of its loops ask.
    public static let availability: Availability = probe()

    public static func probe() -> Availability {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { return .unavailable(reason: "socket: \(errorText())") }
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(listener, generic, length) == 0 && listen(listener, 1) == 0
                    && getsockname(listener, generic, &length) == 0
            }
        }
        guard bound else { return .unavailable(reason: "loopback listener: \(errorText())") }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard client >= 0 else { return .unavailable(reason: "socket: \(errorText())") }
        defer { close(client) }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) == 0 }
        }
        guard connected else { return .unavailable(reason: "loopback connect: \(errorText())") }
        // The ULP can only be attached to an established socket; the client side is one as soon as connect returns.
        let attached = "tls".withCString { name in
            setsockopt(client, Int32(IPPROTO_TCP), TCP_ULP, name, socklen_t(strlen(name))) == 0
        }
        if attached { return .available }
        if errno == ENOENT { return .unavailable(reason: "the kernel has no tls module (TCP_ULP \"tls\": ENOENT)") }
        return .unavailable(reason: "TCP_ULP \"tls\": \(errorText())")
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }
}

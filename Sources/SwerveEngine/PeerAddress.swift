import Glibc

/// A connected client's address and port, as `accept4` reported it: plain data, kept in the connection table.
/// An IPv4 client of a dual-stack listener (`::ffff:a.b.c.d`) is kept as the IPv4 address it is, so logs show
/// the same text whichever listener took it.
public struct PeerAddress: Sendable, BitwiseCopyable {
    /// `AF_INET`, `AF_INET6`, or 0 when the kernel reported something else.
    public var family: UInt8
    /// In host byte order.
    public var port: UInt16
    /// The address in network byte order: 16 bytes for IPv6, the first 4 for IPv4.
    public var bytes: (UInt64, UInt64)

    public init(family: UInt8, port: UInt16, bytes: (UInt64, UInt64)) {
        self.family = family
        self.port = port
        self.bytes = bytes
    }

    init(_ storage: sockaddr_storage) {
        var copy = storage
        self = withUnsafeBytes(of: &copy) { raw in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let address = raw.load(as: sockaddr_in.self)
                var bytes: (UInt64, UInt64) = (0, 0)
                withUnsafeMutableBytes(of: &bytes) { $0.storeBytes(of: address.sin_addr.s_addr, as: UInt32.self) }
                return PeerAddress(family: UInt8(AF_INET), port: UInt16(bigEndian: address.sin_port), bytes: bytes)
            case AF_INET6:
                let address = raw.load(as: sockaddr_in6.self)
                var bytes: (UInt64, UInt64) = (0, 0)
                withUnsafeMutableBytes(of: &bytes) { out in
                    withUnsafeBytes(of: address.sin6_addr) { out.copyMemory(from: $0) }
                }
                let port = UInt16(bigEndian: address.sin6_port)
                // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2): ten zero bytes, two 0xff, then the IPv4 address.
                let isMapped = withUnsafeBytes(of: bytes) { b in
                    b[0..<10].allSatisfy { $0 == 0 } && b[10] == 0xFF && b[11] == 0xFF
                }
                if isMapped {
                    var v4: (UInt64, UInt64) = (0, 0)
                    withUnsafeMutableBytes(of: &v4) { out in
                        withUnsafeBytes(of: bytes) { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[12..<16])) }
                    }
                    return PeerAddress(family: UInt8(AF_INET), port: port, bytes: v4)
                }
                return PeerAddress(family: UInt8(AF_INET6), port: port, bytes: bytes)
            default:
                return PeerAddress(family: 0, port: 0, bytes: (0, 0))
            }
        }
    }

    /// Longest text `write(into:)` produces: an IPv6 address with an embedded IPv4 one (INET6_ADDRSTRLEN - 1).
    public static let maximumTextLength = 45

    /// Writes the address as text (`192.0.2.1`, `2001:db8::1`; `-` when unknown) at the start of `buffer`, which
    /// must hold `maximumTextLength` bytes, and returns its length. IPv4 is formatted here (a few nanoseconds);
    /// IPv6 by `inet_ntop`, which compresses zeros as RFC 5952 asks.
    public func write(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= Self.maximumTextLength)
        switch Int32(family) {
        case AF_INET:
            var count = 0
            withUnsafeBytes(of: bytes) { b in
                for k in 0..<4 {
                    if k > 0 {
                        buffer[count] = UInt8(ascii: ".")
                        count += 1
                    }
                    let octet = b[k]
                    if octet >= 100 {
                        buffer[count] = 0x30 + octet / 100
                        count += 1
                    }
                    if octet >= 10 {
                        buffer[count] = 0x30 + (octet / 10) % 10
                        count += 1
                    }
                    buffer[count] = 0x30 + octet % 10
                    count += 1
                }
            }
            return count
        case AF_INET6:
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            var address = bytes
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(INET6_ADDRSTRLEN)) != nil else { break }
            let length = min(strlen(text), Self.maximumTextLength)
            text.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: length) }
            return length
        default:
            break
        }
        buffer[0] = UInt8(ascii: "-")
        return 1
    }
}

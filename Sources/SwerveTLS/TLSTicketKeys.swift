import COpenSSL
import Glibc
import Synchronization

/// The keys that seal session tickets (RFC 8446 §4.6.1; RFC 5077 §4 for TLS 1.2), so a returning client resumes
/// without a full handshake and the server keeps no per-session state. Each key seals tickets while it is current
/// and opens them for one more period as the previous key, then it is gone: a ticket is good for one to two
/// `rotationSeconds`, and a key that leaked exposes at most two periods of sessions (forward secrecy for the rest).
/// Keys live only in memory and are made with OpenSSL's CSPRNG; a restart forgets them (clients then do one full
/// handshake). One ring serves every context of the process, so a certificate reload keeps tickets valid.
///
/// Rotation is lazy: the first ticket sealed after the current key's period starts the next key. Cost: one
/// uncontended lock per ticket sealed or opened.
public final class TLSTicketKeys: Sendable {
    /// One key: a 16-byte name the ticket carries, an AES-256-CBC key and an HMAC-SHA256 key (OpenSSL's ticket
    /// format), and when it became current.
    struct Key: Sendable {
        var name: (UInt64, UInt64)
        var cipher: [UInt8]
        var mac: [UInt8]
        var created: Int64

        init(created: Int64) {
            var bytes = [UInt8](repeating: 0, count: 80)
            // RAND_bytes fails only when the CSPRNG cannot be seeded, and then no TLS works at all.
            precondition(RAND_bytes(&bytes, 80) == 1, "OpenSSL's random generator failed")
            name = bytes.withUnsafeBytes { ($0.load(fromByteOffset: 0, as: UInt64.self), $0.load(fromByteOffset: 8, as: UInt64.self)) }
            cipher = Array(bytes[16..<48])
            mac = Array(bytes[48..<80])
            self.created = created
        }
    }

    /// A key is current this long, then opens tickets for as long again. One hour: a browser that comes back within
    /// the hour (or two) resumes; `sessionLifetimeSeconds` matches it.
    public static let defaultRotationSeconds: Int64 = 3600
    public let rotationSeconds: Int64
    private let clock: @Sendable () -> Int64
    private let ring: Mutex<(current: Key, previous: Key?)>

    /// The ring every `TLSContext` seals with.
    public static let shared = TLSTicketKeys()

    /// `clock`: seconds on a monotonic clock (tests inject one).
    public init(rotationSeconds: Int64 = defaultRotationSeconds, clock: @escaping @Sendable () -> Int64 = TLSTicketKeys.monotonicSeconds) {
        self.rotationSeconds = rotationSeconds
        self.clock = clock
        ring = Mutex((Key(created: clock()), nil))
    }

    public static func monotonicSeconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec)
    }

    /// Makes a new current key; the current one becomes the previous one, and the previous one is forgotten.
    public func rotate() {
        let now = clock()
        ring.withLock { ring in
            ring.previous = ring.current
            ring.current = Key(created: now)
        }
    }

    /// The key to seal a new ticket with, rotating first when the current one's period is over (a server idle for
    /// longer than two periods forgets both).
    func sealingKey() -> Key {
        let now = clock()
        return ring.withLock { ring in
            if now - ring.current.created >= rotationSeconds {
                ring.previous = now - ring.current.created >= 2 * rotationSeconds ? nil : ring.current
                ring.current = Key(created: now)
            }
            return ring.current
        }
    }

    /// The key named `name`, and whether it is the current one (a ticket sealed with the previous key is accepted
    /// and replaced by a new one). nil: unknown or expired — the client does a full handshake.
    func openingKey(named name: (UInt64, UInt64)) -> (key: Key, current: Bool)? {
        let now = clock()
        return ring.withLock { ring in
            if ring.current.name == name && now - ring.current.created < 2 * rotationSeconds { return (ring.current, true) }
            if let previous = ring.previous, previous.name == name, now - previous.created < 2 * rotationSeconds {
                return (previous, false)
            }
            return nil
        }
    }

    /// OpenSSL's ticket callback (`SSL_CTX_set_tlsext_ticket_key_evp_cb`) on the shared ring. `encrypt` 1: fill in the
    /// key name and IV and set up the cipher and the MAC for a new ticket; 0: find the key the ticket names. Returns
    /// 1 (ok), 2 (ok, but seal a fresh ticket: it was the previous key), 0 (unknown key: full handshake), -1 (error).
    static let callback: @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?, Int32
    ) -> Int32 = { _, keyName, iv, cipherContext, macContext, encrypt in
        guard let keyName, let iv, let cipherContext, let macContext else { return -1 }
        let keys = TLSTicketKeys.shared
        var key: Key
        var result: Int32 = 1
        if encrypt == 1 {
            key = keys.sealingKey()
            guard RAND_bytes(iv, 16) == 1 else { return -1 }
            withUnsafeBytes(of: key.name) { name in UnsafeMutableRawPointer(keyName).copyMemory(from: name.baseAddress!, byteCount: 16) }
            guard EVP_EncryptInit_ex(cipherContext, EVP_aes_256_cbc(), nil, key.cipher, iv) == 1 else { return -1 }
        } else {
            let name = UnsafeRawPointer(keyName)
            guard let found = keys.openingKey(named: (name.loadUnaligned(as: UInt64.self), name.loadUnaligned(fromByteOffset: 8, as: UInt64.self))) else {
                return 0
            }
            key = found.key
            result = found.current ? 1 : 2
            guard EVP_DecryptInit_ex(cipherContext, EVP_aes_256_cbc(), nil, key.cipher, iv) == 1 else { return -1 }
        }
        guard swerve_ticket_mac_init(macContext, &key.mac, key.mac.count) == 1 else { return -1 }
        return result
    }
}

import CSwerveSys
import Glibc
import SwerveFiles
import Synchronization

/// Immutable compressed bytes, shared by the `BodyCache` and by responses still being written.
///
/// Two backings, chosen once in the initializer and never changed:
/// - **malloc'd block** (`fd == -1`): every body by default – small files' bytes (`OpenFileCache`), gzip stream
///   pieces, and cache bodies that are small or could not get a memfd. Sent with `writev` from `bytes`.
/// - **sealed memfd** (`fd >= 0`): only cache bodies made by `cacheEntry(taking:…)` that are at least
///   `memfdThreshold` bytes while the process-wide budget (`memfdLimit`) lasts. The bytes live in an anonymous shmem
///   file sealed against any change of content or size, and `bytes` is a private read-only mapping of it (the same
///   pages, not a copy). Sent with `sendfile` from `fd`: the socket then references the file's pages instead of
///   copying them into fresh socket memory on every response, which on loopback also spares the client pulling
///   freshly written cache lines across cores (measured ~12% of the client's CPU per 24 KB response).
///
/// The engine retains the body while its bytes are on their way to a socket (`appendExternal` or
/// `appendFile(…, owner:)`), so an eviction from the cache only drops the cache's reference: the block is freed, or
/// the mapping unmapped and the fd closed, when the last holder lets go – never while bytes are in flight.
///
/// `@unchecked Sendable`: every stored property is a `let`; the block (or the memfd) is written exactly once, inside
/// the initializer, before `self` can be shared, and afterwards only read – for a memfd the kernel enforces that
/// (F_SEAL_WRITE/SHRINK/GROW, and F_SEAL_SEAL so nobody can lift them), which is what lets any number of `sendfile`
/// calls on any thread read it at their own offsets (`sendfile` with an offset pointer never moves the shared file
/// position). The block is freed, or the memfd unmapped and closed, in `deinit`, which runs once no thread holds a
/// reference. That is the whole of the reasoning the compiler cannot do for a raw pointer and a descriptor.
///
/// Cost: one object allocation plus one block allocation per body (on a cache miss, next to compression that
/// costs ~7 ns per input byte at level 6); a memfd body instead pays `memfd_create`, a `write` of its bytes, two
/// `fcntl`s and an `mmap` on the miss, holds its size rounded up to whole pages, and costs one descriptor while it
/// lives. A hit costs one retain either way.
public final class CompressedBody: @unchecked Sendable {
    /// The compressed bytes (for gzip: one complete gzip member). Owned by this object (a malloc'd block, or a
    /// read-only mapping of `fd`), released in `deinit`.
    /// Valid for as long as the caller holds a reference to this object – not longer.
    public let bytes: UnsafeRawBufferPointer
    /// A sealed memfd holding exactly `bytes` (offset 0, length `count`), to send with `sendfile`; -1 when the body
    /// is a malloc'd block. Owned by this object: valid for as long as the caller holds a reference, never to be
    /// closed, written or read through its file position by anyone else.
    public let fd: Int32
    /// The uncompressed size, for bytes-saved statistics.
    public let identityLength: Int
    /// How long compression took, for `Server-Timing` on the miss that produced this body.
    public let compressNanoseconds: UInt64
    /// The bytes are the background recompression's (zopfli, brotli 11, zstd 19), not the first pass's. Two passes
    /// give different bytes for the same file, so the representation's strong ETag names the pass (RFC 9110
    /// §8.8.1).
    public let recompressed: Bool

    /// Alignment of the block. 16 is what `malloc` guarantees on x86_64/arm64 Linux, so `allocate` stays a plain
    /// `malloc`, and vectorised copies out of the block start aligned.
    static let blockAlignment = 16

    /// Smallest cache body given a memfd. Below it the extra `sendfile` call (the header then goes out in its own
    /// `sendmsg` with MSG_MORE instead of sharing the body's `writev`) costs about what skipping the copy saves.
    public static let memfdThreshold = 16 * 1024

    /// Most memfd-backed bodies alive at once in the process. Each costs one file descriptor, and descriptors are
    /// shared with up to --max-connections client sockets (and open-file caches): beyond this, cache bodies stay
    /// malloc'd rather than let cached bodies starve `accept`.
    public static let memfdLimit = 1024

    /// memfd-backed bodies alive now (slots taken from `memfdLimit`).
    private static let memfdCount = Atomic<Int>(0)

    /// memfd-backed bodies alive now, for tests and statistics.
    public static var memfdBodies: Int { memfdCount.load(ordering: .relaxed) }

    /// Copies `source` into a new block. Cost: one allocation + one `memcpy` of `source.count` bytes.
    public convenience init(copying source: UnsafeRawBufferPointer, identityLength: Int, compressNanoseconds: UInt64, recompressed: Bool = false) {
        self.init(bytes: Self.makeBlock(copying: source), fd: -1, identityLength: identityLength,
                  compressNanoseconds: compressNanoseconds, recompressed: recompressed)
    }

    /// Takes the bytes of an encoder's output array. An `Array`'s storage cannot be adopted as a malloc'd block,
    /// so this copies once (cost as `init(copying:)`); the array is released by the caller as usual.
    public convenience init(taking bytes: [UInt8], identityLength: Int, compressNanoseconds: UInt64, recompressed: Bool = false) {
        self.init(bytes: bytes.withUnsafeBytes { Self.makeBlock(copying: $0) }, fd: -1, identityLength: identityLength,
                  compressNanoseconds: compressNanoseconds, recompressed: recompressed)
    }

    /// Adopts `bytes` (a block from `makeBlock` when `fd` is -1, else a mapping of the memfd `fd`); `deinit` frees it.
    private init(bytes: UnsafeRawBufferPointer, fd: Int32, identityLength: Int, compressNanoseconds: UInt64, recompressed: Bool) {
        self.bytes = bytes
        self.fd = fd
        self.identityLength = identityLength
        self.compressNanoseconds = compressNanoseconds
        self.recompressed = recompressed
    }

    /// A body for the compressed-body cache: backed by a sealed memfd (sent with `sendfile`) when it is at least
    /// `memfdThreshold` bytes and the `memfdLimit` budget has a slot; otherwise – and if any step of making the
    /// memfd fails – a malloc'd block exactly as `init(taking:…)`. Never fails.
    public static func cacheEntry(
        taking bytes: [UInt8], identityLength: Int, compressNanoseconds: UInt64, recompressed: Bool = false
    ) -> CompressedBody {
        if bytes.count >= memfdThreshold, reserveMemfdSlot() {
            if let (mapping, fd) = bytes.withUnsafeBytes({ makeSealedMemfd(copying: $0) }) {
                return CompressedBody(bytes: mapping, fd: fd, identityLength: identityLength,
                                      compressNanoseconds: compressNanoseconds, recompressed: recompressed)
            }
            memfdCount.subtract(1, ordering: .relaxed)
        }
        return CompressedBody(taking: bytes, identityLength: identityLength, compressNanoseconds: compressNanoseconds,
                              recompressed: recompressed)
    }

    deinit {
        if fd >= 0 {
            // A memfd body: its mapping is `count` (>= memfdThreshold > 0) bytes at a non-nil address.
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count)
            Glibc.close(fd)
            Self.memfdCount.subtract(1, ordering: .relaxed)
        } else {
            // makeBlock always allocates (at least one byte), so baseAddress is never nil.
            UnsafeMutableRawPointer(mutating: bytes.baseAddress!).deallocate()
        }
    }

    /// The compressed length in bytes.
    @inlinable
    public var count: Int { bytes.count }

    /// A new block holding a copy of `source`. Allocates at least one byte even for an empty source so the buffer
    /// always has a base address to free (and to hand to `writev`).
    private static func makeBlock(copying source: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let block = UnsafeMutableRawPointer.allocate(byteCount: max(source.count, 1), alignment: blockAlignment)
        if let base = source.baseAddress, source.count > 0 {
            block.copyMemory(from: base, byteCount: source.count)
        }
        return UnsafeRawBufferPointer(start: block, count: source.count)
    }

    /// Takes one slot of `memfdLimit`, or returns false when none is left.
    private static func reserveMemfdSlot() -> Bool {
        var current = memfdCount.load(ordering: .relaxed)
        while current < memfdLimit {
            let (exchanged, original) = memfdCount.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// A sealed memfd holding a copy of `source` (which is not empty) and a private read-only mapping of it, or nil
    /// (with nothing left open or mapped) if any step fails.
    ///
    /// The mapping is MAP_PRIVATE and PROT_READ, so it reads the memfd's own shmem pages (no second copy: a private
    /// mapping copies a page only on a write, which PROT_READ rules out) and is allowed on a write-sealed file.
    private static func makeSealedMemfd(copying source: UnsafeRawBufferPointer) -> (UnsafeRawBufferPointer, Int32)? {
        guard source.baseAddress != nil, source.count > 0 else { return nil }
        let fd = memfd_create("swerve-body", SWERVE_MFD_CLOEXEC | SWERVE_MFD_ALLOW_SEALING)
        guard fd >= 0 else { return nil }
        guard writeFully(fd, source) == 0 else {
            Glibc.close(fd)
            return nil
        }
        let seals = SWERVE_F_SEAL_SHRINK | SWERVE_F_SEAL_GROW | SWERVE_F_SEAL_WRITE | SWERVE_F_SEAL_SEAL
        guard fcntl(fd, SWERVE_F_ADD_SEALS, seals) == 0 else {
            Glibc.close(fd)
            return nil
        }
        let mapping = mmap(nil, source.count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapping, mapping != MAP_FAILED else {
            Glibc.close(fd)
            return nil
        }
        return (UnsafeRawBufferPointer(start: mapping, count: source.count), fd)
    }
}

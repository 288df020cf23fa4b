/// Immutable compressed bytes in one malloc'd block, shared by the `BodyCache` and by responses still being
/// written.
///
/// The engine retains the body while its bytes are on their way to a socket, so an eviction from the cache only
/// drops the cache's reference: the block is freed when the last holder lets go, never while bytes are in flight.
///
/// `@unchecked Sendable`: every stored property is a `let` and the block is written exactly once, inside `init`,
/// before `self` can be shared; afterwards it is only read. The block is freed in `deinit`, which runs once no
/// thread holds a reference. That is the whole of the reasoning the compiler cannot do for a raw pointer.
///
/// Cost: one object allocation plus one block allocation per body (on a cache miss, next to compression that
/// costs ~7 ns per input byte at level 6); a hit costs one retain.
public final class CompressedBody: @unchecked Sendable {
    /// The compressed bytes (for gzip: one complete gzip member). Owned by this object, freed in `deinit`.
    /// Valid for as long as the caller holds a reference to this object – not longer.
    public let bytes: UnsafeRawBufferPointer
    /// The uncompressed size, for bytes-saved statistics.
    public let identityLength: Int
    /// How long compression took, for `Server-Timing` on the miss that produced this body.
    public let compressNanoseconds: UInt64
    /// Which deflate encoder made the bytes. Two encoders give different bytes for the same file, so the gzip
    /// representation's strong ETag names the encoder (RFC 9110 §8.8.1).
    public let encoder: Encoder

    public enum Encoder: Sendable, Equatable {
        /// zlib (`GzipEncoder`), also what stream pieces and small files' plain bytes are tagged with.
        case zlib
        /// zopfli (`ZopfliGzip`), the background recompression of a cached body.
        case zopfli
    }

    /// Alignment of the block. 16 is what `malloc` guarantees on x86_64/arm64 Linux, so `allocate` stays a plain
    /// `malloc`, and vectorised copies out of the block start aligned.
    static let blockAlignment = 16

    /// Copies `source` into a new block. Cost: one allocation + one `memcpy` of `source.count` bytes.
    public init(copying source: UnsafeRawBufferPointer, identityLength: Int, compressNanoseconds: UInt64, encoder: Encoder = .zlib) {
        self.bytes = Self.makeBlock(copying: source)
        self.identityLength = identityLength
        self.compressNanoseconds = compressNanoseconds
        self.encoder = encoder
    }

    /// Takes the bytes of an encoder's output array. An `Array`'s storage cannot be adopted as a malloc'd block,
    /// so this copies once (cost as `init(copying:)`); the array is released by the caller as usual.
    public init(taking bytes: [UInt8], identityLength: Int, compressNanoseconds: UInt64, encoder: Encoder = .zlib) {
        self.bytes = bytes.withUnsafeBytes { Self.makeBlock(copying: $0) }
        self.identityLength = identityLength
        self.compressNanoseconds = compressNanoseconds
        self.encoder = encoder
    }

    deinit {
        // makeBlock always allocates (at least one byte), so baseAddress is never nil.
        UnsafeMutableRawPointer(mutating: bytes.baseAddress!).deallocate()
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
}

import SwerveHTTP

/// How hard each coding is compressed: the first pass, which a request may wait for (`--gzip-level`,
/// `--brotli-level`, `--zstd-level`), and the background recompression of a cached body, which nobody waits for
/// (zopfli for gzip, brotli 11, zstd 19: each coding's smallest setting that still runs in about a second per MiB
/// here). The defaults live in `ServerConfiguration`.
///
/// Measured on this machine (bytes and first-request times per coding, `Benchmarks/codings.sh`): see
/// docs/PERFORMANCE.md "Bytes per coding".
public struct CompressionLevels: Sendable, Equatable {
    /// zlib level, 1…9.
    public var gzip: Int32
    /// brotli quality, 0…11.
    public var brotli: Int32
    /// zstd level, 1…`ZSTD_maxCLevel()` (22).
    public var zstd: Int32

    /// The recompression's levels. brotli 11 is its maximum; zstd 19 is the highest level that keeps zstd's normal
    /// memory use (20–22 are "ultra" levels with windows past RFC 9659's 8 MB, which would be capped anyway).
    public static let brotliRecompression: Int32 = 11
    public static let zstdRecompression: Int32 = 19

    public init(gzip: Int32, brotli: Int32, zstd: Int32) {
        self.gzip = gzip
        self.brotli = brotli
        self.zstd = zstd
    }

    /// The first pass: `input` as one complete body in `coding` (gzip, br or zstd). Runs for as long as the codec
    /// takes: never on a loop.
    public func compress(_ input: UnsafeRawBufferPointer, coding: ContentCoding) throws(CompressionError) -> [UInt8] {
        switch coding {
        case .gzip:
            let encoder = try gzipEncoder()
            do {
                return try encoder.compress(input)
            } catch {
                throw CompressionError(error.description)
            }
        case .br:
            return try BrotliEncoder(quality: brotli).compress(input)
        case .zstd:
            return try ZstdEncoder(level: zstd).compress(input)
        case .identity:
            throw CompressionError("identity is not a compression")
        }
    }

    /// Whether `coding` has a recompression that can make smaller bytes than its first pass: not when the first
    /// pass already runs at the recompression's level.
    public func recompresses(_ coding: ContentCoding) -> Bool {
        switch coding {
        case .gzip: true
        case .br: brotli < Self.brotliRecompression
        case .zstd: zstd < Self.zstdRecompression
        case .identity: false
        }
    }

    /// The recompression of `input` in `coding` (see `recompresses`). Takes seconds for large inputs: run it only on
    /// the idle-priority thread.
    public func recompress(_ input: UnsafeRawBufferPointer, coding: ContentCoding) throws(CompressionError) -> [UInt8] {
        switch coding {
        case .gzip:
            return ZopfliGzip.compress(input, iterations: ZopfliGzip.iterations(forInputBytes: input.count))
        case .br:
            return try BrotliEncoder(quality: Self.brotliRecompression).compress(input)
        case .zstd:
            return try ZstdEncoder(level: Self.zstdRecompression).compress(input)
        case .identity:
            throw CompressionError("identity is not a compression")
        }
    }

    /// zlib's encoder at the first pass's level, its error in this module's type.
    private func gzipEncoder() throws(CompressionError) -> GzipEncoder {
        do {
            return try GzipEncoder(level: gzip)
        } catch {
            throw CompressionError(error.description)
        }
    }

    /// A first-pass encoder for a stream of `size` input bytes in `coding`.
    public func streamEncoder(for coding: ContentCoding, size: Int) throws(CompressionError) -> any StreamEncoder {
        switch coding {
        case .gzip:
            return try gzipEncoder()
        case .br:
            return try BrotliStreamEncoder(quality: brotli, sizeHint: size)
        case .zstd:
            let encoder = try ZstdEncoder(level: zstd)
            try encoder.startStream(size: size)
            return encoder
        case .identity:
            throw CompressionError("identity is not a compression")
        }
    }
}

import CBrotli

/// A brotli (RFC 7932) encoder for the `br` content coding, over the system libbrotlienc, one shot per body.
///
/// Stateless between calls: libbrotli's one-shot `BrotliEncoderCompress` sets up and frees its state per call, so an
/// encoder is a quality and a window, safe to share.
public struct BrotliEncoder: Sendable {
    /// RFC 7932 §9.1 allows windows of 2^10 to 2^24 − 16 bytes; 2^22 (4 MiB) is libbrotli's default and what
    /// browsers' decoders expect (RFC 7932 §10: a decoder may limit the window it accepts).
    public static let windowBits: Int32 = 22

    /// 0 (fastest) … 11 (smallest, slowest).
    public let quality: Int32

    public init(quality: Int32) throws(CompressionError) {
        guard (0...11).contains(quality) else { throw CompressionError("brotli quality must be 0…11") }
        self.quality = quality
    }

    /// `input` as one complete brotli stream. Text mode (BROTLI_MODE_TEXT) is a hint for UTF-8 input; it changes
    /// the result's size, never its correctness.
    public func compress(_ input: UnsafeRawBufferPointer, text: Bool = false) throws(CompressionError) -> [UInt8] {
        let capacity = BrotliEncoderMaxCompressedSize(input.count)
        // 0: the input is too large for the bound to be computed (over 2^32 here), which no cached body is.
        guard capacity > 0 else { throw CompressionError("brotli: input of \(input.count) bytes is too large") }
        var ok = BROTLI_FALSE
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            var size = capacity
            ok = BrotliEncoderCompress(
                quality, Self.windowBits, text ? BROTLI_MODE_TEXT : BROTLI_MODE_GENERIC, input.count,
                input.baseAddress?.assumingMemoryBound(to: UInt8.self), &size, buffer.baseAddress)
            count = ok == BROTLI_TRUE ? size : 0
        }
        guard ok == BROTLI_TRUE else { throw CompressionError("brotli: BrotliEncoderCompress failed") }
        return out
    }
}

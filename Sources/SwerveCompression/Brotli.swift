import CBrotli

/// A brotli (RFC 7932) encoder for the `br` content coding, over the system libbrotlienc, one shot per body.
///
/// Stateless between calls: libbrotli's one-shot `BrotliEncoderCompress` sets up and frees its state per call, so an
/// encoder is a quality and a window, safe to share.
public struct BrotliEncoder: Sendable {
    /// RFC 7932 §9.1 allows windows of 2^10 to 2^24 − 16 bytes; 2^22 (4 MiB) is libbrotli's default and what
    /// browsers' decoders expect (RFC 7932 §10: a decoder may limit the window it accepts).
    public static let windowBits: Int32 = 22

    /// The window for `count` input bytes: the smallest power of two that holds the input (at least 2^10), up to
    /// `windowBits`. A window larger than the input finds no more matches, but libbrotli allocates its ring buffer
    /// by the window: measured on the demo's 7 KB app.js at quality 5 (a fresh process, the first call, as a cold
    /// cache miss is), 1.36 ms with 2^22 against 0.58 ms with 2^13, the same 2,186 bytes.
    public static func windowBits(forInputBytes count: Int) -> Int32 {
        var bits: Int32 = 10
        while bits < windowBits && (1 << bits) - 16 < count { bits += 1 }
        return bits
    }

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
                quality, Self.windowBits(forInputBytes: input.count), text ? BROTLI_MODE_TEXT : BROTLI_MODE_GENERIC, input.count,
                input.baseAddress?.assumingMemoryBound(to: UInt8.self), &size, buffer.baseAddress)
            count = ok == BROTLI_TRUE ? size : 0
        }
        guard ok == BROTLI_TRUE else { throw CompressionError("brotli: BrotliEncoderCompress failed") }
        return out
    }
}

/// A brotli encoder fed in pieces (`StreamEncoder`), over libbrotlienc's streaming API. Its state lives in
/// libbrotli's own allocation, freed in `deinit`. Not thread-safe: one thread at a time.
public final class BrotliStreamEncoder: StreamEncoder {
    private let state: OpaquePointer
    private var finished = false

    /// `quality` as `BrotliEncoder`'s; `sizeHint`: the input's expected total (brotli tunes its buffers to it).
    public init(quality: Int32, sizeHint: Int) throws(CompressionError) {
        guard (0...11).contains(quality) else { throw CompressionError("brotli quality must be 0…11") }
        guard let state = BrotliEncoderCreateInstance(nil, nil, nil) else { throw CompressionError("brotli: out of memory") }
        self.state = state
        BrotliEncoderSetParameter(state, BROTLI_PARAM_QUALITY, UInt32(quality))
        BrotliEncoderSetParameter(state, BROTLI_PARAM_LGWIN, UInt32(BrotliEncoder.windowBits(forInputBytes: sizeHint)))
        BrotliEncoderSetParameter(state, BROTLI_PARAM_SIZE_HINT, UInt32(clamping: sizeHint))
    }

    deinit {
        BrotliEncoderDestroyInstance(state)
    }

    public func stream(
        _ input: UnsafeRawBufferPointer, finish: Bool, scratch: UnsafeMutableRawBufferPointer,
        write: (UnsafeRawBufferPointer) -> Void
    ) throws {
        precondition(!finished, "brotli stream after finish")
        var availableIn = input.count
        var nextIn = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let operation = finish ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS
        while true {
            var availableOut = scratch.count
            var nextOut: UnsafeMutablePointer<UInt8>? = scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
            guard BrotliEncoderCompressStream(state, operation, &availableIn, &nextIn, &availableOut, &nextOut, nil) == BROTLI_TRUE else {
                throw CompressionError("brotli: BrotliEncoderCompressStream failed")
            }
            let produced = scratch.count - availableOut
            if produced > 0 { write(UnsafeRawBufferPointer(rebasing: scratch[0..<produced])) }
            // Done with this call when the input is consumed and nothing is held back (and, finishing, the stream
            // is complete).
            if availableIn == 0 && BrotliEncoderHasMoreOutput(state) == BROTLI_FALSE {
                if !finish { return }
                if BrotliEncoderIsFinished(state) == BROTLI_TRUE {
                    finished = true
                    return
                }
            }
        }
    }
}

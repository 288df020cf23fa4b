import CZstd

/// A Zstandard (RFC 8878) encoder for the `zstd` content coding, over the system libzstd: one shot per body
/// (`compress`), or fed in pieces (`StreamEncoder`, after `startStream`).
///
/// RFC 9659 §3: a `zstd`-coded body's window must not exceed 8 MB ("decoders MAY impose a limit ... of 8 MB"; an
/// encoder "MUST NOT" exceed it), so the window never passes 2^23, whatever the level (`capWindow`). The frame
/// carries the content size, so a decoder can allocate once. The context lives in a heap allocation owned by this
/// class (libzstd keeps pointers into it). Not thread-safe: one encoder per thread at a time.
public final class ZstdEncoder: StreamEncoder {
    /// 2^23 = 8 MiB, RFC 9659's limit.
    public static let maximumWindowLog: Int32 = 23

    public let level: Int32
    private let context: OpaquePointer
    /// Between `startStream` and the end of its frame.
    private var streaming = false

    /// `level`: 1 (fastest) … 22 (smallest, slowest); 3 is zstd's default.
    public init(level: Int32) throws(CompressionError) {
        guard (1...ZSTD_maxCLevel()).contains(level) else {
            throw CompressionError("zstd level must be 1…\(ZSTD_maxCLevel())")
        }
        guard let context = ZSTD_createCCtx() else { throw CompressionError("zstd: out of memory") }
        self.level = level
        self.context = context
    }

    deinit {
        ZSTD_freeCCtx(context)
    }

    /// `input` as one complete zstd frame.
    public func compress(_ input: UnsafeRawBufferPointer) throws(CompressionError) -> [UInt8] {
        try beginFrame(size: input.count)
        let capacity = ZSTD_compressBound(input.count)
        var result = 0
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            result = ZSTD_compress2(context, buffer.baseAddress, capacity, input.baseAddress, input.count)
            count = ZSTD_isError(result) != 0 ? 0 : result
        }
        try check(result)
        return out
    }

    /// Starts a streamed frame of `size` bytes (pledged: the frame carries it, and a stream of another length
    /// fails rather than end well-formed). The window follows the same RFC 9659 cap as `compress`.
    public func startStream(size: Int) throws(CompressionError) {
        try beginFrame(size: size)
        try check(ZSTD_CCtx_setPledgedSrcSize(context, UInt64(size)))
        streaming = true
    }

    public func stream(
        _ input: UnsafeRawBufferPointer, finish: Bool, scratch: UnsafeMutableRawBufferPointer,
        write: (UnsafeRawBufferPointer) -> Void
    ) throws {
        precondition(streaming, "zstd stream without startStream, or after its end")
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            var outBuffer = ZSTD_outBuffer(dst: scratch.baseAddress, size: scratch.count, pos: 0)
            let remaining = ZSTD_compressStream2(context, &outBuffer, &inBuffer, finish ? ZSTD_e_end : ZSTD_e_continue)
            try check(remaining)
            if outBuffer.pos > 0 { write(UnsafeRawBufferPointer(rebasing: scratch[0..<outBuffer.pos])) }
            if finish {
                // 0: the frame is complete and flushed.
                if remaining == 0 {
                    streaming = false
                    return
                }
            } else if inBuffer.pos == inBuffer.size && outBuffer.pos < outBuffer.size {
                // All input taken and the output not full: nothing is waiting to be written for this piece.
                return
            }
        }
    }

    /// A fresh frame of `size` input bytes, one shot or streamed: the level, the window within RFC 9659's limit, and
    /// the content size in the frame header.
    private func beginFrame(size: Int) throws(CompressionError) {
        ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters)
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level))
        try capWindow(size: size)
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1))
    }

    /// Highest level whose own window is within RFC 9659's limit for any input (zstd's table, lib/compress/clevels.h:
    /// levels 17–19 take 2^23 past 256 KiB of input; the "ultra" levels 20–22 take 2^25–2^27).
    static let highestLevelWithinWindow: Int32 = 19

    /// With the input's size known (pledged), libzstd never picks a window larger than the input, so up to 8 MiB
    /// of input the window is within RFC 9659's limit by itself, and up to level 19 it is for any size. Only an
    /// ultra level on a larger input needs the cap. (Setting it always would also *raise* a low level's window, to
    /// 8 MiB of memory per stream from level 3's 2 MiB.)
    private func capWindow(size: Int) throws(CompressionError) {
        if size > 1 << Self.maximumWindowLog && level > Self.highestLevelWithinWindow {
            try check(ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, Self.maximumWindowLog))
        }
    }

    private func check(_ code: Int) throws(CompressionError) {
        if ZSTD_isError(code) != 0 { throw CompressionError("zstd: " + String(cString: ZSTD_getErrorName(code))) }
    }
}

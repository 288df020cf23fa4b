import CZstd

/// A Zstandard (RFC 8878) encoder for the `zstd` content coding, over the system libzstd, one shot per body.
///
/// RFC 9659 §3: a `zstd`-coded body's window must not exceed 8 MB ("decoders MAY impose a limit ... of 8 MB"; an
/// encoder "MUST NOT" exceed it), so the window log is capped at 23 whatever the level would choose. The frame
/// carries the content size, so a decoder can allocate once. The context lives in a heap allocation owned by this
/// class (libzstd keeps pointers into it). Not thread-safe: one encoder per thread at a time.
public final class ZstdEncoder {
    /// 2^23 = 8 MiB, RFC 9659's limit.
    public static let maximumWindowLog: Int32 = 23

    public let level: Int32
    private let context: OpaquePointer

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
        ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters)
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level))
        // With the input's size known (ZSTD_compress2 pledges it), libzstd never picks a window larger than the
        // input, so up to 8 MiB of input the window is within RFC 9659's limit by itself; above, the high levels would
        // pick up to 2^27, so the window is set to the limit.
        if input.count > 1 << Self.maximumWindowLog {
            try check(ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, Self.maximumWindowLog))
        }
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1))
        let capacity = ZSTD_compressBound(input.count)
        var result = 0
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            result = ZSTD_compress2(context, buffer.baseAddress, capacity, input.baseAddress, input.count)
            count = ZSTD_isError(result) != 0 ? 0 : result
        }
        try check(result)
        return out
    }

    private func check(_ code: Int) throws(CompressionError) {
        if ZSTD_isError(code) != 0 { throw CompressionError("zstd: " + String(cString: ZSTD_getErrorName(code))) }
    }
}

/// An encoder fed a body in pieces, for a compressed stream whose whole input is never in memory (files over the
/// cache's entry limit, or still changing): gzip (`GzipEncoder`), brotli (`BrotliStreamEncoder`), zstd
/// (`ZstdEncoder`). Not thread-safe: one thread at a time (the worker running the stream's current piece).
public protocol StreamEncoder: AnyObject {
    /// Compresses all of `input`, handing each produced piece to `write`: a prefix of `scratch`, the caller's output
    /// area, valid only during the call. `finish`: this is the last input, and the coding's trailer follows. The
    /// output of all calls together is one complete body in the coding.
    func stream(
        _ input: UnsafeRawBufferPointer, finish: Bool, scratch: UnsafeMutableRawBufferPointer,
        write: (UnsafeRawBufferPointer) -> Void
    ) throws
}

extension GzipEncoder: StreamEncoder {}

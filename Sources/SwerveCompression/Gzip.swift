import CZlib

/// A gzip (RFC 1952) encoder over zlib's deflate.
///
/// zlib keeps the address of its `z_stream` and refuses (Z_STREAM_ERROR) a stream that has moved, so the stream
/// lives in a heap allocation owned by this class and never inside a Swift value that could be copied.
/// Not thread-safe: one encoder is used by one thread at a time (a worker, or a connection's stream job).
public final class GzipEncoder {
    /// windowBits 15 + 16: the maximum window, with gzip framing instead of zlib's.
    static let gzipWindowBits: Int32 = 31
    /// zlib's default memLevel: 8 (256 KiB of state per stream).
    static let memoryLevel: Int32 = 8

    public let level: Int32
    private let stream: UnsafeMutablePointer<z_stream>
    private var finished = false

    /// `level`: 1 (fastest) … 9 (smallest); 6 is zlib's and nginx's default balance.
    public init(level: Int32 = 6) throws(GzipError) {
        guard (1...9).contains(level) else { throw GzipError(code: Z_STREAM_ERROR, message: "gzip level must be 1…9") }
        self.level = level
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // deflateInit2 is a macro Swift does not import; this is what it expands to.
        let rc = deflateInit2_(stream, level, Z_DEFLATED, Self.gzipWindowBits, Self.memoryLevel, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            throw GzipError(code: rc, message: "deflateInit2 failed")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    /// Upper bound of the gzip size of `count` input bytes in one shot (zlib's deflateBound, which includes the
    /// gzip header and trailer).
    public func bound(_ count: Int) -> Int { Int(deflateBound(stream, UInt(count))) }

    /// Compresses `input` completely and returns the gzip member. Resets the stream first, so one encoder can be
    /// reused for many one-shot jobs without reallocating zlib's window.
    public func compress(_ input: UnsafeRawBufferPointer) throws(GzipError) -> [UInt8] {
        let rc = deflateReset(stream)
        guard rc == Z_OK else { throw GzipError(code: rc, message: "deflateReset failed") }
        finished = false
        let capacity = bound(input.count)
        var failure: Int32 = Z_OK
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = UInt32(input.count)
            stream.pointee.next_out = buffer.baseAddress
            stream.pointee.avail_out = UInt32(capacity)
            // With an output buffer of deflateBound size, one Z_FINISH call completes the stream.
            let rc = deflate(stream, Z_FINISH)
            if rc != Z_STREAM_END { failure = rc }
            count = Int(stream.pointee.total_out)
        }
        guard failure == Z_OK else { throw GzipError(code: failure, message: "deflate did not finish") }
        finished = true
        return out
    }

    /// Starts a new streamed member (after a previous one-shot or stream).
    public func reset() throws(GzipError) {
        let rc = deflateReset(stream)
        guard rc == Z_OK else { throw GzipError(code: rc, message: "deflateReset failed") }
        finished = false
    }

    /// Streaming: compresses `input` (all of it), appending output to `output` through `write`, which is called
    /// with each produced piece. `finish`: this is the last input; the gzip trailer follows.
    /// `scratch` is the caller's output area; each `write` call receives a prefix of it.
    public func stream(
        _ input: UnsafeRawBufferPointer, finish: Bool, scratch: UnsafeMutableRawBufferPointer,
        write: (UnsafeRawBufferPointer) -> Void
    ) throws(GzipError) {
        precondition(!finished, "stream after finish without reset()")
        stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(input.count)
        let flush = finish ? Z_FINISH : Z_NO_FLUSH
        while true {
            stream.pointee.next_out = scratch.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(scratch.count)
            let rc = deflate(stream, flush)
            let produced = scratch.count - Int(stream.pointee.avail_out)
            if produced > 0 { write(UnsafeRawBufferPointer(rebasing: scratch[0..<produced])) }
            if rc == Z_STREAM_END {
                finished = true
                return
            }
            guard rc == Z_OK || rc == Z_BUF_ERROR else { throw GzipError(code: rc, message: "deflate failed") }
            // Done with this input when zlib consumed it all and did not fill the output (nothing held back).
            if !finish && stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
        }
    }
}

public struct GzipError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "\(message) (zlib \(code))" }
}

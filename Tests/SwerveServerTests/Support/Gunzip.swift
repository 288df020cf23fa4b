import CZlib

/// Decompresses a whole gzip member with zlib's inflate (windowBits 31 = gzip framing). nil if the data is not
/// exactly one valid gzip member (corrupt, truncated, or with trailing garbage).
func gunzip(_ data: [UInt8]) -> [UInt8]? {
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    defer { stream.deallocate() }
    guard inflateInit2_(stream, 31, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
    defer { inflateEnd(stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    let ok: Bool = data.withUnsafeBufferPointer { input in
        stream.pointee.next_in = input.baseAddress
        stream.pointee.avail_in = UInt32(input.count)
        while true {
            let (rc, produced): (Int32, Int) = chunk.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = UInt32(out.count)
                let rc = inflate(stream, Z_NO_FLUSH)
                return (rc, out.count - Int(stream.pointee.avail_out))
            }
            output.append(contentsOf: chunk[0..<produced])
            if rc == Z_STREAM_END { return stream.pointee.avail_in == 0 }
            if rc != Z_OK { return false }
            if produced == 0 && stream.pointee.avail_in == 0 { return false }
        }
    }
    return ok ? output : nil
}

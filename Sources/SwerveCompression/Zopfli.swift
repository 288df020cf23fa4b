import CZopfli
import Glibc

/// Gzip (RFC 1952) by zopfli: the same format any gzip decoder reads, 4–8% smaller than zlib at level 9, at roughly
/// a hundred times zlib's CPU per byte. Worth it only for bytes that are compressed once and sent many times – the
/// bodies in `BodyCache` – and only off the serving path: `CompressionService` runs it on an idle-priority thread
/// after zlib's body is already cached and being served.
///
/// Measured on this machine (`zopfli` CLI, the benchmark's 100 KiB JavaScript): zlib -9 25,601 B; zopfli
/// 15 iterations 23,860 B in 0.74 s, 5 iterations 23,896 B, 1 iteration 24,120 B.
public enum ZopfliGzip {
    /// Iterations of zopfli's forward/backward optimisation pass. zopfli's own advice: 10–15 for small inputs,
    /// 5 for inputs of several MB "or it will be too slow". Past 256 KiB we take 5: at ~7 µs per byte and
    /// iteration-proportional cost, 15 iterations on 1 MiB would hold a core for ~8 s.
    public static func iterations(forInputBytes count: Int) -> Int32 {
        count <= 256 << 10 ? 15 : 5
    }

    /// One complete gzip member holding `input`. The header carries no name and MTIME 0, so equal inputs give equal
    /// bytes. Runs synchronously for as long as zopfli takes (seconds for large inputs): never call it on a loop.
    public static func compress(_ input: UnsafeRawBufferPointer, iterations: Int32) -> [UInt8] {
        var options = ZopfliOptions()
        ZopfliInitOptions(&options)
        options.numiterations = max(1, iterations)
        // ZopfliCompress appends to a malloc'd array it grows itself (it starts from nil / 0).
        var out: UnsafeMutablePointer<UInt8>? = nil
        var outSize = 0
        let bytes = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        ZopfliCompress(&options, ZOPFLI_FORMAT_GZIP, bytes, input.count, &out, &outSize)
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: outSize))
    }
}

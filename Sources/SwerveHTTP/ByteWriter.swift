/// Appends bytes to a fixed, caller-owned buffer. The response serialiser's only tool: no allocation, no String.
///
/// Invariant: `count <= capacity`. Appends past the end are a programming error (the caller reserves room for the
/// largest head it can produce, see `ResponseHead.maximumSize`) and trap rather than corrupt memory.
public struct ByteWriter: ~Copyable {
    public let base: UnsafeMutableRawPointer
    public let capacity: Int
    public private(set) var count = 0

    @inline(__always) public init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    @inline(__always) public var remaining: Int { capacity - count }

    /// Marks `n` bytes, already written in place by the caller, as appended.
    @inline(__always) public mutating func skip(_ n: Int) {
        precondition(n >= 0 && n <= capacity - count, "ByteWriter overflow")
        count += n
    }

    @inline(__always) public mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always) public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= capacity - count, "ByteWriter overflow")
        if let source = bytes.baseAddress, bytes.count > 0 {
            (base + count).copyMemory(from: source, byteCount: bytes.count)
        }
        count += bytes.count
    }

    @inline(__always) public mutating func append(byte: UInt8) {
        precondition(count < capacity, "ByteWriter overflow")
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// A non-negative decimal number.
    @inline(__always) public mutating func append(decimal value: Int) {
        appendDigits(UInt64(max(0, value)), radix: 10)
    }

    /// Nanoseconds as milliseconds with three decimals (microsecond steps), integer arithmetic only: `0.042`,
    /// `12.345`. Server-Timing's `dur` and the access log's `duration_ms`.
    public mutating func append(milliseconds nanoseconds: UInt64) {
        let micros = nanoseconds / 1000
        append(decimal: Int(clamping: micros / 1000))
        append(byte: 0x2E)
        let fraction = micros % 1000
        append(byte: 0x30 + UInt8(fraction / 100))
        append(byte: 0x30 + UInt8(fraction / 10 % 10))
        append(byte: 0x30 + UInt8(fraction % 10))
    }

    /// Lowercase hexadecimal.
    @inline(__always) public mutating func append(hex value: UInt64) {
        appendDigits(value, radix: 16)
    }

    @inline(__always) private mutating func appendDigits(_ value: UInt64, radix: UInt64) {
        // Render right to left into a 20-byte stack area (UInt64.max has 20 decimal digits), then copy.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let n: Int = withUnsafeMutableBytes(of: &digits) { area in
            var v = value
            var i = 24
            repeat {
                i -= 1
                let d = UInt8(truncatingIfNeeded: v % radix)
                area[i] = d < 10 ? 0x30 + d : 0x57 + d
                v /= radix
            } while v > 0
            let length = 24 - i
            append(UnsafeRawBufferPointer(rebasing: area[i..<24]))
            return length
        }
        _ = n
    }
}

/// IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`, always 29 bytes.
public enum HTTPDate {
    public static let length = 29

    private static let days: StaticString = "SunMonTueWedThuFriSat"
    private static let months: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"

    /// Writes the IMF-fixdate of `seconds` since the epoch into `destination` (29 bytes). Pure arithmetic (the
    /// civil calendar from a day count, as `HTTPDateParser` uses the other way round): no libc, no locale, no
    /// allocation; callers cache the result per second where it is per-request.
    public static func format(_ seconds: Int, into destination: UnsafeMutableRawPointer) {
        let (dayNumber, secondOfDay) = HTTPDateParser.floorDivide(seconds, 86_400)
        let (year, monthNumber, dayOfMonth) = HTTPDateParser.civil(fromDays: dayNumber)
        // 1970-01-01, day 0, was a Thursday: index 4 from Sunday.
        let weekday = HTTPDateParser.floorModulo(dayNumber + 4, 7)
        let out = destination.assumingMemoryBound(to: UInt8.self)
        let day = weekday * 3
        let month = (monthNumber - 1) * 3
        let d = days.utf8Start
        let m = months.utf8Start
        out[0] = d[day]; out[1] = d[day + 1]; out[2] = d[day + 2]
        out[3] = 0x2C; out[4] = 0x20
        twoDigits(dayOfMonth, out + 5)
        out[7] = 0x20
        out[8] = m[month]; out[9] = m[month + 1]; out[10] = m[month + 2]
        out[11] = 0x20
        twoDigits(year / 100, out + 12)
        twoDigits(year % 100, out + 14)
        out[16] = 0x20
        twoDigits(secondOfDay / 3600, out + 17)
        out[19] = 0x3A
        twoDigits(secondOfDay / 60 % 60, out + 20)
        out[22] = 0x3A
        twoDigits(secondOfDay % 60, out + 23)
        out[25] = 0x20; out[26] = 0x47; out[27] = 0x4D; out[28] = 0x54 // " GMT"
    }

    /// Convenience for tests and logs.
    public static func string(_ seconds: Int) -> String {
        String(unsafeUninitializedCapacity: length) { buffer in
            format(seconds, into: UnsafeMutableRawPointer(buffer.baseAddress!))
            return length
        }
    }

    @inline(__always) private static func twoDigits(_ value: Int, _ out: UnsafeMutablePointer<UInt8>) {
        out[0] = 0x30 + UInt8(truncatingIfNeeded: (value / 10) % 10)
        out[1] = 0x30 + UInt8(truncatingIfNeeded: value % 10)
    }
}

/// The Date field value of the current second, re-rendered only when the second changes (RFC 9110 §6.6.1 needs
/// one-second resolution, and formatting per request would cost a `gmtime_r` each).
public struct DateCache: ~Copyable {
    private let storage: UnsafeMutableRawPointer
    public private(set) var seconds: Int = -1

    public init() { storage = .allocate(byteCount: HTTPDate.length, alignment: 1) }
    deinit { storage.deallocate() }

    @inline(__always) public mutating func bytes(at now: Int) -> UnsafeRawBufferPointer {
        if now != seconds {
            HTTPDate.format(now, into: storage)
            seconds = now
        }
        return UnsafeRawBufferPointer(start: storage, count: HTTPDate.length)
    }
}

/// Rendered IMF-fixdates of recently used file dates (Last-Modified), so a busy file's date is formatted once, not
/// per request (`gmtime_r` costs about as much as parsing the request). Direct-mapped, 64 slots, no eviction logic:
/// a collision just formats again.
public struct HTTPDateMemo: ~Copyable {
    private static let slots = 64
    private let storage: UnsafeMutableRawPointer
    private let keys: UnsafeMutablePointer<Int>

    public init() {
        storage = .allocate(byteCount: Self.slots * HTTPDate.length, alignment: 1)
        keys = .allocate(capacity: Self.slots)
        keys.initialize(repeating: Int.min, count: Self.slots)
    }

    deinit {
        storage.deallocate()
        keys.deallocate()
    }

    /// The 29 bytes of `seconds`' IMF-fixdate, valid until the next call.
    @inline(__always) public func bytes(_ seconds: Int) -> UnsafeRawBufferPointer {
        let slot = Int(UInt(bitPattern: seconds) % UInt(Self.slots))
        let area = storage + slot * HTTPDate.length
        if keys[slot] != seconds {
            HTTPDate.format(seconds, into: area)
            keys[slot] = seconds
        }
        return UnsafeRawBufferPointer(start: area, count: HTTPDate.length)
    }
}

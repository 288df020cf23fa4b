
/// Parses an HTTP-date (RFC 9110 §5.6.7) into seconds since the epoch.
///
/// RFC 9110 §5.6.7: "A recipient that parses a timestamp value in an HTTP field MUST accept all three HTTP-date
/// formats." — IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, rfc850-date `Sunday, 06-Nov-94 08:49:37 GMT` and
/// asctime-date `Sun Nov  6 08:49:37 1994`.
///
/// Cost: byte comparisons and integer arithmetic on the caller's bytes. No Foundation, no locale, no `timegm`, no
/// allocation. Never traps: every index is checked against the length first and every number has at most four digits.
///
/// Strictness: the grammar is followed exactly (fixed field widths, single SP, case-sensitive names: RFC 9110
/// §5.6.7 "HTTP-date is case sensitive"), so the callers' "ignore an invalid date" rules apply to anything else.
/// Ranges are validated (day against the month's length in that year, hour ≤ 23, minute ≤ 59, second ≤ 60).
/// The day-name is checked to be one of the seven names but not against the date: nothing in RFC 9110 asks for
/// that, and every widely deployed server ignores it too.
public enum HTTPDateParser {
    private static let dayNames: StaticString = "MonTueWedThuFriSatSun"
    private static let monthNames: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"
    private static let longDayNames: StaticString = "MondayTuesdayWednesdayThursdayFridaySaturdaySunday"

    /// Parses any of the three formats; `now` (seconds since the epoch, from the caller: this module reads no
    /// clock) anchors an rfc850-date's two-digit year.
    public static func parse(_ bytes: UnsafeRawBufferPointer, now: Int) -> Int? {
        let n = bytes.count
        guard n >= 24 else { return nil }
        if bytes[3] == 0x2C { // ','
            return n == 29 ? parseIMFFixdate(bytes) : nil
        }
        if bytes[3] == 0x20 { // SP
            return n == 24 ? parseAsctime(bytes) : nil
        }
        return parseRFC850(bytes, now: now)
    }

    // MARK: - The three formats

    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    /// RFC 9110 §5.6.7: "IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT"
    /// "date1        = day SP month SP year"
    private static func parseIMFFixdate(_ b: UnsafeRawBufferPointer) -> Int? {
        guard dayIndex(b, 0) != nil,
            b[3] == 0x2C, b[4] == 0x20, b[7] == 0x20, b[11] == 0x20, b[16] == 0x20,
            b[25] == 0x20, isGMT(b, 26),
            let day = twoDigits(b, 5),
            let month = monthNumber(b, 8),
            let hi = twoDigits(b, 12), let lo = twoDigits(b, 14),
            let time = timeOfDay(b, 17)
        else { return nil }
        return epochSeconds(year: hi * 100 + lo, month: month, day: day, secondOfDay: time)
    }

    /// `Sun Nov  6 08:49:37 1994`
    /// RFC 9110 §5.6.7: "asctime-date = day-name SP date3 SP time-of-day SP year"
    /// "date3        = month SP ( 2DIGIT / ( SP 1DIGIT ))"
    /// RFC 9110 §5.6.7: "values in the asctime format are assumed to be in UTC."
    private static func parseAsctime(_ b: UnsafeRawBufferPointer) -> Int? {
        guard dayIndex(b, 0) != nil,
            b[3] == 0x20, b[7] == 0x20, b[10] == 0x20, b[19] == 0x20,
            let month = monthNumber(b, 4),
            let time = timeOfDay(b, 11),
            let hi = twoDigits(b, 20), let lo = twoDigits(b, 22)
        else { return nil }
        let day: Int
        if b[8] == 0x20 {
            guard let d = digit(b[9]) else { return nil }
            day = d
        } else {
            guard let d = twoDigits(b, 8) else { return nil }
            day = d
        }
        return epochSeconds(year: hi * 100 + lo, month: month, day: day, secondOfDay: time)
    }

    /// `Sunday, 06-Nov-94 08:49:37 GMT`
    /// RFC 9110 §5.6.7: "rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT"
    /// "date2        = day "-" month "-" 2DIGIT"
    private static func parseRFC850(_ b: UnsafeRawBufferPointer, now: Int) -> Int? {
        // day-name-l is 6 ("Monday") to 9 ("Wednesday") bytes; the rest is ", " + 22 fixed bytes.
        let nameLength = b.count - 24
        guard nameLength >= 6, nameLength <= 9, isLongDayName(b, length: nameLength) else { return nil }
        let p = nameLength
        guard b[p] == 0x2C, b[p + 1] == 0x20, b[p + 4] == 0x2D, b[p + 8] == 0x2D, b[p + 11] == 0x20,
            b[p + 20] == 0x20, isGMT(b, p + 21),
            let day = twoDigits(b, p + 2),
            let month = monthNumber(b, p + 5),
            let yy = twoDigits(b, p + 9),
            let time = timeOfDay(b, p + 12)
        else { return nil }
        // Clamped to ±2^40 s (±34,000 years) so no caller-supplied clock can overflow the arithmetic below.
        let clock = min(max(now, -(1 << 40)), 1 << 40)
        let year = rfc850Year(yy, month: month, day: day, secondOfDay: time, now: clock)
        return epochSeconds(year: year, month: month, day: day, secondOfDay: time)
    }

    /// RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date format, which uses a two-digit year, MUST
    /// interpret a timestamp that appears to be more than 50 years in the future as representing the most recent
    /// year in the past that had the same last two digits."
    ///
    /// So: the latest year ending in `yy` whose timestamp is not more than 50 years after `now`. "50 years after"
    /// is the same calendar instant 50 years later (compared field by field, so leap days need no special case).
    static func rfc850Year(_ yy: Int, month: Int, day: Int, secondOfDay: Int, now: Int) -> Int {
        let (nowDays, nowSecond) = floorDivide(now, 86_400)
        let today = civil(fromDays: nowDays)
        let limitYear = today.year + 50
        // Start one century above the current one and step down; at most three steps.
        var year = (today.year - floorModulo(today.year, 100)) + yy + 100
        while true {
            let later: Bool
            if year != limitYear {
                later = year > limitYear
            } else if month != today.month {
                later = month > today.month
            } else if day != today.day {
                later = day > today.day
            } else {
                later = secondOfDay > nowSecond
            }
            if !later { return year }
            year -= 100
        }
    }

    // MARK: - Calendar arithmetic

    /// Seconds since the epoch of a validated civil date and time, or nil when the day does not exist in that month
    /// (for example 31 Apr or 29 Feb of a common year).
    static func epochSeconds(year: Int, month: Int, day: Int, secondOfDay: Int) -> Int? {
        guard month >= 1, month <= 12, day >= 1, day <= daysInMonth(month, year: year) else { return nil }
        return days(fromCivil: year, month, day) * 86_400 + secondOfDay
    }

    static func isLeapYear(_ y: Int) -> Bool {
        y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
    }

    static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`). Exact for every
    /// year a 4-digit or 2-digit field can hold; no table, no libc.
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400                                          // [0, 399]
        let shiftedMonth = month > 2 ? month - 3 : month + 9                   // March = 0
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1                 // [0, 365]
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear // [0, 146096]
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `days(fromCivil:)` (Hinnant's `civil_from_days`).
    static func civil(fromDays z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400
        return (month <= 2 ? year + 1 : year, month, day)
    }

    /// Floor division that cannot overflow (no `x - (d - 1)` trick): `Int.min` is fine.
    @inline(__always) static func floorDivide(_ x: Int, _ d: Int) -> (quotient: Int, remainder: Int) {
        var q = x / d
        var r = x % d
        if r < 0 {
            q -= 1
            r += d
        }
        return (q, r)
    }

    @inline(__always) static func floorModulo(_ x: Int, _ d: Int) -> Int {
        floorDivide(x, d).remainder
    }

    // MARK: - Lexical pieces

    @inline(__always) private static func digit(_ c: UInt8) -> Int? {
        c &- 0x30 < 10 ? Int(c &- 0x30) : nil
    }

    @inline(__always) private static func twoDigits(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int? {
        guard let hi = digit(b[i]), let lo = digit(b[i + 1]) else { return nil }
        return hi * 10 + lo
    }

    /// RFC 9110 §5.6.7: "time-of-day  = hour ":" minute ":" second ; 00:00:00 - 23:59:60 (leap second)"
    /// Returns the second of the day; a leap second (:60) counts as the first second of the next minute.
    private static func timeOfDay(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int? {
        guard b[i + 2] == 0x3A, b[i + 5] == 0x3A,
            let hour = twoDigits(b, i), let minute = twoDigits(b, i + 3), let second = twoDigits(b, i + 6),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        return hour * 3600 + minute * 60 + second
    }

    /// RFC 9110 §5.6.7: "GMT          = %s"GMT""
    @inline(__always) private static func isGMT(_ b: UnsafeRawBufferPointer, _ i: Int) -> Bool {
        b[i] == 0x47 && b[i + 1] == 0x4D && b[i + 2] == 0x54
    }

    /// Index 0...6 of a three-letter day-name at `i`, or nil.
    private static func dayIndex(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int? {
        let names = dayNames.utf8Start
        for k in 0..<7 where names[k * 3] == b[i] && names[k * 3 + 1] == b[i + 1] && names[k * 3 + 2] == b[i + 2] {
            return k
        }
        return nil
    }

    /// 1...12 for a three-letter month name at `i`, or nil.
    private static func monthNumber(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int? {
        let names = monthNames.utf8Start
        for k in 0..<12 where names[k * 3] == b[i] && names[k * 3 + 1] == b[i + 1] && names[k * 3 + 2] == b[i + 2] {
            return k + 1
        }
        return nil
    }

    /// Whether the first `length` bytes are one of the seven day-name-l values.
    /// RFC 9110 §5.6.7: "day-name-l   = %s"Monday" / %s"Tuesday" / %s"Wednesday" / %s"Thursday" / %s"Friday"
    /// / %s"Saturday" / %s"Sunday""
    private static func isLongDayName(_ b: UnsafeRawBufferPointer, length: Int) -> Bool {
        guard let k = dayIndex(b, 0) else { return false }
        // Offsets into `longDayNames` of each name, Monday first, as in `dayNames`.
        let start: Int
        let count: Int
        switch k {
        case 0: (start, count) = (0, 6)
        case 1: (start, count) = (6, 7)
        case 2: (start, count) = (13, 9)
        case 3: (start, count) = (22, 8)
        case 4: (start, count) = (30, 6)
        case 5: (start, count) = (36, 8)
        default: (start, count) = (44, 6)
        }
        guard count == length else { return false }
        let names = longDayNames.utf8Start
        for i in 3..<count where names[start + i] != b[i] { return false }
        return true
    }
}

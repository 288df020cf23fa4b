import SwerveTestSupport
import Testing
@testable import SwerveHTTP

// MARK: - Helpers

private func parse(_ text: String, now: Int = 1_789_560_000) -> Int? {
    Array(text.utf8).withUnsafeBytes { HTTPDateParser.parse($0, now: now) }
}

private func parseBytes(_ bytes: [UInt8], now: Int) -> Int? {
    bytes.withUnsafeBytes { HTTPDateParser.parse($0, now: now) }
}


private let longDayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
private let shortDayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `Sunday, 06-Nov-94 08:49:37 GMT`.
private func rfc850(fromIMF imf: String) -> String {
    let c = Array(imf)
    let day = String(c[0..<3])
    let long = longDayNames[shortDayNames.firstIndex(of: day)!]
    return "\(long), \(String(c[5..<7]))-\(String(c[8..<11]))-\(String(c[14..<16])) \(String(c[17..<25])) GMT"
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `Sun Nov  6 08:49:37 1994`.
private func asctime(fromIMF imf: String) -> String {
    let c = Array(imf)
    let dayOfMonth = c[5] == "0" ? " \(c[6])" : String(c[5..<7])
    return "\(String(c[0..<3])) \(String(c[8..<11])) \(dayOfMonth) \(String(c[17..<25])) \(String(c[12..<16]))"
}

/// 2026-09-16T12:00:00Z, a Wednesday.
private let clock2026 = 1_789_560_000

// MARK: - The three formats

@Suite("HTTPDateParser")
struct HTTPDateParserTests {
    @Test("RFC 9110 §5.6.7: the three example formats name the same instant")
    func rfcExamples() {
        #expect(parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(parse("Sun Nov  6 08:49:37 1994") == 784_111_777)
        #expect(HTTPDate.string(clock2026) == "Wed, 16 Sep 2026 12:00:00 GMT")
    }

    @Test("Edges: epoch, before the epoch, year 0000 and 9999, leap days")
    func edges() {
        #expect(parse("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
        #expect(parse("Wed, 31 Dec 1969 23:59:59 GMT") == -1)
        #expect(parse("Fri, 31 Dec 9999 23:59:59 GMT") == 253_402_300_799)
        #expect(parse("Sat, 01 Jan 0000 00:00:00 GMT") == -62_167_219_200)
        #expect(parse("Tue, 29 Feb 2000 00:00:00 GMT") == 951_782_400)
        #expect(parse("Thu, 29 Feb 2024 12:00:00 GMT") == 1_709_208_000)
        // A leap second is the next minute's first second.
        #expect(parse("Sat, 31 Dec 2016 23:59:60 GMT") == parse("Sun, 01 Jan 2017 00:00:00 GMT"))
        // Two-digit asctime day.
        #expect(parse("Sun Nov 16 08:49:37 1994") == 784_111_777 + 10 * 86_400)
    }

    @Test("IMF-fixdate round-trips through HTTPDate.format for many instants, years 0000–9999")
    func roundTripIMF() {
        var rng = SplitMix64(state: 0x5EED_0001)
        var samples: [Int] = [0, -1, 1, 86_399, 86_400, 951_782_400, 253_402_300_799, -62_167_219_200]
        for _ in 0..<20_000 { samples.append(Int.random(in: -62_167_219_200...253_402_300_799, using: &rng)) }
        for seconds in samples {
            let text = HTTPDate.string(seconds)
            #expect(parse(text) == seconds, "\(text)")
        }
    }

    @Test("asctime and rfc850 forms of the same instants parse to the same seconds")
    func roundTripObsolete() {
        var rng = SplitMix64(state: 0x5EED_0002)
        for _ in 0..<5_000 {
            // Within ±49 years of the clock the two-digit year is unambiguous.
            let seconds = clock2026 + Int.random(in: -49 * 31_556_952...49 * 31_556_952, using: &rng)
            let imf = HTTPDate.string(seconds)
            #expect(parse(asctime(fromIMF: imf)) == seconds, "\(asctime(fromIMF: imf))")
            #expect(parse(rfc850(fromIMF: imf), now: clock2026) == seconds, "\(rfc850(fromIMF: imf))")
        }
    }

    @Test("days-from-civil and civil-from-days are inverse over ±800 years of days")
    func calendarArithmetic() {
        var day = -719_468 - 146_097 // 1600-03-01 … onwards
        while day < 2_932_896 + 146_097 {
            let c = HTTPDateParser.civil(fromDays: day)
            #expect(HTTPDateParser.days(fromCivil: c.year, c.month, c.day) == day)
            day += 37
        }
        #expect(HTTPDateParser.days(fromCivil: 1970, 1, 1) == 0)
        #expect(HTTPDateParser.days(fromCivil: 2000, 3, 1) == 11_017)
    }

    // MARK: - RFC 850 two-digit years

    struct YearRow: Sendable, CustomTestStringConvertible {
        let value: String
        let expected: String?
        var testDescription: String { value }
    }

    /// RFC 9110 §5.6.7: "MUST interpret a timestamp that appears to be more than 50 years in the future as
    /// representing the most recent year in the past that had the same last two digits." Clock: 2026-09-16 12:00Z,
    /// so the limit is 2076-09-16 12:00Z.
    @Test("RFC 9110 §5.6.7 two-digit year window (clock 2026-09-16 12:00Z)", arguments: [
        YearRow(value: "Sunday, 06-Nov-94 08:49:37 GMT", expected: "Sun, 06 Nov 1994 08:49:37 GMT"),
        YearRow(value: "Wednesday, 16-Sep-26 12:00:00 GMT", expected: "Wed, 16 Sep 2026 12:00:00 GMT"),
        YearRow(value: "Friday, 01-Jan-27 00:00:00 GMT", expected: "Fri, 01 Jan 2027 00:00:00 GMT"),
        YearRow(value: "Tuesday, 01-Jan-75 00:00:00 GMT", expected: "Tue, 01 Jan 2075 00:00:00 GMT"),
        // Exactly at the limit: not *more* than 50 years ahead.
        YearRow(value: "Wednesday, 16-Sep-76 12:00:00 GMT", expected: "Wed, 16 Sep 2076 12:00:00 GMT"),
        // One second past the limit: a century back.
        YearRow(value: "Thursday, 16-Sep-76 12:00:01 GMT", expected: "Thu, 16 Sep 1976 12:00:01 GMT"),
        YearRow(value: "Saturday, 01-Jan-77 00:00:00 GMT", expected: "Sat, 01 Jan 1977 00:00:00 GMT"),
        YearRow(value: "Saturday, 01-Jan-00 00:00:00 GMT", expected: "Sat, 01 Jan 2000 00:00:00 GMT"),
        YearRow(value: "Friday, 31-Dec-99 23:59:59 GMT", expected: "Fri, 31 Dec 1999 23:59:59 GMT"),
        // 29 Feb 00 is 2000 (a leap year), found before the day is validated.
        YearRow(value: "Tuesday, 29-Feb-00 00:00:00 GMT", expected: "Tue, 29 Feb 2000 00:00:00 GMT"),
        YearRow(value: "Monday, 29-Feb-01 00:00:00 GMT", expected: nil),
        // Wrong-case or short day names, four-digit years, missing dashes.
        YearRow(value: "sunday, 06-Nov-94 08:49:37 GMT", expected: nil),
        YearRow(value: "Sun, 06-Nov-94 08:49:37 GMT", expected: nil),
        YearRow(value: "Sunday, 06-Nov-1994 08:49:37 GMT", expected: nil),
        YearRow(value: "Sunday, 06 Nov 94 08:49:37 GMT", expected: nil),
        YearRow(value: "Sundayy, 06-Nov-94 08:49:37 GMT", expected: nil),
        YearRow(value: "Wednesda, 06-Nov-94 08:49:37 GMT", expected: nil),
    ])
    func rfc850Years(_ row: YearRow) {
        let result = parse(row.value, now: clock2026)
        #expect(result.map(HTTPDate.string) == row.expected)
    }

    @Test("The two-digit year window follows the clock across a century")
    func rfc850AcrossCentury() {
        // Clock in 2099: "00" is 2100 (one year ahead), not 2000.
        let clock2099 = parse("Wed, 01 Jul 2099 00:00:00 GMT")!
        #expect(parse("Friday, 01-Jan-00 00:00:00 GMT", now: clock2099).map(HTTPDate.string)
            == "Fri, 01 Jan 2100 00:00:00 GMT")
        #expect(parse("Friday, 01-Jan-49 00:00:00 GMT", now: clock2099).map(HTTPDate.string)
            == "Wed, 01 Jan 2149 00:00:00 GMT")
        #expect(parse("Friday, 01-Jan-50 00:00:00 GMT", now: clock2099).map(HTTPDate.string)
            == "Sat, 01 Jan 2050 00:00:00 GMT")
        // Absurd clocks do not trap.
        #expect(parse("Sunday, 06-Nov-94 08:49:37 GMT", now: Int.max) != nil)
        #expect(parse("Sunday, 06-Nov-94 08:49:37 GMT", now: Int.min) != nil)
    }

    // MARK: - Invalid values

    struct InvalidRow: Sendable, CustomTestStringConvertible {
        let value: String
        let why: String
        var testDescription: String { "\(why): \(value.debugDescription)" }
    }

    @Test("Invalid HTTP-dates are rejected (nil)", arguments: [
        InvalidRow(value: "", why: "empty"),
        InvalidRow(value: "garbage", why: "garbage"),
        InvalidRow(value: "Sun, 31 Apr 1994 08:49:37 GMT", why: "31 April"),
        InvalidRow(value: "Tue, 29 Feb 2023 08:49:37 GMT", why: "29 Feb of a common year"),
        InvalidRow(value: "Fri, 30 Feb 2024 08:49:37 GMT", why: "30 Feb"),
        InvalidRow(value: "Thu, 29 Feb 1900 08:49:37 GMT", why: "1900 is not a leap year"),
        InvalidRow(value: "Sun, 00 Nov 1994 08:49:37 GMT", why: "day 0"),
        InvalidRow(value: "Sun, 32 Dec 1994 08:49:37 GMT", why: "day 32"),
        InvalidRow(value: "Sun, 06 Nov 1994 24:00:00 GMT", why: "hour 24"),
        InvalidRow(value: "Sun, 06 Nov 1994 08:60:37 GMT", why: "minute 60"),
        InvalidRow(value: "Sun, 06 Nov 1994 08:49:61 GMT", why: "second 61"),
        InvalidRow(value: "sun, 06 Nov 1994 08:49:37 GMT", why: "RFC 9110 §5.6.7: HTTP-date is case sensitive"),
        InvalidRow(value: "Sun, 06 NOV 1994 08:49:37 GMT", why: "upper-case month"),
        InvalidRow(value: "Sun, 06 Nov 1994 08:49:37 gmt", why: "lower-case GMT"),
        InvalidRow(value: "Sun, 06 Nov 1994 08:49:37 UTC", why: "UTC instead of GMT"),
        InvalidRow(value: "Sun, 06 Nov 1994 08:49:37 +0000", why: "numeric zone"),
        InvalidRow(value: "Sun, 6 Nov 1994 08:49:37 GMT", why: "one-digit day in IMF-fixdate"),
        InvalidRow(value: "Sun,  06 Nov 1994 08:49:37 GMT", why: "extra space"),
        InvalidRow(value: " Sun, 06 Nov 1994 08:49:37 GMT", why: "leading space"),
        InvalidRow(value: "Sun, 06 Nov 1994 08:49:37 GMT ", why: "trailing space"),
        InvalidRow(value: "Sun, 06 Nov 1994 08.49.37 GMT", why: "dots in time"),
        InvalidRow(value: "Sun, 06 Nov 94 08:49:37 GMT", why: "two-digit year in IMF-fixdate"),
        InvalidRow(value: "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", why: "a list of dates"),
        InvalidRow(value: "Sux, 06 Nov 1994 08:49:37 GMT", why: "bad day-name"),
        InvalidRow(value: "Sun, 06 Nox 1994 08:49:37 GMT", why: "bad month"),
        InvalidRow(value: "Sun, 06 Nov 19x4 08:49:37 GMT", why: "letter in year"),
        InvalidRow(value: "Sun Nov 6 08:49:37 1994", why: "asctime with one space before a 1-digit day"),
        InvalidRow(value: "Sun Nov 06 08:49:37 94", why: "asctime with 2-digit year"),
        InvalidRow(value: "Sun Nov  6 08:49:37 1994 GMT", why: "asctime with a zone"),
        InvalidRow(value: "Sun Nov  0 08:49:37 1994", why: "asctime day 0"),
        InvalidRow(value: "Sun Feb 30 08:49:37 1994", why: "asctime 30 Feb"),
        InvalidRow(value: "Sunday, 06-Nov-94 08:49:37 GMTX", why: "rfc850 trailing byte"),
        InvalidRow(value: "1994-11-06T08:49:37Z", why: "ISO 8601"),
        InvalidRow(value: "784111777", why: "epoch seconds"),
    ])
    func invalid(_ row: InvalidRow) {
        #expect(parse(row.value) == nil)
    }

    @Test("Fuzz: random bytes and mutated dates never trap; accepted values are in range")
    func fuzz() {
        var rng = SplitMix64(state: 0x5EED_0003)
        let seeds = ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                     "Wednesday, 29-Feb-00 23:59:60 GMT"].map { Array($0.utf8) }
        let alphabet = Array("0123456789 ,:-ADFJMNOSTWadehinortuvyGM\u{0}\u{FF}".utf8)
        for round in 0..<30_000 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                let n = Int.random(in: 0...40, using: &rng)
                bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let i = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[i] = alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
                    case 1: bytes.remove(at: i)
                    default: bytes.insert(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)], at: i)
                    }
                    if bytes.isEmpty { break }
                }
            }
            let clock = Int.random(in: 0...4_000_000_000, using: &rng)
            if let seconds = parseBytes(bytes, now: clock) {
                // Year 0000 through 9999 (or a two-digit year near the clock), validated fields.
                #expect(seconds >= -62_167_219_200 - 3_200_000_000 && seconds <= 253_402_300_800 + 3_200_000_000)
            }
        }
    }
}

// Range requests (RFC 9110 §14): parsing the Range field against a representation length, rendering Content-Range,
// and the framing of a multipart/byteranges body.
//
// Bytes in, decision out. No allocation (up to 16 ranges are held inline), no Foundation, no trap on any input:
// numbers saturate instead of overflowing, as RFC 9110 §14.1.2 requires: "recipients MUST anticipate potentially
// large decimal numerals and prevent parsing errors due to integer conversion overflows."
//
// What the caller owns:
// - RFC 9110 §14.2: "A server MUST ignore a Range header field received with a request method that is unrecognized
//   or for which range handling is not defined. For this specification, GET is the only method for which range
//   handling is defined." – call `parse` for GET only (HEAD gets the 200 head).
// - RFC 9110 §14.2: "The Range header field is evaluated after evaluating the precondition header fields defined in
//   Section 13.1, and only if the result in absence of the Range header field would be a 200 (OK) response." –
//   evaluate `Preconditions` and then `IfRange` first.
// - The length is that of the representation actually sent (the gzip body's when sending gzip). RFC 9110 §14.1.2:
//   "If the representation data has a content coding applied, each byte range is calculated with respect to the
//   encoded sequence of bytes".

/// One satisfiable byte range, both ends inclusive: `0 <= first <= last < length`.
public struct ByteRange: Equatable, Sendable {
    public var first: Int
    public var last: Int

    @inline(__always) public init(first: Int, last: Int) {
        self.first = first
        self.last = last
    }

    /// Number of bytes, `last - first + 1`.
    @inline(__always) public var count: Int { last - first + 1 }
}

/// Up to 16 byte ranges, stored inline (no heap). After `RangeRequest.parse` they are sorted by `first`, disjoint
/// and non-adjacent.
public struct ByteRanges: Equatable, Sendable, RandomAccessCollection {
    public static let capacity = 16

    public private(set) var count: Int = 0
    private var storage: (
        ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange,
        ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange, ByteRange
    )

    public init() {
        let z = ByteRange(first: 0, last: -1)
        storage = (z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z)
    }

    /// A list of ranges as given (for tests and callers building their own); traps past `capacity`.
    public init(_ ranges: [ByteRange]) {
        self.init()
        for r in ranges { append(r) }
    }

    @inline(__always) public var startIndex: Int { 0 }
    @inline(__always) public var endIndex: Int { count }

    public subscript(i: Int) -> ByteRange {
        get {
            precondition(i >= 0 && i < count, "ByteRanges index out of range")
            return withUnsafePointer(to: storage) { tuple in
                tuple.withMemoryRebound(to: ByteRange.self, capacity: Self.capacity) { $0[i] }
            }
        }
        set {
            precondition(i >= 0 && i < count, "ByteRanges index out of range")
            withUnsafeMutablePointer(to: &storage) { tuple in
                tuple.withMemoryRebound(to: ByteRange.self, capacity: Self.capacity) { $0[i] = newValue }
            }
        }
    }

    /// Appends a range; a programming error past `capacity` (the parser checks first).
    public mutating func append(_ range: ByteRange) {
        precondition(count < Self.capacity, "ByteRanges overflow")
        count += 1
        self[count - 1] = range
    }

    /// Total bytes over all ranges.
    public var byteCount: Int {
        var total = 0
        for r in self { total += r.count }
        return total
    }

    public static func == (lhs: ByteRanges, rhs: ByteRanges) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for i in 0..<lhs.count where lhs[i] != rhs[i] { return false }
        return true
    }

    /// Sorts by `first` and merges overlapping or adjacent ranges.
    ///
    /// RFC 9110 §15.3.7.2: "When multiple ranges are requested, a server MAY coalesce any of the ranges that overlap,
    /// or that are separated by a gap that is smaller than the overhead of sending multiple parts, regardless of the
    /// order in which the corresponding range-spec appeared in the received Range header field."
    /// Only overlapping and adjacent ones are merged here (a gap is never sent as if requested).
    mutating func coalesce() {
        guard count > 1 else { return }
        // Insertion sort: at most 16 elements.
        for i in 1..<count {
            let r = self[i]
            var j = i - 1
            while j >= 0 && self[j].first > r.first {
                self[j + 1] = self[j]
                j -= 1
            }
            self[j + 1] = r
        }
        var out = 0
        for i in 1..<count {
            let r = self[i]
            // `last + 1` cannot overflow: last < length <= Int.max.
            if r.first <= self[out].last + 1 {
                if r.last > self[out].last { self[out].last = r.last }
            } else {
                out += 1
                self[out] = r
            }
        }
        count = out + 1
    }
}

/// The decision on a Range field.
public enum RangeOutcome: Equatable, Sendable {
    /// Ignore the Range field: 200 with the whole representation.
    case none
    /// 206 with these ranges (one → single part, more → multipart/byteranges).
    case satisfiable(ByteRanges)
    /// 416 Range Not Satisfiable with `Content-Range: bytes */LENGTH`.
    case unsatisfiable
}

public enum RangeRequest {
    /// Most range-specs honoured in one Range field. More → `.none` (200, whole representation).
    ///
    /// RFC 9110 §14.2: "A server that supports range requests MAY ignore or reject a Range header field that contains
    /// an invalid ranges-specifier (Section 14.1.1), a ranges-specifier with more than two overlapping ranges, or a
    /// set of many small ranges that are not listed in ascending order, since these are indications of either a
    /// broken client or a deliberate denial-of-service attack". The count is of range-specs as requested (before
    /// dropping unsatisfiable ones and before coalescing), so the verdict does not depend on the file's length;
    /// overlapping ranges are coalesced rather than refused, which bounds the body at the representation's length.
    public static let maxRanges = ByteRanges.capacity

    /// Parses a Range field value against a representation of `length` bytes.
    ///
    /// - Unit other than `bytes` (case-insensitive), invalid syntax, a reversed int-range, more than `maxRanges`
    ///   range-specs, or `length == 0` → `.none`.
    /// - No satisfiable range-spec → `.unsatisfiable`.
    /// - Otherwise the satisfiable ranges, clamped to the length, sorted, overlapping/adjacent ones merged.
    public static func parse(_ value: UnsafeRawBufferPointer, length: Int) -> RangeOutcome {
        // RFC 9110 §14.2: "A server that supports range requests MAY ignore a Range header field when the selected
        // representation has no content (i.e., the selected representation's data is of zero length)." Taken: by
        // §14.1.2 a suffix-range would be satisfiable against it, yet no incl-range (§14.4) can describe zero bytes.
        guard length > 0 else { return .none }
        let n = value.count
        // RFC 9110 §14.1.1: "ranges-specifier = range-unit "=" range-set"; §14.1: "All range unit names are
        // case-insensitive". RFC 9110 §14.2: "An origin server MUST ignore a Range header field that contains a range
        // unit it does not understand."
        guard n > 6, lower(value[0]) == 0x62, lower(value[1]) == 0x79, lower(value[2]) == 0x74,
            lower(value[3]) == 0x65, lower(value[4]) == 0x73, value[5] == 0x3D
        else { return .none }

        var ranges = ByteRanges()
        var requested = 0
        var i = 6
        while true {
            // RFC 9110 §5.6.1.2: "A recipient MUST parse and ignore a reasonable number of empty list elements" –
            // and OWS around each comma (RFC 9110 §5.6.1: "element *( OWS "," OWS element )").
            while i < n && (value[i] == 0x20 || value[i] == 0x09 || value[i] == 0x2C) { i += 1 }
            if i == n { break }

            let spec: ByteRange?
            if value[i] == 0x2D { // '-'
                // RFC 9110 §14.1.1: "suffix-range  = "-" suffix-length"
                i += 1
                guard let suffix = parseNumber(value, &i) else { return .none }
                // RFC 9110 §14.1.2: a valid bytes range-spec is satisfiable if it is "a suffix-range with a non-zero
                // suffix-length." "If the selected representation is shorter than the specified suffix-length, the
                // entire representation is used."
                spec = suffix.value == 0 ? nil : ByteRange(first: length - min(suffix.value, length), last: length - 1)
            } else {
                // RFC 9110 §14.1.1: "int-range     = first-pos "-" [ last-pos ]"
                guard let first = parseNumber(value, &i), i < n, value[i] == 0x2D else { return .none }
                i += 1
                let last = parseNumber(value, &i)
                if let last {
                    // RFC 9110 §14.1.1: "An int-range is invalid if the last-pos value is present and less than the
                    // first-pos." §14.1.1: "A ranges-specifier is invalid if it contains any range-spec that is
                    // invalid or undefined for the indicated range-unit." → ignored (§14.2 above).
                    if Number.less(last, than: first, in: value) { return .none }
                }
                // RFC 9110 §14.1.2: a valid bytes range-spec is satisfiable if it is "an int-range with a first-pos
                // that is less than the current length of the selected representation".
                if first.value < length {
                    // RFC 9110 §14.1.2: "If the last-pos value is absent, or if the value is greater than or equal to
                    // the current length of the representation data, the byte range is interpreted as the remainder
                    // of the representation (i.e., the server replaces the value of last-pos with a value that is
                    // one less than the current length of the selected representation)."
                    spec = ByteRange(first: first.value, last: min(last?.value ?? Int.max, length - 1))
                } else {
                    spec = nil
                }
            }
            // After a range-spec: OWS, then a comma or the end. Anything else (`0-1x`, `1 - 2`, other-range
            // text) is invalid for the bytes unit: RFC 9110 §14.1.2 "Byte ranges do not use the other-range
            // specifier."
            while i < n && (value[i] == 0x20 || value[i] == 0x09) { i += 1 }
            guard i == n || value[i] == 0x2C else { return .none }

            requested += 1
            if requested > maxRanges { return .none }
            if let spec { ranges.append(spec) }
        }
        // RFC 9110 §14.1.1: "range-set        = 1#range-spec" – at least one.
        guard requested > 0 else { return .none }
        // RFC 9110 §14.1.1: "A valid ranges-specifier is "satisfiable" if it contains at least one range-spec that is
        // satisfiable, as defined by the indicated range-unit. Otherwise, the ranges-specifier is "unsatisfiable"."
        guard ranges.count > 0 else { return .unsatisfiable }
        ranges.coalesce()
        return .satisfiable(ranges)
    }

    /// A run of DIGITs: its value saturated at `Int.max`, and where its digits are (for exact comparison of two
    /// saturated numerals).
    struct Number {
        var value: Int
        var start: Int
        var end: Int
        var saturated: Bool

        /// Exact `a < b` on the numerals, even when both saturated.
        static func less(_ a: Number, than b: Number, in bytes: UnsafeRawBufferPointer) -> Bool {
            if !a.saturated && !b.saturated { return a.value < b.value }
            if a.saturated != b.saturated { return b.saturated }
            // Both beyond Int.max: compare significant digits by length, then lexicographically.
            var i = a.start
            var j = b.start
            while i < a.end && bytes[i] == 0x30 { i += 1 }
            while j < b.end && bytes[j] == 0x30 { j += 1 }
            if a.end - i != b.end - j { return a.end - i < b.end - j }
            while i < a.end {
                if bytes[i] != bytes[j] { return bytes[i] < bytes[j] }
                i += 1
                j += 1
            }
            return false
        }
    }

    /// `1*DIGIT` at `i`, advancing `i`; nil (and `i` unchanged) if no digit is there.
    static func parseNumber(_ bytes: UnsafeRawBufferPointer, _ i: inout Int) -> Number? {
        let start = i
        var value = 0
        var saturated = false
        while i < bytes.count {
            let d = bytes[i] &- 0x30
            guard d < 10 else { break }
            if !saturated {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int(d))
                if o1 || o2 {
                    saturated = true
                    value = Int.max
                } else {
                    value = sum
                }
            }
            i += 1
        }
        guard i > start else { return nil }
        return Number(value: value, start: start, end: i, saturated: saturated)
    }

    @inline(__always) static func lower(_ c: UInt8) -> UInt8 {
        c &- 0x41 < 26 ? c | 0x20 : c
    }
}

/// The Content-Range field value (RFC 9110 §14.4).
public enum ContentRange {
    /// Longest value either renderer writes: `bytes ` + three 19-digit numbers + `-` + `/`.
    public static let maxLength = 6 + 19 + 1 + 19 + 1 + 19

    /// `bytes 0-99/1234`. RFC 9110 §14.4: "range-resp          = incl-range "/" ( complete-length / "*" )".
    /// A server "SHOULD indicate the complete length of the representation from which the range has been extracted".
    public static func render(_ range: ByteRange, completeLength: Int, into w: inout ByteWriter) {
        w.append("bytes ")
        w.append(decimal: range.first)
        w.append(byte: 0x2D)
        w.append(decimal: range.last)
        w.append(byte: 0x2F)
        w.append(decimal: completeLength)
    }

    /// `bytes */1234`, for a 416. RFC 9110 §14.4: "A server generating a 416 (Range Not Satisfiable) response to a
    /// byte-range request SHOULD send a Content-Range header field with an unsatisfied-range value".
    public static func renderUnsatisfied(completeLength: Int, into w: inout ByteWriter) {
        w.append("bytes */")
        w.append(decimal: completeLength)
    }

    /// Bytes `render` writes for this range.
    public static func length(of range: ByteRange, completeLength: Int) -> Int {
        6 + decimalLength(range.first) + 1 + decimalLength(range.last) + 1 + decimalLength(completeLength)
    }

    /// Digits of a non-negative number as `ByteWriter.append(decimal:)` writes it (negatives write "0").
    static func decimalLength(_ value: Int) -> Int {
        var v = max(0, value)
        var digits = 1
        while v >= 10 {
            v /= 10
            digits += 1
        }
        return digits
    }
}

/// Framing of a multipart/byteranges body (RFC 9110 §14.6), with a random 20-character boundary.
///
/// Body layout (RFC 2046 §5.1.1 allows the CRLF before the first delimiter as preamble; RFC 9110 §14.6 "Additional
/// CRLFs might precede the first boundary string in the body."):
///
///     for each range:  CRLF "--" boundary CRLF ["Content-Type: " type CRLF] "Content-Range: bytes a-b/len" CRLF CRLF
///                      <the range's bytes>
///     then:            CRLF "--" boundary "--" CRLF
///
/// `bodyLength` gives the exact total so Content-Length is known before anything is written.
public struct MultipartByteranges: Equatable, Sendable {
    public static let boundaryLength = 20
    /// `multipart/byteranges; boundary=` + boundary.
    public static let contentTypeLength = 31 + boundaryLength
    /// `CRLF "--" boundary "--" CRLF`.
    public static let closingLength = 2 + 2 + boundaryLength + 2 + 2

    private static let alphabet: StaticString = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    // 24 bytes, the first 20 are the boundary (plain data: no heap, Sendable).
    private var b0: UInt64 = 0
    private var b1: UInt64 = 0
    private var b2: UInt64 = 0

    /// A boundary of 20 characters from `0-9a-zA-Z`, drawn without modulo bias (bytes ≥ 248 are redrawn).
    ///
    /// RFC 2046 §5.1.1: the boundary must not appear in the encapsulated parts; 62^20 ≈ 2^119 values make a
    /// collision with file content negligible, and a client cannot predict it to forge one.
    public init<G: RandomNumberGenerator>(using generator: inout G) {
        let chars = Self.alphabet.utf8Start
        var filled = 0
        var out: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &out) { area in
            while filled < Self.boundaryLength {
                var word = generator.next()
                for _ in 0..<8 where filled < Self.boundaryLength {
                    let b = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    if b < 248 { // 248 = 4 × 62
                        area[filled] = chars[Int(b % 62)]
                        filled += 1
                    }
                }
            }
        }
        (b0, b1, b2) = out
    }

    /// A fixed boundary (tests, reproducible output). Nil unless exactly 20 bytes from `0-9a-zA-Z`.
    public init?(boundary: String) {
        let bytes = Array(boundary.utf8)
        guard bytes.count == Self.boundaryLength,
            bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) })
        else { return nil }
        var out: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &out) { area in
            for (k, c) in bytes.enumerated() { area[k] = c }
        }
        (b0, b1, b2) = out
    }

    /// The boundary as a String (logs, tests).
    public var boundary: String {
        withBoundary { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with the 20 boundary bytes.
    public func withBoundary<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        let words = (b0, b1, b2)
        return withUnsafeBytes(of: words) { body(UnsafeRawBufferPointer(rebasing: $0[0..<Self.boundaryLength])) }
    }

    /// Writes the 20 boundary bytes alone (for a head renderer that writes the `multipart/byteranges; boundary=`
    /// prefix itself and needs the boundary in storage it owns).
    public func boundary(into w: inout ByteWriter) {
        withBoundary { w.append($0) }
    }

    /// The Content-Type field value: `multipart/byteranges; boundary=…` (`contentTypeLength` bytes). Unquoted: the
    /// alphabet needs no quoting, and RFC 9110 §14.6 notes "some existing implementations handle a quoted boundary
    /// string incorrectly".
    public func contentType(into w: inout ByteWriter) {
        w.append("multipart/byteranges; boundary=")
        withBoundary { w.append($0) }
    }

    /// One part's delimiter and header section, ending with the empty line; the range's bytes follow.
    /// RFC 9110 §14.6: "The "multipart/byteranges" media type includes one or more body parts, each with its own
    /// Content-Type and Content-Range fields." – Content-Type is left out when `contentType` is nil (the 200
    /// response would have none either).
    public func partHeader(
        _ range: ByteRange, contentType: UnsafeRawBufferPointer?, totalLength: Int, into w: inout ByteWriter
    ) {
        w.append("\r\n--")
        withBoundary { w.append($0) }
        if let contentType {
            w.append("\r\nContent-Type: ")
            w.append(contentType)
        }
        w.append("\r\nContent-Range: ")
        ContentRange.render(range, completeLength: totalLength, into: &w)
        w.append("\r\n\r\n")
    }

    /// The close delimiter: `\r\n--BOUNDARY--\r\n` (`closingLength` bytes).
    public func closing(into w: inout ByteWriter) {
        w.append("\r\n--")
        withBoundary { w.append($0) }
        w.append("--\r\n")
    }

    /// Bytes `partHeader` writes for `range`.
    public static func partHeaderLength(_ range: ByteRange, contentTypeLength: Int?, totalLength: Int) -> Int {
        // CRLF "--" boundary, [CRLF "Content-Type: " type], CRLF "Content-Range: " value, CRLF CRLF
        let contentTypeLine = contentTypeLength.map { 2 + 14 + $0 } ?? 0
        return 4 + boundaryLength + contentTypeLine + 2 + 15
            + ContentRange.length(of: range, completeLength: totalLength) + 4
    }

    /// The exact multipart body length: every part header, every range's bytes and the close delimiter. This is
    /// the response's Content-Length.
    public static func bodyLength(_ ranges: ByteRanges, contentTypeLength: Int?, totalLength: Int) -> Int {
        var total = closingLength
        for r in ranges {
            total += partHeaderLength(r, contentTypeLength: contentTypeLength, totalLength: totalLength) + r.count
        }
        return total
    }
}

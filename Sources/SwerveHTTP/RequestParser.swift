// A socket-free HTTP/1.1 request-head parser (RFC 9112 §2–§6, with the RFC 9110 field rules it relies on).
//
// Cost model
// - One pass over the head, reading bytes through a raw pointer (no bounds checks, no Array, no String).
//   The request-target, field names and field values are scanned 8 bytes per step with SWAR word tests
//   (a word holding a stop byte jumps straight to it); "GET " and "HTTP/1.x" are single word compares;
//   only rare bytes (other tchars, HTAB) and the list-valued fields we act on go byte by byte.
// - Measured (callgrind, release, this machine): ~990 instructions for a 57-byte wrk-style request,
//   ~4,100 for a 489-byte Firefox request with 14 fields (~8 per byte), and no heap allocation.
// - No allocation per request: the only heap block is the known-field table, allocated once in `init` with
//   room for `maxHeaderFields` entries (a field line can store at most one entry, so it never overflows).
// - State lives in locals; `self` is written once per call (publishing the stored-field count), so a parser
//   kept in a class property costs one exclusivity check per call, not one per byte.
// - Stateless between calls: `.incomplete` means "call again with the same bytes plus more". One parser
//   serves every connection of an event loop, so it must not remember anything about a half-read head.
//   The price is a rescan of the prefix on every call; with the limits below a head is at most ~24 KiB.
//   Callers facing slow senders may skip `parse` until a read brings an LF or the buffer grows past a
//   limit: other bytes can only turn `.incomplete` into an error, which is then reported one call later.
//
// Invariants
// - Every offset the parser produces is < 2^26 (limits are clamped in `init`), so it fits FieldValue's Int32.
// - Every read is at an index proven `< n` (or `+ 8 <= n` for a word) by the loop condition right above it.
// - Arithmetic that cannot overflow (bounded digit counts) uses wrapping operators to drop the trap checks.

/// The byte-level grammar helpers of the HTTP/1.1 parsers, in a namespace so that their short names cannot
/// collide with other files of the module.
enum HTTPSyntax {
    // MARK: - Bytes

    enum ASCII {
        static let htab: UInt8 = 0x09
        static let lf: UInt8 = 0x0A
        static let cr: UInt8 = 0x0D
        static let sp: UInt8 = 0x20
        static let hash: UInt8 = 0x23  // '#'
        static let percent: UInt8 = 0x25  // '%'
        static let star: UInt8 = 0x2A  // '*'
        static let comma: UInt8 = 0x2C  // ','
        static let dot: UInt8 = 0x2E  // '.'
        static let slash: UInt8 = 0x2F  // '/'
        static let zero: UInt8 = 0x30  // '0'
        static let colon: UInt8 = 0x3A  // ':'
        static let semicolon: UInt8 = 0x3B  // ';'
        static let question: UInt8 = 0x3F  // '?'
        static let at: UInt8 = 0x40  // '@'
        static let lbracket: UInt8 = 0x5B  // '['
        static let rbracket: UInt8 = 0x5D  // ']'
        static let del: UInt8 = 0x7F
    }

    /// One byte at `i`. The caller has proven `i` in bounds.
    @inline(__always)
    static func byteAt(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 {
        unsafe p.load(fromByteOffset: i, as: UInt8.self)
    }

    /// Eight bytes at `i` (any alignment). The caller has proven `i + 8 <= count`.
    @inline(__always)
    static func wordAt(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 {
        unsafe p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
    }

    // MARK: - Character classes

    /// Byte classes, one ASCII digit per byte value, 16 per row (row n holds bytes 0xn0–0xnF): bit 0 = tchar
    /// (RFC 9110 §5.6.2), bit 1 = reg-name character other than "%" (RFC 3986 §3.2.2), bit 2 = HEXDIG.
    /// A StaticString lives in read-only data: a lookup is one load, with no lazy initialisation, no bounds
    /// check and no refcount. `characterClasses` in the tests checks every entry against the grammar.
    @inline(__always)
    static var classTable: UnsafePointer<UInt8> {
        let table: StaticString = """
            0000000000000000\
            0000000000000000\
            0301313322332330\
            7777777777020200\
            0777777333333333\
            3333333333300013\
            1777777333333333\
            3333333333301030\
            0000000000000000\
            0000000000000000\
            0000000000000000\
            0000000000000000\
            0000000000000000\
            0000000000000000\
            0000000000000000\
            0000000000000000
            """
        return table.utf8Start
    }

    /// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`"
    /// / "|" / "~" / DIGIT / ALPHA.
    @inline(__always)
    static func isTchar(_ c: UInt8) -> Bool { unsafe classTable[Int(c)] & 1 != 0 }

    /// `bytes` as a string without leading and trailing spaces and tabs (OWS, RFC 9110 §5.6.3): how the
    /// command-line rules (`--cache-rule`, `--header`, `--cors`) trim their parts. Startup only (allocates).
    static func trimmingSpacesAndTabs<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> String {
        var slice = bytes[...]
        while let c = slice.first, c == 0x20 || c == 0x09 { slice.removeFirst() }
        while let c = slice.last, c == 0x20 || c == 0x09 { slice.removeLast() }
        return String(decoding: slice, as: UTF8.self)
    }

    /// A comma-separated list of tokens with optional whitespace (`#token`, RFC 9110 §5.6.1), as
    /// `Access-Control-Request-Headers` carries: safe to echo into a response field.
    static func isTokenList(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for c in bytes where !(isTchar(c) || c == 0x2C || c == 0x20 || c == 0x09) { return false }
        return true
    }

    /// RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ), without the "%" of pct-encoded.
    @inline(__always)
    static func isRegNameChar(_ c: UInt8) -> Bool { unsafe classTable[Int(c)] & 2 != 0 }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c &- ASCII.zero < 10 }

    @inline(__always)
    static func isHexDigit(_ c: UInt8) -> Bool { unsafe classTable[Int(c)] & 4 != 0 }

    /// The value of a HEXDIG, or -1.
    @inline(__always)
    static func hexValue(_ c: UInt8) -> Int {
        if c &- ASCII.zero < 10 { return Int(c &- ASCII.zero) }
        let letter = (c | 0x20) &- 0x61
        return letter < 6 ? Int(letter) + 10 : -1
    }

    /// RFC 9110 §5.6.3: OWS = *( SP / HTAB ).
    @inline(__always)
    static func isOWS(_ c: UInt8) -> Bool { c == ASCII.sp || c == ASCII.htab }

    /// RFC 9110 §5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value. Everything else
    /// (NUL, CR, LF, the other CTLs and DEL) is invalid in a value.
    @inline(__always)
    static func isFieldValueByte(_ c: UInt8) -> Bool { c >= 0x20 ? c != ASCII.del : c == ASCII.htab }

    // MARK: - SWAR word tests
    //
    // Each mask has the high bit of a byte set where that byte matches. Only the LOWEST set bit is exact (a
    // borrow can mark bytes above a true match), which is all we use: "any match?" and "first match at?".
    // Words are loaded little-endian, so the first byte in memory is the lowest byte of the word.

    static let swarOnes: UInt64 = 0x0101_0101_0101_0101
    static let swarHighs: UInt64 = 0x8080_8080_8080_8080

    /// Eight bytes at `i` as a little-endian word. The caller has proven `i + 8 <= count`.
    @inline(__always)
    static func wordLE(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 { UInt64(littleEndian: wordAt(p, i)) }

    /// Four bytes at `i` as a little-endian word. The caller has proven `i + 4 <= count`.
    @inline(__always)
    static func load32LE(_ p: UnsafeRawPointer, _ i: Int) -> UInt32 {
        UInt32(littleEndian: unsafe p.loadUnaligned(fromByteOffset: i, as: UInt32.self))
    }

    /// Bytes of `w` with a value < `n` (n ≤ 128; the "hasless" trick).
    @inline(__always)
    static func swarLess(_ w: UInt64, _ n: UInt8) -> UInt64 {
        (w &- swarOnes &* UInt64(n)) & ~w & swarHighs
    }

    /// Bytes of `w` equal to `b`.
    @inline(__always)
    static func swarEqual(_ w: UInt64, _ b: UInt8) -> UInt64 {
        swarLess(w ^ (swarOnes &* UInt64(b)), 1)
    }

    /// Bytes of `w` that are ALPHA, DIGIT or "-" — exact for every byte, not only the lowest (range tests on
    /// 7-bit bytes cannot carry into the next byte; bytes >= 0x80 are never flagged).
    @inline(__always)
    static func swarAlnumDash(_ w: UInt64) -> UInt64 {
        // Note: in Swift `&` binds like `*` and `|`/`^` like `+`, hence the explicit parentheses.
        let low7 = ~w & swarHighs  // bytes < 0x80
        let sevenBits = ~swarHighs
        // A 7-bit byte y has y + (0x80 - lo) >= 0x80 iff y >= lo; no sum exceeds 0xFF, so nothing carries.
        let folded = (w | (swarOnes &* 0x20)) & sevenBits  // 'A'–'Z' → 'a'–'z'
        let letter = (folded &+ (swarOnes &* (0x80 - 0x61))) & ~(folded &+ (swarOnes &* (0x80 - 0x7B)))
        let plain = w & sevenBits
        let digit = (plain &+ (swarOnes &* (0x80 - 0x30))) & ~(plain &+ (swarOnes &* (0x80 - 0x3A)))
        return (letter | digit | swarEqualExact(w, 0x2D)) & low7
    }

    /// Bytes of `w` equal to `b` — exact for every byte (the carry-free form of the zero-byte test).
    @inline(__always)
    static func swarEqualExact(_ w: UInt64, _ b: UInt8) -> UInt64 {
        let x = w ^ (swarOnes &* UInt64(b))
        return ~(((x & ~swarHighs) &+ ~swarHighs) | x) & swarHighs
    }

    /// Index (0–7) of the first byte flagged in a non-zero mask.
    @inline(__always)
    static func swarFirst(_ mask: UInt64) -> Int { mask.trailingZeroBitCount &>> 3 }

    // MARK: - Literal matching

    /// Compares `len` bytes at `p + at` with the literal `lit` (`len == lit.utf8CodeUnitCount`, `len >= 4`)
    /// a 4- or 8-byte word at a time, with overlapping loads for the tail, so never past either end.
    /// `fold` is OR-ed into the input bytes: 0 for an exact match, 0x20 per byte for ASCII case folding.
    /// Folding is only correct when `lit` is lower-case letters and bytes with the 0x20 bit set ('-', ':', '/'),
    /// and the input bytes are already known to be tchar or VCHAR: then OR 0x20 maps only 'A'–'Z' onto
    /// 'a'–'z' (the other aliases, e.g. CR for '-', are bytes the scanner has already refused).
    @inline(__always)
    static func matchesLiteral(_ p: UnsafeRawPointer, _ at: Int, _ len: Int, _ lit: StaticString, fold: Bool) -> Bool {
        let q = UnsafeRawPointer(lit.utf8Start)
        if len < 8 {
            let m: UInt32 = fold ? 0x2020_2020 : 0
            let a0 = unsafe p.loadUnaligned(fromByteOffset: at, as: UInt32.self) | m
            let a1 = unsafe p.loadUnaligned(fromByteOffset: at + len - 4, as: UInt32.self) | m
            return unsafe a0 == q.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
                && a1 == q.loadUnaligned(fromByteOffset: len - 4, as: UInt32.self)
        }
        let m: UInt64 = fold ? 0x2020_2020_2020_2020 : 0
        var k = 0
        while k + 8 < len {
            guard unsafe (wordAt(p, at + k) | m) == q.loadUnaligned(fromByteOffset: k, as: UInt64.self) else {
                return false
            }
            k += 8
        }
        return unsafe (wordAt(p, at + len - 8) | m) == q.loadUnaligned(fromByteOffset: len - 8, as: UInt64.self)
    }

    /// The known field whose name is the `len` tchars at `p + at`, matched case-insensitively
    /// (RFC 9110 §5.1: "Field names are case-insensitive"). A switch on the length leaves at most two
    /// word compares per name.
    @inline(__always)
    static func knownHeader(_ p: UnsafeRawPointer, _ at: Int, _ len: Int) -> KnownHeader? {
        switch len {
        case 4: return matchesLiteral(p, at, 4, "host", fold: true) ? .host : nil
        case 5: return matchesLiteral(p, at, 5, "range", fold: true) ? .range : nil
        case 6:
            if matchesLiteral(p, at, 6, "accept", fold: true) { return .accept }
            return matchesLiteral(p, at, 6, "origin", fold: true) ? .origin : nil
        case 7: return matchesLiteral(p, at, 7, "referer", fold: true) ? .referer : nil
        case 8:
            if matchesLiteral(p, at, 8, "if-match", fold: true) { return .ifMatch }
            return matchesLiteral(p, at, 8, "if-range", fold: true) ? .ifRange : nil
        case 10:
            if matchesLiteral(p, at, 10, "connection", fold: true) { return .connection }
            return matchesLiteral(p, at, 10, "user-agent", fold: true) ? .userAgent : nil
        case 13: return matchesLiteral(p, at, 13, "if-none-match", fold: true) ? .ifNoneMatch : nil
        case 14: return matchesLiteral(p, at, 14, "content-length", fold: true) ? .contentLength : nil
        case 15: return matchesLiteral(p, at, 15, "accept-encoding", fold: true) ? .acceptEncoding : nil
        case 17:
            if matchesLiteral(p, at, 17, "transfer-encoding", fold: true) { return .transferEncoding }
            return matchesLiteral(p, at, 17, "if-modified-since", fold: true) ? .ifModifiedSince : nil
        case 19: return matchesLiteral(p, at, 19, "if-unmodified-since", fold: true) ? .ifUnmodifiedSince : nil
        case 29:
            return matchesLiteral(p, at, 29, "access-control-request-method", fold: true) ? .accessControlRequestMethod : nil
        case 30:
            return matchesLiteral(p, at, 30, "access-control-request-headers", fold: true) ? .accessControlRequestHeaders : nil
        default: return nil
        }
    }

    /// Bytes `s..<e` equal the lower-case literal, ASCII case-insensitively (any length; used for list elements,
    /// whose bytes are field-value bytes, so the per-byte exact fold is used rather than the word trick).
    @inline(__always)
    static func equalsLowercase(_ p: UnsafeRawPointer, _ s: Int, _ e: Int, _ lit: StaticString) -> Bool {
        let len = lit.utf8CodeUnitCount
        guard e - s == len else { return false }
        let q = lit.utf8Start
        for k in 0..<len where unsafe FieldValue.asciiLower(byteAt(p, s + k)) != q[k] { return false }
        return true
    }

    // MARK: - Field value grammars (run once per request on short values; clarity over speed)

    /// RFC 9110 §8.6: "Content-Length = 1*DIGIT", and RFC 9112 §6.3: the value may be "a comma-separated list
    /// (Section 5.6.1 of [HTTP]), all values in the list are valid, and all values in the list are the same (in
    /// which case, the message is processed with that single value used as the Content-Length field value)".
    /// Returns nil for an invalid value or a list of differing values.
    static func parseContentLength(_ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> Int? {
        /// RFC 9110 §8.6: "a recipient MUST anticipate potentially large decimal numerals and prevent parsing
        /// errors due to integer conversion overflows". 18 digits (< 10^18) always fit in Int64 (max ~9.2 × 10^18),
        /// so the multiply-add below cannot overflow; no file we serve or body we drain is near an exabyte.
        let maxDigits = 18
        var k = s
        var result = -1
        while true {
            while k < e && isOWS(byteAt(p, k)) { k += 1 }
            if k == e { break }
            // RFC 9110 §5.6.1: "a recipient MUST parse and ignore a reasonable number of empty list elements".
            if byteAt(p, k) == ASCII.comma {
                k += 1
                continue
            }
            let digitsStart = k
            var value = 0
            while k < e {
                let d = byteAt(p, k) &- ASCII.zero
                guard d < 10 else { break }
                guard k - digitsStart < maxDigits else { return nil }
                value = value &* 10 &+ Int(d)
                k += 1
            }
            guard k > digitsStart else { return nil }
            while k < e && isOWS(byteAt(p, k)) { k += 1 }
            if k < e {
                guard byteAt(p, k) == ASCII.comma else { return nil }
                k += 1
            }
            guard result < 0 || result == value else { return nil }
            result = value
        }
        return result >= 0 ? result : nil
    }

    /// Calls `body(start, end)` for each non-empty element of a comma-separated list in `s..<e`, OWS trimmed.
    /// (RFC 9110 §5.6.1 list syntax; quoted strings are not special-cased — the callers only look for plain
    /// tokens, and any element that is not exactly such a token counts as "something else".)
    @inline(__always)
    static func forEachListElement(_ p: UnsafeRawPointer, _ s: Int, _ e: Int, _ body: (Int, Int) -> Void) {
        var k = s
        while k < e {
            while k < e && isOWS(byteAt(p, k)) { k += 1 }
            let elementStart = k
            while k < e && byteAt(p, k) != ASCII.comma { k += 1 }
            var elementEnd = k
            while elementEnd > elementStart && isOWS(byteAt(p, elementEnd - 1)) { elementEnd -= 1 }
            if elementEnd > elementStart { body(elementStart, elementEnd) }
            k += 1  // past the comma (or past `e`, which ends the loop)
        }
    }

    /// RFC 9110 §7.2: "Host = uri-host [ ":" port ]", with RFC 3986 §3.2.2 uri-host = IP-literal / IPv4address /
    /// reg-name and port = *DIGIT. IPv4address is a subset of reg-name, so it needs no separate rule.
    /// An empty host is not a host: RFC 9110 §4.2.1 "A sender MUST NOT generate an "http" URI with an empty host
    /// identifier." An empty Host *field* is another matter, allowed by the caller (see `FramingFields.apply`).
    static func isValidHost(_ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> Bool {
        guard s < e else { return false }
        var k = s
        if byteAt(p, s) == ASCII.lbracket {
            // IP-literal = "[" ( IPv6address / IPvFuture ) "]"
            var close = s + 1
            while close < e && byteAt(p, close) != ASCII.rbracket { close += 1 }
            guard close < e, isIPLiteralBody(p, s + 1, close) else { return false }
            k = close + 1
        } else {
            while true {
                // Host names are letters, digits, "-" and ".": 8 per step, then the table for the rest.
                while k &+ 8 <= e {
                    let w = wordLE(p, k)
                    let common = swarAlnumDash(w) | swarEqualExact(w, ASCII.dot)
                    if common == swarHighs {
                        k &+= 8
                        continue
                    }
                    k &+= swarFirst(~common & swarHighs)
                    break
                }
                while k < e && isRegNameChar(byteAt(p, k)) { k &+= 1 }
                guard k < e, byteAt(p, k) == ASCII.percent else { break }
                // pct-encoded = "%" HEXDIG HEXDIG
                guard k &+ 2 < e, isHexDigit(byteAt(p, k &+ 1)), isHexDigit(byteAt(p, k &+ 2)) else { return false }
                k &+= 3
            }
            guard k > s else { return false }
        }
        if k == e { return true }
        guard byteAt(p, k) == ASCII.colon else { return false }
        k += 1
        while k < e {
            guard isDigit(byteAt(p, k)) else { return false }
            k += 1
        }
        return true
    }

    /// The inside of "[...]": IPv6address, or IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
    /// Zone identifiers (RFC 6874) are not accepted: browsers do not send them in Host.
    static func isIPLiteralBody(_ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> Bool {
        guard s < e else { return false }
        if byteAt(p, s) | 0x20 == 0x76 {  // 'v' / 'V'
            var k = s + 1
            while k < e && isHexDigit(byteAt(p, k)) { k += 1 }
            guard k > s + 1, k < e, byteAt(p, k) == ASCII.dot else { return false }
            k += 1
            guard k < e else { return false }
            while k < e {
                let c = byteAt(p, k)
                guard isRegNameChar(c) || c == ASCII.colon else { return false }
                k += 1
            }
            return true
        }
        return isIPv6(p, s, e)
    }

    /// RFC 3986 §3.2.2 IPv6address: eight 1–4-digit hex groups separated by ":", at most one "::" standing for
    /// one or more zero groups, and optionally a dotted IPv4 address as the last two groups.
    static func isIPv6(_ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> Bool {
        var k = s
        var groups = 0
        var compressed = false
        if k < e && byteAt(p, k) == ASCII.colon {
            guard k + 1 < e, byteAt(p, k + 1) == ASCII.colon else { return false }
            compressed = true
            k += 2
            if k == e { return true }  // "::"
        }
        while true {
            let groupStart = k
            while k < e && k - groupStart < 5 && isHexDigit(byteAt(p, k)) { k += 1 }
            if k < e && byteAt(p, k) == ASCII.dot {
                // ls32 = ( h16 ":" h16 ) / IPv4address — only as the final 32 bits.
                guard isIPv4(p, groupStart, e) else { return false }
                groups += 2
                break
            }
            let length = k - groupStart
            guard length >= 1 && length <= 4 else { return false }
            groups += 1
            guard groups <= 8 else { return false }
            if k == e { break }
            guard byteAt(p, k) == ASCII.colon else { return false }
            k += 1
            if k < e && byteAt(p, k) == ASCII.colon {
                guard !compressed else { return false }
                compressed = true
                k += 1
                if k == e { break }
            } else if k == e {
                return false  // a single trailing ":"
            }
        }
        return compressed ? groups <= 7 : groups == 8
    }

    /// RFC 3986 §3.2.2: IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet, where a dec-octet is
    /// 0–255 written without leading zeros.
    static func isIPv4(_ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> Bool {
        var k = s
        for octet in 0..<4 {
            if octet > 0 {
                guard k < e, byteAt(p, k) == ASCII.dot else { return false }
                k += 1
            }
            let digitsStart = k
            var value = 0
            while k < e && k - digitsStart < 3 && isDigit(byteAt(p, k)) {
                value = value &* 10 &+ Int(byteAt(p, k) &- ASCII.zero)
                k += 1
            }
            guard k > digitsStart, value <= 255 else { return false }
            guard k - digitsStart == 1 || byteAt(p, digitsStart) != ASCII.zero else { return false }
        }
        return k == e
    }
}

// MARK: - The parser

/// One stored known field: which name, and where its value is.
@usableFromInline
struct StoredField {
    @usableFromInline var name: KnownHeader
    @usableFromInline var value: FieldValue

    @inlinable
    init(name: KnownHeader, value: FieldValue) {
        self.name = name
        self.value = value
    }
}

/// Parses HTTP/1.1 request heads from raw bytes. One per event loop, reused for every request; not copyable,
/// because it owns the known-field table.
///
/// `@unchecked Sendable`: the only non-Sendable member is the pointer to the field table, which this value
/// allocates, owns exclusively and frees; `~Copyable` guarantees no second owner can exist.
public struct RequestParser: ~Copyable, @unchecked Sendable {
    /// The limits in force, after clamping (see `ParserLimits`).
    public let limits: ParserLimits

    /// Leading empty lines skipped before the request-line. RFC 9112 §2.2: "a server that is expecting to
    /// receive and parse a request-line SHOULD ignore at least one empty line (CRLF) received prior to the
    /// request-line." Clients send at most one stray CRLF (after a body); 16 tolerates that, and more is
    /// garbage that would otherwise keep the connection `.incomplete` forever → 400.
    public static let maxLeadingEmptyLines = 16
    /// Longest method token. RFC 9112 §3: "A server that receives a method longer than any that it implements
    /// SHOULD respond with a 501 (Not Implemented) status code." The longest registered method
    /// (UPDATEREDIRECTREF) has 17 bytes; 32 bounds the wait for the first SP → 501.
    public static let maxMethodLength = 32

    @usableFromInline let fields: UnsafeMutablePointer<StoredField>
    @usableFromInline var storedCount: Int = 0
    /// Bit `KnownHeader.rawValue` set when at least one such field is stored: `firstValue` misses in O(1).
    @usableFromInline var presentMask: UInt32 = 0

    public init(limits: ParserLimits = .default) {
        var clamped = limits
        // Clamps keep every offset < 2^26 (fits FieldValue's Int32) and the field table small.
        clamped.maxTargetLength = min(max(limits.maxTargetLength, 1), 1 << 24)
        clamped.maxHeaderBytes = min(max(limits.maxHeaderBytes, 0), 1 << 24)
        clamped.maxHeaderFields = min(max(limits.maxHeaderFields, 0), 10_000)
        self.limits = clamped
        // One entry per field line at most, so this can never overflow. 100 × 12 bytes by default.
        fields = .allocate(capacity: max(clamped.maxHeaderFields, 1))
    }

    deinit {
        fields.deallocate()
    }

    // MARK: Accessors for the known fields of the last `.head` result (valid until the next `parse`)

    /// Number of known fields stored by the last `.head` result (0 after `.incomplete` / `.error`).
    @inlinable
    public var knownFieldCount: Int { storedCount }

    /// Calls `body` with each stored known field of the last `.head` result, in order of appearance.
    @inlinable
    public func forEachField(_ body: (KnownHeader, FieldValue) -> Void) {
        for k in 0..<storedCount {
            let f = unsafe fields[k]
            body(f.name, f.value)
        }
    }

    /// Calls `body` with the value of each field line named `name`, in order (e.g. several If-None-Match lines,
    /// which RFC 9110 §5.3 lets a recipient combine into one comma-separated list).
    @inlinable
    public func forEachValue(of name: KnownHeader, _ body: (FieldValue) -> Void) {
        guard contains(name) else { return }
        for k in 0..<storedCount {
            let f = unsafe fields[k]
            if f.name == name { body(f.value) }
        }
    }

    /// Whether the last `.head` result has a field line named `name`.
    @inlinable
    public func contains(_ name: KnownHeader) -> Bool {
        presentMask & (1 &<< UInt32(name.rawValue)) != 0
    }

    /// The value of the first field line named `name` in the last `.head` result.
    @inlinable
    public func firstValue(_ name: KnownHeader) -> FieldValue? {
        guard contains(name) else { return nil }
        for k in 0..<storedCount {
            let f = unsafe fields[k]
            if f.name == name { return f.value }
        }
        return nil
    }

    /// Whether `bytes`, a request head the parser refused, starts with a `HEAD` request-line (after the empty
    /// lines `parse` skips), so that the error response leaves its content out too. RFC 9110 §9.3.2: "The HEAD
    /// method is identical to GET except that the server MUST NOT send content in the response."
    public static func startsWithHead(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let p = bytes.baseAddress else { return false }
        var i = 0
        while i < bytes.count && (bytes[i] == HTTPSyntax.ASCII.cr || bytes[i] == HTTPSyntax.ASCII.lf) { i += 1 }
        return i + 5 <= bytes.count && HTTPSyntax.matchesLiteral(p, i, 5, "HEAD ", fold: false)
    }

    // MARK: Parsing

    /// Parses one request head from the start of `bytes`. Pure: no I/O, and nothing carried over from earlier
    /// calls except the reused field table. Returns `.incomplete` if the empty line ending the head has not
    /// arrived and no limit is exceeded yet; limits are enforced on the bytes present, so an over-long target
    /// (414) or header section (431) is reported without waiting for the rest.
    ///
    /// The known fields of a `.head` result stay readable through `forEachField` / `firstValue` until the next
    /// call; all offsets point into `bytes`.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) -> ParseResult {
        var stored = 0
        var mask: UInt32 = 0
        let result = HTTPSyntax.parseHead(
            bytes, limits: limits, fields: fields, storedCount: &stored, presentMask: &mask)
        storedCount = stored
        presentMask = mask
        return result
    }
}

extension HTTPSyntax {
    @inline(__always)
    static func fail(_ status: HTTPStatus, _ reason: StaticString) -> ParseResult {
        .error(ParseError(status: status, reason: reason))
    }

    /// The body of `RequestParser.parse` (inlined there), here so the grammar helpers need no qualification.
    /// Locals only; `storedCount`/`presentMask` are written once, on success.
    @inline(__always)
    static func parseHead(
        _ bytes: UnsafeRawBufferPointer, limits: ParserLimits, fields: UnsafeMutablePointer<StoredField>,
        storedCount: inout Int, presentMask: inout UInt32
    ) -> ParseResult {
        guard let p = bytes.baseAddress else { return .incomplete }
        let n = bytes.count
        var i = 0

        // ---- Leading empty lines --------------------------------------------------------------------
        // RFC 9112 §2.2: "a server that is expecting to receive and parse a request-line SHOULD ignore at least
        // one empty line (CRLF) received prior to the request-line."
        var emptyLines = 0
        while true {
            guard i < n else { return .incomplete }
            let c = byteAt(p, i)
            if c == ASCII.lf {
                i += 1
            } else if c == ASCII.cr {
                guard i + 1 < n else { return .incomplete }
                // RFC 9112 §2.2: "A recipient of such a bare CR MUST consider that element to be invalid or
                // replace each bare CR with SP before processing the element or forwarding the message."
                guard byteAt(p, i + 1) == ASCII.lf else { return fail(.badRequest, "bare CR") }
                i += 2
            } else {
                break
            }
            emptyLines += 1
            guard emptyLines <= RequestParser.maxLeadingEmptyLines else {
                return fail(.badRequest, "too many empty lines before request-line")
            }
        }

        // ---- Method ---------------------------------------------------------------------------------
        // RFC 9112 §3: "request-line = method SP request-target SP HTTP-version"; RFC 9110 §9.1: "method = token".
        let methodStart = i
        let method: HTTPMethod
        if i &+ 4 <= n && load32LE(p, i) == 0x2054_4547 {
            // "GET " — nearly every request: one 4-byte compare instead of the token loop.
            // RFC 9110 §9.1: "The method token is case-sensitive".
            method = .get
            i &+= 3
        } else {
            while true {
                guard i < n else { return .incomplete }
                guard isTchar(byteAt(p, i)) else { break }
                i &+= 1
                guard i &- methodStart <= RequestParser.maxMethodLength else {
                    return fail(.notImplemented, "method too long")
                }
            }
            guard i > methodStart, byteAt(p, i) == ASCII.sp else { return fail(.badRequest, "invalid method") }
            switch i &- methodStart {
            case 4: method = matchesLiteral(p, methodStart, 4, "HEAD", fold: false) ? .head : .other
            case 7: method = matchesLiteral(p, methodStart, 7, "OPTIONS", fold: false) ? .options : .other
            default: method = .other  // includes "GET" not followed by SP, which fails just below
            }
        }
        guard byteAt(p, i) == ASCII.sp else { return fail(.badRequest, "invalid method") }
        let methodLength = i &- methodStart

        // ---- Request-target -------------------------------------------------------------------------
        // RFC 9112 §3.2: "No whitespace is allowed in the request-target." We accept VCHAR (0x21–0x7E) except
        // "#" (a fragment is not part of any request-target form): 8 bytes per step, and a word holding a stop
        // byte (normally the SP before the version) jumps straight to it.
        i += 1
        let targetStart = i
        let maxTarget = limits.maxTargetLength
        while true {
            if i &+ 8 <= n {
                let w = wordLE(p, i)
                let stops = (w & swarHighs) | swarLess(w, 0x21) | swarEqual(w, ASCII.del) | swarEqual(w, ASCII.hash)
                i &+= stops == 0 ? 8 : swarFirst(stops)
                // RFC 9112 §3: "A server that receives a request-target longer than any URI it wishes to parse
                // MUST respond with a 414 (URI Too Long) status code" — checked on the bytes present, so an
                // endless target is refused without waiting for its end.
                guard i &- targetStart <= maxTarget else { return fail(.uriTooLong, "request-target too long") }
                if stops == 0 { continue }
                break
            }
            guard i < n else { return .incomplete }
            let c = byteAt(p, i)
            guard c &- 0x21 < 0x5E && c != ASCII.hash else { break }
            i &+= 1
            guard i &- targetStart <= maxTarget else { return fail(.uriTooLong, "request-target too long") }
        }
        let targetEnd = i
        let stop = byteAt(p, i)
        if stop != ASCII.sp {
            if (stop == ASCII.cr || stop == ASCII.lf) && targetEnd > targetStart {
                if stop == ASCII.cr {
                    guard i + 1 < n else { return .incomplete }
                    guard byteAt(p, i + 1) == ASCII.lf else { return fail(.badRequest, "bare CR") }
                }
                // "GET /path" CRLF is an HTTP/0.9 request: RFC 9110 §15.6.6 505 "indicates that the server does
                // not support, or refuses to support, the major version of HTTP that was used in the request".
                // "GET HTTP/1.1" CRLF is not: its one word after the method is no path but a version, so the
                // request-target is missing (RFC 9112 §3: request-line = method SP request-target SP HTTP-version).
                guard byteAt(p, targetStart) == ASCII.slash else { return fail(.badRequest, "request-line without a request-target") }
                return fail(.httpVersionNotSupported, "HTTP/0.9 request-line without version")
            }
            if stop == ASCII.hash { return fail(.badRequest, "fragment in request-target") }
            return fail(.badRequest, "invalid byte in request-target")
        }
        guard targetEnd > targetStart else { return fail(.badRequest, "empty request-target") }

        let path: FieldValue
        var targetAuthority = FieldValue(0, 0)
        var isAbsoluteForm = false
        let first = byteAt(p, targetStart)
        if first == ASCII.slash {
            // RFC 9112 §3.2.1: "origin-form = absolute-path [ "?" query ]"
            path = FieldValue(targetStart, targetEnd)
        } else if first == ASCII.star {
            // RFC 9112 §3.2.4: "asterisk-form = "*"" — "The asterisk-form of request-target is only used for a
            // server-wide OPTIONS request".
            guard targetEnd - targetStart == 1 else { return fail(.badRequest, "invalid request-target") }
            guard method == .options else { return fail(.badRequest, "asterisk-form without OPTIONS") }
            path = FieldValue(targetStart, targetEnd)
        } else {
            // RFC 9112 §3.2.2: "absolute-form = absolute-URI"; a server "MUST accept the absolute-form in
            // requests". We serve http and https (scheme names are case-insensitive, RFC 3986 §3.1); anything
            // else, including the authority-form of CONNECT, is a 400.
            let targetLength = targetEnd - targetStart
            var a = targetStart
            if targetLength >= 7 && matchesLiteral(p, a, 7, "http://", fold: true) {
                a += 7
            } else if targetLength >= 8 && matchesLiteral(p, a, 8, "https://", fold: true) {
                a += 8
            } else {
                return fail(.badRequest, "invalid request-target")
            }
            let authorityStart = a
            while a < targetEnd {
                let c = byteAt(p, a)
                if c == ASCII.slash || c == ASCII.question { break }
                // RFC 9110 §4.2.4: a recipient "SHOULD parse for userinfo and treat its presence as an error".
                guard c != ASCII.at else { return fail(.badRequest, "userinfo in request-target") }
                a += 1
            }
            guard isValidHost(p, authorityStart, a) else {
                return fail(.badRequest, "invalid authority in request-target")
            }
            targetAuthority = FieldValue(authorityStart, a)
            if a == targetEnd {
                // No path: RFC 9112 §3.2.1 "If the target URI's path component is empty, the client MUST send "/"
                // as the path". The "/" is the second slash of "://", right before the authority.
                path = FieldValue(authorityStart - 1, authorityStart)
            } else if byteAt(p, a) == ASCII.slash {
                path = FieldValue(a, targetEnd)
            } else {
                // "http://host?q": an empty path is "/" (RFC 9110 §4.2.3: "an empty path component is equivalent
                // to an absolute path of "/""). "/?q" does not exist as contiguous bytes, so the path is that "/"
                // alone: a static file is chosen by its path, and "/" never redirects, so the query is not needed.
                path = FieldValue(authorityStart - 1, authorityStart)
            }
            isAbsoluteForm = true
        }

        // ---- HTTP-version ---------------------------------------------------------------------------
        // RFC 9112 §2.3: "HTTP-version = HTTP-name "/" DIGIT "." DIGIT", "HTTP-name = %s"HTTP"" (case-sensitive).
        // One masked 8-byte compare when the whole version is present; otherwise (a prefix, or an error)
        // byte by byte, so a prefix of a valid version is `.incomplete` and garbage is a 400 at once.
        i &+= 1
        let v = i
        let fastVersion: Bool
        if v &+ 8 <= n {
            // Little-endian "HTTP/" D "." D with the digit bytes (5 and 7) masked out, then the digits.
            let w = wordLE(p, v)
            fastVersion =
                w & 0x00FF_00FF_FFFF_FFFF == 0x002E_002F_5054_5448
                && isDigit(UInt8(truncatingIfNeeded: w &>> 40)) && isDigit(UInt8(truncatingIfNeeded: w &>> 56))
        } else {
            fastVersion = false
        }
        if !fastVersion {
            for k in 0..<8 {
                guard v &+ k < n else { return .incomplete }
                let c = byteAt(p, v &+ k)
                let ok: Bool
                switch k {
                case 0: ok = c == 0x48  // H
                case 1, 2: ok = c == 0x54  // T
                case 3: ok = c == 0x50  // P
                case 4: ok = c == ASCII.slash
                case 6: ok = c == ASCII.dot
                default: ok = isDigit(c)  // 5, 7
                }
                guard ok else { return fail(.badRequest, "malformed HTTP-version") }
            }
        }
        i = v + 8
        guard i < n else { return .incomplete }
        // RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line terminator and ignore any preceding CR."
        if byteAt(p, i) == ASCII.cr {
            guard i + 1 < n else { return .incomplete }
            guard byteAt(p, i + 1) == ASCII.lf else { return fail(.badRequest, "bare CR") }
            i += 2
        } else if byteAt(p, i) == ASCII.lf {
            i += 1
        } else {
            return fail(.badRequest, "malformed HTTP-version")
        }
        guard byteAt(p, v + 5) == 0x31 else {
            // RFC 9110 §15.6.6: 505 "indicates that the server does not support, or refuses to support, the
            // major version of HTTP that was used in the request message."
            return fail(.httpVersionNotSupported, "HTTP major version is not 1")
        }
        // RFC 9110 §2.5: a higher minor version is processed "as if it were in the highest minor version
        // within that major version to which the recipient is conformant" → 1.
        let versionMinor: UInt8 = byteAt(p, v + 7) == ASCII.zero ? 0 : 1

        // ---- Header section -------------------------------------------------------------------------
        // RFC 9112 §5: "field-line = field-name ":" OWS field-value OWS". Every field line, with its
        // terminator, must lie inside [sectionStart, sectionLimit); scans stop at `scanEnd`, and reaching it
        // means "need more bytes" if the buffer ended there, or "too large" if the limit did.
        let sectionStart = i
        let sectionLimit = sectionStart + limits.maxHeaderBytes
        let scanEnd = min(n, sectionLimit)
        let maxFields = limits.maxHeaderFields
        var fieldLines = 0
        var stored = 0
        var mask: UInt32 = 0
        var framing = FramingFacts()

        // RFC 9110 §5.4: "A server that receives a request header field line, field value, or set of fields
        // larger than it wishes to process MUST respond with an appropriate 4xx (Client Error) status code";
        // RFC 6585 §5 names it 431.
        @inline(__always)
        func ranOut(_ at: Int) -> ParseResult {
            at >= sectionLimit ? fail(.requestHeaderFieldsTooLarge, "header section too large") : .incomplete
        }

        while true {
            guard i < n else { return .incomplete }
            let c = byteAt(p, i)
            if c == ASCII.cr {
                guard i + 1 < n else { return .incomplete }
                guard byteAt(p, i + 1) == ASCII.lf else { return fail(.badRequest, "bare CR") }
                i += 2
                break
            }
            if c == ASCII.lf {
                i += 1
                break
            }
            guard i < sectionLimit else { return ranOut(i) }
            if isOWS(c) {
                // RFC 9112 §2.2: "A recipient that receives whitespace between the start-line and the first header
                // field MUST either reject the message as invalid or consume each whitespace-preceded line".
                // RFC 9112 §5.2: "A server that receives an obs-fold in a request message ... MUST either reject
                // the message by sending a 400 (Bad Request) ... or replace each received obs-fold with one or
                // more SP octets".
                return fail(
                    .badRequest, fieldLines == 0 ? "whitespace before first field line" : "obs-fold in field line")
            }
            fieldLines += 1
            guard fieldLines <= maxFields else { return fail(.requestHeaderFieldsTooLarge, "too many header fields") }

            // field-name = token. Real names are letters, digits and "-": 8 such bytes per step, then the table
            // for the rest (the other tchars, and the ":" that ends the name).
            let nameStart = i
            while i &+ 8 <= scanEnd {
                let common = swarAlnumDash(wordLE(p, i))
                if common == swarHighs {
                    i &+= 8
                    continue
                }
                i &+= swarFirst(~common & swarHighs)
                break
            }
            while i < scanEnd && isTchar(byteAt(p, i)) { i &+= 1 }
            guard i < scanEnd else { return ranOut(i) }
            let nameEnd = i
            let afterName = byteAt(p, i)
            guard afterName == ASCII.colon else {
                // RFC 9112 §5.1: "A server MUST reject, with a response status code of 400 (Bad Request), any
                // received request message that contains whitespace between a header field name and colon."
                return fail(.badRequest, isOWS(afterName) ? "whitespace before colon" : "invalid field name")
            }
            guard nameEnd > nameStart else { return fail(.badRequest, "empty field name") }
            i &+= 1

            // OWS, then the value: 8 bytes per step while a word holds no CTL or DEL; otherwise jump to the
            // first such byte — an HTAB is stepped over, anything else ends the value (checked below).
            while i < scanEnd && isOWS(byteAt(p, i)) { i &+= 1 }
            let valueStart = i
            while true {
                if i &+ 8 <= scanEnd {
                    let w = wordLE(p, i)
                    let stops = swarLess(w, 0x20) | swarEqual(w, ASCII.del)
                    if stops == 0 {
                        i &+= 8
                        continue
                    }
                    i &+= swarFirst(stops)
                    guard byteAt(p, i) == ASCII.htab else { break }
                    i &+= 1
                    continue
                }
                guard i < scanEnd, isFieldValueByte(byteAt(p, i)) else { break }
                i &+= 1
            }
            guard i < scanEnd else { return ranOut(i) }
            let lineEnd = i
            let terminator = byteAt(p, i)
            if terminator == ASCII.cr {
                guard i + 1 < scanEnd else { return ranOut(i + 1) }
                guard byteAt(p, i + 1) == ASCII.lf else { return fail(.badRequest, "bare CR") }
                i &+= 2
            } else if terminator == ASCII.lf {
                i &+= 1
            } else {
                // RFC 9110 §5.5: "a recipient of CR, LF, or NUL within a field value MUST either reject the message
                // or replace each of those characters with SP"; "Field values containing other CTL characters are
                // also invalid". We reject all of them.
                return fail(.badRequest, terminator == 0 ? "NUL in field value" : "control character in field value")
            }

            guard let name = knownHeader(p, nameStart, nameEnd &- nameStart) else { continue }
            var valueEnd = lineEnd
            while valueEnd > valueStart && isOWS(byteAt(p, valueEnd &- 1)) { valueEnd &-= 1 }
            // stored < fieldLines <= maxFields <= table capacity.
            unsafe fields[stored] = StoredField(name: name, value: FieldValue(valueStart, valueEnd))
            stored &+= 1
            mask |= 1 &<< UInt32(name.rawValue)
            if name.rawValue <= KnownHeader.transferEncoding.rawValue {
                // Host, Connection, Content-Length, Transfer-Encoding shape the request; out of line, so the
                // scanning loop keeps its registers.
                if let error = framing.apply(name, p, valueStart, valueEnd) { return .error(error) }
            }
        }
        let headerLength = i
        guard let chunked = framing.finish(versionMinor: versionMinor) else {
            return .error(framing.error)
        }
        // RFC 9112 §9.3: "If the "close" connection option is present, the connection will not persist after the
        // current response; else, If the received protocol is HTTP/1.1 (or later), the connection will persist
        // after the current response; else, If the received protocol is HTTP/1.0, the "keep-alive" connection
        // option is present, ... the connection will persist after the current response; otherwise, The
        // connection will close after the current response."
        let keepAlive = !framing.connectionClose && (versionMinor == 1 || framing.connectionKeepAlive)

        storedCount = stored
        presentMask = mask
        return .head(
            RequestHead(
                method: method,
                versionMinor: versionMinor,
                path: path,
                keepAlive: keepAlive,
                contentLength: max(framing.contentLength, 0),
                chunked: chunked,
                headerLength: headerLength,
                fieldCount: stored,
                methodName: FieldValue(methodStart, methodStart + methodLength),
                target: FieldValue(targetStart, targetEnd),
                authority: isAbsoluteForm
                    ? targetAuthority
                    : (framing.hostCount == 1 && framing.hostValue.end > framing.hostValue.start ? framing.hostValue : nil),
                isAbsoluteForm: isAbsoluteForm))
    }
}

/// What the framing-relevant fields (Host, Connection, Content-Length, Transfer-Encoding) said so far.
/// Kept apart from the scanning loop: these fields come a few times per request, the loop runs per byte.
struct FramingFacts {
    var hostCount = 0
    var hostValue = FieldValue(0, 0)
    var contentLength = -1  // -1: absent
    var sawTransferEncoding = false
    var chunkedCodings = 0
    var otherCodings = false
    var lastCodingIsChunked = false
    var connectionClose = false
    var connectionKeepAlive = false
    /// Set when `finish` returns nil.
    var error = ParseError(status: .badRequest, reason: "invalid request")

    /// Takes one Host / Connection / Content-Length / Transfer-Encoding value (`s..<e`, OWS trimmed);
    /// returns the error that rejects the request, if any.
    @inline(never)
    mutating func apply(_ name: KnownHeader, _ p: UnsafeRawPointer, _ s: Int, _ e: Int) -> ParseError? {
        typealias H = HTTPSyntax
        switch name {
        case .host:
            // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
            // request message that lacks a Host header field and to any request message that contains more
            // than one Host header field line or a Host header field with an invalid field value."
            hostCount += 1
            guard hostCount == 1 else { return ParseError(status: .badRequest, reason: "more than one Host field") }
            // RFC 9112 §3.2: "If the authority component is missing or undefined for the target URI, then a client
            // MUST send a Host header field with an empty field-value." An origin-form request names no authority
            // of its own, so an empty Host is what such a client sends: accepted (the request then has no
            // authority). Anything non-empty must be a valid host.
            guard s == e || H.isValidHost(p, s, e) else { return ParseError(status: .badRequest, reason: "invalid Host") }
            hostValue = FieldValue(s, e)
        case .contentLength:
            // RFC 9112 §6.3: "If a message is received without Transfer-Encoding and with an invalid
            // Content-Length header field, then the message framing is invalid and the recipient MUST treat it
            // as an unrecoverable error" — "the server MUST respond with a 400 (Bad Request)". Several lines
            // are one list (RFC 9110 §5.3), so they too must agree.
            guard let length = H.parseContentLength(p, s, e) else {
                return ParseError(status: .badRequest, reason: "invalid Content-Length")
            }
            guard contentLength < 0 || contentLength == length else {
                return ParseError(status: .badRequest, reason: "conflicting Content-Length values")
            }
            contentLength = length
        case .transferEncoding:
            // RFC 9112 §6.1: "Transfer-Encoding = #transfer-coding"; several lines form one list in order.
            sawTransferEncoding = true
            H.forEachListElement(p, s, e) { s, e in
                // RFC 9112 §7: coding names are case-insensitive (RFC 9110 §10.1.4 registry names).
                let isChunked = H.equalsLowercase(p, s, e, "chunked")
                if isChunked { chunkedCodings += 1 } else { otherCodings = true }
                lastCodingIsChunked = isChunked
            }
        case .connection:
            // RFC 9110 §7.6.1: "Connection = #connection-option", "Connection options are case-insensitive."
            H.forEachListElement(p, s, e) { s, e in
                if H.equalsLowercase(p, s, e, "close") {
                    connectionClose = true
                } else if H.equalsLowercase(p, s, e, "keep-alive") {
                    connectionKeepAlive = true
                }
            }
        default:
            break
        }
        return nil
    }

    /// Whole-message checks once the header section is complete. Returns whether the body is chunked, or nil
    /// with `error` set.
    @inline(__always)
    mutating func finish(versionMinor: UInt8) -> Bool? {
        if versionMinor == 1 && hostCount == 0 {
            return failed(.badRequest, "HTTP/1.1 request without Host")  // RFC 9112 §3.2, quoted in `apply`
        }
        guard sawTransferEncoding else { return false }
        // RFC 9112 §6.1: "A server or client that receives an HTTP/1.0 message containing a Transfer-Encoding
        // header field MUST treat the message as if the framing is faulty, even if a Content-Length is
        // present, and close the connection after processing the message." We refuse it outright.
        guard versionMinor == 1 else { return failed(.badRequest, "Transfer-Encoding in HTTP/1.0") }
        // RFC 9112 §6.3: "If a message is received with both a Transfer-Encoding and a Content-Length header
        // field, ... Such a message might indicate an attempt to perform request smuggling ... and ought to
        // be handled as an error."
        guard contentLength < 0 else { return failed(.badRequest, "both Content-Length and Transfer-Encoding") }
        // RFC 9112 §6.3: "If a Transfer-Encoding header field is present in a request and the chunked transfer
        // coding is not the final encoding, the message body length cannot be determined reliably; the
        // server MUST respond with the 400 (Bad Request) status code and then close the connection."
        guard lastCodingIsChunked else { return failed(.badRequest, "chunked is not the final coding") }
        // RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding more than once to a message body".
        guard chunkedCodings == 1 else { return failed(.badRequest, "chunked applied more than once") }
        // RFC 9112 §6.1: "A server that receives a request message with a transfer coding it does not
        // understand SHOULD respond with 501 (Not Implemented)."
        guard !otherCodings else { return failed(.notImplemented, "unsupported transfer coding") }
        return true
    }

    private mutating func failed(_ status: HTTPStatus, _ reason: StaticString) -> Bool? {
        error = ParseError(status: status, reason: reason)
        return nil
    }
}

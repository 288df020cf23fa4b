// Content-coding negotiation: RFC 9110 §12.5.3 (Accept-Encoding) with the weights of §12.4.2.
//
// Cost model
// - Runs for every request that carries Accept-Encoding, so: one pass over each field line's bytes through a raw
//   pointer, no String, no Array, no Dictionary, no allocation. The whole state is five small integers
//   (`AcceptEncoding` is 9 bytes of trivial data), and `choose` is three comparisons.
// - Linear in the field value's length whatever it holds: no backtracking, no recursion, no quadratic rescans;
//   garbage is skipped to the next comma. Every read is at an index proven `< count` by the loop condition
//   right above it, so a malformed or very long value cannot read out of bounds or trap.

/// A content coding Swerve can send (RFC 9110 §8.4.1). `identity` is "no content coding"; `zstd` is RFC 8878's
/// as RFC 9659 registers it for HTTP.
public enum ContentCoding: UInt8, Sendable, BitwiseCopyable {
    case identity, gzip, br, zstd

    /// The coding's token in Content-Encoding and Accept-Encoding (the IANA HTTP Content Coding Registry).
    public var name: String {
        switch self {
        case .identity: "identity"
        case .gzip: "gzip"
        case .br: "br"
        case .zstd: "zstd"
        }
    }
}

/// The server's order among compressions a client weighs equally (`--encodings`, default `br, zstd, gzip`): brotli
/// and zstd bodies of text are smaller than gzip's, and every one of them is made once and cached. Three slots,
/// each a coding or none, packed so the negotiator stays plain data.
public struct EncodingPreference: Sendable, BitwiseCopyable, Equatable {
    /// The order, most preferred first: identity marks an unused slot.
    public let first: ContentCoding, second: ContentCoding, third: ContentCoding

    /// `order`: distinct compressions (no identity), most preferred first.
    public init(_ order: [ContentCoding]) {
        precondition(order.count <= 3 && !order.contains(.identity) && Set(order.map(\.rawValue)).count == order.count,
                     "EncodingPreference: up to three distinct compressions")
        first = order.count > 0 ? order[0] : .identity
        second = order.count > 1 ? order[1] : .identity
        third = order.count > 2 ? order[2] : .identity
    }

    /// `br, zstd, gzip`.
    public static let standard = EncodingPreference([.br, .zstd, .gzip])

    /// The compressions in order.
    public var order: [ContentCoding] { [first, second, third].filter { $0 != .identity } }

    /// The compressions, as a set (asked per compressible file: no array). An unused slot is identity.
    public var codings: CodingSet {
        CodingSet(first).union(CodingSet(second)).union(CodingSet(third)).subtracting(.identity)
    }
}

/// The content codings the server can offer for one resource (for example `[.identity, .gzip]` for a text file
/// it can compress, `[.identity]` for a JPEG, `[.gzip]` for a resource it only has precompressed).
public struct CodingSet: OptionSet, Sendable, BitwiseCopyable {
    public let rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Bit n is `ContentCoding(rawValue: n)`.
    public static let identity = CodingSet(rawValue: 1 << ContentCoding.identity.rawValue)
    public static let gzip = CodingSet(rawValue: 1 << ContentCoding.gzip.rawValue)
    public static let br = CodingSet(rawValue: 1 << ContentCoding.br.rawValue)
    public static let zstd = CodingSet(rawValue: 1 << ContentCoding.zstd.rawValue)

    @inlinable
    public init(_ coding: ContentCoding) { self.init(rawValue: 1 << coding.rawValue) }
}

/// The preferences of one or more `Accept-Encoding` field lines (RFC 9110 §12.5.3), and the choice of the content
/// coding to send.
///
/// Feed every `Accept-Encoding` field line of the request to `add(_:)` in order, then ask `choose(from:)`.
/// RFC 9110 §5.3: "A recipient MAY combine multiple field lines within a field section that have the same field
/// name into one field line, without changing the semantics of the message, by appending each subsequent field
/// line value to the combined field value in order, separated by a comma" — so two lines `gzip` and `br;q=0.5`
/// mean exactly `gzip, br;q=0.5`, and each `add` simply continues the one list.
///
/// Decisions (each pinned by rows of `EncodingNegotiatorTests`):
/// - **No field → identity.** RFC 9110 §12.5.3 rule 1 makes any coding acceptable then, but the same section
///   warns that this "does not imply that the user agent will be able to correctly process all encodings".
///   Clients that send no Accept-Encoding are scripts, health checks, `curl` without `--compressed`, old or
///   embedded agents: untested with compressed bodies, so they get the bytes of the file. Only if the resource
///   has no identity form does the choice fall to gzip (understood by every agent that decodes anything), then br.
/// - **Empty field value → identity only** ("the user agent does not want any content coding in response").
///   A value whose every element is malformed is treated the same way: nothing valid was asked for.
/// - **Weights** are thousandths (0…1000) per §12.4.2. A coding without a `q` weighs 1000. An unlisted
///   coding takes the weight of `*` if `*` is listed, else it is not acceptable, except identity, which is
///   "acceptable by default" and then weighs 1 (0.001, the least preferred weight): any listed coding with a
///   non-zero weight beats an identity the client did not mention.
/// - **Highest weight wins; ties go to the server's order of compressions (`EncodingPreference`, by default br,
///   then zstd, then gzip), then identity** (prefer compression: the client said it values them equally, and a
///   smaller body is cheaper for both sides).
/// - **Malformed elements are ignored whole**, not read as weight 1: an invalid qvalue (`q=2`, `q=0.1234`,
///   `q=abc`, `q=`, a quoted `q="0.5"`), two `q` parameters, whitespace around `=`, a parameter without `=`,
///   an unterminated quoted string, or bytes outside the grammar. Ignoring an element never makes more codings
///   acceptable than the client listed (at worst an intended `;q=0` is lost and identity stays acceptable, which
///   every client can read).
/// - **Other parameters** (`gzip;level=9;q=0.5`) are parsed as `token=token` or `token="quoted"` and ignored;
///   `q` may appear among them in any position. Empty parameters (`gzip;`, `gzip;;q=0.5`) are allowed, as
///   RFC 9110 §5.6.6 has `parameters = *( OWS ";" OWS [ parameter ] )`.
/// - **A coding listed twice: the last element wins** (also across field lines), whatever its weight. This is
///   what combining lines in order gives if each element overwrites the previous statement about its coding,
///   and it lets a later line (say, added by an intermediary) restate an earlier one. `x-gzip` and `gzip` are
///   the same coding for this rule; `*` is tracked separately.
/// - **Codings we do not offer** (`deflate`, `compress`, …) are parsed and dropped: they are never chosen and
///   change nothing else (they are not "explicitly listed" codings of ours, so `*` still covers ours).
/// - **406**: `choose` returns nil when no coding in `available` has a non-zero weight. With identity available
///   that happens only when identity itself is excluded (`identity;q=0`, or `*;q=0` without an identity entry),
///   which is exactly where RFC 9110 §12.5.3 lets the server stop sending identity: "the origin server SHOULD
///   send a response without any content coding unless the identity coding is indicated as unacceptable".
///   Swerve then answers 406 rather than ignore what the client asked; a caller preferring to ignore it can send
///   identity itself. Without identity in `available`, nil simply means none of the offered codings is accepted.
public struct AcceptEncoding: Sendable, BitwiseCopyable {
    /// "Not listed": no element has named this coding (or `*`) so far.
    static let unlisted: UInt16 = .max
    /// The weight of an identity that no element names while `*` is not listed: acceptable, least preferred.
    static let defaultIdentityWeight: UInt16 = 1

    // Weights in thousandths (0…1000), or `unlisted`.
    var identityWeight: UInt16 = unlisted
    var gzipWeight: UInt16 = unlisted
    var brWeight: UInt16 = unlisted
    var zstdWeight: UInt16 = unlisted
    var anyWeight: UInt16 = unlisted

    /// Whether at least one Accept-Encoding field line was added (even an empty one).
    public private(set) var isPresent = false

    /// No Accept-Encoding field at all.
    @inlinable
    public init() {}

    /// Adds one field line's value (with or without its surrounding OWS). Lines combine as one list, in order.
    public mutating func add(_ fieldValue: UnsafeRawBufferPointer) {
        isPresent = true
        // An empty buffer may have no base address: an empty value, which adds no element.
        guard let p = fieldValue.baseAddress else { return }
        let n = fieldValue.count
        var identity = identityWeight, gzip = gzipWeight, br = brWeight, zstd = zstdWeight, any = anyWeight
        var i = 0
        while i < n {
            let c = Self.byte(p, i)
            // RFC 9110 §5.6.1.2: "A recipient MUST parse and ignore a reasonable number of empty list elements"
            // — any number here: skipping one costs one byte of the scan.
            if c == Self.comma || Self.isOWS(c) {
                i &+= 1
                continue
            }
            let element = Self.parseElement(p, from: i, count: n)
            i = element.end
            // Last element wins: a later statement about a coding overwrites the earlier one.
            switch element.name {
            case .identity: identity = element.weight
            case .gzip: gzip = element.weight
            case .br: br = element.weight
            case .zstd: zstd = element.weight
            case .any: any = element.weight
            case .other, .invalid: break
            }
        }
        identityWeight = identity
        gzipWeight = gzip
        brWeight = br
        zstdWeight = zstd
        anyWeight = any
    }

    /// The effective weight of `coding` in thousandths (0 = not acceptable), for a request that has the field.
    func weight(of coding: ContentCoding) -> UInt16 {
        let listed: UInt16
        switch coding {
        case .identity: listed = identityWeight
        case .gzip: listed = gzipWeight
        case .br: listed = brWeight
        case .zstd: listed = zstdWeight
        }
        // RFC 9110 §12.5.3: "If the representation's content coding is one of the content codings listed in the
        // Accept-Encoding field value, then it is acceptable unless it is accompanied by a qvalue of 0."
        if listed != Self.unlisted { return listed }
        // RFC 9110 §12.5.3: "The asterisk "*" symbol in an Accept-Encoding field matches any available content
        // coding not explicitly listed in the field." — identity included, so `*;q=0` excludes an unlisted identity.
        if anyWeight != Self.unlisted { return anyWeight }
        // RFC 9110 §12.5.3: "If the representation has no content coding, then it is acceptable by default unless
        // specifically excluded by the Accept-Encoding header field stating either "identity;q=0" or "*;q=0"
        // without a more specific entry for "identity"."
        return coding == .identity ? Self.defaultIdentityWeight : 0
    }

    /// Whether the client accepts `coding` (weight > 0, given explicitly or through `*`, or identity by default).
    /// Without any Accept-Encoding field every coding is acceptable (RFC 9110 §12.5.3 rule 1).
    public func accepts(_ coding: ContentCoding) -> Bool {
        // RFC 9110 §12.5.3: "If no Accept-Encoding header field is in the request, any content coding is
        // considered acceptable by the user agent."
        guard isPresent else { return true }
        // RFC 9110 §12.4.2: "a value of 0 means "not acceptable""
        return weight(of: coding) > 0
    }

    /// The coding to send for a resource offered in `available`, or nil when no available coding is acceptable
    /// (the caller answers 406 Not Acceptable); among equal weights, `preference` decides. See the type's
    /// documentation for every decision.
    ///
    /// nil with identity in `available` means the client excluded identity (`identity;q=0`, or `*;q=0` without
    /// an identity entry) and accepts none of the other available codings: RFC 9110 §12.5.3 says the server
    /// "SHOULD send a response without any content coding unless the identity coding is indicated as
    /// unacceptable", and here it is, so Swerve answers 406 instead of sending what the client refused.
    public func choose(from available: CodingSet, preference: EncodingPreference = .standard) -> ContentCoding? {
        guard isPresent else {
            // Any coding would do (RFC 9110 §12.5.3 rule 1), but "it does not imply that the user agent will be
            // able to correctly process all encodings": send the file as it is whenever we can, else the coding
            // most agents decode.
            if available.contains(.identity) { return .identity }
            if available.contains(.gzip) { return .gzip }
            if available.contains(.br) { return .br }
            if available.contains(.zstd) { return .zstd }
            return nil
        }
        // RFC 9110 §12.5.3: "If multiple content codings are acceptable, then the acceptable content coding with
        // the highest non-zero qvalue is preferred." Candidates are visited in the server's order, identity last,
        // and only a strictly higher weight displaces an earlier one, so equal weights go to the server's order
        // and to compression. Starting from 0 drops every weight-0 ("not acceptable") coding. A compression the
        // preference leaves out is never visited: it is turned off.
        var best: ContentCoding? = nil
        var bestWeight: UInt16 = 0
        func consider(_ coding: ContentCoding) {
            guard available.contains(CodingSet(coding)) else { return }
            let w = weight(of: coding)
            if w > bestWeight {
                best = coding
                bestWeight = w
            }
        }
        // An unused slot holds identity: considering it early changes nothing, as identity comes last anyway.
        consider(preference.first)
        consider(preference.second)
        consider(preference.third)
        consider(.identity)
        return best
    }
}

// MARK: - Parsing

extension AcceptEncoding {
    /// What one list element names.
    enum ElementName {
        case identity, gzip, br, zstd
        /// `*`
        case any
        /// A well-formed coding we do not offer (deflate, compress, zstd, …).
        case other
        /// A malformed element: ignored whole.
        case invalid
    }

    static let comma: UInt8 = 0x2C  // ','
    static let semicolon: UInt8 = 0x3B  // ';'
    static let equals: UInt8 = 0x3D  // '='
    static let dquote: UInt8 = 0x22  // '"'
    static let backslash: UInt8 = 0x5C  // '\'
    static let dot: UInt8 = 0x2E  // '.'
    static let zero: UInt8 = 0x30  // '0'
    static let one: UInt8 = 0x31  // '1'

    /// tchar (RFC 9110 §5.6.2) as a 128-bit set: bit b of `tcharLow` is byte b (0–63), bit b of `tcharHigh` is
    /// byte 64 + b. `"!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
    /// / DIGIT / ALPHA`. The tests check both words against that list.
    static let tcharLow: UInt64 = 0x03FF_6CFA_0000_0000
    static let tcharHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    @inline(__always)
    static func isTchar(_ c: UInt8) -> Bool {
        c < 64 ? (tcharLow &>> UInt64(c)) & 1 != 0 : c < 128 && (tcharHigh &>> UInt64(c &- 64)) & 1 != 0
    }

    /// OWS = *( SP / HTAB ) (RFC 9110 §5.6.3).
    @inline(__always)
    static func isOWS(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    /// The byte at `i`; the caller has proven `0 <= i < count`.
    @inline(__always)
    static func byte(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }

    /// Parses the element starting at `start` (a non-OWS, non-comma byte) up to the next top-level comma or the
    /// end. `end` is the index of that comma (left for the caller to skip) or `count`.
    ///
    /// Grammar (RFC 9110 §12.5.3 and §12.4.2, with §5.6.6's parameters so that other parameters can be ignored):
    /// `codings *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] ) OWS`, where a parameter named `q`
    /// must be a qvalue.
    static func parseElement(_ p: UnsafeRawPointer, from start: Int, count n: Int)
        -> (end: Int, name: ElementName, weight: UInt16)
    {
        // Accept-Encoding = #( codings [ weight ] ); codings = content-coding / "identity" / "*"
        // ("*" is itself a tchar, so one token scan covers all three).
        var i = start
        while i < n && isTchar(byte(p, i)) { i &+= 1 }
        let codingEnd = i
        if codingEnd == start { return (skipToComma(p, from: i, count: n), .invalid, 0) }

        // RFC 9110 §12.4.2: "If no "q" parameter is present, the default weight is 1."
        var weight: UInt16 = 1000
        var sawWeight = false
        while true {
            // weight = OWS ";" OWS "q=" qvalue — OWS before the ";" and after it.
            while i < n && isOWS(byte(p, i)) { i &+= 1 }
            if i == n { break }
            let c = byte(p, i)
            if c == comma { break }
            if c != semicolon { return (skipToComma(p, from: i, count: n), .invalid, 0) }
            i &+= 1
            while i < n && isOWS(byte(p, i)) { i &+= 1 }
            let nameStart = i
            while i < n && isTchar(byte(p, i)) { i &+= 1 }
            // An empty parameter (`;;` or a trailing `;`): the loop head checks what follows.
            if i == nameStart { continue }
            // RFC 9110 §5.6.6: "no whitespace is allowed around the "=" character" (nor a missing "=").
            guard i < n && byte(p, i) == equals else { return (skipToComma(p, from: i, count: n), .invalid, 0) }
            // RFC 9110 §12.4.2: a parameter named "q" (case-insensitive) carries the weight.
            let isWeight = i &- nameStart == 1 && byte(p, nameStart) | 0x20 == 0x71  // 'q' / 'Q'
            i &+= 1
            let valueStart = i
            if i < n && byte(p, i) == dquote {
                // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE — a comma inside it is not a separator.
                i &+= 1
                var closed = false
                while i < n {
                    let b = byte(p, i)
                    if b == backslash {
                        i &+= 2
                        continue
                    }
                    i &+= 1
                    if b == dquote {
                        closed = true
                        break
                    }
                }
                // Unterminated: everything to the end was inside the quotes.
                guard closed else { return (n, .invalid, 0) }
                // A qvalue is bare digits; a quoted weight is outside the grammar.
                if isWeight { return (skipToComma(p, from: i, count: n), .invalid, 0) }
            } else {
                while i < n && isTchar(byte(p, i)) { i &+= 1 }
                if i == valueStart { return (skipToComma(p, from: i, count: n), .invalid, 0) }
                if isWeight {
                    // Two weights for one element: which one was meant is unknowable.
                    guard !sawWeight, let q = parseQvalue(p, from: valueStart, to: i) else {
                        return (skipToComma(p, from: i, count: n), .invalid, 0)
                    }
                    weight = q
                    sawWeight = true
                }
            }
        }
        return (i, classify(p, from: start, to: codingEnd), weight)
    }

    /// The index of the next comma at or after `i`, or `n`: resynchronises after a malformed element.
    static func skipToComma(_ p: UnsafeRawPointer, from i: Int, count n: Int) -> Int {
        var i = i
        while i < n && byte(p, i) != comma { i &+= 1 }
        return i
    }

    /// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 9110 §12.4.2), in thousandths.
    /// nil for anything else (`2`, `0.1234`, `1.5`, `abc`, `.5`).
    static func parseQvalue(_ p: UnsafeRawPointer, from s: Int, to e: Int) -> UInt16? {
        // RFC 9110 §12.4.2: "A sender of qvalue MUST NOT generate more than three digits after the decimal
        // point." — at most "d.ddd", 5 bytes.
        let length = e &- s
        guard length >= 1 && length <= 5 else { return nil }
        if length >= 2 && byte(p, s &+ 1) != dot { return nil }
        var i = s &+ 2
        switch byte(p, s) {
        case zero:
            // RFC 9110 §12.4.2: "The weight is normalized to a real number in the range 0 through 1, where
            // 0.001 is the least preferred and 1 is the most preferred; a value of 0 means "not acceptable"."
            var thousandths: UInt16 = 0
            var scale: UInt16 = 100
            while i < e {
                let d = byte(p, i) &- zero
                guard d < 10 else { return nil }
                thousandths &+= UInt16(d) &* scale
                scale /= 10
                i &+= 1
            }
            return thousandths
        case one:
            while i < e {
                guard byte(p, i) == zero else { return nil }
                i &+= 1
            }
            return 1000
        default:
            return nil
        }
    }

    /// Which coding the token `p[s..<e]` (all tchars) names.
    static func classify(_ p: UnsafeRawPointer, from s: Int, to e: Int) -> ElementName {
        // RFC 9110 §8.4.1: "All content codings are case-insensitive".
        switch e &- s {
        case 1: return byte(p, s) == 0x2A ? .any : .other  // "*"
        case 2: return equalsLowercase(p, s, "br") ? .br : .other
        case 4: return equalsLowercase(p, s, "gzip") ? .gzip : equalsLowercase(p, s, "zstd") ? .zstd : .other
        // RFC 9110 §8.4.1.3: "A recipient SHOULD consider "x-gzip" to be equivalent to "gzip"."
        case 6: return equalsLowercase(p, s, "x-gzip") ? .gzip : .other
        // RFC 9110 §12.5.3: "An "identity" token is used as a synonym for "no encoding" in order to communicate
        // when no encoding is preferred."
        case 8: return equalsLowercase(p, s, "identity") ? .identity : .other
        default: return .other
        }
    }

    /// Whether the tchars at `p[s...]` equal the lowercase literal `lit` (letters and "-") ignoring ASCII case.
    /// `b | 0x20` folds A–Z onto a–z. It maps no other tchar onto a lowercase letter, and the only other byte it
    /// maps onto "-" (0x2D) is CR (0x0D), which is not a tchar: the token scan has already excluded it.
    static func equalsLowercase(_ p: UnsafeRawPointer, _ s: Int, _ lit: StaticString) -> Bool {
        let l = lit.utf8Start
        var k = 0
        while k < lit.utf8CodeUnitCount {
            if byte(p, s &+ k) | 0x20 != l[k] { return false }
            k &+= 1
        }
        return true
    }
}

import SwerveTestSupport
import Testing
@testable import SwerveHTTP

// MARK: - Helpers

/// One header value (or several field lines) and the coding `choose` must return.
struct NegotiationCase: Sendable, CustomTestStringConvertible {
    let lines: [String]
    let expected: ContentCoding?

    init(_ value: String, _ expected: ContentCoding?) {
        lines = [value]
        self.expected = expected
    }

    init(lines: [String], _ expected: ContentCoding?) {
        self.lines = lines
        self.expected = expected
    }

    var testDescription: String {
        let shown = lines.map { "\"\($0)\"" }.joined(separator: " + ")
        return "\(shown) → \(expected.map { "\($0)" } ?? "nil (406)")"
    }
}

private func acceptEncoding(_ lines: [String]) -> AcceptEncoding {
    var field = AcceptEncoding()
    for line in lines {
        Array(line.utf8).withUnsafeBytes { field.add($0) }
    }
    return field
}

private func acceptEncoding(bytes lines: [[UInt8]]) -> AcceptEncoding {
    var field = AcceptEncoding()
    for line in lines {
        line.withUnsafeBytes { field.add($0) }
    }
    return field
}

private let everyCodingSet: [CodingSet] = (0..<16).map { CodingSet(rawValue: UInt8($0)) }

/// Choices with every coding available (a `.br` and a `.zst` sidecar beside a compressible file), in the server's
/// standard order (br, zstd, gzip) among equal weights.
private let allCodingsCases: [NegotiationCase] = [
    .init("gzip, deflate, br, zstd", .br),
    .init("gzip, zstd", .zstd),
    .init("zstd;q=0.5, gzip", .gzip),
    .init("br;q=0, *", .zstd),
    .init("*;q=0.5", .br),
    .init("ZSTD", .zstd),
    .init("zstd;q=0, zstd", .zstd),
    .init("zstd, zstd;q=0", .identity),
    .init("zstd;q=0.001, identity;q=0.001", .zstd),
    .init("identity;q=0, zstd;q=0", nil),
]


// MARK: - Tables

/// Available = [identity, gzip]: a compressible file (HTML, CSS, JS, JSON, SVG …).
private let identityGzipCases: [NegotiationCase] = [
    // The section's own examples (RFC 9110 §12.5.3).
    .init("compress, gzip", .gzip),
    .init("", .identity),  // "does not want any content coding in response"
    .init("*", .gzip),
    .init("compress;q=0.5, gzip;q=1.0", .gzip),
    .init("gzip;q=1.0, identity; q=0.5, *;q=0", .gzip),
    // Codings are case-insensitive (§8.4.1); x-gzip is gzip (§8.4.1.3).
    .init("gzip", .gzip),
    .init("GZIP", .gzip),
    .init("GzIp", .gzip),
    .init("x-gzip", .gzip),
    .init("X-GZip", .gzip),
    .init("identity", .identity),
    .init("IDENTITY", .identity),
    // Browsers.
    .init("gzip, deflate, br", .gzip),
    .init("gzip, deflate, br, zstd", .gzip),
    .init("gzip, deflate", .gzip),
    // Codings we do not offer are never chosen: fall back to identity.
    .init("deflate", .identity),
    .init("deflate, compress, zstd", .identity),
    .init("br", .identity),
    .init("br, gzip;q=0.5", .gzip),
    .init("zstd;q=1, gzip;q=0.1", .gzip),
    // Empty value, OWS only, empty list elements (§5.6.1.2).
    .init("   ", .identity),
    .init("\t", .identity),
    .init(",,, gzip ,,", .gzip),
    .init(" , ,\t,", .identity),
    // OWS around commas and ";" (§12.4.2: weight = OWS ";" OWS "q=" qvalue), trimmed or not.
    .init("  gzip  ", .gzip),
    .init("gzip ; q=0.5 , identity ; q=0.6", .identity),
    .init("identity;q=0 ,\tgzip\t;\tq=0.2", .gzip),
    .init("gzip;q=0.5,identity;q=0.6", .identity),
    // q-values (§12.4.2): the accepted spellings.
    .init("gzip;q=1", .gzip),
    .init("gzip;q=1.", .gzip),
    .init("gzip;q=1.0", .gzip),
    .init("gzip;q=1.000", .gzip),
    .init("gzip;q=0.5", .gzip),  // beats an unmentioned identity (0.001)
    .init("gzip;q=0.001", .gzip),  // ties with the unmentioned identity: compression wins
    .init("gzip;q=0", .identity),
    .init("gzip;q=0.", .identity),
    .init("gzip;q=0.000", .identity),
    .init("gzip;Q=0.3, identity;q=0.4", .identity),  // "Q" is the weight too
    .init("gzip;q=0.3, identity;Q=0.4", .identity),
    .init("gzip;Q=0", .identity),
    // Invalid qvalue: the element is ignored (gzip then unlisted → not acceptable → identity).
    .init("gzip;q=2", .identity),
    .init("gzip;q=0.1234", .identity),
    .init("gzip;q=abc", .identity),
    .init("gzip;q=", .identity),
    .init("gzip;q=1.5", .identity),
    .init("gzip;q=1.001", .identity),
    .init("gzip;q=.5", .identity),
    .init("gzip;q=-0", .identity),
    .init("gzip;q=00.5", .identity),
    .init("gzip;q=1.0000", .identity),
    .init("gzip;q=\"0.5\"", .identity),  // a weight is never quoted
    .init("gzip;q=0.5;q=1", .identity),  // two weights: ignored
    .init("gzip;q", .identity),  // parameter without "="
    .init("gzip;q =0.5", .identity),  // §5.6.6: no whitespace around "="
    .init("gzip;q= 0.5", .identity),
    // An invalid element is ignored whole — it does not cancel a valid one.
    .init("gzip;q=2, identity;q=0, gzip", .gzip),
    .init("identity;q=0, gzip;q=abc", nil),
    // Weights decide; ties prefer compression.
    .init("gzip;q=0.5, identity", .identity),
    .init("gzip;q=0.5, identity;q=0.5", .gzip),
    .init("gzip;q=0.4, identity;q=0.5", .identity),
    .init("identity;q=1, gzip;q=0.999", .identity),
    .init("gzip;q=0, identity;q=0.001", .identity),
    // Weight 0 = not acceptable; identity acceptable unless identity;q=0 or *;q=0 without an identity entry.
    .init("identity;q=0", nil),
    .init("identity;q=0, gzip", .gzip),
    .init("identity;q=0, x-gzip", .gzip),
    .init("identity;q=0, *", .gzip),
    .init("identity;q=0, deflate", nil),
    .init("gzip;q=0, identity;q=0", nil),
    .init("*;q=0", nil),
    .init("*;q=0, deflate", nil),
    .init("*;q=0, gzip", .gzip),
    .init("*;q=0, identity", .identity),
    .init("*;q=0, identity;q=0.5", .identity),
    .init("*, identity;q=0", .gzip),
    .init("gzip;q=0, *", .identity),
    .init("*;q=0.5, gzip;q=0.4", .identity),  // identity gets *'s 0.5
    .init("*;q=0.5", .gzip),
    // Other parameters are ignored, before or after q; a quoted value may hold "," and ";".
    .init("gzip;level=9", .gzip),
    .init("gzip;level=9;q=0", .identity),
    .init("gzip;q=0;level=9", .identity),
    .init("gzip;foo=\"a,b;q=1\";q=0", .identity),
    .init("gzip;foo=\"a\\\"b, identity\"", .gzip),  // quoted-pair \" stays inside the string
    .init("gzip;foo=\"unterminated, identity;q=0", .identity),
    .init("gzip;", .gzip),  // empty parameter (§5.6.6)
    .init("gzip;;q=0.5", .gzip),
    .init("gzip; ;q=0", .identity),
    .init("gzip;=1", .identity),  // parameter with an empty name: malformed
    .init("gzip;foo=", .identity),  // parameter with an empty value: malformed
    // A coding listed twice: the last element wins (gzip and x-gzip are one coding).
    .init("gzip;q=0, gzip", .gzip),
    .init("gzip, gzip;q=0", .identity),
    .init("x-gzip;q=0, gzip;q=0.5", .gzip),
    .init("gzip, x-gzip;q=0", .identity),
    .init("identity;q=0, identity", .identity),
    .init("identity, identity;q=0", nil),
    .init("*;q=0, *", .gzip),
    // Garbage.
    .init(";q=0.5", .identity),
    .init("\"gzip\"", .identity),
    .init("gzip deflate", .identity),  // a missing comma makes one malformed element
    .init("gzip/1", .identity),
    .init("gzíp", .identity),
    .init("gzip\u{7F}", .identity),
    .init("gzipgzip", .identity),
    .init("gzi", .identity),
    .init("identityx", .identity),
    .init("@@@, gzip", .gzip),
]

/// Available = [identity, gzip, br].
private let identityGzipBrCases: [NegotiationCase] = [
    .init("gzip, deflate, br", .br),
    .init("gzip, deflate, br, zstd", .br),
    .init("br", .br),
    .init("BR", .br),
    .init("br, gzip", .br),
    .init("gzip, br", .br),  // tie: br > gzip
    .init("br;q=0.9, gzip;q=0.9", .br),
    .init("br;q=0.5, gzip", .gzip),
    .init("gzip;q=0.002, br;q=0.001", .gzip),
    .init("br;q=0.001", .br),
    .init("br;q=0, *", .gzip),
    .init("*", .br),
    .init("*;q=0.5, gzip", .gzip),
    .init("identity, br;q=0.5", .identity),
    .init("identity;q=0.5, br;q=0.5, gzip;q=0.5", .br),
    .init("gzip;q=0, br;q=0", .identity),
    .init("identity;q=0, *;q=0.1", .br),
    .init("*;q=0", nil),
    .init("zstd, br;q=0.9, gzip;q=0.8", .br),
    .init("deflate", .identity),
    .init("", .identity),
    .init("br;q=abc, gzip", .gzip),
    .init("br, br;q=0", .identity),
]

/// Available = [identity]: a resource not worth compressing (JPEG, PNG, zip, video …).
private let identityOnlyCases: [NegotiationCase] = [
    .init("identity;q=0, gzip", nil),
    .init("identity;q=0, gzip, br", nil),
    .init("*;q=0", nil),
    .init("*;q=0, gzip", nil),
    .init("*;q=0, identity;q=0.1", .identity),
    .init("gzip", .identity),
    .init("br, gzip", .identity),
    .init("gzip;q=1, identity;q=0.5", .identity),
    .init("gzip, deflate, br", .identity),
    .init("", .identity),
    .init("*", .identity),
]

/// Available = [gzip]: a resource that exists only precompressed.
private let gzipOnlyCases: [NegotiationCase] = [
    .init("gzip", .gzip),
    .init("*", .gzip),
    .init("gzip;q=0.1, identity", .gzip),
    .init("", nil),
    .init("identity", nil),
    .init("br", nil),
    .init("gzip;q=0", nil),
]

/// Several Accept-Encoding field lines: they combine as one list, in order (RFC 9110 §5.3).
private let multiLineCases: [NegotiationCase] = [
    .init(lines: ["gzip", "br"], .br),
    .init(lines: ["br;q=0.5", "gzip"], .gzip),
    .init(lines: ["gzip", "gzip;q=0"], .identity),  // last one wins across lines
    .init(lines: ["gzip;q=0", "gzip"], .gzip),
    .init(lines: ["identity;q=0", "gzip"], .gzip),
    .init(lines: ["identity;q=0", "deflate"], nil),
    .init(lines: ["*;q=0", "identity"], .identity),
    .init(lines: ["", "gzip"], .gzip),
    .init(lines: ["gzip", ""], .gzip),
    .init(lines: ["", ""], .identity),
    .init(lines: [" gzip ;q=0.3 ", " identity;q=0.2 ", " br ; q=0.4"], .br),
    .init(lines: ["gzip;q=2", "br;q=0.1"], .br),
    .init(lines: ["deflate", "compress", "x-gzip"], .gzip),
]

// MARK: - Tests

@Suite("EncodingNegotiator: RFC 9110 §12.5.3 Accept-Encoding")
struct EncodingNegotiatorTests {
    @Test("RFC 9110 §12.5.3: choice with available [identity, gzip]", arguments: identityGzipCases)
    func identityGzip(_ c: NegotiationCase) {
        #expect(acceptEncoding(c.lines).choose(from: [.identity, .gzip]) == c.expected)
    }

    @Test("RFC 9110 §12.5.3: choice with available [identity, gzip, br]", arguments: identityGzipBrCases)
    func identityGzipBr(_ c: NegotiationCase) {
        #expect(acceptEncoding(c.lines).choose(from: [.identity, .gzip, .br]) == c.expected)
    }

    @Test("RFC 9110 §12.5.3: choice with available [identity, gzip, br, zstd], server order br, zstd, gzip", arguments: allCodingsCases)
    func allCodings(_ c: NegotiationCase) {
        #expect(acceptEncoding(c.lines).choose(from: [.identity, .gzip, .br, .zstd]) == c.expected)
    }

    @Test("Among equal weights the server's order decides; a compression left out of it is never chosen")
    func preferenceOrder() {
        let all: CodingSet = [.identity, .gzip, .br, .zstd]
        let equal = acceptEncoding(["br, zstd, gzip"])
        #expect(equal.choose(from: all, preference: EncodingPreference([.gzip, .zstd, .br])) == .gzip)
        #expect(equal.choose(from: all, preference: EncodingPreference([.zstd, .br, .gzip])) == .zstd)
        // Only zstd on (`--encodings zstd`): gzip and br are off even when the client prefers them.
        let zstdOnly = EncodingPreference([.zstd])
        #expect(acceptEncoding(["gzip, br"]).choose(from: all, preference: zstdOnly) == .identity)
        #expect(acceptEncoding(["gzip, br;q=0.9, zstd;q=0.1"]).choose(from: all, preference: zstdOnly) == .zstd)
        // A higher weight still beats the server's order.
        #expect(acceptEncoding(["br;q=0.5, gzip"]).choose(from: all, preference: .standard) == .gzip)
        #expect(EncodingPreference.standard.order == [.br, .zstd, .gzip])
    }

    @Test("RFC 9110 §12.5.3: choice with available [identity] (not compressible)", arguments: identityOnlyCases)
    func identityOnly(_ c: NegotiationCase) {
        #expect(acceptEncoding(c.lines).choose(from: .identity) == c.expected)
    }

    @Test("RFC 9110 §12.5.3: choice with available [gzip] (precompressed only)", arguments: gzipOnlyCases)
    func gzipOnly(_ c: NegotiationCase) {
        #expect(acceptEncoding(c.lines).choose(from: .gzip) == c.expected)
    }

    @Test("RFC 9110 §12.5.3 + §5.3: several field lines combine as one list", arguments: multiLineCases)
    func multipleLines(_ c: NegotiationCase) {
        #expect(acceptEncoding(c.lines).choose(from: [.identity, .gzip, .br]) == c.expected)
    }

    @Test(
        "RFC 9110 §5.3: adding field lines one by one equals adding them joined by \", \"",
        // Not the unterminated quoted string: within one line it runs to the line's end, in a joined value it
        // would swallow the next line's elements too.
        arguments: multiLineCases
            + identityGzipCases.filter { !$0.lines[0].contains("unterminated") }
            .map { NegotiationCase(lines: $0.lines + ["br;q=0.7"], nil) }
    )
    func linesEqualCombinedValue(_ c: NegotiationCase) {
        let separate = acceptEncoding(c.lines)
        let combined = acceptEncoding([c.lines.joined(separator: ", ")])
        for available in everyCodingSet {
            #expect(separate.choose(from: available) == combined.choose(from: available))
        }
        for coding in [ContentCoding.identity, .gzip, .br, .zstd] {
            #expect(separate.accepts(coding) == combined.accepts(coding))
        }
    }

    @Test("RFC 9110 §12.5.3 rule 1: no Accept-Encoding field → identity when offered (untested clients)")
    func noField() {
        let none = AcceptEncoding()
        #expect(!none.isPresent)
        #expect(none.choose(from: [.identity, .gzip, .br]) == .identity)
        #expect(none.choose(from: [.identity, .gzip]) == .identity)
        #expect(none.choose(from: .identity) == .identity)
        #expect(none.choose(from: [.gzip, .br]) == .gzip)
        #expect(none.choose(from: .gzip) == .gzip)
        #expect(none.choose(from: .br) == .br)
        #expect(none.choose(from: [.br, .zstd]) == .br)
        #expect(none.choose(from: .zstd) == .zstd)
        #expect(none.choose(from: []) == nil)
        // "any content coding is considered acceptable by the user agent"
        #expect(none.accepts(.identity) && none.accepts(.gzip) && none.accepts(.br))
    }

    @Test("RFC 9110 §12.5.3: an empty field value is present and accepts identity only")
    func emptyField() {
        var field = AcceptEncoding()
        field.add(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(field.isPresent)
        #expect(field.accepts(.identity))
        #expect(!field.accepts(.gzip))
        #expect(!field.accepts(.br))
        #expect(field.choose(from: [.identity, .gzip, .br]) == .identity)
        #expect(field.choose(from: [.gzip, .br]) == nil)
    }

    @Test("Choosing from an empty CodingSet is always nil")
    func nothingAvailable() {
        #expect(acceptEncoding(["*"]).choose(from: []) == nil)
        #expect(acceptEncoding([""]).choose(from: []) == nil)
    }

    @Test(
        "RFC 9110 §12.5.3: accepts() is weight > 0, explicit or via *",
        arguments: [
            ("gzip", ContentCoding.gzip, true),
            ("gzip", .br, false),
            ("gzip", .identity, true),  // identity acceptable by default
            ("gzip;q=0", .gzip, false),
            ("gzip;q=0.001", .gzip, true),
            ("x-gzip", .gzip, true),
            ("*", .br, true),
            ("*", .identity, true),
            ("*;q=0", .identity, false),
            ("*;q=0", .gzip, false),
            ("*;q=0, identity", .identity, true),
            ("*;q=0, identity", .gzip, false),
            ("identity;q=0", .identity, false),
            ("identity;q=0, *", .identity, false),  // explicit identity entry beats *
            ("identity;q=0, *", .gzip, true),
            ("br;q=0.5", .br, true),
            ("BR;Q=0", .br, false),
            ("br;q=5", .br, false),  // invalid element ignored: br unlisted
            ("deflate", .identity, true),
        ] as [(String, ContentCoding, Bool)]
    )
    func accepts(_ value: String, _ coding: ContentCoding, _ expected: Bool) {
        #expect(acceptEncoding([value]).accepts(coding) == expected)
    }

    @Test(
        "RFC 9110 §12.4.2: qvalue = ( \"0\" [ \".\" 0*3DIGIT ] ) / ( \"1\" [ \".\" 0*3(\"0\") ] ), in thousandths",
        arguments: [
            ("0", 0), ("0.", 0), ("0.0", 0), ("0.000", 0), ("0.5", 500), ("0.05", 50), ("0.005", 5),
            ("0.123", 123), ("0.99", 990), ("0.999", 999), ("1", 1000), ("1.", 1000), ("1.0", 1000),
            ("1.00", 1000), ("1.000", 1000),
            ("", nil), ("2", nil), ("0.1234", nil), ("1.001", nil), ("1.5", nil), ("1.0000", nil), ("abc", nil),
            (".5", nil), ("00", nil), ("01", nil), ("0.a", nil), ("0.5x", nil), ("-0", nil), ("0.5.", nil),
            ("9", nil), ("0.-1", nil),
        ] as [(String, Int?)]
    )
    func qvalue(_ text: String, _ expected: Int?) {
        // Parse a prefix of a longer buffer: a valid pointer even for "", and a trailing "9" that would change
        // the answer if the parser read past the end it was given.
        let bytes = Array(text.utf8)
        let padded = bytes + [UInt8(ascii: "9")]
        let parsed = padded.withUnsafeBytes { AcceptEncoding.parseQvalue($0.baseAddress!, from: 0, to: bytes.count) }
        #expect(parsed.map(Int.init) == expected)
        // And the same value as a weight on gzip.
        let field = acceptEncoding(["gzip;q=\(text)"])
        #expect(field.gzipWeight == (expected.map(UInt16.init) ?? AcceptEncoding.unlisted))
    }

    @Test("RFC 9110 §5.6.2: the tchar set matches the grammar for all 256 byte values")
    func tcharTable() {
        let tchars = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        for b in 0...255 {
            #expect(AcceptEncoding.isTchar(UInt8(b)) == tchars.contains(UInt8(b)), "byte \(b)")
        }
    }

    @Test("The parser reads only the given bytes (a value inside a larger buffer)")
    func readsOnlyTheSlice() {
        let buffer = Array("gzip;q=0.5XYZ, identity;q=0.9".utf8)
        var field = AcceptEncoding()
        buffer.withUnsafeBytes { field.add(UnsafeRawBufferPointer(rebasing: $0[0..<10])) }
        #expect(field.gzipWeight == 500)
        #expect(field.identityWeight == AcceptEncoding.unlisted)
        #expect(field.choose(from: [.identity, .gzip]) == .gzip)
    }

    @Test("A very long Accept-Encoding value (1 MB) is parsed in one pass without trapping")
    func longValue() {
        var value = [UInt8]()
        let filler = Array("deflate;q=0.5, compress;foo=\"a,b\", ,, zstd;q=0.9, ".utf8)
        while value.count < 1 << 20 { value += filler }
        value += Array("gzip;q=0.8".utf8)
        let field = acceptEncoding(bytes: [value])
        #expect(field.choose(from: [.identity, .gzip, .br]) == .gzip)
        // A single huge token and a huge run of OWS.
        let token = [UInt8](repeating: UInt8(ascii: "g"), count: 1 << 20)
        #expect(acceptEncoding(bytes: [token]).choose(from: [.identity, .gzip]) == .identity)
        let spaces = [UInt8](repeating: 0x20, count: 1 << 20) + Array("gzip".utf8)
        #expect(acceptEncoding(bytes: [spaces]).choose(from: [.identity, .gzip]) == .gzip)
        let semicolons = Array("gzip".utf8) + [UInt8](repeating: 0x3B, count: 1 << 20)
        #expect(acceptEncoding(bytes: [semicolons]).choose(from: [.identity, .gzip]) == .gzip)
        let quote = Array("gzip;a=\"".utf8) + [UInt8](repeating: 0x5C, count: (1 << 20) + 1)
        #expect(acceptEncoding(bytes: [quote]).choose(from: [.identity, .gzip]) == .identity)
    }

    @Test("Garbage never traps and never yields a coding that is not available")
    func garbage() {
        var rng = SplitMix64(state: 0x5EED_0001)
        // Random bytes and random mixes of the grammar's own pieces.
        let pieces = ["gzip", "br", "identity", "x-gzip", "*", ";", ",", " ", "\t", "q=", "Q=", "0", "1", ".",
                      "5", "\"", "\\", "=", "deflate", "\u{0}", "\u{FF}"].map { Array($0.utf8) }
        for round in 0..<4000 {
            var value = [UInt8]()
            let length = Int(rng.next() % 64)
            for _ in 0..<length {
                if round % 2 == 0 {
                    value.append(UInt8(truncatingIfNeeded: rng.next()))
                } else {
                    value += pieces[Int(rng.next() % UInt64(pieces.count))]
                }
            }
            let field = acceptEncoding(bytes: [value])
            for available in everyCodingSet {
                if let chosen = field.choose(from: available) {
                    #expect(available.contains(CodingSet(rawValue: 1 << chosen.rawValue)))
                    #expect(field.accepts(chosen))
                }
            }
        }
        // Every prefix of a rich value.
        let rich = Array("gzip;foo=\"a,\\\"b\";q=0.5 , br ; Q=1.000,identity;q=0,*;q=0.001, x-gzip;q=0.2".utf8)
        for end in 0...rich.count {
            let field = acceptEncoding(bytes: [Array(rich[0..<end])])
            _ = field.choose(from: [.identity, .gzip, .br])
        }
        #expect(acceptEncoding(bytes: [rich]).choose(from: [.identity, .gzip, .br]) == .br)
    }

    @Test("AcceptEncoding and the coding types are small trivial values")
    func layout() {
        #expect(MemoryLayout<AcceptEncoding>.size <= 16)
        #expect(MemoryLayout<ContentCoding>.size == 1)
        #expect(MemoryLayout<CodingSet>.size == 1)
        #expect(_isPOD(AcceptEncoding.self))
    }
}

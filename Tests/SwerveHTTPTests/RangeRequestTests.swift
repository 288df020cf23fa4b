import SwerveTestSupport
import Testing
@testable import SwerveHTTP

// MARK: - Helpers

private func parse(_ value: String, length: Int) -> RangeOutcome {
    Array(value.utf8).withUnsafeBytes { RangeRequest.parse($0, length: length) }
}

/// What a parse produced, comparable and printable: "none", "416" or "0-499,9500-9999".
private func describe(_ outcome: RangeOutcome) -> String {
    switch outcome {
    case .none: return "none"
    case .unsatisfiable: return "416"
    case .satisfiable(let ranges): return ranges.map { "\($0.first)-\($0.last)" }.joined(separator: ",")
    }
}

/// Renders with a fresh ByteWriter into a String.
private func render(capacity: Int = 4096, _ body: (inout ByteWriter) -> Void) -> String {
    var storage = [UInt8](repeating: 0, count: capacity)
    let count = storage.withUnsafeMutableBytes { buffer -> Int in
        var w = ByteWriter(buffer)
        body(&w)
        return w.count
    }
    return String(decoding: storage[0..<count], as: UTF8.self)
}


struct RangeRow: Sendable, CustomTestStringConvertible {
    let section: String
    let value: String
    var length: Int = 10_000
    let expected: String

    var testDescription: String { "\(section): \(value.debugDescription) / \(length)" }
}

private let seventeen = (0..<17).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ",")
private let sixteen = (0..<16).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ",")

private let rows: [RangeRow] = [
    // §14.1.2 examples (length 10000).
    .init(section: "§14.1.2 first 500 bytes", value: "bytes=0-499", expected: "0-499"),
    .init(section: "§14.1.2 second 500 bytes", value: "bytes=500-999", expected: "500-999"),
    .init(section: "§14.1.2 final 500 bytes (suffix)", value: "bytes=-500", expected: "9500-9999"),
    .init(section: "§14.1.2 final 500 bytes (open int-range)", value: "bytes=9500-", expected: "9500-9999"),
    .init(section: "§14.1.2 first and last bytes", value: "bytes=0-0,-1", expected: "0-0,9999-9999"),
    .init(section: "§14.1.2 first, middle and last 1000 (OWS)", value: "bytes= 0-999, 4500-5499, -1000",
          expected: "0-999,4500-5499,9000-9999"),
    .init(section: "§14.1.2 adjacent ranges coalesce", value: "bytes=500-600,601-999", expected: "500-999"),
    .init(section: "§14.1.2 overlapping ranges coalesce", value: "bytes=500-700,601-999", expected: "500-999"),
    // §14.1.2 clamping and satisfiability.
    .init(section: "§14.1.2 last-pos past the end is clamped", value: "bytes=0-99999", length: 1234,
          expected: "0-1233"),
    .init(section: "§14.1.2 huge last-pos (overflow) is clamped", value: "bytes=0-99999999999999999999",
          length: 1234, expected: "0-1233"),
    .init(section: "§14.1.2 huge first-pos (overflow) is unsatisfiable", value: "bytes=99999999999999999999-",
          length: 1234, expected: "416"),
    .init(section: "§14.1.2 suffix longer than the representation → whole", value: "bytes=-20000",
          expected: "0-9999"),
    .init(section: "§14.1.2 huge suffix (overflow) → whole", value: "bytes=-99999999999999999999999",
          expected: "0-9999"),
    .init(section: "§14.1.2 suffix-length 0 is unsatisfiable", value: "bytes=-0", expected: "416"),
    .init(section: "§14.1.2 first-pos = length is unsatisfiable", value: "bytes=10000-", expected: "416"),
    .init(section: "§14.1.2 first-pos = length on 1-byte file", value: "bytes=1-1", length: 1, expected: "416"),
    .init(section: "§14.1.1 one satisfiable spec makes the set satisfiable", value: "bytes=10000-,0-0",
          expected: "0-0"),
    .init(section: "§14.1.1 unsatisfiable specs are dropped", value: "bytes=-0,20000-30000,5-5",
          expected: "5-5"),
    .init(section: "§14.1.2 whole 1-byte file via suffix", value: "bytes=-1", length: 1, expected: "0-0"),
    .init(section: "§14.1.2 whole 1-byte file via open range", value: "bytes=0-", length: 1, expected: "0-0"),
    .init(section: "§14.1.2 leading zeros", value: "bytes=000000000000000000000000001-0002", expected: "1-2"),
    // §14.1.1 invalid → ignored (200).
    .init(section: "§14.1.1 reversed int-range is invalid", value: "bytes=5-3", expected: "none"),
    .init(section: "§14.1.1 reversed with a huge first-pos", value: "bytes=99999999999999999999-5", expected: "none"),
    .init(section: "§14.1.1 reversed, both huge (exact digit comparison)",
          value: "bytes=99999999999999999999-99999999999999999998", expected: "none"),
    .init(section: "§14.1.1 ascending, both huge → unsatisfiable",
          value: "bytes=99999999999999999998-99999999999999999999", expected: "416"),
    .init(section: "§14.1.1 one invalid spec invalidates the set", value: "bytes=0-1,5-3", expected: "none"),
    .init(section: "§14.1.1 other-range text is not a bytes range", value: "bytes=abc", expected: "none"),
    .init(section: "§14.1.1 two dashes", value: "bytes=0-1-2", expected: "none"),
    .init(section: "§14.1.1 spaces inside a spec", value: "bytes=1 - 2", expected: "none"),
    .init(section: "§14.1.1 semicolon separator", value: "bytes=0-1;2-3", expected: "none"),
    .init(section: "§14.1.1 sign", value: "bytes=+1-2", expected: "none"),
    .init(section: "§14.1.1 hex", value: "bytes=0x10-20", expected: "none"),
    .init(section: "§14.1.1 bare dash", value: "bytes=-", expected: "none"),
    .init(section: "§14.1.1 empty range-set", value: "bytes=", expected: "none"),
    .init(section: "§14.1.1 only empty elements", value: "bytes= , ,", expected: "none"),
    .init(section: "§14.1.1 no '='", value: "bytes", expected: "none"),
    .init(section: "§14.1.1 space before '='", value: "bytes =0-1", expected: "none"),
    // §14.1 units.
    .init(section: "§14.1 unit is case-insensitive (BYTES)", value: "BYTES=0-1", expected: "0-1"),
    .init(section: "§14.1 unit is case-insensitive (Bytes)", value: "Bytes=0-1", expected: "0-1"),
    .init(section: "§14.2 unknown unit is ignored", value: "items=0-1", expected: "none"),
    .init(section: "§14.2 unit prefix only", value: "bytesx=0-1", expected: "none"),
    // §5.6.1 list syntax.
    .init(section: "§5.6.1.2 empty list elements ignored", value: "bytes=,0-1,,", expected: "0-1"),
    .init(section: "§5.6.1 HTAB as OWS", value: "bytes=0-1\t,\t5-6", expected: "0-1,5-6"),
    // Coalescing (§15.3.7.2) and ordering.
    .init(section: "§15.3.7.2 duplicates coalesce", value: "bytes=0-0,0-0", expected: "0-0"),
    .init(section: "§15.3.7.2 out of order, adjacent → one", value: "bytes=20-29,0-9,10-19", expected: "0-29"),
    .init(section: "§15.3.7.2 out of order, gap kept → sorted", value: "bytes=20-29,0-5", expected: "0-5,20-29"),
    .init(section: "§15.3.7.2 contained range absorbed", value: "bytes=0-100,10-20,-10", expected: "0-100,9990-9999"),
    .init(section: "§15.3.7.2 suffix overlapping an int-range", value: "bytes=9000-9500,-1000",
          expected: "9000-9999"),
    // §14.2 limits.
    .init(section: "§14.2 sixteen ranges honoured", value: "bytes=" + sixteen, expected:
          (0..<16).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ",")),
    .init(section: "§14.2 seventeen ranges → ignored (200)", value: "bytes=" + seventeen, expected: "none"),
    .init(section: "§14.2 seventeen specs even if unsatisfiable → ignored",
          value: "bytes=0-1" + String(repeating: ",-0", count: 16), expected: "none"),
    .init(section: "§14.2 zero-length representation: int-range → ignored", value: "bytes=0-0", length: 0,
          expected: "none"),
    .init(section: "§14.2 zero-length representation: suffix → ignored", value: "bytes=-1", length: 0,
          expected: "none"),
]

@Suite("RangeRequest")
struct RangeRequestTests {
    @Test("RFC 9110 §14.1.1, §14.1.2, §14.2 table", arguments: rows)
    func table(_ row: RangeRow) {
        #expect(describe(parse(row.value, length: row.length)) == row.expected)
    }

    @Test("ByteRange count and ByteRanges equality look at stored ranges only")
    func byteRanges() {
        #expect(ByteRange(first: 5, last: 9).count == 5)
        var a = ByteRanges([ByteRange(first: 0, last: 1), ByteRange(first: 4, last: 4)])
        let b = ByteRanges([ByteRange(first: 0, last: 1), ByteRange(first: 4, last: 4)])
        #expect(a == b && a.count == 2 && a.byteCount == 3)
        a[1] = ByteRange(first: 4, last: 5)
        #expect(a != b)
        #expect(ByteRanges() == ByteRanges())
        #expect(MemoryLayout<ByteRanges>.size == 8 + 16 * 16)
    }

    // MARK: - §14.4 Content-Range

    @Test("§14.4 Content-Range rendering and its length")
    func contentRange() {
        let r = ByteRange(first: 0, last: 99)
        #expect(render { ContentRange.render(r, completeLength: 1234, into: &$0) } == "bytes 0-99/1234")
        #expect(render { ContentRange.renderUnsatisfied(completeLength: 1234, into: &$0) } == "bytes */1234")
        #expect(render { ContentRange.render(ByteRange(first: 42, last: 1233), completeLength: 1234, into: &$0) }
            == "bytes 42-1233/1234")
        for (first, last, total) in [(0, 0, 1), (9, 10, 11), (999_999, 1_000_000, 1_000_001),
                                     (Int.max - 2, Int.max - 1, Int.max)] {
            let range = ByteRange(first: first, last: last)
            let text = render { ContentRange.render(range, completeLength: total, into: &$0) }
            #expect(text.utf8.count == ContentRange.length(of: range, completeLength: total))
            #expect(text.utf8.count <= ContentRange.maxLength)
        }
    }

    // MARK: - §14.6 multipart/byteranges

    @Test("§14.6 multipart boundary: 20 characters of 0-9a-zA-Z, fresh each time")
    func boundary() {
        let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var seen = Set<String>()
        for _ in 0..<200 {
            var random = SystemRandomNumberGenerator()
            let m = MultipartByteranges(using: &random)
            #expect(m.boundary.count == 20)
            #expect(m.boundary.allSatisfy { allowed.contains($0) })
            seen.insert(m.boundary)
        }
        #expect(seen.count == 200)
        // Every character of the alphabet shows up over many draws (no truncated alphabet).
        var rng = SplitMix64(state: 7)
        var chars = Set<Character>()
        for _ in 0..<500 { chars.formUnion(MultipartByteranges(using: &rng).boundary) }
        #expect(chars == allowed)
        #expect(MultipartByteranges(boundary: "short") == nil)
        #expect(MultipartByteranges(boundary: "abcdefghij0123456789") != nil)
        #expect(MultipartByteranges(boundary: "abcdefghij012345678-") == nil)
    }

    @Test("§14.6 multipart framing is byte-exact and bodyLength matches it")
    func multipartFraming() throws {
        let m = try #require(MultipartByteranges(boundary: "THIS0STRING0SEPARATE"))
        #expect(render { m.contentType(into: &$0) } == "multipart/byteranges; boundary=THIS0STRING0SEPARATE")
        #expect(render { m.contentType(into: &$0) }.utf8.count == MultipartByteranges.contentTypeLength)
        let type = Array("video/example".utf8)
        let header = type.withUnsafeBytes { t in
            render { m.partHeader(ByteRange(first: 0, last: 99), contentType: t, totalLength: 1234, into: &$0) }
        }
        #expect(header == "\r\n--THIS0STRING0SEPARATE\r\nContent-Type: video/example\r\nContent-Range: bytes 0-99/1234\r\n\r\n")
        let noType = render { m.partHeader(ByteRange(first: 5, last: 6), contentType: nil, totalLength: 7, into: &$0) }
        #expect(noType == "\r\n--THIS0STRING0SEPARATE\r\nContent-Range: bytes 5-6/7\r\n\r\n")
        #expect(render { m.closing(into: &$0) } == "\r\n--THIS0STRING0SEPARATE--\r\n")
        #expect(render { m.boundary(into: &$0) } == "THIS0STRING0SEPARATE")
        #expect(MultipartByteranges.closingLength == 28)
    }

    @Test("§14.6 bodyLength equals the rendered body for many range sets, with and without Content-Type")
    func multipartBodyLength() {
        var rng = SplitMix64(state: 0x5EED_2001)
        let m = MultipartByteranges(using: &rng)
        let type = Array("text/html; charset=utf-8".utf8)
        for _ in 0..<500 {
            let length = Int.random(in: 1...5_000_000, using: &rng)
            let specs = (0..<Int.random(in: 1...16, using: &rng)).map { _ -> String in
                let a = Int.random(in: 0..<length, using: &rng)
                return "\(a)-\(Int.random(in: a..<length, using: &rng))"
            }
            guard case .satisfiable(let ranges) = parse("bytes=" + specs.joined(separator: ","), length: length)
            else {
                Issue.record("expected satisfiable")
                continue
            }
            for withType in [true, false] {
                var rendered = 0
                type.withUnsafeBytes { t in
                    for r in ranges {
                        rendered += render {
                            m.partHeader(r, contentType: withType ? t : nil, totalLength: length, into: &$0)
                        }.utf8.count
                        rendered += r.count // the file bytes
                    }
                }
                rendered += render { m.closing(into: &$0) }.utf8.count
                #expect(rendered == MultipartByteranges.bodyLength(
                    ranges, contentTypeLength: withType ? type.count : nil, totalLength: length))
            }
        }
    }

    // MARK: - Property / fuzz

    /// A slow, obviously-correct model on Strings and arrays (numbers up to 9 digits, so no overflow).
    private static func model(_ value: String, length: Int) -> String {
        guard length > 0 else { return "none" }
        guard value.count > 6, value.prefix(6).lowercased() == "bytes=" else { return "none" }
        let elements = value.dropFirst(6).split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: " \t") }
            .filter { !$0.isEmpty }
        guard !elements.isEmpty, elements.count <= 16 else { return "none" }
        var ranges: [(Int, Int)] = []
        for e in elements {
            let parts = e.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }) else { return "none" }
            if parts[0].isEmpty {
                guard let n = Int(parts[1]) else { return "none" }
                if n > 0 { ranges.append((max(0, length - n), length - 1)) }
            } else {
                guard let first = Int(parts[0]) else { return "none" }
                let last = parts[1].isEmpty ? nil : Int(parts[1])
                if let last, last < first { return "none" }
                if first < length { ranges.append((first, min(last ?? Int.max, length - 1))) }
            }
        }
        guard !ranges.isEmpty else { return "416" }
        ranges.sort { $0.0 < $1.0 }
        var merged: [(Int, Int)] = [ranges[0]]
        for r in ranges.dropFirst() {
            if r.0 <= merged[merged.count - 1].1 + 1 {
                merged[merged.count - 1].1 = max(merged[merged.count - 1].1, r.1)
            } else {
                merged.append(r)
            }
        }
        return merged.map { "\($0.0)-\($0.1)" }.joined(separator: ",")
    }

    @Test("Property: random Range values never trap, satisfy the invariants and agree with a model")
    func fuzz() {
        var rng = SplitMix64(state: 0x5EED_2002)
        let noise = Array("bytesBYTES=0123456789-, \t;x*\u{0}é".unicodeScalars.map(Character.init))
        for round in 0..<40_000 {
            let length: Int
            switch round % 5 {
            case 0: length = Int.random(in: 0...3, using: &rng)
            case 1: length = Int.random(in: 0...Int.max, using: &rng)
            default: length = Int.random(in: 0...2_000, using: &rng)
            }
            var value: String
            if round % 4 == 0 {
                // Noise.
                value = String((0..<Int.random(in: 0...30, using: &rng)).map { _ in noise.randomElement(using: &rng)! })
            } else {
                // Well-formed-ish: random specs, OWS, empty elements, sometimes a defect.
                var specs: [String] = []
                for _ in 0..<Int.random(in: 0...18, using: &rng) {
                    let a = Int.random(in: 0...2_100, using: &rng)
                    let b = Int.random(in: 0...2_100, using: &rng)
                    switch Int.random(in: 0..<6, using: &rng) {
                    case 0: specs.append("-\(a)")
                    case 1: specs.append("\(a)-")
                    case 2: specs.append("")
                    case 3: specs.append(" \(min(a, b))-\(max(a, b))\t")
                    default: specs.append("\(min(a, b))-\(max(a, b))")
                    }
                }
                value = (round % 7 == 0 ? "Bytes=" : "bytes=") + specs.joined(separator: ",")
                if round % 11 == 0, !value.isEmpty {
                    var chars = Array(value)
                    chars[Int.random(in: 0..<chars.count, using: &rng)] = noise.randomElement(using: &rng)!
                    value = String(chars)
                }
            }
            let outcome = parse(value, length: length)
            if case .satisfiable(let ranges) = outcome {
                #expect(ranges.count >= 1 && ranges.count <= 16)
                for (k, r) in ranges.enumerated() {
                    #expect(0 <= r.first && r.first <= r.last && r.last < length, "\(value) / \(length)")
                    if k > 0 {
                        // Sorted, disjoint and non-adjacent.
                        #expect(ranges[k - 1].last + 1 < r.first, "\(value) / \(length)")
                    }
                }
            }
            // The model covers values whose numbers fit easily (all of the well-formed-ish ones).
            if length <= 1_000_000_000 && round % 4 != 0 {
                #expect(describe(outcome) == Self.model(value, length: length), "\(value.debugDescription) / \(length)")
            }
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}

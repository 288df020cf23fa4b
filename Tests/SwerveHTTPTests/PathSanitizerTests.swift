import Testing
@testable import SwerveHTTP

// MARK: - Helpers

/// What a sanitiser call produced, in a comparable form.
private enum Sanitized: Equatable, CustomStringConvertible {
    case ok(String, slash: Bool)
    case rejected(PathRejection)

    var description: String {
        switch self {
        case .ok(let path, let slash): return "ok(\"\(path)\", slash: \(slash))"
        case .rejected(let reason): return "rejected(\(reason))"
        }
    }
}

private func sanitizeBytes(
    _ input: [UInt8], showHidden: Bool = false, capacity: Int = PathSanitizer.maximumDecodedPathLength + 12
) -> (outcome: PathSanitizerOutcome, output: [UInt8]) {
    var output = [UInt8](repeating: 0xEE, count: capacity)
    let outcome = input.withUnsafeBytes { inBuf in
        output.withUnsafeMutableBytes { outBuf in
            PathSanitizer.sanitize(inBuf, showHidden: showHidden, into: outBuf)
        }
    }
    if case .accepted(let path) = outcome { return (outcome, Array(output[0..<path.length])) }
    return (outcome, [])
}

private func sanitize(_ input: String, showHidden: Bool = false) -> Sanitized {
    let (outcome, output) = sanitizeBytes(Array(input.utf8), showHidden: showHidden)
    switch outcome {
    case .accepted(let path): return .ok(String(decoding: output, as: UTF8.self), slash: path.hasTrailingSlash)
    case .rejected(let reason): return .rejected(reason)
    }
}

struct SanitizerRow: Sendable, CustomTestStringConvertible {
    let input: String
    let showHidden: Bool
    fileprivate let expected: Sanitized
    var testDescription: String { "\(input.debugDescription) → \(expected)" }

    fileprivate init(_ input: String, _ expected: Sanitized, showHidden: Bool = false) {
        self.input = input
        self.expected = expected
        self.showHidden = showHidden
    }
}

private func ok(_ path: String, slash: Bool = false) -> Sanitized { .ok(path, slash: slash) }
private func no(_ reason: PathRejection) -> Sanitized { .rejected(reason) }

// MARK: - Table

private let sanitizerTable: [SanitizerRow] = [
    // Plain paths and normalisation.
    SanitizerRow("/", ok("", slash: true)),
    SanitizerRow("/index.html", ok("index.html")),
    SanitizerRow("/a/b/c.txt", ok("a/b/c.txt")),
    SanitizerRow("/a//b///c", ok("a/b/c")),
    SanitizerRow("//a", ok("a")),
    SanitizerRow("/a/./b", ok("a/b")),
    SanitizerRow("/a/b/../c", ok("a/c")),
    SanitizerRow("/a/b/..", ok("a", slash: true)),
    SanitizerRow("/a/.", ok("a", slash: true)),
    SanitizerRow("/a/", ok("a", slash: true)),
    SanitizerRow("/a//", ok("a", slash: true)),
    SanitizerRow("/a/..", ok("", slash: true)),
    SanitizerRow("/%2e", ok("", slash: true)),
    SanitizerRow("/a/%2e/b", ok("a/b")),
    SanitizerRow("/a/%2e%2e", ok("", slash: true)),
    SanitizerRow("/a%2fb", ok("a/b")),
    SanitizerRow("/a%2f", ok("a", slash: true)),
    SanitizerRow("/a%20b", ok("a b")),
    SanitizerRow("/a%3fb", ok("a?b")),
    SanitizerRow("/%25", ok("%")),
    SanitizerRow("/a.b.c", ok("a.b.c")),
    SanitizerRow("/a..b", ok("a..b")),
    SanitizerRow("/a?x=1", ok("a")),
    SanitizerRow("/a?x=../..%zz", ok("a")),               // the query is neither decoded nor resolved
    // Decode exactly once.
    SanitizerRow("/%252e%252e/x", ok("%2e%2e/x")),
    SanitizerRow("/%25252e", ok("%252e")),
    // UTF-8: valid.
    SanitizerRow("/caf%c3%a9", ok("café")),
    SanitizerRow("/café", ok("café")),
    SanitizerRow("/caf\u{e9}%2Etxt", ok("café.txt")),
    SanitizerRow("/%f0%9f%98%80.txt", ok("😀.txt")),
    SanitizerRow("/%ed%9f%bf", ok("\u{D7FF}")),           // last code point before the surrogates
    SanitizerRow("/%ee%80%80", ok("\u{E000}")),           // first after them
    SanitizerRow("/%ef%bf%bf", ok("\u{FFFF}")),
    SanitizerRow("/%f4%8f%bf%bf", ok("\u{10FFFF}")),      // the last code point
    // Above the root (nginx: 400).
    SanitizerRow("/..", no(.aboveRoot)),
    SanitizerRow("/../x", no(.aboveRoot)),
    SanitizerRow("/a/../../x", no(.aboveRoot)),
    SanitizerRow("/%2e%2e/x", no(.aboveRoot)),
    SanitizerRow("/%2E%2E%2Fx", no(.aboveRoot)),
    SanitizerRow("/..%2fx", no(.aboveRoot)),
    SanitizerRow("/.%2e/", no(.aboveRoot)),
    SanitizerRow("/./../", no(.aboveRoot)),
    SanitizerRow("//..//..//", no(.aboveRoot)),
    SanitizerRow("/..", no(.aboveRoot), showHidden: true),
    // Bad escapes.
    SanitizerRow("/%", no(.invalidEscape)),
    SanitizerRow("/%4", no(.invalidEscape)),
    SanitizerRow("/%zz", no(.invalidEscape)),
    SanitizerRow("/%4g", no(.invalidEscape)),
    SanitizerRow("/a%?b", no(.invalidEscape)),              // the escape may not borrow the query's bytes
    SanitizerRow("/%u002e", no(.invalidEscape)),
    // NUL, controls, backslash.
    SanitizerRow("/a%00b", no(.nulByte)),
    SanitizerRow("/a%0ab", no(.controlByte)),
    SanitizerRow("/a%7f", no(.controlByte)),
    SanitizerRow("/a\\b", no(.backslash)),
    SanitizerRow("/a%5cb", no(.backslash)),
    SanitizerRow("/..%5C..", no(.backslash)),
    SanitizerRow("/a b", no(.rawControlByte)),
    SanitizerRow("/a\r\nb", no(.rawControlByte)),
    SanitizerRow("/a?x\r\nSet-Cookie: y", no(.rawControlByte)),
    // Invalid UTF-8.
    SanitizerRow("/%c0%ae%c0%ae/", no(.invalidUTF8)),      // overlong `.`
    SanitizerRow("/%c0%af", no(.invalidUTF8)),             // overlong `/`
    SanitizerRow("/%c1%9c", no(.invalidUTF8)),             // overlong `\`
    SanitizerRow("/%e0%80%ae", no(.invalidUTF8)),          // 3-byte overlong `.`
    SanitizerRow("/%f0%80%80%ae", no(.invalidUTF8)),       // 4-byte overlong `.`
    SanitizerRow("/%ed%a0%80", no(.invalidUTF8)),          // surrogate U+D800
    SanitizerRow("/%ed%bf%bf", no(.invalidUTF8)),          // surrogate U+DFFF
    SanitizerRow("/%f4%90%80%80", no(.invalidUTF8)),       // U+110000
    SanitizerRow("/%f5%80%80%80", no(.invalidUTF8)),
    SanitizerRow("/%ff", no(.invalidUTF8)),
    SanitizerRow("/%80", no(.invalidUTF8)),                // stray continuation
    SanitizerRow("/%c3", no(.invalidUTF8)),                // truncated at the end
    SanitizerRow("/%c3/a", no(.invalidUTF8)),              // truncated by a separator
    SanitizerRow("/%e2%82", no(.invalidUTF8)),
    SanitizerRow("/%c3?%a9", no(.invalidUTF8)),            // truncated by the query
    // Hidden names, judged after `.`/`..`.
    SanitizerRow("/.env", no(.hidden)),
    SanitizerRow("/.git/config", no(.hidden)),
    SanitizerRow("/a/.well-known/x", no(.hidden)),
    SanitizerRow("/%2egit/config", no(.hidden)),
    SanitizerRow("/...", no(.hidden)),
    SanitizerRow("/.git/../index.html", ok("index.html")),
    SanitizerRow("/.env", ok(".env"), showHidden: true),
    SanitizerRow("/a/.git/config", ok("a/.git/config"), showHidden: true),
    // Not absolute.
    SanitizerRow("", no(.notAbsolute)),
    SanitizerRow("a/b", no(.notAbsolute)),
    SanitizerRow("*", no(.notAbsolute)),
    SanitizerRow("?x", no(.notAbsolute)),
    SanitizerRow("http://example.com/", no(.notAbsolute)),
]

@Test("PathSanitizer table", arguments: sanitizerTable)
func pathSanitizerTable(_ row: SanitizerRow) {
    #expect(sanitize(row.input, showHidden: row.showHidden) == row.expected)
}

// MARK: - Specific properties

@Test func pathSanitizerQueryRange() throws {
    let input = Array("/a/b?x=1&y=%2F".utf8)
    let (outcome, _) = sanitizeBytes(input)
    guard case .accepted(let path) = outcome else { Issue.record("rejected"); return }
    #expect(path.rawPathEnd == 4)
    let query = try #require(path.query)
    #expect(Array(input[query]) == Array("x=1&y=%2F".utf8))

    guard case .accepted(let empty) = sanitizeBytes(Array("/a?".utf8)).outcome else { Issue.record("rejected"); return }
    #expect(empty.rawPathEnd == 2)
    #expect(empty.query == 3..<3)

    guard case .accepted(let none) = sanitizeBytes(Array("/a".utf8)).outcome else { Issue.record("rejected"); return }
    #expect(none.rawPathEnd == 2)
    #expect(none.query == nil)
}

@Test func pathSanitizerRawNonUTF8Bytes() {
    // Raw (unescaped) bytes go through the same UTF-8 check, and may mix with escapes.
    #expect(sanitizeBytes([0x2F, 0xC0, 0xAE]).outcome == .rejected(.invalidUTF8))
    #expect(sanitizeBytes([0x2F, 0xFF]).outcome == .rejected(.invalidUTF8))
    #expect(sanitizeBytes([0x2F, 0xC3] + Array("%A9".utf8)).output == Array("é".utf8))
    #expect(sanitizeBytes([0x2F, 0x7F]).outcome == .rejected(.rawControlByte))
}

@Test func pathSanitizerLengthLimit() {
    let max = PathSanitizer.maximumDecodedPathLength
    let atLimit = Array("/".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: max)
    #expect(sanitizeBytes(atLimit).output.count == max)
    #expect(sanitizeBytes(atLimit + [UInt8(ascii: "a")]).outcome == .rejected(.tooLong))
    // Counted on decoded bytes: `%61` is one byte.
    let escaped = Array("/".utf8) + Array(repeating: Array("%61".utf8), count: max).flatMap { $0 }
    #expect(sanitizeBytes(escaped).output.count == max)
    // Counted before normalisation: 5000 bytes of `./` is too long even though it normalises to nothing.
    let dots = Array("/".utf8) + Array(repeating: Array("./".utf8), count: 2500).flatMap { $0 }
    #expect(sanitizeBytes(dots).outcome == .rejected(.tooLong))
    // A smaller output buffer lowers the limit instead of overflowing.
    #expect(sanitizeBytes(Array("/abcdef".utf8), capacity: 4).outcome == .rejected(.tooLong))
    #expect(sanitizeBytes(Array("/abcd".utf8), capacity: 4).output == Array("abcd".utf8))
    #expect(sanitizeBytes(Array("/ab/cd".utf8), capacity: 5).output == Array("ab/cd".utf8))
}

// MARK: - Fuzz

/// xorshift64: deterministic, so a failure reproduces.
private struct XorShift64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Weighted toward the bytes traversal tricks are made of.
private let fuzzAlphabet: [UInt8] = {
    var a: [UInt8] = []
    func add(_ s: String, _ weight: Int) { for _ in 0..<weight { a += Array(s.utf8) } }
    add("/", 10); add(".", 10); add("%", 8); add("2", 5); add("e", 5); add("E", 2); add("c", 4); add("C", 1)
    add("0", 4); add("a", 4); add("A", 1); add("f", 4); add("F", 2); add("5", 4); add("\\", 3); add("?", 1)
    add("8", 1); add("9", 1); add("b", 1); add("d", 1); add("x", 1); add("g", 1); add(" ", 1)
    for b: UInt8 in [0x80, 0xAE, 0xAF, 0xBF, 0xC0, 0xC1, 0xC3, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFF, 0x00, 0x0A] {
        a += [b, b]
    }
    return a
}()

/// A deliberately naive reference: separate passes over Swift arrays, no buffers, no cleverness.
private func referenceSanitize(_ input: [UInt8], showHidden: Bool) -> (path: [UInt8], slash: Bool)? {
    guard input.first == UInt8(ascii: "/") else { return nil }
    if input.contains(where: { $0 <= 0x20 || $0 == 0x7F }) { return nil }
    let rawPath = input.split(separator: UInt8(ascii: "?"), maxSplits: 1, omittingEmptySubsequences: false)[0]
    var decoded: [UInt8] = []
    var i = rawPath.startIndex + 1
    while i < rawPath.endIndex {
        if rawPath[i] == UInt8(ascii: "%") {
            let hex = Array("0123456789abcdefABCDEF".utf8)
            guard i + 2 < rawPath.endIndex,
                  let hi = hex.firstIndex(of: rawPath[i + 1]).map({ $0 < 16 ? $0 : $0 - 6 }),
                  let lo = hex.firstIndex(of: rawPath[i + 2]).map({ $0 < 16 ? $0 : $0 - 6 })
            else { return nil }
            decoded.append(UInt8(hi * 16 + lo))
            i += 3
        } else {
            decoded.append(rawPath[i])
            i += 1
        }
    }
    if decoded.count > PathSanitizer.maximumDecodedPathLength { return nil }
    if String(validating: decoded, as: UTF8.self) == nil { return nil }
    if decoded.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }) { return nil }
    var stack: [[UInt8]] = []
    let segments = decoded.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    for segment in segments {
        if segment.isEmpty || Array(segment) == [UInt8(ascii: ".")] { continue }
        if Array(segment) == Array("..".utf8) {
            if stack.isEmpty { return nil }
            stack.removeLast()
            continue
        }
        stack.append(Array(segment))
    }
    if !showHidden && stack.contains(where: { $0.first == UInt8(ascii: ".") }) { return nil }
    let last = segments.last.map(Array.init) ?? []
    let slash = last.isEmpty || last == [UInt8(ascii: ".")] || last == Array("..".utf8)
    return (Array(stack.joined(separator: [UInt8(ascii: "/")])), slash)
}

/// Sanitises `input` and expects the reference's verdict: the same rejection, or the same path and trailing slash.
private func sanitizeMatchingReference(_ input: [UInt8], showHidden: Bool) -> (outcome: PathSanitizerOutcome, output: [UInt8]) {
    let (outcome, output) = sanitizeBytes(input, showHidden: showHidden)
    let reference = referenceSanitize(input, showHidden: showHidden)
    switch outcome {
    case .rejected:
        #expect(reference == nil, "input \(input): rejected, reference accepts \(reference.map { $0.path } ?? [])")
    case .accepted(let path):
        #expect(reference?.path == output && reference?.slash == path.hasTrailingSlash, "input \(input)")
    }
    return (outcome, output)
}

@Test func pathSanitizerFuzz() {
    var rng = XorShift64(state: 0x5EED_CAFE_F00D_1234)
    var accepted = 0
    for n in 0..<50_000 {
        let showHidden = n % 2 == 1
        let length = 1 + rng.below(40)
        var input: [UInt8] = []
        input.reserveCapacity(length + 1)
        if rng.below(10) != 0 { input.append(UInt8(ascii: "/")) }
        for _ in 0..<length {
            // Mostly the weighted alphabet; sometimes any byte at all.
            input.append(rng.below(16) == 0 ? UInt8(truncatingIfNeeded: rng.next()) : fuzzAlphabet[rng.below(fuzzAlphabet.count)])
        }

        let (outcome, output) = sanitizeMatchingReference(input, showHidden: showHidden)
        if case .accepted = outcome {
            accepted += 1
            // The invariants the resolver relies on, checked directly.
            #expect(output.first != UInt8(ascii: "/"), "leading / for \(input)")
            #expect(!output.contains(0) && !output.contains(UInt8(ascii: "\\")), "NUL or backslash for \(input)")
            let segments = output.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            if !output.isEmpty {
                for segment in segments {
                    #expect(!segment.isEmpty, "empty segment for \(input)")
                    #expect(Array(segment) != Array("..".utf8) && Array(segment) != [UInt8(ascii: ".")],
                            "dot segment for \(input)")
                    if !showHidden { #expect(segment.first != UInt8(ascii: "."), "hidden name for \(input)") }
                }
            }
            #expect(String(validating: output, as: UTF8.self) != nil, "invalid UTF-8 out for \(input)")
            #expect(output.count <= input.count)
        }
    }
    // The alphabet must actually reach the interesting code: a fair share is accepted.
    #expect(accepted > 1_000)
}

/// Targets made mostly of what real paths are made of (names, single slashes, dots inside names), so the sanitiser's
/// fast path for already-normal targets is taken often; a `%`, `?`, `\`, doubled slash or dot segment now and then
/// must send it to the full pass with the same answer. Same reference as above.
@Test func pathSanitizerFuzzPlainTargets() {
    var rng = XorShift64(state: 0x0DDB_A11F_A57B_EEF5)
    let common = Array("abcxyzABZ019-_~.//".utf8)
    let rare = Array("%?\\.2e/ :@!$&'()*+,;=#[]".utf8) + [0x7F, 0x80, 0xC3, 0x00]
    var plainAccepted = 0
    for n in 0..<50_000 {
        let showHidden = n % 3 == 0
        var input: [UInt8] = [UInt8(ascii: "/")]
        for _ in 0..<(1 + rng.below(30)) {
            input.append(rng.below(12) == 0 ? rare[rng.below(rare.count)] : common[rng.below(common.count)])
        }
        let (outcome, output) = sanitizeMatchingReference(input, showHidden: showHidden)
        if case .accepted(let path) = outcome {
            #expect(path.rawPathEnd == (input.firstIndex(of: UInt8(ascii: "?")) ?? input.count), "rawPathEnd for \(input)")
            if output == Array(input.dropFirst()) { plainAccepted += 1 }
        }
    }
    // Most inputs stay plain enough for the fast path.
    #expect(plainAccepted > 10_000)
}

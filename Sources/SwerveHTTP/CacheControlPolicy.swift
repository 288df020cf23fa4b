// Which Cache-Control value (RFC 9111 §5.2) each response carries, decided from the request path.
//
// Built once at startup (that is where it allocates); `value(forPath:)` then runs per request without allocation and
// returns bytes that stay valid for the policy's lifetime.

/// The Cache-Control policy: user rules, then (optionally) content-hashed names, then a default.
///
/// Order for a path (first that applies wins):
/// 1. the `--cache-rule GLOB=VALUE` rules, in the order given (an explicit rule beats the heuristic below);
/// 2. with `immutableFingerprinted`, a file name carrying a content hash (`app.3f9a2c1b.js`, `app-3f9a2c1b.js`):
///    `public, max-age=31536000, immutable`;
/// 3. the default.
///
/// An empty VALUE (rule or default) means "send no Cache-Control field" for those paths.
///
/// **Why the default is `no-cache`.** RFC 9111 §5.2.2.4: "The no-cache response directive, in its unqualified form
/// (without an argument), indicates that the response MUST NOT be used to satisfy any other request without
/// forwarding it for validation and receiving a successful response". Browsers keep the body and revalidate every
/// use with If-None-Match; our strong ETag (nanosecond mtime) answers with a cheap 304 until the file really changes,
/// and the new file is seen on the very next load after a deploy. Sending nothing is worse than it looks: with a
/// Last-Modified and no explicit freshness, RFC 9111 §4.2.2 lets caches assign a heuristic lifetime ("caches are
/// encouraged to use a heuristic expiration value that is no more than some fraction of the interval since that
/// time. A typical setting of this fraction might be 10%.") – a file unchanged for 100 days would be served stale
/// for up to 10 days after a deploy. Longer lifetimes are opt-in, per path, through rules or fingerprinted names.
public struct CacheControlPolicy: Sendable {
    /// Sent when nothing else applies and no default is configured.
    public static let defaultValue = "no-cache"
    /// Sent for content-hashed names when `immutableFingerprinted` is on. RFC 8246 §2: "The immutable response
    /// directive indicates that the response will not be updated while it is fresh." One year (RFC 9111 §5.2.2.1
    /// max-age) is the conventional maximum.
    public static let fingerprintedValue = "public, max-age=31536000, immutable"
    /// Longest glob, in tokens (roughly bytes): `PathGlob.maximumTokens`.
    public static let maxGlobTokens = PathGlob.maximumTokens

    /// Why a rule or value was refused.
    public enum RuleError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The rule text has no `=` separating GLOB from VALUE.
        case missingEquals(rule: String)
        /// Nothing (or only whitespace) before the `=`.
        case emptyGlob(rule: String)
        /// The glob has a control character.
        case invalidGlob(glob: String)
        /// The glob is longer than `maxGlobTokens`.
        case globTooLong(glob: String)
        /// The value has CR, LF or another control character (a header-injection hazard) or a non-ASCII byte.
        case invalidValue(value: String)

        public var description: String {
            switch self {
            case .missingEquals(let rule):
                return "cache rule \(quoted(rule)): missing '=' (expected GLOB=VALUE, e.g. '*.html=no-cache')"
            case .emptyGlob(let rule):
                return "cache rule \(quoted(rule)): empty glob before '=' (expected GLOB=VALUE, e.g. 'assets/**=max-age=3600')"
            case .invalidGlob(let glob):
                return "cache rule glob \(quoted(glob)): contains a control character"
            case .globTooLong(let glob):
                return "cache rule glob \(quoted(glob)): longer than \(CacheControlPolicy.maxGlobTokens) characters"
            case .invalidValue(let value):
                return "Cache-Control value \(quoted(value)): contains CR, LF, another control character or a non-ASCII byte"
            }
        }

        private func quoted(_ s: String) -> String {
            var out = "'"
            for scalar in s.unicodeScalars {
                out += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
            }
            return out + "'"
        }
    }

    private let storage: Storage

    /// - Parameters:
    ///   - defaultValue: the value for paths no rule matches; nil → `no-cache` (see the type's documentation);
    ///     empty → no Cache-Control field.
    ///   - rules: `(glob, value)` pairs, first match wins (see `parseRule` for the glob syntax).
    ///   - immutableFingerprinted: give content-hashed file names `fingerprintedValue`.
    public init(
        default defaultValue: String? = nil, rules: [(glob: String, value: String)] = [],
        immutableFingerprinted: Bool = false
    ) throws(RuleError) {
        let defaultText = try Self.validatedValue(defaultValue ?? Self.defaultValue)
        var compiled: [(tokens: [GlobToken], basenameOnly: Bool, value: String)] = []
        for rule in rules {
            let glob = Self.trimmed(rule.glob)
            guard !glob.isEmpty else { throw .emptyGlob(rule: "\(rule.glob)=\(rule.value)") }
            let (tokens, basenameOnly) = try Self.compile(glob: glob)
            compiled.append((tokens, basenameOnly, try Self.validatedValue(rule.value)))
        }
        storage = Storage(
            rules: compiled, defaultValue: defaultText,
            fingerprintedValue: immutableFingerprinted ? Self.fingerprintedValue : nil)
    }

    /// Splits one `--cache-rule` argument at its first `=` (values contain `=`, as in `max-age=60`) and checks both
    /// halves. Surrounding spaces and tabs of each half are removed.
    ///
    /// Glob syntax, matched case-sensitively against the request path without its leading `/`:
    /// - `*` any run of characters except `/`; `?` one character except `/`;
    /// - `**` any run including `/`; as a whole segment (`a/**/b`, `**/b`) it also matches zero segments;
    /// - `\c` the character `c` literally; everything else is literal (no `[...]` classes);
    /// - a glob without `/` matches the file name in any directory (`*.woff2` matches `fonts/a.woff2`);
    /// - a leading `/` anchors the glob at the root (`/robots.txt` matches only the top-level file).
    public static func parseRule(_ text: String) throws(RuleError) -> (glob: String, value: String) {
        guard let equals = text.utf8.firstIndex(of: 0x3D) else { throw .missingEquals(rule: text) }
        let glob = trimmed(String(text[..<equals]))
        let value = trimmed(String(text[text.utf8.index(after: equals)...]))
        guard !glob.isEmpty else { throw .emptyGlob(rule: text) }
        _ = try compile(glob: glob)
        _ = try validatedValue(value)
        return (glob, value)
    }

    /// The Cache-Control value for a request path (decoded, without query; a leading `/` is ignored), or nil to send
    /// none. The bytes live as long as this policy. No allocation.
    public func value(forPath path: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        storage.value(forPath: path)
    }

    /// Convenience for tests and logs (allocates).
    public func value(forPath path: String) -> String? {
        var copy = path
        return copy.withUTF8 { utf8 in
            value(forPath: UnsafeRawBufferPointer(utf8)).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    // MARK: - Validation and compilation (startup only)

    private static func trimmed(_ s: String) -> String { HTTPSyntax.trimmingSpacesAndTabs(s.utf8) }

    /// RFC 9110 §5.5: "Field values containing CR, LF, or NUL characters are invalid and dangerous, due to the
    /// varying ways that implementations might parse and interpret those characters". All controls (HTAB included)
    /// and non-ASCII bytes are refused: RFC 9111 §5.2's `cache-directive = token [ "=" ( token / quoted-string ) ]`
    /// never needs them.
    private static func validatedValue(_ value: String) throws(RuleError) -> String {
        let v = trimmed(value)
        for c in v.utf8 where c < 0x20 || c >= 0x7F { throw .invalidValue(value: value) }
        return v
    }

    static func compile(glob: String) throws(RuleError) -> (tokens: [GlobToken], basenameOnly: Bool) {
        do {
            return try PathGlob.compile(glob)
        } catch {
            switch error {
            case .controlCharacter: throw .invalidGlob(glob: glob)
            case .tooLong: throw .globTooLong(glob: glob)
            }
        }
    }

    // MARK: - Matching (per request, no allocation)

    /// Whether `basename` carries a content hash: a `.` or `-`, then 8 or more hex digits, then `.` and an extension,
    /// after a non-empty name (`app.3f9a2c1b.js`, `app-3f9a2c1b.min.js`, `vendor.5e1f…c2.css`). The hex run must have
    /// both a digit and a letter, so dates (`report-20240115.pdf`) and words (`x.deadbeef.js`) do not count – a real
    /// 8-hex hash fails that only 2 % of the time, and then merely gets the default (safe) value.
    static func isFingerprinted(_ b: UnsafeRawBufferPointer) -> Bool {
        let n = b.count
        var s = 1
        while s < n {
            let c = b[s]
            if c == 0x2E || c == 0x2D {
                var j = s + 1
                var digits = false
                var letters = false
                while j < n {
                    let h = b[j]
                    if h &- 0x30 < 10 {
                        digits = true
                    } else if (h | 0x20) &- 0x61 < 6 {
                        letters = true
                    } else {
                        break
                    }
                    j += 1
                }
                if j - (s + 1) >= 8 && digits && letters && j + 1 < n && b[j] == 0x2E { return true }
                // The run cannot contain a separator: continue from where it stopped.
                s = max(j, s + 1)
            } else {
                s += 1
            }
        }
        return false
    }
}

/// Everything `value(forPath:)` reads, in memory allocated once and immutable afterwards.
private final class Storage: @unchecked Sendable {
    struct Rule {
        var tokenStart: Int
        var tokenCount: Int
        var basenameOnly: Bool
        var valueOffset: Int
        var valueCount: Int
    }

    let tokens: UnsafeMutablePointer<GlobToken>
    let rules: UnsafeMutablePointer<Rule>
    let ruleCount: Int
    let bytes: UnsafeMutableRawPointer
    let defaultOffset: Int
    let defaultCount: Int
    /// -1 when the fingerprint heuristic is off.
    let fingerprintOffset: Int
    let fingerprintCount: Int

    init(rules compiled: [(tokens: [GlobToken], basenameOnly: Bool, value: String)], defaultValue: String,
         fingerprintedValue: String?) {
        let tokenTotal = compiled.reduce(0) { $0 + $1.tokens.count }
        let byteTotal = compiled.reduce(0) { $0 + $1.value.utf8.count } + defaultValue.utf8.count
            + (fingerprintedValue?.utf8.count ?? 0)
        tokens = .allocate(capacity: max(tokenTotal, 1))
        rules = .allocate(capacity: max(compiled.count, 1))
        bytes = .allocate(byteCount: max(byteTotal, 1), alignment: 1)
        ruleCount = compiled.count

        var tokenAt = 0
        var byteAt = 0
        let base = bytes
        func store(_ s: String) -> (Int, Int) {
            let start = byteAt
            for c in s.utf8 {
                base.storeBytes(of: c, toByteOffset: byteAt, as: UInt8.self)
                byteAt += 1
            }
            return (start, byteAt - start)
        }
        for (k, rule) in compiled.enumerated() {
            (tokens + tokenAt).initialize(from: rule.tokens, count: rule.tokens.count)
            let (offset, count) = store(rule.value)
            (rules + k).initialize(to: Rule(
                tokenStart: tokenAt, tokenCount: rule.tokens.count, basenameOnly: rule.basenameOnly,
                valueOffset: offset, valueCount: count))
            tokenAt += rule.tokens.count
        }
        (defaultOffset, defaultCount) = store(defaultValue)
        if let fingerprintedValue {
            (fingerprintOffset, fingerprintCount) = store(fingerprintedValue)
        } else {
            (fingerprintOffset, fingerprintCount) = (-1, 0)
        }
    }

    deinit {
        tokens.deallocate()
        rules.deallocate()
        bytes.deallocate()
    }

    @inline(__always) private func bytes(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer? {
        count == 0 ? nil : UnsafeRawBufferPointer(start: bytes + offset, count: count)
    }

    func value(forPath raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var path = raw
        if path.count > 0 && path[0] == 0x2F { path = UnsafeRawBufferPointer(rebasing: path[1...]) }
        var slash = path.count
        while slash > 0 && path[slash - 1] != 0x2F { slash -= 1 }
        let basename = UnsafeRawBufferPointer(rebasing: path[slash...])

        for k in 0..<ruleCount {
            let rule = rules[k]
            if PathGlob.matches(tokens + rule.tokenStart, rule.tokenCount, rule.basenameOnly ? basename : path) {
                return bytes(rule.valueOffset, rule.valueCount)
            }
        }
        if fingerprintOffset >= 0 && CacheControlPolicy.isFingerprinted(basename) {
            return bytes(fingerprintOffset, fingerprintCount)
        }
        return bytes(defaultOffset, defaultCount)
    }
}

import Synchronization

/// `--header 'GLOB=Name: value'` rules: response fields a site adds to the 2xx and 304 responses of matching paths
/// (security headers, `Link` preloads, a CORS header for one directory). Every matching rule applies, in the order
/// given; the globs are `PathGlob`s, as `--cache-rule` takes them.
///
/// Fields Swerve itself decides are refused at startup: framing and hop-by-hop fields (a second Content-Length or a
/// Transfer-Encoding would corrupt the message, RFC 9112 §6.3), and the fields that describe the representation
/// or its validators (a second ETag or Content-Type would contradict the first). Each refusal says what to use
/// instead where there is something.
///
/// Cost: which rules match a path is computed once per path (`matching`), kept with the open-file cache's entry; the
/// field lines of each distinct set of rules are rendered once (`fields(for:)`) and stay valid as long as the rules.
public final class HeaderRules: Sendable {
    /// Rules at most: a path's matches are a 64-bit mask.
    public static let maximumRules = 64

    /// One parsed rule.
    public struct Rule: Sendable, Equatable {
        public var glob: String
        public var name: String
        public var value: String
    }

    public enum RuleError: Error, Equatable, Sendable, CustomStringConvertible {
        case missingEquals(rule: String)
        case emptyGlob(rule: String)
        case invalidGlob(rule: String)
        case missingColon(rule: String)
        case invalidName(rule: String, name: String)
        case reserved(rule: String, name: String, reason: String)
        case invalidValue(rule: String)
        case tooMany

        public var description: String {
            switch self {
            case .missingEquals(let rule):
                return "header rule '\(rule)': missing '=' (expected GLOB=Name: value, e.g. '**=X-Frame-Options: DENY')"
            case .emptyGlob(let rule):
                return "header rule '\(rule)': empty glob before '=' (expected GLOB=Name: value, e.g. '*.html=X-Frame-Options: DENY')"
            case .invalidGlob(let rule):
                return "header rule '\(rule)': the glob has a control character or is longer than \(PathGlob.maximumTokens) characters"
            case .missingColon(let rule):
                return "header rule '\(rule)': missing ':' after the field name (expected GLOB=Name: value)"
            case .invalidName(let rule, let name):
                return "header rule '\(rule)': '\(name)' is not a field name (letters, digits and !#$%&'*+-.^_`|~)"
            case .reserved(let rule, let name, let reason):
                return "header rule '\(rule)': \(name) cannot be set: \(reason)"
            case .invalidValue(let rule):
                return "header rule '\(rule)': the value has a control character or a non-ASCII byte"
            case .tooMany:
                return "more than \(HeaderRules.maximumRules) header rules"
            }
        }
    }

    /// Fields a rule may not set, lower-cased, with the reason given to the user.
    static let reserved: [String: String] = {
        var table: [String: String] = [:]
        for name in ["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
                     "proxy-connection"] {
            table[name] = "it frames the message or is hop-by-hop (RFC 9112 §6, RFC 9110 §7.6.1)"
        }
        for name in ["content-encoding", "content-type", "content-range", "accept-ranges", "etag", "last-modified",
                     "vary"] {
            table[name] = "Swerve sets it from the file and the negotiated representation"
        }
        for name in ["date", "server", "location", "allow"] {
            table[name] = "Swerve sets it on every response that needs it"
        }
        table["cache-control"] = "use --cache-rule GLOB=VALUE (or --cache-control) instead"
        table["x-content-type-options"] = "Swerve sends nosniff by default (--no-nosniff turns it off)"
        return table
    }()

    /// Splits one `--header` argument: the glob up to the first `=`, the field name up to the first `:` after it,
    /// the value after that. Surrounding spaces and tabs are trimmed.
    public static func parseRule(_ text: String) throws(RuleError) -> Rule {
        let bytes = Array(text.utf8)
        guard let equals = bytes.firstIndex(of: 0x3D) else { throw .missingEquals(rule: text) }
        let glob = trimmed(bytes[..<equals])
        guard !glob.isEmpty else { throw .emptyGlob(rule: text) }
        do {
            _ = try PathGlob(glob)
        } catch {
            throw .invalidGlob(rule: text)
        }
        let field = bytes[(equals + 1)...]
        guard let colon = field.firstIndex(of: 0x3A) else { throw .missingColon(rule: text) }
        let name = trimmed(field[..<colon])
        guard !name.isEmpty, name.utf8.allSatisfy(HTTPSyntax.isTchar) else { throw .invalidName(rule: text, name: name) }
        if let reason = reserved[name.lowercased()] { throw .reserved(rule: text, name: name, reason: reason) }
        let value = trimmed(field[(colon + 1)...])
        // RFC 9110 §5.5: field-value = *field-content, VCHAR and SP/HTAB; "Field values containing CR, LF, or NUL
        // characters are invalid and dangerous". obs-text is refused too: new values should be ASCII.
        guard value.utf8.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 }) else { throw .invalidValue(rule: text) }
        return Rule(glob: glob, name: name, value: value)
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> String { HTTPSyntax.trimmingSpacesAndTabs(bytes) }

    public let rules: [Rule]
    private let globs: [PathGlob]
    /// Rendered field lines per set of rules, allocated on first use and never freed while the rules live (there
    /// are as many as distinct sets actually seen, at most one per path).
    private let rendered = Mutex<[UInt64: UnsafeRawBufferPointer]>([:])

    /// Parses `--header` arguments (see `parseRule`).
    public init(_ texts: [String]) throws(RuleError) {
        guard texts.count <= Self.maximumRules else { throw .tooMany }
        var rules: [Rule] = []
        var globs: [PathGlob] = []
        for text in texts {
            let rule = try Self.parseRule(text)
            rules.append(rule)
            // parseRule compiled it already, so this cannot fail.
            globs.append(try! PathGlob(rule.glob))
        }
        self.rules = rules
        self.globs = globs
    }

    deinit {
        rendered.withLock { blocks in
            for block in blocks.values { UnsafeMutableRawPointer(mutating: block.baseAddress!).deallocate() }
        }
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// Bit k set: rule k matches `path` (decoded, without query).
    public func matching(_ path: UnsafeRawBufferPointer) -> UInt64 {
        var mask: UInt64 = 0
        for (k, glob) in globs.enumerated() where glob.matches(path) { mask |= 1 << UInt64(k) }
        return mask
    }

    /// The field lines of the rules in `mask` ("Name: value", in rule order, joined by CRLF), or nil for none. Valid
    /// as long as these rules.
    public func fields(for mask: UInt64) -> UnsafeRawBufferPointer? {
        guard mask != 0 else { return nil }
        return rendered.withLock { blocks in
            if let block = blocks[mask] { return block }
            // `ResponseHead.extraFields`' form: lines joined by CRLF, none after the last.
            var text: [UInt8] = []
            for (k, rule) in rules.enumerated() where mask & (1 << UInt64(k)) != 0 {
                if !text.isEmpty { text += [0x0D, 0x0A] }
                text += Array(rule.name.utf8) + [0x3A, 0x20] + Array(rule.value.utf8)
            }
            let block = UnsafeMutableRawBufferPointer.allocate(byteCount: text.count, alignment: 1)
            block.copyBytes(from: text)
            let bytes = UnsafeRawBufferPointer(block)
            blocks[mask] = bytes
            return bytes
        }
    }
}

/// A path glob, as `--cache-rule` and `--header` take them, matched case-sensitively against a request path without
/// its leading `/`:
/// - `*` any run of characters except `/`; `?` one character except `/`;
/// - `**` any run including `/`; as a whole segment (`a/**/b`, `**/b`) it also matches zero segments;
/// - `\c` the character `c` literally; everything else is literal (no `[...]` classes);
/// - a glob without `/` matches the file name in any directory (`*.woff2` matches `fonts/a.woff2`);
/// - a leading `/` anchors the glob at the root (`/robots.txt` matches only the top-level file).
///
/// Compiled once at startup (that allocates); matching is an NFA simulation with its state set on the stack:
/// O(path × glob), no backtracking, no allocation.
public struct PathGlob: Sendable {
    /// Longest glob, in tokens (roughly bytes); the matcher's state set is a 256-bit set on the stack.
    public static let maximumTokens = 255

    public enum GlobError: Error, Equatable, Sendable {
        case controlCharacter
        case tooLong
    }

    let tokens: [GlobToken]
    let basenameOnly: Bool

    public init(_ glob: String) throws(GlobError) {
        (tokens, basenameOnly) = try Self.compile(glob)
    }

    /// Whether `path` (decoded, without query; a leading `/` is ignored) matches.
    public func matches(_ raw: UnsafeRawBufferPointer) -> Bool {
        var path = raw
        if path.count > 0 && path[0] == 0x2F { path = UnsafeRawBufferPointer(rebasing: path[1...]) }
        var subject = path
        if basenameOnly {
            var slash = path.count
            while slash > 0 && path[slash - 1] != 0x2F { slash -= 1 }
            subject = UnsafeRawBufferPointer(rebasing: path[slash...])
        }
        guard !tokens.isEmpty else { return subject.isEmpty }
        return tokens.withUnsafeBufferPointer { Self.matches($0.baseAddress!, $0.count, subject) }
    }

    static func compile(_ original: String) throws(GlobError) -> (tokens: [GlobToken], basenameOnly: Bool) {
        var bytes = Array(original.utf8)
        for c in bytes where c < 0x20 || c == 0x7F { throw .controlCharacter }
        let basenameOnly = !bytes.contains(0x2F)
        if bytes.first == 0x2F { bytes.removeFirst() }
        var tokens: [GlobToken] = []
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case 0x2A: // '*'
                var run = 0
                while i < bytes.count && bytes[i] == 0x2A {
                    run += 1
                    i += 1
                }
                if run == 1 {
                    tokens.append(GlobToken(kind: .star))
                } else {
                    let segmentStart = tokens.isEmpty || tokens.last == GlobToken(kind: .literal, byte: 0x2F)
                    if segmentStart && i < bytes.count && bytes[i] == 0x2F {
                        // `**/` as a whole segment: zero or more directories. The `/` is consumed with it.
                        tokens.append(GlobToken(kind: .dirsEntry))
                        tokens.append(GlobToken(kind: .dirsInside))
                        i += 1
                    } else {
                        tokens.append(GlobToken(kind: .starStar))
                    }
                }
                continue
            case 0x3F: // '?'
                tokens.append(GlobToken(kind: .any))
            case 0x5C where i + 1 < bytes.count: // '\' escapes the next byte
                i += 1
                tokens.append(GlobToken(kind: .literal, byte: bytes[i]))
            default:
                tokens.append(GlobToken(kind: .literal, byte: c))
            }
            i += 1
        }
        guard tokens.count <= maximumTokens else { throw .tooLong }
        return (tokens, basenameOnly)
    }

    /// NFA simulation of the glob over `subject`: O(subject × tokens), no backtracking, no allocation.
    static func matches(_ tokens: UnsafePointer<GlobToken>, _ n: Int, _ subject: UnsafeRawBufferPointer)
        -> Bool
    {
        var current = StateSet()
        current.insert(0)
        closure(&current, tokens, n)
        for c in subject {
            var next = StateSet()
            for i in 0..<n where current.contains(i) {
                let token = tokens[i]
                switch token.kind {
                case .literal: if c == token.byte { next.insert(i + 1) }
                case .any: if c != 0x2F { next.insert(i + 1) }
                case .star: if c != 0x2F { next.insert(i) }
                case .starStar: next.insert(i)
                case .dirsEntry: next.insert(c == 0x2F ? i : i + 1)
                case .dirsInside: next.insert(c == 0x2F ? i - 1 : i)
                }
            }
            if next.isEmpty { return false }
            closure(&next, tokens, n)
            current = next
        }
        return current.contains(n)
    }

    /// Adds the states reachable without consuming a byte. Edges only go forward, so one ascending pass suffices.
    @inline(__always) private static func closure(_ set: inout StateSet, _ tokens: UnsafePointer<GlobToken>,
                                                  _ n: Int) {
        for i in 0..<n where set.contains(i) {
            switch tokens[i].kind {
            case .star, .starStar: set.insert(i + 1)
            case .dirsEntry: set.insert(i + 2)
            case .literal, .any, .dirsInside: break
            }
        }
    }
}

/// One glob element.
struct GlobToken: Equatable {
    enum Kind: UInt8 {
        /// One byte equal to `byte`.
        case literal
        /// `?`: one byte except `/`.
        case any
        /// `*`: zero or more bytes except `/`.
        case star
        /// `**` (not a whole segment): zero or more bytes.
        case starStar
        /// `**/` as a whole segment, two states: at a segment start (may exit: zero directories) ...
        case dirsEntry
        /// ... and inside a directory name (a `/` returns to `dirsEntry`).
        case dirsInside
    }

    var kind: Kind
    var byte: UInt8 = 0
}

/// 256 NFA states on the stack.
private struct StateSet {
    var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    @inline(__always) var isEmpty: Bool { (w0 | w1 | w2 | w3) == 0 }

    @inline(__always) func contains(_ i: Int) -> Bool {
        let bit = UInt64(1) &<< UInt64(i & 63)
        switch i >> 6 {
        case 0: return w0 & bit != 0
        case 1: return w1 & bit != 0
        case 2: return w2 & bit != 0
        default: return w3 & bit != 0
        }
    }

    @inline(__always) mutating func insert(_ i: Int) {
        let bit = UInt64(1) &<< UInt64(i & 63)
        switch i >> 6 {
        case 0: w0 |= bit
        case 1: w1 |= bit
        case 2: w2 |= bit
        default: w3 |= bit
        }
    }
}


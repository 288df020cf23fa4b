import SwerveHTTP

/// A mistake on the command line, worded for the user (`swerve: error: <message>`).
public struct UsageError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Turns one option's text into a value, naming the option and the offending text when it cannot. Only the
/// Swift standard library: `Int(_:)`, `UInt16(_:)` and `Double(_:)` are locale-independent, which is what a
/// command line wants.
enum OptionValue {
    static func port(_ text: String, for option: String) throws(UsageError) -> UInt16 {
        guard let port = UInt16(text) else { throw UsageError("\(option): '\(text)' is not a port number (0-65535)") }
        return port
    }

    /// A whole number; range checks are the caller's, so that they can say what the range means.
    static func integer(_ text: String, for option: String) throws(UsageError) -> Int {
        guard let value = Int(text) else { throw UsageError("\(option): '\(text)' is not a whole number") }
        return value
    }

    /// A compression level within `range`. Read as an Int first, so that 10 and 99999999999 both get the range
    /// message, not "not a whole number".
    static func level(_ text: String, in range: ClosedRange<Int>, for option: String) throws(UsageError) -> Int32 {
        let level = try integer(text, for: option)
        guard range.contains(level) else { throw UsageError("\(option) must be \(range.lowerBound) to \(range.upperBound)") }
        return Int32(level)
    }

    static func seconds(_ text: String, for option: String) throws(UsageError) -> Double {
        guard let value = Double(text) else { throw UsageError("\(option): '\(text)' is not a number of seconds") }
        // `Double` also reads "inf" and "nan"; neither is a timeout.
        guard value > 0 && value.isFinite else { throw UsageError("\(option) must be a positive number of seconds") }
        return value
    }

    static func byteCount(_ text: String, for option: String) throws(UsageError) -> Int {
        guard let count = ByteCount(text) else {
            throw UsageError("\(option): '\(text)' is not a size (bytes, or a number with a K, M or G suffix)")
        }
        return count.bytes
    }

    /// `--encodings`: compressions by their tokens, comma-separated, each once, at least one (`br,zstd,gzip`).
    static func encodings(_ text: String, for option: String) throws(UsageError) -> EncodingPreference {
        let known: [ContentCoding] = [.br, .zstd, .gzip]
        var order: [ContentCoding] = []
        for word in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = String(word.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
            guard let coding = known.first(where: { $0.name == name }) else {
                throw UsageError("\(option): '\(name)' is not br, zstd or gzip")
            }
            guard !order.contains(coding) else { throw UsageError("\(option): \(name) is listed twice") }
            order.append(coding)
        }
        return EncodingPreference(order)
    }

    /// One of a few words, e.g. `on`/`off`; exact spelling, like the keywords in an nginx config.
    static func choice<Value>(_ text: String, _ choices: KeyValuePairs<String, Value>, for option: String) throws(UsageError) -> Value {
        for (word, value) in choices where word == text { return value }
        let words = choices.map(\.key)
        let alternatives = words.dropLast().joined(separator: ", ") + " or " + words[words.count - 1]
        throw UsageError("\(option): '\(text)' is not \(alternatives)")
    }
}

/// A size with an optional binary suffix: `65536`, `512K`, `64M`, `1G` (suffix in either case). Never negative,
/// never wrapped: `9999999999G` is rejected rather than overflowing.
struct ByteCount: Equatable, CustomStringConvertible {
    let bytes: Int

    init(_ bytes: Int) { self.bytes = bytes }

    init?(_ text: String) {
        var digits = Substring(text)
        let scale: Int
        // Compared as characters rather than through `uppercased()`: uppercasing "ß" gives two letters.
        switch digits.last {
        case "K", "k": scale = 1 << 10
        case "M", "m": scale = 1 << 20
        case "G", "g": scale = 1 << 30
        default: scale = 1
        }
        if scale != 1 { digits = digits.dropLast() }
        guard let value = Int(digits), value >= 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        bytes = product
    }

    /// How `--help` shows a default: whole mebibytes with `M`, anything else in bytes.
    var description: String {
        bytes != 0 && bytes % (1 << 20) == 0 ? "\(bytes >> 20)M" : "\(bytes)"
    }
}

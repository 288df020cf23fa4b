/// What one request's `Accept` field lines (RFC 9110 §12.5.1) say about the two media types Swerve chooses between:
/// `text/html` (a page: an SPA fallback, a listing's HTML) and `application/json` (a listing's JSON).
///
/// Feed every Accept field line to `add(_:)` in order (§5.3: several lines are one comma-separated list). Weights are
/// thousandths (§12.4.2); a media range without `q` weighs 1000; an element that does not parse is ignored whole,
/// never read as weight 1000. The most specific range that matches a type decides its weight (§12.5.1: "Media
/// ranges can be overridden by more specific media ranges or specific media types").
///
/// Linear in the value's length, no allocation, no trap on any input.
public struct AcceptMedia: Sendable, BitwiseCopyable {
    static let unlisted: Int16 = -1

    var html: Int16 = unlisted
    var json: Int16 = unlisted
    var anyText: Int16 = unlisted
    var anyApplication: Int16 = unlisted
    var any: Int16 = unlisted
    /// At least one Accept field line was seen.
    public private(set) var isPresent = false

    public init() {}

    /// One Accept field line's value.
    public mutating func add(_ value: UnsafeRawBufferPointer) {
        isPresent = true
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != 0x2C { end += 1 }
            element(UnsafeRawBufferPointer(rebasing: value[start..<end]))
            start = end + 1
        }
    }

    /// The request names `text/html` itself with a non-zero weight, as browsers do when they navigate (a script's
    /// `fetch`, an `<img>` or a `curl` sends `*/*` or an image type): what an SPA fallback requires, so that a
    /// missing asset is never answered with a page.
    public var explicitlyAcceptsHTML: Bool { html > 0 }

    /// `application/json` weighs more than `text/html` (each by its most specific range), or as much but named more
    /// specifically (`application/json, */*` names JSON and reaches HTML only through the wildcard); anything else
    /// – an exact tie, no Accept at all – is HTML.
    public var prefersJSON: Bool {
        let (jsonWeight, jsonSpecificity) = Self.weigh(exact: json, type: anyApplication, any: any)
        let (htmlWeight, htmlSpecificity) = Self.weigh(exact: html, type: anyText, any: any)
        guard jsonWeight > 0 else { return false }
        return jsonWeight > htmlWeight || (jsonWeight == htmlWeight && jsonSpecificity > htmlSpecificity)
    }

    /// The weight of a type from its most specific matching range, and how specific that was (3 exact, 2 type/*,
    /// 1 */*, 0 none).
    private static func weigh(exact: Int16, type: Int16, any: Int16) -> (weight: Int16, specificity: Int) {
        if exact != unlisted { return (exact, 3) }
        if type != unlisted { return (type, 2) }
        if any != unlisted { return (any, 1) }
        return (0, 0)
    }

    // MARK: Parsing

    /// `type "/" subtype *( OWS ";" OWS parameter )`, OWS around it.
    private mutating func element(_ raw: UnsafeRawBufferPointer) {
        var s = 0
        var e = raw.count
        while s < e && Self.isOWS(raw[s]) { s += 1 }
        while e > s && Self.isOWS(raw[e - 1]) { e -= 1 }
        guard s < e else { return }
        var semicolon = s
        while semicolon < e && raw[semicolon] != 0x3B { semicolon += 1 }
        var rangeEnd = semicolon
        while rangeEnd > s && Self.isOWS(raw[rangeEnd - 1]) { rangeEnd -= 1 }
        guard let weight = Self.weight(UnsafeRawBufferPointer(rebasing: raw[semicolon..<e])) else { return }
        let range = UnsafeRawBufferPointer(rebasing: raw[s..<rangeEnd])
        if Self.equalsFolded(range, "text/html") { html = weight }
        else if Self.equalsFolded(range, "application/json") { json = weight }
        else if Self.equalsFolded(range, "text/*") { anyText = weight }
        else if Self.equalsFolded(range, "application/*") { anyApplication = weight }
        else if Self.equalsFolded(range, "*/*") { any = weight }
    }

    /// The `q` of a parameter list (`;a=b;q=0.5`), 1000 without one, nil if a parameter or the weight is malformed.
    private static func weight(_ parameters: UnsafeRawBufferPointer) -> Int16? {
        var weight: Int16 = 1000
        var i = 0
        while i < parameters.count {
            // At a ';'.
            i += 1
            while i < parameters.count && isOWS(parameters[i]) { i += 1 }
            var end = i
            while end < parameters.count && parameters[end] != 0x3B { end += 1 }
            var trimmed = end
            while trimmed > i && isOWS(parameters[trimmed - 1]) { trimmed -= 1 }
            let parameter = UnsafeRawBufferPointer(rebasing: parameters[i..<trimmed])
            if parameter.count >= 2 && (parameter[0] | 0x20) == 0x71 && parameter[1] == 0x3D {
                guard let q = qvalue(UnsafeRawBufferPointer(rebasing: parameter[2...])) else { return nil }
                weight = q
            } else if !parameter.isEmpty && !parameter.contains(0x3D) {
                return nil
            }
            i = end
        }
        return weight
    }

    /// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
    static func qvalue(_ text: UnsafeRawBufferPointer) -> Int16? {
        guard let first = text.first, first == 0x30 || first == 0x31 else { return nil }
        if text.count == 1 { return first == 0x31 ? 1000 : 0 }
        guard text[1] == 0x2E, text.count <= 5 else { return nil }
        var value: Int16 = 0
        var scale: Int16 = 100
        for k in 2..<text.count {
            let digit = text[k] &- 0x30
            guard digit < 10 else { return nil }
            value += Int16(digit) * scale
            scale /= 10
        }
        if first == 0x31 { return value == 0 ? 1000 : nil }
        return value
    }

    @inline(__always) private static func isOWS(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    private static func equalsFolded(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let q = literal.utf8Start
        for k in 0..<bytes.count where FieldValue.asciiLower(bytes[k]) != q[k] { return false }
        return true
    }
}

/// A `mime.types` file that could not be read or parsed.
public struct MIMETableError: Error, CustomStringConvertible, Sendable {
    /// The file name given to the parser (the path for `MIMETable(path:)`).
    public let fileName: String
    /// 1-based line number of the offending text; 0 when the file as a whole could not be read.
    public let line: Int
    public let message: String

    public init(fileName: String, line: Int, message: String) {
        self.fileName = fileName
        self.line = line
        self.message = message
    }

    public var description: String { "\(fileName):\(line): \(message)" }
}

/// Maps file names to `Content-Type` field values, loaded from a `mime.types` file.
///
/// File format – the Apache / Debian `/etc/mime.types` format:
///
///     # comment
///     text/html    html htm shtml
///     image/x-foo                     # a type with no extensions is accepted and ignored
///
/// An nginx-style file (`types { text/html html htm; … }`, entries ended by `;`, free line breaks) is also
/// accepted; the form is chosen by the first word of the file (`types` → nginx form).
///
/// Rules:
/// - `#` at the start of a word begins a comment that runs to the end of the line.
/// - Extensions are stored lower-cased and matched case-insensitively. Extensions that contain a `.` or are longer
///   than 16 bytes can never be the "last extension" of a file name within the lookup limit, so they are accepted
///   (Debian's file has some, e.g. `sarif-external-properties.json`) and ignored.
/// - When several entries claim the same extension the **last one wins**, as in nginx, Apache httpd, Go and Python.
/// - The stored field value is the media type as written, plus `; charset=utf-8` for text/\*, JavaScript, JSON and
///   `+json`, XML and `+xml` types (which includes SVG and web app manifests).
///
/// Thread safety: `@unchecked Sendable` only because the table owns one raw allocation (pointers are not `Sendable`).
/// Every stored property is a `let` and the memory is written once in `init` and never mutated afterwards, so
/// concurrent reads from any number of threads are safe.
public final class MIMETable: @unchecked Sendable {
    public static let defaultType: StaticString = "application/octet-stream"

    /// Longest extension the lookup considers; a longer one is "unknown".
    @inline(__always) static var maxExtensionLength: Int { 16 }

    /// One open-addressing slot (32-byte stride, two slots per cache line). The key is the lower-cased extension
    /// packed little-endian into two words, zero-padded; `k0 == 0` marks an empty slot (extensions are never empty
    /// and never contain NUL).
    struct Slot {
        var k0: UInt64
        var k1: UInt64
        /// Offset of the rendered field value from `values`.
        var valueOffset: UInt32
        /// Length of the rendered field value (media type plus any charset parameter).
        var valueLength: UInt16
        /// Length of the bare media type, a prefix of the field value.
        var typeLength: UInt16
        var keyLength: UInt8
        var compressible: Bool
    }

    /// The single allocation: `capacity` slots followed by the field-value bytes.
    private let storage: UnsafeMutableRawPointer
    private let slots: UnsafePointer<Slot>
    private let values: UnsafePointer<UInt8>
    /// `capacity - 1`; capacity is a power of two at least twice the number of extensions (load factor ≤ 0.5).
    private let mask: Int
    /// `64 - log2(capacity)`: the hash's top bits pick the home slot (Fibonacci hashing).
    private let shift: UInt64
    /// Length of `defaultType`, stored at the start of `values`.
    private let defaultLength: Int
    /// Number of extensions in the table.
    public let count: Int

    // MARK: - Loading (reading a file is the files module's: `MIMETable(path:)` there)

    /// Parses the text of a `mime.types` file. `fileName` is only used in error messages.
    public init(text: [UInt8], fileName: String) throws(MIMETableError) {
        var parser = MIMETypesParser(fileName: fileName)
        try parser.parse(text)

        // Render each distinct media type's field value once; extensions share it.
        let defaultValue = MIMETable.defaultType.withUTF8Buffer { Array($0) }
        var valueBytes: [UInt8] = defaultValue
        var rendered: [(offset: UInt32, length: UInt16, typeLength: UInt16, compressible: Bool)] = []
        rendered.reserveCapacity(parser.types.count)
        for type in parser.types {
            let offset = UInt32(valueBytes.count)
            valueBytes.append(contentsOf: type.utf8)
            if MIMETable.wantsCharset(mediaType: type) {
                valueBytes.append(contentsOf: "; charset=utf-8".utf8)
            }
            // Lengths fit: a type is at most 255 bytes (validated by the parser) plus 15 for the parameter.
            rendered.append((offset, UInt16(valueBytes.count - Int(offset)), UInt16(type.utf8.count),
                             MIMETable.isCompressible(mediaType: type)))
        }

        var capacity = 16
        while capacity < parser.extensions.count * 2 { capacity *= 2 }
        let slotBytes = capacity * MemoryLayout<Slot>.stride
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: slotBytes + valueBytes.count, alignment: MemoryLayout<Slot>.alignment)
        let slots = raw.bindMemory(to: Slot.self, capacity: capacity)
        slots.initialize(repeating: Slot(k0: 0, k1: 0, valueOffset: 0, valueLength: 0, typeLength: 0,
                                         keyLength: 0, compressible: false), count: capacity)
        let values = (raw + slotBytes).bindMemory(to: UInt8.self, capacity: valueBytes.count)
        valueBytes.withUnsafeBufferPointer { values.initialize(from: $0.baseAddress!, count: $0.count) }

        self.storage = raw
        self.slots = UnsafePointer(slots)
        self.values = UnsafePointer(values)
        self.mask = capacity - 1
        self.shift = UInt64(64 - capacity.trailingZeroBitCount)
        self.defaultLength = defaultValue.count
        self.count = parser.extensions.count

        for (ext, typeIndex) in parser.extensions {
            var ext = ext
            let key = ext.withUTF8 { MIMETable.packKey(UnsafeRawBufferPointer($0))! }
            var index = Int(truncatingIfNeeded: MIMETable.hash(key.k0, key.k1) &>> shift)
            while slots[index].k0 != 0 { index = (index + 1) & mask }
            let value = rendered[typeIndex]
            // svgz is gzip-compressed SVG: compressing it again only burns CPU.
            let compressible = value.compressible && ext != "svgz"
            slots[index] = Slot(k0: key.k0, k1: key.k1, valueOffset: value.offset, valueLength: value.length,
                                typeLength: value.typeLength, keyLength: key.length, compressible: compressible)
        }
    }

    deinit {
        storage.deallocate()   // slots and bytes are trivial types: nothing to deinitialize
    }

    // MARK: - Lookup (hot path)

    /// Content-Type field value for a file name or path: last extension (after the last '.' of the last path segment;
    /// a name like ".bashrc" or "Makefile" has none), matched case-insensitively. Unknown → application/octet-stream.
    /// Adds "; charset=utf-8" for text/*, JavaScript, JSON (incl. +json), XML (incl. +xml), SVG (image/svg+xml) and
    /// web manifests.
    /// Returns bytes that stay valid for the table's lifetime (no allocation per call).
    ///
    /// Cost: one backwards scan over the extension (at most 17 bytes) that finds the '.' and packs the bytes into two
    /// registers, a branch-free ASCII lower-casing of those two words, one multiply-xor-multiply hash and usually a
    /// single probe of a 32-byte slot (load factor ≤ 0.5: ~1.5 probes on average for a hit, ~2.5 for a miss).
    /// No `String`, no hashing of a `Dictionary` key, no retain/release, no allocation: measured ≈ 10 ns per call
    /// for typical paths (release build, this machine; a `String`-keyed `Dictionary` lookup alone is ≈ 50 ns).
    @inline(__always)
    public func contentType(forPath path: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if let slot = slot(forPath: path) {
            return UnsafeRawBufferPointer(start: values + Int(slot.pointee.valueOffset),
                                          count: Int(slot.pointee.valueLength))
        }
        return UnsafeRawBufferPointer(start: values, count: defaultLength)
    }

    /// Whether this entry's media type is worth gzip-compressing (text/*, JS, JSON, XML, SVG, wasm, manifest,
    /// font/ttf, font/otf, application/vnd.ms-fontobject; never other images, video, audio, archives, woff/woff2).
    /// Same lookup as contentType.
    @inline(__always)
    public func isCompressible(forPath path: UnsafeRawBufferPointer) -> Bool {
        slot(forPath: path)?.pointee.compressible ?? false
    }

    /// Convenience for tests and the command line: allocates.
    public func contentType(forPath path: String) -> String {
        var path = path
        return path.withUTF8 { String(decoding: contentType(forPath: UnsafeRawBufferPointer($0)), as: UTF8.self) }
    }

    /// Convenience for tests and the command line.
    public func isCompressible(forPath path: String) -> Bool {
        var path = path
        return path.withUTF8 { isCompressible(forPath: UnsafeRawBufferPointer($0)) }
    }

    /// The bare media type (no parameters) mapped to `fileExtension` (without the dot, any case), or nil if the
    /// table does not know it. Allocates; for tests and tooling.
    public func mediaType(forExtension fileExtension: String) -> String? {
        var ext = fileExtension
        guard let slot = ext.withUTF8({ buffer -> UnsafePointer<Slot>? in
            guard let key = MIMETable.packKey(UnsafeRawBufferPointer(buffer)) else { return nil }
            return self.slot(for: key)
        }) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: values + Int(slot.pointee.valueOffset),
                                                    count: Int(slot.pointee.typeLength)), as: UTF8.self)
    }

    /// Every extension in the table (lower-cased), sorted. Allocates; for tests and tooling.
    public var extensions: [String] {
        var result: [String] = []
        result.reserveCapacity(count)
        for index in 0...mask where slots[index].k0 != 0 {
            let slot = slots[index]
            var bytes: [UInt8] = []
            for i in 0..<Int(slot.keyLength) {
                let word = i < 8 ? slot.k0 : slot.k1
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64((i & 7) * 8)))
            }
            result.append(String(decoding: bytes, as: UTF8.self))
        }
        return result.sorted()
    }

    /// Finds the slot for the last extension of `path`, or nil.
    @inline(__always)
    private func slot(forPath path: UnsafeRawBufferPointer) -> UnsafePointer<Slot>? {
        guard let base = path.baseAddress else { return nil }
        let end = path.count
        // Walk back from the end to the last '.', shifting each byte into (k1:k0) so the extension's first byte ends up
        // lowest, as `packKey` lays it out. Give up at a '/' (a dot before it belongs to a directory name) or after
        // maxExtensionLength + 1 bytes (the extension would be too long to be known anyway).
        let stop = Swift.max(0, end &- MIMETable.maxExtensionLength &- 1)
        var k0: UInt64 = 0
        var k1: UInt64 = 0
        var i = end &- 1
        while i >= stop {
            let byte = base.load(fromByteOffset: i, as: UInt8.self)
            if byte == UInt8(ascii: ".") {
                let length = end &- i &- 1
                // "name." has an empty extension; a leading dot makes a hidden file, not an extension:
                // ".bashrc", "dir/.profile".
                if length == 0 || i == 0 || base.load(fromByteOffset: i &- 1, as: UInt8.self) == UInt8(ascii: "/") {
                    return nil
                }
                return slot(for: (MIMETable.lowercased(k0), MIMETable.lowercased(k1), UInt8(truncatingIfNeeded: length)))
            }
            if byte == UInt8(ascii: "/") { return nil }
            k1 = (k1 &<< 8) | (k0 &>> 56)
            k0 = (k0 &<< 8) | UInt64(byte)
            i &-= 1
        }
        return nil
    }

    @inline(__always)
    private func slot(for key: (k0: UInt64, k1: UInt64, length: UInt8)) -> UnsafePointer<Slot>? {
        var index = Int(truncatingIfNeeded: MIMETable.hash(key.k0, key.k1) &>> shift)
        while true {
            let slot = slots + index
            if slot.pointee.k0 == 0 { return nil }
            if slot.pointee.k0 == key.k0 && slot.pointee.k1 == key.k1 && slot.pointee.keyLength == key.length {
                return slot
            }
            index = (index &+ 1) & mask
        }
    }

    /// Packs an extension of 1…16 bytes into two little-endian words (byte i at bit 8·i of the 128-bit k1:k0),
    /// ASCII lower-cased; nil if empty or too long. Non-ASCII bytes are kept as they are and simply never match
    /// (stored extensions are ASCII). Same layout as the lookup's backwards scan.
    static func packKey(_ ext: UnsafeRawBufferPointer) -> (k0: UInt64, k1: UInt64, length: UInt8)? {
        let length = ext.count
        guard length >= 1, length <= maxExtensionLength, let base = ext.baseAddress else { return nil }
        var k0: UInt64 = 0
        var k1: UInt64 = 0
        for i in (0..<length).reversed() {
            k1 = (k1 &<< 8) | (k0 &>> 56)
            k0 = (k0 &<< 8) | UInt64(base.load(fromByteOffset: i, as: UInt8.self))
        }
        return (lowercased(k0), lowercased(k1), UInt8(length))
    }

    /// ASCII-lower-cases the eight bytes of `word` at once (SWAR): a byte gets 0x20 or-ed in iff it is 'A'…'Z'.
    /// Each byte's low seven bits plus at most 0x3F cannot carry into the next byte.
    @inline(__always)
    static func lowercased(_ word: UInt64) -> UInt64 {
        let low7 = word & 0x7F7F_7F7F_7F7F_7F7F
        let atLeastA = low7 &+ 0x3F3F_3F3F_3F3F_3F3F       // top bit set where byte ≥ 0x41 'A'
        let aboveZ = low7 &+ 0x2525_2525_2525_2525         // top bit set where byte ≥ 0x5B, just past 'Z'
        let upper = (atLeastA ^ aboveZ) & ~word & 0x8080_8080_8080_8080   // and the byte is ASCII
        return word | (upper &>> 2)
    }

    @inline(__always)
    static func hash(_ k0: UInt64, _ k1: UInt64) -> UInt64 {
        (k0 ^ (k1 &* 0xC2B2_AE3D_27D4_EB4F)) &* 0x9E37_79B9_7F4A_7C15
    }

    // MARK: - Media type classification (load time only)

    /// Whether the field value gets "; charset=utf-8": text/*, JavaScript, JSON and +json, XML and +xml (so SVG and
    /// web app manifests too).
    static func wantsCharset(mediaType: String) -> Bool {
        guard let (top, sub) = split(mediaType) else { return false }
        if top == "text" { return true }
        switch sub {
        case "javascript", "x-javascript", "ecmascript", "x-ecmascript", "json", "xml":
            return true
        default:
            return sub.hasSuffix("+json") || sub.hasSuffix("+xml") || sub.hasPrefix("xml-")
        }
    }

    /// Whether a response of this type is worth gzip-compressing: everything that gets a charset (text, scripts,
    /// JSON, XML, SVG, manifests), WebAssembly, YAML and TOML, and uncompressed font formats (TrueType, OpenType,
    /// collections, EOT). Never other images, audio, video, archives, or WOFF/WOFF2 (already compressed).
    static func isCompressible(mediaType: String) -> Bool {
        if wantsCharset(mediaType: mediaType) { return true }
        guard let (top, sub) = split(mediaType) else { return false }
        switch (top, sub) {
        case ("application", "wasm"), ("application", "vnd.ms-fontobject"),
             ("application", "yaml"), ("application", "toml"),
             ("font", "ttf"), ("font", "otf"), ("font", "collection"), ("font", "sfnt"):
            return true
        default:
            return sub.hasSuffix("+yaml")
        }
    }

    private static func split(_ mediaType: String) -> (Substring, Substring)? {
        let lower = mediaType.lowercased()
        guard let slash = lower.firstIndex(of: "/") else { return nil }
        return (lower[..<slash], lower[lower.index(after: slash)...])
    }
}

// MARK: - Parser

/// Parses Apache/Debian `mime.types` text, or an nginx `types { … }` block, into extension → type.
struct MIMETypesParser {
    private enum Mode {
        case undecided          // nothing but comments and blank lines seen yet
        case plain              // Apache/Debian: one entry per line
        case expectingBrace     // saw nginx's "types", need "{"
        case inBraces           // nginx: entries end with ';'
        case closed             // after nginx's closing "}": only comments allowed
    }

    let fileName: String
    /// Distinct media types, in order of first appearance.
    private(set) var types: [String] = []
    /// Lower-cased extension → index into `types`. Only extensions the lookup can match are kept.
    private(set) var extensions: [String: Int] = [:]

    private var typeIndex: [String: Int] = [:]
    private var mode = Mode.undecided
    /// Index into `types` of the entry being read, if its type has been seen.
    private var currentType: Int?
    private var line = 0

    init(fileName: String) {
        self.fileName = fileName
    }

    mutating func parse(_ text: [UInt8]) throws(MIMETableError) {
        var lineStart = 0
        while lineStart < text.count {
            line += 1
            var lineEnd = lineStart
            while lineEnd < text.count && text[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            try parseLine(text[lineStart..<lineEnd])
            if mode == .plain { currentType = nil }   // Apache form: the line ends the entry
            lineStart = lineEnd + 1
        }
        switch mode {
        case .expectingBrace:
            throw error(at: max(line, 1), "expected '{' after 'types'")
        case .inBraces:
            throw error(at: max(line, 1), "missing '}' at end of file")
        case .undecided, .plain, .closed:
            break
        }
    }

    private mutating func parseLine(_ bytes: ArraySlice<UInt8>) throws(MIMETableError) {
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let byte = bytes[i]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
                || byte == 0x0B || byte == 0x0C {
                i += 1
                continue
            }
            if byte == UInt8(ascii: "#") { return }   // comment to the end of the line
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: ";") {
                try punctuation(byte)
                i += 1
                continue
            }
            var end = i + 1
            while end < bytes.endIndex && !MIMETypesParser.endsWord(bytes[end]) { end += 1 }
            try word(bytes[i..<end])
            i = end
        }
    }

    private static func endsWord(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), 0x0B, 0x0C,
             UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ";"):
            return true
        default:
            return false
        }
    }

    private mutating func punctuation(_ byte: UInt8) throws(MIMETableError) {
        let char = Character(Unicode.Scalar(byte))
        switch mode {
        case .undecided, .plain:
            throw error("'\(char)' is only allowed in an nginx-style 'types { … }' file")
        case .expectingBrace:
            guard byte == UInt8(ascii: "{") else { throw error("expected '{' after 'types', found '\(char)'") }
            mode = .inBraces
        case .inBraces:
            switch byte {
            case UInt8(ascii: ";"):
                guard currentType != nil else { throw error("';' without a media type") }
                currentType = nil
            case UInt8(ascii: "}"):
                guard currentType == nil else { throw error("missing ';' before '}'") }
                mode = .closed
            default:
                throw error("unexpected '{' inside 'types { … }'")
            }
        case .closed:
            throw error("unexpected '\(char)' after the closing '}'")
        }
    }

    private mutating func word(_ bytes: ArraySlice<UInt8>) throws(MIMETableError) {
        switch mode {
        case .undecided:
            if bytes.elementsEqual("types".utf8) {
                mode = .expectingBrace
                return
            }
            mode = .plain
        case .expectingBrace:
            throw error("expected '{' after 'types', found '\(MIMETypesParser.render(bytes))'")
        case .closed:
            throw error("unexpected '\(MIMETypesParser.render(bytes))' after the closing '}'")
        case .plain, .inBraces:
            break
        }
        if currentType == nil {
            try startEntry(type: bytes)
        } else {
            try addExtension(bytes)
        }
    }

    private mutating func startEntry(type bytes: ArraySlice<UInt8>) throws(MIMETableError) {
        var slash: Int?
        for i in bytes.indices {
            let byte = bytes[i]
            if byte == UInt8(ascii: "/") {
                guard slash == nil else { return try invalidType(bytes, "more than one '/'") }
                slash = i
            } else if !MIMETypesParser.isTokenChar(byte) {
                return try invalidType(bytes, "invalid character \(MIMETypesParser.describe(byte))")
            }
        }
        guard let slash else { return try invalidType(bytes, "expected type/subtype") }
        let typeLength = slash - bytes.startIndex
        let subtypeLength = bytes.endIndex - slash - 1
        guard typeLength > 0, subtypeLength > 0 else { return try invalidType(bytes, "empty type or subtype") }
        guard typeLength <= 127, subtypeLength <= 127 else {
            return try invalidType(bytes, "type and subtype are limited to 127 characters each")
        }
        let type = String(decoding: bytes, as: UTF8.self)
        if let index = typeIndex[type] {
            currentType = index
        } else {
            types.append(type)
            typeIndex[type] = types.count - 1
            currentType = types.count - 1
        }
    }

    private func invalidType(_ bytes: ArraySlice<UInt8>, _ reason: String) throws(MIMETableError) {
        throw error("invalid media type '\(MIMETypesParser.render(bytes))': \(reason)")
    }

    private mutating func addExtension(_ bytes: ArraySlice<UInt8>) throws(MIMETableError) {
        var hasDot = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "."):
                hasDot = true
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"):
                throw error("invalid extension '\(MIMETypesParser.render(bytes))': "
                    + "invalid character \(MIMETypesParser.describe(byte))")
            case 0x21...0x7E:
                break
            default:   // control characters, DEL, non-ASCII
                throw error("invalid extension '\(MIMETypesParser.render(bytes))': "
                    + "invalid character \(MIMETypesParser.describe(byte))")
            }
        }
        // Accepted but unmatchable (see MIMETable): skip.
        guard !hasDot, bytes.count <= MIMETable.maxExtensionLength, let currentType else { return }
        let lower = String(decoding: bytes.map { $0 &- UInt8(ascii: "A") < 26 ? $0 | 0x20 : $0 }, as: UTF8.self)
        extensions[lower] = currentType   // last entry wins
    }

    /// RFC 9110 `tchar`.
    private static func isTokenChar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Printable ASCII as is, everything else as \xHH, so error messages never carry control bytes.
    private static func render(_ bytes: ArraySlice<UInt8>) -> String {
        var result = ""
        for byte in bytes.prefix(80) {
            if byte >= 0x20 && byte < 0x7F {
                result.append(Character(Unicode.Scalar(byte)))
            } else {
                result += describeHex(byte)
            }
        }
        return bytes.count > 80 ? result + "…" : result
    }

    private static func describe(_ byte: UInt8) -> String {
        byte > 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : describeHex(byte)
    }

    private static func describeHex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "\\x\(digits[Int(byte >> 4)])\(digits[Int(byte & 0xF)])"
    }

    private func error(_ message: String) -> MIMETableError {
        MIMETableError(fileName: fileName, line: line, message: message)
    }

    private func error(at line: Int, _ message: String) -> MIMETableError {
        MIMETableError(fileName: fileName, line: line, message: message)
    }
}

/// A directory listing (`--list-dirs`) as HTML or JSON: the rendering and its order, pure. The entries come from the
/// files module (which leaves out what the site does not serve); this file only escapes, sorts and formats them.
///
/// HTML: every name is HTML-escaped where it is shown and percent-encoded where it is linked (links are relative, so
/// the page works under any prefix); directories first, then files, in the requested order; a parent link except at
/// the root; sort links in the column heads. JSON: an array of `{"name","type","size","mtime"}` objects in the same
/// order, the shape nginx's `autoindex_format json` uses (`size` for files only), `mtime` in RFC 3339 UTC.
public struct DirectoryListing: Sendable {
    public struct Entry: Sendable, Equatable {
        /// The name's bytes as the file system has them (any bytes but `/` and NUL).
        public var name: [UInt8]
        public var isDirectory: Bool
        public var size: Int
        /// Modification time, seconds since the epoch.
        public var modified: Int64

        public init(name: [UInt8], isDirectory: Bool, size: Int, modified: Int64) {
            self.name = name
            self.isDirectory = isDirectory
            self.size = size
            self.modified = modified
        }
    }

    public enum SortKey: String, Sendable { case name, size, time }
    public enum Order: String, Sendable { case ascending = "asc", descending = "desc" }
    public enum Format: Sendable { case html, json }

    /// How a listing request asked for it: `?sort=name|size|time&order=asc|desc&format=json` (unknown keys and
    /// values are ignored, so a listing URL with a stray parameter still works).
    public struct Query: Sendable, Equatable {
        public var sort: SortKey = .name
        public var order: Order = .ascending
        /// `format=json` was asked for (wins over Accept).
        public var json = false

        public init(sort: SortKey = .name, order: Order = .ascending, json: Bool = false) {
            self.sort = sort
            self.order = order
            self.json = json
        }

        /// Parses the raw query (without `?`), percent escapes left as they are (no valid value needs one).
        public init(_ raw: UnsafeRawBufferPointer) {
            var start = 0
            while start < raw.count {
                var end = start
                while end < raw.count && raw[end] != 0x26 && raw[end] != 0x3B { end += 1 }
                let pair = String(decoding: raw[start..<end], as: UTF8.self)
                if let equals = pair.firstIndex(of: "=") {
                    let key = pair[..<equals], value = String(pair[pair.index(after: equals)...])
                    switch key {
                    case "sort": if let parsed = SortKey(rawValue: value) { sort = parsed }
                    case "order": if let parsed = Order(rawValue: value) { order = parsed }
                    case "format": json = value == "json"
                    default: break
                    }
                }
                start = end + 1
            }
        }
    }

    /// The decoded request path of the directory, with leading and trailing `/` (`/docs/`), for the title.
    public var path: [UInt8]
    public var entries: [Entry]
    /// More entries exist than were read (`limit`): the page says so.
    public var truncated: Bool
    /// The cap the reader applied, for the note.
    public var limit: Int
    public var query: Query

    public init(path: [UInt8], entries: [Entry], truncated: Bool = false, limit: Int = 0, query: Query = Query()) {
        self.path = path
        self.entries = entries
        self.truncated = truncated
        self.limit = limit
        self.query = query
    }

    /// Directories first, then files; within each, by the query's key and order; ties by name (byte order), so
    /// the order is total and the same on every read.
    public var sortedEntries: [Entry] {
        let descending = query.order == .descending
        return entries.sorted { a, b in
            if a.isDirectory != b.isDirectory { return a.isDirectory }
            let byName = Self.nameOrder(a.name, b.name)
            switch query.sort {
            case .name:
                return descending ? byName == .greater : byName == .less
            case .size:
                if a.size != b.size { return descending ? a.size > b.size : a.size < b.size }
            case .time:
                if a.modified != b.modified { return descending ? a.modified > b.modified : a.modified < b.modified }
            }
            return byName == .less
        }
    }

    enum Comparison { case less, equal, greater }

    /// ASCII letters compared without case first (`b` before `C`), then the bytes, so the order is total.
    static func nameOrder(_ a: [UInt8], _ b: [UInt8]) -> Comparison {
        for (x, y) in zip(a, b) {
            let fx = FieldValue.asciiLower(x), fy = FieldValue.asciiLower(y)
            if fx != fy { return fx < fy ? .less : .greater }
        }
        if a.count != b.count { return a.count < b.count ? .less : .greater }
        for (x, y) in zip(a, b) where x != y { return x < y ? .less : .greater }
        return .equal
    }

    // MARK: HTML

    public func html() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512 + entries.count * 200)
        let title = Self.htmlEscaped(path)
        out += Array("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n".utf8)
        out += Array("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of ".utf8)
        out += title
        out += Array("</title>\n<style>body{font:14px/1.5 system-ui,sans-serif;margin:2em}table{border-collapse:collapse}".utf8)
        out += Array("th,td{padding:.15em 1.2em .15em 0;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}".utf8)
        out += Array("a{text-decoration:none}a:hover{text-decoration:underline}p.note{color:#a00}</style>\n</head>\n<body>\n<h1>Index of ".utf8)
        out += title
        out += Array("</h1>\n".utf8)
        if truncated {
            out += Array("<p class=\"note\">Showing the first \(limit) entries of a larger directory.</p>\n".utf8)
        }
        out += Array("<table>\n<thead><tr>".utf8)
        out += header("Name", .name)
        out += header("Size", .size, numeric: true)
        out += header("Modified", .time)
        out += Array("</tr></thead>\n<tbody>\n".utf8)
        if path.count > 1 {
            out += Array("<tr><td><a href=\"../\">../</a></td><td class=\"n\"></td><td></td></tr>\n".utf8)
        }
        for entry in sortedEntries {
            var href = Self.percentEncoded(entry.name)
            var shown = Self.htmlEscaped(entry.name)
            if entry.isDirectory {
                href.append(0x2F)
                shown.append(0x2F)
            }
            out += Array("<tr><td><a href=\"".utf8)
            // A name that starts like a scheme (`javascript:x`) must not read as an absolute URL: "./" anchors it.
            out += Array("./".utf8)
            out += href
            out += Array("\">".utf8)
            out += shown
            out += Array("</a></td><td class=\"n\"".utf8)
            if entry.isDirectory {
                out += Array("></td>".utf8)
            } else {
                out += Array(" title=\"\(entry.size) bytes\">\(Self.humanSize(entry.size))</td>".utf8)
            }
            out += Array("<td><time datetime=\"".utf8)
            let time = Self.rfc3339(entry.modified)
            out += time
            out += Array("\">".utf8)
            out += time
            out += Array("</time></td></tr>\n".utf8)
        }
        out += Array("</tbody>\n</table>\n</body>\n</html>\n".utf8)
        return out
    }

    /// A column head linking to the listing sorted by it: ascending, or descending if it is the ascending sort now.
    private func header(_ label: String, _ key: SortKey, numeric: Bool = false) -> [UInt8] {
        let order: Order = query.sort == key && query.order == .ascending ? .descending : .ascending
        let marker = query.sort == key ? (query.order == .ascending ? " ↑" : " ↓") : ""
        let cell = numeric ? "<th class=\"n\">" : "<th>"
        return Array("\(cell)<a href=\"?sort=\(key.rawValue)&amp;order=\(order.rawValue)\">\(label)\(marker)</a></th>".utf8)
    }

    // MARK: JSON

    public func json() -> [UInt8] {
        var out: [UInt8] = [0x5B]
        var first = true
        for entry in sortedEntries {
            out += Array((first ? "\n" : ",\n").utf8)
            first = false
            out += Array("{\"name\":\"".utf8)
            out += Self.jsonEscaped(entry.name)
            out += Array("\",\"type\":\"\(entry.isDirectory ? "directory" : "file")\"".utf8)
            if !entry.isDirectory { out += Array(",\"size\":\(entry.size)".utf8) }
            out += Array(",\"mtime\":\"".utf8)
            out += Self.rfc3339(entry.modified)
            out += Array("\"}".utf8)
        }
        out += Array((first ? "]\n" : "\n]\n").utf8)
        return out
    }

    // MARK: Escaping

    /// Text for HTML content and attribute values: `& < > " '` as references, and the bytes decoded as UTF-8 with
    /// any invalid sequence shown as U+FFFD (a name that is not UTF-8 is still shown, never passed through raw).
    static func htmlEscaped(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "&": out += Array("&amp;".utf8)
            case "<": out += Array("&lt;".utf8)
            case ">": out += Array("&gt;".utf8)
            case "\"": out += Array("&quot;".utf8)
            case "'": out += Array("&#39;".utf8)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += Array("&#xFFFD;".utf8)
                } else {
                    out += Array(String(scalar).utf8)
                }
            }
        }
        return out
    }

    /// A path segment for a URL: every byte but RFC 3986's unreserved characters percent-encoded (upper-case hex),
    /// so `%`, `#`, `?`, `&`, quotes, spaces and non-ASCII bytes all survive the round trip to the server.
    static func percentEncoded(_ bytes: [UInt8]) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            let unreserved = (byte | 0x20) &- 0x61 < 26 || byte &- 0x30 < 10 || byte == 0x2D || byte == 0x2E
                || byte == 0x5F || byte == 0x7E
            if unreserved {
                out.append(byte)
            } else {
                out += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return out
    }

    /// A JSON string's content (RFC 8259 §7): `"` and `\` escaped, control characters as `\u00XX`, invalid UTF-8 as
    /// U+FFFD (JSON text is Unicode).
    static func jsonEscaped(_ bytes: [UInt8]) -> [UInt8] {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": out += [0x5C, 0x22]
            case "\\": out += [0x5C, 0x5C]
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let v = Int(scalar.value)
                    out += Array("\\u00".utf8) + [hex[v >> 4], hex[v & 0xF]]
                } else {
                    out += Array(String(scalar).utf8)
                }
            }
        }
        return out
    }

    // MARK: Values

    /// RFC 3339 in UTC with whole seconds: `2026-12-02T10:00:00Z`.
    static func rfc3339(_ seconds: Int64) -> [UInt8] {
        let (days, secondOfDay) = HTTPDateParser.floorDivide(Int(clamping: seconds), 86_400)
        let (year, month, day) = HTTPDateParser.civil(fromDays: days)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let yearText = year >= 0 && year < 10_000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        return Array("\(yearText)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z".utf8)
    }

    /// `1023 B`, `1.5 KiB`, `12 MiB`: what a person reads; the exact count is in the cell's title.
    static func humanSize(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return tenths < 100 ? "\(tenths / 10).\(tenths % 10) \(units[unit])" : "\(Int(value.rounded())) \(units[unit])"
    }
}

/// The access log's line formats (`--access-log-format`).
///
/// - `combined` is nginx's default: `$remote_addr - $remote_user [$time_local] "$request" $status
///   $body_bytes_sent "$http_referer" "$http_user_agent"` (Swerve has no users: `-`).
/// - `common` is the NCSA Common Log Format, the same without the last two fields.
/// - `json` is one object per line (Caddy's and static-web-server's style), for log pipelines.
public enum AccessLogFormat: String, Sendable, CaseIterable {
    case combined, common, json
}

/// Where a response's body came from, as the log's `cache` field names it.
public enum AccessLogCache: UInt8, Sendable, BitwiseCopyable {
    /// Not a compressed representation (identity, an error, a 304 without a body decision).
    case none
    /// Swerve's in-memory cache of compressed bodies.
    case hit
    /// Compressed for this request, then cached.
    case miss
    /// A `.gz`/`.br`/`.zst` file beside the resource.
    case precompressed
    /// Compressed on the fly in pieces (too large to cache).
    case stream

    public init(_ timing: ServerTiming?) {
        switch timing {
        case nil: self = .none
        case .hit: self = .hit
        case .miss: self = .miss
        case .precompressed: self = .precompressed
        case .stream: self = .stream
        }
    }

    var name: StaticString {
        switch self {
        case .none: "none"
        case .hit: "hit"
        case .miss: "miss"
        case .precompressed: "precompressed"
        case .stream: "stream"
        }
    }
}

/// A moment as the log writes it: seconds since the epoch, milliseconds, and the offset of local time from UTC
/// (the caller reads it from the system's time zone, once per second; `[$time_local]` is in local time, the JSON
/// `ts` in UTC).
public struct AccessLogTime: Sendable, Equatable {
    public var seconds: Int
    public var milliseconds: Int
    public var utcOffsetSeconds: Int

    public init(seconds: Int, milliseconds: Int, utcOffsetSeconds: Int) {
        self.seconds = seconds
        self.milliseconds = milliseconds
        self.utcOffsetSeconds = utcOffsetSeconds
    }
}

/// The time field of the lines written in one second, rendered once for that second (a loop writes thousands of
/// lines a second; formatting a date is the most expensive part of a line). JSON's `ts` carries milliseconds: its
/// text up to the seconds is kept and the milliseconds are written per line.
public struct AccessLogTimeText: ~Copyable {
    private let storage: UnsafeMutableRawBufferPointer
    private var length = 0
    private var second = Int.min
    private var offset = 0
    private var json = false

    public init() { storage = .allocate(byteCount: 40, alignment: 8) }
    deinit { storage.deallocate() }

    /// `02/Dec/2026:12:30:58 +0000` (plain formats) or `2026-12-02T12:30:58.` (JSON, milliseconds to follow).
    public mutating func text(_ time: AccessLogTime, json: Bool) -> UnsafeRawBufferPointer {
        if time.seconds != second || time.utcOffsetSeconds != offset || json != self.json {
            var w = ByteWriter(storage)
            if json {
                AccessLogLine.appendUTCTime(AccessLogTime(seconds: time.seconds, milliseconds: 0, utcOffsetSeconds: 0), into: &w)
                length = w.count - 4  // without "000Z"
            } else {
                AccessLogLine.appendLocalTime(time, into: &w)
                length = w.count
            }
            second = time.seconds
            offset = time.utcOffsetSeconds
            self.json = json
        }
        return UnsafeRawBufferPointer(rebasing: storage[0..<length])
    }
}

/// One finished exchange, as a line of the access log. Byte fields are views; those that came from the client are
/// escaped when written (`AccessLogLine.appendEscaped`), so no request can forge a line or a field.
public struct AccessLogLine {
    /// Longest request-target kept: longer ones are cut here and end in `...`. 2048 bytes keeps a line short enough
    /// for every log pipeline (syslog relays cut at 8 KiB) even when each byte is escaped to four, and still shows
    /// what was asked for.
    public static let maximumTargetBytes = 2048
    /// Longest method and version kept (the parser refuses longer methods than 32 bytes anyway); the rest of an
    /// unparseable first line goes into the target's share.
    public static let maximumMethodBytes = 32
    public static let maximumVersionBytes = 16
    /// Longest Host, User-Agent and Referer value kept. Real user agents are under 300 bytes; 1 KiB bounds a
    /// hostile one.
    public static let maximumFieldBytes = 1024
    /// Bytes one line can take at most (every client byte escaped, in the widest format): a log buffer of this
    /// size holds any line.
    public static let maximumLength = 1024
        + 5 * (maximumMethodBytes + maximumTargetBytes + maximumVersionBytes + 3 * maximumFieldBytes)

    /// The server's text for the client's address (not escaped: it is the server's own).
    public var remoteAddress: UnsafeRawBufferPointer
    public var remotePort: Int
    /// The request line's three parts as received (`RequestLine`); empty when nothing was read.
    public var method: UnsafeRawBufferPointer
    public var target: UnsafeRawBufferPointer
    public var version: UnsafeRawBufferPointer
    /// The target was longer than `maximumTargetBytes` and is cut.
    public var targetCut: Bool
    public var host: UnsafeRawBufferPointer?
    public var userAgent: UnsafeRawBufferPointer?
    public var referer: UnsafeRawBufferPointer?
    public var status: Int
    /// Body bytes written to the client (a HEAD's and a 304's are 0; a response cut off counts what left).
    public var bodyBytes: Int
    /// From the first byte of the request read to the last byte of the response written.
    public var durationNanoseconds: Int
    public var encoding: ContentCoding
    public var cache: AccessLogCache
    /// When the response's last byte was written.
    public var time: AccessLogTime
    /// `time` as `AccessLogTimeText` renders it for this line's format, when the caller keeps one (nil: rendered here).
    public var timeText: UnsafeRawBufferPointer?

    public init(
        remoteAddress: UnsafeRawBufferPointer, remotePort: Int, method: UnsafeRawBufferPointer,
        target: UnsafeRawBufferPointer, version: UnsafeRawBufferPointer, targetCut: Bool = false,
        host: UnsafeRawBufferPointer? = nil, userAgent: UnsafeRawBufferPointer? = nil,
        referer: UnsafeRawBufferPointer? = nil, status: Int, bodyBytes: Int, durationNanoseconds: Int,
        encoding: ContentCoding = .identity, cache: AccessLogCache = .none, time: AccessLogTime
    ) {
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.method = method
        self.target = target
        self.version = version
        self.targetCut = targetCut
        self.host = host
        self.userAgent = userAgent
        self.referer = referer
        self.status = status
        self.bodyBytes = bodyBytes
        self.durationNanoseconds = durationNanoseconds
        self.encoding = encoding
        self.cache = cache
        self.time = time
    }

    /// Writes the line, with its LF. `w` must have `maximumLength` bytes left.
    public func render(_ format: AccessLogFormat, into w: inout ByteWriter) {
        precondition(w.remaining >= Self.maximumLength, "AccessLogLine needs maximumLength bytes")
        switch format {
        case .combined, .common:
            w.append(remoteAddress)
            w.append(" - - [")
            if let timeText { w.append(timeText) } else { Self.appendLocalTime(time, into: &w) }
            w.append("] \"")
            appendRequestLine(into: &w)
            w.append("\" ")
            w.append(decimal: status)
            w.append(byte: 0x20)
            w.append(decimal: bodyBytes)
            if format == .combined {
                w.append(" \"")
                Self.appendField(referer, json: false, into: &w)
                w.append("\" \"")
                Self.appendField(userAgent, json: false, into: &w)
                w.append(byte: 0x22)
            }
        case .json:
            w.append("{\"ts\":\"")
            if let timeText {
                w.append(timeText)
                Self.appendThreeDigits(time.milliseconds, into: &w)
                w.append(byte: 0x5A)
            } else {
                Self.appendUTCTime(time, into: &w)
            }
            w.append("\",\"remote_ip\":\"")
            w.append(remoteAddress)
            w.append("\",\"remote_port\":")
            w.append(decimal: remotePort)
            w.append(",\"method\":\"")
            Self.appendEscaped(method, json: true, into: &w)
            w.append("\",\"uri\":\"")
            Self.appendEscaped(target, json: true, into: &w)
            if targetCut { w.append("...") }
            w.append("\",\"proto\":\"")
            Self.appendEscaped(version, json: true, into: &w)
            w.append("\",\"host\":\"")
            if let host { Self.appendEscaped(host, json: true, into: &w) }
            w.append("\",\"status\":")
            w.append(decimal: status)
            w.append(",\"size\":")
            w.append(decimal: bodyBytes)
            w.append(",\"duration_ms\":")
            w.append(milliseconds: UInt64(max(0, durationNanoseconds)))
            w.append(",\"user_agent\":\"")
            if let userAgent { Self.appendEscaped(userAgent, json: true, into: &w) }
            w.append("\",\"referer\":\"")
            if let referer { Self.appendEscaped(referer, json: true, into: &w) }
            w.append("\",\"encoding\":\"")
            switch encoding {
            case .identity: w.append("identity")
            case .gzip: w.append("gzip")
            case .br: w.append("br")
            case .zstd: w.append("zstd")
            }
            w.append("\",\"cache\":\"")
            w.append(cache.name)
            w.append("\"}")
        }
        w.append(byte: 0x0A)
    }

    /// nginx's `$request`: the three parts joined by single spaces as they were on the line (nothing read: empty).
    private func appendRequestLine(into w: inout ByteWriter) {
        Self.appendEscaped(method, json: false, into: &w)
        if !target.isEmpty || !version.isEmpty {
            w.append(byte: 0x20)
            Self.appendEscaped(target, json: false, into: &w)
            if targetCut { w.append("...") }
        }
        if !version.isEmpty {
            w.append(byte: 0x20)
            Self.appendEscaped(version, json: false, into: &w)
        }
    }

    /// A field in quotes, or nginx's `-` when the request had none.
    private static func appendField(_ value: UnsafeRawBufferPointer?, json: Bool, into w: inout ByteWriter) {
        guard let value else {
            w.append(byte: 0x2D)
            return
        }
        appendEscaped(value, json: json, into: &w)
    }

    /// Client bytes, escaped as nginx escapes variables in its log: printable ASCII stays, and `"`, `\`, control
    /// characters, DEL and every non-ASCII byte become `\xHH`. So a request line can neither end a line, nor close a
    /// quoted field, nor smuggle a terminal escape. In JSON the same text is written with its backslash escaped
    /// (`\\xHH`), so a JSON parser reads exactly the text the plain formats show; JSON's own escapes are never needed
    /// (no other byte that needs one is left).
    public static func appendEscaped(_ bytes: UnsafeRawBufferPointer, json: Bool, into w: inout ByteWriter) {
        let hex: StaticString = "0123456789ABCDEF"
        var start = 0
        while start < bytes.count {
            // A run of bytes that stay as they are is copied in one go (most fields are all such bytes).
            var end = start
            while end < bytes.count && isPlain(bytes[end]) { end += 1 }
            if end > start { w.append(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) }
            guard end < bytes.count else { return }
            let byte = bytes[end]
            start = end + 1
            w.append(byte: 0x5C)
            if json { w.append(byte: 0x5C) }
            w.append(byte: 0x78)
            w.append(byte: hex.utf8Start[Int(byte >> 4)])
            w.append(byte: hex.utf8Start[Int(byte & 0x0F)])
        }
    }

    /// Printable ASCII other than `"` and `\`.
    @inline(__always) static func isPlain(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x7F && byte != 0x22 && byte != 0x5C
    }

    private static let months: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"

    /// `02/Dec/2026:12:30:58 +0100` (strftime's `%d/%b/%Y:%H:%M:%S %z`, nginx's `$time_local`).
    public static func appendLocalTime(_ time: AccessLogTime, into w: inout ByteWriter) {
        let (days, second) = HTTPDateParser.floorDivide(time.seconds + time.utcOffsetSeconds, 86_400)
        let (year, month, day) = HTTPDateParser.civil(fromDays: days)
        appendTwoDigits(day, into: &w)
        w.append(byte: 0x2F)
        let m = (month - 1) * 3
        w.append(byte: months.utf8Start[m])
        w.append(byte: months.utf8Start[m + 1])
        w.append(byte: months.utf8Start[m + 2])
        w.append(byte: 0x2F)
        w.append(decimal: year)
        w.append(byte: 0x3A)
        appendClock(second, into: &w)
        w.append(byte: 0x20)
        let offset = time.utcOffsetSeconds
        w.append(byte: offset < 0 ? 0x2D : 0x2B)
        let minutes = abs(offset) / 60
        appendTwoDigits(minutes / 60, into: &w)
        appendTwoDigits(minutes % 60, into: &w)
    }

    /// RFC 3339 in UTC with milliseconds: `2026-12-02T12:30:58.123Z`.
    public static func appendUTCTime(_ time: AccessLogTime, into w: inout ByteWriter) {
        let (days, second) = HTTPDateParser.floorDivide(time.seconds, 86_400)
        let (year, month, day) = HTTPDateParser.civil(fromDays: days)
        w.append(decimal: year)
        w.append(byte: 0x2D)
        appendTwoDigits(month, into: &w)
        w.append(byte: 0x2D)
        appendTwoDigits(day, into: &w)
        w.append(byte: 0x54)
        appendClock(second, into: &w)
        w.append(byte: 0x2E)
        appendThreeDigits(time.milliseconds, into: &w)
        w.append(byte: 0x5A)
    }

    private static func appendThreeDigits(_ value: Int, into w: inout ByteWriter) {
        let n = min(max(value, 0), 999)
        w.append(byte: 0x30 + UInt8(n / 100))
        w.append(byte: 0x30 + UInt8(n / 10 % 10))
        w.append(byte: 0x30 + UInt8(n % 10))
    }

    private static func appendClock(_ secondOfDay: Int, into w: inout ByteWriter) {
        appendTwoDigits(secondOfDay / 3600, into: &w)
        w.append(byte: 0x3A)
        appendTwoDigits(secondOfDay / 60 % 60, into: &w)
        w.append(byte: 0x3A)
        appendTwoDigits(secondOfDay % 60, into: &w)
    }

    private static func appendTwoDigits(_ value: Int, into w: inout ByteWriter) {
        w.append(byte: 0x30 + UInt8(value / 10 % 10))
        w.append(byte: 0x30 + UInt8(value % 10))
    }
}

/// A request's first line split the way the access log shows it: the method up to the first space, the version after
/// the last one, the target between. Works on any bytes, including a line the parser refused (then it is whatever
/// the client sent before the first LF, without the CR).
public struct RequestLine: Sendable, Equatable {
    public var method: Range<Int>
    public var target: Range<Int>
    public var version: Range<Int>

    /// The line of a request the parser accepted: its method and target as parsed, the version after the target.
    public init(_ head: RequestHead, in bytes: UnsafeRawBufferPointer) {
        method = Int(head.methodName.start)..<Int(head.methodName.end)
        target = Int(head.target.start)..<Int(head.target.end)
        var end = target.upperBound + 1
        while end < bytes.count && bytes[end] != 0x0D && bytes[end] != 0x0A { end += 1 }
        version = min(target.upperBound + 1, end)..<end
    }

    /// The first line of `bytes`, looking at most `limit` bytes for its end.
    public init(_ bytes: UnsafeRawBufferPointer, limit: Int = 16 * 1024) {
        let scan = min(bytes.count, limit)
        var end = 0
        while end < scan && bytes[end] != 0x0A { end += 1 }
        if end > 0 && bytes[end - 1] == 0x0D { end -= 1 }
        var firstSpace = 0
        while firstSpace < end && bytes[firstSpace] != 0x20 { firstSpace += 1 }
        guard firstSpace < end else {
            method = 0..<end
            target = end..<end
            version = end..<end
            return
        }
        var lastSpace = end - 1
        while lastSpace > firstSpace && bytes[lastSpace] != 0x20 { lastSpace -= 1 }
        method = 0..<firstSpace
        if lastSpace == firstSpace {
            // `GET /path` (HTTP/0.9 style): no version.
            target = (firstSpace + 1)..<end
            version = end..<end
        } else {
            target = (firstSpace + 1)..<lastSpace
            version = (lastSpace + 1)..<end
        }
    }
}

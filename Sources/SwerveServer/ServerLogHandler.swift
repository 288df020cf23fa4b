import Logging
import SwerveHTTP

/// The server's own messages (startup, root swaps, shutdown, log trouble) as swift-log's handler, in the style of
/// the access log: with `--access-log-format json` one JSON object per line (`ts`, `level`, `msg`, then the
/// metadata), otherwise `[time_local] level: message key=value …`. Lines go through the `LogWriter` thread, so a
/// message logged on an event loop never waits for standard error.
public struct ServerLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let writer: LogWriter
    let json: Bool

    public init(writer: LogWriter, format: AccessLogFormat) {
        self.writer = writer
        json = format == .json
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        writer.event(Array(Self.line(level: event.level, message: "\(event.message)", metadata: fields, json: json, time: AccessLogTime.now()).utf8))
    }

    /// One line, LF included. Metadata keys in sorted order, so a line is the same from run to run.
    static func line(level: Logger.Level, message: String, metadata: Logger.Metadata, json: Bool, time: AccessLogTime) -> String {
        var stamp = [UInt8](repeating: 0, count: 64)
        let stampLength = stamp.withUnsafeMutableBytes { area in
            var w = ByteWriter(area)
            if json { AccessLogLine.appendUTCTime(time, into: &w) } else { AccessLogLine.appendLocalTime(time, into: &w) }
            return w.count
        }
        let timeText = String(decoding: stamp[0..<stampLength], as: UTF8.self)
        let keys = metadata.keys.sorted()
        if json {
            var text = "{\"ts\":\"\(timeText)\",\"level\":\"\(level)\",\"msg\":\(jsonString(message))"
            for key in keys { text += ",\(jsonString(key)):\(jsonString("\(metadata[key]!)"))" }
            return text + "}\n"
        }
        var text = "[\(timeText)] \(level): \(plain(message, quoted: false))"
        for key in keys { text += " \(plain(key, quoted: false))=\(plain("\(metadata[key]!)", quoted: true))" }
        return text + "\n"
    }

    /// A JSON string literal (RFC 8259 §7): quote, backslash and control characters escaped.
    static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Text for the plain format: control characters escaped (`\xHH`) so a message can never make two lines; a
    /// value with a space, a quote or nothing in it is quoted.
    static func plain(_ value: String, quoted: Bool) -> String {
        var out = ""
        var needsQuotes = value.isEmpty
        for scalar in value.unicodeScalars {
            let code = scalar.value
            if code < 0x20 || code == 0x7F || (quoted && (code == 0x22 || code == 0x5C)) {
                out += "\\x" + (code < 0x10 ? "0" : "") + String(code, radix: 16, uppercase: true)
                needsQuotes = needsQuotes || code == 0x22
            } else {
                if code == 0x20 { needsQuotes = true }
                out.unicodeScalars.append(scalar)
            }
        }
        return quoted && needsQuotes ? "\"\(out)\"" : out
    }
}

import Testing
@testable import SwerveHTTP

/// The access log's line formats, rendered without a server (`AccessLogLine`, `RequestLine`, `AccessLogTimeText`).
@Suite("Access log lines")
struct AccessLogLineTests {
    /// 2026-12-02T12:30:58.042Z.
    static let time = AccessLogTime(seconds: 1_796_214_658, milliseconds: 42, utcOffsetSeconds: 0)

    func render(_ line: AccessLogLine, _ format: AccessLogFormat) -> String {
        let area = UnsafeMutableRawBufferPointer.allocate(byteCount: AccessLogLine.maximumLength, alignment: 1)
        defer { area.deallocate() }
        var w = ByteWriter(area)
        line.render(format, into: &w)
        return String(decoding: area[0..<w.count], as: UTF8.self)
    }

    func line(_ arena: Arena, request: String = "GET /index.html?x=1 HTTP/1.1", userAgent: String? = "curl/8.5.0",
              referer: String? = nil, status: Int = 200, size: Int = 1024, time: AccessLogTime = time) -> AccessLogLine {
        let bytes = arena.bytes(request)
        let parts = RequestLine(bytes)
        return AccessLogLine(
            remoteAddress: arena.bytes("192.0.2.7"), remotePort: 51234,
            method: UnsafeRawBufferPointer(rebasing: bytes[parts.method]),
            target: UnsafeRawBufferPointer(rebasing: bytes[parts.target]),
            version: UnsafeRawBufferPointer(rebasing: bytes[parts.version]),
            host: arena.bytes("example.test"), userAgent: userAgent.map(arena.bytes), referer: referer.map(arena.bytes),
            status: status, bodyBytes: size, durationNanoseconds: 1_234_567, encoding: .gzip, cache: .hit, time: time)
    }

    @Test("combined is nginx's: address, - -, [time_local], \"request\", status, bytes, \"referer\", \"user agent\"")
    func combined() {
        let arena = Arena()
        #expect(render(line(arena, referer: "https://example.test/"), .combined)
            == #"192.0.2.7 - - [02/Dec/2026:12:30:58 +0000] "GET /index.html?x=1 HTTP/1.1" 200 1024 "https://example.test/" "curl/8.5.0""# + "\n")
        // Absent fields are nginx's "-".
        #expect(render(line(arena, userAgent: nil), .combined).hasSuffix(#" 200 1024 "-" "-""# + "\n"))
    }

    @Test("common drops referer and user agent")
    func common() {
        let arena = Arena()
        #expect(render(line(arena, referer: "r"), .common) == #"192.0.2.7 - - [02/Dec/2026:12:30:58 +0000] "GET /index.html?x=1 HTTP/1.1" 200 1024"# + "\n")
    }

    @Test("json: every field, in a fixed order, duration in milliseconds with microseconds")
    func json() {
        let arena = Arena()
        #expect(render(line(arena, referer: "https://r/"), .json) == #"{"ts":"2026-12-02T12:30:58.042Z","remote_ip":"192.0.2.7","remote_port":51234,"method":"GET","uri":"/index.html?x=1","proto":"HTTP/1.1","host":"example.test","status":200,"size":1024,"duration_ms":1.234,"user_agent":"curl/8.5.0","referer":"https://r/","encoding":"gzip","cache":"hit"}"# + "\n")
    }

    @Test("$time_local in the server's zone: east and west of UTC, and across midnight")
    func localTime() {
        let arena = Arena()
        let india = AccessLogTime(seconds: Self.time.seconds, milliseconds: 0, utcOffsetSeconds: 5 * 3600 + 1800)
        #expect(render(line(arena, time: india), .common).contains("[02/Dec/2026:18:00:58 +0530]"))
        let california = AccessLogTime(seconds: Self.time.seconds - 13 * 3600, milliseconds: 0, utcOffsetSeconds: -8 * 3600)
        #expect(render(line(arena, time: california), .common).contains("[01/Dec/2026:15:30:58 -0800]"))
        // JSON's ts is always UTC.
        #expect(render(line(arena, time: india), .json).hasPrefix(#"{"ts":"2026-12-02T12:30:58.000Z""#))
    }

    @Test("client bytes are escaped as nginx escapes them: quote, backslash, controls, DEL and non-ASCII as \\xHH")
    func escaping() {
        let arena = Arena()
        let hostile = line(arena, request: "GET /a\"b\\c\u{7F}\u{1B}[31m HTTP/1.1", userAgent: "x\"\n\r\u{00}é")
        #expect(render(hostile, .combined).contains(#""GET /a\x22b\x5Cc\x7F\x1B[31m HTTP/1.1""#))
        #expect(render(hostile, .combined).hasSuffix(#""x\x22\x0A\x0D\x00\xC3\xA9""# + "\n"))
        // One line whatever was sent: the only LF is the line's own.
        #expect(render(hostile, .combined).filter { $0 == "\n" || $0 == "\r" }.count == 1)
        // JSON writes the same text with its backslashes escaped, so a JSON parser reads what the plain line shows.
        #expect(render(hostile, .json).contains(#""uri":"/a\\x22b\\x5Cc\\x7F\\x1B[31m""#))
    }

    @Test("RequestLine splits any first line: method, target, version; a line without spaces is all method")
    func requestLineSplit() {
        let arena = Arena()
        func parts(_ text: String) -> [String] {
            let bytes = arena.bytes(text)
            let line = RequestLine(bytes)
            return [line.method, line.target, line.version].map { String(decoding: bytes[$0], as: UTF8.self) }
        }
        #expect(parts("GET /a b HTTP/1.1\r\nHost: x\r\n") == ["GET", "/a b", "HTTP/1.1"])
        #expect(parts("GET /a") == ["GET", "/a", ""])
        #expect(parts("\u{16}\u{03}\u{01}garbage") == ["\u{16}\u{03}\u{01}garbage", "", ""])
        #expect(parts("") == ["", "", ""])
    }

    @Test("a cut target ends in ..., in both styles")
    func cutTarget() {
        let arena = Arena()
        var cut = line(arena)
        cut.targetCut = true
        #expect(render(cut, .combined).contains(#""GET /index.html?x=1... HTTP/1.1""#))
        #expect(render(cut, .json).contains(#""uri":"/index.html?x=1...""#))
    }

    @Test("the per-second time text renders exactly what the line would render itself")
    func timeTextMemo() {
        let arena = Arena()
        var memo = AccessLogTimeText()
        for (seconds, ms) in [(Self.time.seconds, 42), (Self.time.seconds, 999), (Self.time.seconds + 1, 0), (0, 7)] {
            let time = AccessLogTime(seconds: seconds, milliseconds: ms, utcOffsetSeconds: 3600)
            for format in AccessLogFormat.allCases {
                var memoized = line(arena, time: time)
                memoized.timeText = memo.text(time, json: format == .json)
                #expect(render(memoized, format) == render(line(arena, time: time), format), "\(seconds) \(format)")
            }
        }
    }

    @Test("the widest possible line fits maximumLength")
    func widestLine() {
        let arena = Arena()
        let junk = String(repeating: "\u{01}", count: AccessLogLine.maximumFieldBytes)
        let method = arena.bytes(String(repeating: "\u{01}", count: AccessLogLine.maximumMethodBytes))
        let line = AccessLogLine(
            remoteAddress: arena.bytes("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"), remotePort: 65535, method: method,
            target: arena.bytes(String(repeating: "\u{01}", count: AccessLogLine.maximumTargetBytes)),
            version: arena.bytes(String(repeating: "\u{01}", count: AccessLogLine.maximumVersionBytes)), targetCut: true,
            host: arena.bytes(junk), userAgent: arena.bytes(junk), referer: arena.bytes(junk), status: 599,
            bodyBytes: Int.max, durationNanoseconds: Int.max, encoding: .identity, cache: .precompressed, time: Self.time)
        for format in AccessLogFormat.allCases { #expect(render(line, format).utf8.count <= AccessLogLine.maximumLength) }
    }
}

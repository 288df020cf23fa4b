import Testing
@testable import SwerveHTTP

// MARK: - Table types

/// The facts a valid head must have. `headerLength == nil` means "the whole input".
struct RequestParserFacts: Sendable {
    var method: HTTPMethod = .get
    var path = "/"
    var minor: UInt8 = 1
    var keepAlive = true
    var contentLength = 0
    var chunked = false
    var headerLength: Int? = nil
    /// Checked when non-nil: the effective authority (nil string = expect no authority).
    var authority: String?? = .none
    /// Checked when non-nil: the stored known fields as "name: value", in order.
    var fields: [String]? = nil
}

enum RequestParserOutcome: Sendable {
    case head(RequestParserFacts)
    case status(Int)
}

struct RequestParserCase: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: [UInt8]
    let outcome: RequestParserOutcome
    var testDescription: String { name }
}

private func ok(_ name: String, _ raw: String, _ facts: RequestParserFacts = .init()) -> RequestParserCase {
    RequestParserCase(name: name, raw: Array(raw.utf8), outcome: .head(facts))
}

private func ok(_ name: String, _ raw: [UInt8], _ facts: RequestParserFacts = .init()) -> RequestParserCase {
    RequestParserCase(name: name, raw: raw, outcome: .head(facts))
}

private func bad(_ name: String, _ raw: String, _ status: Int) -> RequestParserCase {
    RequestParserCase(name: name, raw: Array(raw.utf8), outcome: .status(status))
}

private func bad(_ name: String, _ raw: [UInt8], _ status: Int) -> RequestParserCase {
    RequestParserCase(name: name, raw: raw, outcome: .status(status))
}

private func facts(
    _ method: HTTPMethod = .get, _ path: String = "/", minor: UInt8 = 1, keepAlive: Bool = true,
    contentLength: Int = 0, chunked: Bool = false, headerLength: Int? = nil, authority: String?? = .none,
    fields: [String]? = nil
) -> RequestParserFacts {
    RequestParserFacts(
        method: method, path: path, minor: minor, keepAlive: keepAlive, contentLength: contentLength,
        chunked: chunked, headerLength: headerLength, authority: authority, fields: fields)
}

private let host = "Host: example.com\r\n"
private let firstOfPipeline = "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"
private let withBody = "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\n"
private let longTarget = "/" + String(repeating: "a", count: 8191)  // exactly maxTargetLength
private let fullHeaderFill = String(repeating: "v", count: 16384 - 19 - 5)  // section = exactly maxHeaderBytes
private let hundredFields = (1...99).map { "X-F\($0): \($0)\r\n" }.joined()

/// `before` + raw bytes + `after`: for inputs that are not valid UTF-8 or hold control bytes.
private func spliced(_ before: String, _ middle: [UInt8], _ after: String) -> [UInt8] {
    Array(before.utf8) + middle + Array(after.utf8)
}

private let line11 = "GET / HTTP/1.1\r\n\(host)"

// MARK: - The table

let requestParserCases: [RequestParserCase] = [
    // ---- valid ------------------------------------------------------------------------------------------
    ok("RFC 9112 §3: GET, origin-form", "GET / HTTP/1.1\r\n\(host)\r\n",
       facts(authority: "example.com", fields: ["host: example.com"])),
    ok("RFC 9112 §3.2.1: origin-form with query", "HEAD /a/b.html?x=1&y=%20 HTTP/1.1\r\n\(host)\r\n",
       facts(.head, "/a/b.html?x=1&y=%20")),
    ok("RFC 9112 §3.2.4: asterisk-form for OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", facts(.options, "*")),
    ok("RFC 9112 §3.2: an empty Host (the target URI has no authority) is accepted; the request has no authority",
       "GET / HTTP/1.1\r\nHost:\r\n\r\n", facts(authority: .some(nil))),
    ok("RFC 9112 §3.2: an empty Host with OWS only", "GET /x HTTP/1.1\r\nHost:  \r\n\r\n", facts(.get, "/x", authority: .some(nil))),
    ok("RFC 9112 §3.2.2: absolute-form; target authority wins over Host",
       "GET http://example.com:8080/a?b HTTP/1.1\r\nHost: other.example\r\n\r\n",
       facts(.get, "/a?b", authority: "example.com:8080")),
    ok("RFC 9112 §3.2.1: absolute-form with empty path means \"/\"",
       "GET http://example.com HTTP/1.1\r\n\(host)\r\n", facts(.get, "/", authority: "example.com")),
    ok("RFC 9110 §4.2.3: absolute-form with empty path and a query: the path is \"/\"",
       "GET http://h?q=1 HTTP/1.1\r\n\(host)\r\n", facts(.get, "/", authority: "h")),
    ok("RFC 3986 §3.1: absolute-form scheme is case-insensitive",
       "GET HTTPS://Example.COM/x HTTP/1.1\r\n\(host)\r\n", facts(.get, "/x", authority: "Example.COM")),
    ok("RFC 9112 §9.3: HTTP/1.0 without Host, not persistent", "GET /index.html HTTP/1.0\r\n\r\n",
       facts(.get, "/index.html", minor: 0, keepAlive: false, authority: .some(nil))),
    ok("RFC 9112 §9.3: HTTP/1.0 with keep-alive persists", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
       facts(minor: 0, keepAlive: true)),
    ok("RFC 9112 §9.3: HTTP/1.0 close wins over keep-alive",
       "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", facts(minor: 0, keepAlive: false)),
    ok("RFC 9112 §9.3: HTTP/1.1 Connection: close", "GET / HTTP/1.1\r\n\(host)Connection: close\r\n\r\n",
       facts(keepAlive: false)),
    ok("RFC 9110 §7.6.1: connection options are a case-insensitive list",
       "GET / HTTP/1.1\r\n\(host)Connection: Keep-Alive, ,CLOSE\r\n\r\n", facts(keepAlive: false)),
    ok("RFC 9110 §7.6.1: other connection options keep HTTP/1.1 persistent",
       "GET / HTTP/1.1\r\n\(host)Connection: upgrade,  keep-alive\r\nConnection: te\r\n\r\n", facts(keepAlive: true)),
    ok("RFC 9110 §7.6.1: \"closed\" is not \"close\"", "GET / HTTP/1.1\r\n\(host)Connection: closed\r\n\r\n",
       facts(keepAlive: true)),
    ok("RFC 9110 §2.5: HTTP/1.9 is processed as HTTP/1.1", "GET / HTTP/1.9\r\n\(host)\r\n", facts(minor: 1)),
    ok("RFC 9112 §2.2: bare LF line terminators", "GET / HTTP/1.1\nHost: a\n\n"),
    ok("RFC 9112 §2.2: mixed CRLF and LF terminators", "GET / HTTP/1.1\r\nHost: a\n\r\n"),
    ok("RFC 9112 §2.2: leading empty lines are skipped", "\r\n\r\nGET / HTTP/1.1\r\n\(host)\r\n"),
    ok("RFC 9112 §2.2: leading bare LF is skipped", "\nGET / HTTP/1.1\r\n\(host)\r\n"),
    ok("RFC 9112 §2.2: 16 leading empty lines are skipped",
       String(repeating: "\r\n", count: 16) + "GET / HTTP/1.1\r\n\(host)\r\n"),
    ok("RFC 9112 §5: OWS around a field value is trimmed", "GET / HTTP/1.1\r\nHost: \t example.com \t \r\n\r\n",
       facts(fields: ["host: example.com"])),
    ok("RFC 9112 §5: empty field values", "GET / HTTP/1.1\r\n\(host)X-Empty:\r\nX-Blank:   \r\n\r\n"),
    ok("RFC 9110 §5.6.2: every tchar in a field name",
       "GET / HTTP/1.1\r\n\(host)!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n"),
    ok("RFC 9110 §5.1: field names are case-insensitive",
       "GET / HTTP/1.1\r\nhOsT: a\r\nCONTENT-LENGTH: 3\r\n\r\n",
       facts(contentLength: 3, fields: ["host: a", "contentLength: 3"])),
    ok("RFC 9110 §5.5: obs-text is allowed in field values",
       spliced(line11 + "User-Agent: caf", [0xC3, 0xA9, 0x80, 0xFF], "\r\n\r\n")),
    ok("RFC 9110 §5.5: HTAB inside a field value", "GET / HTTP/1.1\r\n\(host)X: a\tb\r\n\r\n"),
    ok("RFC 9110 §8.6: Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: 42\r\n\r\n",
       facts(.other, contentLength: 42)),
    ok("RFC 9112 §6.3: Content-Length list of identical values",
       "PUT / HTTP/1.1\r\n\(host)Content-Length: 5, 5\r\n\r\n", facts(.other, contentLength: 5)),
    ok("RFC 9112 §6.3: repeated identical Content-Length lines",
       "PUT / HTTP/1.1\r\n\(host)Content-Length: 5\r\ncontent-length: 005\r\n\r\n", facts(.other, contentLength: 5)),
    ok("RFC 9110 §8.6: 18-digit Content-Length", "PUT / HTTP/1.1\r\n\(host)Content-Length: 999999999999999999\r\n\r\n",
       facts(.other, contentLength: 999_999_999_999_999_999)),
    ok("RFC 9110 §8.6: Content-Length 0 in a GET", "GET / HTTP/1.1\r\n\(host)Content-Length: 0\r\n\r\n"),
    ok("RFC 9112 §6.1: Transfer-Encoding: chunked", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n",
       facts(.other, chunked: true)),
    ok("RFC 9112 §7 / RFC 9110 §5.6.1: CHUNKED case-insensitive, empty list elements ignored",
       "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: , CHUNKED ,\r\n\r\n", facts(.other, chunked: true)),
    ok("RFC 9110 §9.1: POST is .other", "POST /x HTTP/1.1\r\n\(host)\r\n", facts(.other, "/x")),
    ok("RFC 9110 §9.1: methods are case-sensitive: get is .other", "get / HTTP/1.1\r\n\(host)\r\n", facts(.other)),
    ok("RFC 9112 §3: a 32-byte method token is accepted",
       String(repeating: "M", count: 32) + " / HTTP/1.1\r\n\(host)\r\n", facts(.other)),
    ok("RFC 9110 §7.2: Host IPv4 with port", "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
       facts(authority: "127.0.0.1:8080")),
    ok("RFC 3986 §3.2.2: Host IPv6 literal with port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
    ok("RFC 3986 §3.2.2: Host full IPv6", "GET / HTTP/1.1\r\nHost: [2001:DB8:0:0:0:0:0:1]\r\n\r\n"),
    ok("RFC 3986 §3.2.2: Host IPv6 with embedded IPv4", "GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]\r\n\r\n"),
    ok("RFC 3986 §3.2.2: Host IPvFuture", "GET / HTTP/1.1\r\nHost: [v1.fe80::a+en1]\r\n\r\n"),
    ok("RFC 3986 §3.2.2: Host reg-name with pct-encoded and sub-delims",
       "GET / HTTP/1.1\r\nHost: ex%41mple_-~!$&'()*+,;=.com:\r\n\r\n"),
    ok("RFC 9112 §3.2.2: absolute-form with IPv6 authority", "GET http://[::1]:80/p HTTP/1.1\r\nHost: x\r\n\r\n",
       facts(.get, "/p", authority: "[::1]:80")),
    ok("RFC 9110 §5.3: known fields kept in order, unknown ones skipped",
       "GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\nX-Other: 1\r\nRange: bytes=0-1\r\n"
           + "If-None-Match: \"y\"\r\nIf-Range: \"z\"\r\nAccept-Encoding: gzip\r\nIf-Match: *\r\n"
           + "If-Modified-Since: d1\r\nIf-Unmodified-Since: d2\r\n\r\n",
       facts(fields: [
           "host: a", "ifNoneMatch: \"x\"", "range: bytes=0-1", "ifNoneMatch: \"y\"", "ifRange: \"z\"",
           "acceptEncoding: gzip", "ifMatch: *", "ifModifiedSince: d1", "ifUnmodifiedSince: d2",
       ])),
    ok("RFC 9112 §9.3.2: pipelined requests: headerLength stops at the first",
       firstOfPipeline + "GET /b HTTP/1.1\r\n\(host)\r\n",
       facts(.get, "/a", headerLength: firstOfPipeline.utf8.count)),
    ok("RFC 9112 §6.3: headerLength stops before the body", withBody + "helloGET / HTTP/1.1\r\n",
       facts(.other, "/form", contentLength: 5, headerLength: withBody.utf8.count)),
    ok("RFC 9112 §3: request-target of exactly maxTargetLength", "GET \(longTarget) HTTP/1.1\r\n\(host)\r\n",
       facts(.get, longTarget)),
    ok("RFC 9110 §5.4: header section of exactly maxHeaderBytes",
       "GET / HTTP/1.1\r\n\(host)X: \(fullHeaderFill)\r\n\r\n"),
    ok("RFC 9110 §5.4: exactly maxHeaderFields field lines", "GET / HTTP/1.1\r\n\(host)\(hundredFields)\r\n"),

    // ---- request-line errors --------------------------------------------------------------------------
    bad("RFC 9112 §2.2: bare CR in the request-target", "GET /\rx HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §2.2: bare CR ending the request-line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    bad("RFC 9112 §2.2: bare CR before the request-line", "\rGET / HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §2.2: 17 leading empty lines", String(repeating: "\r\n", count: 17) + "GET / HTTP/1.1\r\n\r\n", 400),
    bad("RFC 9110 §9.1: method must be a token", "GE(T / HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3: empty method", " / HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3: method longer than any implemented → 501",
        String(repeating: "M", count: 33) + " / HTTP/1.1\r\n\(host)\r\n", 501),
    bad("RFC 9112 §3: two SP before the request-target", "GET  / HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3: two SP before the version", "GET /  HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3: HTAB as separator", "GET\t/ HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3.2: relative request-target", "GET a/b HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3.2.4: asterisk-form with GET", "GET * HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3.2.4: asterisk followed by more", "OPTIONS *x HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3.2.2: absolute-form with a non-http scheme", "GET ftp://a/ HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3.2.3: authority-form is not served", "CONNECT example.com:443 HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9110 §4.2.4: userinfo in absolute-form", "GET http://user@example.com/ HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9110 §4.2.1: empty host in absolute-form", "GET http:///a HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3.2: DEL in the request-target", spliced("GET /a", [0x7F], " HTTP/1.1\r\n\(host)\r\n"), 400),
    bad("RFC 9112 §3.2: obs-text in the request-target", spliced("GET /", [0x80], " HTTP/1.1\r\n\(host)\r\n"), 400),
    bad("RFC 9112 §3.2: HTAB in the request-target", "GET /a\tb HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3.2: NUL in the request-target", spliced("GET /", [0], " HTTP/1.1\r\n\(host)\r\n"), 400),
    bad("RFC 3986 §3.5: fragment in the request-target", "GET /a#b HTTP/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3: request-target longer than maxTargetLength → 414",
        "GET \(longTarget)b HTTP/1.1\r\n\(host)\r\n", 414),
    bad("RFC 9112 §2.3: HTTP-name is case-sensitive", "GET / http/1.1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §2.3: two-digit minor version", "GET / HTTP/1.10\r\n\(host)\r\n", 400),
    bad("RFC 9112 §2.3: two-digit major version", "GET / HTTP/10.0\r\n\(host)\r\n", 400),
    bad("RFC 9112 §2.3: version without minor", "GET / HTTP/1\r\n\(host)\r\n", 400),
    bad("RFC 9112 §3: SP after the version", "GET / HTTP/1.1 \r\n\(host)\r\n", 400),
    bad("RFC 9110 §15.6.6: HTTP/2.0 → 505", "GET / HTTP/2.0\r\n\(host)\r\n", 505),
    bad("RFC 9110 §15.6.6: HTTP/3.0 → 505", "GET / HTTP/3.0\r\n\(host)\r\n", 505),
    bad("RFC 9110 §15.6.6: HTTP/0.9 version text → 505", "GET / HTTP/0.9\r\n\r\n", 505),
    bad("RFC 9110 §15.6.6: HTTP/0.9 request-line without version → 505", "GET /index.html\r\n", 505),

    // ---- field-line errors ----------------------------------------------------------------------------
    bad("RFC 9112 §5.1: SP between field name and colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    bad("RFC 9112 §5.1: HTAB between field name and colon", "GET / HTTP/1.1\r\n\(host)X\t: a\r\n\r\n", 400),
    bad("RFC 9112 §5.2: obs-fold", "GET / HTTP/1.1\r\n\(host)X: a\r\n b\r\n\r\n", 400),
    bad("RFC 9112 §5.2: obs-fold with HTAB", "GET / HTTP/1.1\r\n\(host)X: a\r\n\tb\r\n\r\n", 400),
    bad("RFC 9112 §2.2: whitespace before the first field line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    bad("RFC 9112 §2.2: bare CR in a field value", "GET / HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n", 400),
    bad("RFC 9112 §2.2: bare CR instead of the final CRLF", "GET / HTTP/1.1\r\n\(host)\rX", 400),
    bad("RFC 9110 §5.5: NUL in a field value", spliced(line11 + "X: a", [0], "b\r\n\r\n"), 400),
    bad("RFC 9110 §5.5: CTL 0x01 in a field value", spliced(line11 + "X: a", [1], "\r\n\r\n"), 400),
    bad("RFC 9110 §5.5: DEL in a field value", spliced(line11 + "X: a", [0x7F], "\r\n\r\n"), 400),
    bad("RFC 9110 §5.5: CTL in a long value (SWAR path)",
        spliced(line11 + "X: abcdefghijklmnop", [0x1B], "qrstuvwxyz\r\n\r\n"), 400),
    bad("RFC 9112 §5: empty field name", "GET / HTTP/1.1\r\n\(host): x\r\n\r\n", 400),
    bad("RFC 9112 §5: field line without colon", "GET / HTTP/1.1\r\n\(host)NoColon\r\n\r\n", 400),
    bad("RFC 9110 §5.6.2: non-tchar in a field name", "GET / HTTP/1.1\r\n\(host)X(y): z\r\n\r\n", 400),
    bad("RFC 9110 §5.6.2: obs-text in a field name", spliced(line11 + "X", [0xC3], ": z\r\n\r\n"), 400),

    // ---- Host -----------------------------------------------------------------------------------------
    bad("RFC 9112 §3.2: HTTP/1.1 without Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
    bad("RFC 9112 §3.2: two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    bad("RFC 9112 §3.2: two Host lines in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
    bad("RFC 9112 §3: a request-line without a request-target (GET HTTP/1.1) is malformed, not HTTP/0.9",
        "GET HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with SP", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host port without host", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with a non-digit port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with an unterminated IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with a non-hex IPv6 group", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with nine IPv6 groups", "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with two \"::\"", "GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with a bad embedded IPv4", "GET / HTTP/1.1\r\nHost: [::256.0.0.1]\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host with a bad pct-encoding", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400),
    bad("RFC 9112 §3.2: Host as a list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400),
    bad("RFC 9112 §3.2.2: absolute-form in HTTP/1.1 still needs Host", "GET http://a/ HTTP/1.1\r\n\r\n", 400),
    bad("RFC 9112 §3.2: absolute-form does not excuse an invalid Host",
        "GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", 400),

    // ---- framing --------------------------------------------------------------------------------------
    bad("RFC 9110 §8.6: Content-Length not digits", "POST / HTTP/1.1\r\n\(host)Content-Length: abc\r\n\r\n", 400),
    bad("RFC 9110 §8.6: negative Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", 400),
    bad("RFC 9110 §8.6: signed Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: +5\r\n\r\n", 400),
    bad("RFC 9110 §8.6: hex Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: 0x10\r\n\r\n", 400),
    bad("RFC 9110 §8.6: empty Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length:\r\n\r\n", 400),
    bad("RFC 9110 §8.6: Content-Length with inner SP", "POST / HTTP/1.1\r\n\(host)Content-Length: 1 2\r\n\r\n", 400),
    bad("RFC 9110 §8.6: 19-digit Content-Length (overflow guard)",
        "POST / HTTP/1.1\r\n\(host)Content-Length: 1000000000000000000\r\n\r\n", 400),
    bad("RFC 9112 §6.3: Content-Length list of different values",
        "POST / HTTP/1.1\r\n\(host)Content-Length: 5, 6\r\n\r\n", 400),
    bad("RFC 9112 §6.3: Content-Length lines with different values",
        "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    bad("RFC 9112 §6.3: Content-Length with Transfer-Encoding (smuggling)",
        "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    bad("RFC 9112 §6.3: final coding not chunked", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n", 400),
    bad("RFC 9112 §6.3: chunked then gzip", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    bad("RFC 9112 §6.3: chunked with parameters is not chunked",
        "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked;x=1\r\n\r\n", 400),
    bad("RFC 9112 §6.3: empty Transfer-Encoding", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding:\r\n\r\n", 400),
    bad("RFC 9112 §6.1: chunked applied twice",
        "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    bad("RFC 9112 §6.1: unknown coding before chunked → 501",
        "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    bad("RFC 9112 §6.1: unknown coding on an earlier line → 501",
        "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    bad("RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),

    // ---- limits ---------------------------------------------------------------------------------------
    bad("RFC 6585 §5: header section over maxHeaderBytes → 431",
        "GET / HTTP/1.1\r\n\(host)X: \(fullHeaderFill)v\r\n\r\n", 431),
    bad("RFC 6585 §5: more than maxHeaderFields field lines → 431",
        "GET / HTTP/1.1\r\n\(host)\(hundredFields)X-Extra: 1\r\n\r\n", 431),
]

// MARK: - Helpers

private struct Parsed {
    var result: ParseResult
    var fields: [String]
    var authority: String?
    var path: String
}

/// Parses `raw` with a fresh parser and renders the interesting parts as strings.
private func parse(_ raw: [UInt8], limits: ParserLimits = .default) -> Parsed {
    var parser = RequestParser(limits: limits)
    return parse(raw, with: &parser)
}

private func parse(_ raw: [UInt8], with parser: inout RequestParser) -> Parsed {
    raw.withUnsafeBytes { buf in
        let result = parser.parse(buf)
        var fields: [String] = []
        parser.forEachField { name, value in fields.append("\(name): \(value.string(in: buf))") }
        var authority: String? = nil
        var path = ""
        if case .head(let head) = result {
            authority = head.authority?.string(in: buf)
            path = head.path.string(in: buf)
        }
        return Parsed(result: result, fields: fields, authority: authority, path: path)
    }
}

private func status(_ result: ParseResult) -> Int? {
    if case .error(let e) = result { return e.status.code }
    return nil
}

private func isHead(_ result: ParseResult) -> Bool {
    if case .head = result { return true }
    return false
}

/// Cut points for prefix tests: all of them for short inputs; for long ones the first and last KiB
/// plus a sample in between (each parse rescans the prefix, so all cuts would be quadratic).
private func cuts(_ count: Int) -> [Int] {
    guard count > 2048 else { return Array(0..<count) }
    return Array(0..<1024) + Array(stride(from: 1024, to: count - 1024, by: 61)) + Array((count - 1024)..<count)
}

private func isIncomplete(_ result: ParseResult) -> Bool {
    if case .incomplete = result { return true }
    return false
}

/// Every range of a head lies inside `0...headerLength` and `headerLength <= count`.
private func headIsInBounds(_ head: RequestHead, count: Int, parser: borrowing RequestParser) -> Bool {
    func inside(_ v: FieldValue) -> Bool { v.start >= 0 && v.start <= v.end && Int(v.end) <= head.headerLength }
    var ok = head.headerLength > 0 && head.headerLength <= count && head.contentLength >= 0
    ok = ok && inside(head.path) && inside(head.target) && inside(head.methodName) && !head.path.isEmpty
    if let a = head.authority { ok = ok && inside(a) }
    ok = ok && !(head.chunked && head.contentLength != 0) && head.fieldCount == parser.knownFieldCount
    parser.forEachField { _, v in ok = ok && inside(v) }
    return ok
}

// MARK: - Tests

@Suite("RequestParser (RFC 9112 request head)")
struct RequestParserTests {
    @Test("RFC 9112 / RFC 9110: raw request → outcome (table)", arguments: requestParserCases)
    func table(_ row: RequestParserCase) {
        let parsed = parse(row.raw)
        switch row.outcome {
        case .status(let code):
            #expect(status(parsed.result) == code, "got \(parsed.result)")
        case .head(let want):
            guard case .head(let head) = parsed.result else {
                Issue.record("expected a head, got \(parsed.result)")
                return
            }
            #expect(head.method == want.method)
            #expect(parsed.path == want.path)
            #expect(head.versionMinor == want.minor)
            #expect(head.keepAlive == want.keepAlive)
            #expect(head.contentLength == want.contentLength)
            #expect(head.chunked == want.chunked)
            #expect(head.headerLength == (want.headerLength ?? row.raw.count))
            if case .some(let authority) = want.authority { #expect(parsed.authority == authority) }
            if let fields = want.fields { #expect(parsed.fields == fields) }
        }
    }

    @Test("RFC 9112: the table has at least 40 rows, valid and invalid")
    func tableSize() {
        let valid = requestParserCases.filter { if case .head = $0.outcome { true } else { false } }.count
        #expect(requestParserCases.count >= 40)
        #expect(valid >= 20 && requestParserCases.count - valid >= 20)
    }

    @Test("RFC 9112 §2.2: every strict prefix of a valid head is .incomplete", arguments: requestParserCases)
    func prefixesOfValidHeads(_ row: RequestParserCase) {
        guard case .head(let want) = row.outcome else { return }
        let length = want.headerLength ?? row.raw.count
        var parser = RequestParser()
        row.raw.withUnsafeBytes { buf in
            for cut in cuts(length) {
                let result = parser.parse(UnsafeRawBufferPointer(rebasing: buf[0..<cut]))
                guard isIncomplete(result), parser.knownFieldCount == 0 else {
                    Issue.record("prefix of \(cut) bytes gave \(result)")
                    return
                }
            }
        }
    }

    @Test("RFC 9112 §2.2: a prefix of an invalid head is .incomplete or the same error", arguments: requestParserCases)
    func prefixesOfInvalidHeads(_ row: RequestParserCase) {
        guard case .status(let code) = row.outcome else { return }
        var parser = RequestParser()
        row.raw.withUnsafeBytes { buf in
            for cut in cuts(row.raw.count + 1) {
                let result = parser.parse(UnsafeRawBufferPointer(rebasing: buf[0..<cut]))
                guard isIncomplete(result) || status(result) == code else {
                    Issue.record("prefix of \(cut) bytes gave \(result)")
                    return
                }
            }
        }
    }

    @Test("RFC 9110 §9.3.2 / §9.1: which refused heads are HEAD requests; which other methods are recognised")
    func headAndRecognisedMethods() {
        func startsWithHead(_ text: String) -> Bool {
            Array(text.utf8).withUnsafeBytes { RequestParser.startsWithHead($0) }
        }
        #expect(startsWithHead("HEAD / HTTP/1.1\r\n"))
        #expect(startsWithHead("\r\n\nHEAD /x"))             // after the empty lines the parser skips
        #expect(!startsWithHead("head / HTTP/1.1\r\n"))       // §9.1: case-sensitive
        #expect(!startsWithHead("HEADS / HTTP/1.1\r\n"))
        #expect(!startsWithHead("HEAD"))
        #expect(!startsWithHead(""))
        #expect(!startsWithHead("GET / HTTP/1.1\r\n"))
        func recognized(_ token: String) -> Bool {
            Array(token.utf8).withUnsafeBytes { HTTPMethod.isRecognized($0) }
        }
        for token in ["POST", "PUT", "DELETE", "CONNECT", "TRACE", "PATCH"] { #expect(recognized(token), "\(token)") }
        for token in ["post", "BREW", "POSTS", "PUTT", "", "GET "] { #expect(!recognized(token), "\(token)") }
    }

    @Test("RFC 9112 §3: 414 as soon as the unterminated request-target exceeds the limit")
    func early414() {
        let raw = Array(("GET /" + String(repeating: "a", count: 9000)).utf8)  // no SP, no CRLF yet
        #expect(status(parse(raw).result) == 414)
        // Just at the limit, still waiting.
        #expect(isIncomplete(parse(Array(raw[0..<(4 + 8192)])).result))
        #expect(status(parse(Array(raw[0..<(4 + 8193)])).result) == 414)
        // A small configured limit applies the same way.
        let small = ParserLimits(maxTargetLength: 10)
        #expect(isIncomplete(parse(Array("GET /123456789".utf8), limits: small).result))
        #expect(status(parse(Array("GET /1234567890".utf8), limits: small).result) == 414)
        #expect(status(parse(Array("GET http://a.b/cdef HTTP/1.1\r\n".utf8), limits: small).result) == 414)
    }

    @Test("RFC 6585 §5: 431 as soon as the unterminated header section exceeds the limit")
    func early431() {
        let line = "GET / HTTP/1.1\r\n"
        let longValue = Array((line + "\(host)X: " + String(repeating: "v", count: 17000)).utf8)  // no CRLF yet
        #expect(status(parse(longValue).result) == 431)
        let manyFields = Array((line + "\(host)\(hundredFields)X-Extra: 1\r\n").utf8)  // no empty line yet
        #expect(status(parse(manyFields).result) == 431)
        // Below both limits and unterminated: still waiting.
        #expect(isIncomplete(parse(Array((line + "\(host)\(hundredFields)").utf8)).result))
    }

    @Test("RFC 9110 §5.4: header byte limit counts field lines with their terminators")
    func headerByteBoundary() {
        let limits = ParserLimits(maxHeaderBytes: 20)
        // "Host: example.com\r\n" is 19 bytes; with the empty line the head is complete.
        #expect(isHead(parse(Array("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8), limits: limits).result))
        // 20 bytes exactly: allowed. 21: 431, even before the empty line arrives.
        #expect(isHead(parse(Array("GET / HTTP/1.1\r\nHost: example.com \r\n\r\n".utf8), limits: limits).result))
        #expect(status(parse(Array("GET / HTTP/1.1\r\nHost: example.com  \r\n".utf8), limits: limits).result) == 431)
        // A second field line starting at the limit cannot fit.
        #expect(status(parse(Array("GET / HTTP/1.1\r\nHost: example.com \r\nX".utf8), limits: limits).result) == 431)
        // Zero fields allowed: HTTP/1.0 without fields parses, any field line is 431.
        let none = ParserLimits(maxHeaderFields: 0)
        #expect(isHead(parse(Array("GET / HTTP/1.0\r\n\r\n".utf8), limits: none).result))
        #expect(status(parse(Array("GET / HTTP/1.0\r\nX: y\r\n\r\n".utf8), limits: none).result) == 431)
    }

    @Test("RFC 9110 §5.3: field accessors: first value, all values, presence, order")
    func fieldAccessors() {
        let raw = Array(
            ("GET / HTTP/1.1\r\nIf-None-Match: \"a\"\r\nHost:  example.com  \r\nIF-NONE-MATCH:\"b\", \"c\"\r\n"
                + "Range: bytes=1-2\r\n\r\n").utf8)
        var parser = RequestParser()
        raw.withUnsafeBytes { buf in
            guard case .head(let head) = parser.parse(buf) else {
                Issue.record("expected a head")
                return
            }
            #expect(head.fieldCount == 4)
            #expect(parser.knownFieldCount == 4)
            #expect(parser.firstValue(.host)?.string(in: buf) == "example.com")
            #expect(parser.firstValue(.ifNoneMatch)?.string(in: buf) == "\"a\"")
            var all: [String] = []
            parser.forEachValue(of: .ifNoneMatch) { all.append($0.string(in: buf)) }
            #expect(all == ["\"a\"", "\"b\", \"c\""])
            #expect(parser.contains(.range) && !parser.contains(.ifRange))
            #expect(parser.firstValue(.ifRange) == nil)
            #expect(parser.firstValue(.range)?.equalsLowercase("bytes=1-2", in: buf) == true)
            #expect(head.authority?.equalsLowercase("example.com", in: buf) == true)
            #expect(head.methodName.string(in: buf) == "GET")
            #expect(head.target.string(in: buf) == "/")
            #expect(!head.isAbsoluteForm)
        }
    }

    @Test("RFC 9112 §9.3.2: one parser reused; an error or .incomplete clears the stored fields")
    func parserReuse() {
        var parser = RequestParser()
        let first = parse(Array("GET /a HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0\r\n\r\n".utf8), with: &parser)
        #expect(first.fields == ["host: a", "range: bytes=0-0"])
        let second = parse(Array("GET /b HTTP/1.1\r\nHost: b\r\n\r\n".utf8), with: &parser)
        #expect(second.fields == ["host: b"])
        #expect(parser.firstValue(.range) == nil)
        _ = parse(Array("GET /c HTTP/1.1\r\nHost: c\r\n".utf8), with: &parser)
        #expect(parser.knownFieldCount == 0 && parser.firstValue(.host) == nil)
        _ = parse(Array("GET /c HTTP/1.1\r\nHost: c\r\nHost: d\r\n\r\n".utf8), with: &parser)
        #expect(parser.knownFieldCount == 0)
        #expect(isIncomplete(parse([], with: &parser).result))
    }

    @Test("RFC 9112 §9.3.2: parsing a pipelined buffer request by request")
    func pipelineWalk() {
        let raw = Array(
            ("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                + "GET /3 HTTP/1.0\r\n\r\nGET /4 HTTP/1.1\r\nHo").utf8)
        var parser = RequestParser()
        var paths: [String] = []
        var offset = 0
        var last = ParseResult.incomplete
        raw.withUnsafeBytes { whole in
            while true {
                let rest = UnsafeRawBufferPointer(rebasing: whole[offset...])
                last = parser.parse(rest)
                guard case .head(let head) = last else { break }
                paths.append(head.path.string(in: rest))
                offset += head.headerLength
            }
        }
        #expect(paths == ["/1", "/2", "/3"])
        #expect(isIncomplete(last))
    }

    @Test("RFC 9110 §15.5: errors carry a status and a short log reason")
    func errorReasons() {
        let parsed = parse(Array("GET / HTTP/1.1\r\nHost : a\r\n\r\n".utf8))
        #expect(parsed.result == .error(ParseError(status: .badRequest, reason: "whitespace before colon")))
        #expect(parsed.result != .error(ParseError(status: .badRequest, reason: "something else")))
        #expect(ParseError(status: .badRequest, reason: "x").description == "400 x")
    }

    @Test("RFC 9110 §5.6.2 / RFC 3986: character-class bitmaps match their definitions")
    func characterClasses() {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        let regName = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=".utf8))
        let hex = Set(Array("0123456789abcdefABCDEF".utf8))
        for b in 0...255 {
            let c = UInt8(b)
            #expect(HTTPSyntax.isTchar(c) == tchar.contains(c), "tchar \(b)")
            #expect(HTTPSyntax.isRegNameChar(c) == regName.contains(c), "reg-name \(b)")
            #expect(HTTPSyntax.isHexDigit(c) == hex.contains(c), "hex \(b)")
            #expect((HTTPSyntax.hexValue(c) >= 0) == hex.contains(c), "hexValue \(b)")
            #expect(HTTPSyntax.isFieldValueByte(c) == (b == 9 || (b >= 0x20 && b != 0x7F)), "value byte \(b)")
            #expect(FieldValue.asciiLower(c) == ((65...90).contains(b) ? c + 32 : c))
        }
    }

    @Test("RFC 9110 §5.5 / §5.6.2: SWAR word masks agree with byte-by-byte classification")
    func swarMasks() {
        var rng = ParserFuzzRNG(seed: 42)
        let interesting: [UInt8] = [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x21, 0x23, 0x2C, 0x2D, 0x2F, 0x30, 0x39, 0x3A,
                                    0x40, 0x41, 0x5A, 0x5B, 0x60, 0x61, 0x7A, 0x7B, 0x7E, 0x7F, 0x80, 0xAD, 0xFF]
        var mismatches: [[UInt8]] = []
        for _ in 0..<50_000 {
            let bytes = (0..<8).map { _ in rng.chance(2) ? interesting[rng.below(interesting.count)] : rng.byte() }
            let w = bytes.withUnsafeBytes { HTTPSyntax.wordLE($0.baseAddress!, 0) }
            var ok = true
            // Exact for every byte.
            let common = HTTPSyntax.swarAlnumDash(w)
            let dots = HTTPSyntax.swarEqualExact(w, 0x2E)
            for (k, b) in bytes.enumerated() {
                let alnumDash = (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
                    || b == 0x2D
                ok = ok && ((common >> (8 * UInt64(k) + 7)) & 1 == 1) == alnumDash
                ok = ok && ((dots >> (8 * UInt64(k) + 7)) & 1 == 1) == (b == 0x2E)
            }
            // Exact for the first flagged byte.
            let less = HTTPSyntax.swarLess(w, 0x20)
            let firstLess = bytes.firstIndex { $0 < 0x20 }
            ok = ok && (less == 0) == (firstLess == nil)
            ok = ok && (firstLess.map { HTTPSyntax.swarFirst(less) == $0 } ?? true)
            let equal = HTTPSyntax.swarEqual(w, 0x7F)
            let firstEqual = bytes.firstIndex(of: 0x7F)
            ok = ok && (equal == 0) == (firstEqual == nil)
            ok = ok && (firstEqual.map { HTTPSyntax.swarFirst(equal) == $0 } ?? true)
            if !ok { mismatches.append(bytes) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    @Test("RFC 9110 §15: status codes and reason phrases")
    func statuses() {
        let all: [(HTTPStatus, Int)] = [
            (.ok, 200), (.noContent, 204), (.partialContent, 206), (.movedPermanently, 301), (.notModified, 304),
            (.badRequest, 400), (.forbidden, 403), (.notFound, 404), (.methodNotAllowed, 405), (.notAcceptable, 406),
            (.requestTimeout, 408), (.lengthRequired, 411), (.preconditionFailed, 412), (.contentTooLarge, 413),
            (.uriTooLong, 414), (.rangeNotSatisfiable, 416), (.requestHeaderFieldsTooLarge, 431),
            (.internalServerError, 500), (.notImplemented, 501), (.serviceUnavailable, 503),
            (.httpVersionNotSupported, 505),
        ]
        for (s, code) in all {
            #expect(s.code == code)
            #expect(s.reason.utf8CodeUnitCount > 1)
        }
        #expect(HTTPStatus.notFound.description == "404 Not Found")
        #expect(Set(all.map(\.0)).count == all.count)
    }

    @Test("RFC 9110 §5.4: limits are clamped so offsets fit Int32")
    func limitClamping() {
        let limits = ParserLimits(maxTargetLength: -5, maxHeaderBytes: .max, maxHeaderFields: .max)
        let parser = RequestParser(limits: limits)
        #expect(parser.limits.maxTargetLength == 1)
        #expect(parser.limits.maxHeaderBytes == 1 << 24)
        #expect(parser.limits.maxHeaderFields == 10_000)
    }

    @Test("RFC 9112 §2.2 robustness: 20k fuzzed requests never trap; heads stay in bounds, depend on own bytes")
    func fuzz() {
        var rng = ParserFuzzRNG(seed: 0x5EED_CAFE_F00D_1234)
        let seeds: [[UInt8]] = requestParserCases.compactMap { row in
            if case .head = row.outcome, row.raw.count < 2048 { return row.raw }
            return nil
        }
        let specials: [UInt8] = [
            0x0D, 0x0A, 0x20, 0x09, 0x3A, 0x2C, 0x00, 0x7F, 0x80, 0xFF, 0x2F, 0x5B, 0x5D, 0x25, 0x3B, 0x40, 0x23,
            0x3F, 0x2A, 0x30, 0x39, 0x48,
        ]
        let tokens: [[UInt8]] = [
            "\r\n", "\r\n\r\n", "Host: a\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: 7\r\n",
            "Connection: close\r\n", " HTTP/1.1", "http://", "[::1]", "HTTP/1.0", ",", "chunked", "Host:",
        ].map { Array($0.utf8) }
        var parser = RequestParser()
        var tiny = RequestParser(limits: ParserLimits(maxTargetLength: 8, maxHeaderBytes: 40, maxHeaderFields: 3))
        var heads = 0
        var errors = 0
        for iteration in 0..<20_000 {
            var input: [UInt8]
            if iteration % 10 == 0 {
                input = (0..<rng.below(200)).map { _ in
                    rng.chance(2) ? specials[rng.below(specials.count)] : rng.byte()
                }
            } else {
                input = seeds[rng.below(seeds.count)]
                for _ in 0...rng.below(4) {
                    let at = input.isEmpty ? 0 : rng.below(input.count + 1)
                    switch rng.below(8) {
                    case 0: if at < input.count { input[at] = rng.byte() }
                    case 1: if at < input.count { input[at] = specials[rng.below(specials.count)] }
                    case 2: input.insert(specials[rng.below(specials.count)], at: at)
                    case 3: if at < input.count { input.remove(at: at) }
                    case 4: input = Array(input[0..<at])
                    case 5: input.insert(contentsOf: tokens[rng.below(tokens.count)], at: at)
                    case 6:
                        let other = seeds[rng.below(seeds.count)]
                        input = Array(input[0..<at]) + Array(other[rng.below(other.count)...])
                    default:
                        if at < input.count {
                            let end = min(input.count, at + rng.below(16) + 1)
                            input.insert(contentsOf: input[at..<end], at: at)
                        }
                    }
                }
            }
            for useTiny in [false, true] {
                input.withUnsafeBytes { buf in
                    let result = useTiny ? tiny.parse(buf) : parser.parse(buf)
                    switch result {
                    case .head(let head):
                        heads += 1
                        let inBounds = useTiny
                            ? headIsInBounds(head, count: buf.count, parser: tiny)
                            : headIsInBounds(head, count: buf.count, parser: parser)
                        #expect(inBounds, "out of bounds for \(input)")
                        // The head is decided by its own bytes: parsing exactly them gives the same head.
                        let own = UnsafeRawBufferPointer(rebasing: buf[0..<head.headerLength])
                        let again = useTiny ? tiny.parse(own) : parser.parse(own)
                        #expect(again == result, "prefix disagrees for \(input)")
                    case .error(let e):
                        errors += 1
                        #expect([400, 414, 431, 501, 505].contains(e.status.code))
                    case .incomplete:
                        break
                    }
                }
            }
        }
        // The corpus must exercise both outcomes, or the fuzz proves little.
        #expect(heads > 1000 && errors > 1000, "heads \(heads), errors \(errors)")
    }
}

/// xorshift64* — deterministic, so a failure reproduces.
struct ParserFuzzRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 32) }
    mutating func chance(_ oneIn: Int) -> Bool { below(oneIn) == 0 }
}

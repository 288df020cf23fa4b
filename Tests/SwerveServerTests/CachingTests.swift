import Glibc
import SwerveHTTP
import SwerveServer
import Testing

/// RFC 9110 §13 (conditional requests), §14 (range requests), §15.4.5 (304) and RFC 9111 §5.2 (Cache-Control),
/// over the wire.
@Suite("RFC 9110 §13/§14 caching semantics", .serialized)
struct CachingTests {
    static let body = pseudoRandomBytes(10_000, seed: 11)
    static let text = textLike(20_000, seed: 12)

    /// One server for a test, with `f.bin` (not compressible) and `t.js` (compressible) dated in the past.
    static func server(configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        let server = try TestServer(files: ["f.bin": body, "t.js": text, "app.3f9a2c1b.js": text, "font.woff2": body], configure: configure)
        for name in ["f.bin", "t.js"] {
            var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 5), timespec(tv_sec: 1_600_000_000, tv_nsec: 5)]
            utimensat(AT_FDCWD, server.root + "/" + name, &times, 0)
            try TestServer.waitUntilSettled(server.root + "/" + name)
        }
        return server
    }

    static let lastModified = "Sun, 13 Sep 2020 12:26:40 GMT"  // 1_600_000_000

    func request(_ port: UInt16, _ path: String, _ fields: String = "", method: String = "GET") throws -> WireResponse {
        try fetch(port, "\(method) \(path) HTTP/1.1\r\nHost: h\r\n\(fields)\r\n", headRequest: method == "HEAD")
    }

    // MARK: §13.1 preconditions

    @Test("§13.1.1 If-Match: strong comparison; mismatch or a weak tag → 412; * matches")
    func ifMatch() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let etag = try #require(try request(server.port, "/f.bin").header("ETag"))
        #expect(try request(server.port, "/f.bin", "If-Match: \(etag)\r\n").status == 200)
        #expect(try request(server.port, "/f.bin", "If-Match: \"nope\", \(etag)\r\n").status == 200)
        #expect(try request(server.port, "/f.bin", "If-Match: *\r\n").status == 200)
        #expect(try request(server.port, "/f.bin", "If-Match: \"nope\"\r\n").status == 412)
        #expect(try request(server.port, "/f.bin", "If-Match: W/\(etag)\r\n").status == 412)
    }

    @Test("§13.1.4 If-Unmodified-Since: modified after the date → 412; §13.2.2 If-Match wins over it")
    func ifUnmodifiedSince() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        #expect(try request(server.port, "/f.bin", "If-Unmodified-Since: Sat, 12 Sep 2020 00:00:00 GMT\r\n").status == 412)
        #expect(try request(server.port, "/f.bin", "If-Unmodified-Since: \(Self.lastModified)\r\n").status == 200)
        #expect(try request(server.port, "/f.bin", "If-Unmodified-Since: garbage\r\n").status == 200)
        let etag = try #require(try request(server.port, "/f.bin").header("ETag"))
        #expect(try request(server.port, "/f.bin", "If-Match: \(etag)\r\nIf-Unmodified-Since: Sat, 12 Sep 2020 00:00:00 GMT\r\n").status == 200)
    }

    @Test("§13.1.2 If-None-Match: weak comparison, *, lists, several field lines → 304")
    func ifNoneMatch() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let etag = try #require(try request(server.port, "/f.bin").header("ETag"))
        for fields in ["If-None-Match: \(etag)\r\n", "If-None-Match: W/\(etag)\r\n", "If-None-Match: *\r\n",
                       "If-None-Match: \"a\", \(etag), \"b\"\r\n", "If-None-Match: \"a\"\r\nIf-None-Match: \(etag)\r\n"] {
            #expect(try request(server.port, "/f.bin", fields).status == 304, "\(fields)")
        }
        #expect(try request(server.port, "/f.bin", "If-None-Match: \"other\"\r\n").status == 200)
        // Not GET/HEAD: a matching If-None-Match is 412 (but other methods are 405 here before that), and HEAD → 304.
        #expect(try request(server.port, "/f.bin", "If-None-Match: \(etag)\r\n", method: "HEAD").status == 304)
    }

    @Test("§15.4.5 a 304 has no body and carries Date, ETag, Vary, Cache-Control and Last-Modified as the 200 would")
    func notModifiedHeaders() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let full = try request(server.port, "/t.js", "Accept-Encoding: gzip\r\n")
        let etag = try #require(full.header("ETag"))
        let client = try RawClient(port: server.port)
        try client.send("GET /t.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nIf-None-Match: \(etag)\r\n\r\nGET /f.bin HTTP/1.1\r\nHost: h\r\n\r\n")
        let notModified = try client.readResponse()
        #expect(notModified.status == 304)
        for name in ["ETag", "Vary", "Cache-Control", "Last-Modified"] {
            #expect(notModified.header(name) == full.header(name), "\(name)")
        }
        #expect(notModified.header("Date") != nil)
        #expect(notModified.header("Content-Length") == nil)
        // The next response starts right after the 304's head: it had no body.
        #expect(try client.readResponse().body == Self.body)
    }

    @Test("§13.1.3 If-Modified-Since: three date formats, one-second precision, invalid or future dates ignored")
    func ifModifiedSince() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        for date in [Self.lastModified, "Sunday, 13-Sep-20 12:26:40 GMT", "Sun Sep 13 12:26:40 2020", "Mon, 14 Sep 2020 00:00:00 GMT"] {
            #expect(try request(server.port, "/f.bin", "If-Modified-Since: \(date)\r\n").status == 304, "\(date)")
        }
        #expect(try request(server.port, "/f.bin", "If-Modified-Since: Sun, 13 Sep 2020 12:26:39 GMT\r\n").status == 200)
        #expect(try request(server.port, "/f.bin", "If-Modified-Since: yesterday\r\n").status == 200)
        let future = HTTPDate.string(Int(time(nil)) + 86_400 * 365)
        #expect(try request(server.port, "/f.bin", "If-Modified-Since: \(future)\r\n").status == 200)
    }

    @Test("§13.2.2 If-None-Match decides alone: If-Modified-Since is ignored when it is present (nginx gets this wrong)")
    func evaluationOrder() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let etag = try #require(try request(server.port, "/f.bin").header("ETag"))
        // A matching tag with an old date: 304 (the date is not consulted).
        #expect(try request(server.port, "/f.bin", "If-None-Match: \(etag)\r\nIf-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n").status == 304)
        // A non-matching tag with a recent date: 200 (the date must not produce a 304).
        #expect(try request(server.port, "/f.bin", "If-None-Match: \"old\"\r\nIf-Modified-Since: \(Self.lastModified)\r\n").status == 200)
    }

    @Test("§8.8.3 validators per representation: either tag is checked against the coding chosen for this request")
    func representationValidators() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let identityTag = try #require(try request(server.port, "/t.js").header("ETag"))
        let gzipTag = String(identityTag.dropLast()) + "-gz\""
        #expect(try request(server.port, "/t.js", "Accept-Encoding: gzip\r\nIf-None-Match: \(gzipTag)\r\n").status == 304)
        let mismatch = try request(server.port, "/t.js", "Accept-Encoding: gzip\r\nIf-None-Match: \(identityTag)\r\n")
        #expect(mismatch.status == 200)
        #expect(mismatch.header("ETag") == gzipTag)
        #expect(try request(server.port, "/t.js", "If-None-Match: \(identityTag)\r\n").status == 304)
        // The 304s above never needed the gzip body: nothing was compressed for them.
        #expect(server.server.statistics.compressions == 1)
    }

    // MARK: §14 ranges

    @Test("§14.3 Accept-Ranges: bytes on a file's 200")
    func acceptRanges() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        #expect(try request(server.port, "/f.bin").header("Accept-Ranges") == "bytes")
    }

    @Test("§14.1.2 single ranges → 206 with Content-Range and the exact slice; suffix, open, clamped")
    func singleRanges() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let n = Self.body.count
        let cases: [(String, Int, Int)] = [
            ("bytes=0-99", 0, 99), ("bytes=100-", 100, n - 1), ("bytes=-500", n - 500, n - 1), ("bytes=9990-20000", 9990, n - 1),
            ("bytes=0-99999999999999999999", 0, n - 1), ("BYTES=5-5", 5, 5), ("bytes= 7-8", 7, 8),
        ]
        for (header, first, last) in cases {
            let response = try request(server.port, "/f.bin", "Range: \(header)\r\n")
            #expect(response.status == 206, "\(header)")
            #expect(response.header("Content-Range") == "bytes \(first)-\(last)/\(n)", "\(header)")
            #expect(response.header("Content-Length") == "\(last - first + 1)")
            #expect(response.body == Array(Self.body[first...last]), "\(header)")
            #expect(response.header("ETag") != nil && response.header("Last-Modified") != nil)
            #expect(response.header("Cache-Control") == "no-cache")
        }
    }

    @Test("§15.5.17 unsatisfiable → 416 with Content-Range: bytes */length; invalid or unknown units → 200")
    func unsatisfiableAndInvalid() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let n = Self.body.count
        for header in ["bytes=\(n)-", "bytes=20000-30000", "bytes=-0"] {
            let response = try request(server.port, "/f.bin", "Range: \(header)\r\n")
            #expect(response.status == 416, "\(header)")
            #expect(response.header("Content-Range") == "bytes */\(n)")
        }
        for header in ["bytes=5-1", "items=0-5", "bytes=abc", "bytes=", "bytes=1-2-3"] {
            let response = try request(server.port, "/f.bin", "Range: \(header)\r\n")
            #expect(response.status == 200, "\(header)")
            #expect(response.body == Self.body)
        }
        // HEAD ignores Range.
        #expect(try request(server.port, "/f.bin", "Range: bytes=0-1\r\n", method: "HEAD").status == 200)
    }

    @Test("§14.6 several ranges → multipart/byteranges; overlapping and adjacent ranges coalesced; > 16 ranges → 200")
    func multipart() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let n = Self.body.count
        let response = try request(server.port, "/f.bin", "Range: bytes=0-9, 100-199, 150-250, 251-260, -10\r\n")
        #expect(response.status == 206)
        let contentType = try #require(response.header("Content-Type"))
        #expect(contentType.hasPrefix("multipart/byteranges; boundary="))
        let boundary = String(contentType.dropFirst("multipart/byteranges; boundary=".count))
        let parts = try parseMultipart(response.body, boundary: boundary)
        #expect(parts.map(\.range) == ["bytes 0-9/\(n)", "bytes 100-260/\(n)", "bytes \(n - 10)-\(n - 1)/\(n)"])
        #expect(parts[0].body == Array(Self.body[0...9]))
        #expect(parts[1].body == Array(Self.body[100...260]))
        #expect(parts[2].body == Array(Self.body[(n - 10)...]))
        #expect(parts.allSatisfy { $0.contentType == "application/octet-stream" })
        let many = (0..<17).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ",")
        #expect(try request(server.port, "/f.bin", "Range: bytes=\(many)\r\n").status == 200)
    }

    @Test("§13.1.5 If-Range: a strong matching tag or the exact date → 206; otherwise the whole body")
    func ifRange() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let etag = try #require(try request(server.port, "/f.bin").header("ETag"))
        #expect(try request(server.port, "/f.bin", "Range: bytes=0-9\r\nIf-Range: \(etag)\r\n").status == 206)
        #expect(try request(server.port, "/f.bin", "Range: bytes=0-9\r\nIf-Range: \(Self.lastModified)\r\n").status == 206)
        #expect(try request(server.port, "/f.bin", "Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n").status == 200)
        #expect(try request(server.port, "/f.bin", "Range: bytes=0-9\r\nIf-Range: W/\(etag)\r\n").status == 200)
        #expect(try request(server.port, "/f.bin", "Range: bytes=0-9\r\nIf-Range: Sun, 13 Sep 2020 12:26:41 GMT\r\n").status == 200)
    }

    @Test("§14 ranges of a gzip response apply to the cached gzip bytes; a streamed gzip response ignores Range")
    func rangesOnGzip() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let whole = try request(server.port, "/t.js", "Accept-Encoding: gzip\r\n")
        let gz = whole.body
        let head = try request(server.port, "/t.js", "Accept-Encoding: gzip\r\nRange: bytes=0-99\r\n")
        let tail = try request(server.port, "/t.js", "Accept-Encoding: gzip\r\nRange: bytes=100-\r\n")
        #expect(head.status == 206 && tail.status == 206)
        #expect(head.header("Content-Encoding") == "gzip")
        #expect(head.header("Content-Range") == "bytes 0-99/\(gz.count)")
        #expect(head.header("ETag") == whole.header("ETag"))
        #expect(head.header("Vary") == "Accept-Encoding")
        #expect(head.body + tail.body == gz)
        #expect(gunzip(head.body + tail.body) == Self.text)

        let streaming = try TestServer(files: ["big.js": textLike(3_000_000)]) { $0.cacheSize = 1024 * 1024 }
        defer { streaming.shutdown() }
        let streamed = try fetch(streaming.port, "GET /big.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nRange: bytes=0-99\r\n\r\n")
        #expect(streamed.status == 200)
        #expect(streamed.chunked)
        #expect(streamed.header("Accept-Ranges") == nil)
    }

    @Test("§14.2 property: random Range headers never break the server, and every 206 slice equals the file's bytes")
    func rangeProperty() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let n = Self.body.count
        var rng = UInt64(0xC0FFEE)
        func next(_ bound: Int) -> Int {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
            return Int(rng % UInt64(bound))
        }
        let client = try RawClient(port: server.port)
        for _ in 0..<300 {
            var specs: [String] = []
            for _ in 0..<(1 + next(3)) {
                switch next(5) {
                case 0: specs.append("\(next(n * 2))-\(next(n * 2))")
                case 1: specs.append("\(next(n * 2))-")
                case 2: specs.append("-\(next(n * 2))")
                case 3: specs.append(["", "-", "x-1", "1-x", "99999999999999999999999-"][next(5)])
                default: specs.append("\(next(100))-\(next(100) + 100)")
                }
            }
            try client.send("GET /f.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=\(specs.joined(separator: ","))\r\n\r\n")
            let response = try client.readResponse()
            #expect([200, 206, 416].contains(response.status))
            if response.status == 200 { #expect(response.body == Self.body) }
            if response.status == 206, let range = response.header("Content-Range") {
                let numbers = range.dropFirst("bytes ".count).split(whereSeparator: { $0 == "-" || $0 == "/" }).compactMap { Int($0) }
                #expect(numbers.count == 3 && numbers[2] == n)
                #expect(response.body == Array(Self.body[numbers[0]...numbers[1]]))
            } else if response.status == 206 {
                let type = response.header("Content-Type") ?? ""
                let parts = try parseMultipart(response.body, boundary: String(type.dropFirst("multipart/byteranges; boundary=".count)))
                for part in parts {
                    let numbers = part.range.dropFirst("bytes ".count).split(whereSeparator: { $0 == "-" || $0 == "/" }).compactMap { Int($0) }
                    #expect(part.body == Array(Self.body[numbers[0]...numbers[1]]))
                }
            }
        }
    }

    // MARK: RFC 9111 §5.2 Cache-Control, Last-Modified, content ETags

    @Test("RFC 9111 §5.2.2.4 default Cache-Control is no-cache; --cache-control, --cache-rule, --immutable-fingerprinted")
    func cacheControl() throws {
        let plain = try Self.server()
        #expect(try request(plain.port, "/f.bin").header("Cache-Control") == "no-cache")
        plain.shutdown()
        let server = try Self.server {
            $0.cacheControl = "public, max-age=60"
            $0.cacheRules = ["*.woff2=public, max-age=31536000, immutable"]
            $0.immutableFingerprinted = true
        }
        defer { server.shutdown() }
        #expect(try request(server.port, "/f.bin").header("Cache-Control") == "public, max-age=60")
        #expect(try request(server.port, "/font.woff2").header("Cache-Control") == "public, max-age=31536000, immutable")
        #expect(try request(server.port, "/app.3f9a2c1b.js").header("Cache-Control") == "public, max-age=31536000, immutable")
        #expect {
            _ = try TestServer { $0.cacheRules = ["no-equals-sign"] }
        } throws: { error in
            "\(error)".contains("invalid --cache-rule 'no-equals-sign'")
        }
    }

    @Test("§8.8.2 an mtime of 0 or 1 (reproducible builds) sends no Last-Modified and a content ETag")
    func epochDates() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        var times = [timespec(tv_sec: 1, tv_nsec: 0), timespec(tv_sec: 1, tv_nsec: 0)]
        utimensat(AT_FDCWD, server.root + "/f.bin", &times, 0)
        try TestServer.waitUntilSettled(server.root + "/f.bin")
        let response = try request(server.port, "/f.bin")
        #expect(response.header("Last-Modified") == nil)
        let etag = try #require(response.header("ETag"))
        #expect(etag.hasPrefix("\"sha256-") && etag.count == 2 + 7 + 32)
        #expect(response.body == Self.body)
        #expect(try request(server.port, "/f.bin", "If-None-Match: \(etag)\r\n").status == 304)
    }

    @Test("--etag content: two replicas with different inodes and dates agree on validators")
    func contentETags() throws {
        let a = try Self.server { $0.contentETags = true }
        defer { a.shutdown() }
        // b's files are new (a's are dated 2020 by `server`), each replica's its own inodes.
        let b = try TestServer(files: ["f.bin": Self.body, "t.js": Self.text]) { $0.contentETags = true }
        defer { b.shutdown() }
        for (path, fields) in [("/f.bin", ""), ("/t.js", "Accept-Encoding: gzip\r\n")] {
            let responseA = try request(a.port, path, fields)
            let responseB = try request(b.port, path, fields)
            #expect(responseA.header("Last-Modified") != responseB.header("Last-Modified"), "\(path): the dates differ")
            let tagA = responseA.header("ETag")
            #expect(tagA != nil && tagA == responseB.header("ETag"), "\(path)")
        }
        let plainA = try TestServer(files: ["f.bin": Self.body])
        defer { plainA.shutdown() }
        #expect(try request(plainA.port, "/f.bin").header("ETag") != (try request(a.port, "/f.bin").header("ETag")))
    }
}

struct MultipartPart {
    var contentType: String?
    var range: String
    var body: [UInt8]
}

/// Splits a multipart/byteranges body (RFC 9110 §14.6, RFC 2046 §5.1) into its parts; strict about delimiters.
func parseMultipart(_ body: [UInt8], boundary: String) throws -> [MultipartPart] {
    let delimiter = Array("\r\n--\(boundary)".utf8)
    func find(_ needle: [UInt8], from: Int) -> Int? {
        guard needle.count <= body.count else { return nil }
        var i = from
        while i + needle.count <= body.count {
            if body[i] == needle[0] && Array(body[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
    var parts: [MultipartPart] = []
    guard var at = find(delimiter, from: 0), at == 0 else { throw TestFailure("multipart body does not start with its delimiter") }
    while true {
        at += delimiter.count
        if body.count >= at + 2 && body[at] == 45 && body[at + 1] == 45 { return parts }  // "--": the close delimiter
        guard let headEnd = find([13, 10, 13, 10], from: at) else { throw TestFailure("part without header end") }
        let head = String(decoding: body[(at + 2)..<headEnd], as: UTF8.self).crlfLines()
        var part = MultipartPart(contentType: nil, range: "", body: [])
        for line in head {
            let pieces = line.split(separator: ":", maxSplits: 1).map { String($0).trimmingSpaces() }
            if pieces.first?.lowercased() == "content-type" { part.contentType = pieces.last }
            if pieces.first?.lowercased() == "content-range" { part.range = pieces.last ?? "" }
        }
        guard let next = find(delimiter, from: headEnd + 4) else { throw TestFailure("part without a following delimiter") }
        part.body = Array(body[(headEnd + 4)..<next])
        parts.append(part)
        at = next
    }
}

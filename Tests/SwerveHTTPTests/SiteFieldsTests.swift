import Testing
@testable import SwerveHTTP

/// What a site adds to responses: `--header` rules, CORS, nosniff, Vary — and how `ResponseHead` renders them.
@Suite("Site fields: --header, --cors, nosniff, Vary")
struct SiteFieldsTests {
    static func render(_ build: (inout ResponseHead) -> Void) -> String {
        var head = ResponseHead(status: .ok, contentLength: 3)
        build(&head)
        let date = Array("Wed, 02 Dec 2026 12:00:00 GMT".utf8)
        var out = [UInt8](repeating: 0, count: 4096)
        let count = date.withUnsafeBytes { date in
            out.withUnsafeMutableBytes { area in
                var w = ByteWriter(area)
                head.render(into: &w, date: date)
                return w.count
            }
        }
        return String(decoding: out[0..<count], as: UTF8.self)
    }

    // MARK: --header

    @Test("a rule is GLOB=Name: value, trimmed; every matching rule applies, in order; the rendered lines are stable")
    func headerRules() throws {
        let rules = try HeaderRules(["**=X-Frame-Options: DENY", "*.html = Content-Security-Policy: default-src 'self'",
                                     "/assets/**=Access-Control-Allow-Origin: *"])
        #expect(rules.rules[1] == HeaderRules.Rule(glob: "*.html", name: "Content-Security-Policy", value: "default-src 'self'"))
        func fields(_ path: String) -> String? {
            Array(path.utf8).withUnsafeBytes { rules.fields(for: rules.matching($0)) }.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(fields("index.html") == "X-Frame-Options: DENY\r\nContent-Security-Policy: default-src 'self'")
        #expect(fields("docs/a.html") == "X-Frame-Options: DENY\r\nContent-Security-Policy: default-src 'self'")
        #expect(fields("assets/app.js") == "X-Frame-Options: DENY\r\nAccess-Control-Allow-Origin: *")
        #expect(fields("app.js") == "X-Frame-Options: DENY")
        // The same set of rules gives the very same bytes (the head memo compares them by address).
        let a = Array("a.html".utf8).withUnsafeBytes { rules.fields(for: rules.matching($0)) }
        let b = Array("b/c.html".utf8).withUnsafeBytes { rules.fields(for: rules.matching($0)) }
        #expect(a?.baseAddress == b?.baseAddress && a?.count == b?.count)
        let none = try HeaderRules(["*.css=X-A: 1"])
        #expect(Array("a.js".utf8).withUnsafeBytes { none.fields(for: none.matching($0)) } == nil)
    }

    @Test("framing, hop-by-hop and Swerve's own fields are refused, whatever their case")
    func reservedNames() {
        for name in ["Content-Length", "transfer-encoding", "CONNECTION", "Keep-Alive", "Upgrade", "TE", "Trailer",
                     "Content-Encoding", "Content-Type", "ETag", "Last-Modified", "Vary", "Date", "Server", "Location",
                     "Cache-Control", "X-Content-Type-Options", "Content-Range", "Accept-Ranges", "Allow"] {
            #expect(throws: HeaderRules.RuleError.self) { _ = try HeaderRules.parseRule("**=\(name): x") }
        }
        #expect((try? HeaderRules.parseRule("**=X-Custom: a\u{0}b")) == nil)
        #expect((try? HeaderRules.parseRule("**=X-Custom: é")) == nil)
        #expect((try? HeaderRules.parseRule("**=X-Custom:")) != nil)  // an empty value is a valid field
        #expect((try? HeaderRules.parseRule("a\u{1}b=X: y")) == nil)
        #expect(throws: HeaderRules.RuleError.tooMany) {
            _ = try HeaderRules(Array(repeating: "**=X-A: 1", count: HeaderRules.maximumRules + 1))
        }
    }

    // MARK: --cors

    @Test("* allows every origin with a static *; a list echoes a listed origin (case-insensitively) and varies on Origin")
    func corsOrigins() throws {
        let any = try CORSPolicy("*")
        #expect(any.allowsAnyOrigin && !any.variesByOrigin)
        let list = try CORSPolicy(" https://App.example , http://localhost:3000 ")
        #expect(list.variesByOrigin)
        func allowed(_ policy: CORSPolicy, _ origin: String) -> String? {
            Array(origin.utf8).withUnsafeBytes { bytes -> String? in
                switch policy.allowOrigin(bytes) {
                case .any?: return "*"
                case .echo(let echoed)?: return String(decoding: echoed, as: UTF8.self)
                case nil: return nil
                }
            }
        }
        #expect(allowed(any, "https://evil.example") == "*")
        #expect(allowed(list, "https://app.example") == "https://app.example")
        #expect(allowed(list, "HTTPS://APP.EXAMPLE") == "HTTPS://APP.EXAMPLE")
        #expect(allowed(list, "http://localhost:3000") == "http://localhost:3000")
        #expect(allowed(list, "http://localhost:3001") == nil)
        #expect(allowed(list, "https://app.example.evil") == nil)
        #expect(allowed(list, "null") == nil)
        for bad in ["", " , ", "app.example", "https://", "https://a/b", "https://a.example/", "https://a b", "ftp//x",
                    "https://[::1", "https://a:", "https://a:123456", "null"] {
            #expect((try? CORSPolicy(bad)) == nil, "\(bad)")
        }
        #expect((try? CORSPolicy("https://[::1]:8443, http://127.0.0.1")) != nil)
    }

    @Test("the CORS fields of a response and of a preflight answer")
    func corsRendering() {
        let head = Self.render { $0.cors = CORSFields(allowOrigin: .any) }
        #expect(head.contains("\r\nAccess-Control-Allow-Origin: *\r\n"))
        #expect(head.contains("\r\nAccess-Control-Expose-Headers: ETag, Content-Length, Content-Encoding, Server-Timing\r\n"))
        #expect(head.contains("\r\nTiming-Allow-Origin: *\r\n"))
        #expect(!head.contains("Access-Control-Max-Age"))
        let headers = Array("content-type, x-requested-with".utf8)
        let preflight = headers.withUnsafeBytes { allow in
            Self.render { $0.cors = CORSFields(allowOrigin: .any, preflight: true, allowHeaders: allow) }
        }
        #expect(preflight.contains("\r\nAccess-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"))
        #expect(preflight.contains("\r\nAccess-Control-Allow-Headers: content-type, x-requested-with\r\n"))
        #expect(preflight.contains("\r\nAccess-Control-Max-Age: 86400\r\n"))
        #expect(!preflight.contains("Expose-Headers"))
        let hostile = Array("x\r\nSet-Cookie: a=b".utf8)
        #expect(hostile.withUnsafeBytes { CORSPolicy.allowedRequestHeaders($0) } == nil)
    }

    // MARK: Vary, nosniff, extra fields

    @Test("§12.5.5 one Vary line lists every field the response varies on; nosniff and the extra lines are rendered as given")
    func varyAndExtras() {
        #expect(!Self.render { _ in }.contains("Vary"))
        #expect(Self.render { $0.vary = [.acceptEncoding] }.contains("\r\nVary: Accept-Encoding\r\n"))
        #expect(Self.render { $0.vary = [.accept, .acceptEncoding] }.contains("\r\nVary: Accept, Accept-Encoding\r\n"))
        #expect(Self.render { $0.vary = [.acceptEncoding, .origin] }.contains("\r\nVary: Accept-Encoding, Origin\r\n"))
        #expect(Self.render { $0.vary = [.origin] }.contains("\r\nVary: Origin\r\n"))
        #expect(Self.render { $0.nosniff = true }.contains("\r\nX-Content-Type-Options: nosniff\r\n"))
        let extra = Array("X-A: 1\r\nX-B: 2".utf8)
        let rendered = extra.withUnsafeBytes { fields in Self.render { $0.extraFields = fields } }
        #expect(rendered.hasSuffix("\r\nX-A: 1\r\nX-B: 2\r\n\r\n"))
    }
}

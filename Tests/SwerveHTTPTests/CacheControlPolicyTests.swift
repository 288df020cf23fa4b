import Testing
@testable import SwerveHTTP

private let immutable = "public, max-age=31536000, immutable"

private func policy(
    default value: String? = nil, _ rules: [(String, String)] = [], fingerprinted: Bool = false
) throws -> CacheControlPolicy {
    try CacheControlPolicy(default: value, rules: rules.map { (glob: $0.0, value: $0.1) },
                           immutableFingerprinted: fingerprinted)
}

private func fingerprinted(_ name: String) -> Bool {
    Array(name.utf8).withUnsafeBytes { CacheControlPolicy.isFingerprinted($0) }
}

struct GlobRow: Sendable, CustomTestStringConvertible {
    let glob: String
    let path: String
    let matches: Bool
    var testDescription: String { "\(glob) \(matches ? "matches" : "does not match") \(path)" }
}

@Suite("CacheControlPolicy")
struct CacheControlPolicyTests {
    @Test("Nothing configured: no-cache everywhere (revalidate every use; never stale after a deploy)")
    func defaultIsNoCache() throws {
        let p = try policy()
        #expect(p.value(forPath: "/index.html") == "no-cache")
        #expect(p.value(forPath: "/assets/app.3f9a2c1b.js") == "no-cache")
        #expect(p.value(forPath: "/") == "no-cache")
        #expect(p.value(forPath: "") == "no-cache")
        #expect(CacheControlPolicy.defaultValue == "no-cache")
    }

    @Test("A configured default replaces no-cache; an empty default sends no field")
    func configuredDefault() throws {
        #expect(try policy(default: "max-age=60").value(forPath: "/a.css") == "max-age=60")
        #expect(try policy(default: "  max-age=60\t").value(forPath: "/a.css") == "max-age=60")
        #expect(try policy(default: "").value(forPath: "/a.css") == nil)
    }

    @Test("Glob semantics", arguments: [
        // A glob without '/' matches the file name in any directory.
        GlobRow(glob: "*.html", path: "/index.html", matches: true),
        GlobRow(glob: "*.html", path: "/docs/guide/a.html", matches: true),
        GlobRow(glob: "*.woff2", path: "/fonts/a.woff2", matches: true),
        GlobRow(glob: "*.html", path: "/a.html.gz", matches: false),
        GlobRow(glob: "*.HTML", path: "/a.html", matches: false), // case-sensitive
        GlobRow(glob: "robots.txt", path: "/robots.txt", matches: true),
        GlobRow(glob: "robots.txt", path: "/sub/robots.txt", matches: true),
        // A leading '/' anchors at the root.
        GlobRow(glob: "/robots.txt", path: "/robots.txt", matches: true),
        GlobRow(glob: "/robots.txt", path: "/sub/robots.txt", matches: false),
        // '*' does not cross '/'; '**' does.
        GlobRow(glob: "assets/*", path: "/assets/app.js", matches: true),
        GlobRow(glob: "assets/*", path: "/assets/js/app.js", matches: false),
        GlobRow(glob: "assets/**", path: "/assets/js/app.js", matches: true),
        GlobRow(glob: "assets/**", path: "/other/assets/app.js", matches: false),
        GlobRow(glob: "assets/*.js", path: "/assets/js/app.js", matches: false),
        // '**/' as a segment: zero or more directories.
        GlobRow(glob: "**/*.js", path: "/app.js", matches: true),
        GlobRow(glob: "**/*.js", path: "/a/b/c/app.js", matches: true),
        GlobRow(glob: "assets/**/*.png", path: "/assets/logo.png", matches: true),
        GlobRow(glob: "assets/**/*.png", path: "/assets/img/2024/logo.png", matches: true),
        GlobRow(glob: "assets/**/*.png", path: "/assetsx/logo.png", matches: false),
        GlobRow(glob: "assets/**/x.png", path: "/assets/abx.png", matches: false),
        GlobRow(glob: "a/**/b/**/c", path: "/a/b/c", matches: true),
        GlobRow(glob: "a/**/b/**/c", path: "/a/x/b/y/z/c", matches: true),
        GlobRow(glob: "a/**/b/**/c", path: "/a/x/c", matches: false),
        // '**' inside a segment crosses '/' as well.
        GlobRow(glob: "docs/**.pdf", path: "/docs/2024/report.pdf", matches: true),
        // '?' is one character, never '/'.
        GlobRow(glob: "img?.png", path: "/img1.png", matches: true),
        GlobRow(glob: "img?.png", path: "/img12.png", matches: false),
        GlobRow(glob: "x/a?b", path: "/x/a/b", matches: false),
        GlobRow(glob: "x/a?b", path: "/x/a-b", matches: true),
        // Escapes and literal brackets.
        GlobRow(glob: "\\*.txt", path: "/*.txt", matches: true),
        GlobRow(glob: "\\*.txt", path: "/a.txt", matches: false),
        GlobRow(glob: "[ab].txt", path: "/[ab].txt", matches: true),
        // Paths without the leading '/' work the same.
        GlobRow(glob: "assets/*", path: "assets/app.js", matches: true),
        // Pathological pattern: linear-time NFA, no backtracking blow-up.
        GlobRow(glob: "*a*a*a*a*a*a*a*a*a*a*b", path: "/" + String(repeating: "a", count: 4000), matches: false),
        GlobRow(glob: "/**a**a**a**a**a**a**b", path: "/" + String(repeating: "a/", count: 2000) + "b", matches: true),
    ])
    func glob(_ row: GlobRow) throws {
        let p = try policy(default: "", [(row.glob, "hit")])
        #expect((p.value(forPath: row.path) == "hit") == row.matches)
    }

    @Test("The first matching rule wins; rules beat the fingerprint heuristic; the default is last")
    func order() throws {
        let p = try policy(
            default: "max-age=10",
            [("*.js", "max-age=1"), ("app.js", "max-age=2"), ("vendor/**", "max-age=3"), ("*.map", "")],
            fingerprinted: true)
        #expect(p.value(forPath: "/app.js") == "max-age=1")
        #expect(p.value(forPath: "/vendor/lib.js") == "max-age=1")
        #expect(p.value(forPath: "/vendor/lib.css") == "max-age=3")
        #expect(p.value(forPath: "/main.3f9a2c1b.js") == "max-age=1")     // rule beats heuristic
        #expect(p.value(forPath: "/main.3f9a2c1b.css") == immutable)      // heuristic beats default
        #expect(p.value(forPath: "/main.3f9a2c1b.js.map") == nil)         // empty rule value: no field
        #expect(p.value(forPath: "/index.html") == "max-age=10")
    }

    @Test("Fingerprinted names (immutableFingerprinted): content hash before the extension")
    func fingerprints() throws {
        for name in ["app.3f9a2c1b.js", "app-3f9a2c1b.js", "app.3F9A2C1B.css", "vendor.5e1f0a9c3b7d2e4f.js",
                     "inter.1a2b3c4d.woff2", "app-3f9a2c1b.min.js", "app.3f9a2c1b.js.map", "a.b.0123abcd.js"] {
            #expect(fingerprinted(name), "\(name)")
        }
        for name in ["app.js", "app.3f9a2c1.js", "report-20240115.pdf", "x.deadbeef.js", "bootstrap-datepicker.js",
                     "3f9a2c1b.js", ".3f9a2c1b.js", "app.3f9a2c1b", "app.3f9a2c1b.", "app_3f9a2c1b.js",
                     "app.3f9a2c1g.js", ""] {
            #expect(!fingerprinted(name), "\(name)")
        }
        let on = try policy(fingerprinted: true)
        #expect(on.value(forPath: "/static/js/main.3f9a2c1b.js") == immutable)
        #expect(on.value(forPath: "/3f9a2c1b/app.js") == "no-cache") // only the file name counts
        let off = try policy(fingerprinted: false)
        #expect(off.value(forPath: "/static/js/main.3f9a2c1b.js") == "no-cache")
    }

    @Test("parseRule splits at the first '=' and trims")
    func parseRule() throws {
        let a = try CacheControlPolicy.parseRule("*.html=no-cache")
        #expect(a.glob == "*.html" && a.value == "no-cache")
        let b = try CacheControlPolicy.parseRule("assets/**=public, max-age=604800")
        #expect(b.glob == "assets/**" && b.value == "public, max-age=604800")
        let c = try CacheControlPolicy.parseRule("  *.css = max-age=60 ")
        #expect(c.glob == "*.css" && c.value == "max-age=60")
        let d = try CacheControlPolicy.parseRule("*.map=")
        #expect(d.glob == "*.map" && d.value == "")
    }

    @Test("parseRule errors are specific and readable")
    func parseRuleErrors() {
        #expect(throws: CacheControlPolicy.RuleError.missingEquals(rule: "*.html")) {
            try CacheControlPolicy.parseRule("*.html")
        }
        #expect(throws: CacheControlPolicy.RuleError.emptyGlob(rule: "=no-cache")) {
            try CacheControlPolicy.parseRule("=no-cache")
        }
        #expect(throws: CacheControlPolicy.RuleError.emptyGlob(rule: "  =no-cache")) {
            try CacheControlPolicy.parseRule("  =no-cache")
        }
        #expect(throws: CacheControlPolicy.RuleError.invalidValue(value: "no-cache\r\nSet-Cookie: a=b")) {
            try CacheControlPolicy.parseRule("*=no-cache\r\nSet-Cookie: a=b")
        }
        #expect(throws: CacheControlPolicy.RuleError.invalidValue(value: "max-age=1\n")) {
            try CacheControlPolicy.parseRule("*=max-age=1\n")
        }
        #expect(throws: CacheControlPolicy.RuleError.invalidValue(value: "a\u{0}b")) {
            try CacheControlPolicy.parseRule("*=a\u{0}b")
        }
        #expect(throws: CacheControlPolicy.RuleError.invalidValue(value: "max-age=1 é")) {
            try CacheControlPolicy.parseRule("*=max-age=1 é")
        }
        #expect(throws: CacheControlPolicy.RuleError.invalidGlob(glob: "a\u{1}b")) {
            try CacheControlPolicy.parseRule("a\u{1}b=no-cache")
        }
        let long = String(repeating: "a", count: 300)
        #expect(throws: CacheControlPolicy.RuleError.globTooLong(glob: long)) {
            try CacheControlPolicy.parseRule(long + "=no-cache")
        }
        #expect(CacheControlPolicy.RuleError.missingEquals(rule: "x").description.contains("missing '='"))
        #expect(CacheControlPolicy.RuleError.emptyGlob(rule: "=x").description.contains("empty glob"))
        #expect(CacheControlPolicy.RuleError.invalidValue(value: "a\r\n").description.contains("'a\\r\\n'"))
    }

    @Test("init validates the default and the rules too")
    func initValidates() {
        #expect(throws: CacheControlPolicy.RuleError.invalidValue(value: "no-cache\r\n")) {
            try CacheControlPolicy(default: "no-cache\r\n")
        }
        #expect(throws: CacheControlPolicy.RuleError.emptyGlob(rule: " =x")) {
            try CacheControlPolicy(rules: [(glob: " ", value: "x")])
        }
        #expect(throws: CacheControlPolicy.RuleError.invalidValue(value: "x\ty")) {
            try CacheControlPolicy(rules: [(glob: "*", value: "x\ty")])
        }
    }

    @Test("Returned bytes are stable (allocated once) and outlive copies of the policy")
    func stableBytes() throws {
        var p: CacheControlPolicy? = try policy(default: "max-age=5", [("*.css", "max-age=7")])
        let path = Array("/x/a.css".utf8)
        let first = path.withUnsafeBytes { p!.value(forPath: $0) }
        let second = path.withUnsafeBytes { p!.value(forPath: $0) }
        #expect(first?.baseAddress != nil && first?.baseAddress == second?.baseAddress)
        let copy = p!
        p = nil
        let third = path.withUnsafeBytes { copy.value(forPath: $0) }
        #expect(third?.baseAddress == first?.baseAddress)
        #expect(third.map { String(decoding: $0, as: UTF8.self) } == "max-age=7")
    }

    @Test("Many rules: each path gets the first rule that matches")
    func manyRules() throws {
        let rules = (0..<50).map { ("dir\($0)/**", "max-age=\($0)") } + [("**", "max-age=999")]
        let p = try policy(rules)
        for k in stride(from: 0, to: 50, by: 7) {
            #expect(p.value(forPath: "/dir\(k)/x/y.txt") == "max-age=\(k)")
        }
        #expect(p.value(forPath: "/elsewhere/y.txt") == "max-age=999")
    }
}

import SwerveServer
import Testing
@testable import SwerveCLI

/// The configuration a command line produces, or the test fails with whatever it produced instead.
private func configuration(_ arguments: [String]) throws -> ServerConfiguration {
    let outcome = CommandLineOptions.parse(arguments)
    guard case .run(let configuration) = outcome else {
        Issue.record("\(arguments) gave \(outcome), not a configuration")
        throw UsageError("no configuration")
    }
    return configuration
}

/// The error message a command line produces, nil if it produced something else.
private func errorMessage(_ arguments: [String]) -> String? {
    guard case .error(let message) = CommandLineOptions.parse(arguments) else { return nil }
    return message
}

/// One value option, the text given and where it must land (read back as text so a failure shows both sides).
struct ValueRow: Sendable, CustomTestStringConvertible {
    let option: String
    let value: String
    let expected: String
    let read: @Sendable (ServerConfiguration) -> String
    var testDescription: String { "--\(option) \(value)" }

    init(_ option: String, _ value: String, _ expected: String, _ read: @escaping @Sendable (ServerConfiguration) -> String) {
        (self.option, self.value, self.expected, self.read) = (option, value, expected, read)
    }
}

/// Every value is chosen to differ from the default, so an option that is parsed but not stored fails.
private let valueRows: [ValueRow] = [
    ValueRow("root", "/srv/site", "/srv/site") { $0.root },
    ValueRow("root", "-dashed", "-dashed") { $0.root },
    ValueRow("host", "::1", "::1") { $0.host },
    ValueRow("port", "8443", "8443") { "\($0.port)" },
    ValueRow("port", "0", "0") { "\($0.port)" },
    ValueRow("port", "65535", "65535") { "\($0.port)" },
    ValueRow("workers", "3", "3") { "\($0.workers)" },
    ValueRow("mime-types", "/etc/mime.types", "/etc/mime.types") { $0.mimeTypesPath ?? "nil" },
    ValueRow("max-connections", "100", "100") { "\($0.maxConnections)" },
    ValueRow("header-timeout", "2.5", "2.5") { "\($0.headerTimeout)" },
    ValueRow("keepalive-timeout", "1", "1.0") { "\($0.keepAliveTimeout)" },
    ValueRow("gzip-level", "9", "9") { "\($0.gzipLevel)" },
    ValueRow("gzip-level", "1", "1") { "\($0.gzipLevel)" },
    ValueRow("gzip-min-size", "0", "0") { "\($0.gzipMinSize)" },
    ValueRow("encodings", "zstd,gzip", "zstd gzip") { $0.encodings.order.map(\.name).joined(separator: " ") },
    ValueRow("encodings", "gzip, br", "gzip br") { $0.encodings.order.map(\.name).joined(separator: " ") },
    ValueRow("cache-size", "512K", "524288") { "\($0.cacheSize)" },
    ValueRow("cache-size", "512k", "524288") { "\($0.cacheSize)" },
    ValueRow("cache-size", "1G", "1073741824") { "\($0.cacheSize)" },
    ValueRow("cache-size", "100m", "104857600") { "\($0.cacheSize)" },
    ValueRow("cache-size", "1000", "1000") { "\($0.cacheSize)" },
    ValueRow("cache-size", "0", "0") { "\($0.cacheSize)" },
    ValueRow("cache-entry-max", "1M", "1048576") { $0.cacheEntryMax.map { "\($0)" } ?? "nil" },
    ValueRow("cache-entry-max", "0", "0") { $0.cacheEntryMax.map { "\($0)" } ?? "nil" },
    ValueRow("server-timing", "off", "false") { "\($0.serverTiming)" },
    ValueRow("recompress", "off", "false") { "\($0.recompress)" },
    ValueRow("brotli-level", "0", "0") { "\($0.brotliLevel)" },
    ValueRow("brotli-level", "11", "11") { "\($0.brotliLevel)" },
    ValueRow("zstd-level", "1", "1") { "\($0.zstdLevel)" },
    ValueRow("zstd-level", "19", "19") { "\($0.zstdLevel)" },
    ValueRow("cache-control", "max-age=60", "max-age=60") { $0.cacheControl ?? "nil" },
    ValueRow("cache-control", "", "") { $0.cacheControl ?? "nil" },
    ValueRow("cache-rule", "*.css=max-age=60", "[\"*.css=max-age=60\"]") { "\($0.cacheRules)" },
    ValueRow("etag", "content", "true") { "\($0.contentETags)" },
    ValueRow("header", "**=X-Frame-Options: DENY", "[\"**=X-Frame-Options: DENY\"]") { "\($0.headerRules)" },
    ValueRow("cors", "*", "*") { $0.cors ?? "nil" },
    ValueRow("fallback", "index.html", "index.html") { $0.fallback ?? "nil" },
    ValueRow("error-page", "404=errors/404.html", "[\"404=errors/404.html\"]") { "\($0.errorPages)" },
    ValueRow("error-page", "404=", "[\"404=\"]") { "\($0.errorPages)" },
    ValueRow("cors", "https://a.example, http://localhost:3000", "https://a.example, http://localhost:3000") { $0.cors ?? "nil" },
    ValueRow("access-log", "/var/log/swerve/access.log", "file(\"/var/log/swerve/access.log\")") { "\($0.accessLog)" },
    ValueRow("access-log", "off", "off") { "\($0.accessLog)" },
    ValueRow("access-log-format", "json", "json") { $0.accessLogFormat.rawValue },
    ValueRow("access-log-format", "common", "common") { $0.accessLogFormat.rawValue },
    ValueRow("metrics", "127.0.0.1:9100", "127.0.0.1:9100") { $0.metrics ?? "nil" },
    ValueRow("health", "/healthz", "/healthz") { $0.health ?? "nil" },
    ValueRow("tls-cert", "/etc/ssl/site.pem", "/etc/ssl/site.pem") { $0.tlsCertificate ?? "nil" },
    ValueRow("tls-key", "/etc/ssl/site.key", "/etc/ssl/site.key") { $0.tlsKey ?? "nil" },
    ValueRow("redirect-http", ":80", ":80") { $0.redirectHTTP ?? "nil" },
    ValueRow("drain-delay", "0", "Optional(0.0)") { "\(String(describing: $0.drainDelay))" },
    ValueRow("drain-delay", "2.5", "Optional(2.5)") { "\(String(describing: $0.drainDelay))" },
]

struct FlagRow: Sendable, CustomTestStringConvertible {
    let option: String
    let read: @Sendable (ServerConfiguration) -> Bool
    var testDescription: String { "--\(option)" }
}

private let flagRows: [FlagRow] = [
    FlagRow(option: "show-hidden") { $0.showHidden },
    FlagRow(option: "follow-symlinks") { $0.followSymlinks },
    FlagRow(option: "immutable-fingerprinted") { $0.immutableFingerprinted },
    FlagRow(option: "no-nosniff") { !$0.nosniff },
    FlagRow(option: "list-dirs") { $0.listDirectories },
]

struct ErrorRow: Sendable, CustomTestStringConvertible {
    let arguments: [String]
    let message: String
    var testDescription: String { arguments.joined(separator: " ") }

    init(_ arguments: [String], _ message: String) { (self.arguments, self.message) = (arguments, message) }
}

private let notASize = "is not a size (bytes, or a number with a K, M or G suffix)"

private let errorRows: [ErrorRow] = [
    // Spelling
    ErrorRow(["--bogus"], "unknown option '--bogus'"),
    ErrorRow(["--bogus=1"], "unknown option '--bogus'"),
    ErrorRow(["--Port", "80"], "unknown option '--Port'"),
    ErrorRow(["-p", "80"], "unknown option '-p'"),
    ErrorRow(["--", "a", "b"], "unexpected argument 'b'"),
    ErrorRow(["site", "other"], "unexpected argument 'other'"),
    ErrorRow(["--root", "a", "b"], "the root was given twice: as DIR ('b') and as --root ('a')"),
    ErrorRow(["b", "--root=a"], "the root was given twice: as DIR ('b') and as --root ('a')"),
    ErrorRow(["-"], "unexpected argument '-'"),
    ErrorRow([""], "unexpected argument ''"),
    ErrorRow(["--port"], "missing value for --port"),
    ErrorRow(["--show-hidden", "--root"], "missing value for --root"),
    ErrorRow(["--show-hidden=1"], "--show-hidden takes no value"),
    ErrorRow(["--immutable-fingerprinted="], "--immutable-fingerprinted takes no value"),
    ErrorRow(["--port", "1", "--port=2"], "--port was given twice"),
    ErrorRow(["--header", "X-Frame-Options: DENY"],
             "--header: header rule 'X-Frame-Options: DENY': missing '=' (expected GLOB=Name: value, e.g. '**=X-Frame-Options: DENY')"),
    ErrorRow(["--header", "**=X-Frame-Options DENY"],
             "--header: header rule '**=X-Frame-Options DENY': missing ':' after the field name (expected GLOB=Name: value)"),
    ErrorRow(["--header", "**=Content-Length: 5"],
             "--header: header rule '**=Content-Length: 5': Content-Length cannot be set: it frames the message or is hop-by-hop (RFC 9112 §6, RFC 9110 §7.6.1)"),
    ErrorRow(["--header", "**=ETag: \"x\""],
             "--header: header rule '**=ETag: \"x\"': ETag cannot be set: Swerve sets it from the file and the negotiated representation"),
    ErrorRow(["--header", "**=Cache-Control: max-age=1"],
             "--header: header rule '**=Cache-Control: max-age=1': Cache-Control cannot be set: use --cache-rule GLOB=VALUE (or --cache-control) instead"),
    ErrorRow(["--header", "**=Bad Name: x"], "--header: header rule '**=Bad Name: x': 'Bad Name' is not a field name (letters, digits and !#$%&'*+-.^_`|~)"),
    ErrorRow(["--header", "**=X-A: a\u{1}b"], "--header: header rule '**=X-A: a\u{1}b': the value has a control character or a non-ASCII byte"),
    ErrorRow(["--header", "=X-A: b"], "--header: header rule '=X-A: b': empty glob before '=' (expected GLOB=Name: value, e.g. '*.html=X-Frame-Options: DENY')"),
    ErrorRow(["--error-page", "404"], "--error-page '404': expected CODE=FILE (e.g. 404=errors/404.html, or 404= for none)"),
    ErrorRow(["--error-page", "200=ok.html"], "--error-page '200=ok.html': '200' is not an error status (400-599)"),
    ErrorRow(["--error-page", "404=../outside.html"],
             "--error-page 404=../outside.html: not a path inside the root (no '..' above it, no hidden names, no '?' or '#')"),
    ErrorRow(["--error-page", "404=errors/"], "--error-page 404=errors/: expected a file inside the root, not a directory or a query"),
    ErrorRow(["--fallback", ".secret/index.html"],
             "--fallback .secret/index.html: not a path inside the root (no '..' above it, no hidden names, no '?' or '#')"),
    ErrorRow(["--fallback", "app/"], "--fallback app/: expected a file inside the root, not a directory or a query"),
    ErrorRow(["--cors", ""], "--cors: expected '*' or a comma-separated list of origins (https://app.example, http://localhost:3000)"),
    ErrorRow(["--cors", "https://a.example/"], "--cors: 'https://a.example/' is not an origin: expected scheme://host[:port], without a path or a trailing slash"),
    ErrorRow(["--cors", "a.example"], "--cors: 'a.example' is not an origin: expected scheme://host[:port], without a path or a trailing slash"),
    ErrorRow(["--cors", "https://a.example:99999"], "--cors: 'https://a.example:99999' is not an origin: expected scheme://host[:port], without a path or a trailing slash"),
    ErrorRow(["--cors", "*, https://a.example"], "--cors: '*' is not an origin: expected scheme://host[:port], without a path or a trailing slash"),
    ErrorRow(["--root=a", "--root=a"], "--root was given twice"),
    ErrorRow(["--follow-symlinks", "--follow-symlinks"], "--follow-symlinks was given twice"),
    // Values
    ErrorRow(["--port", "70000"], "--port: '70000' is not a port number (0-65535)"),
    ErrorRow(["--port", "-1"], "--port: '-1' is not a port number (0-65535)"),
    ErrorRow(["--port="], "--port: '' is not a port number (0-65535)"),
    ErrorRow(["--port", "http"], "--port: 'http' is not a port number (0-65535)"),
    ErrorRow(["--workers", "two"], "--workers: 'two' is not a whole number"),
    ErrorRow(["--workers", "1.5"], "--workers: '1.5' is not a whole number"),
    ErrorRow(["--workers", "0"], "--workers must be at least 1"),
    ErrorRow(["--max-connections", "0"], "--max-connections must be at least 1"),
    ErrorRow(["--max-connections", "-5"], "--max-connections must be at least 1"),
    ErrorRow(["--header-timeout", "10s"], "--header-timeout: '10s' is not a number of seconds"),
    ErrorRow(["--header-timeout", "0"], "--header-timeout must be a positive number of seconds"),
    ErrorRow(["--header-timeout", "inf"], "--header-timeout must be a positive number of seconds"),
    ErrorRow(["--keepalive-timeout", "-1"], "--keepalive-timeout must be a positive number of seconds"),
    ErrorRow(["--keepalive-timeout=nan"], "--keepalive-timeout must be a positive number of seconds"),
    ErrorRow(["--gzip-level", "0"], "--gzip-level must be 1 to 9"),
    ErrorRow(["--gzip-level", "10"], "--gzip-level must be 1 to 9"),
    ErrorRow(["--gzip-level", "99999999999"], "--gzip-level must be 1 to 9"),
    ErrorRow(["--gzip-level", "max"], "--gzip-level: 'max' is not a whole number"),
    ErrorRow(["--brotli-level", "12"], "--brotli-level must be 0 to 11"),
    ErrorRow(["--brotli-level", "-1"], "--brotli-level must be 0 to 11"),
    ErrorRow(["--zstd-level", "0"], "--zstd-level must be 1 to 19"),
    ErrorRow(["--zstd-level", "22"], "--zstd-level must be 1 to 19"),
    ErrorRow(["--gzip-min-size", "-1"], "--gzip-min-size must not be negative"),
    ErrorRow(["--encodings", "deflate"], "--encodings: 'deflate' is not br, zstd or gzip"),
    ErrorRow(["--encodings", "br,,gzip"], "--encodings: '' is not br, zstd or gzip"),
    ErrorRow(["--encodings", ""], "--encodings: '' is not br, zstd or gzip"),
    ErrorRow(["--encodings", "gzip,br,gzip"], "--encodings: gzip is listed twice"),
    ErrorRow(["--cache-size", "64X"], "--cache-size: '64X' \(notASize)"),
    ErrorRow(["--cache-size", "-1M"], "--cache-size: '-1M' \(notASize)"),
    ErrorRow(["--cache-size", "M"], "--cache-size: 'M' \(notASize)"),
    ErrorRow(["--cache-size", "64MB"], "--cache-size: '64MB' \(notASize)"),
    ErrorRow(["--cache-size", "9999999999G"], "--cache-size: '9999999999G' \(notASize)"),
    ErrorRow(["--cache-size", "ß"], "--cache-size: 'ß' \(notASize)"),
    ErrorRow(["--cache-entry-max=1.5M"], "--cache-entry-max: '1.5M' \(notASize)"),
    ErrorRow(["--cache-entry-max", "2M", "--cache-size", "1M"], "--cache-entry-max must not exceed --cache-size"),
    ErrorRow(["--cache-entry-max", "65M"], "--cache-entry-max must not exceed --cache-size"),
    ErrorRow(["--cache-size", "0", "--cache-entry-max", "1"], "--cache-entry-max must not exceed --cache-size"),
    ErrorRow(["--server-timing", "yes"], "--server-timing: 'yes' is not on or off"),
    ErrorRow(["--server-timing", "ON"], "--server-timing: 'ON' is not on or off"),
    ErrorRow(["--recompress", "1"], "--recompress: '1' is not on or off"),
    ErrorRow(["--etag", "strong"], "--etag: 'strong' is not metadata or content"),
    ErrorRow(["--access-log", ""], "--access-log needs a path, - or off"),
    ErrorRow(["--tls-cert", ""], "--tls-cert needs a file"),
    ErrorRow(["--tls-key="], "--tls-key needs a file"),
    ErrorRow(["--access-log-format", "apache"], "--access-log-format: 'apache' is not combined, common or json"),
    ErrorRow(["--drain-delay", "-1"], "--drain-delay: '-1' is not a number of seconds (0 or more)"),
    ErrorRow(["--drain-delay", "inf"], "--drain-delay: 'inf' is not a number of seconds (0 or more)"),
]

@Suite("Command-line options")
struct CommandLineOptionsTests {
    @Test("No arguments: every field the CLI sets has its documented default")
    func defaults() throws {
        let c = try configuration([])
        #expect(c.root == "html")
        #expect(c.host == "0.0.0.0")
        #expect(c.port == 8080)
        #expect(c.workers == ServerConfiguration().workers && c.workers >= 1)
        #expect(c.mimeTypesPath == nil)
        #expect(c.maxConnections == 16384)
        #expect(c.headerTimeout == 10)
        #expect(c.keepAliveTimeout == 15)
        #expect(c.showHidden == false)
        #expect(c.followSymlinks == false)
        #expect(c.gzipLevel == 6)
        #expect(c.gzipMinSize == 256)
        #expect(c.encodings == .standard)
        #expect(c.cacheSize == 64 * 1024 * 1024)
        #expect(c.cacheEntryMax == nil)
        #expect(c.serverTiming == true)
        #expect(c.cacheControl == nil)
        #expect(c.cacheRules == [])
        #expect(c.immutableFingerprinted == false)
        #expect(c.contentETags == false)
        #expect(c.accessLog == .standardOutput)
        #expect(c.accessLogFormat == .combined)
        #expect(c.metrics == nil)
        #expect(c.health == nil)
        #expect(c.drainDelay == nil)
        #expect(c.tlsCertificate == nil)
        #expect(c.tlsKey == nil)
        #expect(c.redirectHTTP == nil)
    }

    @Test("Each value option lands in its field, as --name value", arguments: valueRows)
    func separateValue(_ row: ValueRow) throws {
        #expect(row.read(ServerConfiguration()) != row.expected, "the row must differ from the default")
        #expect(row.read(try configuration(["--\(row.option)", row.value])) == row.expected)
    }

    @Test("Each value option lands in its field, as --name=value", arguments: valueRows)
    func attachedValue(_ row: ValueRow) throws {
        #expect(row.read(try configuration(["--\(row.option)=\(row.value)"])) == row.expected)
    }

    @Test("Each flag sets its field", arguments: flagRows)
    func flag(_ row: FlagRow) throws {
        #expect(row.read(ServerConfiguration()) == false)
        #expect(row.read(try configuration(["--\(row.option)"])) == true)
    }

    @Test("The rows above cover every option in the table")
    func everyOptionTested() {
        let tested = Set(valueRows.map(\.option) + flagRows.map(\.option))
        #expect(tested == Set(CommandLineOptions.options.map(\.name)))
    }

    @Test("Choices that equal the default are accepted too")
    func defaultChoices() throws {
        #expect(try configuration(["--server-timing", "on"]).serverTiming == true)
        #expect(try configuration(["--server-timing=off", ]).serverTiming == false)
        #expect(try configuration([]).recompress == true)
        #expect(try configuration(["--recompress", "off"]).recompress == false)
        #expect(try configuration([]).brotliLevel == 5)
        #expect(try configuration([]).zstdLevel == 3)
        #expect(try configuration(["--etag", "metadata"]).contentETags == false)
    }

    @Test("Many options together; --cache-rule repeats and keeps its order; only the first '=' splits")
    func combined() throws {
        let c = try configuration([
            "--root", "site", "--port=0", "--show-hidden", "--cache-rule", "*.woff2=public, max-age=31536000, immutable",
            "--cache-size", "1M", "--cache-rule=assets/**=max-age=60", "--cache-entry-max", "1M", "--cache-rule", "*.html=no-store",
            "--etag=content", "--workers", "2",
        ])
        #expect(c.root == "site")
        #expect(c.port == 0)
        #expect(c.showHidden)
        #expect(c.cacheSize == 1 << 20)
        #expect(c.cacheEntryMax == 1 << 20)
        #expect(c.contentETags)
        #expect(c.workers == 2)
        #expect(c.cacheRules == ["*.woff2=public, max-age=31536000, immutable", "assets/**=max-age=60", "*.html=no-store"])
        #expect(c.followSymlinks == false)
    }

    @Test("swerve DIR: the root as a positional argument, anywhere among the options; -- before one that starts with a dash")
    func positionalRoot() throws {
        #expect(try configuration(["./dist"]).root == "./dist")
        #expect(try configuration(["--port", "0", "site", "--show-hidden"]).root == "site")
        #expect(try configuration(["--port=0", "--", "-odd name"]).root == "-odd name")
        #expect(try configuration(["--", "--root"]).root == "--root")
        #expect(try configuration(["--root", "site"]).root == "site")
        #expect(try configuration(["--"]).root == ServerConfiguration().root)
    }

    @Test("Bad command lines: the exact message", arguments: errorRows)
    func error(_ row: ErrorRow) {
        #expect(errorMessage(row.arguments) == row.message)
    }

    @Test("What stderr shows for a usage error, and the exit status")
    func errorReport() {
        #expect(CommandLineOptions.errorReport("unknown option '--bogus'")
            == "swerve: error: unknown option '--bogus'\nUsage: swerve [options] [DIR]. See 'swerve --help'.\n")
        #expect(CommandLineOptions.usageExitCode == 64)
    }

    @Test("--version")
    func version() {
        guard case .version(let text) = CommandLineOptions.parse(["--version"]) else {
            Issue.record("--version did not ask for the version")
            return
        }
        #expect(text == "swerve 0.1.0")
    }

    @Test("--help and -h win over anything else on the line; --version over everything but help")
    func helpWins() {
        for arguments in [["--help"], ["-h"], ["--bogus", "--help"], ["--port", "x", "-h"], ["--version", "--help"]] {
            guard case .help(let text) = CommandLineOptions.parse(arguments) else {
                Issue.record("\(arguments) did not ask for help")
                continue
            }
            #expect(text == CommandLineOptions.helpText)
        }
        guard case .version = CommandLineOptions.parse(["--port", "x", "--version"]) else {
            Issue.record("--version after a bad value did not ask for the version")
            return
        }
    }

    @Test("--help: usage, every option with its placeholder and default, within 100 columns")
    func help() {
        let text = CommandLineOptions.helpText
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasPrefix("Usage: swerve [--root DIR] [--host ADDR] [--port N]") == true)
        #expect(text.contains("[--cache-rule GLOB=VALUE]..."))
        #expect(text.contains("[--help]") && text.contains("[--version]") && text.contains("[DIR]"))
        for line in lines {
            #expect(line.count <= 100, "too wide: \(line)")
            #expect(!line.hasSuffix(" "), "trailing space: \(line)")
        }
        for option in CommandLineOptions.options {
            #expect(lines.contains { $0.hasPrefix("  \(option.synopsis) ") }, "no help entry for --\(option.name)")
        }
        #expect(lines.contains("  -h, --help                 Show this help and exit."))
        #expect(lines.contains("  --version                  Show the version and exit."))
        #expect(lines.contains("  --port N                   TCP port (0 picks a free one). (default: 8080)"))
        #expect(lines.contains("  --show-hidden              Serve files and directories whose names start with '.'."))
        for fragment in [
            "(default: html)", "(default: 0.0.0.0)", "(default: number of CPUs)", "(default: 16384)", "(default: 10)",
            "(default: 15)", "(default: 6)", "(default: 256)", "(default: 64M)", "(default: on)", "(default: no-cache)",
            "(default: metadata)", "(default: br,zstd,gzip)", "--gzip-level 1-9", "--server-timing on|off", "--recompress on|off", "--brotli-level 0-11", "--zstd-level 1-19", "--etag metadata|content",
        ] {
            #expect(text.contains(fragment), "missing \(fragment)")
        }
    }

    @Test("ByteCount: the help's rendering of a default")
    func byteCountDescription() {
        #expect(ByteCount(64 << 20).description == "64M")
        #expect(ByteCount(1000).description == "1000")
        #expect(ByteCount(0).description == "0")
        #expect(ByteCount("1K")?.bytes == 1024)
        #expect(ByteCount("+1K")?.bytes == 1024)
        #expect(ByteCount("") == nil)
    }
}

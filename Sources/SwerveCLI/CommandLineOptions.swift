import SwerveHTTP
import SwerveServer

public let swerveVersion = "0.1.0"

/// What a command line asks `swerve` to do.
public enum ParseOutcome: Sendable {
    /// Serve with this configuration.
    case run(ServerConfiguration)
    /// `--help` or `-h`: print this text on stdout and exit 0.
    case help(String)
    /// `--version`: print this text on stdout and exit 0.
    case version(String)
    /// A usage mistake, worded to follow `swerve: error: `; see `CommandLineOptions.errorReport`.
    case error(String)
}

/// The command line, parsed by hand: `--name value` or `--name=value` for options, bare `--name` for flags.
///
/// Every option is described once, in `options` below – spelling, placeholder, default, help text and what it sets –
/// and both the parser and `--help` read that table, so the help cannot drift from what is accepted. The defaults
/// themselves stay in `ServerConfiguration`: parsing starts from `ServerConfiguration()` and the help text prints
/// those same values.
public enum CommandLineOptions {
    /// BSD `sysexits.h` EX_USAGE, the exit status swift-argument-parser used for bad input.
    public static let usageExitCode: Int32 = 64

    /// `arguments` without the program name (`CommandLine.arguments.dropFirst()`).
    public static func parse<Arguments: Collection<String>>(_ arguments: Arguments) -> ParseOutcome {
        // `--help` and `--version` win wherever they stand: someone who typed a wrong flag and then `--help` wants
        // the help, not an error about the flag.
        if arguments.contains(where: { $0 == "--help" || $0 == "-h" }) { return .help(helpText) }
        if arguments.contains("--version") { return .version(versionText) }
        do {
            return .run(try configuration(from: Array(arguments)))
        } catch {
            return .error(error.message)
        }
    }

    /// What stderr shows for a usage mistake: the error, then where to look.
    public static func errorReport(_ message: String) -> String {
        "swerve: error: \(message)\nUsage: swerve [options] [DIR]. See 'swerve --help'.\n"
    }

    public static var versionText: String { "swerve \(swerveVersion)" }

    static func configuration(from arguments: [String]) throws(UsageError) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        var given: Set<String> = []
        /// The positional DIR (`swerve ./dist`), if one was given.
        var directory: String?
        var optionsEnded = false
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            // `--` ends the options (POSIX): what follows is DIR, even if it starts with a dash.
            if argument == "--" && !optionsEnded {
                optionsEnded = true
                continue
            }
            guard argument.hasPrefix("--") && !optionsEnded else {
                let isOption = argument.hasPrefix("-") && argument != "-" && !optionsEnded
                if isOption { throw UsageError("unknown option '\(argument)'") }
                // One DIR; "-" would read as standard input, which a server cannot serve.
                guard directory == nil, argument != "-", !argument.isEmpty else {
                    throw UsageError("unexpected argument '\(argument)'")
                }
                directory = argument
                continue
            }
            let (name, attachedValue) = split(argument)
            guard let option = options.first(where: { $0.name == name }) else {
                throw UsageError("unknown option '--\(name)'")
            }
            // A second `--port` is more likely a mistake than an override; only `--cache-rule` adds up.
            guard option.repeatable || given.insert(option.name).inserted else {
                throw UsageError("--\(name) was given twice")
            }
            switch option.action {
            case .flag(let set):
                guard attachedValue == nil else { throw UsageError("--\(name) takes no value") }
                set(&configuration)
            case .value(_, let set):
                let value: String
                if let attachedValue {
                    value = attachedValue
                } else if index < arguments.count {
                    // Taken whatever it looks like, so `--cache-control -` or a negative number reach the value's
                    // own check (which then names the option) instead of being read as an unknown option.
                    value = arguments[index]
                    index += 1
                } else {
                    throw UsageError("missing value for --\(name)")
                }
                try set(&configuration, value, "--\(name)")
            }
        }
        // The rules that span two arguments, so they can only be checked once all are read.
        if let entryMax = configuration.cacheEntryMax, entryMax > configuration.cacheSize {
            throw UsageError("--cache-entry-max must not exceed --cache-size")
        }
        if let directory {
            guard !given.contains("root") else {
                throw UsageError("the root was given twice: as DIR ('\(directory)') and as --root ('\(configuration.root)')")
            }
            configuration.root = directory
        }
        return configuration
    }

    /// `--name=value` → (`name`, `value`); `--name` → (`name`, nil). Only the first `=` splits, so a
    /// `--cache-rule=*.css=max-age=60` keeps its value whole.
    private static func split(_ argument: String) -> (name: String, value: String?) {
        let body = argument.dropFirst(2)
        guard let equals = body.firstIndex(of: "=") else { return (String(body), nil) }
        return (String(body[..<equals]), String(body[body.index(after: equals)...]))
    }
}

/// One option: how it is spelled and documented, and what it sets.
struct OptionSpec: Sendable {
    /// Sets fields of the configuration from the option's text; the last argument is the option as typed
    /// (`--port`), for error messages.
    typealias Setter = @Sendable (inout ServerConfiguration, String, String) throws(UsageError) -> Void

    enum Action: Sendable {
        /// Takes no value.
        case flag(@Sendable (inout ServerConfiguration) -> Void)
        /// Takes one value, shown as `placeholder` in the help.
        case value(placeholder: String, Setter)
    }

    /// Without the leading `--`.
    let name: String
    let help: String
    /// Shown as `(default: …)`; nil for flags (off unless given) and for options with no default.
    let defaultValue: String?
    let repeatable: Bool
    let action: Action

    static func value(
        _ name: String, _ placeholder: String, default defaultValue: String?, repeatable: Bool = false,
        _ help: String, set: @escaping Setter
    ) -> OptionSpec {
        OptionSpec(name: name, help: help, defaultValue: defaultValue, repeatable: repeatable, action: .value(placeholder: placeholder, set))
    }

    static func flag(_ name: String, _ help: String, set: @escaping @Sendable (inout ServerConfiguration) -> Void) -> OptionSpec {
        OptionSpec(name: name, help: help, defaultValue: nil, repeatable: false, action: .flag(set))
    }

    /// `--root DIR`, `--show-hidden`: how the option is written in the usage line and the help.
    var synopsis: String {
        switch action {
        case .flag: "--\(name)"
        case .value(let placeholder, _): "--\(name) \(placeholder)"
        }
    }
}

extension CommandLineOptions {
    /// The table. Order is the order of `--help`.
    static let options: [OptionSpec] = {
        let defaults = ServerConfiguration()
        return [
            .value("root", "DIR", default: defaults.root, "Document root to serve (a symlink to a release is re-resolved while serving).") { configuration, text, _ in
                configuration.root = text
            },
            .value("host", "ADDR", default: defaults.host, "Address to listen on (numeric IPv4 or IPv6, e.g. 0.0.0.0, 127.0.0.1, ::).") {
                configuration, text, _ in configuration.host = text
            },
            .value("port", "N", default: "\(defaults.port)", "TCP port (0 picks a free one).") { configuration, text, option throws(UsageError) in
                configuration.port = try OptionValue.port(text, for: option)
            },
            .value("workers", "N", default: "number of CPUs", "Event loops, one thread each.") { configuration, text, option throws(UsageError) in
                let workers = try OptionValue.integer(text, for: option)
                guard workers >= 1 else { throw UsageError("--workers must be at least 1") }
                configuration.workers = workers
            },
            .value("mime-types", "FILE", default: "the one compiled in", "mime.types file.") { configuration, text, _ in
                configuration.mimeTypesPath = text
            },
            .value("max-connections", "N", default: "\(defaults.maxConnections)", "Open connections at most; more wait in the accept queue.") {
                configuration, text, option throws(UsageError) in
                let limit = try OptionValue.integer(text, for: option)
                guard limit >= 1 else { throw UsageError("--max-connections must be at least 1") }
                configuration.maxConnections = limit
            },
            .value("header-timeout", "S", default: seconds(defaults.headerTimeout), "Seconds a request's header may take to arrive.") {
                configuration, text, option throws(UsageError) in
                configuration.headerTimeout = try OptionValue.seconds(text, for: option)
            },
            .value("keepalive-timeout", "S", default: seconds(defaults.keepAliveTimeout), "Seconds an idle keep-alive connection stays open.") {
                configuration, text, option throws(UsageError) in
                configuration.keepAliveTimeout = try OptionValue.seconds(text, for: option)
            },
            .flag("show-hidden", "Serve files and directories whose names start with '.'.") { $0.showHidden = true },
            .flag("follow-symlinks", "Follow symbolic links (never to a target outside the root).") { $0.followSymlinks = true },
            .flag("list-dirs", "List a directory that has no index.html (HTML, or JSON when asked for).") { $0.listDirectories = true },
            .value("gzip-level", "1-9", default: "\(defaults.gzipLevel)", "gzip compression level, 1 (fastest) to 9 (smallest).") {
                configuration, text, option throws(UsageError) in
                configuration.gzipLevel = try OptionValue.level(text, in: 1...9, for: option)
            },
            .value("brotli-level", "0-11", default: "\(defaults.brotliLevel)",
                   "brotli quality of the first compression, 0 (fastest) to 11 (smallest).") {
                configuration, text, option throws(UsageError) in
                configuration.brotliLevel = try OptionValue.level(text, in: 0...11, for: option)
            },
            .value("zstd-level", "1-19", default: "\(defaults.zstdLevel)",
                   "zstd level of the first compression, 1 (fastest) to 19 (smallest).") {
                configuration, text, option throws(UsageError) in
                // 20–22 are zstd's "ultra" levels (its CLI wants --ultra): windows past RFC 9659's 8 MB, much memory.
                configuration.zstdLevel = try OptionValue.level(text, in: 1...19, for: option)
            },
            .value("encodings", "LIST", default: defaults.encodings.order.map(\.name).joined(separator: ","),
                   "Compressions offered, in order of preference among codings a client accepts equally (br, zstd, gzip; a subset turns the others off).") {
                configuration, text, option throws(UsageError) in
                configuration.encodings = try OptionValue.encodings(text, for: option)
            },
            .value("gzip-min-size", "BYTES", default: "\(defaults.gzipMinSize)", "Smallest file (bytes) worth compressing.") {
                configuration, text, option throws(UsageError) in
                let size = try OptionValue.integer(text, for: option)
                guard size >= 0 else { throw UsageError("--gzip-min-size must not be negative") }
                configuration.gzipMinSize = size
            },
            .value("cache-size", "SIZE", default: ByteCount(defaults.cacheSize).description,
                   "Memory for cached compressed bodies, e.g. 64M, 512K, 1G (0 disables).") { configuration, text, option throws(UsageError) in
                configuration.cacheSize = try OptionValue.byteCount(text, for: option)
            },
            .value("cache-entry-max", "SIZE", default: "an eighth of --cache-size", "Largest single cached body.") {
                configuration, text, option throws(UsageError) in
                configuration.cacheEntryMax = try OptionValue.byteCount(text, for: option)
            },
            .value("recompress", "on|off", default: defaults.recompress ? "on" : "off",
                   "Recompress cached bodies in the background, smallest setting (zopfli for gzip, brotli 11, zstd 19).") {
                configuration, text, option throws(UsageError) in
                configuration.recompress = try OptionValue.choice(text, ["on": true, "off": false], for: option)
            },
            .value("server-timing", "on|off", default: defaults.serverTiming ? "on" : "off", "Server-Timing header on compressed responses.") {
                configuration, text, option throws(UsageError) in
                configuration.serverTiming = try OptionValue.choice(text, ["on": true, "off": false], for: option)
            },
            .value("cache-control", "VALUE", default: "no-cache", "Cache-Control for files no rule matches (empty: none).") { configuration, text, _ in
                configuration.cacheControl = text
            },
            .value("cache-rule", "GLOB=VALUE", default: nil, repeatable: true, "Cache-Control rule; repeatable, first match wins.") {
                configuration, text, _ in configuration.cacheRules.append(text)
            },
            .flag("immutable-fingerprinted", "Cache names with a content hash (app.3f9a2c1b.js) for a year, immutable.") {
                $0.immutableFingerprinted = true
            },
            .value("etag", "metadata|content", default: defaults.contentETags ? "content" : "metadata",
                   "ETag source: metadata (inode, size, mtime, ctime) or content (SHA-256).") { configuration, text, option throws(UsageError) in
                configuration.contentETags = try OptionValue.choice(text, ["metadata": false, "content": true], for: option)
            },
            .value("header", "GLOB=FIELD", default: nil, repeatable: true,
                   "Add FIELD ('Name: value') to the 2xx and 304 responses of matching paths; repeatable, every match applies.") {
                configuration, text, _ throws(UsageError) in
                do {
                    _ = try HeaderRules.parseRule(text)
                } catch {
                    throw UsageError("--header: \(error)")
                }
                configuration.headerRules.append(text)
            },
            .flag("no-nosniff", "Do not send X-Content-Type-Options: nosniff (sent by default).") { $0.nosniff = false },
            .value("fallback", "FILE", default: nil,
                   "SPA fallback: serve FILE (inside the root) for a missing path when the client asks for text/html.") {
                configuration, text, _ throws(UsageError) in
                do {
                    _ = try SitePages(fallback: text, errorPages: [])
                } catch {
                    throw UsageError("\(error)")
                }
                configuration.fallback = text
            },
            .value("error-page", "CODE=FILE", default: "404=404.html if it exists", repeatable: true,
                   "Serve FILE (inside the root) for error CODE; repeatable; CODE= turns that page off.") {
                configuration, text, _ throws(UsageError) in
                do {
                    _ = try SitePages(fallback: nil, errorPages: [text])
                } catch {
                    throw UsageError("\(error)")
                }
                configuration.errorPages.append(text)
            },
            .value("cors", "ORIGINS", default: nil,
                   "Allow cross-origin reads: '*' or a comma list of origins (https://app.example).") {
                configuration, text, _ throws(UsageError) in
                do {
                    _ = try CORSPolicy(text)
                } catch {
                    throw UsageError("\(error)")
                }
                configuration.cors = text
            },
            .value("access-log", "PATH|-|off", default: "-", "Access log: a file (appended to, reopened on SIGUSR1), - for standard output, or off.") {
                configuration, text, option throws(UsageError) in
                switch text {
                case "": throw UsageError("\(option) needs a path, - or off")
                case "-": configuration.accessLog = .standardOutput
                case "off": configuration.accessLog = .off
                default: configuration.accessLog = .file(text)
                }
            },
            .value("access-log-format", "FMT", default: defaults.accessLogFormat.rawValue,
                   "Access log lines: combined (nginx), common (NCSA) or json (one object per line; also the style of the server's own messages).") {
                configuration, text, option throws(UsageError) in
                configuration.accessLogFormat = try OptionValue.choice(
                    text, ["combined": AccessLogFormat.combined, "common": .common, "json": .json], for: option)
            },
            .value("tls-cert", "FILE", default: nil,
                   "Serve HTTPS: the certificate chain (PEM, leaf first), with --tls-key. SIGHUP reloads both.") {
                configuration, text, option throws(UsageError) in
                guard !text.isEmpty else { throw UsageError("\(option) needs a file") }
                configuration.tlsCertificate = text
            },
            .value("tls-key", "FILE", default: nil, "The private key (PEM) of --tls-cert.") {
                configuration, text, option throws(UsageError) in
                guard !text.isEmpty else { throw UsageError("\(option) needs a file") }
                configuration.tlsKey = text
            },
            .value("redirect-http", "ADDR:PORT", default: nil,
                   "With --tls-cert: a plain-HTTP listener answering every request with 308 to its https URL (e.g. :80).") {
                configuration, text, _ in configuration.redirectHTTP = text
            },
            .value("metrics", "ADDR:PORT", default: nil, "Serve Prometheus metrics at /metrics on a separate listener (e.g. 127.0.0.1:9100).") {
                configuration, text, _ in configuration.metrics = text
            },
            .value("health", "PATH", default: nil, "Health check path (e.g. /healthz): 200 ok, 503 once shutdown begins.") {
                configuration, text, _ in configuration.health = text
            },
            .value("drain-delay", "S", default: "5 with --health, else 0",
                   "After SIGTERM, seconds the health check answers 503 while serving goes on, before the listener closes.") {
                configuration, text, option throws(UsageError) in
                guard let value = Double(text), value >= 0, value.isFinite else {
                    throw UsageError("\(option): '\(text)' is not a number of seconds (0 or more)")
                }
                configuration.drainDelay = value
            },
        ]
    }()

    /// `10` rather than `10.0` for a whole number of seconds.
    private static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
    }
}

// MARK: - --help

extension CommandLineOptions {
    /// Columns the help is wrapped to.
    static let helpWidth = 100

    /// The usage line, the abstract, then one entry per option with its default, e.g.
    /// `  --port N                   TCP port (0 picks a free one). (default: 8080)`.
    public static var helpText: String {
        var usageWords = options.map { "[\($0.synopsis)]" + ($0.repeatable ? "..." : "") }
        usageWords += ["[--help]", "[--version]", "[DIR]"]
        var lines = wrap(usageWords, first: "Usage: swerve ", rest: String(repeating: " ", count: "Usage: swerve ".count))
        lines += ["", "A fast static file server for HTTP/1.1 and HTTP/2.", ""]
        lines += wrap(words("DIR, or --root DIR: the directory to serve (not both). `--` before DIR if it starts with a dash."),
                      first: "", rest: "")
        lines += ["", "Options:"]

        // "(default: …)" is one word for the wrap, so a line never ends in "(default:".
        var entries = options.map { option in
            (synopsis: option.synopsis, words: words(option.help) + (option.defaultValue.map { ["(default: \($0))"] } ?? []))
        }
        entries += [("-h, --help", words("Show this help and exit.")), ("--version", words("Show the version and exit."))]
        let column = 2 + entries.map(\.synopsis.count).max()! + 2
        for entry in entries {
            let left = "  " + entry.synopsis
            let first = left + String(repeating: " ", count: column - left.count)
            lines += wrap(entry.words, first: first, rest: String(repeating: " ", count: column))
        }
        return lines.joined(separator: "\n")
    }

    private static func words(_ text: String) -> [String] {
        text.split(separator: " ").map(String.init)
    }

    /// Greedy word wrap to `helpWidth`: `first` starts the first line, `rest` the others.
    static func wrap(_ words: [String], first: String, rest: String) -> [String] {
        var lines: [String] = []
        var line = first
        var lineIsEmpty = true
        for word in words {
            if !lineIsEmpty && line.count + 1 + word.count > helpWidth {
                lines.append(line)
                line = rest
                lineIsEmpty = true
            }
            line += (lineIsEmpty ? "" : " ") + word
            lineIsEmpty = false
        }
        lines.append(line)
        return lines
    }
}

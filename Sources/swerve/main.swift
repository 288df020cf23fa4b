import ArgumentParser
import CSwerveSys
import Glibc
import Logging
import SwerveServer

/// The command line: parse flags, start the server, wait for SIGINT/SIGTERM, stop gracefully.
/// All state lives in the library; this file only translates flags (keep hot code out of main.swift).
struct SwerveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swerve",
        abstract: "A fast static file server for HTTP/1.1.",
        version: swerveVersion
    )

    @Option(name: .long, help: "Document root to serve.")
    var root: String = "html"

    @Option(name: .long, help: "Address to listen on (numeric IPv4 or IPv6, e.g. 0.0.0.0, 127.0.0.1, ::).")
    var host: String = "0.0.0.0"

    @Option(name: .long, help: "TCP port (0 picks a free one).")
    var port: UInt16 = 8080

    @Option(name: .long, help: "Event loops, one thread each (default: number of CPUs).")
    var workers: Int?

    @Option(name: .customLong("mime-types"), help: "mime.types file (default: the one bundled with Swerve).")
    var mimeTypes: String?

    @Option(name: .customLong("max-connections"), help: "Open connections at most; more wait in the accept queue.")
    var maxConnections: Int = 16384

    @Option(name: .customLong("header-timeout"), help: "Seconds a request's header may take to arrive.")
    var headerTimeout: Double = 10

    @Option(name: .customLong("keepalive-timeout"), help: "Seconds an idle keep-alive connection stays open.")
    var keepaliveTimeout: Double = 15

    @Flag(name: .customLong("show-hidden"), help: "Serve files and directories whose names start with '.'.")
    var showHidden = false

    @Flag(name: .customLong("follow-symlinks"), help: "Follow symbolic links (never to a target outside the root).")
    var followSymlinks = false

    @Option(name: .customLong("gzip-level"), help: "gzip compression level, 1 (fastest) to 9 (smallest).")
    var gzipLevel: Int32 = 6

    @Option(name: .customLong("gzip-min-size"), help: "Smallest file (bytes) worth compressing.")
    var gzipMinSize: Int = 256

    @Option(name: .customLong("cache-size"), help: "Memory for cached compressed bodies, e.g. 64M, 512K, 1G (0 disables).")
    var cacheSize: ByteCount = ByteCount(64 * 1024 * 1024)

    @Option(name: .customLong("cache-entry-max"), help: "Largest single cached body (default: an eighth of --cache-size).")
    var cacheEntryMax: ByteCount?

    @Option(name: .customLong("server-timing"), help: "Server-Timing header on compressed responses: on or off.")
    var serverTiming: OnOff = .on

    @Option(name: .customLong("cache-control"), help: "Cache-Control for files no rule matches (default: no-cache).")
    var cacheControl: String?

    @Option(name: .customLong("cache-rule"), help: "GLOB=VALUE Cache-Control rule; repeatable, first match wins.")
    var cacheRules: [String] = []

    @Flag(name: .customLong("immutable-fingerprinted"), help: "Cache names with a content hash (app.3f9a2c1b.js) for a year, immutable.")
    var immutableFingerprinted = false

    @Option(name: .customLong("etag"), help: "ETag source: metadata (inode, size, mtime) or content (SHA-256).")
    var etag: ETagMode = .metadata

    func validate() throws {
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        if !(headerTimeout > 0 && headerTimeout.isFinite) { throw ValidationError("--header-timeout must be a positive number of seconds") }
        if !(keepaliveTimeout > 0 && keepaliveTimeout.isFinite) { throw ValidationError("--keepalive-timeout must be a positive number of seconds") }
        if !(1...9).contains(gzipLevel) { throw ValidationError("--gzip-level must be 1 to 9") }
        if gzipMinSize < 0 { throw ValidationError("--gzip-min-size must not be negative") }
        if let cacheEntryMax, cacheEntryMax.bytes > cacheSize.bytes {
            throw ValidationError("--cache-entry-max must not exceed --cache-size")
        }
    }

    func run() throws {
        var configuration = ServerConfiguration()
        configuration.root = root
        configuration.host = host
        configuration.port = port
        if let workers { configuration.workers = workers }
        configuration.mimeTypesPath = mimeTypes
        configuration.maxConnections = maxConnections
        configuration.headerTimeout = headerTimeout
        configuration.keepAliveTimeout = keepaliveTimeout
        configuration.showHidden = showHidden
        configuration.followSymlinks = followSymlinks
        configuration.gzipLevel = gzipLevel
        configuration.gzipMinSize = gzipMinSize
        configuration.cacheSize = cacheSize.bytes
        configuration.cacheEntryMax = cacheEntryMax?.bytes
        configuration.serverTiming = serverTiming == .on
        configuration.cacheControl = cacheControl
        configuration.cacheRules = cacheRules
        configuration.immutableFingerprinted = immutableFingerprinted
        configuration.contentETags = etag == .content

        // Block the signals before any loop thread exists, so they inherit the mask and only `sigwait` below
        // ever sees SIGINT/SIGTERM.
        swerve_block_signals()
        let server: Server
        do {
            server = try Server(configuration: configuration)
            try server.start()
        } catch {
            fail("\(error)")
        }
        print("Swerve \(swerveVersion) serving \(root) at \(server.url)")
        fflush(nil)
        let signal = swerve_wait_signal()
        var logger = Logger(label: "swerve")
        logger.logLevel = .info
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        server.stop()
    }
}

let swerveVersion = "0.1.0"

/// A size with an optional binary suffix: `65536`, `512K`, `64M`, `1G`.
struct ByteCount: ExpressibleByArgument {
    let bytes: Int

    init(_ bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        var digits = Substring(argument)
        var scale = 1
        switch digits.last.map({ Character($0.uppercased()) }) {
        case "K": scale = 1 << 10
        case "M": scale = 1 << 20
        case "G": scale = 1 << 30
        default: break
        }
        if scale != 1 { digits = digits.dropLast() }
        guard let value = Int(digits), value >= 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        bytes = product
    }

    var defaultValueDescription: String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20)M" : "\(bytes)"
    }
}

enum OnOff: String, ExpressibleByArgument, CaseIterable {
    case on, off
}

enum ETagMode: String, ExpressibleByArgument, CaseIterable {
    case metadata, content
}

/// One clear line on stderr, then a non-zero exit.
func fail(_ message: String) -> Never {
    let line = "swerve: error: \(message)\n"
    _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
    exit(1)
}

SwerveCommand.main()

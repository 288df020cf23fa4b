import CSwerveSys
import Glibc
import Logging
import SwerveCompression
import SwerveEngine
import SwerveFiles
import SwerveHTTP
import SwerveTLS

/// A startup failure, phrased for the person who ran the command.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// A bad option value (the command line's fault, exit 64) rather than the environment's (a missing root, a port
    /// in use: exit 1).
    public let isUsage: Bool
    public init(_ description: String, usage: Bool = false) {
        self.description = description
        isUsage = usage
    }
}

/// Swerve: the HTTP pipeline on the epoll engine, serving one document root.
public final class Server: Sendable {
    public let configuration: ServerConfiguration
    private let engine: Engine<HTTPHandler>
    private let compression: CompressionService?
    private let workers: WorkerPool
    private let recompressor: WorkerPool?
    private let logger: Logger
    /// Each loop's access-log batch, handed to the writer at stop.
    private let accessLogBuffers: [AccessLogBuffer]
    private let accessLog: AccessLogSink?
    private let logWriter: LogWriter
    private let health: HealthCheck?
    /// The `--metrics` listener, and its address as the startup line shows it (`127.0.0.1`, `[::1]`).
    private let metricsEngine: Engine<MetricsHandler>?
    private let metricsHostText: String?
    /// The `--redirect-http` listener, and its address as the startup line shows it.
    private let redirectEngine: Engine<RedirectHandler>?
    private let redirectHostText: String?
    /// HTTPS: the certificate and key every connection is made with, reloaded on SIGHUP; nil for plain HTTP.
    private let tls: TLSCertificateStore?
    /// Whether this kernel can encrypt TLS output itself (kTLS), probed once at start for the startup line.
    private let kernelTLS: KernelTLS.Availability?

    /// Loads the MIME table, opens the root and the access log, binds the listeners. Nothing is served until
    /// `start()`. `logWriter`: the thread that writes the logs (the CLI shares it with its `ServerLogHandler`);
    /// nil: one of the server's own.
    public init(
        configuration: ServerConfiguration, logger: Logger = Logger(label: "swerve"), logWriter: LogWriter? = nil
    ) throws(ServerError) {
        self.configuration = configuration
        self.logger = logger
        let mime: MIMETable
        do {
            if let path = configuration.mimeTypesPath {
                mime = try MIMETable(path: path)
            } else {
                mime = try MIMETable.bundled()
            }
        } catch {
            throw ServerError("cannot load MIME types: \(error)")
        }
        let documentRoot: DocumentRoot
        do {
            documentRoot = try DocumentRoot(
                path: configuration.root, followSymlinks: configuration.followSymlinks,
                now: Int64(monotonicNanoseconds() / 1_000_000), report: Server.rootReporter(logger))
        } catch {
            throw ServerError("\(error)")
        }
        guard let address = ListenAddress(configuration.host) else {
            throw ServerError("invalid --host '\(configuration.host)': expected a numeric IPv4 or IPv6 address", usage: true)
        }
        guard configuration.workers >= 1 else { throw ServerError("--workers must be at least 1", usage: true) }
        guard configuration.maxConnections >= 1 else { throw ServerError("--max-connections must be at least 1", usage: true) }
        for (name, value) in [("--header-timeout", configuration.headerTimeout), ("--keepalive-timeout", configuration.keepAliveTimeout)]
        where !(value > 0 && value.isFinite) {
            throw ServerError("\(name) must be a positive number of seconds", usage: true)
        }
        guard (1...9).contains(configuration.gzipLevel) else { throw ServerError("--gzip-level must be 1…9", usage: true) }
        guard (0...11).contains(configuration.brotliLevel) else { throw ServerError("--brotli-level must be 0…11", usage: true) }
        guard (1...19).contains(configuration.zstdLevel) else { throw ServerError("--zstd-level must be 1…19", usage: true) }
        guard configuration.gzipMinSize >= 0 else { throw ServerError("--gzip-min-size must not be negative", usage: true) }
        guard configuration.cacheSize >= 0 else { throw ServerError("--cache-size must not be negative", usage: true) }
        if let entryMax = configuration.cacheEntryMax, entryMax < 0 || entryMax > configuration.cacheSize {
            throw ServerError("--cache-entry-max must be between 0 and --cache-size", usage: true)
        }
        var rules: [(glob: String, value: String)] = []
        for text in configuration.cacheRules {
            do {
                rules.append(try CacheControlPolicy.parseRule(text))
            } catch {
                throw ServerError("invalid --cache-rule '\(text)': \(error)", usage: true)
            }
        }
        let cacheControl: CacheControlPolicy
        do {
            cacheControl = try CacheControlPolicy(
                default: configuration.cacheControl, rules: rules, immutableFingerprinted: configuration.immutableFingerprinted)
        } catch {
            throw ServerError("invalid --cache-control: \(error)", usage: true)
        }
        let headerRules: HeaderRules
        do {
            headerRules = try HeaderRules(configuration.headerRules)
        } catch {
            throw ServerError("invalid --header: \(error)", usage: true)
        }
        var cors: CORSPolicy?
        if let text = configuration.cors {
            do {
                cors = try CORSPolicy(text)
            } catch {
                throw ServerError("\(error)", usage: true)
            }
        }
        let pages: SitePages
        do {
            pages = try SitePages(fallback: configuration.fallback, errorPages: configuration.errorPages)
        } catch {
            throw ServerError("\(error)", usage: true)
        }
        let health = try configuration.health.map { path throws(ServerError) in try HealthCheck(path: path) }
        self.health = health
        if let delay = configuration.drainDelay, !(delay >= 0 && delay.isFinite) {
            throw ServerError("--drain-delay must be a number of seconds, 0 or more", usage: true)
        }
        guard configuration.accessLogFlushInterval > 0 && configuration.accessLogFlushInterval.isFinite else {
            throw ServerError("the access log's flush interval must be a positive number of seconds", usage: true)
        }
        var metricsAddress: (address: ListenAddress, port: UInt16, hostText: String)?
        if let text = configuration.metrics {
            guard let parsed = Server.parseListenAddress(text) else {
                throw ServerError("invalid --metrics '\(text)': expected ADDR:PORT, such as 127.0.0.1:9100, [::1]:9100 or :9100", usage: true)
            }
            metricsAddress = parsed
        }
        metricsHostText = metricsAddress?.hostText
        let tls: TLSCertificateStore?
        switch (configuration.tlsCertificate, configuration.tlsKey) {
        case (nil, nil):
            tls = nil
        case (let certificate?, let key?):
            do {
                // ALPN: `h2` first (RFC 7301 §3.2: the server's preference), `http/1.1` for clients without it.
                tls = try TLSCertificateStore(certificateChainFile: certificate, privateKeyFile: key, protocols: [.http2, .http11])
            } catch {
                throw ServerError(error.description)
            }
        case (nil, _?):
            throw ServerError("--tls-key needs --tls-cert (the certificate chain it belongs to)", usage: true)
        case (_?, nil):
            throw ServerError("--tls-cert needs --tls-key (the certificate's private key)", usage: true)
        }
        self.tls = tls
        kernelTLS = tls == nil ? nil : KernelTLS.availability
        var redirectAddress: (address: ListenAddress, port: UInt16, hostText: String)?
        if let text = configuration.redirectHTTP {
            guard tls != nil else {
                throw ServerError("--redirect-http needs --tls-cert and --tls-key (it redirects to the HTTPS port)", usage: true)
            }
            guard let parsed = Server.parseListenAddress(text) else {
                throw ServerError("invalid --redirect-http '\(text)': expected ADDR:PORT, such as 0.0.0.0:80, [::]:80 or :80", usage: true)
            }
            redirectAddress = parsed
        }
        redirectHostText = redirectAddress?.hostText
        let logWriter = logWriter ?? LogWriter()
        self.logWriter = logWriter
        var accessLog: AccessLogSink?
        if configuration.accessLog != .off {
            var path: String?
            if case .file(let file) = configuration.accessLog { path = file }
            accessLog = try AccessLogSink(path: path, format: configuration.accessLogFormat, writer: logWriter, logger: logger)
        }
        self.accessLog = accessLog
        let startupResolver = PathResolver(
            root: documentRoot.current(at: Int64(monotonicNanoseconds() / 1_000_000)), showHidden: false,
            followSymlinks: configuration.followSymlinks)
        for (option, path) in pages.requiredFiles {
            guard startupResolver.isRegularFile(path) else {
                throw ServerError("\(option): no such file in the root '\(configuration.root)'", usage: true)
            }
        }
        Server.raiseFileLimit()
        let workers = WorkerPool(threads: configuration.compressionWorkers)
        self.workers = workers
        let cache = BodyCache(capacityBytes: configuration.cacheSize, maxEntryBytes: configuration.cacheEntryMax)
        let recompressor = configuration.recompress && cache.isEnabled ? WorkerPool(threads: 1, idlePriority: true) : nil
        if recompressor != nil {
            // zopfli's working memory (~30 bytes per input byte, in blocks of hundreds of KiB) is freed after each
            // job, but glibc raises its mmap threshold each time such a block is freed, so later ones came from a
            // thread arena that stayed resident for good. VmRSS after serving the benchmark's site once: 10,596 kB,
            // against 8,724 kB with recompression off. A fixed threshold (glibc's initial 128 KiB) keeps large blocks in
            // mmap, returned on free (9,404 kB); with `malloc_trim` after each job (CompressionService) 8,940 kB.
            // Nothing on the request path allocates blocks that large.
            mallopt(M_MMAP_THRESHOLD, 128 << 10)
        }
        self.recompressor = recompressor
        let compression = CompressionService(
            cache: cache,
            levels: CompressionLevels(gzip: configuration.gzipLevel, brotli: configuration.brotliLevel, zstd: configuration.zstdLevel),
            pool: workers, recompressor: recompressor)
        self.compression = compression
        let site = Site(
            documentRoot: documentRoot, showHidden: configuration.showHidden,
            followSymlinks: configuration.followSymlinks, mime: mime, compression: compression,
            contentHashes: ContentHashes(pool: workers),
            cacheControl: cacheControl, gzipMinSize: configuration.gzipMinSize, encodings: configuration.encodings, serverTiming: configuration.serverTiming,
            contentETags: configuration.contentETags, headerRules: headerRules, cors: cors, nosniff: configuration.nosniff,
            pages: pages, listDirectories: configuration.listDirectories, workers: workers,
            observeResponses: accessLog != nil || metricsAddress != nil, health: health)
        let engineConfiguration = EngineConfiguration(
            host: address, port: configuration.port, workers: configuration.workers,
            maxConnections: configuration.maxConnections, headerTimeout: configuration.headerTimeout,
            keepAliveTimeout: configuration.keepAliveTimeout, sendTimeout: configuration.sendTimeout,
            suspendTimeout: configuration.suspendTimeout,
            shutdownGrace: configuration.shutdownGrace, tls: tls, handshakeTimeout: configuration.handshakeTimeout,
            plaintextReply: Server.plainHTTPOnTLSPort)
        /// A listener that could not be bound: the threads started so far stop, and the error names what failed.
        func listenFailure(_ error: SystemError, _ what: String, _ host: ListenAddress, _ port: UInt16) -> ServerError {
            workers.shutdown()
            recompressor?.abandon()
            logWriter.finish()
            if error.errno == EADDRINUSE { return ServerError("\(what)port \(port) on \(host) is already in use") }
            return ServerError("\(what)cannot listen on \(host):\(port): \(error)")
        }
        var handlers: [HTTPHandler] = []
        let flushMilliseconds = Int64(configuration.accessLogFlushInterval * 1000)
        do {
            engine = try Engine(configuration: engineConfiguration) { _ in
                let observer = site.observeResponses
                    ? ResponseObserver(log: accessLog.map { AccessLogBuffer(sink: $0, flushIntervalMilliseconds: flushMilliseconds) })
                    : nil
                let handler = HTTPHandler(site: site, observer: observer)
                handlers.append(handler)
                return handler
            }
        } catch {
            throw listenFailure(error, "", address, configuration.port)
        }
        let accessLogBuffers = handlers.compactMap { $0.observer?.log }
        self.accessLogBuffers = accessLogBuffers
        if let (metricsHost, metricsPort, _) = metricsAddress {
            let loops = handlers.compactMap { $0.observer?.metrics }
            let buffers = accessLogBuffers
            let engine = self.engine
            let page: @Sendable () -> [UInt8] = {
                let cache = compression.cache.statistics
                return MetricsPage.render(MetricsPage.Snapshot(
                    loops: loops, connectionsOpen: engine.connectionsOpen, connectionsAccepted: engine.connectionsAccepted,
                    cache: cache, compressions: compression.compressions,
                    accessLogDropped: buffers.reduce(0) { $0 + $1.dropped.load(ordering: .relaxed) },
                    tlsHandshakes: tls == nil ? nil : (engine.tlsHandshakes, engine.kernelTLSHandshakes, engine.tlsHandshakeFailures)))
            }
            do {
                metricsEngine = try Engine(configuration: EngineConfiguration(
                    host: metricsHost, port: metricsPort, workers: 1, maxConnections: 64, headerTimeout: 10,
                    keepAliveTimeout: configuration.keepAliveTimeout, shutdownGrace: 1)) { _ in MetricsHandler(render: page) }
            } catch {
                throw listenFailure(error, "--metrics: ", metricsHost, metricsPort)
            }
        } else {
            metricsEngine = nil
        }
        if let (redirectHost, redirectPort, _) = redirectAddress {
            let httpsPort = engine.port
            let nosniff = configuration.nosniff
            do {
                redirectEngine = try Engine(configuration: EngineConfiguration(
                    host: redirectHost, port: redirectPort, workers: 1, maxConnections: configuration.maxConnections,
                    headerTimeout: configuration.headerTimeout, keepAliveTimeout: configuration.keepAliveTimeout,
                    shutdownGrace: configuration.shutdownGrace)) { _ in
                    RedirectHandler(httpsPort: httpsPort, health: health, nosniff: nosniff)
                }
            } catch {
                throw listenFailure(error, "--redirect-http: ", redirectHost, redirectPort)
            }
        } else {
            redirectEngine = nil
        }
    }

    /// The answer to a plain HTTP request sent to the HTTPS port, before the connection closes: a 400 that says why
    /// (RFC 9110 §15.5.1: the server "cannot or will not process the request due to something that is perceived to
    /// be a client error"), as nginx does. Its own bytes, not the handler's: the connection never got as far as HTTP.
    @Sendable static func plainHTTPOnTLSPort(_ now: Int) -> [UInt8] {
        let body = "This port speaks HTTPS: use an https:// URL.\n"
        return Array(("HTTP/1.1 400 Bad Request\r\nServer: swerve\r\nDate: \(HTTPDate.string(now))\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
            + body).utf8)
    }

    /// `ADDR:PORT`, `[V6]:PORT` or `:PORT` (every IPv4 interface). `hostText`: the address as a URL writes it.
    static func parseListenAddress(_ text: String) -> (address: ListenAddress, port: UInt16, hostText: String)? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var hostText = String(text[..<colon])
        if hostText.isEmpty { hostText = "0.0.0.0" }
        let host = hostText.hasPrefix("[") && hostText.hasSuffix("]") ? String(hostText.dropFirst().dropLast()) : hostText
        guard let address = ListenAddress(host) else { return nil }
        return (address, port, hostText)
    }

    /// The `--metrics` listener's port (the kernel's choice for port 0), nil without one.
    public var metricsPort: UInt16? { metricsEngine?.port }

    /// The `--redirect-http` listener's port (the kernel's choice for port 0), nil without one.
    public var redirectPort: UInt16? { redirectEngine?.port }

    /// How long the health check fails before the listener closes, after SIGTERM (`ServerConfiguration.drainDelay`).
    public var drainDelay: Double { configuration.drainDelay ?? (health == nil ? 0 : 5) }

    /// The startup line's facts: the address, the workers, the cache and where the access log goes.
    public var startupMetadata: Logger.Metadata {
        var fields: Logger.Metadata = [
            "root": "\(configuration.root)", "url": "\(url)", "workers": "\(configuration.workers)",
            "cache": "\(configuration.cacheSize / (1024 * 1024)) MiB",
            "access_log": "\(accessLog?.description ?? "off")",
        ]
        if let port = metricsPort, let host = metricsHostText { fields["metrics"] = "http://\(host):\(port)/metrics" }
        if let health = configuration.health { fields["health"] = "\(health)" }
        if let port = redirectPort, let host = redirectHostText { fields["redirect"] = "http://\(host):\(port)/ to https" }
        if tls != nil {
            switch kernelTLS {
            case .available: fields["tls"] = "TLSv1.2-1.3 h2 http/1.1, kernel TLS (SSL_sendfile)"
            case .unavailable(let reason): fields["tls"] = "TLSv1.2-1.3 h2 http/1.1, no kernel TLS: \(reason)"
            case nil: break
            }
        }
        return fields
    }

    /// Shutdown begins: the health check answers 503 from now on, while everything else is still served (the drain
    /// delay), so load balancers stop sending traffic before `stop()` closes the listener.
    public func beginDraining() {
        health?.draining.store(true, ordering: .relaxed)
    }

    /// logrotate's SIGUSR1: the access log file is opened afresh (`AccessLogSink.reopen`). `done` runs on the writer
    /// thread once lines written from then on go to the new file.
    public func reopenLogs(done: (@Sendable () -> Void)? = nil) {
        guard let accessLog else {
            done?()
            return
        }
        accessLog.reopen(done: done)
    }

    /// SIGHUP: reads `--tls-cert` and `--tls-key` again. New connections get the new pair and open ones keep theirs;
    /// a pair that does not load is one error line, and the current pair stays. Without TLS, a notice that there is
    /// nothing to reload.
    public func reloadTLS() {
        guard let tls else {
            logger.notice("SIGHUP: nothing to reload (no --tls-cert)")
            return
        }
        do {
            try tls.reload()
            logger.notice("TLS certificate reloaded", metadata: ["cert": "\(tls.certificateChainFile)", "key": "\(tls.privateKeyFile)"])
        } catch {
            logger.error("TLS reload failed, still serving the previous certificate: \(error.description)")
        }
    }

    /// TLS handshakes completed, of which with kernel TLS (`SSL_sendfile` for file bodies), and failed, since start.
    public var tlsHandshakes: (completed: Int, kernelTLS: Int, failed: Int) {
        (engine.tlsHandshakes, engine.kernelTLSHandshakes, engine.tlsHandshakeFailures)
    }

    /// The bound port (the kernel's choice when configured with port 0).
    public var port: UInt16 { engine.port }

    /// The URL a browser should open.
    public var url: String {
        let host: String
        switch configuration.host {
        case "0.0.0.0": host = "127.0.0.1"
        case "::", "[::]": host = "[::1]"
        default: host = configuration.host.contains(":") && !configuration.host.hasPrefix("[") ? "[\(configuration.host)]" : configuration.host
        }
        return "\(tls == nil ? "http" : "https")://\(host):\(port)/"
    }

    public func start() throws(ServerError) {
        signal(SIGPIPE, SIG_IGN)
        do {
            try engine.start()
            try metricsEngine?.start()
            try redirectEngine?.start()
        } catch {
            throw ServerError("cannot start event loops: \(error)")
        }
    }

    /// Graceful stop: no new connections, in-flight responses finish within the grace period. Blocks until done.
    public func stop() {
        beginDraining()
        engine.stop()
        metricsEngine?.stop()
        redirectEngine?.stop()
        // The loops are gone (joined): their last lines are handed over from this thread.
        for buffer in accessLogBuffers { buffer.submit() }
        workers.shutdown()
        // A recompression can take seconds and only ever makes the cache smaller: not worth delaying the exit for.
        recompressor?.abandon()
        let stats = statistics
        logger.info("stopped", metadata: [
            "cache.hits": "\(stats.cache.hits)", "cache.misses": "\(stats.cache.misses)",
            "cache.evictions": "\(stats.cache.evictions)", "cache.entries": "\(stats.cache.entries)",
            "cache.bytesHeld": "\(stats.cache.bytesHeld)", "cache.bytesSaved": "\(stats.cache.bytesSaved)",
            "compressions": "\(stats.compressions)", "recompressions": "\(stats.recompressions)",
        ])
        logWriter.finish()
    }

    /// Cache and compression counters (for tests, logs and the benchmark).
    public struct Statistics: Sendable {
        public var cache: BodyCacheStatistics
        /// Whole-file compressions run (single flight: concurrent first requests share one).
        public var compressions: Int
        public var compressionInputBytes: Int
        public var compressionNanoseconds: Int
        /// Cached bodies replaced by a smaller recompressed body.
        public var recompressions: Int
    }

    public var statistics: Statistics {
        Statistics(
            cache: compression?.cache.statistics ?? BodyCache(capacityBytes: 0).statistics,
            compressions: compression?.compressions ?? 0,
            compressionInputBytes: compression?.compressionInputBytes ?? 0,
            compressionNanoseconds: compression?.compressionTimeNanoseconds ?? 0,
            recompressions: compression?.recompressions ?? 0)
    }

    /// How root re-resolution is logged: once per swap, once when the path stops resolving and once when it resolves
    /// again.
    static func rootReporter(_ logger: Logger) -> @Sendable (DocumentRoot.Event) -> Void {
        { event in
            switch event {
            case .swapped(let from, let to):
                logger.notice("root moved: serving the new directory", metadata: [
                    "root": "\(to.path)", "from": "\(from.resolvedPath)", "to": "\(to.resolvedPath)",
                ])
            case .unavailable(let error):
                logger.warning("root unavailable: still serving the previous directory", metadata: ["error": "\(error)"])
            case .restored:
                logger.notice("root available again")
            }
        }
    }

    /// The fd table (and C10K) needs the soft descriptor limit raised to the hard one.
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

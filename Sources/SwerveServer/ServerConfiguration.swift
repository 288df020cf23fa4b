import SwerveEngine
import SwerveHTTP

/// Where the access log goes (`--access-log PATH|-|off`).
public enum AccessLogDestination: Sendable, Equatable {
    case off
    case standardOutput
    /// Appended to; reopened on SIGUSR1 (logrotate).
    case file(String)
}

/// Everything a user can set, with every default in one place. Immutable once the server starts.
public struct ServerConfiguration: Sendable {
    /// The document root. Nothing outside it is ever opened.
    public var root: String = "html"
    public var host: String = "0.0.0.0"
    public var port: UInt16 = 8080
    public var workers: Int = EngineConfiguration.processorCount
    /// nil: the `mime.types` compiled into the binary (the repository's copy).
    public var mimeTypesPath: String?
    public var maxConnections: Int = 16384
    public var headerTimeout: Double = 10
    public var keepAliveTimeout: Double = 15
    public var sendTimeout: Double = 60
    /// The longest a request waits for work off the loop (compression, content hash); then it is answered without
    /// it (see `EngineConfiguration.suspendTimeout`).
    public var suspendTimeout: Double = 5
    public var shutdownGrace: Double = 10
    /// Serve names starting with `.` (otherwise 404).
    public var showHidden = false
    /// Follow symbolic links – still never to a target outside the root.
    public var followSymlinks = false
    /// zlib level for gzip responses: 1 (fastest) … 9 (smallest).
    public var gzipLevel: Int32 = 6
    /// brotli quality of the first pass: 0 (fastest) … 11 (smallest). 5 compresses the benchmark's 100 KB
    /// JavaScript smaller than gzip -9 in about what gzip -6 takes (docs/PERFORMANCE.md "Bytes per coding").
    public var brotliLevel: Int32 = 5
    /// zstd level of the first pass: 1 (fastest) … 19 (smallest); 3 is zstd's own default.
    public var zstdLevel: Int32 = 3
    /// `--encodings`: the compressions offered and, among those a client weighs equally, their order.
    public var encodings = EncodingPreference.standard
    /// Smaller files are never compressed: below ~256 bytes gzip's 18-byte framing and lost sendfile path cost
    /// more than they save.
    public var gzipMinSize = 256
    /// Bytes of compressed bodies kept in memory; 0 disables the cache (compressible files then stream).
    public var cacheSize = 64 * 1024 * 1024
    /// Largest single cached body; nil: an eighth of `cacheSize`.
    public var cacheEntryMax: Int?
    /// Recompress cached bodies on an idle-priority thread at each coding's smallest setting (zopfli for gzip,
    /// brotli 11, zstd 19: fewer bytes per response, once per file version; see `CompressionService`).
    public var recompress = true
    /// `Server-Timing: cache;desc="hit"` and friends on compressed responses.
    public var serverTiming = true
    /// Cache-Control for every file unless a rule matches; nil: `no-cache` (see `CacheControlPolicy`).
    public var cacheControl: String?
    /// `GLOB=VALUE` rules, first match wins (`'*.woff2=public, max-age=31536000, immutable'`).
    public var cacheRules: [String] = []
    /// `public, max-age=31536000, immutable` for names carrying a content hash (`app.3f9a2c1b.js`).
    public var immutableFingerprinted = false
    /// ETags from content hashes (SHA-256) instead of inode/size/mtime, so replicas agree.
    public var contentETags = false
    /// `GLOB=Name: value` rules (`HeaderRules`): fields added to the 2xx and 304 responses of matching paths.
    public var headerRules: [String] = []
    /// `X-Content-Type-Options: nosniff` on every response: the MIME table is authoritative.
    public var nosniff = true
    /// `*` or a comma list of origins allowed to read responses cross-origin (`CORSPolicy`); nil: no CORS.
    public var cors: String?
    /// A file inside the root served (200) for GET/HEAD of a missing name from a client asking for `text/html`: a
    /// single-page app's routes. nil: none.
    public var fallback: String?
    /// `CODE=FILE` error pages (`SitePages`); an empty FILE turns the page for CODE off (`404=`: no default 404.html).
    public var errorPages: [String] = []
    /// List a directory that has no index.html (HTML, or JSON when asked for).
    public var listDirectories = false
    /// Threads that compress off the event loops.
    public var compressionWorkers = max(1, EngineConfiguration.processorCount)
    /// One line per response (`AccessLogLine`), to standard output unless told otherwise.
    public var accessLog = AccessLogDestination.standardOutput
    public var accessLogFormat = AccessLogFormat.combined
    /// Longest a line waits in its loop's batch before the batch is written (the "at least every second").
    public var accessLogFlushInterval: Double = 1
    /// `ADDR:PORT` of the Prometheus listener (`/metrics`); nil: none.
    public var metrics: String?
    /// The health-check path (`/healthz`); nil: none.
    public var health: String?
    /// After SIGTERM, how long the health check answers 503 while everything else is still served, before the
    /// listener closes; nil: 5 s with `--health` (two probe intervals of a typical load balancer), 0 without.
    public var drainDelay: Double?
    /// HTTPS: the certificate chain (PEM, leaf first) and its private key (PEM). Both or neither; `SIGHUP` reads
    /// them again (`Server.reloadTLS`).
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// `ADDR:PORT` of a plain-HTTP listener that answers every request with a 308 to the https URL
    /// (`RedirectHandler`); needs `tlsCertificate`. nil: none.
    public var redirectHTTP: String?
    /// A TLS handshake must complete within this many seconds of the connection (`EngineConfiguration`).
    public var handshakeTimeout: Double = 10

    public init() {}
}

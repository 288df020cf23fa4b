import SwerveTLS

/// Engine settings. Immutable once the engine starts; every default lives here.
public struct EngineConfiguration: Sendable {
    public var host: ListenAddress
    public var port: UInt16
    /// Event loops, one thread each.
    public var workers: Int
    /// Open client connections across all loops; beyond it, accepting pauses until one closes.
    public var maxConnections: Int
    /// A request's header must arrive whole within this many seconds of its first byte (and a new connection must
    /// send one within it): the slowloris bound.
    public var headerTimeout: Double
    /// An idle keep-alive connection is closed after this many seconds.
    public var keepAliveTimeout: Double
    /// A connection whose pending output makes no progress for this long is closed.
    public var sendTimeout: Double
    /// The longest a request waits for work off the loop (a compression, a content hash, a stream piece), counted
    /// once from its first suspend, however often it is resumed and suspends again. When it passes, the handler is
    /// run with `ProcessContext.waitExpired` and must answer without waiting (HTTP: the bytes as they are, without
    /// the compressed body or the content hash it waited for); a handler that suspends again is closed. 5 s: far
    /// above a compression of the largest cached body (8 MiB at level 6 is ~60 ms here), far below a client's
    /// patience.
    public var suspendTimeout: Double
    /// After an error response with a half-close, input is drained and discarded for at most this long.
    public var lingerTimeout: Double
    /// On shutdown, in-flight responses get this long to finish.
    public var shutdownGrace: Double
    /// Per-connection input buffer. Must exceed the handler's largest request head (HTTP: 8 KiB target + 16 KiB
    /// of fields), or a legal request could never complete.
    public var inputBufferSize: Int
    /// Per-connection output buffer for headers and small inline bodies.
    public var outputBufferSize: Int
    /// Queued segments per connection (a header and a file each take one): bounds pipelined file responses.
    public var outputSegments: Int
    /// `TCP_NOTSENT_LOWAT` for client sockets: the kernel holds at most this many not-yet-transmitted bytes per
    /// connection, and reports it writable only below that. 0 (the default) leaves the kernel's default, no limit,
    /// as nginx, h2o and lighttpd do. A limit makes the server refill each socket in small steps: 128 KiB cost
    /// ~1.4x the server's CPU per 10 MiB response on loopback (1,161–1,213 µs against 805–856 µs with none, both
    /// with 256 KiB file turns; 8–27 `sendfile` calls and as many wake-ups per response), to save the *receiving*
    /// client ~30% of its CPU: client CPU bought with server CPU, which real, remote clients never repay
    /// (docs/PERFORMANCE.md).
    public var unsentLowWatermark: Int
    /// `TCP_DEFER_ACCEPT` on the listeners, in seconds: the kernel hands a connection to `accept4` only once its
    /// first bytes have arrived (a request, a TLS ClientHello, an HTTP/2 preface), so accepting, registering and
    /// reading a new connection happen in one wake-up with the data already there, and a client that connects and
    /// sends nothing costs no slot. After this many seconds without data the kernel retransmits its SYN-ACK and
    /// accepts the connection on the client's ACK of it, so a silent client still reaches the header timeout. 1 s,
    /// as h2o sets by default and nginx's `listen … deferred` does. `Connection: close` at 35% of a core, 8 rotated
    /// 3 s rounds: x1.156 req/s (docs/PERFORMANCE.md). 0: off.
    public var deferAcceptSeconds: Int
    /// TLS on every connection of these listeners, with the store's current certificate (read once per accept, so a
    /// reload reaches new connections only). nil: plain TCP.
    public var tls: TLSCertificateStore?
    /// A TLS handshake must complete within this many seconds of the accept (then the header timeout starts):
    /// a client that opens connections and never finishes its handshake holds a slot and an `SSL` for at most this
    /// long. 10 s, as nginx's `ssl_handshake_timeout` default (60 s) is far above what a real client needs.
    public var handshakeTimeout: Double
    /// The bytes sent, unencrypted, to a client that spoke plain HTTP to a TLS listener (OpenSSL recognises the
    /// request's first bytes), before the connection closes, given the wall clock's seconds: the protocol layer's
    /// answer, such as a 400 that says to use https (nginx's "The plain HTTP request was sent to HTTPS port").
    /// nil: just close.
    public var plaintextReply: (@Sendable (_ wallClockSeconds: Int) -> [UInt8])?

    public init(
        host: ListenAddress = ListenAddress("0.0.0.0")!,
        port: UInt16 = 8080,
        workers: Int = EngineConfiguration.processorCount,
        maxConnections: Int = 16384,
        headerTimeout: Double = 10,
        keepAliveTimeout: Double = 15,
        sendTimeout: Double = 60,
        suspendTimeout: Double = 5,
        lingerTimeout: Double = 2,
        shutdownGrace: Double = 10,
        inputBufferSize: Int = 32 * 1024,
        outputBufferSize: Int = 32 * 1024,
        outputSegments: Int = 64,
        unsentLowWatermark: Int = 0,
        deferAcceptSeconds: Int = 1,
        tls: TLSCertificateStore? = nil,
        handshakeTimeout: Double = 10,
        plaintextReply: (@Sendable (_ wallClockSeconds: Int) -> [UInt8])? = nil
    ) {
        self.host = host
        self.port = port
        self.workers = workers
        self.maxConnections = maxConnections
        self.headerTimeout = headerTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.sendTimeout = sendTimeout
        self.suspendTimeout = suspendTimeout
        self.lingerTimeout = lingerTimeout
        self.shutdownGrace = shutdownGrace
        self.inputBufferSize = inputBufferSize
        self.outputBufferSize = outputBufferSize
        self.outputSegments = outputSegments
        self.unsentLowWatermark = unsentLowWatermark
        self.deferAcceptSeconds = deferAcceptSeconds
        self.tls = tls
        self.handshakeTimeout = handshakeTimeout
        self.plaintextReply = plaintextReply
    }

    /// Online CPUs (sysconf), at least 1.
    public static var processorCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

import Glibc

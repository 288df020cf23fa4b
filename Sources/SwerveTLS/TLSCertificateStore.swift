import Synchronization

/// The TLS context new connections are made with, and its reload (`SIGHUP`, issue 17): a reload reads the
/// certificate and key files again into a new context and swaps it in; connections already open keep the context they
/// were made with (each `SSL` holds its own reference to its `SSL_CTX`), so none is dropped. A pair that does not
/// load leaves the current context in place, and the caller logs the one line of the error.
///
/// Cost: `current` is one uncontended lock and one retain per new TLS connection.
public final class TLSCertificateStore: Sendable {
    public let certificateChainFile: String
    public let privateKeyFile: String
    public let protocols: [ALPN.ApplicationProtocol]
    private let context: Mutex<TLSContext>

    /// Loads the pair once; a server that cannot load it at start does not start (the error says why).
    public init(
        certificateChainFile: String, privateKeyFile: String, protocols: [ALPN.ApplicationProtocol] = [.http2, .http11]
    ) throws(TLSConfigurationError) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.protocols = protocols
        context = Mutex(try TLSContext(
            certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile, protocols: protocols))
    }

    /// The context for a connection accepted now.
    public var current: TLSContext { context.withLock { $0 } }

    /// Reads the files again. On success new connections get the new pair; on failure nothing changes and the
    /// error is thrown. Loading happens outside the lock: a slow disk never holds up an accept.
    public func reload() throws(TLSConfigurationError) {
        let fresh = try TLSContext(
            certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile, protocols: protocols)
        context.withLock { $0 = fresh }
    }
}

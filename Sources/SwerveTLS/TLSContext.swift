import COpenSSL
import Glibc

/// What a TLS configuration could not load: one line a user can act on, naming the file and the reason.
public struct TLSConfigurationError: Error, Equatable, CustomStringConvertible {
    public let description: String
}

/// A server-side OpenSSL context (`SSL_CTX`) built from a certificate chain and its private key, both PEM: the
/// settings every Swerve TLS connection shares. Immutable once made; a reload builds a new one (new connections take
/// it, open ones keep theirs: each `SSL` holds a reference to its context).
///
/// - TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1).
/// - Cipher suites in Mozilla's "intermediate" order, the server's order deciding: AES-128-GCM first, then
///   AES-256-GCM, then ChaCha20-Poly1305 (TLS 1.2: ECDHE only, for forward secrecy; all AEAD). A client that lists
///   ChaCha20 first (one without AES instructions, which is why it does) gets ChaCha20 (`SSL_OP_PRIORITIZE_CHACHA`).
///   OpenSSL's own TLS 1.3 order starts with AES-256-GCM: 14 AES rounds per block against AES-128's 10, where
///   Mozilla's guidelines rate the two alike and Chrome and Firefox list AES-128-GCM first.
/// - No TLS compression, no renegotiation, kernel TLS requested (`SSL_OP_ENABLE_KTLS`).
/// - Resumption with session tickets sealed by `TLSTicketKeys.shared` (rotated hourly), no server-side cache.
/// - ALPN: `h2` and `http/1.1` in the order given (RFC 7301); a client that offers only others is refused with
///   the `no_application_protocol` alert, as §3.2 requires.
///
/// `@unchecked Sendable`: the `SSL_CTX` is configured completely in `init` and only read afterwards (OpenSSL's
/// contexts are safe to share between threads for making connections); it is freed in `deinit`.
public final class TLSContext: @unchecked Sendable {
    /// The `SSL_CTX *`.
    public let context: OpaquePointer
    public let protocols: [ALPN.ApplicationProtocol]

    /// Mozilla's "intermediate" TLS 1.2 list, ECDSA and RSA certificates alike.
    static let tls12Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    /// Mozilla's "intermediate" TLS 1.3 list, in its order.
    static let tls13Ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    public init(
        certificateChainFile: String, privateKeyFile: String,
        protocols: [ALPN.ApplicationProtocol] = [.http2, .http11]
    ) throws(TLSConfigurationError) {
        // A missing or unreadable file is the common mistake: say so in the system's words, before OpenSSL's.
        for (what, path) in [("certificate", certificateChainFile), ("private key", privateKeyFile)] {
            if access(path, R_OK) != 0 {
                throw TLSConfigurationError(description: "cannot read the TLS \(what) \(path): \(String(cString: strerror(errno)))")
            }
        }
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSConfigurationError(description: "cannot create a TLS context: \(Self.openSSLError())")
        }
        self.context = context
        self.protocols = protocols
        guard swerve_ssl_ctx_set_protocol_range(context, swerve_tls1_2_version, swerve_tls1_3_version) != 0,
              SSL_CTX_set_cipher_list(context, Self.tls12Ciphers) == 1,
              SSL_CTX_set_ciphersuites(context, Self.tls13Ciphersuites) == 1 else {
            throw TLSConfigurationError(description: "cannot configure TLS 1.2–1.3: \(Self.openSSLError())")
        }
        _ = SSL_CTX_set_options(context, swerve_ssl_server_options)
        // Resumption by session tickets sealed with the process's rotating keys (TLSTicketKeys), none cached here.
        swerve_ssl_ctx_session_cache_off(context)
        _ = SSL_CTX_set_timeout(context, Int(TLSTicketKeys.defaultRotationSeconds))
        guard SSL_CTX_set_tlsext_ticket_key_evp_cb(context, TLSTicketKeys.callback) == 1 else {
            throw TLSConfigurationError(description: "cannot set up TLS session tickets: \(Self.openSSLError())")
        }
        guard SSL_CTX_use_certificate_chain_file(context, certificateChainFile) == 1 else {
            throw TLSConfigurationError(
                description: "the TLS certificate \(certificateChainFile) is not a PEM certificate chain: \(Self.openSSLError())")
        }
        let mismatch = TLSConfigurationError(
            description: "the TLS private key \(privateKeyFile) does not match the certificate \(certificateChainFile)")
        // OpenSSL checks the key against the certificate as it loads it.
        let keyLoaded = SSL_CTX_use_PrivateKey_file(context, privateKeyFile, SSL_FILETYPE_PEM) == 1
        if !keyLoaded && ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH {
            ERR_clear_error()
            throw mismatch
        }
        guard keyLoaded else {
            throw TLSConfigurationError(
                description: "the TLS private key \(privateKeyFile) is not a PEM private key: \(Self.openSSLError())")
        }
        guard SSL_CTX_check_private_key(context) == 1 else { throw mismatch }
        // The preference travels packed in the callback's argument, not as a pointer to this object: an `SSL` keeps
        // its `SSL_CTX` alive after this object is gone (ALPN.pack).
        SSL_CTX_set_alpn_select_cb(context, { _, out, outLength, offered, offeredLength, argument in
            guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_ALERT_FATAL }
            let preference = ALPN.unpack(UInt(bitPattern: argument))
            let list = UnsafeRawBufferPointer(start: offered, count: Int(offeredLength))
            guard let chosen = ALPN.select(offered: list, preference: preference) else {
                return SSL_TLSEXT_ERR_ALERT_FATAL
            }
            // OpenSSL keeps the pointer for the handshake: it points into the client's own list, which outlives it.
            out.pointee = offered + chosen.lowerBound
            outLength.pointee = UInt8(chosen.count)
            return SSL_TLSEXT_ERR_OK
        }, UnsafeMutableRawPointer(bitPattern: ALPN.pack(protocols)))
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// The oldest error on this thread's OpenSSL error queue, as OpenSSL words it, and the queue emptied.
    static func openSSLError() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "no reason given" }
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        let length = text.firstIndex(of: 0) ?? text.count
        return String(decoding: text[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

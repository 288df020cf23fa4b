import COpenSSL
import SwerveTestSupport
import Testing

@testable import SwerveTLS

/// Real handshakes against a `TLSContext`, in memory (a BIO pair between an OpenSSL client and the server): the
/// negotiated protocol version and ALPN protocol, and the handshakes the context must refuse.
@Suite("TLS handshake (in memory)")
struct TLSHandshakeTests {
    struct Outcome {
        var completed: Bool
        var version: Int32
        var alpn: String?
        /// The cipher suite the server chose (OpenSSL's name for it).
        var cipher: String?
    }

    /// Runs a handshake of a client offering `alpn` (nil: no ALPN extension) with versions `minVersion...maxVersion`,
    /// and, when given, only the cipher suites `tls13Suites` / `tls12Ciphers` in that order of preference.
    func handshake(_ server: TLSContext, alpn: [String]?, minVersion: Int32 = swerve_tls1_2_version,
                   maxVersion: Int32 = swerve_tls1_3_version, tls13Suites: String? = nil,
                   tls12Ciphers: String? = nil) throws -> Outcome {
        let clientContext = try #require(SSL_CTX_new(TLS_client_method()))
        defer { SSL_CTX_free(clientContext) }
        // Old versions need security level 0 in OpenSSL 3's client: the server must be what refuses them.
        SSL_CTX_set_security_level(clientContext, 0)
        #expect(swerve_ssl_ctx_set_protocol_range(clientContext, minVersion, maxVersion) != 0)
        if let tls13Suites { #expect(SSL_CTX_set_ciphersuites(clientContext, tls13Suites) == 1) }
        if let tls12Ciphers { #expect(SSL_CTX_set_cipher_list(clientContext, tls12Ciphers) == 1) }
        let client = try #require(SSL_new(clientContext))
        let serverSide = try #require(SSL_new(server.context))
        defer { SSL_free(client); SSL_free(serverSide) }
        var clientBIO: OpaquePointer?
        var serverBIO: OpaquePointer?
        #expect(BIO_new_bio_pair(&clientBIO, 0, &serverBIO, 0) == 1)
        SSL_set_bio(client, clientBIO, clientBIO)
        SSL_set_bio(serverSide, serverBIO, serverBIO)
        if let alpn {
            let wire = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            #expect(SSL_set_alpn_protos(client, wire, UInt32(wire.count)) == 0)
        }
        SSL_set_connect_state(client)
        SSL_set_accept_state(serverSide)
        var clientDone = false
        var serverDone = false
        // Each step moves bytes one way; a TLS 1.3 handshake takes a few. Bounded: a stuck handshake fails.
        for _ in 0..<20 where !(clientDone && serverDone) {
            if !clientDone {
                let result = SSL_do_handshake(client)
                if result == 1 { clientDone = true } else if SSL_get_error(client, result) != SSL_ERROR_WANT_READ { break }
            }
            if !serverDone {
                let result = SSL_do_handshake(serverSide)
                if result == 1 { serverDone = true } else if SSL_get_error(serverSide, result) != SSL_ERROR_WANT_READ { break }
            }
        }
        ERR_clear_error()
        var selected: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(serverSide, &selected, &length)
        let protocolName = selected.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
        let cipher = SSL_get_current_cipher(serverSide).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) }
        return Outcome(completed: clientDone && serverDone, version: SSL_version(serverSide), alpn: protocolName,
                       cipher: cipher)
    }

    func context(_ files: TestCertificates, _ protocols: [ALPN.ApplicationProtocol] = [.http2, .http11]) throws -> TLSContext {
        try TLSContext(certificateChainFile: files.dir + "/cert.pem", privateKeyFile: files.dir + "/key.pem", protocols: protocols)
    }

    @Test("a current client gets TLS 1.3 and h2, whatever order it lists h2 and http/1.1 in (RFC 7301 §3.2)")
    func tls13WithH2() throws {
        let files = try TestCertificates()
        let server = try context(files)
        let outcome = try handshake(server, alpn: ["http/1.1", "h2"])
        #expect(outcome.completed)
        #expect(outcome.version == swerve_tls1_3_version)
        #expect(outcome.alpn == "h2")
    }

    @Test("cipher suites in Mozilla's order, the server's deciding: AES-128-GCM for a client that lists AES-256-GCM first (as OpenSSL's clients, wrk and curl do), ChaCha20 for one that lists it first, and a client's only suite when it is one of ours")
    func cipherOrder() throws {
        let files = try TestCertificates()
        let server = try context(files)
        let openSSLOrder = try handshake(server, alpn: ["h2"], tls13Suites: "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
        #expect(openSSLOrder.completed && openSSLOrder.cipher == "TLS_AES_128_GCM_SHA256")
        let chachaFirst = try handshake(server, alpn: ["h2"], tls13Suites: "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
        #expect(chachaFirst.completed && chachaFirst.cipher == "TLS_CHACHA20_POLY1305_SHA256")
        let only256 = try handshake(server, alpn: ["h2"], tls13Suites: "TLS_AES_256_GCM_SHA384")
        #expect(only256.completed && only256.cipher == "TLS_AES_256_GCM_SHA384")
        let tls12 = try handshake(server, alpn: ["h2"], maxVersion: swerve_tls1_2_version,
                                  tls12Ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
        #expect(tls12.completed && tls12.version == swerve_tls1_2_version)
        #expect(tls12.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256" || tls12.cipher == "ECDHE-RSA-AES128-GCM-SHA256")
    }

    @Test("a client offering only http/1.1 gets it; one without ALPN gets none (HTTP/1.1 by default)")
    func http11Fallback() throws {
        let files = try TestCertificates()
        let server = try context(files)
        let offered = try handshake(server, alpn: ["http/1.1"])
        #expect(offered.completed && offered.alpn == "http/1.1")
        let none = try handshake(server, alpn: nil)
        #expect(none.completed && none.alpn == nil)
    }

    @Test("RFC 7301 §3.2: a client offering only protocols Swerve does not speak is refused")
    func noCommonProtocol() throws {
        let files = try TestCertificates()
        let server = try context(files)
        #expect(try handshake(server, alpn: ["spdy/3", "h2c"]).completed == false)
        let onlyHTTP11 = try context(files, [.http11])
        let outcome = try handshake(onlyHTTP11, alpn: ["h2", "http/1.1"])
        #expect(outcome.completed && outcome.alpn == "http/1.1")
    }

    @Test("TLS 1.2 is accepted with an ECDHE-AEAD suite; TLS 1.0 and 1.1 are refused (RFC 8996)")
    func versions() throws {
        let files = try TestCertificates()
        let server = try context(files)
        let tls12 = try handshake(server, alpn: ["h2"], maxVersion: swerve_tls1_2_version)
        #expect(tls12.completed && tls12.version == swerve_tls1_2_version && tls12.alpn == "h2")
        let old = try handshake(server, alpn: ["http/1.1"], minVersion: Int32(TLS1_VERSION), maxVersion: Int32(TLS1_1_VERSION))
        #expect(old.completed == false)
    }
}

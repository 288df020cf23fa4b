import COpenSSL
import Foundation
import SwerveTestSupport
import Testing

@testable import SwerveTLS

/// Loading a certificate chain and key into a TLS context: what works, and the one clear line for each mistake.
/// The certificates are throwaway ones the test makes with the `openssl` command (never committed).
@Suite("TLS context")
struct TLSContextTests {
    func loadError(cert: String, key: String) -> String? {
        do {
            _ = try TLSContext(certificateChainFile: cert, privateKeyFile: key)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("a matching PEM pair loads; the context allows TLS 1.2 to 1.3 only and asks for kernel TLS")
    func loads() throws {
        let files = try TestCertificates()
        let tls = try TLSContext(certificateChainFile: files.dir + "/cert.pem", privateKeyFile: files.dir + "/key.pem")
        #expect(swerve_ssl_ctx_min_protocol(tls.context) == swerve_tls1_2_version)
        #expect(swerve_ssl_ctx_max_protocol(tls.context) == swerve_tls1_3_version)
        let options = SSL_CTX_get_options(tls.context)
        #expect(options & swerve_ssl_server_options == swerve_ssl_server_options)
        #expect(tls.protocols == [.http2, .http11])
    }

    @Test("a missing file is named with the system's reason")
    func missingFile() throws {
        let files = try TestCertificates()
        let message = loadError(cert: files.dir + "/nope.pem", key: files.dir + "/key.pem")
        #expect(message == "cannot read the TLS certificate \(files.dir)/nope.pem: No such file or directory")
        let keyMessage = loadError(cert: files.dir + "/cert.pem", key: files.dir + "/nokey.pem")
        #expect(keyMessage == "cannot read the TLS private key \(files.dir)/nokey.pem: No such file or directory")
    }

    @Test("a file that is not PEM, or a key where the certificate belongs, is refused with OpenSSL's reason")
    func notPEM() throws {
        let files = try TestCertificates()
        let garbage = files.dir + "/garbage.pem"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: garbage))
        let message = try #require(loadError(cert: garbage, key: files.dir + "/key.pem"))
        #expect(message.hasPrefix("the TLS certificate \(garbage) is not a PEM certificate chain: error:"))
        let keyMessage = try #require(loadError(cert: files.dir + "/cert.pem", key: garbage))
        #expect(keyMessage.hasPrefix("the TLS private key \(garbage) is not a PEM private key: error:"))
        let swapped = try #require(loadError(cert: files.dir + "/key.pem", key: files.dir + "/key.pem"))
        #expect(swapped.hasPrefix("the TLS certificate \(files.dir)/key.pem is not a PEM certificate chain"))
    }

    @Test("a key that belongs to another certificate is refused")
    func mismatchedKey() throws {
        let files = try TestCertificates()
        let message = loadError(cert: files.dir + "/cert.pem", key: files.dir + "/other.pem")
        #expect(message == "the TLS private key \(files.dir)/other.pem does not match the certificate \(files.dir)/cert.pem")
    }
}

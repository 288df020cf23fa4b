import COpenSSL
import Foundation
import SwerveTestSupport
import Testing

@testable import SwerveTLS

/// Reloading the certificate (issue 17: `SIGHUP` swaps the pair for new connections; a bad file keeps the old one).
@Suite("TLS certificate reload")
struct TLSCertificateStoreTests {
    /// The subject's common name of the leaf certificate a context serves.
    func commonName(_ context: TLSContext) throws -> String {
        let certificate = try #require(SSL_CTX_get0_certificate(context.context))
        let name = try #require(X509_get_subject_name(certificate))
        var text = [CChar](repeating: 0, count: 256)
        let length = X509_NAME_get_text_by_NID(name, NID_commonName, &text, Int32(text.count))
        #expect(length > 0)
        return String(decoding: text[..<Int(max(length, 0))].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test("a reload with a new good pair serves it to new connections; a context already handed out keeps the old one")
    func swaps() throws {
        let files = try TestCertificates()
        let store = try TLSCertificateStore(certificateChainFile: files.dir + "/cert.pem", privateKeyFile: files.dir + "/key.pem")
        let before = store.current
        #expect(try commonName(before) == "localhost")
        try files.makePair(commonName: "renewed.example")
        try store.reload()
        #expect(try commonName(store.current) == "renewed.example")
        #expect(try commonName(before) == "localhost")
    }

    @Test("a reload that cannot load the pair keeps the current one and says why")
    func badReloadKeepsOld() throws {
        let files = try TestCertificates()
        let store = try TLSCertificateStore(certificateChainFile: files.dir + "/cert.pem", privateKeyFile: files.dir + "/key.pem")
        // A renewal that wrote the new key over the old one but not yet its certificate: they no longer match.
        try FileManager.default.removeItem(atPath: files.dir + "/key.pem")
        try FileManager.default.copyItem(atPath: files.dir + "/other.pem", toPath: files.dir + "/key.pem")
        #expect(throws: TLSConfigurationError(
            description: "the TLS private key \(files.dir)/key.pem does not match the certificate \(files.dir)/cert.pem")) {
            try store.reload()
        }
        #expect(try commonName(store.current) == "localhost")
        try FileManager.default.removeItem(atPath: files.dir + "/cert.pem")
        #expect(throws: TLSConfigurationError(
            description: "cannot read the TLS certificate \(files.dir)/cert.pem: No such file or directory")) {
            try store.reload()
        }
        #expect(try commonName(store.current) == "localhost")
    }
}

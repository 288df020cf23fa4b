import Testing

@testable import SwerveTLS

/// RFC 7301 §3.1–3.2: the protocol_name_list a client offers, and the server's choice from it.
@Suite("ALPN (RFC 7301)")
struct ALPNTests {
    /// A protocol_name_list (without its two-byte outer length, as OpenSSL hands it over) of these names.
    static func list(_ names: [String]) -> [UInt8] {
        names.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
    }

    func choose(_ offered: [UInt8], _ preference: [ALPN.ApplicationProtocol] = [.http2, .http11]) -> String? {
        offered.withUnsafeBytes { bytes in
            ALPN.select(offered: bytes, preference: preference).map { String(decoding: bytes[$0], as: UTF8.self) }
        }
    }

    @Test("§3.2: the server's most preferred protocol the client also offers, whatever the client's order")
    func serverPreference() {
        #expect(choose(Self.list(["http/1.1", "h2"])) == "h2")
        #expect(choose(Self.list(["h2", "http/1.1"])) == "h2")
        #expect(choose(Self.list(["http/1.1"])) == "http/1.1")
        #expect(choose(Self.list(["spdy/3", "http/1.1", "h2c"])) == "http/1.1")
        #expect(choose(Self.list(["h2", "http/1.1"]), [.http11]) == "http/1.1")
    }

    @Test("§3.2: no protocol in common, no choice (the context answers no_application_protocol)")
    func nothingInCommon() {
        #expect(choose(Self.list(["spdy/3", "h2c", "h3"])) == nil)
        #expect(choose(Self.list(["h2"]), [.http11]) == nil)
        // Prefixes and supersets of a name are other names.
        #expect(choose(Self.list(["h", "http/1.10", "H2"])) == nil)
    }

    @Test("a preference list survives being packed into the TLS callback's argument, order kept")
    func packing() {
        for preference: [ALPN.ApplicationProtocol] in [[.http2, .http11], [.http11, .http2], [.http2], [.http11], []] {
            #expect(ALPN.unpack(ALPN.pack(preference)) == preference)
        }
    }

    @Test("§3.1: an empty list, an empty name or a name cut short is malformed: no choice")
    func malformed() {
        #expect(choose([]) == nil)
        #expect(choose([0]) == nil)
        #expect(choose(Self.list(["h2"]) + [0]) == nil)
        #expect(choose([8] + Array("http/1".utf8)) == nil)
        #expect(choose(Self.list(["http/1.1"]) + [5, 0x68]) == nil)
    }
}

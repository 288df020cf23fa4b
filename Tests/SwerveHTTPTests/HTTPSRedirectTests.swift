import Testing
@testable import SwerveHTTP

/// `--redirect-http`'s Location: the same resource over https (RFC 9110 §4.2.2, §15.4.9), on the HTTPS port.
@Suite("HTTPS redirect target")
struct HTTPSRedirectTests {
    func location(_ authority: String?, _ path: String, _ port: UInt16) -> String? {
        let target = Array(path.utf8)
        return target.withUnsafeBytes { path in
            if let authority {
                return Array(authority.utf8).withUnsafeBytes { HTTPSRedirect.location(authority: $0, path: path, httpsPort: port) }
            }
            return HTTPSRedirect.location(authority: nil, path: path, httpsPort: port)
        }.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("the host without its port, the HTTPS port unless it is 443, the path and query as sent")
    func hostPortPath() {
        #expect(location("example.org", "/a/b?c=d", 443) == "https://example.org/a/b?c=d")
        #expect(location("example.org:80", "/", 443) == "https://example.org/")
        #expect(location("example.org:8080", "/x%20y", 8443) == "https://example.org:8443/x%20y")
        #expect(location("127.0.0.1:8080", "/", 8443) == "https://127.0.0.1:8443/")
    }

    @Test("RFC 3986 §3.2.2: a bracketed IPv6 literal keeps its colons")
    func ipv6() {
        #expect(location("[::1]:8080", "/a", 8443) == "https://[::1]:8443/a")
        #expect(location("[2001:db8::1]", "/", 443) == "https://[2001:db8::1]/")
    }

    @Test("no authority (HTTP/1.0 without Host) has no redirect; the asterisk-form becomes /")
    func edges() {
        #expect(location(nil, "/", 443) == nil)
        #expect(location("", "/", 443) == nil)
        #expect(location("example.org", "*", 443) == "https://example.org/")
    }
}

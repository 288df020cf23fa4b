/// Where `--redirect-http` sends a plain-HTTP request: the same resource over https (RFC 9110 §4.2.2), on the
/// server's HTTPS port. Pure: given the request's authority and path, the Location value.
public enum HTTPSRedirect {
    /// `https://` + the authority's host (its port dropped) + `:port` unless it is https's default 443 + the path
    /// and query as sent. nil without an authority (an HTTP/1.0 request without Host: there is no name to send the
    /// client to). `authority` is syntax-checked by the parser (`HTTPSyntax.isValidHost`), so it holds no byte that
    /// could end the field; the asterisk-form target (`OPTIONS *`) becomes `/`.
    public static func location(authority: UnsafeRawBufferPointer?, path: UnsafeRawBufferPointer, httpsPort: UInt16) -> [UInt8]? {
        guard let authority, !authority.isEmpty else { return nil }
        var location = Array("https://".utf8)
        location.append(contentsOf: host(of: authority))
        if httpsPort != 443 {
            location.append(UInt8(ascii: ":"))
            location.append(contentsOf: String(httpsPort).utf8)
        }
        if path.first == UInt8(ascii: "/") {
            location.append(contentsOf: path)
        } else {
            location.append(UInt8(ascii: "/"))
        }
        return location
    }

    /// RFC 3986 §3.2: authority = host [ ":" port ]; an IPv6 literal is bracketed (`[::1]:8080`), so its own colons
    /// are not the port's.
    static func host(of authority: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var end = authority.count
        if authority.first == UInt8(ascii: "[") {
            if let close = authority.firstIndex(of: UInt8(ascii: "]")) { end = close + 1 }
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            end = colon
        }
        return UnsafeRawBufferPointer(rebasing: authority[0..<end])
    }
}

import COpenSSL
import Glibc

/// A client's TLS session, kept serialised (`i2d_SSL_SESSION`) as a client stores it between runs: each use makes a
/// fresh `SSL_SESSION` from the bytes, since OpenSSL's client does not offer a TLS 1.3 session object twice.
final class TLSClientSession {
    let der: [UInt8]
    init?(_ session: OpaquePointer) {
        defer { SSL_SESSION_free(session) }
        let length = i2d_SSL_SESSION(session, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        der.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_SSL_SESSION(session, &cursor)
        }
        self.der = der
    }

    /// A new `SSL_SESSION` from the bytes (the caller frees it).
    func make() -> OpaquePointer? {
        der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_SSL_SESSION(nil, &cursor, buffer.count)
        }
    }
}

/// A parsed response as it came off the wire.
struct WireResponse {
    var statusLine: String
    var status: Int
    /// Field lines in order, names as sent.
    var fields: [(name: String, value: String)]
    var body: [UInt8]
    /// The body came with chunked transfer-coding (already decoded into `body`).
    var chunked = false
    /// The exact header bytes (status line through the blank line).
    var rawHead: String

    func header(_ name: String) -> String? {
        fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func headers(_ name: String) -> [String] {
        fields.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking TCP client with a receive timeout, speaking raw bytes: tests assert on exactly what the server sent.
/// With `tls`, the same over a TLS connection (OpenSSL's client, certificate not verified: the tests' certificates
/// are throwaway self-signed ones), so one test can send the same bytes both ways and compare the answers.
final class RawClient {
    /// -1 once `reset()` closed it.
    private(set) var fd: Int32
    /// The client's `SSL *` on a TLS connection.
    private var ssl: OpaquePointer?
    private var sslContext: OpaquePointer?
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 256 * 1024)
    private(set) var eof = false

    /// `tls`: handshake first, offering `alpn` (protocol names, in order; none: no ALPN extension), and resuming
    /// `session` when given (`session` of an earlier client). `corked`: TCP_CORK from the start, so what the client
    /// writes leaves only when a segment fills, 200 ms pass, or the socket is shut down (the handshake's last flight
    /// then waits for what follows it).
    init(
        port: UInt16, host: String = "127.0.0.1", timeoutSeconds: Int = 10, tls: Bool = false, alpn: [String] = [],
        session: TLSClientSession? = nil, receiveBuffer: Int32? = nil, corked: Bool = false
    ) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if corked {
            var on: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_CORK, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        if var size = receiveBuffer {
            // Before connect, so the advertised window stays small: the server's socket fills at once.
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let rc: Int32
        if v6 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &sa.sin6_addr)
            rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &sa.sin_addr)
            rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw TestFailure("connect to \(host):\(port) failed: errno \(e)")
        }
        if tls { try handshake(alpn: alpn, session: session) }
    }

    deinit {
        if let ssl { SSL_free(ssl) }
        if let sslContext { SSL_CTX_free(sslContext) }
        if fd >= 0 { close(fd) }
    }

    private func handshake(alpn: [String], session: TLSClientSession?) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TestFailure("SSL_CTX_new failed") }
        sslContext = context
        if !alpn.isEmpty {
            let wire = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            guard SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0 else { throw TestFailure("ALPN list refused") }
        }
        guard let ssl = SSL_new(context) else { throw TestFailure("SSL_new failed") }
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        if let session, let fresh = session.make() {
            SSL_set_session(ssl, fresh)
            SSL_SESSION_free(fresh)
        }
        guard SSL_connect(ssl) == 1 else {
            ERR_clear_error()
            throw TestFailure("TLS handshake failed")
        }
    }

    /// The protocol the server chose by ALPN, nil if none.
    var negotiatedProtocol: String? {
        guard let ssl else { return nil }
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The server certificate's serial number in hex (as `openssl x509 -serial` prints it).
    var peerCertificateSerial: String? {
        guard let ssl, let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard let number = ASN1_INTEGER_to_BN(X509_get_serialNumber(certificate), nil) else { return nil }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return nil }
        defer { CRYPTO_free(hex, #file, #line) }
        return String(cString: hex)
    }

    /// The session to resume on a later connection (a TLS 1.3 ticket arrives after the handshake: read a response
    /// first).
    var session: TLSClientSession? { ssl.flatMap { SSL_get1_session($0) }.flatMap(TLSClientSession.init) }

    /// The handshake resumed a session instead of a full one.
    var resumed: Bool { ssl.map { SSL_session_reused($0) == 1 } ?? false }

    /// The negotiated TLS version (`TLSv1.3`).
    var tlsVersion: String? { ssl.map { String(cString: SSL_get_version($0)) } }

    /// Whether the server sent close_notify before its EOF (read after `readsEOF()`).
    var receivedCloseNotify: Bool { ssl.map { SSL_get_shutdown($0) & SSL_RECEIVED_SHUTDOWN != 0 } ?? false }

    /// Closes with a reset (SO_LINGER 0) instead of a FIN: the server's next write fails at once. The descriptor is
    /// closed exactly once (a second close could hit a number another test's socket has taken since).
    func reset() {
        guard fd >= 0 else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
        fd = -1
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n: Int
            if let ssl {
                n = bytes.withUnsafeBytes { Int(SSL_write(ssl, $0.baseAddress! + offset, Int32(bytes.count - offset))) }
            } else {
                n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Reads more bytes; false on EOF or timeout/error (`lastError` says which).
    @discardableResult
    func fill() -> Bool {
        while true {
            if let ssl {
                let n = chunk.withUnsafeMutableBytes { Int(SSL_read(ssl, $0.baseAddress!, Int32($0.count))) }
                if n > 0 {
                    buffer.append(contentsOf: chunk[0..<n])
                    return true
                }
                let error = SSL_get_error(ssl, Int32(n))
                ERR_clear_error()
                // close_notify, or the TCP FIN without one: the server is done.
                eof = error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0)
                lastError = eof ? "EOF" : "TLS error \(error), errno \(errno)"
                return false
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
            if n < 0 && errno == EINTR { continue }
            if n == 0 { eof = true }
            lastError = n == 0 ? "EOF" : "errno \(errno)"
            return false
        }
    }

    /// The bytes read so far and not yet taken (for a client that frames them itself: HTTP/2).
    func takeBuffered() -> [UInt8] {
        defer { buffer.removeAll(keepingCapacity: true) }
        return buffer
    }

    /// Why the last `fill()` returned false.
    private(set) var lastError = ""

    /// Reads one response. `headRequest`: the response has no body whatever its Content-Length says.
    func readResponse(headRequest: Bool = false) throws -> WireResponse {
        var headEnd = findHeadEnd()
        while headEnd == nil {
            guard fill() else {
                throw TestFailure("connection ended before a full response head; got \(buffer.count) bytes: \(String(decoding: buffer.prefix(200), as: UTF8.self))")
            }
            headEnd = findHeadEnd()
        }
        let end = headEnd!
        let rawHead = String(decoding: buffer[0..<end], as: UTF8.self)
        var lines = rawHead.crlfLines()
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        let status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        var fields: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw TestFailure("bad field line \(line)") }
            fields.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces()))
        }
        buffer.removeFirst(end)
        var response = WireResponse(statusLine: statusLine, status: status, fields: fields, body: [], chunked: false, rawHead: rawHead)
        let noBody = headRequest || status == 204 || status == 304 || (100..<200).contains(status)
        if !noBody && (response.header("Transfer-Encoding") ?? "").lowercased() == "chunked" {
            response.body = try readChunkedBody()
            response.chunked = true
        } else if !noBody {
            if let lengthText = response.header("Content-Length"), let length = Int(lengthText) {
                while buffer.count < length {
                    guard fill() else { throw TestFailure("body ended after \(buffer.count) of \(length) bytes (\(lastError))") }
                }
                response.body = Array(buffer[0..<length])
                buffer.removeFirst(length)
            } else {
                while fill() {}
                response.body = buffer
                buffer.removeAll()
            }
        }
        return response
    }

    /// RFC 9112 §7.1: chunk-size CRLF data CRLF … last-chunk (trailer) CRLF. Strict: any deviation throws.
    private func readChunkedBody() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let line = try readLine()
            guard let size = Int(line.split(separator: ";").first.map(String.init) ?? "", radix: 16) else {
                throw TestFailure("bad chunk-size line '\(line)'")
            }
            if size == 0 {
                while try !readLine().isEmpty {}
                return body
            }
            while buffer.count < size + 2 {
                guard fill() else { throw TestFailure("chunk ended early") }
            }
            body.append(contentsOf: buffer[0..<size])
            guard buffer[size] == 13, buffer[size + 1] == 10 else { throw TestFailure("chunk-data not followed by CRLF") }
            buffer.removeFirst(size + 2)
        }
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                guard i > 0, buffer[i - 1] == 13 else { throw TestFailure("bare LF in chunked framing") }
                let line = String(decoding: buffer[0..<(i - 1)], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return line
            }
            guard fill() else { throw TestFailure("connection ended inside a chunked body") }
        }
    }

    /// True when the server closed the connection (EOF) within the receive timeout without sending more bytes.
    func readsEOF() -> Bool {
        guard buffer.isEmpty else { return false }
        if fill() { return false }
        return eof
    }

    var pendingBytes: Int { buffer.count }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}

extension String {
    /// Lines split on CRLF (the head of an HTTP/1.1 message).
    func crlfLines() -> [String] {
        var result: [String] = []
        var current: [UInt8] = []
        let bytes = Array(utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 13, i + 1 < bytes.count, bytes[i + 1] == 10 {
                result.append(String(decoding: current, as: UTF8.self))
                current.removeAll()
                i += 2
                continue
            }
            current.append(bytes[i])
            i += 1
        }
        if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)) }
        return result
    }

    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// One request on a fresh connection.
func fetch(_ port: UInt16, _ request: String, headRequest: Bool = false) throws -> WireResponse {
    let client = try RawClient(port: port)
    try client.send(request)
    return try client.readResponse(headRequest: headRequest)
}

import COpenSSL
import Glibc
import SwerveTestSupport
import Testing

@testable import SwerveTLS

/// A server `TLSConnection` on a real non-blocking socket (one end of a socket pair) with Swerve's own BIO pair
/// (`bufferedSends`), against an OpenSSL client on the other end: when the socket counts as read to the end
/// (`receivedAll`), and how its end is reported.
@Suite("TLS connection on a socket")
struct TLSConnectionTests {
    /// A completed handshake: the server connection, the client's `SSL *` and both fds (closed by `close()`).
    final class Pair {
        let server: TLSConnection
        let client: OpaquePointer
        let clientContext: OpaquePointer
        var fds: [Int32]

        init(_ files: TestCertificates) throws {
            var fds: [Int32] = [-1, -1]
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
            self.fds = fds
            let context = try TLSContext(certificateChainFile: files.dir + "/cert.pem", privateKeyFile: files.dir + "/key.pem")
            server = try #require(TLSConnection(context: context, fd: fds[0], bufferedSends: true))
            clientContext = try #require(SSL_CTX_new(TLS_client_method()))
            client = try #require(SSL_new(clientContext))
            #expect(SSL_set_fd(client, fds[1]) == 1)
            SSL_set_connect_state(client)
            var clientDone = false
            var serverDone = false
            // Each step moves one flight; bounded, so a stuck handshake fails the test instead of hanging it.
            for _ in 0..<20 where !(clientDone && serverDone) {
                if !clientDone {
                    let rc = SSL_do_handshake(client)
                    if rc == 1 { clientDone = true } else { #expect(SSL_get_error(client, rc) == SSL_ERROR_WANT_READ) }
                }
                if !serverDone {
                    if case .done = server.handshake() { serverDone = true }
                    _ = server.flushSends()
                }
            }
            ERR_clear_error()
            #expect(clientDone && serverDone)
        }

        /// The client sends `text` as one record of its own.
        func send(_ text: String) {
            let bytes = Array(text.utf8)
            var written = 0
            #expect(SSL_write_ex(client, bytes, bytes.count, &written) == 1 && written == bytes.count)
        }

        /// One server read of at most `count` bytes: the text, or the step when it is not `.done`.
        func read(_ count: Int) -> String {
            var buffer = [UInt8](repeating: 0, count: count)
            let step = buffer.withUnsafeMutableBytes { server.read(into: $0.baseAddress!, count: count) }
            guard case .done(let n) = step else { return "\(step)" }
            return String(decoding: buffer[..<n], as: UTF8.self)
        }

        func close() {
            server.free()
            SSL_free(client)
            SSL_CTX_free(clientContext)
            for fd in fds where fd >= 0 { Glibc.close(fd) }
        }
    }

    @Test("two records that arrived together: not received to the end while OpenSSL holds any of their bytes, then so without another read")
    func receivedAllWaitsForBufferedRecords() throws {
        let pair = try Pair(TestCertificates())
        defer { pair.close() }
        pair.send("first")
        pair.send("second")
        // One socket read takes both records (read-ahead); the first is delivered in two parts.
        #expect(pair.read(3) == "fir")
        #expect(!pair.server.receivedAll)  // "st" decrypted, "second" not yet processed
        #expect(pair.read(100) == "st")
        #expect(!pair.server.receivedAll)  // the second record is still in OpenSSL's buffer
        #expect(pair.read(100) == "second")
        #expect(pair.server.receivedAll)   // the socket read was short and nothing is left
        // A new drain needs a read of its own: what was seen before it says nothing about edges since.
        pair.server.startDrain()
        #expect(!pair.server.receivedAll)
        // Reading on anyway finds the socket empty; what the client sends next is read as usual.
        #expect(pair.read(100) == "wantRead")
        pair.send("third")
        #expect(pair.read(100) == "third")
        #expect(pair.server.receivedAll)
    }

    @Test("the read BIO: a read that fills what OpenSSL asked for says nothing; a short read, EAGAIN or the end marks the socket drained")
    func readBIODrained() throws {
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        defer { for fd in fds where fd >= 0 { Glibc.close(fd) } }
        let method = try #require(swerve_receive_bio_method_new())
        defer { BIO_meth_free(method) }
        let bio = try #require(BIO_new(method))
        defer { BIO_free(bio) }
        var state = swerve_tls_socket(fd: fds[0], drained: 0, at_end: 0, bytes: nil, start: 0, end: 0)
        withUnsafeMutablePointer(to: &state) { state in
            BIO_set_data(bio, state)
            BIO_set_init(bio, 1)
            var buffer = [UInt8](repeating: 0, count: 64)
            #expect(write(fds[1], "0123456789", 10) == 10)
            #expect(BIO_read(bio, &buffer, 4) == 4)       // exactly what was asked: more may be waiting
            #expect(state.pointee.drained == 0)
            #expect(BIO_read(bio, &buffer, 64) == 6)      // short: the socket had no more
            #expect(state.pointee.drained == 1)
            #expect(write(fds[1], "abcd", 4) == 4)
            #expect(BIO_read(bio, &buffer, 4) == 4)
            #expect(state.pointee.drained == 0)
            #expect(BIO_read(bio, &buffer, 64) == -1)     // EAGAIN: a retry, and drained
            #expect(BIO_test_flags(bio, BIO_FLAGS_SHOULD_RETRY | BIO_FLAGS_READ) == BIO_FLAGS_SHOULD_RETRY | BIO_FLAGS_READ)
            #expect(state.pointee.drained == 1)
            #expect(BIO_ctrl(bio, BIO_CTRL_EOF, 0, nil) == 0)
            Glibc.close(fds[1])
            fds[1] = -1
            #expect(BIO_read(bio, &buffer, 64) == 0)      // the end: no retry, and BIO_eof says so
            #expect(BIO_test_flags(bio, BIO_FLAGS_SHOULD_RETRY) == 0)
            #expect(BIO_ctrl(bio, BIO_CTRL_EOF, 0, nil) == 1)
            #expect(state.pointee.drained == 1)
        }
    }

    @Test("the client's TCP close without close_notify is the end of input, not an error (SSL_OP_IGNORE_UNEXPECTED_EOF via BIO_eof)")
    func closeWithoutNotify() throws {
        let pair = try Pair(TestCertificates())
        defer { pair.close() }
        pair.send("last")
        // Its FIN: a half close (closing the fd outright would reset the pair, with the server's session tickets
        // still unread at the client).
        #expect(shutdown(pair.fds[1], Int32(SHUT_WR)) == 0)
        #expect(pair.read(100) == "last")
        #expect(pair.read(100) == "closed")
    }
}

import COpenSSL
import Glibc

/// One server-side TLS connection over a non-blocking socket (`SSL *` on the socket's fd): the handshake, reading,
/// writing and the close, each one step that never blocks. The engine keeps it in the connection's slot and calls
/// these where it would otherwise `read`, `writev` or `sendfile`.
///
/// Plain data (two pointers), so it lives in the engine's fd-indexed table. Ownership: the engine frees it exactly
/// once, when the connection closes (`free()`); no copy is used after that.
///
/// OpenSSL's rules this follows:
/// - The thread's error queue must be empty before an I/O call, or `SSL_get_error` may report a stale error: every
///   failing step empties it before returning.
/// - A write that returned `wantWrite` must be retried with at least the same bytes (`SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER`
///   lets them come from another address): the engine keeps them queued until a write reports them taken.
/// - `SSL_shutdown` is not called after a fatal error (`failed`).
public struct TLSConnection: BitwiseCopyable {
    /// The `SSL *`.
    let ssl: OpaquePointer
    /// With `bufferedSends`: the state of Swerve's own BIO pair on the socket (`swerve_tls_socket`: the ciphertext
    /// not yet written, whether the last read drained the socket), owned by this connection and freed in `free()`.
    /// nil: OpenSSL's socket BIO reads and writes each record itself.
    let socket: UnsafeMutablePointer<swerve_tls_socket>?

    /// The methods of Swerve's read and write BIOs, made once.
    nonisolated(unsafe) private static let receiveMethod: OpaquePointer? = swerve_receive_bio_method_new()
    nonisolated(unsafe) private static let sendMethod: OpaquePointer? = swerve_send_bio_method_new()

    /// The outcome of one step.
    public enum Step: Equatable {
        /// Bytes moved (for a handshake: 0, and it is complete).
        case done(Int)
        /// Call again when the socket is readable.
        case wantRead
        /// Call again when the socket is writable.
        case wantWrite
        /// The peer closed the connection (close_notify, or its TCP FIN).
        case closed
        /// A protocol or system error: drop the connection without a close_notify.
        case failed
        /// The handshake failed because the client sent a plain HTTP request (or a proxy's CONNECT) instead of a
        /// ClientHello: OpenSSL recognises its first bytes (`SSL_R_HTTP_REQUEST`, `SSL_R_HTTPS_PROXY_REQUEST`).
        /// Otherwise as `failed`.
        case plaintextRequest
    }

    /// A server connection on `fd` with `context`'s settings; nil if OpenSSL cannot allocate one. The fd stays the
    /// caller's to close.
    ///
    /// `bufferedSends`: records are collected in a buffer and written by `flushSends()` (or when it fills), one
    /// `write` for all the records of a flush instead of one per record (a 24 KB body is three records: head, 16 KiB,
    /// the rest), and OpenSSL reads ahead, so `receivedAll` can tell when the socket is drained. Only where the kernel
    /// has no kTLS: OpenSSL hands a connection's encryption to the kernel only on its own socket BIO.
    public init?(context: TLSContext, fd: Int32, bufferedSends: Bool) {
        guard let ssl = SSL_new(context.context) else {
            ERR_clear_error()
            return nil
        }
        var socket: UnsafeMutablePointer<swerve_tls_socket>?
        if bufferedSends, let receive = Self.receiveMethod, let send = Self.sendMethod {
            let state = UnsafeMutablePointer<swerve_tls_socket>.allocate(capacity: 1)
            state.initialize(to: swerve_tls_socket(fd: fd, drained: 0, at_end: 0, bytes: nil, start: 0, end: 0))
            guard swerve_ssl_use_socket(ssl, receive, send, state) == 1 else {
                state.deallocate()
                SSL_free(ssl)
                ERR_clear_error()
                return nil
            }
            socket = state
        } else if SSL_set_fd(ssl, fd) != 1 {
            SSL_free(ssl)
            ERR_clear_error()
            return nil
        }
        SSL_set_accept_state(ssl)
        swerve_ssl_set_server_modes(ssl)
        self.ssl = ssl
        self.socket = socket
    }

    /// Writes the buffered ciphertext (`bufferedSends`): `.done(0)` when none is left, `.wantWrite` when the socket
    /// is full, `.failed` when the connection is gone. Without a buffer: `.done(0)`.
    @inline(__always)
    public func flushSends() -> Step {
        guard let socket, socket.pointee.end > socket.pointee.start else { return .done(0) }
        switch swerve_send_flush(socket) {
        case 1: return .done(0)
        case 0: return .wantWrite
        default: return .failed
        }
    }

    /// Advances the handshake. `.done(0)` once it is complete.
    public func handshake() -> Step {
        let rc = SSL_do_handshake(ssl)
        return rc == 1 ? .done(0) : failure(rc)
    }

    /// Decrypts up to `count` bytes into `buffer`. Fewer than asked says nothing about the socket (a record may be
    /// shorter): a reader that must drain it reads until `.wantRead` or `receivedAll`.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) -> Step {
        var read = 0
        let rc = SSL_read_ex(ssl, buffer, count, &read)
        return rc == 1 ? .done(read) : failure(rc)
    }

    /// Starts a drain: `receivedAll` is false until a `read` of the socket made from now on comes back short. The
    /// engine calls it once per readable edge or resume, so a socket seen drained before an edge that went unread
    /// (reading was paused, say) never ends a later drain while that edge's bytes wait unread.
    @inline(__always)
    public func startDrain() {
        socket?.pointee.drained = 0
    }

    /// Whether a reader that must drain the socket is done: since `startDrain()`, the socket's last `read` returned
    /// short (or EAGAIN, or its end), and OpenSSL holds none of its bytes. Under edge-triggered epoll the next arrival
    /// raises a new edge, so the `read` that would return EAGAIN is saved (one per request, as for plain TCP). Always
    /// false without `bufferedSends`: OpenSSL's socket BIO does not say.
    @inline(__always)
    public var receivedAll: Bool {
        guard let socket else { return false }
        return swerve_ssl_received_all(ssl, socket) != 0
    }

    /// Encrypts and sends up to `count` bytes (one or more records); `.done(n)` may be fewer than `count`.
    @inline(__always)
    public func write(_ bytes: UnsafeRawPointer, count: Int) -> Step {
        var written = 0
        let rc = SSL_write_ex(ssl, bytes, count, &written)
        return rc == 1 ? .done(written) : failure(rc)
    }

    /// Whether the kernel encrypts this connection's output (kTLS, set up by OpenSSL at the end of the handshake
    /// when the context asked for it and the kernel has the `tls` module): then file bodies go out with
    /// `sendFile`, without passing through user space.
    public var kernelSends: Bool { swerve_ssl_kernel_sends(ssl) != 0 }

    /// `count` bytes of `fd` from `offset` through the kernel's TLS (only when `kernelSends`).
    public func sendFile(_ fd: Int32, offset: Int, count: Int) -> Step {
        let n = SSL_sendfile(ssl, fd, off_t(offset), count, 0)
        return n >= 0 ? .done(n) : failure(Int32(-1))
    }

    /// Sends close_notify once, without waiting for the peer's (RFC 8446 §6.1 lets the closing side close its read
    /// side at once). Not after a fatal error, and not during a handshake (OpenSSL refuses both).
    public func shutdown() {
        guard SSL_is_init_finished(ssl) == 1 else { return }
        if SSL_shutdown(ssl) < 0 { ERR_clear_error() }
        _ = flushSends()
    }

    /// Releases the connection's OpenSSL state (its buffers, its reference to the context) and the unsent
    /// ciphertext. Last use.
    public func free() {
        SSL_free(ssl)
        if let socket {
            Glibc.free(socket.pointee.bytes)
            socket.deallocate()
        }
    }

    /// What a call that returned `rc` means, with the thread's error queue left empty.
    private func failure(_ rc: Int32) -> Step {
        let error = SSL_get_error(ssl, rc)
        switch error {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            // SSL_ERROR_SYSCALL with an empty queue and errno 0 would be an EOF, but with
            // SSL_OP_IGNORE_UNEXPECTED_EOF OpenSSL reports that as ZERO_RETURN: anything here is an error.
            let reason = ERR_GET_REASON(ERR_peek_error())
            ERR_clear_error()
            return reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST ? .plaintextRequest : .failed
        }
    }
}

// The system OpenSSL 3 (Debian libssl-dev), for Swerve's TLS (issue 17). Function-like macros and option bits that
// Swift cannot import are wrapped here as inline functions and constants.
#ifndef SWERVE_COPENSSL_SHIM_H
#define SWERVE_COPENSSL_SHIM_H
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int swerve_ssl_ctx_set_protocol_range(SSL_CTX *ctx, int min, int max) {
    return SSL_CTX_set_min_proto_version(ctx, min) == 1 && SSL_CTX_set_max_proto_version(ctx, max) == 1;
}

static inline long swerve_ssl_ctx_min_protocol(SSL_CTX *ctx) { return SSL_CTX_get_min_proto_version(ctx); }
static inline long swerve_ssl_ctx_max_protocol(SSL_CTX *ctx) { return SSL_CTX_get_max_proto_version(ctx); }

static const int swerve_tls1_2_version = TLS1_2_VERSION;
static const int swerve_tls1_3_version = TLS1_3_VERSION;
/// Options every Swerve context sets: no TLS-level compression (CRIME), no renegotiation (a client-driven CPU sink),
/// the server's cipher order (but ChaCha20 for a client that lists it first), kernel TLS where the kernel offers it
/// (`SSL_sendfile`; issue 17), and a client's TCP close without close_notify read as an ordinary end of input (as
/// every browser and curl do it), not an error.
static const uint64_t swerve_ssl_server_options =
    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA
    | SSL_OP_ENABLE_KTLS | SSL_OP_IGNORE_UNEXPECTED_EOF;

/// Modes of every server connection: `SSL_write` may report a part written (one record at a time), a retry after
/// WANT_WRITE may pass the same bytes from another address (the engine re-gathers them from its queue), and the
/// 16 KiB read and write buffers are freed while a connection is idle (an idle keep-alive connection holds none).
static inline void swerve_ssl_set_server_modes(SSL *ssl) {
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

/// Whether the kernel took over the connection's send side (kTLS): then `SSL_sendfile` sends file bytes without
/// copying them through user space.
static inline int swerve_ssl_kernel_sends(SSL *ssl) {
    BIO *wbio = SSL_get_wbio(ssl);
    return wbio != NULL && BIO_get_ktls_send(wbio);
}
/// Session tickets need no server-side cache (RFC 5077: the state travels with the client), and the cache would
/// cost a lock and memory per handshake: off.
static inline void swerve_ssl_ctx_session_cache_off(SSL_CTX *ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

/// Keys a ticket's HMAC (SHA-256) with `key` (`keylen` bytes), as OpenSSL 3's ticket callback must.
static inline int swerve_ticket_mac_init(EVP_MAC_CTX *hctx, unsigned char *key, size_t keylen) {
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, keylen);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(hctx, params);
}
/// The socket side of a TLS connection when Swerve, not OpenSSL's socket BIO, moves its bytes
/// (`swerve_ssl_use_socket`): a write BIO that collects ciphertext and a read BIO that remembers whether the socket
/// was drained.
///
/// Sending: ciphertext a connection has encrypted but not yet written, so the TLS records of one flush leave in one
/// `write` instead of one each. The block is malloc'd when the first record comes and freed as soon as everything is
/// written, so an idle connection holds none. Invariant: `start <= end <= SWERVE_SEND_BUFFER_CAPACITY`; `bytes` is
/// NULL exactly when both are 0.
///
/// Receiving: OpenSSL reads ahead (`SSL_set_read_ahead`), asking for all the room in its record buffer, instead of
/// a record's 5-byte header and then its body (two `read`s per record). `drained` is 1 when the last `read` returned
/// fewer bytes than asked, hit EAGAIN or the end: the socket had nothing more at that moment, so under edge-triggered
/// epoll any later arrival raises a new edge, and once OpenSSL holds nothing unprocessed (`SSL_has_pending`) the
/// engine can stop without the `read` that would return EAGAIN (as a short read ends a plain-TCP read).
/// The engine sets `drained` to 0 when it starts a drain (`TLSConnection.startDrain`). `at_end` is 1 once a `read`
/// returned 0 (OpenSSL asks through `BIO_eof`).
#define SWERVE_SEND_BUFFER_CAPACITY (64 * 1024)
struct swerve_tls_socket {
    int fd;
    int drained;
    int at_end;
    unsigned char *bytes;
    size_t start;
    size_t end;
};

/// Writes what is buffered. 1: all of it (the block is freed); 0: the socket is full (EAGAIN), the rest stays; -1: the
/// connection failed (errno says why).
static inline int swerve_send_flush(struct swerve_tls_socket *b) {
    while (b->start < b->end) {
        ssize_t n = write(b->fd, b->bytes + b->start, b->end - b->start);
        if (n > 0) { b->start += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return -1;
    }
    free(b->bytes);
    b->bytes = NULL;
    b->start = b->end = 0;
    return 1;
}

static inline int swerve_send_bio_write(BIO *bio, const char *data, int length) {
    struct swerve_tls_socket *b = (struct swerve_tls_socket *)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (length <= 0) return 0;
    if (b->bytes == NULL) {
        b->bytes = (unsigned char *)malloc(SWERVE_SEND_BUFFER_CAPACITY);
        if (b->bytes == NULL) return -1;
    }
    if (SWERVE_SEND_BUFFER_CAPACITY - b->end < (size_t)length) {
        // Full: hand the socket what it takes, then make room at the end.
        int flushed = swerve_send_flush(b);
        if (flushed < 0) return -1;
        if (flushed == 1) {
            b->bytes = (unsigned char *)malloc(SWERVE_SEND_BUFFER_CAPACITY);
            if (b->bytes == NULL) return -1;
        } else if (b->start > 0) {
            memmove(b->bytes, b->bytes + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
    }
    size_t room = SWERVE_SEND_BUFFER_CAPACITY - b->end;
    if (room == 0) {
        BIO_set_retry_write(bio);
        return -1;
    }
    size_t take = room < (size_t)length ? room : (size_t)length;
    memcpy(b->bytes + b->end, data, take);
    b->end += take;
    return (int)take;
}

static inline long swerve_send_bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number; (void)pointer;
    struct swerve_tls_socket *b = (struct swerve_tls_socket *)BIO_get_data(bio);
    switch (command) {
    case BIO_CTRL_FLUSH: {
        // OpenSSL flushes at the end of each handshake flight and after an alert.
        BIO_clear_retry_flags(bio);
        int flushed = swerve_send_flush(b);
        if (flushed == 0) BIO_set_retry_write(bio);
        return flushed == 1 ? 1 : 0;
    }
    case BIO_CTRL_WPENDING: return (long)(b->end - b->start);
    case BIO_CTRL_PUSH: case BIO_CTRL_POP: return 0;
    default: return 0;
    }
}

/// One `read` of the socket, as OpenSSL's socket BIO does it (EAGAIN is a retry, 0 the end), and what it says about
/// the socket (`drained`, `at_end`).
static inline int swerve_receive_bio_read(BIO *bio, char *data, int length) {
    struct swerve_tls_socket *b = (struct swerve_tls_socket *)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (length <= 0) return 0;
    for (;;) {
        ssize_t n = read(b->fd, data, (size_t)length);
        if (n > 0) {
            b->drained = n < length;
            return (int)n;
        }
        if (n == 0) {
            b->drained = 1;
            b->at_end = 1;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            b->drained = 1;
            BIO_set_retry_read(bio);
        }
        return -1;
    }
}

static inline long swerve_receive_bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number; (void)pointer;
    struct swerve_tls_socket *b = (struct swerve_tls_socket *)BIO_get_data(bio);
    switch (command) {
    // OpenSSL tells a TCP close from an error by BIO_eof after a read of 0 (SSL_OP_IGNORE_UNEXPECTED_EOF then makes
    // it an ordinary end of input).
    case BIO_CTRL_EOF: return b->at_end;
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PUSH: case BIO_CTRL_POP: return 0;
    default: return 0;
    }
}

/// The methods of the two BIOs, made once per process by the caller (`BIO_get_new_index` names each).
static inline BIO_METHOD *swerve_send_bio_method_new(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "swerve send buffer");
    if (method == NULL) return NULL;
    BIO_meth_set_write(method, swerve_send_bio_write);
    BIO_meth_set_ctrl(method, swerve_send_bio_ctrl);
    return method;
}

static inline BIO_METHOD *swerve_receive_bio_method_new(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "swerve socket read");
    if (method == NULL) return NULL;
    BIO_meth_set_read(method, swerve_receive_bio_read);
    BIO_meth_set_ctrl(method, swerve_receive_bio_ctrl);
    return method;
}

/// Reads and writes `ssl` through `socket` (whose `fd` is the socket), reading ahead. 1 on success.
static inline int swerve_ssl_use_socket(SSL *ssl, BIO_METHOD *receive, BIO_METHOD *send, struct swerve_tls_socket *socket) {
    BIO *rbio = BIO_new(receive);
    BIO *wbio = BIO_new(send);
    if (rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        return 0;
    }
    BIO_set_data(rbio, socket);
    BIO_set_init(rbio, 1);
    BIO_set_data(wbio, socket);
    BIO_set_init(wbio, 1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_read_ahead(ssl, 1);
    return 1;
}

/// Whether the socket was drained at the last `read` and OpenSSL holds none of its bytes, processed or not: then
/// reading again would only return EAGAIN.
static inline int swerve_ssl_received_all(SSL *ssl, const struct swerve_tls_socket *socket) {
    return socket->drained && !SSL_has_pending(ssl);
}
#endif

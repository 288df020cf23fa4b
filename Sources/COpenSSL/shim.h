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

static inline int swerve_ssl_ctx_set_protocol_range(SSL_CTX *ctx, int min, int max) {
    return SSL_CTX_set_min_proto_version(ctx, min) == 1 && SSL_CTX_set_max_proto_version(ctx, max) == 1;
}

static inline long swerve_ssl_ctx_min_protocol(SSL_CTX *ctx) { return SSL_CTX_get_min_proto_version(ctx); }
static inline long swerve_ssl_ctx_max_protocol(SSL_CTX *ctx) { return SSL_CTX_get_max_proto_version(ctx); }

static const int swerve_tls1_2_version = TLS1_2_VERSION;
static const int swerve_tls1_3_version = TLS1_3_VERSION;
/// Options every Swerve context sets: no TLS-level compression (CRIME), no renegotiation (a client-driven CPU sink),
/// the server's cipher order, kernel TLS where the kernel offers it (`SSL_sendfile`; issue 17), and a client's
/// TCP close without close_notify read as an ordinary end of input (as every browser and curl do it), not an error.
static const uint64_t swerve_ssl_server_options =
    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_ENABLE_KTLS
    | SSL_OP_IGNORE_UNEXPECTED_EOF;

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
#endif

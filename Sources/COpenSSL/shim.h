// The system OpenSSL 3 (Debian libssl-dev), for Swerve's TLS (issue 17). Function-like macros and option bits that
// Swift cannot import are wrapped here as inline functions and constants.
#ifndef SWERVE_COPENSSL_SHIM_H
#define SWERVE_COPENSSL_SHIM_H
#include <openssl/err.h>
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
/// the server's cipher order, and kernel TLS where the kernel offers it (`SSL_sendfile`; issue 17).
static const uint64_t swerve_ssl_server_options =
    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_ENABLE_KTLS;
#endif

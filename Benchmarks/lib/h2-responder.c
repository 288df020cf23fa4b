// h2-responder: the cheapest HTTP/2 server possible on libnghttp2 and OpenSSL, as the ceiling of the HTTP/2 1 KiB row
// of Benchmarks under the CPU cap.
//
//   h2-responder PORT CERT.pem KEY.pem BODYFILE
//
// It answers every request on every connection with the same response: status 200, a fixed set of header fields
// (content-type, content-length, etag, last-modified, accept-ranges, date, server; constants but for the length) and
// BODYFILE, read into memory once at start (1 KiB in practice). It parses nothing of its own and plans nothing: it
// never looks at a request's header fields (no on_header callback), and answers a stream as soon as nghttp2 reports its
// END_STREAM, and nghttp2 forgets closed streams at once (as Swerve has it). TLS 1.2 to 1.3, ALPN "h2" only (a client
// that offers no "h2" is refused), session tickets as OpenSSL has them by default. Per connection it does what any
// server on these two libraries has to do at least: SSL_read into one 16 KiB buffer, each piece straight into
// nghttp2_session_mem_recv; then every chunk of nghttp2_session_mem_send gathered into a 64 KiB buffer of the
// connection and written with one SSL_write (more only when a burst outgrows the buffer). Sockets are set up like
// Swerve's (TCP_NODELAY, TCP_DEFER_ACCEPT, edge-triggered epoll, EPOLLOUT registered only while a write is blocked);
// while one is, the connection reads nothing more, which is all the flow control it has beyond nghttp2's. Single
// thread. Held to the same CPU cap as the servers (lib/cap.sh), what it reaches is what the two libraries leave any
// server. Loopback only.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench-util.h"

enum { OUTPUT_SIZE = 65536 };

typedef struct {
    int fd, secured, watchingOutput;   // secured: the TLS handshake is done
    SSL *ssl;
    nghttp2_session *session;
    const uint8_t *chunk;              // what is left of the last chunk from nghttp2_session_mem_send: valid until
    size_t chunkLength;                // the next call, which waits until it is all in `output`
    size_t outputLength;               // bytes in `output` not yet written (an SSL_write that has to be retried)
    uint8_t output[OUTPUT_SIZE];
} Connection;

static char *body;
static size_t bodyLength;
static char contentLength[24];
static int epoll;
static SSL_CTX *context;
static nghttp2_session_callbacks *callbacks;

#define FIELD(NAME, VALUE)                                                                                     \
    { (uint8_t *)NAME, (uint8_t *)VALUE, sizeof NAME - 1, sizeof VALUE - 1,                                   \
      NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE }
static nghttp2_nv fields[] = {
    FIELD(":status", "200"),
    FIELD("content-type", "text/html"),
    FIELD("content-length", ""),   // the body's real length, set in main
    FIELD("etag", "\"1-abc\""),
    FIELD("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
    FIELD("accept-ranges", "bytes"),
    FIELD("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
    FIELD("server", "swerve-ceiling"),
};


// The body, copied into nghttp2's DATA frames. The source's pointer is where the stream's next frame starts: nghttp2
// keeps the source with the stream's DATA item, so a body longer than one frame goes on where the last one stopped.
static ssize_t readBody(nghttp2_session *session, int32_t streamID, uint8_t *buffer, size_t length, uint32_t *flags,
                        nghttp2_data_source *source, void *userData) {
    (void)session, (void)streamID, (void)userData;
    char *at = source->ptr;
    size_t left = (size_t)(body + bodyLength - at), n = left < length ? left : length;
    memcpy(buffer, at, n);
    source->ptr = at + n;
    if (n == left) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

// A request is complete at its END_STREAM, on its HEADERS (or trailers) or on its last DATA: answer it.
static int frameReceived(nghttp2_session *session, const nghttp2_frame *frame, void *userData) {
    (void)userData;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    nghttp2_data_provider provider = {.source.ptr = body, .read_callback = readBody};
    if (nghttp2_submit_response(session, frame->hd.stream_id, fields, sizeof fields / sizeof fields[0], &provider))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return 0;
}

// ALPN: "h2" or nothing.
static int selectProtocol(SSL *ssl, const unsigned char **out, unsigned char *outLength, const unsigned char *in,
                          unsigned int inLength, void *arg) {
    (void)ssl, (void)arg;
    for (unsigned int i = 0; i < inLength; i += 1u + in[i])
        if (in[i] == 2 && i + 3 <= inLength && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outLength = 2;
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void watchOutput(Connection *c, int on) {
    if (c->watchingOutput == on) return;
    c->watchingOutput = on;
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &e);
}

// A TLS call that did not go through: 0 when it waits for the socket (EPOLLOUT registered if it waits to write), -1
// when the connection is lost.
static int waitOrFail(Connection *c, int result) {
    switch (SSL_get_error(c->ssl, result)) {
    case SSL_ERROR_WANT_READ: return 0;
    case SSL_ERROR_WANT_WRITE: watchOutput(c, 1); return 0;
    default: return -1;
    }
}

// Writes `output`: 1 when it is all out, 0 when the socket is full, -1 on an error. Partial writes are off, so
// SSL_write takes all of it or nothing, and a retry passes the same bytes again, as OpenSSL requires.
static int flushOutput(Connection *c) {
    if (c->outputLength == 0) return 1;
    int n = SSL_write(c->ssl, c->output, (int)c->outputLength);
    if (n <= 0) return waitOrFail(c, n);
    c->outputLength = 0;
    return 1;
}

// Everything nghttp2 has to send, gathered into `output` and written: 1 when all is out, 0 when the socket is full,
// -1 on an error.
static int pump(Connection *c) {
    for (;;) {
        while (c->chunkLength > 0) {
            if (c->outputLength == OUTPUT_SIZE) {
                int flushed = flushOutput(c);
                if (flushed <= 0) return flushed;
            }
            size_t room = OUTPUT_SIZE - c->outputLength, n = c->chunkLength < room ? c->chunkLength : room;
            memcpy(c->output + c->outputLength, c->chunk, n);
            c->outputLength += n;
            c->chunk += n;
            c->chunkLength -= n;
        }
        ssize_t n = nghttp2_session_mem_send(c->session, &c->chunk);
        if (n < 0) return -1;
        if (n == 0) break;
        c->chunkLength = (size_t)n;
    }
    return flushOutput(c);
}

static void closeConnection(Connection *c, int graceful) {
    if (graceful) SSL_shutdown(c->ssl);   // close_notify, once, not waited for
    else ERR_clear_error();               // so that the next connection's SSL_get_error sees only its own errors
    SSL_free(c->ssl);
    nghttp2_session_del(c->session);
    close(c->fd);
    free(c);
}

// Returns 1 to keep the connection, 0 to close it gracefully, -1 to drop it.
static int serve(Connection *c, uint32_t events) {
    static uint8_t input[16384];
    if (events & (EPOLLERR | EPOLLHUP)) return -1;
    if (!c->secured) {
        int done = SSL_do_handshake(c->ssl);
        if (done != 1) return waitOrFail(c, done) < 0 ? -1 : 1;
        const unsigned char *protocol;
        unsigned int protocolLength;
        SSL_get0_alpn_selected(c->ssl, &protocol, &protocolLength);
        if (protocolLength != 2 || memcmp(protocol, "h2", 2) != 0) return -1;   // a client that offered no ALPN
        c->secured = 1;
    }
    // What is still to be written goes first; until it is out, nothing more is read.
    int flushed = pump(c);
    if (flushed <= 0) return flushed < 0 ? -1 : 1;
    for (;;) {
        int n = SSL_read(c->ssl, input, sizeof input);
        if (n <= 0) {
            int error = SSL_get_error(c->ssl, n);
            if (error == SSL_ERROR_ZERO_RETURN) return 0;
            if (waitOrFail(c, n) < 0) return -1;
            break;
        }
        if (nghttp2_session_mem_recv(c->session, input, (size_t)n) < 0) return -1;
    }
    flushed = pump(c);
    if (flushed < 0) return -1;
    if (flushed == 0) return 1;
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session)) return 0;
    watchOutput(c, 0);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: h2-responder PORT CERT.pem KEY.pem BODYFILE\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);   // OpenSSL's socket BIO writes with write(): a client that left must give EPIPE
    body = readAll(argv[4], &bodyLength);
    snprintf(contentLength, sizeof contentLength, "%zu", bodyLength);
    fields[2].value = (uint8_t *)contentLength;
    fields[2].valuelen = strlen(contentLength);

    context = SSL_CTX_new(TLS_server_method());
    if (!context) fail("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION);
    SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION);   // HTTP/2 forbids it
    if (SSL_CTX_use_certificate_chain_file(context, argv[2]) != 1 ||
        SSL_CTX_use_PrivateKey_file(context, argv[3], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(context) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_alpn_select_cb(context, selectProtocol, NULL);

    if (nghttp2_session_callbacks_new(&callbacks)) fail("nghttp2_session_callbacks_new");
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, frameReceived);
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 128}};
    // Closed streams forgotten at once, as Swerve does: otherwise nghttp2 keeps up to 128 per connection for RFC
    // 7540's priority tree, which costs every new stream a walk through them.
    nghttp2_option *options;
    if (nghttp2_option_new(&options)) fail("nghttp2_option_new");
    nghttp2_option_set_no_closed_streams(options, 1);

    int listener = openListener(argv[1]);

    epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};   // NULL: the listener
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event events[512];
    for (;;) {
        int ready = epoll_wait(epoll, events, 512, -1);
        for (int i = 0; i < ready; i++) {
            Connection *c = events[i].data.ptr;
            if (!c) {
                int client;
                while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    c = calloc(1, sizeof *c);
                    if (!c) { close(client); continue; }
                    c->fd = client;
                    c->ssl = SSL_new(context);
                    if (!c->ssl || SSL_set_fd(c->ssl, client) != 1 ||
                        nghttp2_session_server_new2(&c->session, callbacks, c, options) ||
                        nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 1)) {
                        if (c->session) nghttp2_session_del(c->session);
                        SSL_free(c->ssl);
                        close(client);
                        free(c);
                        continue;
                    }
                    SSL_set_accept_state(c->ssl);
                    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
                    epoll_ctl(epoll, EPOLL_CTL_ADD, client, &e);
                }
                continue;
            }
            int kept = serve(c, events[i].events);
            if (kept <= 0) closeConnection(c, kept == 0);
        }
    }
}

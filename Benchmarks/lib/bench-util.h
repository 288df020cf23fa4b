// Shared by the do-nothing responders (responder.c, h2-responder.c), each compiled alone with one cc command: the
// error exit, the read of a whole file at start-up, and the listener.
#ifndef SWERVE_BENCH_UTIL_H
#define SWERVE_BENCH_UTIL_H
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static void fail(const char *what) { perror(what); exit(1); }

static char *readAll(const char *path, size_t *length) {
    FILE *f = fopen(path, "rb");
    if (!f) fail(path);
    fseek(f, 0, SEEK_END);
    *length = (size_t)ftell(f);
    rewind(f);
    char *bytes = malloc(*length ? *length : 1);
    if (!bytes || fread(bytes, 1, *length, f) != *length) fail(path);
    fclose(f);
    return bytes;
}

// A non-blocking listener on 127.0.0.1:PORT set up as Swerve's: TCP_NODELAY (accepted sockets inherit it) and
// TCP_DEFER_ACCEPT 1 s, as Swerve and every peer.
static int openListener(const char *port) {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    setsockopt(listener, IPPROTO_TCP, TCP_DEFER_ACCEPT, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 4096)) fail("bind");
    return listener;
}
#endif

// responder: the cheapest HTTP/1.1 server possible, as a control for Benchmarks/ceiling.sh.
//
//   responder PORT HEADFILE BODYFILE [memfd] [spin] [close]
//
// It answers every request on every connection with the same bytes: HEADFILE (a complete response head, ending in
// CRLF CRLF) and then BODYFILE. It parses nothing: a request is counted at each CRLF CRLF. Per request it does what
// Swerve does at best: one read, the head with MSG_MORE, the body with sendfile, from BODYFILE itself (page cache) or,
// with `memfd`, from a sealed memfd holding a copy (as Swerve's gzip cache does). Its sockets are set up like Swerve's
// (TCP_NODELAY, no TCP_NOTSENT_LOWAT, EPOLLOUT registered only after a short write, no TCP_CORK), so the only
// differences left are the server's own work, the head's bytes and where the body's pages come from. With `spin` it
// never sleeps while a client is connected (`epoll_wait` with a zero timeout), so a request never has to wake it: what
// a server could gain on the client's side by answering without a wake-up latency, at the price of a whole core.
// With `close` it closes the connection after each answer, its last bytes sent with MSG_MORE so the FIN shares their
// segment (as Swerve answers `Connection: close`; HEADFILE should say so). Benchmarks/capped.sh runs it under the
// same CPU cap as the servers: what no server could beat by its own work. Loopback only.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench-util.h"

enum { MAX_FD = 65536 };

static char *head;
static size_t headLength, bodyLength;
static int bodyFD;
static int clients;   // open client connections: `spin` polls only while there is one
static int closeAfterAnswer;

// Per connection: requests seen but not yet answered, bytes of the current answer already sent, and how much of
// "\r\n\r\n" the input ended with (a request head may arrive in pieces).
static struct { unsigned pending; size_t sent; int matched, watchingOutput; } conns[MAX_FD];


// Sends pending answers. Returns 1 when all are out, 0 when the socket is full (EAGAIN), -1 on an error, 2 when an
// answer is out and the connection is to be closed (`close`).
static int flush(int fd) {
    while (conns[fd].pending > 0) {
        ssize_t n;
        if (conns[fd].sent < headLength) {
            // MSG_MORE only when a body or the FIN follows: an empty BODYFILE makes HEADFILE the whole answer (one
            // write, as Swerve sends a small file with its head).
            int more = bodyLength || closeAfterAnswer;
            n = send(fd, head + conns[fd].sent, headLength - conns[fd].sent, (more ? MSG_MORE : 0) | MSG_NOSIGNAL);
        } else {
            off_t offset = (off_t)(conns[fd].sent - headLength);
            n = sendfile(fd, bodyFD, &offset, bodyLength - (size_t)offset);
        }
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        conns[fd].sent += (size_t)n;
        if (conns[fd].sent == headLength + bodyLength) {
            conns[fd].sent = 0;
            conns[fd].pending--;
            if (closeAfterAnswer) return 2;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    int useMemfd = 0, spin = 0, usable = argc >= 4;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "memfd") == 0) useMemfd = 1;
        else if (strcmp(argv[i], "spin") == 0) spin = 1;
        else if (strcmp(argv[i], "close") == 0) closeAfterAnswer = 1;
        else usable = 0;
    }
    if (!usable) {
        fprintf(stderr, "usage: responder PORT HEADFILE BODYFILE [memfd] [spin] [close]\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);   // sendfile to a client that left must fail with EPIPE, not end the process
    head = readAll(argv[2], &headLength);
    char *body = readAll(argv[3], &bodyLength);
    if (useMemfd) {
        bodyFD = memfd_create("body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (bodyFD < 0 || write(bodyFD, body, bodyLength) != (ssize_t)bodyLength) fail("memfd");
        fcntl(bodyFD, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    } else {
        bodyFD = open(argv[3], O_RDONLY | O_CLOEXEC);
        if (bodyFD < 0) fail(argv[3]);
    }
    free(body);

    int listener = openListener(argv[1]);

    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event events[512];
    static char input[32768];
    for (;;) {
        int ready = epoll_wait(epoll, events, 512, spin && clients > 0 ? 0 : -1);
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int client;
                while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (client >= MAX_FD) { close(client); continue; }
                    memset(&conns[client], 0, sizeof conns[client]);
                    clients++;
                    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = client};
                    epoll_ctl(epoll, EPOLL_CTL_ADD, client, &e);
                }
                continue;
            }
            int closing = (events[i].events & (EPOLLHUP | EPOLLERR)) != 0;
            while (!closing && (events[i].events & EPOLLIN)) {
                ssize_t n = read(fd, input, sizeof input);
                if (n == 0 || (n < 0 && errno != EAGAIN)) closing = 1;
                if (n <= 0) break;
                for (ssize_t j = 0; j < n; j++) {
                    static const char end[] = "\r\n\r\n";
                    int m = conns[fd].matched;
                    conns[fd].matched = input[j] == end[m] ? m + 1 : (input[j] == '\r');
                    if (conns[fd].matched == 4) { conns[fd].matched = 0; conns[fd].pending++; }
                }
                if ((size_t)n < sizeof input) break;   // a short read emptied the socket (edge-triggered)
            }
            int flushed = closing ? 1 : flush(fd);
            if (flushed < 0 || flushed == 2) closing = 1;
            if (flushed == 0 && !conns[fd].watchingOutput) {
                conns[fd].watchingOutput = 1;
                struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
                epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &e);
            }
            if (closing) { close(fd); clients--; }
        }
    }
}

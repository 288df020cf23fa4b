#!/usr/bin/env python3
"""Open N idle keep-alive connections to a server and keep them open.

    hold_connections.py PORT N PATH [HOLD_SECONDS]

Each connection sends one `GET PATH` (HTTP/1.1, keep-alive) and reads its whole response (Content-Length framed),
so the server has really set the connection up, parsed a request and answered it. Then it prints `ready N` on
stdout and keeps every socket open until it is killed, or HOLD_SECONDS (default 120) have passed.
compare.sh reads the server's VmRSS before and after `ready` and divides the difference by N.
"""
import socket
import sys
import time


def read_response(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection inside the body")
        body += chunk


def main() -> None:
    port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(request)
        read_response(sock)
        sockets.append(sock)
    print(f"ready {len(sockets)}", flush=True)
    time.sleep(hold)  # compare.sh kills us as soon as it has read the RSS; this only bounds a forgotten holder


if __name__ == "__main__":
    main()

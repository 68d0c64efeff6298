"""A trivial SMTP sink for calibrating the load generator (`bench/run.py --target sink`).

It speaks just enough SMTP for `bench/loadgen.py` (EHLO, STARTTLS or implicit TLS, AUTH, MAIL,
RCPT, DATA, QUIT), accepts everything, stores nothing, and answers `250` as soon as the end of
the data arrives. One thread per connection over blocking `ssl` sockets, so it costs little CPU:
the figures it gives are a floor for what the client can drive on this machine.

usage: sink.py PORT CERT KEY [--implicit-tls]; prints `listening` once bound.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from typing import Any


def session(conn: socket.socket, context: ssl.SSLContext, implicit: bool) -> None:
    sock: Any = context.wrap_socket(conn, server_side=True) if implicit else conn
    tls = implicit
    reader = sock.makefile("rb")
    try:
        sock.sendall(b"220 sink ESMTP\r\n")
        while line := reader.readline(2048):
            verb = line[:4].upper()
            if verb == b"EHLO":
                offer = b"" if tls else b"250-STARTTLS\r\n"
                sock.sendall(b"250-sink\r\n250-PIPELINING\r\n" + offer + b"250 AUTH PLAIN\r\n")
            elif verb == b"STAR" and not tls:
                sock.sendall(b"220 go ahead\r\n")
                sock = context.wrap_socket(sock, server_side=True)
                reader = sock.makefile("rb")
                tls = True
            elif verb == b"AUTH":
                sock.sendall(b"235 ok\r\n")
            elif verb == b"DATA":
                sock.sendall(b"354 go ahead\r\n")
                while (body := reader.readline(4096)) and body != b".\r\n":
                    pass
                sock.sendall(b"250 ok: queued\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 bye\r\n")
                break
            else:
                sock.sendall(b"250 ok\r\n")
    except (OSError, ssl.SSLError):
        pass
    finally:
        sock.close()


def main() -> int:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    implicit = "--implicit-tls" in sys.argv[4:]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", port), backlog=256)
    print("listening", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=session, args=(conn, context, implicit), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())

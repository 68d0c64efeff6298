"""Loopback ports for servers that a test starts later, in another process or after a delay.

A port found by binding to port 0 and closing the socket comes from the kernel's ephemeral
range, the same range every outgoing connection takes its local port from. Between the pick and
the server's bind, any client on the machine (another xdist worker's SMTP or HTTP client, a
PostgreSQL connection) may take it, and the server then fails with "address already in use"
(seen in CI). So these ports come from below the ephemeral range, where the kernel never hands
out ports on its own, each xdist worker from its own slice, each checked free when picked.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from pathlib import Path

LOWEST = 20000
"""Where the slices start: above the registered services most machines run."""

SLICE = 1500
"""Ports per xdist worker: 8 workers fit below 32768, Linux's default ephemeral start."""


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _worker_slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    start = LOWEST + (index % 8) * SLICE
    return range(start, min(start + SLICE, _ephemeral_start()))


_SLICE = _worker_slice()
# A random start, so two test sessions on one machine (two worktrees) rarely walk in step.
_CANDIDATES = itertools.cycle(
    [*_SLICE[(offset := random.randrange(len(_SLICE))) :], *_SLICE[:offset]]
)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int = 1) -> list[int]:
    """`count` distinct loopback ports that nothing was bound to a moment ago.

    Each call moves on through this worker's slice, so a port is not handed out again until
    the whole slice has gone round.
    """
    ports: list[int] = []
    for port in itertools.islice(_CANDIDATES, len(_SLICE)):
        if _bindable(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise OSError(f"no {count} free loopback ports in {_SLICE.start}-{_SLICE.stop - 1}")


def closed_port_url() -> str:
    """An HTTP address where nothing listens (and nothing is about to)."""
    [port] = free_ports()
    return f"http://127.0.0.1:{port}"

"""Ports for servers the tests start."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

_handed_out: set[int] = set()


def free_port() -> int:
    """A free port below the kernel's ephemeral range. bind(0) picks one inside it, where any
    outgoing connection (to PostgreSQL, Redis, the browser's) may take it in the seconds before
    the server we hand it to binds it ("Address already in use" in `make dev`, seen in CI).
    Never the same port twice in a run."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = secrets.choice(range(10_000, low))
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port

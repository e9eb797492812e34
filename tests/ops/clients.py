"""HTTP clients for load tests: ordinary POSTs, POSTs released together, and clients that give
up mid-request (close the connection after a delay, or before the body is complete), as an
integration with a short timeout does."""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

V1 = "/api/v1"


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: dict
    replayed: bool = False
    retry_after: str | None = None


def send(
    base_url: str, path: str, body: dict | None, token: str, *, key: str | None = None
) -> Answer:
    """POST and wait for the answer (None status: no answer at all)."""
    return call(
        "POST",
        base_url + V1 + path,
        json.dumps(body).encode() if body is not None else b"",
        {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})},
    )


def fetch(base_url: str, path: str, token: str) -> Answer:
    """GET and wait for the answer."""
    return call("GET", base_url + V1 + path, None, {"Authorization": f"Bearer {token}"})


def call(method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Answer:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **headers}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            replayed = response.headers.get("Idempotent-Replayed") == "true"
            return Answer(
                response.status,
                json.loads(response.read() or b"{}"),
                replayed,
                response.headers.get("Retry-After"),
            )
    except urllib.error.HTTPError as error:
        raw = error.read()
        replayed = error.headers.get("Idempotent-Replayed") == "true"
        wait = error.headers.get("Retry-After")
        try:
            return Answer(error.code, json.loads(raw or b"{}"), replayed, wait)
        except ValueError:
            raw_text = raw[:200].decode(errors="replace")
            return Answer(error.code, {"raw": raw_text}, replayed, wait)
    except OSError as error:
        return Answer(None, {"exception": repr(error)})


def give_up(
    base_url: str,
    path: str,
    body: dict,
    token: str,
    *,
    key: str | None,
    after: float,
    mid_body: bool = False,
    reset: bool = False,
) -> None:
    """Send a POST and close the connection `after` seconds later without reading the answer;
    with `mid_body`, before the body is complete; with `reset`, abruptly (RST, not FIN)."""
    parts = urlsplit(base_url)
    payload = json.dumps(body).encode()
    head = (
        f"POST {V1}{path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        + (f"Idempotency-Key: {key}\r\n" if key else "")
        + f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + (payload[: len(payload) // 2] if mid_body else payload))
        time.sleep(after)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def together(count: int, call: Callable[[int], Any], *, threads: int | None = None) -> list[Any]:
    """call(0..count-1) from `threads` threads (default: one each) released at one moment."""
    workers = threads or count
    barrier = threading.Barrier(min(workers, count))

    def one(i: int) -> Any:
        if i < workers:
            barrier.wait(timeout=60)
        return call(i)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


def random_delay(rng: random.Random) -> float:
    """How long a giving-up client waits: mostly within a request's own time, now and then a
    little longer."""
    return rng.choice((0.0, 0.001, 0.005)) if rng.random() < 0.3 else rng.uniform(0.005, 0.08)

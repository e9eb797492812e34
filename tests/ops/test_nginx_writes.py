"""How deploy/nginx.conf passes on writes it may not send twice (POST, PATCH).

An instance closes its idle keep-alive connections when it stops and after 30 s idle; a
request nginx writes on one at that moment fails after it was sent. A write with an
Idempotency-Key to a route that honours it is retried on the next instance (the key answers a
repeat with the first attempt's result); any other write goes over a fresh connection, so
an instance going away refuses the connect before anything is sent, and it is never sent twice.

The upstreams here are local HTTP servers standing in for instances: one answers, one reads
each request and drops the connection without a word (an instance that went away)."""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import pytest
from fastapi import FastAPI

from paybridge.api.idempotency import IdempotentRoute
from paybridge.api.v1 import add_v1
from tests.ops.topology import ROOT, Nginx

PAYMENTS = "/api/v1/transactions"


class Seen(NamedTuple):
    method: str
    keyed: bool
    connection: int  # the same number: the same connection


class Answering(ThreadingHTTPServer):
    """Answers every request (201 to a write, 200 otherwise) over keep-alive connections and
    records each one it saw."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        server = self
        numbers = itertools.count()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:  # once per connection
                super().setup()
                self.number = next(numbers)

            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                keyed = "Idempotency-Key" in self.headers
                server.seen.append(Seen(self.command, keyed, self.number))
                body = b"{}"
                self.send_response(201 if self.command in ("POST", "PATCH") else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = answer

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Dropping:
    """Reads each request in full and closes the connection without answering."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.posts = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                raw = b""
                while b"\r\n\r\n" not in raw and (chunk := conn.recv(65536)):
                    raw += chunk
                head, _, body = raw.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                while length and len(body) < int(length.group(1)) and (chunk := conn.recv(65536)):
                    body += chunk
                if head.startswith(b"POST "):
                    self.posts += 1


@pytest.fixture
def answering() -> Iterator[Answering]:
    server = Answering()
    yield server
    server.shutdown()


def send(nginx: Nginx, method: str, path: str, key: str | None = None) -> int:
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    request = urllib.request.Request(nginx.url + path, data=b"{}", headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def upstreams_of(nginx: Nginx, method: str) -> list[tuple[int, list[str]]]:
    """(status, upstream addresses tried) of each `method` request nginx logged."""
    lines = (nginx.dir / "access.log").read_text().splitlines()
    return [
        (entry["status"], entry["upstream"].split(", "))
        for entry in map(json.loads, lines)
        if entry["method"] == method
    ]


def test_the_keyed_routes_in_nginx_are_the_apps_idempotent_writes() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    keyed = re.search(r'"~(\^POST /api/v1/[^"]+)"\s+keyed;', conf)
    assert keyed, "the keyed map entry moved"
    pattern = re.compile(keyed.group(1))
    app = FastAPI()
    add_v1(app)
    checked = 0
    for route in app.routes:
        for method in sorted(getattr(route, "methods", set()) & {"POST", "PATCH"}):
            path = re.sub(r"\{[^}]+\}", "x_1", route.path)  # type: ignore[attr-defined]
            honours_key = isinstance(route, IdempotentRoute) and method == "POST"  # as it claims
            assert bool(pattern.match(f"{method} {path} key-1")) == honours_key, (method, path)
            assert not pattern.match(f"{method} {path} "), (method, path)  # no key: unkeyed
            checked += 1
    assert checked >= 10


def test_a_keyed_write_is_retried_on_the_next_instance_and_an_unkeyed_one_never_is(
    answering: Answering, tmp_path: Path
) -> None:
    dropping = Dropping()
    gone = f"127.0.0.1:{dropping.port}"
    keyed_dir, unkeyed_dir = tmp_path / "keyed", tmp_path / "unkeyed"
    keyed_dir.mkdir()
    unkeyed_dir.mkdir()

    nginx = Nginx([dropping.port, answering.server_port], keyed_dir)
    try:
        statuses = [send(nginx, "POST", PAYMENTS, key=f"k{n}") for n in range(4)]
        logged = upstreams_of(nginx, "POST")
    finally:
        nginx.stop()
    assert statuses == [201] * 4
    retried = [tried for _, tried in logged if tried[0] == gone]
    assert retried and all(len(tried) == 2 for tried in retried), logged  # then the other one
    assert dropping.posts == len(retried)  # each had been sent in full before the retry
    assert len([seen for seen in answering.seen if seen.method == "POST"]) == 4  # each once

    answering.seen.clear()
    nginx = Nginx([dropping.port, answering.server_port], unkeyed_dir)
    try:
        statuses = [send(nginx, "POST", PAYMENTS) for _ in range(4)]
        logged = upstreams_of(nginx, "POST")
    finally:
        nginx.stop()
    lost = [(status, tried) for status, tried in logged if tried[0] == gone]
    assert lost and all(entry == (502, [gone]) for entry in lost), logged  # not sent twice
    assert statuses.count(201) == len([seen for seen in answering.seen if seen.method == "POST"])
    dropping.listener.close()


def test_writes_without_an_honoured_key_use_fresh_connections_and_keyed_ones_reuse_them(
    answering: Answering, tmp_path: Path
) -> None:
    nginx = Nginx([answering.server_port], tmp_path)
    try:
        answering.seen.clear()  # nginx's start-up probe
        for n in range(12):
            assert send(nginx, "POST", PAYMENTS) == 201
            assert send(nginx, "PATCH", "/api/v1/webhooks/7", key=f"p{n}") == 201  # not honoured
            assert send(nginx, "POST", PAYMENTS, key=f"k{n}") == 201
    finally:
        nginx.stop()
    retry_safe = [seen for seen in answering.seen if seen.method == "POST" and seen.keyed]
    others = [seen for seen in answering.seen if seen not in retry_safe]
    assert len(others) == 24 and len(retry_safe) == 12
    alone = {seen.connection for seen in others}
    assert len(alone) == 24  # a connection of its own each
    reused = {seen.connection for seen in retry_safe}
    assert not alone & reused and len(reused) < 12  # kept alive and used again

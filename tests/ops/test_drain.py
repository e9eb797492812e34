"""SIGTERM to one of two app instances behind nginx (a rolling update, a scale-down): the
request it is serving completes, nginx sends new ones to the other instance, and the process
exits within a bounded time even with a long-lived websocket open on it. No payment sent
through nginx meanwhile fails, with an Idempotency-Key or without (tests/ops/test_nginx_writes.py
shows how nginx passes each on).

The signal goes to the `python -m paybridge serve` process only, as `docker stop` sends it to
a container's main process."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket
from sqlmodel import select

from paybridge.models import Transaction
from tests.api.conftest import Caller
from tests.conftest import TestDatabase
from tests.ops.test_topology import PAYMENT, V1, PaymentStream, subscribe
from tests.ops.topology import Topology

pytestmark = pytest.mark.timeout(600)

# The instances' grace period (PAYBRIDGE_DRAIN_SECONDS, 20 by default: shorter here to keep the
# test quick). After SIGTERM an instance may take that, plus slack for a busy machine, to exit.
DRAIN_SECONDS = 6
EXIT_BOUND = DRAIN_SECONDS + 15


@pytest.fixture
def topology(
    db: TestDatabase, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Topology]:
    if db.is_sqlite:
        pytest.skip("several instances need PostgreSQL")
    monkeypatch.setenv("PAYBRIDGE_DRAIN_SECONDS", str(DRAIN_SECONDS))  # inherited by serve
    topo = Topology(database_url=db.url, redis_url=redis_url, workdir=tmp_path)
    try:
        yield topo
    finally:
        topo.stop()


class SlowRequest:
    """A POST sent to an instance in two parts, so it is in flight for as long as we like."""

    def __init__(self, port: int, token: str, reference: str) -> None:
        self.body = json.dumps({**PAYMENT, "reference": reference}).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        head = (
            f"POST {V1}/transactions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        self.sock.sendall(head.encode() + self.body[:20])

    def finish(self) -> tuple[int, bytes]:
        self.sock.sendall(self.body[20:])
        raw = b""
        while chunk := self.sock.recv(65536):
            raw += chunk
        self.sock.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), payload


def upstreams(access_log: Path) -> list[tuple[float, str, str]]:
    """(time, status, upstream address(es)) of every payment request nginx logged."""
    found = []
    for line in access_log.read_text().splitlines():
        entry = json.loads(line)
        if entry["uri"] == f"{V1}/transactions":
            logged = time.mktime(time.strptime(entry["ts"][:19], "%Y-%m-%dT%H:%M:%S"))
            found.append((logged, str(entry["status"]), entry["upstream"]))
    return found


def test_sigterm_drains_one_instance_while_the_other_takes_over(
    topology: Topology, db: TestDatabase, alice: Caller
) -> None:
    victim, survivor = topology.instances
    assert topology.nginx is not None
    in_flight = SlowRequest(victim.port, alice.token, "in-flight")
    live = subscribe(victim.url, alice.token)  # a long-lived websocket on the victim
    with (
        PaymentStream(topology.nginx.url, alice.token, "drain") as stream,
        PaymentStream(topology.nginx.url, alice.token, "keyed", idempotent=True) as keyed,
    ):
        results = stream.results
        time.sleep(2)
        before = len(results)
        started = time.monotonic()
        os.kill(victim.process.pid, signal.SIGTERM)
        time.sleep(1)
        status, body = in_flight.finish()  # the request it was serving still completes
        victim.process.wait(EXIT_BOUND)
        exited_after = time.monotonic() - started
        exited_at = time.time()
        during = len(results) - before
        time.sleep(2)  # and new requests keep being served

    assert status == 201, body
    # The instance went away within the bound, its websocket closed rather than left hanging.
    assert exited_after < EXIT_BOUND, exited_after
    live.settimeout(5)
    try:
        while live.recv():  # a close frame reads as "", a dropped connection raises
            pass
        closed = True
    except websocket.WebSocketTimeoutException:
        closed = False
    except (websocket.WebSocketException, OSError):
        closed = True
    live.close()
    assert closed
    # Every request through nginx succeeded: before, during the drain and after it.
    assert during > 0 and len(results) > before + during, (before, during, len(results))
    failed = [(ref, status, body) for ref, status, body in results + keyed.results if status != 201]
    assert not failed, failed[:5]
    # Once the victim was gone, nginx sent everything to the other instance.
    logged = upstreams(topology.nginx.dir / "access.log")
    later = [upstream for moment, _, upstream in logged if moment > exited_at + 1]
    assert later and set(later) == {f"127.0.0.1:{survivor.port}"}, later
    with db.session() as session:
        stored = set(session.exec(select(Transaction.reference)))
    assert "in-flight" in stored
    assert {ref for ref, _, _ in results + keyed.results} <= stored
    assert survivor.process.poll() is None


def test_a_request_that_never_finishes_does_not_keep_the_instance_alive(
    topology: Topology, alice: Caller
) -> None:
    """A client that stops sending halfway (or a stream that never ends) cannot hold a stopping
    instance forever: after the grace period its workers are stopped anyway."""
    victim = topology.instances[0]
    stuck = SlowRequest(victim.port, alice.token, "never-finished")
    started = time.monotonic()
    os.kill(victim.process.pid, signal.SIGTERM)
    victim.process.wait(EXIT_BOUND)
    waited = time.monotonic() - started
    assert DRAIN_SECONDS - 1 <= waited < EXIT_BOUND, waited  # it had its grace period, no more
    stuck.sock.settimeout(5)
    assert stuck.sock.recv(65536) == b""  # the connection was closed, not left open
    stuck.sock.close()

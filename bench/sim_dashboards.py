"""Simulated dashboards in a process of their own: N raw Reflex socket.io clients on one asyncio
loop, each running the dashboard's `load` event (so the app starts a live listener for it,
exactly as for a browser tab) and recording when a websocket frame first names each payment
reference. Used by live_latency.py and soak.py through `SimDashboards`: in the bench's own
process, 200 thread-based clients shared one GIL with the payment writers and measured their
own queueing as much as the app's.

Protocol (stdin/stdout, one JSON line each): after connecting it prints
{"connected": n, "refused": n}; then it reads {"refs": [...], "timeout": s}, waits until every
client has seen every ref (or the timeout passes), prints {"arrived": [{ref: epoch ms}, ...],
"updates": [n, ...], "gaps": [s, ...]} and exits. The session cookie comes in the PB_SIM_COOKIE
variable, or one per client (client n takes cookie n modulo their number) as a JSON list in
PB_SIM_COOKIES. A client's gap is the longest time between two of its updates after its first few:
a tab that pauses longer than the feed holds events skips feed lines.

Before that final request, any number of steps (`SimDashboards.step`, used by
live_capacity.py): {"step": {cookie index: [[ref, commit epoch ms], ...]}, "wait": s} waits until
every client has seen a reference committed at or after each of its cookie's payments (or `wait`
passes) and prints {"latencies": [ms, ...], "missed": n, "frames": n, "bytes": n} (frames and
bytes since the previous step), then forgets what was seen and keeps the clients connected.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

TXN_REFERENCE = r"txn_[0-9a-f]{24}"  # references transaction_create generates
SETTLED = 5  # updates before a client's gaps count (its first load and catch-up)
SAMPLES = 200  # payments a step measures per client at most (evenly spread over the step)


class SimDashboards:
    """The parent's side: this file in a child process, away from the caller's GIL (payment
    writers, Playwright, thread-based subscribers)."""

    def __init__(
        self,
        urls: list[str],
        cookie: str,
        load_event: str,
        clients: int,
        *,
        origin: str | None = None,
        references: str = TXN_REFERENCE,
        cookies: list[str] | None = None,
    ) -> None:
        command = [sys.executable, str(Path(__file__)), "--clients", str(clients),
                   "--load-event", load_event, "--references", references]  # fmt: skip
        for url in urls:
            command += ["--url", url]
        if origin:
            command += ["--origin", origin]
        env = {**os.environ, "PB_SIM_COOKIE": cookie}
        if cookies:
            env["PB_SIM_COOKIES"] = json.dumps(cookies)
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        ready = json.loads(self.process.stdout.readline() or "{}")
        self.connected, self.refused = ready.get("connected", 0), ready.get("refused", clients)

    def step(self, committed: dict[int, list[tuple[str, float]]], wait: float) -> dict:
        """Latency of each payment (commit -> first frame naming it or a later payment of the
        same merchant) at each client of its cookie; frames and bytes received since the last
        step. The clients stay connected."""
        request = {"step": {str(k): v for k, v in committed.items()}, "wait": wait}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def collect(self, refs: list[str], timeout: float) -> dict[str, list]:
        """Once every client has seen `refs` (or `timeout` passed): per client, the first frame
        time of each reference ("arrived"), its update count ("updates") and longest gap
        between updates in seconds ("gaps")."""
        self.process.stdin.write(json.dumps({"refs": refs, "timeout": timeout}) + "\n")
        self.process.stdin.flush()
        report = json.loads(self.process.stdout.readline())
        self.process.wait(30)
        return report


class SimDashboard:
    def __init__(self, references: re.Pattern[str]) -> None:
        import socketio

        self.references = references
        self.arrived: dict[str, float] = {}
        self.cookie_index = 0
        self.bytes = 0
        self.updates = 0
        self.counted = (0, 0)  # updates and bytes at the last step
        self.last_update = 0.0
        self.longest_gap = 0.0
        self.client = socketio.AsyncClient(reconnection=False, request_timeout=60)
        self.client.on("event", self._on_event, namespace="/_event")

    async def _on_event(self, data) -> None:  # type: ignore[no-untyped-def]
        at = time.time() * 1000
        now = time.monotonic()
        if self.updates > SETTLED:
            self.longest_gap = max(self.longest_gap, now - self.last_update)
        self.last_update = now
        self.updates += 1
        text = json.dumps(data)
        self.bytes += len(text)
        for reference in self.references.findall(text):
            self.arrived.setdefault(reference, at)

    async def start(self, url: str, cookie: str, load_event: str, origin: str | None) -> None:
        # As a browser on the app's origin (the app refuses an event websocket without one).
        headers = {"Cookie": cookie, "Origin": origin or url.rstrip("/")}
        await self.client.connect(
            f"{url}?token={uuid.uuid4()}",
            socketio_path="/_event",
            transports=["websocket"],
            namespaces=["/_event"],
            headers=headers,
            wait_timeout=60,  # a busy worker answers the namespace connect late
        )
        await self.client.emit(
            "event",
            {
                "name": load_event,
                "payload": {},
                "router_data": {"pathname": "/", "asPath": "/", "query": {}},
            },
            namespace="/_event",
        )


def step_latencies(
    dashboards: list[SimDashboard], committed: dict[int, list[list]]
) -> tuple[list[float], int]:
    """Per client and payment of its cookie's merchant: ms from commit to the first frame naming
    that payment or one committed later (a 10-row table skips most payments of a stream)."""
    latencies, missed = [], 0
    commit_at = {ref: at for payments in committed.values() for ref, at in payments}
    for d in dashboards:
        payments = sorted(committed.get(d.cookie_index, []), key=lambda p: p[1])
        if not payments:
            continue
        # arrivals of this merchant's payments, by commit time; the earliest arrival of any
        # payment committed at or after each point (a suffix minimum)
        seen = sorted((commit_at[r], t) for r, t in d.arrived.items() if r in commit_at)
        times = [c for c, _ in seen]
        suffix = [t for _, t in seen]
        for i in range(len(suffix) - 2, -1, -1):
            suffix[i] = min(suffix[i], suffix[i + 1])
        for _, at in payments[:: max(1, len(payments) // SAMPLES)]:
            i = bisect.bisect_left(times, at)
            if i < len(suffix):
                latencies.append(round(suffix[i] - at, 1))
            else:
                missed += 1
    return latencies, missed


async def steps(dashboards: list[SimDashboard], request: dict) -> None:
    committed = {int(k): v for k, v in request["step"].items()}
    wanted = {k: max(at for _, at in v) for k, v in committed.items() if v}
    last_ref = {k: max(v, key=lambda p: p[1])[0] for k, v in committed.items() if v}
    deadline = time.monotonic() + request["wait"]
    while time.monotonic() < deadline and not all(
        last_ref[d.cookie_index] in d.arrived for d in dashboards if d.cookie_index in wanted
    ):
        await asyncio.sleep(0.1)
    latencies, missed = step_latencies(dashboards, committed)
    report = {
        "latencies": latencies,
        "missed": missed,
        "frames": sum(d.updates - d.counted[0] for d in dashboards),
        "bytes": sum(d.bytes - d.counted[1] for d in dashboards),
    }
    for d in dashboards:
        d.arrived.clear()
        d.counted = (d.updates, d.bytes)
    print(json.dumps(report), flush=True)


async def run(args: argparse.Namespace) -> None:
    cookie = os.environ["PB_SIM_COOKIE"]
    cookies = json.loads(os.environ.get("PB_SIM_COOKIES") or "null") or [cookie]
    references = re.compile(args.references)
    dashboards: list[SimDashboard] = []
    refused = 0
    for n in range(args.clients):
        dashboard = SimDashboard(references)
        dashboard.cookie_index = n % len(cookies)
        try:
            await dashboard.start(
                args.url[n % len(args.url)], cookies[dashboard.cookie_index], args.load_event,
                args.origin,
            )  # fmt: skip
            dashboards.append(dashboard)
        except Exception as error:  # a saturated app may refuse the handshake
            refused += 1
            print(f"simulated dashboard {n + 1} could not connect: {error}", file=sys.stderr)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and min((d.updates for d in dashboards), default=2) < 2:
        await asyncio.sleep(0.2)  # every listener has sent its first reload
    print(json.dumps({"connected": len(dashboards), "refused": refused}), flush=True)
    loop = asyncio.get_running_loop()
    request = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    while "step" in request:
        await steps(dashboards, request)
        request = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    deadline = time.monotonic() + request["timeout"]
    while time.monotonic() < deadline and not all(
        all(ref in d.arrived for ref in request["refs"]) for d in dashboards
    ):
        await asyncio.sleep(0.2)
    print(
        json.dumps(
            {
                "arrived": [d.arrived for d in dashboards],
                "updates": [d.updates for d in dashboards],
                "gaps": [round(d.longest_gap, 3) for d in dashboards],
            }
        ),
        flush=True,
    )
    await asyncio.gather(*(d.client.disconnect() for d in dashboards), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", required=True, help="repeat: clients alternate")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--load-event", required=True)
    parser.add_argument("--origin", help="Origin header (the app's allowed UI origin)")
    parser.add_argument("--references", default=TXN_REFERENCE, help="regex of a reference")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

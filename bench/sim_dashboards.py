"""Simulated dashboards in a process of their own: N raw Reflex socket.io clients on one asyncio
loop, each running the dashboard's `load` event (so the app starts a live listener for it,
exactly as for a browser tab) and recording when a websocket frame first names each payment
reference. Used by live_latency.py: in the bench's own process, 200 thread-based clients
shared one GIL with the payment writers and measured their own queueing as much as the app's.

Protocol (stdin/stdout, one JSON line each): after connecting it prints
{"connected": n, "refused": n}; then it reads {"refs": [...], "timeout": s}, waits until every
client has seen every ref (or the timeout passes), prints {"arrived": [{ref: epoch ms}, ...],
"updates": [n, ...]} and exits. The session cookie comes in the PB_SIM_COOKIE variable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import uuid

REFERENCE = re.compile(r"txn_[0-9a-f]{24}")


class SimDashboard:
    def __init__(self) -> None:
        import socketio

        self.arrived: dict[str, float] = {}
        self.updates = 0
        self.client = socketio.AsyncClient(reconnection=False, request_timeout=60)
        self.client.on("event", self._on_event, namespace="/_event")

    async def _on_event(self, data) -> None:  # type: ignore[no-untyped-def]
        at = time.time() * 1000
        self.updates += 1
        for reference in REFERENCE.findall(json.dumps(data)):
            self.arrived.setdefault(reference, at)

    async def start(self, url: str, cookie: str, load_event: str) -> None:
        await self.client.connect(
            f"{url}?token={uuid.uuid4()}",
            socketio_path="/_event",
            transports=["websocket"],
            namespaces=["/_event"],
            headers={"Cookie": cookie},
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


async def run(url: str, clients: int, load_event: str) -> None:
    cookie = os.environ["PB_SIM_COOKIE"]
    dashboards: list[SimDashboard] = []
    refused = 0
    for n in range(clients):
        dashboard = SimDashboard()
        try:
            await dashboard.start(url, cookie, load_event)
            dashboards.append(dashboard)
        except Exception as error:  # a saturated app may refuse the handshake
            refused += 1
            print(f"simulated dashboard {n + 1} could not connect: {error}", file=sys.stderr)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and min((d.updates for d in dashboards), default=2) < 2:
        await asyncio.sleep(0.2)  # every listener has sent its first reload
    print(json.dumps({"connected": len(dashboards), "refused": refused}), flush=True)
    request = json.loads(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    deadline = time.monotonic() + request["timeout"]
    while time.monotonic() < deadline and not all(
        all(ref in d.arrived for ref in request["refs"]) for d in dashboards
    ):
        await asyncio.sleep(0.2)
    print(
        json.dumps(
            {"arrived": [d.arrived for d in dashboards], "updates": [d.updates for d in dashboards]}
        ),
        flush=True,
    )
    await asyncio.gather(*(d.client.disconnect() for d in dashboards), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--load-event", required=True)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.clients, args.load_event))


if __name__ == "__main__":
    main()

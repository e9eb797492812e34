"""The memory floor of an open dashboard: what one websocket costs Granian, the app's server,
with no framework behind it.

A bare ASGI app (this module's `app`: accept, echo) is served by Granian — the version and the
one-worker setup `reflex run --env prod` uses — pinned to --core; N websocket clients (aiohttp,
in this process) connect and exchange one message of --message-bytes each, as a dashboard's
first frame does. The server's RSS (all its processes) after they connected, less before, over
N. live_capacity.py runs it beside the app for its memory per dashboard.

    .venv/bin/python bench/granian_ws_floor.py --connections 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def app(scope, receive, send) -> None:
    """Accept a websocket and echo what it sends; enough HTTP and lifespan for Granian."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text") or ""})
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


async def connect_all(url: str, connections: int, message_bytes: int, measure) -> float:
    """Open the websockets, one message each way on every one; KiB of server RSS each."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        for _ in range(100):  # the server is starting
            try:
                warm = await client.ws_connect(url)
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        else:
            raise SystemExit(f"no websocket at {url}")
        await warm.send_str("x" * message_bytes)
        await warm.receive()
        await asyncio.sleep(1)
        before = measure()
        sockets = [await client.ws_connect(url) for _ in range(connections)]
        for socket in sockets:
            await socket.send_str("x" * message_bytes)
            await socket.receive()
        await asyncio.sleep(2)
        per_connection = (measure() - before) / connections
        for socket in [warm, *sockets]:
            await socket.close()
    return per_connection


def granian_kib_per_websocket(connections: int, core: int, message_bytes: int = 2000) -> float:
    """Start Granian on `app` pinned to `core`, connect, measure, stop."""
    from bench.live_latency import tree_rss_kib
    from tests.e2e.harness import free_port

    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, "-m", "granian", "--interface", "asgi",
         "--workers", "1", "--port", str(port), "--no-log", "bench.granian_ws_floor:app"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        return asyncio.run(
            connect_all(
                f"http://127.0.0.1:{port}/",
                connections,
                message_bytes,
                lambda: tree_rss_kib(server.pid),
            )
        )
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--message-bytes", type=int, default=2000)
    args = parser.parse_args()
    started = time.monotonic()
    kib = granian_kib_per_websocket(args.connections, args.core, args.message_bytes)
    print(json.dumps({"connections": args.connections, "kib_per_websocket": round(kib, 1),
                      "seconds": round(time.monotonic() - started, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()

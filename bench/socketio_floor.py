"""The floor for live_capacity.py: a bare python-socketio server (aiohttp, one process, no
Reflex, no state, no database) that does the least a live dashboard server must do. It speaks
to the same simulated dashboards (bench/sim_dashboards.py) on the same path and namespace as
Reflex (`/_event`), puts each client in the room of its session cookie's merchant when the
client sends its first event, takes the same Redis pub/sub messages the app takes (one
subscription for every channel, one JSON decode per message) and pushes each room a frame naming
the newest payments, padded to the size of the app's average frame, at most once per `--gap`
seconds (the app's fast-path pace), so that the clients receive as many frames of the same size.

    python bench/socketio_floor.py --port P --redis URL --frame-bytes 1500 --gap 0.05
        (PB_FLOOR_ROOMS: JSON {session cookie header: Redis channel})

Prints {"listening": port} once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

RECENT_ROWS = 10  # references a frame names, as the dashboard's table shows


class Floor:
    def __init__(self, rooms: dict[str, str], frame_bytes: int, gap: float) -> None:
        import socketio

        self.rooms, self.frame_bytes, self.gap = rooms, frame_bytes, gap
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
        self.room_of: dict[str, str] = {}
        self.pending: dict[str, list[str]] = {}
        self.last_sent: dict[str, float] = {}
        self.scheduled: set[str] = set()
        self.sio.on("connect", self.connect, namespace="/_event")
        self.sio.on("event", self.event, namespace="/_event")

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        room = self.rooms.get(environ.get("HTTP_COOKIE", ""))
        if room is None:
            return False
        self.room_of[sid] = room
        return True

    async def event(self, sid: str, data: Any) -> None:
        room = self.room_of.get(sid)
        if room is not None:
            await self.sio.enter_room(sid, room, namespace="/_event")
            for _ in range(2):  # as the app answers `load`: its state, then the first reload
                await self.sio.emit("event", self.frame(room, []), to=sid, namespace="/_event")

    def frame(self, room: str, references: list[str]) -> dict[str, Any]:
        """A Reflex-shaped update naming `references`, padded to the app's frame size."""
        update = {
            "delta": {"floor": {"recent": references, "pad": ""}},
            "events": [],
            "final": True,
        }
        short = self.frame_bytes - len(json.dumps(update))
        update["delta"]["floor"]["pad"] = "x" * max(short, 0)
        return update

    def heard(self, room: str, reference: str) -> None:
        self.pending.setdefault(room, []).append(reference)
        if room in self.scheduled:
            return
        self.scheduled.add(room)
        at = max(time.monotonic(), self.last_sent.get(room, 0.0) + self.gap)
        asyncio.get_running_loop().call_at(
            asyncio.get_running_loop().time() + (at - time.monotonic()),
            lambda: asyncio.ensure_future(self.flush(room)),
        )

    async def flush(self, room: str) -> None:
        self.scheduled.discard(room)
        references = self.pending.pop(room, [])[-RECENT_ROWS:][::-1]
        self.last_sent[room] = time.monotonic()
        if references:
            await self.sio.emit(
                "event", self.frame(room, references), room=room, namespace="/_event"
            )

    async def read_bus(self, redis_url: str) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        channels = sorted(set(self.rooms.values()))
        for start in range(0, len(channels), 500):
            await pubsub.subscribe(*channels[start : start + 500])
        while True:
            raw = await pubsub.get_message(timeout=1.0)
            if raw is None or raw["type"] != "message":
                continue
            channel = raw["channel"].decode()
            message = json.loads(raw["data"])
            reference = (message.get("payload") or {}).get("reference")
            if isinstance(reference, str):
                self.heard(channel, reference)


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    floor = Floor(json.loads(os.environ["PB_FLOOR_ROOMS"]), args.frame_bytes, args.gap)
    app = web.Application()
    floor.sio.attach(app, socketio_path="_event")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    reader = asyncio.create_task(floor.read_bus(args.redis))
    print(json.dumps({"listening": args.port}), flush=True)
    await reader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--frame-bytes", type=int, default=1500)
    parser.add_argument("--gap", type=float, default=0.05)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()

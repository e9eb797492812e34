"""Fan-out of committed events to live subscribers: in memory by default, Redis pub/sub when
REDIS_URL is set (so every worker and every app instance hears every write).

Delivery is best effort. A subscriber that falls behind or misses a message catches up from the
outbox by event id; a failed publish is logged and never fails the write that caused it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any, Protocol

from paybridge.settings import get_settings

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "paybridge:events:"
QUEUE_SIZE = 1000


def channel_for(merchant_id: int) -> str:
    return f"{CHANNEL_PREFIX}{merchant_id}"


class Bus(Protocol):
    def publish(self, message: dict[str, Any]) -> None: ...

    def subscribe(self, merchant_id: int) -> AsyncIterator[dict[str, Any]]: ...


class MemoryBus:
    """One process: subscribers are asyncio queues, fed thread-safely from sync services."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = {}

    def publish(self, message: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers.get(message["merchant_id"], ()))
        for loop, queue in targets:
            loop.call_soon_threadsafe(_offer, queue, message)

    async def subscribe(self, merchant_id: int) -> AsyncIterator[dict[str, Any]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue(QUEUE_SIZE))
        with self._lock:
            self._subscribers.setdefault(merchant_id, set()).add(entry)
        try:
            while True:
                yield await entry[1].get()
        finally:
            with self._lock:
                self._subscribers.get(merchant_id, set()).discard(entry)


def _offer(queue: asyncio.Queue, message: dict[str, Any]) -> None:
    """Drop on overflow: the subscriber sees a gap in ids and reloads from the outbox."""
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(message)


class RedisBus:
    """Redis pub/sub, one channel per merchant."""

    def __init__(self, url: str) -> None:
        from paybridge.redis_client import redis_for

        self._url = url
        self._client = redis_for(url)

    def publish(self, message: dict[str, Any]) -> None:
        self._client.publish(channel_for(message["merchant_id"]), json.dumps(message))

    async def subscribe(self, merchant_id: int) -> AsyncIterator[dict[str, Any]]:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self._url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel_for(merchant_id))
            async for raw in pubsub.listen():
                if raw.get("type") == "message":
                    yield json.loads(raw["data"])
        finally:
            await pubsub.aclose()
            await client.aclose()


_bus: Bus | None = None
_bus_lock = threading.Lock()


def get_bus() -> Bus:
    global _bus
    with _bus_lock:
        if _bus is None:
            url = get_settings().redis_url
            _bus = RedisBus(url) if url else MemoryBus()
        return _bus


def reset_bus() -> None:
    """Forget the current bus (tests switch between memory and Redis)."""
    global _bus
    with _bus_lock:
        _bus = None


def publish_events(messages: list[dict[str, Any]]) -> None:
    bus = get_bus()
    for message in messages:
        try:
            bus.publish(message)
        except Exception:  # the outbox row is committed; subscribers will catch up from it
            log.warning("event bus publish failed for event %s", message.get("id"), exc_info=True)

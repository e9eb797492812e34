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
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from paybridge.settings import get_settings

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "paybridge:events:"
QUEUE_SIZE = 1000


def channel_for(merchant_id: int) -> str:
    return f"{CHANNEL_PREFIX}{merchant_id}"


class Bus(Protocol):
    def publish(self, message: dict[str, Any]) -> None: ...

    def listen(self, merchant_id: int) -> AbstractAsyncContextManager[asyncio.Queue]: ...

    def subscribe(self, merchant_id: int) -> AsyncIterator[dict[str, Any]]: ...


async def _iterate(bus: Bus, merchant_id: int) -> AsyncIterator[dict[str, Any]]:
    async with bus.listen(merchant_id) as queue:
        while True:
            yield await queue.get()


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

    @asynccontextmanager
    async def listen(self, merchant_id: int) -> AsyncIterator[asyncio.Queue]:
        """Subscribed when entered: a queue of this merchant's messages from then on."""
        entry = (asyncio.get_running_loop(), asyncio.Queue(QUEUE_SIZE))
        with self._lock:
            self._subscribers.setdefault(merchant_id, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._subscribers.get(merchant_id, set()).discard(entry)

    def subscribe(self, merchant_id: int) -> AsyncIterator[dict[str, Any]]:
        return _iterate(self, merchant_id)


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

    @asynccontextmanager
    async def listen(self, merchant_id: int) -> AsyncIterator[asyncio.Queue]:
        """SUBSCRIBE has been acknowledged when this is entered, so nothing published after
        entering is missed; a reader task fills the queue until exit."""
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self._url, socket_connect_timeout=2)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)

        async def pump() -> None:
            async for raw in pubsub.listen():
                if raw.get("type") == "message":
                    _offer(queue, json.loads(raw["data"]))

        try:
            await pubsub.subscribe(channel_for(merchant_id))
            reader = asyncio.create_task(pump())
            try:
                yield queue
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        finally:
            await pubsub.aclose()
            await client.aclose()

    def subscribe(self, merchant_id: int) -> AsyncIterator[dict[str, Any]]:
        return _iterate(self, merchant_id)


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

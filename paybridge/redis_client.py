"""One shared Redis client per URL (thread-safe connection pool), or None without REDIS_URL; and
for code on an event loop, one asyncio client per (loop, URL), since an asyncio connection
belongs to the loop that opened it."""

from __future__ import annotations

import asyncio
import threading
import weakref
from functools import lru_cache

import redis
import redis.asyncio

from paybridge.settings import get_settings


@lru_cache(maxsize=4)
def redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def get_redis() -> redis.Redis | None:
    url = get_settings().redis_url
    return redis_for(url) if url else None


_LoopClients = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, redis.asyncio.Redis]]
_loop_clients: _LoopClients = weakref.WeakKeyDictionary()
_loop_clients_lock = threading.Lock()


def get_async_redis() -> redis.asyncio.Redis | None:
    """The running loop's client for REDIS_URL (None without it); call it on the loop."""
    url = get_settings().redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
    with _loop_clients_lock:
        clients = _loop_clients.setdefault(loop, {})
        client = clients.get(url)
        if client is None:
            client = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            clients[url] = client
    return client

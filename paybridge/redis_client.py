"""One shared Redis client per URL (thread-safe connection pool), or None without REDIS_URL."""

from __future__ import annotations

from functools import lru_cache

import redis

from paybridge.settings import get_settings


@lru_cache(maxsize=4)
def redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def get_redis() -> redis.Redis | None:
    url = get_settings().redis_url
    return redis_for(url) if url else None

"""Per-credential rate limits: a fixed window counter in Redis when REDIS_URL is set (shared by
every worker and instance), in this process otherwise.

A request is counted by one Redis command (`COUNT_SCRIPT`: the increment and, on the window's
first request, the key's expiry, atomically). The API counts on the event loop with an asyncio
client (`check_rate_limit_async`): a thread hop to count with the blocking client cost more
CPU than the round trip itself.

`PAYBRIDGE_API_RATE_LIMIT` is "<requests>/<seconds>" (default "100/1"; "0" turns limits off).
`PAYBRIDGE_API_RATE_LIMIT_PREFIX` namespaces the Redis keys (tests use a unique one).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from dataclasses import dataclass

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import NoScriptError

from paybridge.api.errors import ApiError
from paybridge.redis_client import get_async_redis, get_redis

log = logging.getLogger(__name__)

DEFAULT_LIMIT = "100/1"


@dataclass(frozen=True)
class Limit:
    requests: int
    seconds: int


def current_limit() -> Limit | None:
    raw = os.environ.get("PAYBRIDGE_API_RATE_LIMIT", DEFAULT_LIMIT).strip()
    if raw in ("", "0", "off"):
        return None
    count, _, seconds = raw.partition("/")
    try:
        limit = Limit(int(count), int(seconds or 1))
    except ValueError:
        limit = Limit(0, 0)
    if limit.requests < 1 or limit.seconds < 1:
        log.warning("PAYBRIDGE_API_RATE_LIMIT=%r is not <requests>/<seconds>; using %s", raw,
                    DEFAULT_LIMIT)  # fmt: skip
        count, _, seconds = DEFAULT_LIMIT.partition("/")
        return Limit(int(count), int(seconds))
    return limit


def _prefix() -> str:
    return os.environ.get("PAYBRIDGE_API_RATE_LIMIT_PREFIX", "paybridge:ratelimit")


_lock = threading.Lock()
_memory: dict[str, tuple[int, int]] = {}  # key -> (window number, count)


def _hit_memory(key: str, window: int) -> int:
    with _lock:
        if len(_memory) > 10_000:  # forget windows that are over
            for stale in [k for k, (w, _) in _memory.items() if w < window]:
                del _memory[stale]
        seen_window, count = _memory.get(key, (window, 0))
        count = count + 1 if seen_window == window else 1
        _memory[key] = (window, count)
        return count


# The window's counter, incremented; a new counter expires a second after its window ends.
COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _redis_key(key: str, window: int, seconds: int) -> str:
    return f"{_prefix()}:{key}:{seconds}:{window}"


_COUNT_SHA = hashlib.sha1(COUNT_SCRIPT.encode()).hexdigest()  # how Redis names a script


def _hit_redis(client: Redis, key: str, window: int, seconds: int) -> int:
    name, ttl = _redis_key(key, window, seconds), seconds + 1
    try:
        return int(client.evalsha(_COUNT_SHA, 1, name, ttl))  # type: ignore[arg-type]
    except NoScriptError:  # a Redis that has not seen it yet (EVAL keeps it)
        return int(client.eval(COUNT_SCRIPT, 1, name, ttl))  # type: ignore[arg-type]


async def _hit_redis_async(client: AsyncRedis, key: str, window: int, seconds: int) -> int:
    name, ttl = _redis_key(key, window, seconds), seconds + 1
    try:
        return int(await client.evalsha(_COUNT_SHA, 1, name, ttl))  # type: ignore[misc]
    except NoScriptError:
        return int(await client.eval(COUNT_SCRIPT, 1, name, ttl))  # type: ignore[misc]


def check_rate_limit(key: str) -> None:
    """Count one request of `key`; raise 429 `rate_limited` with Retry-After past the limit."""
    limit = current_limit()
    if limit is None:
        return
    now = time.time()
    window = int(now // limit.seconds)
    redis = get_redis()
    if redis is None:
        count = _hit_memory(key, window)
    else:
        try:
            count = _hit_redis(redis, key, window, limit.seconds)
        except Exception:  # Redis down: do not take the API down with it
            log.warning("rate limit check failed; allowing the request", exc_info=True)
            return
    _refuse_past(limit, count, now, window)


async def check_rate_limit_async(key: str) -> None:
    """`check_rate_limit` on the event loop, the same counter without a thread."""
    limit = current_limit()
    if limit is None:
        return
    now = time.time()
    window = int(now // limit.seconds)
    redis = get_async_redis()
    if redis is None:
        count = _hit_memory(key, window)
    else:
        try:
            count = await _hit_redis_async(redis, key, window, limit.seconds)
        except Exception:  # Redis down: do not take the API down with it
            log.warning("rate limit check failed; allowing the request", exc_info=True)
            return
    _refuse_past(limit, count, now, window)


def _refuse_past(limit: Limit, count: int, now: float, window: int) -> None:
    if count > limit.requests:
        retry_after = max(1, math.ceil((window + 1) * limit.seconds - now))
        raise ApiError(
            "rate_limited",
            f"Too many requests: at most {limit.requests} per {limit.seconds} s. "
            f"Retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def reset_memory() -> None:
    with _lock:
        _memory.clear()

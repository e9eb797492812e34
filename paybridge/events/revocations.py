"""Revoked credentials, told to every process at once, so that caches of credentials can be
trusted: the API keeps who a token or key belongs to for a while instead of asking the
database on every request, and drops the entry the moment it is revoked anywhere.

A service that ends sessions, revokes a key or changes a person's role calls
`announce_revocation` (it goes out after the commit): the API's credential cache forgets what it
held for them, and their open tabs read their identity again (`paybridge/state/access.py`).
Every process that caches credentials registers with `watch_revocations`. With REDIS_URL the
notice travels on a Redis pub/sub channel (namespaced like the event bus) read by one thread per
process, and the announcing process hears it at once as well; without it, within the process.
A watcher is only `live` while its subscription is unbroken: before it is confirmed and after it
drops, caches must not serve entries (a notice may have been missed), and when it comes back
they are told to forget everything (`on_revoked(None)`). `epoch()` changes with every notice
heard, so a cache can tell that a notice arrived while it was reading the database and not keep
what it read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from paybridge.db import run_after_commit
from paybridge.settings import get_settings

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "paybridge:revoked:"


@dataclass(frozen=True)
class Revocation:
    api_key_ids: tuple[int, ...] = ()
    session_ids: tuple[int, ...] = ()
    user_ids: tuple[int, ...] = ()  # every session of these people

    def as_json(self) -> str:
        return json.dumps(
            {"api_key_ids": self.api_key_ids, "session_ids": self.session_ids,
             "user_ids": self.user_ids}
        )  # fmt: skip

    @classmethod
    def from_json(cls, raw: bytes | str) -> Revocation:
        data = json.loads(raw)
        return cls(
            api_key_ids=tuple(int(i) for i in data.get("api_key_ids", ())),
            session_ids=tuple(int(i) for i in data.get("session_ids", ())),
            user_ids=tuple(int(i) for i in data.get("user_ids", ())),
        )


Watcher = Callable[[Revocation | None], None]

_lock = threading.Lock()
_watchers: list[Watcher] = []
_epoch = 0
_live = False
_thread: threading.Thread | None = None
_thread_url: str | None = None


def announce_revocation(revocation: Revocation) -> None:
    """Tell every process, once the caller's transaction has committed."""
    run_after_commit(lambda: _send(revocation))


def watch_revocations(on_revoked: Watcher) -> None:
    """Call `on_revoked(revocation)` for every notice from now on, and `on_revoked(None)` when
    notices may have been missed (forget everything)."""
    with _lock:
        if on_revoked not in _watchers:
            _watchers.append(on_revoked)
    _ensure_listening()


def live() -> bool:
    """Whether every notice since the watcher started has been heard."""
    _ensure_listening()
    return _live


def epoch() -> int:
    return _epoch


def _send(revocation: Revocation) -> None:
    url = get_settings().redis_url
    if url:
        from paybridge.redis_client import redis_for

        try:
            redis_for(url).publish(_channel(), revocation.as_json())
        except Exception:  # caches elsewhere expire on their own; this process drops now
            log.warning("revocation notice not sent through Redis", exc_info=True)
    # This process hears it before the writer answers, not a moment later through Redis: the
    # next request here (a demoted person's, say) is never served from a stale entry. Its
    # echo from Redis is delivered again, which forgets nothing more.
    _deliver(revocation)


def _deliver(revocation: Revocation | None) -> None:
    global _epoch
    with _lock:
        _epoch += 1
        watchers = list(_watchers)
    for watcher in watchers:
        try:
            watcher(revocation)
        except Exception:
            log.exception("a revocation watcher failed")


def _channel() -> str:
    from paybridge.events.bus import bus_namespace

    return CHANNEL_PREFIX + bus_namespace()


def _ensure_listening() -> None:
    """Without Redis notices come from this process only, so the watcher is always live; with
    Redis a thread subscribes (again, if the URL changed: tests switch)."""
    global _live, _thread, _thread_url
    url = get_settings().redis_url
    if not url:
        _live = True
        return
    with _lock:
        if _thread is not None and _thread.is_alive() and _thread_url == url:
            return
        _live = False
        _thread_url = url
        _thread = threading.Thread(
            target=_listen, args=(url,), name="revocation-watcher", daemon=True
        )
        _thread.start()


def _listen(url: str) -> None:
    global _live
    import redis

    failures = 0
    while _thread_url == url and get_settings().redis_url == url:
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=10)
            pubsub = client.pubsub()
            pubsub.subscribe(_channel())
            while _thread_url == url:
                # Waits at most a second; a dead connection raises (health checks ping it).
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    _deliver(None)  # anything cached before now may have missed a notice
                    _live, failures = True, 0
                elif message["type"] == "message":
                    try:
                        _deliver(Revocation.from_json(message["data"]))
                    except (ValueError, TypeError, AttributeError):
                        log.warning("skipped a malformed revocation notice")
        except Exception:
            failures += 1
            if failures == 1:  # once per outage, not every second of it
                log.warning("revocation notices lost their Redis connection", exc_info=True)
        if _thread_url != url:  # replaced by a watcher of another Redis (tests)
            return
        _live = False
        _deliver(None)
        time.sleep(1)

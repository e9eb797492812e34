"""Login throttling: each failure for a key (an email, a client address) makes the next attempt
wait longer, and enough failures lock the key out for a while. Redis when configured (shared by
every worker and instance), the database otherwise.

Policy, in one place:
- counters reset 15 minutes after the last failure (and an email's on a successful login);
- from the 3rd failure on, the key must wait 2**(n-3) seconds (1, 2, 4, ... capped at 60);
- at 10 failures of an email, or 50 of a client, it is locked for 15 minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from paybridge.db import utcnow, write_session
from paybridge.errors import DomainError
from paybridge.models import LoginFailure
from paybridge.redis_client import get_redis as _redis

WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
SLOWDOWN_FROM = 3
MAX_DELAY = 60
LOCK_AT = {"email": 10, "client": 50}


def wait_seconds(key: str, failures: int, last_failure_at: datetime, now: datetime) -> int:
    """How long `key` must still wait before another attempt (0: go ahead)."""
    if now - last_failure_at >= WINDOW:
        return 0
    if failures >= LOCK_AT.get(key.split(":", 1)[0], LOCK_AT["email"]):
        return _ceil_seconds(last_failure_at + LOCKOUT - now)
    if failures >= SLOWDOWN_FROM:
        delay = timedelta(seconds=min(2 ** (failures - SLOWDOWN_FROM), MAX_DELAY))
        return _ceil_seconds(last_failure_at + delay - now)
    return 0


class TooManyAttempts(DomainError):
    """`too_many_attempts`, with how long the caller must wait (the API's `Retry-After`)."""

    def __init__(self, retry_after: int) -> None:
        minutes = (retry_after + 59) // 60
        when = (
            f"{retry_after} second{'s' if retry_after != 1 else ''}"
            if retry_after < 120
            else f"{minutes} minutes"
        )
        super().__init__("too_many_attempts", f"Too many failed attempts. Try again in {when}.")
        self.retry_after = retry_after


def check(*keys: str) -> None:
    """Raise `TooManyAttempts` while any of `keys` must still wait."""
    now = utcnow()
    wait = max((wait_seconds(k, n, last, now) for k, (n, last) in _load(keys).items()), default=0)
    if wait > 0:
        raise TooManyAttempts(wait)


def record_failure(*keys: str) -> None:
    now = utcnow()
    redis = _redis()
    if redis is not None:
        pipe = redis.pipeline()
        for key in keys:
            name = f"paybridge:login:{key}"
            pipe.hincrby(name, "failures", 1)
            pipe.hset(name, "last", now.timestamp())
            pipe.expire(name, int((WINDOW + LOCKOUT).total_seconds()))
        pipe.execute()
        return
    with write_session() as session:
        for key in keys:
            row = session.get(LoginFailure, key)
            if row is None or now - row.last_failure_at >= WINDOW + LOCKOUT:
                row = LoginFailure(key=key, failures=0, last_failure_at=now)
            row.failures += 1
            row.last_failure_at = now
            session.add(row)
        session.commit()


def reset(key: str) -> None:
    redis = _redis()
    if redis is not None:
        redis.delete(f"paybridge:login:{key}")
        return
    with write_session() as session:
        row = session.get(LoginFailure, key)
        if row is not None:
            session.delete(row)
            session.commit()


def _load(keys: tuple[str, ...]) -> dict[str, tuple[int, datetime]]:
    redis = _redis()
    if redis is not None:
        result = {}
        for key in keys:
            data = redis.hgetall(f"paybridge:login:{key}")
            if data:
                last = datetime.fromtimestamp(float(data[b"last"]), UTC)
                result[key] = (int(data[b"failures"]), last)
        return result
    with write_session() as session:
        rows = session.exec(select(LoginFailure).where(LoginFailure.key.in_(keys))).all()
        return {row.key: (row.failures, row.last_failure_at) for row in rows}


def _ceil_seconds(delta: timedelta) -> int:
    return max(0, int(-(-delta.total_seconds() // 1)))

"""Attempt counters that hold under concurrency: an attempt is counted atomically BEFORE the
work it guards (a password check, a sign-up's bcrypt hash), so however many requests arrive at
once, at most `limit` of them per window get past. Redis (`INCR` with an expiry, in one
script) when REDIS_URL is set, shared by every worker and instance; otherwise one upsert per
counter on the database, which serialises concurrent attempts on the counter's row.

Windows are fixed: a counter starts with its first attempt and is forgotten `window` later.
Work that turns out fine gives its attempt back (`refund`), so only failures use up a limit.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, delete, update

from paybridge.db import utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events.bus import bus_namespace
from paybridge.models import ThrottleCounter
from paybridge.models.tables import table_of
from paybridge.redis_client import get_redis


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window: timedelta


def _signups_per_hour() -> int:
    raw = os.environ.get("PAYBRIDGE_SIGNUPS_PER_HOUR", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 100


# The policy, in one place.
LOGIN_ACCOUNT = Rule("login-account", 10, timedelta(minutes=15))  # from devices not seen before
LOGIN_ADDRESS = Rule("login-address", 50, timedelta(minutes=15))  # any account, one address
LOGIN_DEVICE = Rule("login-device", 10, timedelta(minutes=15))  # a device that signed in before
# A signed-in person typing their password again before a grave change (services/account.py):
# a stolen session cannot guess it faster than a login could.
PASSWORD_CONFIRM = Rule("password-confirm", 10, timedelta(minutes=15))
SIGNUP_ADDRESS = Rule("signup-address", 5, timedelta(hours=1))
SIGNUP_TOTAL = Rule("signup-total", _signups_per_hour(), timedelta(hours=1))

Hit = tuple[Rule, str]  # a rule and what it counts (an email, an address, a device id)


class TooManyAttempts(DomainError):
    """`too_many_attempts`, with how long the caller must wait (the API's `Retry-After`).
    `refused` names the rules that refused; `first` is true for the first refusal of a
    window, so that it can be reported once rather than once per request."""

    def __init__(self, retry_after: int, refused: tuple[Rule, ...], first: bool) -> None:
        minutes = (retry_after + 59) // 60
        when = (
            f"{retry_after} second{'s' if retry_after != 1 else ''}"
            if retry_after < 120
            else f"{minutes} minutes"
        )
        super().__init__("too_many_attempts", f"Too many attempts. Try again in {when}.")
        self.retry_after = retry_after
        self.refused = refused
        self.first = first


def counter_key(rule: Rule, value: str) -> str:
    """Counters are keyed by a hash: any input (NUL bytes included) makes a safe key, and the
    counters hold no email or IP addresses."""
    digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:40]
    return f"{rule.name}:{digest}"


def attempt(*hits: Hit) -> None:
    """Count one attempt on each counter in turn; raise `TooManyAttempts` at the first one past
    its limit. That one keeps the attempt (hammering a locked key does not shorten its window)
    and the counters after it never see it: sign-ups one address was refused do not use up
    everyone's total."""
    keys = [counter_key(rule, value) for rule, value in hits]
    counted = _count_redis(keys, hits) if get_redis() is not None else _count_db(keys, hits)
    for (rule, _), (count, left) in zip(hits, counted, strict=False):
        if count > rule.limit:
            raise TooManyAttempts(retry_after=left, refused=(rule,), first=count == rule.limit + 1)


def refund(*hits: Hit) -> None:
    """Give an attempt back (it succeeded), unless its window has ended since."""
    keys = [counter_key(rule, value) for rule, value in hits]
    redis = get_redis()
    if redis is not None:
        redis.eval(_REFUND, len(keys), *[_redis_key(k) for k in keys])
        return
    with write_session() as session:
        for key in sorted(keys):
            session.exec(
                update(ThrottleCounter)
                .where(
                    col(ThrottleCounter.key) == key,
                    col(ThrottleCounter.count) > 0,
                    col(ThrottleCounter.window_ends_at) > utcnow(),
                )
                .values(count=col(ThrottleCounter.count) - 1)
            )
        session.commit()


def clear(*hits: Hit) -> None:
    """Forget counters (an operator unlocking an account; tests)."""
    keys = [counter_key(rule, value) for rule, value in hits]
    redis = get_redis()
    if redis is not None:
        redis.delete(*[_redis_key(k) for k in keys])
        return
    with write_session() as session:
        session.exec(delete(ThrottleCounter).where(col(ThrottleCounter.key).in_(keys)))
        session.commit()


# --- Redis ---------------------------------------------------------------------------------

# KEYS: counters; ARGV: each one's limit, then each one's window in ms. Returns count, ms
# left, count, ms left, ... up to the first counter past its limit.
_COUNT = """
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local left = redis.call('PTTL', key)
  if left < 0 then
    redis.call('PEXPIRE', key, ARGV[#KEYS + i])
    left = tonumber(ARGV[#KEYS + i])
  end
  out[#out + 1] = count
  out[#out + 1] = left
  if count > tonumber(ARGV[i]) then break end
end
return out
"""

_REFUND = """
for _, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count > 0 then redis.call('DECR', key) end
end
return 0
"""


def _redis_key(key: str) -> str:
    """Namespaced like the event bus: a Redis shared with another deployment (or test run)
    does not mix their counters."""
    return f"paybridge:throttle:{bus_namespace()}:{key}"


def _count_redis(keys: list[str], hits: tuple[Hit, ...]) -> list[tuple[int, int]]:
    redis = get_redis()
    assert redis is not None
    limits = [rule.limit for rule, _ in hits]
    windows = [int(rule.window.total_seconds() * 1000) for rule, _ in hits]
    # redis-py types `eval` as returning `str`; a Lua table comes back as a list of integers.
    flat = cast(
        "list[int]",
        redis.eval(_COUNT, len(keys), *[_redis_key(k) for k in keys], *limits, *windows),
    )
    return [(int(flat[i]), _ceil_seconds(int(flat[i + 1]) / 1000)) for i in range(0, len(flat), 2)]


# --- database ------------------------------------------------------------------------------


def _count_db(keys: list[str], hits: tuple[Hit, ...]) -> list[tuple[int, int]]:
    """One `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` per counter: PostgreSQL runs
    concurrent ones on the same key one after the other on its row lock, and SQLite has one
    writer; either way each attempt sees its own count. Every caller lists its rules in one
    fixed order, so two attempts never wait for each other's rows in a cycle."""
    now = utcnow()
    results: list[tuple[int, int]] = []
    with write_session() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = table_of(ThrottleCounter)
        for key, (rule, _) in zip(keys, hits, strict=True):
            statement = insert(table).values(key=key, count=1, window_ends_at=now + rule.window)
            expired = table.c.window_ends_at <= now
            upsert = statement.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "count": sa.case((expired, 1), else_=table.c.count + 1),
                    "window_ends_at": sa.case(
                        (expired, statement.excluded.window_ends_at), else_=table.c.window_ends_at
                    ),
                },
            ).returning(table.c.count, table.c.window_ends_at)
            count, ends_at = session.execute(upsert).one()
            results.append((int(count), _seconds_until(ends_at, now)))
            if count > rule.limit:
                break
        if random.random() < 0.01:  # one attempt in a hundred also forgets ended windows
            session.exec(delete(ThrottleCounter).where(col(ThrottleCounter.window_ends_at) < now))
        session.commit()
    return results


def _seconds_until(moment: datetime, now: datetime) -> int:
    if moment.tzinfo is None:  # SQLite keeps no offset; every stored time is UTC
        moment = moment.replace(tzinfo=UTC)
    return _ceil_seconds((moment - now).total_seconds())


def _ceil_seconds(seconds: float) -> int:
    return max(1, int(-(-seconds // 1)))

"""A merchant's withdrawals and refunds take turns in this process, waiting on the event loop
rather than holding a database connection.

They run one at a time anyway: each holds the merchant's balance lock from its balance check to
its write (`services/locks.py`). A request that waited for that lock waited holding one of this
process's pooled connections, so a storm of one merchant's money writes took the whole pool and
every other merchant's request in the process got 503 after PAYBRIDGE_DB_POOL_TIMEOUT. Every
interface (REST, GraphQL, the withdraw dialog) enters `money_write_turn` before it goes to a
thread and the database, so one merchant holds at most one connection of a process for them.
Across processes and instances PostgreSQL's row lock still orders them; this only keeps the
waiters off the pool.

Bounded, for that merchant alone: more than `MAX_WAITING` writes waiting, or a wait longer than
`MAX_WAIT_SECONDS`, is refused at once with 429 `too_many_concurrent_writes` and Retry-After.
A merchant with nothing holding or waiting has no entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from paybridge import metrics
from paybridge.errors import DomainError

MAX_WAITING = 256  # per merchant and process, besides the one whose turn it is: a waiter costs
# no connection, and at ~10 ms a write 256 are served within MAX_WAIT_SECONDS; 32 refused a
# burst of 160 withdrawals and refunds over four processes that the database served in time
MAX_WAIT_SECONDS = 5.0  # below Reflex's 10 s state lock and PostgreSQL's lock_timeout
RETRY_AFTER_SECONDS = 1


class ConcurrentWritesRefused(DomainError):
    """Too many of this merchant's money writes at once in this process (HTTP 429)."""

    retry_after = RETRY_AFTER_SECONDS

    def __init__(self) -> None:
        super().__init__(
            "too_many_concurrent_writes",
            "Too many withdrawals and refunds of this account at once; nothing was changed. "
            f"Retry in {RETRY_AFTER_SECONDS} s.",
        )


@dataclass
class _Turns:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    entered: int = 0  # holding or waiting


# Keyed by loop too: an asyncio.Lock belongs to one event loop (a Granian worker has one; tests
# may run several).
_turns: dict[tuple[asyncio.AbstractEventLoop, int], _Turns] = {}


def waiting_merchants() -> int:
    """Merchants with a money write holding or waiting a turn in this process."""
    return len(_turns)


@asynccontextmanager
async def money_write_turn(merchant_id: int) -> AsyncIterator[None]:
    """Wait (on the event loop, FIFO) until no other money write of this merchant runs in this
    process; raise ConcurrentWritesRefused when too many wait or the wait is too long."""
    key = (asyncio.get_running_loop(), merchant_id)
    turns = _turns.get(key)
    if turns is None:
        turns = _turns[key] = _Turns()
    if turns.entered > MAX_WAITING:
        metrics.increment("money_writes_refused")
        raise ConcurrentWritesRefused()
    turns.entered += 1
    try:
        try:
            async with asyncio.timeout(MAX_WAIT_SECONDS):
                await turns.lock.acquire()
        except TimeoutError:
            metrics.increment("money_writes_refused")
            raise ConcurrentWritesRefused() from None
        try:
            yield
        finally:
            turns.lock.release()
    finally:
        turns.entered -= 1
        if turns.entered == 0:
            del _turns[key]

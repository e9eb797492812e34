"""One reader of the outbox per process, handing each newly committed event to local listeners.

Two kinds of listener need every committed event, not just the bus's fast path:
- without Redis, the in-memory bus only hears writes made in this process; the app's lifespan
  task (`relay_outbox`) republishes every outbox event on it, so payments made by the CLI, the
  worker or another process still reach open dashboards (subscribers drop duplicates by id);
- a GraphQL subscription streams its merchant's events from the outbox, never from a bus
  message (which may be lost, or come from another deployment on the same Redis).

Both share one `OutboxTail` per event loop, read every `POLL_SECONDS` while anyone listens and at
once when the bus says a listened merchant has news, so an event committed after a higher id was
read still arrives (see paybridge.events.tail), and 100 subscriptions cost one query a read
instead of 100.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from paybridge.db import read_session
from paybridge.events.bus import get_bus
from paybridge.events.outbox import event_message
from paybridge.events.tail import OutboxTail, gap_seconds_from_env
from paybridge.settings import get_settings

log = logging.getLogger(__name__)
# an indexed "id > last" read: 20 a second cost nothing; at 250 ms it was most of the latency
POLL_SECONDS = 0.05
BATCH = 500
RETRY_SECONDS = 1.0  # after a failed read (not 20 warnings a second while the database is down)

Message = dict[str, Any]
Deliver = Callable[[Message], None]
EVERY_MERCHANT = None


class OutboxRelay:
    """Runs while it has listeners; the first listener starts it at the newest event."""

    def __init__(self) -> None:
        self._listeners: dict[int | None, set[Deliver]] = {}
        self._tail = OutboxTail()
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._wake = asyncio.Event()
        self._bus_watches: dict[int, asyncio.Task[None]] = {}

    @contextlib.asynccontextmanager
    async def listen(self, merchant_id: int | None, deliver: Deliver) -> AsyncIterator[int]:
        """Call `deliver` (on the event loop) with each event of the merchant (of every
        merchant for `EVERY_MERCHANT`) that becomes visible from now on. Yields the position:
        events with a higher id, or committed late below it, will be delivered; those already
        visible up to it are the listener's to read."""
        await self._start()
        listeners = self._listeners.setdefault(merchant_id, set())
        listeners.add(deliver)
        if merchant_id is not EVERY_MERCHANT and merchant_id not in self._bus_watches:
            self._bus_watches[merchant_id] = asyncio.create_task(self._wake_on_bus(merchant_id))
        try:
            yield self._tail.position
        finally:
            listeners.discard(deliver)
            if not listeners:
                self._listeners.pop(merchant_id, None)
                watch = (
                    None
                    if merchant_id is EVERY_MERCHANT
                    else self._bus_watches.pop(merchant_id, None)
                )
                if watch is not None:
                    watch.cancel()

    async def _wake_on_bus(self, merchant_id: int) -> None:
        """Read at once when the bus says the merchant has news, instead of at the next poll
        (the news itself is still read from the outbox)."""
        try:
            async for _message in get_bus().subscribe(merchant_id):
                self._wake.set()
        except Exception:  # the poll still finds everything, only later
            log.warning("outbox relay stopped hearing the bus", exc_info=True)

    async def _start(self) -> None:
        async with self._starting:
            if self._task is None:
                self._tail = await asyncio.to_thread(_tail_at_latest)
                self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        gap_seconds = gap_seconds_from_env()
        while self._listeners:
            self._wake.clear()  # before reading: news arriving meanwhile means read again
            try:
                messages, more = await asyncio.to_thread(self._read, gap_seconds)
            except Exception:  # database unavailable: try again in a second
                log.warning("outbox relay could not read events", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for message in messages:
                for key in (message["merchant_id"], EVERY_MERCHANT):
                    for deliver in tuple(self._listeners.get(key, ())):
                        deliver(message)
            if not more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
        self._task = None  # no await since the last listener left: the next one starts anew

    def _read(self, gap_seconds: float) -> tuple[list[Message], bool]:
        """Every merchant's events, not only the listened ones: a listener that arrives while
        this read runs is called with all it finds (its position may already be past them)."""
        with read_session() as session:
            read = self._tail.read(session, now=time.time(), gap_seconds=gap_seconds, batch=BATCH)
            return [event_message(e) for e in read.events], read.more


def _tail_at_latest() -> OutboxTail:
    with read_session() as session:
        return OutboxTail.at_latest(session, now=time.time())


_relays: dict[asyncio.AbstractEventLoop, OutboxRelay] = {}


def outbox_relay() -> OutboxRelay:
    """This event loop's relay (each loop needs its own task; tests run several loops). A relay
    refers to its loop, so those of closed loops are dropped here rather than kept by weak keys."""
    loop = asyncio.get_running_loop()
    for closed in [other for other in _relays if other.is_closed()]:
        del _relays[closed]
    relay = _relays.get(loop)
    if relay is None:
        relay = _relays[loop] = OutboxRelay()
    return relay


async def relay_outbox() -> None:
    """Lifespan task of the app when no Redis is configured."""
    if get_settings().redis_url:
        return
    bus = get_bus()
    async with outbox_relay().listen(EVERY_MERCHANT, bus.publish):
        await asyncio.Event().wait()  # until the app shuts down and cancels this task

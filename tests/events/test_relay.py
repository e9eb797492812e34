"""The outbox relay and GraphQL subscriptions: an event whose transaction commits after one with
a higher id still arrives (PostgreSQL commits in any order), a subscriber that stops reading is
cut off instead of growing without bound, and each event arrives once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import Session

from paybridge.api.graphql import subscriptions as gql_subscriptions
from paybridge.api.graphql.subscriptions import merchant_events
from paybridge.db import write_session
from paybridge.engine import get_engine
from paybridge.errors import DomainError
from paybridge.events import EventType, get_bus, record_event
from paybridge.events.relay import relay_outbox
from paybridge.models import User
from tests.conftest import TestDatabase, create_merchant

pytestmark = pytest.mark.timeout(60)

ARRIVES_WITHIN = 5.0  # seconds; the relay reads every 50 ms


def commit_event(merchant_id: int, n: int) -> int:
    """Written the way another process writes: straight to the outbox, nothing published here."""
    with write_session() as session:
        event = record_event(
            session, merchant_id=merchant_id, type=EventType.TRANSACTION_CREATED, payload={"n": n}
        )
        session.commit()
        return event.id


@contextlib.contextmanager
def uncommitted_event(merchant_id: int, n: int):  # type: ignore[no-untyped-def]
    """An event whose id is taken but whose transaction is still open; `.commit()` it later."""
    session = Session(get_engine(), expire_on_commit=False)
    try:
        event = record_event(
            session, merchant_id=merchant_id, type=EventType.TRANSACTION_CREATED, payload={"n": n}
        )
        session.flush()
        yield session, event
    finally:
        session.close()


def needs_concurrent_writers(db: TestDatabase) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: ids commit in order")


async def receive(stream: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.wait_for(anext(stream), ARRIVES_WITHIN)


async def a_late_commit_arrives(merchant_id: int, queue: asyncio.Queue) -> None:
    """Commit an event after one with a higher id: both reach `queue`, the higher id first."""
    with uncommitted_event(merchant_id, 1) as (slow, early):
        late_id = await asyncio.to_thread(commit_event, merchant_id, 2)
        assert late_id > early.id
        assert (await asyncio.wait_for(queue.get(), ARRIVES_WITHIN))["id"] == late_id
        await asyncio.to_thread(slow.commit)
        assert (await asyncio.wait_for(queue.get(), ARRIVES_WITHIN))["id"] == early.id


async def stop(task: asyncio.Future) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_a_subscription_receives_an_event_committed_after_a_higher_id(
    db: TestDatabase, merchant: User
) -> None:
    needs_concurrent_writers(db)

    async def scenario() -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def subscribe() -> None:
            async for message in merchant_events(merchant.id, None):
                queue.put_nowait(message)

        subscription = asyncio.ensure_future(subscribe())
        await asyncio.sleep(0.3)  # subscribed
        await a_late_commit_arrives(merchant.id, queue)
        await stop(subscription)

    asyncio.run(scenario())


def test_the_relay_republishes_an_event_committed_after_a_higher_id(
    db: TestDatabase, merchant: User
) -> None:
    """Without Redis, writes of other processes reach this process's bus only via the relay."""
    needs_concurrent_writers(db)

    async def scenario() -> None:
        relay = asyncio.ensure_future(relay_outbox())
        async with get_bus().listen(merchant.id) as queue:
            await asyncio.sleep(0.3)  # the relay has started at the newest event
            await a_late_commit_arrives(merchant.id, queue)
        await stop(relay)

    asyncio.run(scenario())


def test_an_event_in_flight_when_the_relay_starts_still_arrives(
    db: TestDatabase, merchant: User
) -> None:
    """The relay starts at the newest event; a lower id still uncommitted then is not lost."""
    needs_concurrent_writers(db)

    async def scenario() -> None:
        with uncommitted_event(merchant.id, 1) as (slow, early):
            newest = await asyncio.to_thread(commit_event, merchant.id, 2)
            assert newest > early.id
            stream = merchant_events(merchant.id, None)
            first = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.3)  # subscribed: the relay started past `early`
            assert not first.done()
            await asyncio.to_thread(slow.commit)
            assert (await asyncio.wait_for(first, ARRIVES_WITHIN))["id"] == early.id
        await stream.aclose()

    asyncio.run(scenario())


def test_a_resumed_subscription_replays_then_streams_each_event_once(
    db: TestDatabase, merchant: User
) -> None:
    other = create_merchant("other@example.com")
    before = [commit_event(merchant.id, n) for n in range(3)]
    commit_event(other.id, 99)

    async def scenario() -> list[int]:
        stream = merchant_events(merchant.id, before[0])
        got = [(await receive(stream))["id"] for _ in range(2)]
        after = await asyncio.to_thread(commit_event, merchant.id, 3)
        got.append((await receive(stream))["id"])
        assert after == got[-1]
        extra = asyncio.ensure_future(anext(stream))
        done, _ = await asyncio.wait({extra}, timeout=0.5)
        assert not done, f"an event arrived twice or from another merchant: {extra.result()}"
        await stop(extra)
        await stream.aclose()
        return got

    assert asyncio.run(scenario())[:2] == before[1:]


def test_a_subscriber_that_stops_reading_is_cut_off(
    db: TestDatabase, merchant: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gql_subscriptions, "SUBSCRIBER_BACKLOG", 3)

    async def scenario() -> None:
        stream = merchant_events(merchant.id, None)
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.3)
        ids = [await asyncio.to_thread(commit_event, merchant.id, n) for n in range(6)]
        assert (await asyncio.wait_for(first, ARRIVES_WITHIN))["id"] == ids[0]
        await asyncio.sleep(0.5)  # the relay has offered the rest: more than the backlog holds
        with pytest.raises(DomainError) as refused:
            for _ in range(10):
                await receive(stream)
        assert refused.value.code == "subscriber_behind"

    asyncio.run(scenario())

"""events.bus: committed events reach live subscribers of their merchant only — in memory and
through real Redis between two bus instances — and a broken bus never fails a write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from sqlmodel import select

from paybridge.errors import DomainError
from paybridge.events.bus import MemoryBus, RedisBus, channel_for, get_bus, reset_bus
from paybridge.models import Event, Transaction, User
from paybridge.services.settlements import settlement_withdraw
from paybridge.services.transactions import transaction_create, transaction_update_status
from paybridge.settings import get_settings
from tests.conftest import TestDatabase, seed_available

pytestmark = pytest.mark.timeout(60)

NOBODY = 7_000_000  # a merchant id no test writes for: its subscriber must hear nothing
QUIET_SECONDS = 0.5


def use_redis(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    get_settings.cache_clear()
    reset_bus()


def pay(merchant: User, reference: str, **extra: Any) -> Transaction:
    return transaction_create(
        merchant_id=merchant.id,
        amount=2_500,
        currency="USD",
        provider="card",
        customer_email="buyer@example.com",
        reference=reference,
        **extra,
    )


async def next_with_reference(
    stream: AsyncIterator[dict[str, Any]], reference: str, timeout: float = 5
) -> dict[str, Any]:
    """The first message about `reference` (skipping any other traffic on the channel)."""

    async def find() -> dict[str, Any]:
        async for message in stream:
            if message["payload"].get("reference") == reference:
                return message
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(find(), timeout)


async def cancel(task: asyncio.Future) -> None:
    """Cancel a pending read and wait until its generator has unwound."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def stored_event(event_id: int) -> Event | None:
    from paybridge.db import read_session

    with read_session() as session:
        return session.exec(select(Event).where(Event.id == event_id)).first()


def test_memory_bus_delivers_committed_events_to_that_merchant_only(
    db: TestDatabase, merchant: User
) -> None:
    bus = get_bus()
    assert isinstance(bus, MemoryBus)

    async def scenario() -> None:
        mine, theirs = bus.subscribe(merchant.id), bus.subscribe(NOBODY)
        first_mine = asyncio.ensure_future(anext(mine))
        first_theirs = asyncio.ensure_future(anext(theirs))
        await asyncio.sleep(0.05)  # both generators have registered their queues

        tx = await asyncio.to_thread(pay, merchant, "mem-1")
        message = await asyncio.wait_for(first_mine, 5)
        assert message["merchant_id"] == merchant.id
        assert message["type"] == "transaction.created"
        assert message["payload"]["reference"] == tx.reference
        assert message["payload"]["amount"] == 2_500
        # Published after commit: another connection already sees the outbox row.
        row = await asyncio.to_thread(stored_event, message["id"])
        assert row is not None and row.payload == message["payload"]

        await asyncio.to_thread(
            transaction_update_status, merchant_id=merchant.id, reference="mem-1", status="success"
        )
        update = await next_with_reference(mine, "mem-1")
        assert update["type"] == "transaction.updated"
        assert update["id"] > message["id"]
        assert update["payload"]["previous_status"] == "pending"

        # A refused write (duplicate reference) rolls back and announces nothing.
        with pytest.raises(DomainError):
            await asyncio.to_thread(pay, merchant, "mem-1")
        silent = asyncio.ensure_future(anext(mine))
        done, _ = await asyncio.wait({silent}, timeout=QUIET_SECONDS)
        assert not done, "a rolled-back write was published"
        await cancel(silent)

        done, _ = await asyncio.wait({first_theirs}, timeout=QUIET_SECONDS)
        assert not done, "another merchant's subscriber received an event"
        await cancel(first_theirs)
        await mine.aclose()
        await theirs.aclose()

    asyncio.run(scenario())


def test_memory_bus_forgets_closed_subscribers() -> None:
    bus = MemoryBus()
    merchant = User(id=5, email="m@example.com", password_hash="x", full_name="M")

    async def scenario() -> list[dict[str, Any]]:
        stream = bus.subscribe(merchant.id)
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.01)
        bus.publish({"merchant_id": merchant.id, "id": 1, "payload": {}})
        got = [await asyncio.wait_for(first, 2)]
        await stream.aclose()
        bus.publish({"merchant_id": merchant.id, "id": 2, "payload": {}})  # nobody listening
        return got

    assert [m["id"] for m in asyncio.run(scenario())] == [1]
    assert bus._subscribers.get(merchant.id, set()) == set()


async def wait_for_subscribers(client: redis.Redis, channels: list[str]) -> None:
    """Until Redis reports a subscriber on every channel (subscribing is asynchronous)."""
    for _ in range(200):
        counts = dict(await asyncio.to_thread(client.pubsub_numsub, *channels))
        if all(counts.get(c.encode(), 0) >= 1 for c in channels):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no subscribers on {channels}")


def test_redis_bus_delivers_across_bus_instances(
    db: TestDatabase, merchant: User, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_redis(monkeypatch, redis_url)
    publisher = get_bus()  # what the services use in this "process"
    assert isinstance(publisher, RedisBus)
    listener = RedisBus(redis_url)  # another worker or app instance
    assert listener is not publisher
    admin = redis.Redis.from_url(redis_url, socket_timeout=2)

    async def scenario() -> None:
        mine, theirs = listener.subscribe(merchant.id), listener.subscribe(NOBODY)
        first_mine = asyncio.ensure_future(next_with_reference(mine, "redis-1", timeout=10))
        first_theirs = asyncio.ensure_future(anext(theirs))
        await wait_for_subscribers(admin, [channel_for(merchant.id), channel_for(NOBODY)])

        tx = await asyncio.to_thread(pay, merchant, "redis-1")
        message = await first_mine
        assert message["merchant_id"] == merchant.id
        assert message["type"] == "transaction.created"
        assert message["payload"]["reference"] == tx.reference
        assert message["payload"]["net_amount"] == tx.net_amount
        row = await asyncio.to_thread(stored_event, message["id"])
        assert row is not None and row.type == "transaction.created"

        done, _ = await asyncio.wait({first_theirs}, timeout=QUIET_SECONDS)
        assert not done, "another merchant's subscriber received an event"
        await cancel(first_theirs)
        await mine.aclose()
        await theirs.aclose()

    try:
        asyncio.run(scenario())
    finally:
        admin.close()


def test_failed_publish_does_not_fail_the_write(
    db: TestDatabase,
    merchant: User,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_redis(monkeypatch, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    bus = get_bus()
    assert isinstance(bus, RedisBus)
    with pytest.raises(redis.ConnectionError):  # the bus really is broken...
        bus.publish({"merchant_id": merchant.id, "id": 0})

    with caplog.at_level(logging.WARNING, logger="paybridge.events.bus"):
        tx = pay(merchant, "offline-1", status="success", created_at=None)  # ...yet writes work
        transaction_update_status(
            merchant_id=merchant.id, reference=tx.reference, status="refunded"
        )
    assert [r for r in caplog.records if "publish failed" in r.getMessage()]
    with db.session() as session:
        stored = session.exec(select(Transaction)).one()
        outbox = session.exec(select(Event).order_by(Event.id)).all()
    assert stored.reference == "offline-1" and stored.status == "refunded"
    assert [(e.type, e.payload["reference"]) for e in outbox] == [
        ("transaction.created", "offline-1"),
        ("transaction.updated", "offline-1"),
    ]
    assert db.counts()["hourly_rollups"] == 2


def test_failed_publish_does_not_fail_a_withdrawal(
    db: TestDatabase, merchant: User, providers: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_available(merchant.id, providers["card"], 5_000)
    use_redis(monkeypatch, "redis://127.0.0.1:1/0")
    payout = settlement_withdraw(merchant_id=merchant.id, amount=1_000, currency="USD")
    assert payout.id is not None
    with db.session() as session:
        last = session.exec(select(Event).order_by(Event.id.desc())).first()
    assert last.type == "settlement.created"
    assert last.payload["reference"] == payout.reference


def test_redis_listeners_in_one_worker_share_one_subscription(
    db: TestDatabase, merchant: User, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 dashboards in a worker must not mean 200 Redis connections: listeners of one event
    loop share a subscription, each still gets every message, and the last one out unsubscribes."""
    use_redis(monkeypatch, redis_url)
    listener = RedisBus(redis_url)
    admin = redis.Redis.from_url(redis_url, socket_timeout=2)
    channel = channel_for(merchant.id)

    def subscribers() -> int:
        return dict(admin.pubsub_numsub(channel)).get(channel.encode(), 0)

    async def scenario() -> None:
        async with listener.listen(merchant.id) as first, listener.listen(merchant.id) as second:
            assert subscribers() == 1
            await asyncio.to_thread(pay, merchant, "shared-1")
            for queue in (first, second):
                message = await asyncio.wait_for(queue.get(), 5)
                assert message["payload"]["reference"] == "shared-1"
            async with listener.listen(merchant.id) as third:
                await asyncio.to_thread(pay, merchant, "shared-2")
                got = await asyncio.wait_for(third.get(), 5)
                assert got["payload"]["reference"] == "shared-2"
            assert (await asyncio.wait_for(first.get(), 5))["payload"]["reference"] == "shared-2"
        assert subscribers() == 0

    try:
        asyncio.run(scenario())
    finally:
        admin.close()


def test_redis_listener_hears_again_after_its_connection_is_killed(
    db: TestDatabase, merchant: User, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis restart or a dropped connection: the shared subscription comes back by itself."""
    use_redis(monkeypatch, redis_url)
    listener = RedisBus(redis_url)
    admin = redis.Redis.from_url(redis_url, socket_timeout=2)
    channel = channel_for(merchant.id).encode()

    async def scenario() -> None:
        async with listener.listen(merchant.id) as queue:
            assert admin.client_kill_filter(_type="pubsub") >= 1
            deadline = asyncio.get_running_loop().time() + 10
            while dict(admin.pubsub_numsub(channel)).get(channel, 0) < 1:
                assert asyncio.get_running_loop().time() < deadline, "never resubscribed"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(pay, merchant, "after-kill")
            message = await asyncio.wait_for(queue.get(), 5)
            assert message["payload"]["reference"] == "after-kill"

    try:
        asyncio.run(scenario())
    finally:
        admin.close()

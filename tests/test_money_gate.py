"""`money_write_turn`: one money write per merchant at a time in a process, in arrival order,
bounded per merchant, and nothing kept for a merchant with nothing running."""

from __future__ import annotations

import asyncio
import time

import pytest

from paybridge import metrics
from paybridge.money_gate import (
    MAX_WAIT_SECONDS,
    MAX_WAITING,
    ConcurrentWritesRefused,
    money_write_turn,
    waiting_merchants,
)


async def hold(merchant_id: int, started: asyncio.Event, release: asyncio.Event) -> None:
    async with money_write_turn(merchant_id):
        started.set()
        await release.wait()


def test_one_write_at_a_time_per_merchant_in_arrival_order() -> None:
    async def scenario() -> tuple[list[str], int]:
        order: list[str] = []
        running = most = 0

        async def write(name: str) -> None:
            nonlocal running, most
            async with money_write_turn(1):
                running += 1
                most = max(most, running)
                order.append(name)
                await asyncio.sleep(0.01)
                running -= 1

        await asyncio.gather(*(write(f"w{n}") for n in range(10)))
        return order, most

    order, most = asyncio.run(scenario())
    assert order == [f"w{n}" for n in range(10)]
    assert most == 1
    assert waiting_merchants() == 0


def test_beyond_the_bound_only_that_merchant_is_refused_at_once() -> None:
    async def scenario() -> None:
        started, release = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(hold(1, started, release))
        await started.wait()
        waiters = [
            asyncio.create_task(hold(1, asyncio.Event(), release)) for _ in range(MAX_WAITING)
        ]
        await asyncio.sleep(0)  # every waiter is queued
        refused_before = metrics.snapshot().get("money_writes_refused", 0)
        # "At once" means without suspending: the first step of entering already raises.
        entering = money_write_turn(1).__aenter__()
        with pytest.raises(ConcurrentWritesRefused) as refused:
            entering.send(None)
        assert refused.value.code == "too_many_concurrent_writes"
        assert refused.value.retry_after == 1
        assert metrics.snapshot()["money_writes_refused"] == refused_before + 1
        async with money_write_turn(2):  # another merchant does not wait at all
            pass
        release.set()
        await asyncio.gather(holder, *waiters)

    asyncio.run(scenario())
    assert waiting_merchants() == 0


def test_a_wait_longer_than_the_limit_is_refused_and_the_queue_moves_on() -> None:
    async def scenario() -> None:
        started, release = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(hold(1, started, release))
        await started.wait()
        began = time.monotonic()
        with pytest.raises(ConcurrentWritesRefused):
            async with money_write_turn(1):
                pytest.fail("ran while another write of the merchant held its turn")
        waited = time.monotonic() - began
        assert MAX_WAIT_SECONDS <= waited < 2 * MAX_WAIT_SECONDS  # by the limit, not long after
        release.set()
        await holder
        async with money_write_turn(1):  # the turn is free again
            pass

    asyncio.run(scenario())
    assert waiting_merchants() == 0


def test_a_cancelled_waiter_or_holder_leaves_nothing_behind() -> None:
    async def scenario() -> None:
        started, release = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(hold(7, started, release))
        await started.wait()
        waiter = asyncio.create_task(hold(7, asyncio.Event(), release))
        await asyncio.sleep(0)
        waiter.cancel()
        holder.cancel()
        await asyncio.gather(holder, waiter, return_exceptions=True)
        assert waiting_merchants() == 0
        async with money_write_turn(7):  # neither left the turn taken
            pass

    asyncio.run(scenario())
    assert waiting_merchants() == 0

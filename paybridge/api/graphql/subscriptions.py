"""The live `events` subscription: the merchant's outbox events as they commit, each once,
replayed from an id after a reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from paybridge.api.auth import still_valid
from paybridge.api.graphql import types as t
from paybridge.api.graphql.calls import _principal, error_extensions
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.events import event_message
from paybridge.events.relay import outbox_relay
from paybridge.selectors.event_feed import events_after

CREDENTIAL_CHECK_SECONDS = 2.0  # how often a subscription asks whether its credential holds
OUTBOX_BATCH = 500  # events replayed from the outbox at a time
SUBSCRIBER_BACKLOG = 10_000  # events waiting for a slow subscriber before its stream ends


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The merchant's events as they commit, each once. With `afterId`, the "
        "committed events after that id are replayed first, in id order (to resume after a "
        "reconnect, pass the highest id received). An event whose transaction committed late "
        "can arrive after one with a higher id."
    )
    async def events(
        self, info: Info, after_id: t.BigInt | None = None
    ) -> AsyncGenerator[t.Event, None]:
        principal = _principal(info)
        stream = merchant_events(
            principal.merchant_id, after_id, still_valid=lambda: still_valid(principal)
        )
        try:
            async for message in stream:
                yield t.Event(
                    id=message["id"],
                    type=message["type"],
                    payload=message["payload"],
                    created_at=datetime.fromisoformat(message["created_at"]),
                )
        except DomainError as error:  # errors of a running stream bypass the extensions
            raise GraphQLError(error.message, extensions=error_extensions(error)) from error


async def merchant_events(
    merchant_id: int,
    after_id: int | None,
    *,
    still_valid: Callable[[], bool] | None = None,
    check_seconds: float | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """The merchant's outbox events as they commit, each once: with `after_id`, first those
    after it already committed, in id order; then each new one as the process's outbox relay
    finds it. An event whose transaction committed after one with a higher id comes after it.

    Nothing is taken from a bus message: the bus may lose one, and its channel can carry
    messages this deployment never committed (another deployment or test run on the same
    Redis publishes for its own merchant with the same id). Every `check_seconds`,
    `still_valid` is asked whether the subscriber's credential still holds."""
    check = CREDENTIAL_CHECK_SECONDS if check_seconds is None else check_seconds
    arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=SUBSCRIBER_BACKLOG)
    fell_behind = False

    def deliver(message: dict[str, Any]) -> None:
        nonlocal fell_behind
        try:
            arrived.put_nowait(message)
        except asyncio.QueueFull:
            fell_behind = True

    async with outbox_relay().listen(merchant_id, deliver) as position:
        replayed: set[int] = set()
        if after_id is not None:
            async for committed in _committed_between(merchant_id, after_id, position):
                replayed.add(committed["id"])
                yield committed
        checked = time.monotonic()
        while True:
            if fell_behind:
                raise DomainError(
                    "subscriber_behind",
                    f"More than {SUBSCRIBER_BACKLOG} events waited for this subscriber; "
                    "subscribe again with afterId set to the highest id received.",
                )
            message = None
            with contextlib.suppress(TimeoutError):
                message = await asyncio.wait_for(arrived.get(), timeout=check)
            if still_valid is not None and time.monotonic() - checked >= check:
                checked = time.monotonic()
                if not await run_in_threadpool(still_valid):
                    raise DomainError("invalid_token", "This credential was revoked; reconnect.")
            if message is not None and message["id"] not in replayed:
                yield message


async def _committed_between(
    merchant_id: int, after_id: int, up_to: int
) -> AsyncGenerator[dict[str, Any], None]:
    while after_id < up_to:
        messages = await run_in_threadpool(_outbox_between, merchant_id, after_id, up_to)
        for message in messages:
            yield message
        if len(messages) < OUTBOX_BATCH:
            return
        after_id = messages[-1]["id"]


def _outbox_between(merchant_id: int, after_id: int, up_to: int) -> list[dict[str, Any]]:
    with read_session() as session:
        rows = events_after(
            session=session,
            merchant_id=merchant_id,
            after_id=after_id,
            up_to=up_to,
            limit=OUTBOX_BATCH,
        )
        return [event_message(row) for row in rows]

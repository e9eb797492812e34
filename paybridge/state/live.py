"""Pieces shared by the pages whose background `listen` task follows the merchant's events."""

from __future__ import annotations

import asyncio
from typing import Any

BATCH_LIMIT = 500  # events applied under one state lock at most


async def next_batch(queue: asyncio.Queue, wait: float) -> list[dict[str, Any]]:
    """Whatever is queued now (waiting up to `wait` seconds for the first event): a burst of
    payments becomes one state update, not one per payment."""
    batch: list[dict[str, Any]] = []
    try:
        batch.append(await asyncio.wait_for(queue.get(), timeout=wait))
        while not queue.empty() and len(batch) < BATCH_LIMIT:
            batch.append(queue.get_nowait())
    except TimeoutError:
        pass
    return batch


def tab_connected(token: str) -> bool:
    """The tab's socket is still on this worker (a reconnect elsewhere runs on_load again,
    which starts a new listener there)."""
    from paybridge.paybridge import app

    namespace = app.event_namespace
    return namespace is not None and token in namespace.token_to_sid


def on_page(path: str, route: str) -> bool:
    """The tab still shows `route` (after client-side navigation the old listener stops)."""
    return (path.rstrip("/") or "/") == route

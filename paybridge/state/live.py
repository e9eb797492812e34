"""Pieces of the background tasks that follow a tab: the `listen` loop of state/live_tab.py, the
dashboard's streams (state/dashboard_live.py) and the access follower of state/shell.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

import orjson
from engineio import packet as eio_packet
from reflex.istate.data import SessionData
from reflex.utils.serializers import serialize

from paybridge.services.auth import live_session_tokens

BATCH_LIMIT = 500  # events applied under one state lock at most
_app: Any = None  # the rx.App of this process, handed over by paybridge/paybridge.py


def serve_app(app: Any) -> None:
    """paybridge/paybridge.py hands its app over once built: listeners ask its event namespace
    which sockets are connected. Importing the app module from here would close an import cycle
    (the app imports the pages, which import the states, which import this module)."""
    global _app
    _app = app


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


def tab_connected(tab: SessionData) -> bool:
    """The socket that started the listener is still connected to this worker (a reconnect,
    here or elsewhere, runs on_load again, which starts a new listener). One dictionary lookup:
    every listener asks this many times a second."""
    namespace = _app.event_namespace if _app is not None else None
    return namespace is not None and namespace.sid_to_token.get(tab.session_id) == tab.client_token


def encode_update(delta: dict[str, dict[str, Any]]) -> eio_packet.Packet:
    """A state update as Reflex sends it ({"delta": {state: {var: value}}}, on its event
    namespace), encoded once for any number of tabs: sent to a hundred tabs it is a hundred
    socket writes, not a hundred JSON encodings."""
    namespace = _app.event_namespace.namespace
    prefix = "2" if namespace == "/" else f"2{namespace},"
    return eio_packet.Packet(eio_packet.MESSAGE, data=prefix + encode_event(delta))


# Reflex's own encoder (the stdlib's, with its serializers as `default`) took a quarter of a
# worker's CPU with 1,000 merchants' tabs open; orjson writes the same text for a dashboard
# view in a tenth of the time. Dataclasses it writes itself, as the dict of their fields (as
# Reflex's serializer does); datetimes it leaves to Reflex's serializer.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def encode_event(delta: dict[str, dict[str, Any]]) -> str:
    """The socket.io event of a state update, the text Reflex's `format.json_dumps` writes."""
    return orjson.dumps(
        ["event", {"delta": delta}], default=serialize, option=_ORJSON_OPTIONS
    ).decode()


async def send_update(sids: list[str], update: eio_packet.Packet) -> None:
    """Send an encoded update to the tabs (socket ids) still connected to this worker; the
    tabs' Reflex states are not touched."""
    namespace = _app.event_namespace
    server = namespace.server
    for sid in sids:
        eio_sid = server.manager.eio_sid_from_sid(sid, namespace.namespace)
        if eio_sid is not None:
            await server.eio.send_packet(eio_sid, update)


def on_page(path: str, route: str) -> bool:
    """The tab still shows `route` (after client-side navigation the old listener stops)."""
    return (path.rstrip("/") or "/") == route


AUTH_RECHECK = 2.0  # seconds a live tab may go on after its session is revoked or expires

_watch_lock = threading.Lock()
_watched: Counter[str] = Counter()  # session token -> live listeners in this process
_confirmed: dict[str, float] = {}  # token -> time.monotonic() of the check that found it valid
_check: Future | None = None  # the check in flight; its result is (tokens checked, valid ones)


@asynccontextmanager
async def watching_session(token: str) -> AsyncIterator[None]:
    """While entered, `still_signed_in(token)` is answered by the process's shared check."""
    with _watch_lock:
        _watched[token] += 1
    try:
        yield
    finally:
        with _watch_lock:
            _watched[token] -= 1
            if _watched[token] <= 0:
                del _watched[token]
                _confirmed.pop(token, None)


async def still_signed_in(token: str) -> bool:
    """The tab's session is still valid (checked at most AUTH_RECHECK ago). One query checks
    every watched session of the process, so 200 open dashboards cost one query every
    AUTH_RECHECK, not 100 a second; between checks this costs a dictionary lookup."""
    with _watch_lock:
        if _confirmed_recently(token):
            return True
    return await asyncio.to_thread(_signed_in, token)


def _confirmed_recently(token: str) -> bool:
    """(Call with _watch_lock held.)"""
    confirmed = _confirmed.get(token)
    return confirmed is not None and time.monotonic() - confirmed < AUTH_RECHECK


def _signed_in(token: str) -> bool:
    global _check
    with _watch_lock:
        if _confirmed_recently(token):
            return True
        check, owner = _check, _check is None
        if owner:
            check = _check = Future()
            tokens = {*_watched, token}
    assert check is not None
    if owner:
        started = time.monotonic()
        try:
            valid = live_session_tokens(tokens=tokens)
        except BaseException as error:
            with _watch_lock:
                _check = None
            check.set_exception(error)
            raise
        with _watch_lock:
            for each in tokens:
                if each in valid and each in _watched:
                    _confirmed[each] = started
                else:
                    _confirmed.pop(each, None)
            _check = None
        check.set_result((tokens, valid))
    checked, valid = check.result()
    if token not in checked:  # a check that started before this tab was watched
        return _signed_in(token)
    return token in valid

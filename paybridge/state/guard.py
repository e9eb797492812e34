"""`merchant_event`: the check every merchant page handler starts with, written once; and
`in_money_turn`, how a handler that withdraws or refunds runs."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from reflex.event import EventSpec

from paybridge.money_gate import ConcurrentWritesRefused, money_write_turn
from paybridge.services.auth import Identity
from paybridge.state.session import SessionState, in_thread

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=SessionState)


def merchant_event(
    handler: Callable[Concatenate[S, Identity, P], R],
) -> Callable[Concatenate[S, P], R | EventSpec]:
    """For a handler that acts for the signed-in merchant (under `@rx.event` and `@in_thread`):
    resolve the session first and send a signed-out tab to the login page; otherwise call the
    handler with the identity after `self`. The browser sees the handler without that argument:
    its signature and annotations leave it out, so Reflex neither asks the page for it nor
    builds one from a forged event's payload."""

    @functools.wraps(handler)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R | EventSpec:
        found = self._identity()
        if found is None:
            return self._login_redirect()
        return handler(self, found, *args, **kwargs)

    signature = inspect.signature(handler)
    self_param, identity_param, *rest = signature.parameters.values()
    run.__signature__ = signature.replace(parameters=[self_param, *rest])  # type: ignore[attr-defined]
    run.__annotations__ = {
        name: hint for name, hint in handler.__annotations__.items() if name != identity_param.name
    }
    return run


def in_money_turn(
    refused: Callable[[S, str], None],
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], Awaitable[R | None]]]:
    """`in_thread` for a handler that withdraws or refunds (under `@rx.event`, above
    `@merchant_event`): it first waits for the merchant's turn (`paybridge.money_gate`) on the
    event loop, where a waiting click holds neither a handler thread nor a database connection.
    A refused turn changes nothing and calls `refused(self, message)`."""

    def wrap(handler: Callable[Concatenate[S, P], R]) -> Callable[..., Awaitable[R | None]]:
        threaded: Callable[..., Awaitable[R]] = in_thread(handler)

        @functools.wraps(handler)
        async def run(self: S, /, *args: Any, **kwargs: Any) -> R | None:
            merchant_id = self._merchant_id  # of the tab's last check; the handler checks again
            if merchant_id is None:  # signed out: the handler sends the tab to the login page
                return await threaded(self, *args, **kwargs)
            try:
                async with money_write_turn(merchant_id):
                    return await threaded(self, *args, **kwargs)
            except ConcurrentWritesRefused as busy:
                refused(self, busy.message)
                return None

        return run

    return wrap

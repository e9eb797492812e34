"""`merchant_event`: the check every merchant page handler starts with, written once."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from reflex.event import EventSpec

from paybridge.services.auth import Identity
from paybridge.state.session import SessionState

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

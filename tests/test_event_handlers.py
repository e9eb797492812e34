"""The event handlers of our states: Reflex makes every public method of a state an event that any
client can send, and runs a plain (not async) one on the worker's event loop, where a query or a
password hash would hold up every live tab of the worker (tests/e2e/test_event_loop.py)."""

from __future__ import annotations

import inspect

import reflex as rx


def test_no_event_handler_of_ours_is_a_plain_function_and_no_helper_is_a_handler():
    import paybridge.paybridge  # noqa: F401  (registers every page's state)

    handlers, plain, names = 0, [], {}
    states: list[type[rx.State]] = [rx.State]
    while states:
        state = states.pop()
        states.extend(state.get_substates())
        for name, handler in state.event_handlers.items():
            if not handler.fn.__module__.startswith("paybridge."):
                continue  # Reflex's own setters
            handlers += 1
            names.setdefault(state.__name__, set()).add(name)
            if not inspect.iscoroutinefunction(handler.fn):
                plain.append(f"{state.__name__}.{name}")
    assert handlers >= 50, "the walk missed the page states"
    assert plain == []
    assert "SessionState" not in names, "a helper of every page's base state is an event"

"""Controls shown only to roles that may use them. Hiding is a courtesy, not the control: the
services refuse whatever a role may not do, however the event arrives."""

from __future__ import annotations

import reflex as rx

from paybridge.permissions import Action
from paybridge.state.session import SessionState


def allowed_to(action: Action, component: rx.Component) -> rx.Component:
    return rx.cond(SessionState.can[action.value], component)

"""What every merchant page's frame shows: who is logged in, and where they are."""

from __future__ import annotations

import reflex as rx

from paybridge.db import read_session
from paybridge.selectors.users import user_summary
from paybridge.state.session import SessionState, in_thread


class ShellState(SessionState):
    merchant_name: str = ""
    initials: str = ""

    @rx.var
    def current_path(self) -> str:
        return self.router.url.path.rstrip("/") or "/"

    @rx.event
    @in_thread
    def load(self) -> rx.event.EventSpec | None:
        """First handler of every merchant page: no valid session, no page."""
        found = self._identity()
        if found is None:
            self.merchant_name = self.initials = ""
            return self._login_redirect()
        with read_session() as session:
            summary = user_summary(session=session, merchant_id=found.user_id)
        if summary is None:
            return self._login_redirect()
        self.merchant_name = summary.company_name or summary.full_name
        self.initials = summary.initials
        return None

"""What every merchant page's frame shows: who is logged in, and where they are; and, while the
tab is open, that it follows its person's role and session (`follow_access`)."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.display import format_local
from paybridge.events import revocations
from paybridge.selectors.failed_logins import FailedLoginNotice, failed_login_notice
from paybridge.selectors.users import user_summary
from paybridge.services.auth import Identity, failed_logins_acknowledge
from paybridge.services.throttle import LOGIN_ACCOUNT
from paybridge.state.access import following
from paybridge.state.dashboard_live import tab_left
from paybridge.state.guard import merchant_event
from paybridge.state.live import tab_connected
from paybridge.state.session import SessionState, in_thread

FOLLOW_POLL = 5.0  # seconds between checks that a following tab is still connected
FOLLOW_RETRY = 2.0  # seconds before reading the identity again after a failed read

log = logging.getLogger(__name__)


def security_notice_text(notice: FailedLoginNotice | None, timezone: str) -> str:
    """What the owner is told after signing in when someone failed to."""
    if notice is None:
        return ""
    parts = []
    if notice.count:
        plural = "s" if notice.count != 1 else ""
        parts.append(f"{notice.count} failed sign-in attempt{plural} on your account")
    if notice.locked:
        minutes = int(LOGIN_ACCOUNT.window.total_seconds() // 60)
        parts.append(f"sign-in from new devices was paused for {minutes} minutes")
    latest = format_local(notice.latest_at, timezone)
    what = " and ".join(parts)
    return (
        what[0].upper()
        + what[1:]
        + f" (latest {latest}, from {notice.latest_ip or 'an unknown address'})."
        + " If this was not you, change your password."
    )


class ShellState(SessionState):
    merchant_name: str = ""
    initials: str = ""
    security_notice: str = ""
    _heard: int = 0  # revocation notices heard by the process before `load` read the identity

    @rx.var
    def current_path(self) -> str:
        return self.router.url.path.rstrip("/") or "/"

    @rx.event
    @in_thread
    def load(self) -> EventSpec | None:
        """First handler of every merchant page: no valid session, no page; with one, the tab
        follows its person's access from now on (`follow_access`)."""
        self._heard = revocations.epoch()
        tab_left(self.router.session.session_id, self.router.url.path)  # off the dashboard
        found = self._identity()
        if found is None:
            self.merchant_name = self.initials = ""
            return self._login_redirect()
        with read_session() as session:
            summary = user_summary(session=session, merchant_id=found.merchant_id)
            person = user_summary(session=session, merchant_id=found.user_id)
            notice = failed_login_notice(session=session, merchant_id=found.user_id)
        if summary is None or person is None:
            return self._login_redirect()
        self.merchant_name = summary.company_name or summary.full_name
        self.initials = person.initials
        self.security_notice = security_notice_text(notice, summary.timezone)
        return ShellState.follow_access

    @rx.event
    @in_thread
    @merchant_event
    def dismiss_security_notice(self, found: Identity) -> EventSpec | None:
        failed_logins_acknowledge(user_id=found.user_id)
        self.security_notice = ""
        return None

    @rx.event(background=True)
    async def follow_access(self) -> EventSpec | None:
        """Runs while the tab is connected (started by every merchant page's first handler; a
        page's follower replaces the last page's): when the person's role changes or their
        session ends anywhere, the tab reads its identity again at once, so `can` follows the
        new role and an ended session goes to the login page (paybridge/state/access.py)."""
        async with self:
            tab = self.router.session
            if self._user_id is None or self._session_id is None:
                return None
            user_id, session_id, heard = self._user_id, self._session_id, self._heard
        async with following(tab.session_id, user_id, session_id, heard=heard) as follower:
            while tab_connected(tab) and not follower.stopped:
                if not await follower.next_change(FOLLOW_POLL):
                    continue
                try:
                    async with self:
                        found = await asyncio.to_thread(self._identity)
                        if found is None:
                            return self._login_redirect()
                except Exception:  # database unreachable: keep the tab, read again shortly
                    log.warning("access follower: identity read failed; retrying", exc_info=True)
                    follower.read_again()
                    await asyncio.sleep(FOLLOW_RETRY)
        return None

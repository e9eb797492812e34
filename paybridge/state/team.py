"""`/settings/team` (members, invitations, roles), `/settings/audit` (who did what) and
`/join` (accepting an invitation). Every change goes through `services.team`, which checks
the role: a forged event is refused like a click on a hidden button."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.display import format_local
from paybridge.errors import DomainError
from paybridge.permissions import ROLE_LABELS, Action, Role
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.team import audit_page, members, open_invitations
from paybridge.selectors.users import user_timezone
from paybridge.services.account import ownership_transfer
from paybridge.services.auth import Identity
from paybridge.services.team import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    member_change_role,
    member_remove,
)
from paybridge.state.auth import form_text
from paybridge.state.guard import merchant_event
from paybridge.state.paging import CursorPages
from paybridge.state.session import SessionState, in_thread

AUDIT_PAGE = 25


def _row_id(value: object) -> int:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 10:
        raise DomainError("not_found", "No such member.")
    return int(value)


class TeamState(SessionState):
    members: list[dict[str, str]] = []
    invitations: list[dict[str, str]] = []
    invite_link: str = ""  # shown once, right after inviting
    error: str = ""
    notice: str = ""
    transfer_error: str = ""  # in the "Make owner" dialog, over the page's own error

    _shown_once: ClassVar[tuple[str, ...]] = ("invite_link",)

    def _show(self, merchant_id: int) -> None:
        with read_session() as session:
            tz = user_timezone(session=session, merchant_id=merchant_id)
            people = members(session=session, merchant_id=merchant_id)
            pending = (
                open_invitations(session=session, merchant_id=merchant_id)
                if self._can(Action.TEAM)
                else []
            )
        self.members = [
            {
                "id": str(m.id),
                "email": m.email,
                "name": m.full_name,
                "role": m.role,
                "role_label": ROLE_LABELS[Role(m.role)],
                "joined": format_local(m.joined_at, tz),
                # Whether this person's row shows controls: never your own, never the holder's.
                "editable": "yes"
                if m.id != self._user_id
                and not m.account_holder
                and (m.role != Role.OWNER or self._can(Action.TEAM_OWNERS))
                and self._can(Action.TEAM)
                else "",
                # Whether the owner may hand this person the ownership ("Make owner").
                "transferable": "yes"
                if m.id != self._user_id
                and m.role != Role.OWNER
                and self._can(Action.OWNERSHIP_TRANSFER)
                else "",
            }
            for m in people
        ]
        self.invitations = [
            {
                "id": str(i.id),
                "email": i.email,
                "role_label": ROLE_LABELS[Role(i.role)],
                "expires": format_local(i.expires_at, tz),
            }
            for i in pending
        ]

    def _run(self, action: Callable[[], str]) -> EventSpec | None:
        found = self._identity()
        if found is None:
            return self._login_redirect()
        self.error = self.notice = self.transfer_error = ""
        try:
            self.notice = action() or ""
        except DomainError as error:
            self.error = error.message
        # Read again: the action may have changed this person's own role (a transfer).
        found = self._identity()
        if found is None:
            return self._login_redirect()
        self._show(found.merchant_id)
        return None

    @rx.event
    @in_thread
    def load(self) -> EventSpec | None:
        self.invite_link = self.error = self.notice = ""
        found = self._identity()
        if found is None:
            return self._login_redirect()
        self._show(found.merchant_id)
        return None

    @rx.event
    @in_thread
    def invite(self, form: dict) -> EventSpec | None:
        def action() -> str:
            self.invite_link = ""
            invitation, token = invitation_create(
                actor=self._actor(),
                email=form_text(form, "email"),
                role=form_text(form, "role", max_length=16),
            )
            self.invite_link = f"{self.router.url.origin}/join?token={token}"
            return f"Invitation for {invitation.email} created. Send them the link below."

        return self._run(action)

    @rx.event
    async def dismiss_link(self) -> None:
        self.invite_link = ""

    @rx.event
    @in_thread
    def revoke(self, invitation_id: str) -> EventSpec | None:
        def action() -> str:
            invitation_revoke(actor=self._actor(), invitation_id=_row_id(invitation_id))
            return "Invitation revoked."

        return self._run(action)

    @rx.event
    @in_thread
    def change_role(self, user_id: str, role: str) -> EventSpec | None:
        def action() -> str:
            member_change_role(actor=self._actor(), user_id=_row_id(user_id), role=role)
            return "Role changed."

        return self._run(action)

    @rx.event
    @in_thread
    def transfer_ownership(self, form: dict) -> EventSpec | None:
        """Make owner, confirmed with the owner's password; the owner becomes an admin."""

        def action() -> str:
            ownership_transfer(
                actor=self._actor(),
                user_id=_row_id(form_text(form, "member_id", max_length=10)),
                password=form_text(form, "password", max_length=1024),
            )
            return "Ownership transferred. You are an admin now."

        redirect = self._run(action)
        self.transfer_error = self.error  # shown in the dialog, which stays open on a refusal
        return redirect

    @rx.event
    @in_thread
    def remove(self, user_id: str) -> EventSpec | None:
        def action() -> str:
            member_remove(actor=self._actor(), user_id=_row_id(user_id))
            return "Member removed. Their sessions have ended."

        return self._run(action)


class AuditState(CursorPages, SessionState):
    entries: list[dict[str, str]] = []
    error: str = ""

    _page_size: ClassVar[int] = AUDIT_PAGE

    def _show(self, merchant_id: int, page: PageRequest | None = None) -> None:
        request = page or PageRequest(limit=AUDIT_PAGE)
        if not self._can(Action.AUDIT_LOG):
            self.entries, self.error = [], "Only owners and admins can read the audit log."
            return
        with read_session() as session:
            tz = user_timezone(session=session, merchant_id=merchant_id)
            result = audit_page(session=session, merchant_id=merchant_id, page=request)
        self.error = ""
        self.entries = [
            {
                "id": str(e.id),
                "when": format_local(e.created_at, tz, seconds=True),
                "who": e.actor_email
                or (f"API key #{e.actor_api_key_id}" if e.actor_api_key_id else "—"),
                "action": e.action,
                "target": e.target,
                "details": ", ".join(f"{k}: {v}" for k, v in e.details.items()),
                "where": e.ip_address,
            }
            for e in result.data
        ]
        self._paged(
            request,
            has_more=result.has_more,
            first=self.entries[0]["id"] if self.entries else "",
            last=self.entries[-1]["id"] if self.entries else "",
        )

    @rx.event
    @in_thread
    @merchant_event
    def load(self, found: Identity) -> EventSpec | None:
        self._show(found.merchant_id)
        return None


class JoinState(SessionState):
    """Accepting an invitation: the token comes in the link's query string."""

    error: str = ""
    error_field: str = ""

    @rx.event
    @in_thread
    def submit(self, form: dict) -> EventSpec | None:
        self.error = self.error_field = ""
        try:
            if form_text(form, "password", max_length=1024) != form_text(
                form, "confirm_password", max_length=1024
            ):
                raise DomainError(
                    "invalid_request", "The passwords do not match.", param="confirm_password"
                )
            invitation_accept(
                token=self.router.url.query_parameters.get("token", ""),
                password=form_text(form, "password", max_length=1024),
                full_name=form_text(form, "full_name"),
                ip_address=self._client_ip(),
            )
        except DomainError as error:
            self.error, self.error_field = error.message, error.param or ""
            return None
        return rx.redirect("/login?joined=1")

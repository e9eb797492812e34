"""The audit log: who did what, when and from where. Entries are added to the caller's
transaction, so a change and its entry commit together or not at all; there is no service
that changes or deletes them."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from paybridge.models import AuditEntry, User
from paybridge.permissions import Actor


class AuditAction:
    SIGNED_IN = "signed_in"
    MEMBER_INVITED = "member.invited"
    INVITATION_REVOKED = "invitation.revoked"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    OWNERSHIP_TRANSFERRED = "member.ownership_transferred"
    ACCOUNT_CLOSED = "account.closed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_UPDATED = "webhook.updated"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_SECRET_ROLLED = "webhook.secret_rolled"
    PAYOUT_SETTINGS_CHANGED = "payout_settings.changed"
    ACCOUNT_PROFILE_CHANGED = "account.profile_changed"
    WITHDRAWAL = "withdrawal"
    REFUND = "refund"


def audit_record(
    session: Session,
    *,
    actor: Actor | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Add an entry for what `actor` did. Trusted internal callers (actor None: the command
    line, the worker's scheduled payouts) are not people and leave no entry."""
    if actor is None:
        return
    email = actor.email
    if not email and actor.user_id is not None:
        person = session.get(User, actor.user_id)
        email = person.email if person else ""
    session.add(
        AuditEntry(
            merchant_id=actor.merchant_id,
            actor_user_id=actor.user_id,
            actor_api_key_id=actor.api_key_id,
            actor_email=email,
            action=action,
            target=target[:120],
            details=details or {},
            ip_address=actor.ip_address[:64],
        )
    )

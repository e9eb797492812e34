"""The people of an account, its open invitations and its audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from paybridge.db import utcnow
from paybridge.models import AuditEntry, Invitation, Membership, User
from paybridge.selectors.id_pages import id_page
from paybridge.selectors.pagination import Page, PageRequest


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    full_name: str
    role: str
    joined_at: datetime
    account_holder: bool  # the person whose row is the account: never removed


def membership_of(*, session: Session, user_id: int) -> Membership | None:
    """The account a person belongs to and their role there."""
    return session.get(Membership, user_id)


def members(*, session: Session, merchant_id: int) -> list[Member]:
    """Everyone in the account, in the order they joined."""
    rows = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(Membership.account_id == merchant_id)
        .order_by(col(Membership.created_at), col(User.id))
    ).all()
    return [
        Member(
            id=user.id or 0,
            email=user.email,
            full_name=user.full_name,
            role=membership.role,
            joined_at=membership.created_at,
            account_holder=user.id == merchant_id,
        )
        for user, membership in rows
    ]


def open_invitations(*, session: Session, merchant_id: int) -> list[Invitation]:
    """Invitations that can still be accepted, newest first."""
    return list(
        session.exec(
            select(Invitation)
            .where(
                Invitation.account_id == merchant_id,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(col(Invitation.id).desc())
        ).all()
    )


def audit_page(*, session: Session, merchant_id: int, page: PageRequest) -> Page[AuditEntry]:
    return id_page(session, AuditEntry, merchant_id=merchant_id, page=page)

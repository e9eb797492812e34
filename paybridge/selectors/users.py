"""Who the merchant is: the one summary the dashboard, settings page and API all show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from paybridge.models import User
from paybridge.models.keys import key


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    full_name: str
    company_name: str
    initials: str  # the avatar when there is no image
    account_type: str
    kyc_status: str
    timezone: str
    created_at: str


def initials_for(full_name: str, email: str) -> str:
    words = [w for w in full_name.split() if w[:1].isalpha()]
    if words:
        return "".join(w[0] for w in (words[0], words[-1]) if w)[
            : 2 if len(words) > 1 else 1
        ].upper()
    return email[:1].upper()


def user_by_email(*, session: Session, email: str) -> User | None:
    """The account with this (already cleaned, lower-case) email."""
    return session.exec(select(User).where(col(User.email) == email)).first()


def user_summary(*, session: Session, merchant_id: int) -> UserSummary | None:
    user = session.get(User, merchant_id)
    if user is None:
        return None
    return UserSummary(
        id=key(user),
        email=user.email,
        full_name=user.full_name,
        company_name=user.company_name,
        initials=initials_for(user.full_name, user.email),
        account_type=user.account_type,
        kyc_status=user.kyc_status,
        timezone=user.timezone,
        created_at=user.created_at.isoformat(),
    )

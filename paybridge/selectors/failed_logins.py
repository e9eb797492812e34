"""Failed sign-ins on a merchant's account, for the notice shown after they sign in and the
settings page's list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.db import utcnow
from paybridge.models import FailedLogin, LoginOutcome

RECENT = timedelta(days=30)


@dataclass(frozen=True)
class FailedLoginNotice:
    """What the owner has not acknowledged yet."""

    count: int  # wrong passwords
    locked: bool  # sign-in from new devices was paused at least once
    latest_at: datetime
    latest_ip: str


@dataclass(frozen=True)
class FailedLoginRow:
    at: datetime
    outcome: str
    known_device: bool
    ip_address: str
    user_agent: str


def failed_login_notice(*, session: Session, merchant_id: int) -> FailedLoginNotice | None:
    """None when there is nothing new to tell (one indexed query: every page's frame asks)."""
    unseen = (col(FailedLogin.user_id) == merchant_id, col(FailedLogin.acknowledged_at).is_(None))
    counts = session.exec(
        select(
            sa.func.count().filter(col(FailedLogin.outcome) == LoginOutcome.WRONG_PASSWORD.value),
            sa.func.count().filter(col(FailedLogin.outcome) == LoginOutcome.LOCKED.value),
        ).where(*unseen)
    ).one()
    if not counts[0] and not counts[1]:
        return None
    latest = session.exec(
        select(FailedLogin).where(*unseen).order_by(col(FailedLogin.created_at).desc()).limit(1)
    ).one()
    return FailedLoginNotice(
        count=counts[0], locked=counts[1] > 0, latest_at=latest.created_at,
        latest_ip=latest.ip_address,
    )  # fmt: skip


def failed_logins_recent(
    *, session: Session, merchant_id: int, limit: int = 20
) -> list[FailedLoginRow]:
    """The latest failed sign-ins of the last 30 days, newest first."""
    rows = session.exec(
        select(FailedLogin)
        .where(
            col(FailedLogin.user_id) == merchant_id,
            col(FailedLogin.created_at) >= utcnow() - RECENT,
        )
        .order_by(col(FailedLogin.created_at).desc(), col(FailedLogin.id).desc())
        .limit(limit)
    ).all()
    return [
        FailedLoginRow(
            at=row.created_at,
            outcome=row.outcome,
            known_device=row.known_device,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
        )
        for row in rows
    ]

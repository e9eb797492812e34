"""The owner's own two writes: handing the ownership to another member, and closing the account.

Both are confirmed with the owner's password (a session left open on a shared computer is not
enough), counted like sign-in attempts. Both take the account's row lock first (step 3 of
`services.locks`) and read the actor's role again under it, so two transfers, or a transfer and
a close, run one after the other and the second sees what the first did: the one who handed
the ownership on is an admin by then and is refused, and a closed account changes nothing
more. A transfer never changes how many owners the account has.

Closing keeps every row (payments are financial records): it marks the account closed, ends
every session and API key and open invitation, and sign-ins are refused from then on
(`services.auth.authenticate`). It is refused while money is still in the account or on its
way to the bank, so nothing is left behind in a closed account.
"""

from __future__ import annotations

from sqlmodel import Session, col, func, select, update

from paybridge.db import read_session, retry_on_contention, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events.revocations import Revocation, announce_revocation
from paybridge.models import (
    ApiKey,
    AuthSession,
    Invitation,
    Membership,
    Settlement,
    SettlementStatus,
    User,
)
from paybridge.money import format_money
from paybridge.permissions import Action, Actor, Role, authorize
from paybridge.selectors.balances import balances
from paybridge.services import throttle
from paybridge.services.audit import AuditAction, audit_record
from paybridge.services.auth import ACCOUNT_CLOSED
from paybridge.services.locks import lock_merchant_balance, row_lock
from paybridge.services.users import check_password
from paybridge.validation import is_row_id


def _confirm_password(actor: Actor, password: object) -> None:
    """The person acting types their password again. Wrong guesses use up an allowance of
    their own (`throttle.PASSWORD_CONFIRM`); the right one gives its attempt back."""
    hit = (throttle.PASSWORD_CONFIRM, str(actor.user_id))
    throttle.attempt(hit)
    with read_session() as session:
        person = session.get(User, actor.user_id) if actor.user_id is not None else None
    if (
        person is None
        or not isinstance(password, str)
        or len(password) > 1024
        or not check_password(password, person.password_hash)
    ):
        raise DomainError("invalid_password", "The password is incorrect.", param="password")
    throttle.refund(hit)


def _lock_as_owner(session: Session, actor: Actor) -> tuple[User, Membership]:
    """Lock the account, then the actor's membership, and check under the locks that the
    account is open and the actor still owns it (the role in `actor` may be from before a
    transfer that just committed). Returns both rows."""
    account = lock_merchant_balance(session, actor.merchant_id)
    if account.closed_at is not None:
        raise DomainError("account_closed", ACCOUNT_CLOSED)
    mine = session.exec(
        row_lock(
            select(Membership).where(
                col(Membership.user_id) == actor.user_id,
                col(Membership.account_id) == actor.merchant_id,
            )
        )
    ).first()
    if mine is None or mine.role != Role.OWNER:
        raise DomainError("permission_denied", "Only the owner can do this.")
    return account, mine


@retry_on_contention
def ownership_transfer(*, actor: Actor, user_id: object, password: object) -> Membership:
    """Make member `user_id` the owner; the owner acting becomes an admin. Both people's tokens
    and open tabs act with their new roles at once."""
    authorize(actor, Action.OWNERSHIP_TRANSFER, merchant_id=actor.merchant_id)
    if not is_row_id(user_id):
        raise DomainError("not_found", "No such member.", param="member_id")
    if user_id == actor.user_id:
        raise DomainError(
            "cannot_change_yourself", "You own the account already.", param="member_id"
        )
    _confirm_password(actor, password)
    with write_session() as session:
        _, mine = _lock_as_owner(session, actor)
        target = session.exec(
            row_lock(
                select(Membership).where(
                    col(Membership.user_id) == user_id,
                    col(Membership.account_id) == actor.merchant_id,
                )
            )
        ).first()
        if target is None:
            raise DomainError("not_found", "No such member.", param="member_id")
        if target.role == Role.OWNER:
            raise DomainError("already_owner", "This member is an owner already.")
        before = target.role
        target.role, mine.role = Role.OWNER.value, Role.ADMIN.value
        session.add_all([target, mine])
        person = session.get_one(User, target.user_id)
        audit_record(
            session,
            actor=actor,
            action=AuditAction.OWNERSHIP_TRANSFERRED,
            target=person.email,
            details={"from": before, "to": Role.OWNER.value, "previous_owner_now": "admin"},
        )
        session.commit()
        session.refresh(target)
    announce_revocation(Revocation(user_ids=(target.user_id, mine.user_id)))
    return target


def _refuse_money_left(session: Session, merchant_id: int) -> None:
    """Nothing may be left in a closed account: no balance (available, held, or below zero
    after refunds) and no payout still on its way."""
    for balance in balances(session=session, merchant_id=merchant_id):
        if balance.available > 0:
            raise DomainError(
                "balance_not_zero",
                f"{format_money(balance.available, balance.currency)} is still available: "
                "withdraw it first, then close the account.",
            )
        if balance.pending:
            raise DomainError(
                "balance_not_zero",
                f"{format_money(balance.pending, balance.currency)} is still held: close the "
                "account once it is released and withdrawn.",
            )
        if balance.available < 0:
            owed = format_money(-balance.available, balance.currency)
            raise DomainError(
                "balance_not_zero",
                f"Refunds have taken {owed} more than the balance: close the account once "
                "new payments have covered it.",
            )
    on_the_way = session.exec(
        select(func.count()).where(
            col(Settlement.merchant_id) == merchant_id,
            col(Settlement.status).in_([SettlementStatus.PENDING, SettlementStatus.PROCESSING]),
        )
    ).one()
    if on_the_way:
        raise DomainError(
            "payouts_pending",
            "A payout is still on its way to the bank: close the account once it has completed.",
        )


@retry_on_contention
def account_close(*, actor: Actor, password: object) -> User:
    """Close the account: every session, API key and open invitation ends at once, and nobody
    signs in to it again. Its records stay."""
    authorize(actor, Action.ACCOUNT_CLOSE, merchant_id=actor.merchant_id)
    _confirm_password(actor, password)
    now = utcnow()
    with write_session() as session:
        account, _ = _lock_as_owner(session, actor)
        _refuse_money_left(session, actor.merchant_id)
        people = tuple(
            session.exec(
                select(col(Membership.user_id)).where(
                    col(Membership.account_id) == actor.merchant_id
                )
            ).all()
        )
        keys = tuple(
            key_id
            for key_id in session.exec(
                select(col(ApiKey.id)).where(
                    col(ApiKey.merchant_id) == actor.merchant_id, col(ApiKey.revoked_at).is_(None)
                )
            ).all()
            if key_id is not None
        )
        session.exec(update(ApiKey).where(col(ApiKey.id).in_(keys)).values(revoked_at=now))
        session.exec(
            update(AuthSession)
            .where(col(AuthSession.user_id).in_(people), col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        session.exec(
            update(Invitation)
            .where(
                col(Invitation.account_id) == actor.merchant_id,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
            )
            .values(revoked_at=now)
        )
        account.closed_at = now
        session.add(account)
        audit_record(
            session,
            actor=actor,
            action=AuditAction.ACCOUNT_CLOSED,
            target=account.email,
            details={"sessions_of": len(people), "api_keys_revoked": len(keys)},
        )
        session.commit()
        session.refresh(account)
    announce_revocation(Revocation(api_key_ids=keys, user_ids=people))
    return account

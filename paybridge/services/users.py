"""Merchant accounts."""

from __future__ import annotations

from enum import Enum
from typing import Final

import bcrypt
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from paybridge.db import utcnow, write_session
from paybridge.errors import DomainError
from paybridge.models import AccountType, KycStatus, Membership, PayoutSchedule, User
from paybridge.models.keys import key
from paybridge.permissions import Action, Actor, Role, authorize
from paybridge.services import throttle
from paybridge.services.audit import AuditAction, audit_record
from paybridge.services.locks import row_lock
from paybridge.validation import (
    MIN_PASSWORD_LENGTH,
    clean_choice,
    clean_email,
    clean_text,
    clean_timezone,
)


class Unchanged(Enum):
    """The value that leaves a field as it is, in an update where None is a value of its own."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED
BCRYPT_ROUNDS = 12
MAX_PASSWORD_BYTES = 72  # bcrypt ignores anything longer: refuse rather than silently truncate


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


def clean_password(password: object, *, param: str = "password") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            "weak_password",
            f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.",
            param=param,
        )
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise DomainError(
            "invalid_password", f"Passwords are at most {MAX_PASSWORD_BYTES} bytes.", param=param
        )
    return password


def user_create(
    *,
    email: str,
    password: str,
    full_name: str,
    company_name: str = "",
    account_type: str = AccountType.BUSINESS.value,
    kyc_status: str = KycStatus.PENDING.value,
    timezone: str = "UTC",
) -> User:
    """Create a merchant: an account with its first person as the owner. A taken email (in
    any letter case) is refused with `email_taken` by the database's unique index, after the
    same work as a new one (the password hashed, the row inserted), so the refusal does not
    come back sooner."""
    user = User(
        email=clean_email(email),
        password_hash="",
        full_name=clean_text(full_name, param="full_name", max_length=120),
        company_name=clean_text(company_name, param="company_name", max_length=120, required=False),
        account_type=clean_choice(account_type, AccountType, param="account_type"),
        kyc_status=clean_choice(kyc_status, KycStatus, param="kyc_status"),
        timezone=clean_timezone(timezone),
    )
    user.password_hash = hash_password(clean_password(password))
    with write_session() as session:
        session.add(user)
        try:
            session.flush()
            session.add(Membership(user_id=key(user), account_id=key(user), role=Role.OWNER.value))
            session.commit()
        except IntegrityError:
            session.rollback()
            raise DomainError(
                "email_taken", "An account with this email exists.", param="email"
            ) from None
        return user


def user_signup(
    *,
    client: str,
    email: str,
    password: str,
    full_name: str,
    company_name: str = "",
    account_type: str = AccountType.BUSINESS.value,
) -> User:
    """Self-service sign-up. Counted per client address and in total before the password is
    hashed (each sign-up costs a bcrypt hash and makes an account); a form refused for its
    content (a short password, a bad email) gives its attempt back, a taken email does not."""
    hits = ((throttle.SIGNUP_ADDRESS, client), (throttle.SIGNUP_TOTAL, "all"))
    throttle.attempt(*hits)
    try:
        return user_create(
            email=email,
            password=password,
            full_name=full_name,
            company_name=company_name,
            account_type=account_type,
        )
    except DomainError as error:
        if error.code != "email_taken":
            throttle.refund(*hits)
        raise


def user_update_profile(
    *,
    user_id: int,
    full_name: object,
    company_name: object,
    timezone: object,
    actor: Actor | None = None,
) -> User:
    """Edit the profile fields a merchant controls (email and KYC status are not among them):
    the person's own name, and the account's company and timezone, which only roles with
    `account.profile` may change."""
    name = clean_text(full_name, param="full_name", max_length=120)
    company = clean_text(company_name, param="company_name", max_length=120, required=False)
    zone = clean_timezone(timezone)
    account_id = actor.merchant_id if actor is not None else user_id
    with write_session() as session:
        account = _get_for_update(session, account_id)
        if (account.company_name, account.timezone) != (company, zone):
            authorize(actor, Action.ACCOUNT_PROFILE, merchant_id=account_id)
            audit_record(
                session,
                actor=actor,
                action=AuditAction.ACCOUNT_PROFILE_CHANGED,
                details={"company_name": company, "timezone": zone},
            )
            account.company_name, account.timezone = company, zone
        user = account if account_id == user_id else _get_for_update(session, user_id)
        user.full_name = name
        session.commit()
        return user


def user_set_kyc_status(*, user_id: int, kyc_status: str) -> User:
    status = clean_choice(kyc_status, KycStatus, param="kyc_status")
    with write_session() as session:
        user = _get_for_update(session, user_id)
        user.kyc_status = status
        session.commit()
        return user


def user_update_payout_settings(
    *,
    user_id: int,
    schedule: str,
    weekday: int = 0,
    day_of_month: int = 1,
    bank_name: str | None = None,
    bank_account_number: str | None = None,
    hold_days: int | Unchanged | None = UNCHANGED,
    actor: Actor | None = None,
) -> User:
    """Set when and where payouts go. The account number is kept masked (last 4 digits only).
    New payout dates are in force from now (`payout_schedule_since`): none before is caught up.
    `hold_days` is the platform's risk setting (None = platform default); merchants' own forms
    leave it UNCHANGED."""
    authorize(actor, Action.PAYOUT_SETTINGS, merchant_id=user_id)
    schedule = clean_choice(schedule, PayoutSchedule, param="schedule")
    if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
        raise DomainError("invalid_request", "weekday is 0 (Monday) to 6.", param="weekday")
    if (
        isinstance(day_of_month, bool)
        or not isinstance(day_of_month, int)
        or not 1 <= day_of_month <= 31
    ):
        raise DomainError("invalid_request", "day_of_month is 1 to 31.", param="day_of_month")
    if (
        hold_days is not UNCHANGED
        and hold_days is not None
        and (
            isinstance(hold_days, bool)
            or not isinstance(hold_days, int)
            or not 0 <= hold_days <= 365
        )
    ):
        raise DomainError("invalid_request", "hold_days is 0 to 365.", param="hold_days")
    masked = None
    if bank_account_number is not None:
        digits = "".join(ch for ch in str(bank_account_number) if ch.isalnum())
        if not 4 <= len(digits) <= 34:
            raise DomainError(
                "invalid_bank_account", "Enter a bank account number.", param="bank_account"
            )
        masked = f"•••• {digits[-4:]}"
    with write_session() as session:
        user = _get_for_update(session, user_id)
        dates = (schedule, weekday, day_of_month)
        if dates != (user.payout_schedule, user.payout_weekday, user.payout_day_of_month):
            user.payout_schedule_since = utcnow()
        user.payout_schedule = schedule
        user.payout_weekday = weekday
        user.payout_day_of_month = day_of_month
        if hold_days is not UNCHANGED:
            user.hold_days = hold_days
        if bank_name is not None:
            user.bank_name = clean_text(bank_name, param="bank_name", max_length=80)
        if masked is not None:
            user.bank_account_masked = masked
        audit_record(
            session,
            actor=actor,
            action=AuditAction.PAYOUT_SETTINGS_CHANGED,
            details={
                "schedule": schedule,
                "weekday": weekday,
                "day_of_month": day_of_month,
                "bank_name": user.bank_name,
                "bank_account": user.bank_account_masked,
            },
        )
        session.commit()
        return user


def _get_for_update(session: Session, user_id: int) -> User:
    user = session.exec(row_lock(select(User).where(col(User.id) == user_id))).first()
    if user is None:
        raise DomainError("not_found", "No such merchant.", param="user_id")
    return user

"""Payouts after the withdrawal: the payout rail that moves the money, the lifecycle the worker
drives (pending -> processing -> completed | failed), and scheduled automatic payouts.

The rail
--------
A `PayoutRail` is the bank connection. The worker asks it about every open payout:
`submit` for a pending one (hand it to the bank: None = not yet, or PROCESSING, or FAILED) and
`check` for a processing one (None = still processing, or COMPLETED, or FAILED). Answers are
applied with `services.settlements.settlement_update_status`, which records a
`settlement.updated` event (feed, webhooks, live dashboard); a failed payout stops debiting the
available balance, so its money is available again at once. A real rail must make `submit`
idempotent by the payout reference (the bank's idempotency key): a worker that dies between
submitting and recording submits again.

The sandbox rail
----------------
`SandboxRail` moves every payout to processing `processing_after` seconds after it was created
and completes it `complete_after` seconds after creation — except for these test bank account
numbers (matched on the last four digits, the only part PayBridge stores):

| account number ends in | outcome                                                  |
| ---------------------- | -------------------------------------------------------- |
| 0002                   | fails while processing: "Account closed"                 |
| 0003                   | fails at submission: "Invalid account number"            |
| 0004                   | fails while processing: "Payout declined by the bank"    |

The delays come from `PAYBRIDGE_SANDBOX_PROCESSING_SECONDS` (default 5) and
`PAYBRIDGE_SANDBOX_COMPLETE_SECONDS` (default 30).

Schedules
---------
A merchant's `payout_schedule` is manual, daily, weekly (on `payout_weekday`, 0 = Monday) or
monthly (on `payout_day_of_month`; 29-31 mean the month's last day in shorter months), all in
the merchant's own timezone. On a payout date `payouts_run_scheduled` withdraws the whole
available balance of every currency, once: the idempotency key `scheduled:<local date>:<CUR>`
makes a second run (or a second worker) a no-op. A worker that was down on a payout date still
pays it out within `grace_days` (2) local days, but only a date the schedule was in force on
(`User.payout_schedule_since` before that day ended): a merchant who switches to weekly on
Friday on a Saturday, or a demo seeded on a Saturday, is paid the next Friday, not at once.
Older missed dates are skipped rather than paid out by surprise.
"""

from __future__ import annotations

import calendar
import contextlib
import logging
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select

from paybridge.db import read_session, utcnow
from paybridge.engine import get_engine
from paybridge.errors import DomainError
from paybridge.models import PayoutSchedule, Settlement, SettlementStatus, User
from paybridge.models.keys import key
from paybridge.selectors.balances import balances
from paybridge.services.settlements import settlement_update_status, settlement_withdraw

log = logging.getLogger(__name__)

SANDBOX_FAILURES_AT_PROCESSING = {
    "0002": "Account closed",
    "0004": "Payout declined by the bank",
}
SANDBOX_FAILURES_AT_SUBMIT = {"0003": "Invalid account number"}
SCHEDULED_KEY_PREFIX = "scheduled:"


# --- the rail ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RailPayout:
    """What a rail needs to know about a payout."""

    reference: str
    merchant_id: int
    amount: int
    currency: str
    bank_account: str  # masked: "•••• 6789"
    status: str
    created_at: datetime


@dataclass(frozen=True)
class RailUpdate:
    status: SettlementStatus
    failure_reason: str | None = None


class PayoutRail(Protocol):
    @property
    def name(self) -> str: ...

    def submit(self, payout: RailPayout, *, now: datetime) -> RailUpdate | None:
        """A pending payout: hand it to the bank. None = try again later."""

    def check(self, payout: RailPayout, *, now: datetime) -> RailUpdate | None:
        """A processing payout: has the bank finished? None = still processing."""


def _last_four(bank_account: str) -> str:
    digits = "".join(ch for ch in bank_account if ch.isalnum())
    return digits[-4:]


@dataclass(frozen=True)
class SandboxRail:
    """A pretend bank with fixed delays and documented failing accounts (module docstring)."""

    processing_after: float = 5.0
    complete_after: float = 30.0
    name: str = "sandbox"

    @classmethod
    def from_env(cls) -> SandboxRail:
        return cls(
            processing_after=float(os.environ.get("PAYBRIDGE_SANDBOX_PROCESSING_SECONDS", "5")),
            complete_after=float(os.environ.get("PAYBRIDGE_SANDBOX_COMPLETE_SECONDS", "30")),
        )

    def _age(self, payout: RailPayout, now: datetime) -> float:
        return (now - payout.created_at).total_seconds()

    def submit(self, payout: RailPayout, *, now: datetime) -> RailUpdate | None:
        reason = SANDBOX_FAILURES_AT_SUBMIT.get(_last_four(payout.bank_account))
        if reason is not None:
            return RailUpdate(SettlementStatus.FAILED, reason)
        if self._age(payout, now) >= self.processing_after:
            return RailUpdate(SettlementStatus.PROCESSING)
        return None

    def check(self, payout: RailPayout, *, now: datetime) -> RailUpdate | None:
        if self._age(payout, now) < self.complete_after:
            return None
        reason = SANDBOX_FAILURES_AT_PROCESSING.get(_last_four(payout.bank_account))
        if reason is not None:
            return RailUpdate(SettlementStatus.FAILED, reason)
        return RailUpdate(SettlementStatus.COMPLETED)


@contextlib.contextmanager
def exclusive_job(name: str) -> Iterator[bool]:
    """True when this process may run job `name` now. On PostgreSQL a transaction-level
    advisory lock is held until the block ends, so several workers take turns; SQLite runs one
    worker and always gets True. The lock's transaction stays open, idle, while the job runs
    (its own writes are other transactions), so it alone is exempt from the server's idle
    transaction timeout. A transaction-level lock, unlike a session one, also works through
    PgBouncer in transaction mode. It takes no snapshot between statements, so it holds back
    no vacuum."""
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = zlib.crc32(f"paybridge:{name}".encode())
    with engine.connect() as conn, conn.begin():
        conn.execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = 0"))
        got = conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar()
        yield bool(got)


def payouts_advance(
    *, rail: PayoutRail | None = None, now: datetime | None = None, limit: int = 200
) -> int:
    """Ask the rail about every open payout (oldest first) and apply what it says. Returns
    the number of status changes made."""
    rail = rail or SandboxRail.from_env()
    now = now or utcnow()
    with exclusive_job("payouts_advance") as mine:
        if not mine:
            return 0
        with read_session() as session:
            open_payouts = [
                RailPayout(
                    reference=s.reference,
                    merchant_id=s.merchant_id,
                    amount=s.amount,
                    currency=s.currency,
                    bank_account=s.bank_account,
                    status=s.status,
                    created_at=s.created_at,
                )
                for s in session.exec(
                    select(Settlement)
                    .where(
                        col(Settlement.status).in_(
                            [SettlementStatus.PENDING.value, SettlementStatus.PROCESSING.value]
                        )
                    )
                    .order_by(col(Settlement.id))
                    .limit(limit)
                ).all()
            ]
        changes = 0
        for payout in open_payouts:
            changes += _advance_one(rail, payout, now)
        return changes


def _advance_one(rail: PayoutRail, payout: RailPayout, now: datetime) -> int:
    changes = 0
    current = payout
    while current.status in (SettlementStatus.PENDING, SettlementStatus.PROCESSING):
        if current.status == SettlementStatus.PENDING:
            update = rail.submit(current, now=now)
        else:
            update = rail.check(current, now=now)
        if update is None:
            break
        try:
            settlement_update_status(
                merchant_id=current.merchant_id,
                reference=current.reference,
                status=update.status.value,
                failure_reason=update.failure_reason,
            )
        except DomainError as error:  # changed meanwhile (another worker, an operator)
            log.info("payout %s not advanced: %s", current.reference, error.message)
            break
        changes += 1
        current = RailPayout(**{**current.__dict__, "status": update.status.value})
    return changes


# --- schedules -----------------------------------------------------------------------------


def local_today(user: User, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(user.timezone)).date()


def payout_due_on(user: User, day: date) -> bool:
    """Whether `day` (a local date of the merchant) is one of its scheduled payout dates."""
    schedule = user.payout_schedule
    if schedule == PayoutSchedule.DAILY:
        return True
    if schedule == PayoutSchedule.WEEKLY:
        return day.weekday() == user.payout_weekday
    if schedule == PayoutSchedule.MONTHLY:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(user.payout_day_of_month, last)
    return False


def last_payout_date(user: User, now: datetime | None = None) -> date | None:
    """The latest scheduled payout date on or before the merchant's local today (None for a
    manual schedule)."""
    if user.payout_schedule == PayoutSchedule.MANUAL:
        return None
    today = local_today(user, now)
    for back in range(0, 32):
        day = today - timedelta(days=back)
        if payout_due_on(user, day):
            return day
    return None


def schedule_in_force_on(user: User, day: date) -> bool:
    """Whether the merchant's current payout dates applied at some moment of local `day`, so
    that a worker running all that day would have paid it out."""
    zone = ZoneInfo(user.timezone)
    day_ends = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return user.payout_schedule_since < day_ends


def scheduled_key(day: date, currency: str) -> str:
    return f"{SCHEDULED_KEY_PREFIX}{day.isoformat()}:{currency}"


def payouts_run_scheduled(*, now: datetime | None = None, grace_days: int = 2) -> list[Settlement]:
    """Pay out the available balance of every merchant whose payout date it is (see the module
    docstring). Returns the settlements created. Amounts are what is available when the
    payout is made; `now` only chooses the date (tests pass a fixed instant)."""
    now = now or utcnow()
    made: list[Settlement] = []
    with exclusive_job("payouts_scheduled") as mine:
        if not mine:
            return made
        with read_session() as session:
            users = list(
                session.exec(
                    select(User).where(
                        col(User.payout_schedule) != PayoutSchedule.MANUAL.value,
                        col(User.bank_account_masked) != "",
                    )
                ).all()
            )
        for user in users:
            made.extend(_run_for_merchant(user, now, grace_days))
    return made


def _run_for_merchant(user: User, now: datetime, grace_days: int) -> list[Settlement]:
    try:
        day = last_payout_date(user, now)
    except (KeyError, ValueError):  # an unknown timezone: never pay out by guesswork
        log.warning("merchant %s: bad timezone %r, no scheduled payout", user.id, user.timezone)
        return []
    if day is None or (local_today(user, now) - day).days > grace_days:
        return []
    if not schedule_in_force_on(user, day):  # set after that date: never a surprise payout
        return []
    made: list[Settlement] = []
    with read_session() as session:
        wanted = [b for b in balances(session=session, merchant_id=key(user)) if b.available > 0]
        done = set(
            session.exec(
                select(col(Settlement.idempotency_key)).where(
                    col(Settlement.merchant_id) == user.id,
                    col(Settlement.idempotency_key).in_(
                        [scheduled_key(day, b.currency) for b in wanted]
                    ),
                )
            ).all()
        )
    for balance in wanted:
        payout_key = scheduled_key(day, balance.currency)
        if payout_key in done:
            continue
        try:
            made.append(
                settlement_withdraw(
                    merchant_id=key(user),
                    amount=balance.available,
                    currency=balance.currency,
                    idempotency_key=payout_key,
                )
            )
        except DomainError as error:  # the balance moved meanwhile, or already paid out
            log.info("merchant %s: scheduled payout skipped: %s", user.id, error.message)
    return made

"""Row locks, and the one order every write path takes them in.

Two transactions deadlock only when each waits for a lock the other holds; taking locks in
one global order makes that impossible. Every PayBridge write takes its locks in this order
and never goes back up it:

1. the Idempotency-Key advisory lock (a try-lock: a second request with the key is refused
   at once with `idempotency_key_in_use`, it never waits);
2. the idempotency record (inserted, or locked when the key was seen before);
3. the merchant's balance lock — the merchant's `users` row — taken only by writes that can
   lower the available balance (withdrawals, scheduled payouts, refunds), so they run one at a
   time per merchant and each sees the others' effect before it checks the balance;
4. the one business row the write changes: a payment, a payout, a webhook endpoint, an API
   key, a session;
5. rollup buckets (upserts in sorted key order, `services.rollups`);
6. plain inserts: outbox events, refunds, attempts.

Every row lock is `FOR NO KEY UPDATE` (`row_lock`): PayBridge never changes a key that a
foreign key points at, and this mode does not conflict with the `FOR KEY SHARE` lock that
PostgreSQL takes on a parent row whenever a child row referencing it is inserted (step 2
inserts a row referencing the merchant before step 3 locks it; with `FOR UPDATE`, step 3 would
have to upgrade past every concurrent request's step 2, which deadlocks). SQLite has no row
locks: BEGIN IMMEDIATE gives each write the whole database, which is this order trivially.
What still collides (a deadlock or serialization failure caused by something outside this
order) is rerun by `paybridge.db.in_unit` / `retry_on_contention`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session, col, select

from paybridge.errors import DomainError
from paybridge.models import Transaction, User

Q = TypeVar("Q", bound=Any)


def row_lock(query: Q) -> Q:
    """`query ... FOR NO KEY UPDATE` (see the module docstring for why not FOR UPDATE)."""
    return query.with_for_update(key_share=True)


def lock_merchant_balance(session: Session, merchant_id: int) -> User:
    """Step 3: hold the merchant's balance until the transaction ends; returns the merchant."""
    user = session.exec(row_lock(select(User).where(col(User.id) == merchant_id))).first()
    if user is None:
        raise DomainError("not_found", "No such merchant.")
    return user


def lock_payment(session: Session, merchant_id: int, reference: str) -> Transaction:
    """Step 4 for payment writes: the merchant's payment `reference`, locked (or not_found)."""
    tx = session.exec(
        row_lock(
            select(Transaction).where(
                col(Transaction.merchant_id) == merchant_id, col(Transaction.reference) == reference
            )
        )
    ).first()
    if tx is None:
        raise DomainError("not_found", "No such payment.", param="reference")
    return tx

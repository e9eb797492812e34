"""Merchant accounts from the command line: migrate, createuser, and seed (a demo merchant with
months of history)."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from paybridge.db import read_session
from paybridge.engine import get_engine
from paybridge.migrations import migrate
from paybridge.models import KycStatus, PayoutSchedule, SettlementStatus, User
from paybridge.models.keys import key
from paybridge.selectors.transactions import merchant_has_payments

DEMO_EMAIL = "demo@paybridge.dev"
DEMO_PASSWORD = "paybridge-demo-2026"


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrate(get_engine())
    print("database is at the latest migration")
    return 0


def find_user(email: str) -> User | None:
    from paybridge.selectors.users import user_by_email
    from paybridge.validation import clean_email

    with read_session() as session:
        return user_by_email(session=session, email=clean_email(email))


def ensure_merchant(
    *, email: str, password: str, company: str, full_name: str, kyc: str, bank: bool
) -> tuple[User, bool]:
    from paybridge.services.users import (
        user_create,
        user_set_kyc_status,
        user_update_payout_settings,
    )

    user = find_user(email)
    created = user is None
    if user is None:
        user = user_create(
            email=email,
            password=password,
            full_name=full_name,
            company_name=company,
            kyc_status=kyc,
            timezone="Africa/Lagos",
        )
    elif user.kyc_status != kyc:
        user = user_set_kyc_status(user_id=key(user), kyc_status=kyc)
    if bank and not user.bank_account_masked:
        user = user_update_payout_settings(
            user_id=key(user),
            schedule=PayoutSchedule.WEEKLY.value,
            weekday=4,
            bank_name="Demo Bank",
            bank_account_number="0123456789",
        )
    return user, created


def cmd_createuser(args: argparse.Namespace) -> int:
    if find_user(args.email) is not None:
        print(f"error: an account with {args.email} exists", file=sys.stderr)
        return 2
    user, _ = ensure_merchant(
        email=args.email,
        password=args.password,
        company=args.company,
        full_name=args.full_name or args.company or args.email.split("@")[0],
        kyc=args.kyc,
        bank=True,
    )
    print(f"created merchant #{user.id} {user.email} (KYC {user.kyc_status})")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from paybridge.services.demo import seed_history, seed_payout_history
    from paybridge.services.providers import providers_ensure_defaults

    migrate(get_engine())
    providers_ensure_defaults()
    email = args.email or DEMO_EMAIL
    password = args.password or DEMO_PASSWORD
    user, created = ensure_merchant(
        email=email,
        password=password,
        company=args.company,
        full_name="Demo Merchant" if email == DEMO_EMAIL else args.company,
        kyc=KycStatus.VERIFIED.value,
        bank=True,
    )
    with read_session() as session:
        has_history = merchant_has_payments(session=session, merchant_id=key(user))
    if has_history and not args.force:
        print(f"{email} already has payments; pass --force to add {args.transactions:,} more")
    else:
        with tqdm(total=args.transactions, unit="tx", desc="seeding payments") as bar:
            seed_history(
                merchant_id=key(user),
                days=args.days,
                transactions=args.transactions,
                progress=bar.update,
            )
        payouts = seed_payout_history(merchant_id=key(user))
        failed = sum(p.status == SettlementStatus.FAILED for p in payouts)
        print(f"seeded {len(payouts)} past scheduled payouts ({failed} failed at the bank)")
    print(f"log in as {email}" + (f" / {password}" if created or email == DEMO_EMAIL else ""))
    return 0

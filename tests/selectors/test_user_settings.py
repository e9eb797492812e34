"""selectors.users.user_timezone and selectors.settlements.user_payout_settings: what the states
read about the account, with the fallbacks they rely on when the account is gone."""

from __future__ import annotations

from datetime import UTC, date, datetime

from paybridge.db import read_session
from paybridge.models import Provider
from paybridge.selectors.analytics import provider_choices
from paybridge.selectors.settlements import user_payout_settings
from paybridge.selectors.users import user_timezone
from paybridge.services.users import user_update_payout_settings
from paybridge.settings import get_settings
from tests.conftest import TestDatabase, create_merchant


def test_timezone_is_the_accounts_and_utc_once_it_is_gone(db: TestDatabase) -> None:
    user = create_merchant(timezone="Asia/Tokyo", bank=False)
    with read_session() as session:
        assert user_timezone(session=session, merchant_id=user.id) == "Asia/Tokyo"
        assert user_timezone(session=session, merchant_id=user.id + 1_000) == "UTC"


def test_payout_settings_carry_schedule_bank_hold_and_next_date(db: TestDatabase) -> None:
    user = create_merchant(timezone="America/Los_Angeles")  # weekly on Fridays, with a bank
    # 2025-06-13 02:00 UTC is still Thursday the 12th in Los Angeles: next Friday is the 13th.
    now = datetime(2025, 6, 13, 2, 0, tzinfo=UTC)
    with read_session() as session:
        payout = user_payout_settings(session=session, merchant_id=user.id, now=now)
        gone = user_payout_settings(session=session, merchant_id=user.id + 1_000)
    assert gone is None
    assert payout is not None
    assert (payout.timezone, payout.schedule, payout.weekday) == (
        "America/Los_Angeles",
        "weekly",
        4,
    )
    assert payout.bank_name == "Test Bank"
    assert payout.bank_account_masked.endswith("6789")
    assert "0123456789" not in payout.bank_account_masked
    assert payout.hold_days == get_settings().hold_days
    assert payout.next_payout == date(2025, 6, 13)

    user_update_payout_settings(user_id=user.id, hold_days=2, schedule="manual")
    with read_session() as session:
        payout = user_payout_settings(session=session, merchant_id=user.id, now=now)
    assert payout is not None
    assert (payout.hold_days, payout.schedule, payout.next_payout) == (2, "manual", None)


def test_provider_choices_are_every_provider_by_display_name(
    providers: dict[str, Provider],
) -> None:
    with read_session() as session:
        choices = provider_choices(session=session)
    assert sorted(choices) == sorted((p.code, p.display_name) for p in providers.values())
    assert [name for _, name in choices] == sorted(p.display_name for p in providers.values())

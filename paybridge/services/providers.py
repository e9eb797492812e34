"""Payment providers (routes) and their fee schedules."""

from __future__ import annotations

from sqlmodel import select

from paybridge.db import write_session
from paybridge.models import Provider

# code, display name, fee in basis points, fixed fee in minor units
DEFAULT_PROVIDERS: tuple[tuple[str, str, int, int], ...] = (
    ("card", "Card", 290, 30),
    ("mobile_money", "Mobile Money", 150, 0),
    ("bank_transfer", "Bank Transfer", 50, 25),
    ("stripe", "Stripe", 290, 30),
    ("paystack", "Paystack", 150, 10),
    ("flutterwave", "Flutterwave", 140, 0),
)


def providers_ensure_defaults() -> list[Provider]:
    """Create the default providers that are missing; leave existing ones as configured."""
    with write_session() as session:
        existing = {p.code for p in session.exec(select(Provider)).all()}
        for code, name, bps, fixed in DEFAULT_PROVIDERS:
            if code not in existing:
                session.add(Provider(code=code, display_name=name, fee_bps=bps, fee_fixed=fixed))
        session.commit()
        return list(session.exec(select(Provider).order_by(Provider.id)).all())


def provider_fee(provider: Provider, amount: int) -> int:
    """The provider's fee for `amount` minor units: percentage (half up) plus fixed, capped."""
    from paybridge.money import percent_of

    return min(amount, percent_of(amount, provider.fee_bps) + provider.fee_fixed)

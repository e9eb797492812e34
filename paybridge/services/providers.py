"""Payment providers (routes) and their fee schedules."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlmodel import col, select

from paybridge.db import read_session, write_session
from paybridge.models import Provider
from paybridge.models.keys import key

ROUTES_TTL = 10.0  # seconds a process trusts its copy of the providers table

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
        providers = list(session.exec(select(Provider).order_by(col(Provider.id))).all())
    forget_routes()
    return providers


def provider_set_active(*, code: str, active: bool) -> Provider:
    """Open or close a route to new payments: at once in this process, within ROUTES_TTL
    seconds in the others."""
    with write_session() as session:
        provider = session.exec(select(Provider).where(col(Provider.code) == code)).first()
        if provider is None:
            from paybridge.errors import DomainError

            raise DomainError("invalid_provider", f"Unknown provider: {code!r}.", param="code")
        provider.is_active = active
        session.add(provider)
        session.commit()
    forget_routes()
    return provider


def provider_fee(provider: Provider | Route, amount: int) -> int:
    """The provider's fee for `amount` minor units: percentage (half up) plus fixed, capped."""
    from paybridge.money import percent_of

    return min(amount, percent_of(amount, provider.fee_bps) + provider.fee_fixed)


@dataclass(frozen=True)
class Route:
    """A provider as the write path needs it (a copy, safe to share between threads)."""

    id: int
    code: str
    display_name: str
    fee_bps: int
    fee_fixed: int
    is_active: bool


@dataclass
class _RouteCache:
    at: float = float("-inf")
    by_code: dict[str, Route] = field(default_factory=dict)
    by_id: dict[int, Route] = field(default_factory=dict)


_routes_lock = threading.Lock()
_routes = _RouteCache()


def _load_routes() -> tuple[dict[str, Route], dict[int, Route]]:
    with _routes_lock:
        if time.monotonic() - _routes.at < ROUTES_TTL:
            return _routes.by_code, _routes.by_id
    with read_session() as session:
        routes = [
            Route(key(p), p.code, p.display_name, p.fee_bps, p.fee_fixed, p.is_active)
            for p in session.exec(select(Provider)).all()
        ]
    by_code, by_id = {r.code: r for r in routes}, {r.id: r for r in routes}
    with _routes_lock:
        _routes.at, _routes.by_code, _routes.by_id = time.monotonic(), by_code, by_id
    return by_code, by_id


def route_for(code: object) -> Route | None:
    """The provider with this code (active or not), read at most every ROUTES_TTL seconds: a
    payment is checked against it without a query of its own. A code it does not know is
    looked up afresh once, so a provider added a moment ago is found."""
    if not isinstance(code, str):
        return None
    route = _load_routes()[0].get(code)
    if route is None:
        forget_routes()
        route = _load_routes()[0].get(code)
    return route


def route_by_id(provider_id: int) -> Route | None:
    route = _load_routes()[1].get(provider_id)
    if route is None:
        forget_routes()
        route = _load_routes()[1].get(provider_id)
    return route


def forget_routes() -> None:
    with _routes_lock:
        _routes.at = float("-inf")

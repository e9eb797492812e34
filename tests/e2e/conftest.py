"""Browser and websocket tests against the real app on PostgreSQL.

One app server runs at a time (they share the compiled `.web`): `app` for the default
topology (no Redis, one worker) and `redis_app` for two Granian workers sharing state in Redis.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from paybridge.db import utcnow
from paybridge.migrations import migrate
from paybridge.models import User
from tests.conftest import (
    MERCHANT_PASSWORD,
    create_merchant,
    forget_database,
    postgres_create_database,
    postgres_test_database_name,
    redis_test_url,
    use_database,
)
from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, AppServer


@dataclass
class Merchants:
    alpha: User
    bravo: User
    password: str = MERCHANT_PASSWORD


def point_at(url: str):  # type: ignore[no-untyped-def]
    """Make this test process's services and selectors use the app's database."""
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    return use_database(url)


@pytest.fixture(scope="session")
def e2e_database() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "REDIS_URL")}
    # This session's slot (paybridge_test_e2e, paybridge_test_1_e2e, ...): a fixed name was
    # dropped and re-migrated under a running suite by another session's browser tests.
    url = postgres_create_database(postgres_test_database_name("e2e"), drop_first=True)
    migrate(point_at(url))
    yield url
    forget_database()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def merchants(e2e_database: str) -> Merchants:
    """Alpha has months of history in USD and EUR; Bravo a little, in USD only."""
    from paybridge.services.demo import seed_history
    from paybridge.services.providers import providers_ensure_defaults
    from paybridge.services.transactions import transaction_create
    from paybridge.services.users import user_update_profile

    point_at(e2e_database)
    providers_ensure_defaults()
    alpha = create_merchant("alpha@example.com", timezone="Africa/Lagos")
    alpha = user_update_profile(
        user_id=alpha.id,
        full_name="Ada Alpha",
        company_name="Alpha Traders",
        timezone="Africa/Lagos",
    )
    bravo = create_merchant("bravo@example.com", timezone="America/New_York")
    bravo = user_update_profile(
        user_id=bravo.id,
        full_name="Bo Bravo",
        company_name="Bravo Goods",
        timezone="America/New_York",
    )
    seed_history(merchant_id=alpha.id, days=60, transactions=3000)
    for days_ago in (12, 20):
        transaction_create(
            merchant_id=bravo.id,
            amount=50_000,
            currency="USD",
            provider="card",
            customer_email="bravo.payer@example.com",
            status="success",
            created_at=utcnow() - timedelta(days=days_ago),
        )
    return Merchants(alpha=alpha, bravo=bravo)


class Servers:
    """Keeps at most one app process alive, restarting it when a test needs another kind."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        self.database_url, self.log_dir = database_url, log_dir
        self.kind: str | None = None
        self.server: AppServer | None = None

    def get(self, kind: str) -> AppServer:
        if self.kind != kind:
            self.close()
            redis = redis_test_url() if kind == "redis" else None
            self.server = AppServer(
                database_url=self.database_url,
                redis_url=redis,
                workers=2 if redis else 1,
                log_dir=self.log_dir,
            )
            self.kind = kind
        assert self.server is not None
        return self.server

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server, self.kind = None, None


@pytest.fixture(scope="session")
def servers(e2e_database: str, merchants: Merchants, tmp_path_factory) -> Iterator[Servers]:
    registry = Servers(e2e_database, tmp_path_factory.mktemp("app-logs"))
    yield registry
    registry.close()


@pytest.fixture
def app(servers: Servers, e2e_database: str) -> AppServer:
    point_at(e2e_database)
    return servers.get("plain")


@pytest.fixture
def redis_app(servers: Servers, e2e_database: str) -> Iterator[AppServer]:
    """Two Granian workers sharing state in Redis; this process publishes to Redis too."""
    point_at(e2e_database)
    os.environ["REDIS_URL"] = redis_test_url()
    use_database(e2e_database)  # also forgets the in-memory bus
    yield servers.get("redis")
    point_at(e2e_database)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def login(browser, app: AppServer, email: str, password: str, *, next_path: str = "/"):
    """A fresh browser context logged in through the real login form; returns its page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{app.url}/login?next={next_path}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(
        re.compile(re.escape(app.url + next_path.rstrip("/")) + "/?$"), timeout=30_000
    )
    page.wait_for_selector("#merchant-name", timeout=30_000)
    return page


def post_payment_and_see_it(
    page, base_url: str, merchant_id: int, *, amount: int, customer_email: str
) -> str:
    """Create a payment through the REST API at `base_url` (fresh API key) and wait until the
    open dashboard `page` shows it in the recent table and the feed; its reference."""
    import httpx

    from paybridge.services.api_keys import api_key_create

    _, secret = api_key_create(merchant_id=merchant_id, name="browser test")
    response = httpx.post(
        f"{base_url}/api/v1/transactions",
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": str(uuid.uuid4())},
        json={
            "amount": amount,
            "currency": "USD",
            "provider": "stripe",
            "customer_email": customer_email,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    page.wait_for_selector(f"#recent-body >> text={reference}", timeout=15_000)
    page.wait_for_selector(f"#feed >> text={customer_email}", timeout=15_000)
    return reference


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run after every other test (Playwright's sync API keeps an event loop
    running in the main thread until the session ends), and the Redis-topology ones last of
    all, so the plain app is compiled and started only once."""

    def order(item: pytest.Item) -> tuple[bool, bool, bool]:
        in_e2e = "tests/e2e/" in item.nodeid.replace("\\", "/")
        fixtures = getattr(item, "fixturenames", ())
        # The static export rebuilds .web, which a running app serves: it goes after them all.
        return in_e2e, "static_frontend" in fixtures, "redis_app" in fixtures

    items.sort(key=order)

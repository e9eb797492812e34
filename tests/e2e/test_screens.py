"""Every page as a merchant meets it, at desktop (1440 px) and phone (390 px) width, light and
dark: one navigation, nothing wider than the screen, every table's last column in sight or
reachable by scrolling its card, chart tick labels inside their chart and showing amounts, and
no page that fails to hydrate. Then the demo as `make run` gives it: money to withdraw at once,
and a System health panel fed by the demo integration's API calls and webhook deliveries."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from paybridge.cli import DEMO_EMAIL, DEMO_PASSWORD
from paybridge.db import read_session, utcnow
from paybridge.demo_integration import KEY_NAME
from paybridge.models import ApiKey, Settlement, Transaction, User, Webhook
from paybridge.money import format_money
from paybridge.selectors.balances import available_balance
from paybridge.services.webhooks import webhook_delete
from tests.e2e.harness import ROOT, AppServer
from tests.ports import free_port

pytestmark = pytest.mark.timeout(600)

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")
# A money axis label: "$30k", "€1.2M", "₦250,000", "12k XOF".
MONEY_TICK = re.compile(r"^[^\d\s]{0,3}\d[\d,.]*[kMB]?( [A-Z]{3})?$")


@dataclass
class Visit:
    page: object  # playwright Page
    errors: list[str]


def open_logged_in(browser, app: AppServer, email: str, password: str, *, viewport, scheme):  # type: ignore[no-untyped-def]
    """A fresh context of this size and colour scheme, logged in; every uncaught page error
    (a failed hydration, say) is collected."""
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{app.url}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_selector("#merchant-name", timeout=30_000)
    return Visit(page, errors)


def go(visit: Visit, url: str) -> None:
    visit.page.goto(url)
    visit.page.wait_for_selector("#merchant-name", timeout=30_000)
    visit.page.wait_for_load_state("networkidle")


LAYOUT_JS = """() => {
  const shown = el => {
    const box = el.getBoundingClientRect();
    return el.offsetParent !== null && box.width > 0 && box.height > 0;
  };
  const scroller = el => {
    for (let box = el.parentElement; box; box = box.parentElement) {
      const x = getComputedStyle(box).overflowX;
      if ((x === 'auto' || x === 'scroll') && box.scrollWidth > box.clientWidth + 1) return box;
    }
    return null;
  };
  const tables = [...document.querySelectorAll('table')].filter(shown).map(table => {
    const heads = table.querySelectorAll('thead th');
    const last = heads[heads.length - 1];
    const box = scroller(table);
    if (box) box.scrollLeft = box.scrollWidth;
    const cell = last.getBoundingClientRect();
    const frame = box ? box.getBoundingClientRect() : {left: 0, right: window.innerWidth};
    const right = Math.min(frame.right, window.innerWidth), left = Math.max(frame.left, 0);
    return {
      header: [...heads].map(h => h.innerText.trim()).join('|'),
      reachable: cell.right <= right + 1 && cell.left >= left - 1,
      scrolls: box !== null,
    };
  });
  return {
    navigations: [...document.querySelectorAll('nav.site-nav')].filter(shown).length,
    pageWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    tables,
  };
}"""

CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
  const svg = plot.querySelector('svg.main-svg').getBoundingClientRect();
  const card = plot.closest('.rt-Card').getBoundingClientRect();
  const ticks = [...plot.querySelectorAll('.xtick text, .ytick text')].map(text => {
    const r = text.getBoundingClientRect();
    const inside = r.left >= Math.max(svg.left, card.left) - 1
      && r.right <= Math.min(svg.right, card.right) + 1
      && r.top >= svg.top - 1 && r.bottom <= svg.bottom + 1;
    return {text: text.textContent, inside, width: r.width, fill: getComputedStyle(text).fill};
  });
  return {card: plot.closest('.rt-Card').id || plot.closest('.rt-Card').innerText.split('\\n')[0],
          ticks};
})"""


def check_layout(visit: Visit, where: str) -> None:
    layout = visit.page.evaluate(LAYOUT_JS)
    assert layout["navigations"] == 1, f"{where}: {layout['navigations']} navigations shown"
    assert layout["pageWidth"] <= layout["viewport"], (
        f"{where}: the page is {layout['pageWidth']} px wide on a {layout['viewport']} px screen"
    )
    for table in layout["tables"]:
        assert table["reachable"], f"{where}: the last column of [{table['header']}] is cut off"
    assert not visit.errors, f"{where}: {visit.errors}"


def brightness(css_color: str) -> float:
    return sum(int(c) for c in re.findall(r"\d+", css_color)[:3]) / 3


def check_charts(visit: Visit, where: str, scheme: str) -> None:
    visit.page.wait_for_selector(".js-plotly-plot .xtick text", timeout=15_000)
    charts = visit.page.evaluate(CHARTS_JS)
    assert len(charts) == 2, where
    for chart in charts:
        name = f"{where} {chart['card']}"
        # Plotly hides (draws at zero width) a label with no room, the last date say: the
        # labels it shows must be whole, inside the chart.
        ticks = [t for t in chart["ticks"] if t["width"] > 0]
        assert len(ticks) >= 4, f"{name}: {chart['ticks']}"
        for tick in ticks:
            assert tick["text"].strip(), f"{name}: empty tick {tick}"
            assert tick["inside"], f"{name}: tick label {tick['text']!r} is cut off"
        money = [t["text"] for t in ticks if MONEY_TICK.match(t["text"])]
        assert len(money) >= 3 and any(t.strip("$€£₦0") for t in money), f"{name}: {ticks}"
        # Labels in the theme's text colour: light on dark, dark on light.
        assert (brightness(ticks[0]["fill"]) > 128) == (scheme == "dark"), f"{name}: {ticks[0]}"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_every_page_fits_the_screen(browser, app, merchants, size: str, scheme: str) -> None:
    alpha = merchants.alpha
    with read_session() as session:
        reference = session.exec(
            select(Transaction.reference)
            .where(Transaction.merchant_id == alpha.id)
            .order_by(Transaction.id.desc())
        ).first()
    visit = open_logged_in(
        browser, app, alpha.email, merchants.password, viewport=VIEWPORTS[size], scheme=scheme
    )
    try:
        for path in (
            "/",
            "/transactions",
            f"/transactions/{reference}",
            "/settlements",
            "/webhooks",
            "/developers",
            "/settings",
            "/settings/team",
            "/settings/audit",
        ):
            where = f"{path} at {size} width, {scheme}"
            go(visit, app.url + path)
            if path == "/":
                check_charts(visit, where, scheme)
            check_layout(visit, where)
        background = visit.page.evaluate(
            "getComputedStyle(document.querySelector('.radix-themes')).backgroundColor"
        )
        assert (brightness(background) < 80) == (scheme == "dark"), background
    finally:
        visit.page.context.close()


# --- the demo as `make run` gives it --------------------------------------------------------


def run_cli(
    *args: str, database_url: str, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen:
    """`python -m paybridge ...` on the test database; its output piped, or into `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "paybridge", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        },
        stdout=log.open("w") if log else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def demo(e2e_database: str, merchants) -> User:  # type: ignore[no-untyped-def]
    """The demo merchant, seeded by the CLI as `make run` does (a month of payments and the
    payouts of its Fridays). What the worker's first pass then does (nothing, off-schedule) is
    tests/test_cli.py's; here the other merchants' schedules must not run."""
    seeded = run_cli("seed", "--days", "30", "--transactions", "3000", database_url=e2e_database)
    output, _ = seeded.communicate(timeout=300)
    assert seeded.returncode == 0, output
    with read_session() as session:
        return session.exec(select(User).where(User.email == DEMO_EMAIL)).one()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_fresh_demo_has_money_to_withdraw(browser, app, demo: User, size: str) -> None:
    with read_session() as session:
        usd = available_balance(session=session, merchant_id=demo.id, currency="USD")
    if usd <= 0:  # only in the first minutes after a Friday's payout, as in life
        with read_session() as session:
            last = session.exec(
                select(Settlement.created_at)
                .where(Settlement.merchant_id == demo.id, Settlement.currency == "USD")
                .order_by(Settlement.created_at.desc())
            ).first()
        assert last is not None and utcnow() - last < timedelta(hours=1), usd
        pytest.skip("the demo's scheduled payout was made minutes ago: nothing released since")
    visit = open_logged_in(
        browser, app, DEMO_EMAIL, DEMO_PASSWORD, viewport=VIEWPORTS[size], scheme="light"
    )
    page = visit.page
    try:
        page.wait_for_selector("#feed-live")
        assert page.inner_text("#balance-available") == format_money(usd, "USD")
        assert page.is_enabled("#withdraw-open")
        go(visit, f"{app.url}/settlements")
        button = "#withdraw-USD" if size == "desktop" else "#withdraw-phone-USD"
        page.wait_for_selector(button)
        assert page.is_visible(button) and page.is_enabled(button)
        assert page.locator(".payout-row").count() > 0  # the payout history behind it
        # One dialog opens, for the currency whose button was pressed (every currency row, and
        # both renderings of a row, share the page's one dialog).
        page.click(button)
        dialog = page.locator("[role=dialog]")
        dialog.wait_for()
        assert dialog.count() == 1
        assert format_money(usd, "USD") in dialog.inner_text()
        assert not visit.errors
    finally:
        page.context.close()


@dataclass
class Traffic:
    started: float  # time.monotonic() when the processes were started
    logs: list[Path]

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs)


@pytest.fixture
def demo_traffic(
    app: AppServer, e2e_database: str, demo: User, tmp_path: Path
) -> Iterator[Traffic]:
    """`make run`'s traffic against the test app (already up): the demo integration (API calls
    with its own key, a webhook receiver) and a webhook worker."""
    traffic = Traffic(time.monotonic(), [tmp_path / "simulate.log", tmp_path / "worker.log"])
    simulate = run_cli(
        "simulate",
        "--api",
        app.url,
        "--webhook-port",
        str(free_port()),
        "--rate",
        "3",
        "--duration",
        "120",
        database_url=e2e_database,
        log=traffic.logs[0],
    )
    worker = run_cli(
        "worker",
        "--no-payouts",
        database_url=e2e_database,
        env={"PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE": "1"},
        log=traffic.logs[1],
    )
    try:
        yield traffic
    finally:
        for process in (simulate, worker):
            process.terminate()
        for process in (simulate, worker):
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        with read_session() as session:
            hooks = session.exec(select(Webhook).where(Webhook.merchant_id == demo.id)).all()
        for hook in hooks:  # nothing is left to deliver to a receiver that is gone
            webhook_delete(merchant_id=demo.id, webhook_id=hook.id)


def test_the_health_panel_shows_the_demo_traffic_within_a_minute(
    browser, app, demo: User, demo_traffic: Traffic
) -> None:
    visit = open_logged_in(
        browser, app, DEMO_EMAIL, DEMO_PASSWORD, viewport=VIEWPORTS["desktop"], scheme="light"
    )
    page = visit.page
    try:
        deadline = demo_traffic.started + 60
        while True:
            requests = page.inner_text("#health-requests")
            delivery = page.inner_text("#health-delivery")
            latency = page.inner_text("#health-latency")
            calls = int(requests.split(" · ")[0].replace(",", "") or 0)
            if calls > 0 and "%" in delivery and re.search(r"\d+ ms / \d+ ms", latency):
                break
            assert time.monotonic() < deadline, (
                f"after a minute: {requests!r} {delivery!r} {latency!r}\n{demo_traffic.output()}"
            )
            time.sleep(1)
        assert re.fullmatch(r"\d+(\.\d+)?%", delivery.strip()), delivery
        assert re.fullmatch(r"[\d,]+ · \d+(\.\d+)?%", requests.strip()), requests
        # Routine deliveries stay out of the feed; the calls came with the run's own key, and
        # the endpoint it registered takes every event.
        assert "Webhook delivered" not in page.inner_text("#feed")
        with read_session() as session:
            keys = session.exec(
                select(ApiKey).where(ApiKey.merchant_id == demo.id, ApiKey.revoked_at.is_(None))
            ).all()
            hook = session.exec(select(Webhook).where(Webhook.merchant_id == demo.id)).one()
        assert [(k.name, k.last_used_at is not None) for k in keys] == [(KEY_NAME, True)]
        assert hook.url.startswith("http://127.0.0.1:") and hook.event_types == ["*"]
        assert hook.last_triggered_at is not None
        assert not visit.errors
    finally:
        page.context.close()

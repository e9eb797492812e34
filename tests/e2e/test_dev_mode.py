"""`make dev` as a developer working on screens uses it: on a copy of the project, with the
simulator writing payments to the embedded SQLite database, the idle app never reloads itself;
a saved page shows in the open tab, which stays logged in across the reload."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.e2e.conftest import login
from tests.e2e.harness import DevCopy

pytestmark = pytest.mark.timeout(1200)

IDLE_SECONDS = 60


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevCopy]:
    server = DevCopy(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def payments(dev: DevCopy) -> int:
    with sqlite3.connect(dev.root / "data" / "paybridge.db", timeout=30) as db:
        return db.execute("SELECT count(*) FROM transactions").fetchone()[0]


def test_idle_without_reloads_then_a_saved_page_shows_in_the_logged_in_tab(browser, dev):
    from paybridge.cli import DEMO_EMAIL, DEMO_PASSWORD

    page = login(browser, SimpleNamespace(url=dev.url), DEMO_EMAIL, DEMO_PASSWORD)
    page.wait_for_selector("text=Recent transactions", timeout=30_000)
    starts, before = dev.starts(), payments(dev)

    time.sleep(IDLE_SECONDS)  # the simulator and the worker write to data/paybridge.db meanwhile

    assert payments(dev) > before, "the simulator wrote nothing: the idle minute proves nothing"
    assert dev.starts() == starts, dev.log()[-3000:]  # not one hot reload

    dev.edit(
        "paybridge/pages/dashboard.py",
        'rx.heading("Recent transactions", size="3")',
        'rx.heading("Latest payments", size="3")',
    )
    try:  # 10-20 s on a quiet machine (README), longer on a busy one
        page.wait_for_selector("text=Latest payments", timeout=120_000)  # no navigation, no login
    except Exception as error:
        reloads = dev.starts() - starts
        raise AssertionError(
            f"the edit never showed ({reloads} reloads after the save): {error}\n"
            f"{dev.log()[-4000:]}"
        ) from error
    assert dev.starts() > starts  # the backend did reload, and the tab is still logged in:
    assert "/login" not in page.url
    page.wait_for_selector("#merchant-name", timeout=30_000)
    assert page.inner_text("#merchant-name").strip()

"""The production topology of docs/deploy.md with the UI exported as static files
(`reflex export`, the CDN path): nginx serves them and balances the backend over two app
instances (`paybridge serve --backend-only`) sharing PostgreSQL and Redis. A merchant logs in
through the static UI and the live dashboard follows a payment posted to the API via nginx."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import redis_test_url
from tests.e2e.conftest import Servers, login, post_payment_and_see_it
from tests.ops.topology import ROOT, Topology
from tests.ports import free_port

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def static_frontend(
    servers: Servers, e2e_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Topology]:
    servers.close()  # the export rewrites .web/build/client, which a running app serves
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "REFLEX_API_URL": url,  # compiled into the static files: the backend is behind nginx
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
    }
    reflex = Path(sys.executable).with_name("reflex")
    built = subprocess.run(
        [str(reflex), "export", "--frontend-only", "--no-zip", "--env", "prod"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert (ROOT / ".web" / "build" / "client" / "index.html").exists()
    monkeypatch.setenv("PAYBRIDGE_ALLOWED_ORIGINS", url)  # inherited by the instances
    topology = Topology(
        database_url=e2e_database, redis_url=redis_test_url(), workdir=tmp_path, nginx_port=port
    )
    try:
        yield topology
    finally:
        topology.stop()


def test_the_exported_ui_behind_nginx_over_two_instances(browser, static_frontend, merchants):
    nginx = static_frontend.nginx
    assert nginx is not None
    alpha = merchants.alpha
    page = login(browser, nginx, alpha.email, merchants.password)
    page.wait_for_selector("#feed-live", timeout=30_000)
    reference = post_payment_and_see_it(
        page, nginx.url, alpha.id, amount=2_718, customer_email="static.ui@example.com"
    )
    # A dynamic route is served by the SPA fallback and loads its data over the websocket.
    page.goto(f"{nginx.url}/transactions/{reference}")
    page.wait_for_selector(f"text={reference}", timeout=30_000)
    assert "27.18" in page.inner_text("body")

"""Regenerate docs/screenshots/: every page of the running demo at desktop (1440 px) and phone
(390 px) width, in light and dark, as the demo merchant sees them.

    make run                                   # in another terminal, and wait a minute
    .venv/bin/python scripts/screenshots.py    # [--url http://localhost:3000]

Files are named <page>-<desktop|phone>-<light|dark>.png. Chromium is Debian's (/usr/bin/chromium,
or PAYBRIDGE_CHROMIUM).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")
PAGES = (
    "dashboard",
    "transactions",
    "payment",
    "settlements",
    "webhooks",
    "developers",
    "settings",
    "team",
    "audit",
)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


def log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_selector("#merchant-name", timeout=60_000)


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#merchant-name", timeout=60_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1_500)  # charts draw, the live feed settles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    port = os.environ.get("PAYBRIDGE_PORT", "3000")
    parser.add_argument("--url", default=f"http://localhost:{port}")
    parser.add_argument("--email", default="demo@paybridge.dev")
    parser.add_argument("--password", default="paybridge-demo-2026")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("PAYBRIDGE_CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_ARGS,
        )
        for size, viewport in SIZES.items():
            for scheme in SCHEMES:
                context = browser.new_context(viewport=viewport, color_scheme=scheme)
                page = context.new_page()
                log_in(page, args.url, args.email, args.password)
                open_page(page, f"{args.url}/transactions")
                payment = page.locator("a[href^='/transactions/']").first.get_attribute("href")
                for name in PAGES:
                    path = {
                        "dashboard": "/",
                        "payment": payment,
                        "team": "/settings/team",
                        "audit": "/settings/audit",
                    }.get(name, f"/{name}")
                    open_page(page, f"{args.url}{path}")
                    target = OUT / f"{name}-{size}-{scheme}.png"
                    page.screenshot(path=target, full_page=True)
                    print(target.relative_to(ROOT))
                context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What this machine's browser allows: N Chromium tabs, each told of a payment over a plain
websocket, add the row to a 10-row table with a few lines of vanilla JavaScript. No Reflex, no
React, no database: the time from the send to the row in every tab is the floor under
`live_latency.py`'s figures on the same machine (same Chromium, flags, viewport and clock
method). Prints median, p95 and max over (payment, tab) pairs and each tab's main-thread time
per payment.

    PYTHONPATH=. .venv/bin/python bench/browser_floor.py --tabs 1,20 --payments 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402

COLUMNS = ("reference", "customer", "amount", "provider", "status", "time")
PAGE = """<!doctype html><html><head><style>
body { font-family: sans-serif } td { padding: 6px 12px; border-bottom: 1px solid #ddd }
</style></head><body><h1>Recent transactions</h1>
<table><tbody id="recent-body">__ROWS__</tbody></table>
<script>
window.__seen = {};
const body = document.getElementById('recent-body');
const socket = new WebSocket('ws://' + location.host + '/ws');
window.__ready = new Promise((resolve) => { socket.onopen = resolve; });
socket.onmessage = (message) => {
  const row = JSON.parse(message.data), tr = document.createElement('tr');
  for (const name of __COLUMNS__) {
    const td = document.createElement('td'); td.textContent = row[name]; tr.appendChild(td);
  }
  body.insertBefore(tr, body.firstChild);
  if (body.children.length > 10) body.removeChild(body.lastChild);
};
new MutationObserver(() => {
  const reference = body.firstChild.firstChild.textContent;
  if (!(reference in window.__seen)) {
    window.__seen[reference] = performance.timeOrigin + performance.now();
  }
}).observe(body, { childList: true });
</script></body></html>""".replace(
    "__ROWS__",
    "".join(
        f"<tr><td>OLD{i}</td><td>a@example.com</td><td>$1.00</td><td>card</td><td>success</td>"
        "<td>10:00</td></tr>"
        for i in range(10)
    ),
).replace("__COLUMNS__", json.dumps(COLUMNS))


class Broadcaster:
    """An aiohttp server on its own thread: serves the page and sends a row to every socket."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sockets: set[web.WebSocketResponse] = set()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), daemon=True).start()
        started.wait(10)

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/ws", self._socket)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        started.set()
        self.loop.run_forever()

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.add(socket)
        async for _ in socket:
            pass
        self.sockets.discard(socket)
        return socket

    def send(self, row: dict[str, str]) -> None:
        async def to_all() -> None:
            data = json.dumps(row)
            for socket in list(self.sockets):
                await socket.send_str(data)

        asyncio.run_coroutine_threadsafe(to_all(), self.loop).result()


def run(browser, server: Broadcaster, tabs: int, payments: int, interval: float) -> str:
    pages = []
    for _ in range(tabs):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.evaluate("window.__ready")
        page.cdp = context.new_cdp_session(page)
        page.cdp.send("Performance.enable")
        pages.append(page)
    time.sleep(2)

    def busy(page) -> float:
        metrics = page.cdp.send("Performance.getMetrics")["metrics"]
        return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

    before = [busy(page) for page in pages]
    sent: dict[str, float] = {}
    for i in range(payments):
        reference = f"PAY{i:05d}"
        sent[reference] = time.time() * 1000
        values = (reference, "x@example.com", "$10.00", "card", "success", "10:01")
        server.send(dict(zip(COLUMNS, values, strict=True)))
        time.sleep(interval * random.uniform(0.7, 1.3))
    time.sleep(2)
    after = [busy(page) for page in pages]
    per_payment = [(a - b) * 1000 / payments for a, b in zip(after, before, strict=True)]
    samples = sorted(
        seen[ref] - at
        for page in pages
        for seen in [page.evaluate("window.__seen")]
        for ref, at in sent.items()
        if ref in seen
    )
    for page in pages:
        page.context.close()
    p95 = samples[max(0, round(0.95 * len(samples)) - 1)]
    return (
        f"{tabs:>4} tabs  {len(samples):>4}/{tabs * payments} shown  median "
        f"{statistics.median(samples):6.1f} ms  p95 {p95:6.1f} ms  max {samples[-1]:6.1f} ms  "
        f"main thread {statistics.median(per_payment):4.1f} ms/payment/tab"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", default="1,20")
    parser.add_argument("--payments", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    server = Broadcaster()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for tabs in (int(t) for t in args.tabs.split(",") if t.strip()):
            print(run(browser, server, tabs, args.payments, args.interval), flush=True)
        browser.close()


if __name__ == "__main__":
    main()

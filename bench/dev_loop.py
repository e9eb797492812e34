"""The UI developer's loop under `make dev`: how long from saving a file to seeing it.

Runs `scripts/run.sh --dev` (development mode on the embedded SQLite default, with the demo
seed, the worker and the simulator) in a copy of this checkout, logs a Chromium tab in, then
- page edit: rewrites the dashboard's "Recent transactions" heading in
  paybridge/pages/dashboard.py and times save -> the backend's next start logged -> the new
  text in the open tab's DOM (no navigation; the tab stays logged in);
- state edit: rewrites a docstring in paybridge/state/dashboard.py and times save -> the new
  backend answering /ping -> the tab's state answering again (a click on the period picker
  round-trips an event through the new backend and changes the period's label).
The reference, measured in the same run: a fresh Python process importing the app
(`import paybridge.paybridge`). A reload does most of that (the worker Granian forks has
Reflex's own modules already) and then compiles every page again.

    PYTHONPATH=. .venv/bin/python bench/dev_loop.py --edits 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, DevCopy  # noqa: E402

HEADING = 'rx.heading("{}", size="3")'


def start_times(dev: DevCopy) -> list[float]:
    """Wall-clock times (epoch s) of the backend starts logged so far."""
    return [
        datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for line in dev.log().splitlines()
        if dev.MARK in line
    ]


def next_start(dev: DevCopy, after: int, timeout: float = 120) -> float:
    """Epoch time of the first backend start after the `after` first ones."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        starts = start_times(dev)
        if len(starts) > after:
            return starts[after]
        time.sleep(0.05)
    raise RuntimeError(f"no backend start after the edit:\n{dev.log()[-3000:]}")


def wait_for_ping(dev: DevCopy, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(dev.backend_url + "/ping", timeout=5) as response:
                if response.status == 200:
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("the backend does not answer /ping")


def import_reference(dev: DevCopy, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "-c", "import paybridge.paybridge"],
            cwd=dev.root,
            env={"PYTHONPATH": str(dev.root), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
        )
        times.append(time.monotonic() - started)
    return times


def summary(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.2f} | {min(values):.2f} | "
        f"{max(values):.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=5, help="edits of each kind")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from paybridge.cli import DEMO_EMAIL, DEMO_PASSWORD
    from tests.e2e.conftest import login

    rows: dict[str, list[float]] = {
        "page: save -> backend start": [],
        "page: save -> DOM": [],
        "state: save -> backend answers /ping": [],
        "state: save -> tab's event answered": [],
    }
    with tempfile.TemporaryDirectory() as workdir:
        started = time.monotonic()
        dev = DevCopy(Path(workdir), simulate_rate="0.5")
        print(f"make dev ready in {time.monotonic() - started:.0f} s", flush=True)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = login(browser, SimpleNamespace(url=dev.url), DEMO_EMAIL, DEMO_PASSWORD)
                current = "Recent transactions"
                page.wait_for_selector(f"text={current}", timeout=60_000)
                time.sleep(5)  # let the first compile's aftermath settle
                for n in range(args.edits):
                    new = f"Recent payments {n}"
                    starts = dev.starts()
                    saved, saved_at = time.monotonic(), time.time()
                    dev.edit(
                        "paybridge/pages/dashboard.py", HEADING.format(current), HEADING.format(new)
                    )
                    page.wait_for_selector(f"text={new}", timeout=120_000)
                    shown = time.monotonic()
                    rows["page: save -> DOM"].append(shown - saved)
                    rows["page: save -> backend start"].append(next_start(dev, starts) - saved_at)
                    current = new
                    print(f"page edit {n}: {shown - saved:.2f} s", flush=True)
                    time.sleep(3)
                docstring = '"""'
                for n in range(args.edits):
                    starts = dev.starts()
                    path = "paybridge/state/dashboard.py"
                    text = (dev.root / path).read_text()
                    first = text.index(docstring) + len(docstring)
                    saved = time.monotonic()
                    (dev.root / path).write_text(text[:first] + f"Edit {n}. " + text[first:])
                    next_start(dev, starts)
                    rows["state: save -> backend answers /ping"].append(wait_for_ping(dev) - saved)
                    # The tab's websocket reconnects to the new backend and an event
                    # round-trips: a click on another period changes the period's label.
                    label = page.inner_text("#period")
                    page.click(f"#range >> text={'7 days' if n % 2 == 0 else '30 days'}")
                    page.wait_for_function(
                        "old => document.querySelector('#period').innerText !== old",
                        arg=label,
                        timeout=60_000,
                    )
                    event = time.monotonic() - saved
                    rows["state: save -> tab's event answered"].append(event)
                    assert "/login" not in page.url
                    print(f"state edit {n}: {event:.2f} s", flush=True)
                    time.sleep(3)
                browser.close()
            reference = import_reference(dev, args.edits)
            killed = dev.log().count("refused to gracefully stop")
            start_times_seen = start_times(dev)
        finally:
            dev.stop()
    print("\n| measure | n | median s | min s | max s |\n| --- | ---: | ---: | ---: | ---: |")
    for name, values in rows.items():
        print(summary(name, values))
    print(summary("reference: a fresh process imports the app", reference))
    print(f"\nbackend reloads: {len(start_times_seen) - 1}, workers killed after 2 s: {killed}")


if __name__ == "__main__":
    main()

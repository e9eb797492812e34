"""`python -m paybridge worker`: the long-running jobs.

One loop, several jobs:

- fan the outbox out into webhook deliveries (`deliveries_fan_out`),
- claim due deliveries and send them on a pool of `concurrency` threads (`deliveries_claim`,
  `send_attempt`, `attempt_record`),
- advance open payouts through the payout rail (`payouts_advance`, every `payout_interval` s),
- make scheduled payouts (`payouts_run_scheduled`, every `schedule_interval` s).

Any number of workers may run against PostgreSQL: deliveries are claimed with
`FOR UPDATE SKIP LOCKED` and leased, fan-out and the payout jobs take turns through a locked
cursor row and advisory locks. On SQLite run one worker.

SIGTERM or SIGINT stops the loop: nothing new is claimed, attempts in flight finish and are
recorded, then the process exits 0. A second signal exits at once (claims left behind are
retried when their lease ends). An exception in the loop (the database restarting, say) is
logged and the loop starts again after a short, growing pause.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from paybridge.engine import is_sqlite
from paybridge.services.deliveries import (
    Claim,
    DeliveryPolicy,
    attempt_record,
    deliveries_claim,
    deliveries_fan_out,
    make_client,
    send_attempt,
)
from paybridge.services.payouts import (
    PayoutRail,
    SandboxRail,
    payouts_advance,
    payouts_run_scheduled,
)

log = logging.getLogger("paybridge.worker")


@dataclass
class WorkerConfig:
    concurrency: int = 8  # HTTP requests in flight at once
    poll_interval: float = 0.2  # seconds to wait when there is nothing to do
    payout_interval: float = 2.0
    schedule_interval: float = 60.0
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy.from_env)
    rail: PayoutRail = field(default_factory=SandboxRail.from_env)
    payouts: bool = True  # run the payout jobs too (off: webhooks only)


class Worker:
    def __init__(self, config: WorkerConfig | None = None) -> None:
        self.config = config or WorkerConfig()
        if self.config.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        # SQLite has one write lock per database, and its busy handler sleeps in growing steps
        # while it waits: threads of this process queue on a mutex instead (fair, no sleeps).
        # PostgreSQL writers run in parallel.
        self._write_lock: contextlib.AbstractContextManager = (
            threading.Lock() if is_sqlite() else contextlib.nullcontext()
        )
        self._in_flight = 0
        self._next_payouts = 0.0
        self._next_fan_out = 0.0
        self._fan_out_more = False
        self._next_schedule = 0.0
        self.attempts = 0  # attempts recorded by this worker (for tests and logs)

    # -- control --

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the loop --

    def run(self) -> None:
        """Run until `stop()`; restart the loop after an unexpected error."""
        pause = 0.5
        client = make_client(self.config.policy, max_connections=self.config.concurrency * 2)
        pool = ThreadPoolExecutor(
            max_workers=self.config.concurrency, thread_name_prefix="webhook-send"
        )
        try:
            while not self._stop.is_set():
                try:
                    busy = self.step(pool, client)
                    pause = 0.5
                except Exception:
                    log.exception("worker loop failed; restarting in %.1f s", pause)
                    self._stop.wait(pause)
                    pause = min(pause * 2, 30.0)
                    continue
                if not busy:
                    self._wake.wait(self.config.poll_interval)
                    self._wake.clear()
        finally:
            pool.shutdown(wait=True)  # attempts in flight finish and are recorded
            client.close()
            log.info("worker stopped after %d attempts", self.attempts)

    def step(self, pool: ThreadPoolExecutor, client: httpx.Client) -> bool:
        """One pass of every job that is due; True when there is more work right away.

        Fan-out runs every `poll_interval` (at once again while it reads full batches). Up to
        2 x `concurrency` claims are held: claiming happens in batches, whenever the pool's
        queue has drained, so the claim query does not run for every finished attempt.
        """
        policy = self.config.policy
        now = time.monotonic()
        more = False
        if self._fan_out_more or now >= self._next_fan_out:
            with self._write_lock:
                fanned = deliveries_fan_out(policy=policy)
            self._fan_out_more = fanned.more
            self._next_fan_out = now + self.config.poll_interval
            more = fanned.more
        capacity = self.config.concurrency * 2
        with self._lock:
            free = capacity - self._in_flight
        if free >= self.config.concurrency:
            with self._write_lock:
                claims = deliveries_claim(limit=free, policy=policy)
            for claim in claims:
                with self._lock:
                    self._in_flight += 1
                pool.submit(self._attempt, claim, client)
            more = more or len(claims) == free
        if self.config.payouts and now >= self._next_payouts:
            self._next_payouts = now + self.config.payout_interval
            payouts_advance(rail=self.config.rail)
        if self.config.payouts and now >= self._next_schedule:
            self._next_schedule = now + self.config.schedule_interval
            payouts_run_scheduled()
        return more

    def _attempt(self, claim: Claim, client: httpx.Client) -> None:
        try:
            result = send_attempt(claim, client=client, policy=self.config.policy)
            with self._write_lock:
                attempt_record(claim, result, policy=self.config.policy)
            with self._lock:
                self.attempts += 1
        except Exception:  # the lease ends and another pass retries the attempt
            log.exception("delivery %s: attempt could not be recorded", claim.delivery_id)
        finally:
            with self._lock:
                self._in_flight -= 1
                drained = self._in_flight <= self.config.concurrency
            if drained:
                self._wake.set()


def run_worker(config: WorkerConfig | None = None) -> int:
    """Run a worker in the foreground with signal handling (the CLI entry point)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    worker = Worker(config)
    signals = {"count": 0}

    def on_signal(signum: int, _frame: object) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("signal %d: finishing attempts in flight, then stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "worker started: concurrency %d, poll %.2f s",
        worker.config.concurrency,
        worker.config.poll_interval,
    )
    worker.run()
    return 0

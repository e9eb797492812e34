"""Payment ingest with group commit: payments that arrive together are written together.

`POST /transactions` parses its body on the event loop and hands it to this worker's
`PaymentWriter`, then awaits the answer. A writer thread takes every request waiting (up to
`MAX_BATCH`), checks each payment, and records them all in ONE database transaction — one
INSERT of the payments, their rollup deltas summed per bucket, one INSERT of their events, and
the requests' Idempotency-Keys claimed and answers stored in the same transaction — then
commits and answers each request. A 201 still means committed: no request is answered before
its batch's COMMIT returns. Under light load a batch is one payment (nothing waits for
company); under load batches grow by themselves while the previous one commits, so the
database does one transaction's work for many payments and a merchant's hot rollup rows are
locked once per batch, not once per payment.

One request cannot spoil the others: a refusal (bad input, a reused reference, a key in use)
is that request's answer alone; a batch that fails for any other reason is written again one
request at a time. A client that goes away does not stop its batch: its payment and stored
answer commit, and its retry with the same key gets that answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from paybridge.api.errors import error_response
from paybridge.db import in_unit
from paybridge.errors import DomainError
from paybridge.metrics import increment
from paybridge.services.idempotency import (
    Claim,
    KeyedRequest,
    Replay,
    idempotency_claim_many,
    idempotency_complete_many,
)
from paybridge.services.transactions import NewPayment, transactions_record

log = logging.getLogger(__name__)

MAX_BATCH = 200


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    replayed: bool = False


@dataclass
class Pending:
    """One request waiting for its batch: how to make its payment (checked in the writer's
    thread), its key, and where to send the answer."""

    make: Callable[[], NewPayment]
    keyed: KeyedRequest | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Answer]


def refusal(error: DomainError) -> Answer:
    response = error_response(error)
    return Answer(response.status_code, bytes(response.body))


class PaymentWriter:
    """Group commit for payment ingest (see the module docstring). `render` turns a recorded
    payment into the bytes of its 201 answer."""

    def __init__(
        self,
        render: Callable[[NewPayment], bytes],
        *,
        writers: int = 2,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._render = render
        self._writers = writers
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    async def submit(self, make: Callable[[], NewPayment], keyed: KeyedRequest | None) -> Answer:
        """Queue one payment and wait for its batch's commit."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._queue.put(Pending(make, keyed, loop, future))
        return await future

    def _ensure_started(self) -> None:
        if self._started:
            return
        with self._start_lock:
            if self._started:
                return
            for n in range(self._writers):
                threading.Thread(target=self._run, name=f"payment-writer-{n}", daemon=True).start()
            self._started = True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results: list[Answer | BaseException] = list(self._write(batch))
            except Exception as error:  # not one request's fault: try each on its own
                if len(batch) == 1:
                    results = [error]
                else:
                    log.warning("a batch of %d payments failed (%s); writing them one by one",
                                len(batch), type(error).__name__)  # fmt: skip
                    results = [self._write_alone(pending) for pending in batch]
            increment("ingest_batches")  # with the next: how well requests group
            increment("ingest_batched_requests", len(batch))
            _answer(batch, results)

    def _write_alone(self, pending: Pending) -> Answer | BaseException:
        try:
            return self._write([pending])[0]
        except Exception as error:
            return error

    def _write(self, batch: list[Pending]) -> list[Answer]:
        """One transaction for the batch, without a SAVEPOINT per service call: so nothing in
        `_record` may catch an exception a service raised inside its session (its rollback
        ended the batch's transaction); refusals come back as values instead."""
        return in_unit(lambda: self._record(batch), savepoints=False)

    def _record(self, batch: list[Pending]) -> list[Answer]:
        """Inside one unit of work: claim the keys, record the payments, store the answers."""
        answers: list[Answer | None] = [None] * len(batch)
        keyed = [i for i, pending in enumerate(batch) if pending.keyed is not None]
        claims: dict[int, Claim] = {}
        outcomes = idempotency_claim_many([batch[i].keyed for i in keyed])  # type: ignore[misc]
        for i, outcome in zip(keyed, outcomes, strict=True):
            if isinstance(outcome, Replay):
                answers[i] = Answer(outcome.status, outcome.body.encode(), replayed=True)
            elif isinstance(outcome, DomainError):
                answers[i] = refusal(outcome)
            else:
                claims[i] = outcome
        payments: dict[int, NewPayment] = {}
        for i, pending in enumerate(batch):
            if answers[i] is None:
                try:
                    payments[i] = pending.make()
                except DomainError as error:
                    answers[i] = refusal(error)
        recorded = transactions_record(list(payments.values()))
        for (i, payment), result in zip(payments.items(), recorded, strict=True):
            answers[i] = (
                refusal(result)
                if isinstance(result, DomainError)
                else Answer(201, self._render(payment))
            )
        idempotency_complete_many(
            [(claim, answers[i].status, answers[i].body.decode()) for i, claim in claims.items()]  # type: ignore[union-attr]
        )
        return answers  # type: ignore[return-value]


Settled = list[tuple[asyncio.Future[Answer], Answer | BaseException]]


def _answer(batch: list[Pending], results: list[Answer | BaseException]) -> None:
    """Hand a batch's answers to their event loops: one wake-up per loop, not per request."""
    by_loop: dict[asyncio.AbstractEventLoop, Settled] = {}
    for pending, result in zip(batch, results, strict=True):
        by_loop.setdefault(pending.loop, []).append((pending.future, result))
    for loop, settled in by_loop.items():
        loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: Settled) -> None:
    for future, result in settled:
        if future.done():  # the request was cancelled: its payment stands, nobody listens
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def writers_from_env() -> int:
    raw = os.environ.get("PAYBRIDGE_INGEST_WRITERS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 2

"""The CSV export of `/transactions`: count the listing's rows, start the download of exactly
those (the same snapshot) and follow its progress until it finishes, stops or stalls."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import replace

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.display import format_count
from paybridge.exports import ExportProgress
from paybridge.selectors.transactions import (
    TransactionFilters,
    latest_transaction_id,
    transactions_count,
)
from paybridge.services.auth import Identity
from paybridge.state.guard import merchant_event
from paybridge.state.session import SessionState, in_thread

EXPORT_POLL = 0.5
EXPORT_STALL = 600.0  # stop watching an export that has not moved for this long


class TransactionExport(SessionState, mixin=True):
    """Mixed into the page state that lists payments, which says in `_listing` what it shows."""

    exporting: bool = False
    export_rows: str = ""
    export_total: str = ""
    export_percent: int = 0
    export_message: str = ""

    _export_id: str = ""
    _export_total: int = 0

    def _listing(self) -> tuple[TransactionFilters, str]:
        """The filters of the listing shown and its canonical query string."""
        raise NotImplementedError

    @rx.event
    @in_thread
    @merchant_event
    def start_export(self, found: Identity) -> list[EventSpec] | EventSpec | None:
        """Count the rows of the current listing and download exactly those (the same
        snapshot), watching the export's progress."""
        if self.exporting:
            return None
        filters, query_string = self._listing()
        with read_session() as session:
            snapshot = latest_transaction_id(session=session)
            total = transactions_count(
                session=session,
                merchant_id=found.merchant_id,
                filters=replace(filters, snapshot_id=snapshot),
            )
        self._export_id = secrets.token_urlsafe(12)
        self._export_total = total
        self.exporting = True
        self.export_rows, self.export_total = "0", format_count(total)
        self.export_percent = 0
        self.export_message = ""
        params = "&".join(
            p for p in (query_string, f"upto={snapshot}", f"export={self._export_id}") if p
        )
        url = f"{self._backend_origin()}/exports/transactions.csv?{params}"
        download = (
            "(() => { const a = document.createElement('a');"
            f" a.href = {json.dumps(url)}; a.download = ''; a.rel = 'noopener';"
            " document.body.appendChild(a); a.click(); a.remove(); })()"
        )
        return [rx.call_script(download), type(self).watch_export]

    def _backend_origin(self) -> str:
        """'' when UI and backend share an origin (production); the backend's otherwise."""
        frontend = self.router.url.origin
        host = self.router.headers.host or self.router.url.netloc
        scheme = "https" if frontend.startswith("https") else "http"
        backend = f"{scheme}://{host}"
        return "" if backend == frontend else backend

    @rx.event(background=True)
    async def watch_export(self) -> None:
        async with self:
            found = await asyncio.to_thread(self._identity)
            if found is None:
                return
            merchant_id, export_id, total = found.merchant_id, self._export_id, self._export_total
        last_rows, last_change = -1, time.monotonic()
        while True:
            await asyncio.sleep(EXPORT_POLL)
            progress = await asyncio.to_thread(ExportProgress.get, merchant_id, export_id)
            now = time.monotonic()
            if progress is not None and progress.rows != last_rows:
                last_rows, last_change = progress.rows, now
            stalled = now - last_change > EXPORT_STALL
            async with self:
                if self._export_id != export_id:
                    return  # another export started
                if progress is not None:
                    self.export_rows = format_count(progress.rows)
                    self.export_percent = (
                        100 if total == 0 else min(100, progress.rows * 100 // total)
                    )
                if progress is not None and progress.finished:
                    self.exporting = False
                    self.export_message = (
                        f"Export stopped after {format_count(progress.rows)} rows."
                        if progress.cancelled
                        else f"Exported {format_count(progress.rows)} rows."
                    )
                    return
                if stalled:
                    self.exporting = False
                    self.export_message = "The export did not start or stopped responding."
                    return

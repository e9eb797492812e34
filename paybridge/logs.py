"""Logging for the app, the API and the worker: plain text by default, JSON lines with
`PAYBRIDGE_LOG_FORMAT=json` (one object per line: ts, level, logger, message, request_id,
exception), at `PAYBRIDGE_LOG_LEVEL` (default INFO).

A request id ties one API request to its log lines, its `ApiLog` row and the outbox events it
wrote: the API middleware takes it from `X-Request-Id` (or makes one), keeps it in a context
variable for the duration of the request and sends it back in `X-Request-Id`.

The handler goes on the root logger (so library warnings come out in the same format);
Reflex and Granian keep their own handlers for their own loggers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from paybridge.ids import HashedCounter

request_id_var: ContextVar[str | None] = ContextVar("paybridge_request_id", default=None)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


# 32 hex characters, like a uuid4 (HashedCounter: no getrandom() call per request).
_request_ids = HashedCounter(16)


def new_request_id() -> str:
    return _request_ids.next()


def accept_request_id(raw: str | None) -> str:
    """The caller's id when it is a sane token (at most 64 of [A-Za-z0-9._:-]), else a new one."""
    if raw and _VALID_REQUEST_ID.match(raw):
        return raw
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            body["request_id"] = request_id
        for key, value in vars(record).items():  # fields passed with `extra=`
            if key not in _STANDARD_ATTRS and key not in body and key != "request_id":
                body[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.rid = f" [{request_id}]" if request_id else ""
        return super().format(record)


_configured = False


def make_handler(stream: Any = None) -> logging.Handler:
    fmt = os.environ.get("PAYBRIDGE_LOG_FORMAT", "text").strip().lower()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    handler._paybridge = True  # type: ignore[attr-defined]
    return handler


def configure_logging(level: str | None = None, *, force: bool = False) -> None:
    """Install one stderr handler on the root logger (once per process unless `force`)."""
    global _configured
    if _configured and not force:
        return
    _configured = True
    name = (level or os.environ.get("PAYBRIDGE_LOG_LEVEL", "INFO")).strip().upper()
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_paybridge", False)]:
        root.removeHandler(old)
    root.addHandler(make_handler())
    root.setLevel(getattr(logging, name, logging.INFO))
    # Readiness probes read the migration state; alembic would log two INFO lines per probe.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

"""Signing PayBridge webhooks, and checking them on the receiving side.

This module uses the Python standard library only: merchants may copy it into their own code.

Every webhook is a POST whose body is JSON ``{"id", "object", "type", "created", "data"}`` and
whose ``PayBridge-Signature`` header looks like::

    PayBridge-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e7...(64 hex digits)

``t`` is the Unix time the request was signed and ``v1`` the hex HMAC-SHA256, keyed with the
endpoint's secret (``whsec_...``), of ``"<t>.<raw request body>"``. While a secret is being
rolled the header carries one ``v1`` per valid secret (new first); a signature matching ANY of
them is valid.

A receiver (Flask shown; any framework works the same way)::

    from webhook_signature import verify_signature

    @app.post("/paybridge")
    def paybridge_webhook():
        raw = request.get_data()  # the RAW bytes: re-serialised JSON will not match
        if not verify_signature(raw, request.headers.get("PayBridge-Signature", ""), SECRET):
            return "bad signature", 400
        event = json.loads(raw)
        if already_processed(event["id"]):  # deliveries are at least once: dedupe by event id
            return "", 200
        handle(event)
        return "", 200

Answer with any 2xx quickly (within 10 seconds); anything else, a timeout or a redirect is a
failure that PayBridge retries with exponential backoff for about three days.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "PayBridge-Signature"
DEFAULT_TOLERANCE = 300  # seconds


def _as_bytes(payload: bytes | str) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)


def compute_signature(payload: bytes | str, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<payload>"`` keyed with ``secret``."""
    message = str(int(timestamp)).encode("ascii") + b"." + _as_bytes(payload)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(payload: bytes | str, secrets: str | list[str], timestamp: int | None = None) -> str:
    """The ``PayBridge-Signature`` header value for ``payload``: one ``v1`` per secret, in order."""
    if isinstance(secrets, str):
        secrets = [secrets]
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    t = int(time.time()) if timestamp is None else int(timestamp)
    parts = [f"t={t}"] + [f"v1={compute_signature(payload, s, t)}" for s in secrets]
    return ",".join(parts)


def parse_header(header: str) -> tuple[int | None, list[str]]:
    """``(timestamp, [v1 signatures])`` from a header value; (None, []) parts when malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in (header or "").split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t" and timestamp is None:
            try:
                timestamp = int(value)
            except ValueError:
                return None, []
        elif key == "v1" and value:
            signatures.append(value.strip())
    return timestamp, signatures


def verify_signature(
    payload: bytes | str,
    header: str,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """True when ``header`` (the ``PayBridge-Signature`` value) signs ``payload`` with ``secret``.

    - ``payload`` is the raw request body, exactly as received (bytes, or str as UTF-8).
    - The timestamp ``t`` must be within ``tolerance`` seconds of now (either way), which
      stops an old captured request from being replayed; pass ``tolerance=0`` to skip this
      check (not recommended).
    - Any one ``v1`` value matching is enough (two are sent while PayBridge rolls a secret).
    - Comparison is constant-time. Returns False (never raises) for a missing or malformed
      header.
    """
    timestamp, signatures = parse_header(header)
    if timestamp is None or not signatures or not secret:
        return False
    current = time.time() if now is None else now
    if tolerance and abs(current - timestamp) > tolerance:
        return False
    expected = compute_signature(payload, secret, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)

"""Device tokens (OWASP's device cookies for login throttling): a browser that signed in to an
account before carries a signed token for it, and its failed attempts count against that
token's own allowance (`paybridge.services.auth.authenticate`).

A token is <nonce: 32 hex><expiry: 8 hex, unix seconds><signature: 32 hex> where the
signature is an HMAC over nonce, expiry and the account's email; a cookie holds the tokens of
the last few accounts signed in from the browser, joined by ".".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from paybridge.db import utcnow
from paybridge.settings import get_settings

DEVICE_LIFETIME = timedelta(days=180)
DEVICE_TOKENS_KEPT = 5  # accounts one browser is remembered for


def _device_key() -> bytes:
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, b"paybridge-device-cookie-v1", hashlib.sha256).digest()


def _device_signature(nonce: str, expiry: str, email: str) -> str:
    message = f"{nonce}|{expiry}|{email.strip().lower()}".encode()
    return hmac.new(_device_key(), message, hashlib.sha256).hexdigest()[:32]


def device_in_cookie(cookie: str | None, email: str) -> str | None:
    """The device id (the token's nonce) of a valid, unexpired token for `email` in the
    cookie, or None."""
    if not cookie or len(cookie) > 1000:
        return None
    now = int(utcnow().timestamp())
    for token in cookie.split(".")[:DEVICE_TOKENS_KEPT]:
        if len(token) != 72 or any(ch not in "0123456789abcdef" for ch in token):
            continue
        nonce, expiry, signature = token[:32], token[32:40], token[40:]
        if int(expiry, 16) > now and hmac.compare_digest(
            signature, _device_signature(nonce, expiry, email)
        ):
            return nonce
    return None


def device_cookie_after_login(cookie: str | None, email: str) -> str:
    """The device cookie to give a browser that just signed in as `email`: a fresh token for
    it first, then the browser's tokens for other accounts."""
    nonce = secrets.token_hex(16)
    expiry = f"{int((utcnow() + DEVICE_LIFETIME).timestamp()):08x}"
    fresh = nonce + expiry + _device_signature(nonce, expiry, email)
    others = [
        token
        for token in (cookie or "").split(".")[: DEVICE_TOKENS_KEPT * 2]
        if len(token) == 72 and device_in_cookie(token, email) is None
    ]
    return ".".join([fresh, *others][:DEVICE_TOKENS_KEPT])

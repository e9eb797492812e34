"""Input checks shared by services, states and the API — one place for each rule."""

from __future__ import annotations

import re
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from paybridge.errors import DomainError

_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_REFERENCE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_IDEMPOTENCY_KEY_MAX = 255
MIN_PASSWORD_LENGTH = 12  # checked by services/users.py, shown on the sign-up page


def clean_email(value: object, *, param: str = "email") -> str:
    """Trimmed, lower-cased email, or a clear refusal."""
    if not isinstance(value, str) or len(value.strip()) > 254 or not _EMAIL.match(value.strip()):
        raise DomainError("invalid_email", "Enter a valid email address.", param=param)
    return value.strip().lower()


def clean_reference(value: object, *, param: str = "reference") -> str:
    if not isinstance(value, str) or not _REFERENCE.match(value):
        raise DomainError(
            "invalid_reference",
            "A reference is 1-64 characters of letters, digits, '_', '-', '.' or ':'.",
            param=param,
        )
    return value


def refuse_control_characters(text: str, *, param: str) -> None:
    """No text we accept holds a control character (PostgreSQL refuses NUL even in a query
    parameter)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise DomainError(
            "invalid_request", f"{param} must not contain control characters.", param=param
        )


def clean_text(value: object, *, param: str, max_length: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise DomainError("invalid_request", f"{param} must be text.", param=param)
    text = value.strip()
    refuse_control_characters(text, param=param)
    if required and not text:
        raise DomainError("invalid_request", f"{param} is required.", param=param)
    if len(text) > max_length:
        raise DomainError(
            "invalid_request", f"{param} is longer than {max_length} characters.", param=param
        )
    return text


def clean_choice(value: object, choices: type[StrEnum], *, param: str) -> str:
    """Accept one of a StrEnum's values."""
    allowed = [c.value for c in choices]
    if value not in allowed:
        raise DomainError(
            "invalid_request", f"{param} must be one of: {', '.join(allowed)}.", param=param
        )
    return str(value)


def clean_timezone(value: object, *, param: str = "timezone") -> str:
    if not isinstance(value, str) or value not in _timezones():
        raise DomainError("invalid_timezone", f"Unknown timezone: {value!r}.", param=param)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(
            "invalid_timezone", f"Unknown timezone: {value!r}.", param=param
        ) from None
    return value


def clean_idempotency_key(value: object, *, param: str = "idempotency_key") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= _IDEMPOTENCY_KEY_MAX:
        raise DomainError(
            "invalid_idempotency_key",
            f"An idempotency key is 1-{_IDEMPOTENCY_KEY_MAX} characters.",
            param=param,
        )
    return value


_TZ_CACHE: set[str] = set()


def _timezones() -> set[str]:
    if not _TZ_CACHE:
        _TZ_CACHE.update(available_timezones())
    return _TZ_CACHE


def is_row_id(value: object) -> bool:
    """A positive id that fits an INTEGER column (bigger ones would be a database error)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31

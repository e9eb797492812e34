"""The `/transactions` query string: one parser and one serialiser shared by the page (its URL),
saved views (stored query strings) and the CSV export route (same query string), so a view, a
bookmark and an export of it always mean the same rows.

    ?q=txn_ab&status=success&provider=card&currency=USD
     &from=2025-03-04T08:00&to=2025-03-05T08:00     (wall-clock time in the merchant's timezone,
                                                     `from` inclusive, `to` exclusive)
     &min=10.00&max=250                             (major units of `currency`, inclusive)
     &sort=amount_desc

Every value is validated; bad input raises DomainError naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from paybridge.errors import DomainError
from paybridge.models.transaction import TransactionStatus
from paybridge.money import normalize_currency, parse_amount, to_decimal
from paybridge.selectors.transactions import SORTS, TransactionFilters

DEFAULT_SORT = "created_desc"
MAX_SEARCH = 100
MAX_QUERY_STRING = 1000
_PROVIDER = re.compile(r"^[a-z0-9_]{1,40}$")
_EARLIEST, _LATEST = datetime(2000, 1, 1), datetime(2100, 12, 31, 23, 59, 59)
# URL parameter -> field, in the order the canonical query string lists them.
PARAMS = {
    "q": "search",
    "status": "status",
    "provider": "provider",
    "currency": "currency",
    "from": "date_from",
    "to": "date_to",
    "min": "amount_min",
    "max": "amount_max",
    "sort": "sort",
}


@dataclass(frozen=True)
class TransactionQuery:
    """Display-ready, validated filters ("" means not set). Times are local wall-clock strings
    `YYYY-MM-DDTHH:MM[:SS]` in the merchant's timezone; amounts are major-unit strings."""

    search: str = ""
    status: str = ""
    provider: str = ""
    currency: str = ""
    date_from: str = ""
    date_to: str = ""
    amount_min: str = ""
    amount_max: str = ""
    sort: str = DEFAULT_SORT

    def to_query_string(self) -> str:
        """Canonical form: only the parameters that are set, in a fixed order."""
        pairs = [
            (param, getattr(self, name))
            for param, name in PARAMS.items()
            if getattr(self, name) and not (name == "sort" and self.sort == DEFAULT_SORT)
        ]
        return urlencode(pairs)

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def sort_key(self) -> str:
        return SORTS[self.sort][0]

    @property
    def descending(self) -> bool:
        return SORTS[self.sort][1]

    def to_filters(self, tz: str) -> TransactionFilters:
        zone = ZoneInfo(tz)
        return TransactionFilters(
            status=self.status or None,
            provider=self.provider or None,
            currency=self.currency or None,
            search=self.search or None,
            created_gte=_to_utc(self.date_from, zone),
            created_lt=_to_utc(self.date_to, zone),
            amount_gte=parse_amount(self.amount_min, self.currency) if self.amount_min else None,
            amount_lte=parse_amount(self.amount_max, self.currency) if self.amount_max else None,
        )


def parse_query_string(text: object) -> TransactionQuery:
    if not isinstance(text, str) or len(text) > MAX_QUERY_STRING:
        raise DomainError("invalid_request", "Malformed filters.")
    return parse_query(dict(parse_qsl(text.lstrip("?"), keep_blank_values=True)))


def parse_query(params: Mapping[str, object]) -> TransactionQuery:
    """Validate URL/form parameters (unknown ones are ignored) into a TransactionQuery."""
    raw = {name: _text(params.get(param), param) for param, name in PARAMS.items()}
    search = raw["search"]
    if len(search) > MAX_SEARCH:
        raise DomainError(
            "invalid_request", f"Search is at most {MAX_SEARCH} characters.", param="q"
        )
    status = raw["status"].lower()
    if status and status not in {s.value for s in TransactionStatus}:
        raise DomainError("invalid_request", f"Unknown status: {status!r}.", param="status")
    provider = raw["provider"].lower()
    if provider and not _PROVIDER.match(provider):
        raise DomainError("invalid_request", f"Unknown provider: {provider!r}.", param="provider")
    currency = normalize_currency(raw["currency"]) if raw["currency"] else ""
    date_from = _local_time(raw["date_from"], "from")
    date_to = _local_time(raw["date_to"], "to")
    if date_from and date_to and date_from >= date_to:
        raise DomainError("invalid_request", "'To' must be after 'From'.", param="to")
    amount_min = _amount(raw["amount_min"], currency, "min")
    amount_max = _amount(raw["amount_max"], currency, "max")
    if (
        amount_min
        and amount_max
        and parse_amount(amount_min, currency) > parse_amount(amount_max, currency)
    ):
        raise DomainError(
            "invalid_request", "The minimum amount is above the maximum.", param="min"
        )
    sort = raw["sort"] or DEFAULT_SORT
    if sort not in SORTS:
        raise DomainError("invalid_request", f"Unknown sort: {sort!r}.", param="sort")
    return TransactionQuery(
        search=search,
        status=status,
        provider=provider,
        currency=currency,
        date_from=date_from,
        date_to=date_to,
        amount_min=amount_min,
        amount_max=amount_max,
        sort=sort,
    )


def with_changes(query: TransactionQuery, **changes: str) -> TransactionQuery:
    """`query` with some fields replaced, validated again as a whole."""
    merged = replace(query, **changes)
    return parse_query({param: getattr(merged, name) for param, name in PARAMS.items()})


def _text(value: object, param: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 200:
        raise DomainError("invalid_request", f"Invalid {param}.", param=param)
    return value.strip()


def _local_time(value: str, param: str) -> str:
    """'2025-03-04T08:00' / '2025-03-04 08:00:30' / '2025-03-04' -> canonical wall-clock text."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DomainError(
            "invalid_request", f"'{param}' must be a date and time.", param=param
        ) from None
    if moment.tzinfo is not None:
        raise DomainError(
            "invalid_request",
            f"'{param}' is a local time in your timezone; leave the offset out.",
            param=param,
        )
    if not _EARLIEST <= moment <= _LATEST:
        raise DomainError("invalid_request", f"'{param}' must be in 2000-2100.", param=param)
    moment = moment.replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")


def _to_utc(value: str, zone: ZoneInfo) -> datetime | None:
    """A local wall-clock time to UTC (an ambiguous time in a DST fold is its first instance)."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=zone).astimezone(UTC)


def _amount(value: str, currency: str, param: str) -> str:
    if not value:
        return ""
    if not currency:
        raise DomainError(
            "invalid_request", "Pick a currency to filter by amount.", param="currency"
        )
    return str(to_decimal(parse_amount(value, currency, param=param), currency))

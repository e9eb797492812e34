"""Money as an integer count of minor units plus an ISO 4217 code — the only place that parses,
rounds and formats amounts. Floats are refused everywhere: they cannot hold 0.10 exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, Inexact, InvalidOperation, localcontext

from paybridge.errors import DomainError

_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")

# ISO 4217 minor-unit exponents of the currencies we accept, grouped by exponent.
_BY_EXPONENT = {
    2: "AED ARS AUD BDT BRL CAD CHF CNY COP CZK DKK DZD EGP ETB EUR GBP GHS HKD ILS INR KES MAD "
    "MXN MYR NGN NOK NZD PEN PHP PKR PLN QAR RON RUB SAR SEK SGD THB TRY TZS UAH USD ZAR ZMW",
    0: "CLP ISK JPY KRW PYG RWF UGX VND XAF XOF",
    3: "BHD IQD JOD KWD LYD OMR TND",
}
CURRENCY_EXPONENTS: dict[str, int] = {
    code: exp for exp, codes in _BY_EXPONENT.items() for code in codes.split()
}

CURRENCY_SYMBOLS: dict[str, str] = {
    "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "NGN": "₦", "KES": "KSh ", "GHS": "GH₵",
    "INR": "₹", "ZAR": "R ", "CAD": "CA$", "AUD": "A$", "BRL": "R$", "CHF": "CHF ",
}  # fmt: skip

# Amounts are BIGINT columns; keep every single amount far below 2**63 so sums cannot overflow.
MAX_MINOR_UNITS = 10**15


def normalize_currency(code: object, *, param: str = "currency") -> str:
    """Return the upper-case ISO 4217 code, or refuse an unknown one."""
    if not isinstance(code, str) or code.strip().upper() not in CURRENCY_EXPONENTS:
        raise DomainError("invalid_currency", f"Unsupported currency: {code!r}.", param=param)
    return code.strip().upper()


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[normalize_currency(currency)]


def parse_amount(value: object, currency: str, *, param: str = "amount") -> int:
    """Parse a decimal string (or an int/Decimal of major units) into positive minor units.

    "10.5" USD -> 1050. Refuses floats, NaN/Infinity, zero or negative amounts, more decimals
    than the currency has, and amounts above MAX_MINOR_UNITS.
    """
    exp = exponent(currency)
    if isinstance(value, (bool, float)):
        raise DomainError(
            "invalid_amount", "Amounts must be decimal strings, not floats.", param=param
        )
    if isinstance(value, str):
        text = value.strip().replace(",", "") if _is_grouped(value.strip()) else value.strip()
        if not _PLAIN_DECIMAL.fullmatch(text):  # no "1e2", "1_000", "Infinity" or non-ASCII digits
            raise DomainError("invalid_amount", f"Not a decimal amount: {value!r}.", param=param)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise DomainError(
                "invalid_amount", f"Not a decimal amount: {value!r}.", param=param
            ) from None
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
    else:
        raise DomainError("invalid_amount", "Amount must be a decimal string.", param=param)
    if not number.is_finite():
        raise DomainError("invalid_amount", "Amount must be a finite number.", param=param)
    if number <= 0:
        raise DomainError("invalid_amount", "Amount must be greater than zero.", param=param)
    with localcontext() as context:  # the default 28 digits would round "1.000…0001" to "1"
        context.prec = 60
        context.traps[Inexact] = True
        try:
            scaled = number.scaleb(exp)
            whole_minor_units = scaled == scaled.to_integral_value()
        except Inexact:
            whole_minor_units = False
    if not whole_minor_units:
        raise DomainError(
            "invalid_amount",
            f"{currency.upper()} amounts have at most {exp} decimal places.",
            param=param,
        )
    minor = int(scaled)
    if minor > MAX_MINOR_UNITS:
        raise DomainError("invalid_amount", "Amount is too large.", param=param)
    return minor


def _is_grouped(text: str) -> bool:
    """Accept '1,234.50' (thousands separators) but not '1,5' (a decimal comma)."""
    whole, _, fraction = text.partition(".")
    groups = whole.lstrip("-+").split(",")
    return (
        "," not in fraction
        and len(groups) > 1
        and 1 <= len(groups[0]) <= 3
        and all(len(g) == 3 and g.isdigit() for g in groups[1:])
    )


def validate_minor_units(value: object, *, param: str = "amount") -> int:
    """Check an amount that is already in minor units (API payloads): a positive int in range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(
            "invalid_amount", "Amount must be an integer number of minor units.", param=param
        )
    if value <= 0:
        raise DomainError("invalid_amount", "Amount must be greater than zero.", param=param)
    if value > MAX_MINOR_UNITS:
        raise DomainError("invalid_amount", "Amount is too large.", param=param)
    return value


def to_decimal(minor: int, currency: str) -> Decimal:
    """Minor units as an exact Decimal of major units (for exports and API display fields)."""
    return Decimal(minor).scaleb(-exponent(currency))


def format_amount(minor: int, currency: str) -> str:
    """Plain major-unit string with grouping: 123456 USD -> '1,234.56'."""
    exp = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    text = f"{whole:,}"
    if exp:
        text += "." + str(frac).zfill(exp)
    return sign + text


def format_money(minor: int, currency: str) -> str:
    """Display string for people: 123456 USD -> '$1,234.56', 5000 KWD -> '5.000 KWD'."""
    currency = normalize_currency(currency)
    text = format_amount(abs(minor), currency)
    sign = "-" if minor < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def percent_of(amount: int, basis_points: int) -> int:
    """basis_points/10000 of amount, rounded half up, in integers only."""
    return (amount * basis_points + 5000) // 10000

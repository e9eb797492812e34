"""money.py: integer minor units, ISO 4217 exponents, parsing, formatting, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paybridge.errors import DomainError
from paybridge.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR_UNITS,
    exponent,
    format_amount,
    format_money,
    normalize_currency,
    parse_amount,
    percent_of,
    to_decimal,
    validate_minor_units,
)


@pytest.mark.parametrize(
    ("currency", "exp"),
    [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("NGN", 2), ("KWD", 3), ("BHD", 3)],
)
def test_exponents(currency: str, exp: int) -> None:
    assert exponent(currency) == exp
    assert exponent(currency.lower()) == exp


def test_every_currency_is_three_upper_case_letters_with_a_known_exponent() -> None:
    assert len(CURRENCY_EXPONENTS) > 50
    for code, exp in CURRENCY_EXPONENTS.items():
        assert len(code) == 3 and code.isalpha() and code.isupper()
        assert exp in (0, 2, 3)


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("10.5", "USD", 1050),
        ("10.50", "USD", 1050),
        ("0.01", "USD", 1),
        (" 7 ", "USD", 700),
        ("1,234.56", "USD", 123456),
        ("1,234,567", "USD", 123456700),
        ("500", "JPY", 500),
        ("1,000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        ("0.001", "KWD", 1),
        ("2", "kwd", 2000),
        (5, "USD", 500),
        (Decimal("19.99"), "USD", 1999),
        (Decimal("3"), "JPY", 3),
        ("10.500", "USD", 1050),  # trailing zeros are not extra precision
    ],
)
def test_parse_amount(value: object, currency: str, minor: int) -> None:
    result = parse_amount(value, currency)
    assert result == minor
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(10.5, id="float"),
        pytest.param(0.1, id="float-small"),
        pytest.param(float("nan"), id="float-nan"),
        pytest.param(True, id="bool-true"),
        pytest.param(False, id="bool-false"),
        pytest.param("NaN", id="nan"),
        pytest.param("sNaN", id="snan"),
        pytest.param("Infinity", id="infinity"),
        pytest.param("-Infinity", id="neg-infinity"),
        pytest.param(Decimal("Infinity"), id="decimal-infinity"),
        pytest.param(Decimal("NaN"), id="decimal-nan"),
        pytest.param("-1", id="negative"),
        pytest.param("-0.01", id="negative-cent"),
        pytest.param(-5, id="negative-int"),
        pytest.param("0", id="zero"),
        pytest.param("0.00", id="zero-decimals"),
        pytest.param(0, id="zero-int"),
        pytest.param("10.001", id="too-many-decimals"),
        pytest.param("1,5", id="decimal-comma"),
        pytest.param("12,34.5", id="bad-grouping"),
        pytest.param("1,234.5,6", id="comma-in-fraction"),
        pytest.param("1,234.,56", id="comma-after-point"),
        pytest.param("1.0000000000000000000000000001", id="29-digits-beyond-precision"),
        pytest.param("0.01" + "0" * 60 + "1", id="80-digits"),
        pytest.param("", id="empty"),
        pytest.param("ten", id="words"),
        pytest.param("$10", id="symbol"),
        pytest.param(None, id="none"),
        pytest.param([10], id="list"),
        pytest.param(str(MAX_MINOR_UNITS), id="too-large"),  # MAX in *major* units
    ],
)
def test_parse_amount_refusals(value: object) -> None:
    with pytest.raises(DomainError) as info:
        parse_amount(value, "USD")
    assert info.value.code == "invalid_amount"
    assert info.value.param == "amount"
    assert info.value.message


def test_parse_amount_decimal_places_follow_the_currency() -> None:
    with pytest.raises(DomainError) as info:
        parse_amount("1.5", "JPY")
    assert info.value.code == "invalid_amount"
    assert "0 decimal places" in info.value.message
    with pytest.raises(DomainError, match="3 decimal places"):
        parse_amount("1.2345", "KWD")
    assert parse_amount("1.234", "KWD") == 1234


def test_parse_amount_maximum() -> None:
    assert parse_amount(str(MAX_MINOR_UNITS // 100), "USD") == MAX_MINOR_UNITS
    with pytest.raises(DomainError) as info:
        parse_amount(f"{MAX_MINOR_UNITS // 100}.01", "USD")
    assert info.value.code == "invalid_amount"


def test_parse_amount_param_name_is_passed_through() -> None:
    with pytest.raises(DomainError) as info:
        parse_amount("-1", "USD", param="withdraw_amount")
    assert info.value.param == "withdraw_amount"


@pytest.mark.parametrize("currency", ["XXX", "usdx", "", "US", None, 840, "BTC"])
def test_unknown_currency(currency: object) -> None:
    with pytest.raises(DomainError) as info:
        normalize_currency(currency)
    assert info.value.code == "invalid_currency"
    assert info.value.param == "currency"
    with pytest.raises(DomainError) as info:
        parse_amount("1", currency)  # type: ignore[arg-type]
    assert info.value.code == "invalid_currency"


def test_normalize_currency() -> None:
    assert normalize_currency(" usd ") == "USD"
    assert normalize_currency("Jpy") == "JPY"


@pytest.mark.parametrize("value", [1, 1050, MAX_MINOR_UNITS], ids=["one", "typical", "max"])
def test_validate_minor_units_accepts(value: int) -> None:
    assert validate_minor_units(value) == value


@pytest.mark.parametrize(
    "value",
    [0, -1, MAX_MINOR_UNITS + 1, True, False, 10.0, 10.5, "100", Decimal("100"), None],
    ids=["zero", "neg", "too-large", "true", "false", "float-int", "float", "str", "dec", "none"],
)
def test_validate_minor_units_refuses(value: object) -> None:
    with pytest.raises(DomainError) as info:
        validate_minor_units(value)
    assert info.value.code == "invalid_amount"
    assert info.value.param == "amount"


@pytest.mark.parametrize(
    ("minor", "currency", "plain", "display"),
    [
        (123456, "USD", "1,234.56", "$1,234.56"),
        (5, "USD", "0.05", "$0.05"),
        (0, "USD", "0.00", "$0.00"),
        (-1050, "USD", "-10.50", "-$10.50"),
        (1234567, "JPY", "1,234,567", "¥1,234,567"),
        (5000, "KWD", "5.000", "5.000 KWD"),
        (1, "KWD", "0.001", "0.001 KWD"),
        (250000, "NGN", "2,500.00", "₦2,500.00"),
        (999, "EUR", "9.99", "€9.99"),
        (100, "kes", "1.00", "KSh 1.00"),
    ],
)
def test_formatting(minor: int, currency: str, plain: str, display: str) -> None:
    assert format_amount(minor, currency) == plain
    assert format_money(minor, currency) == display


def test_format_refuses_unknown_currency() -> None:
    with pytest.raises(DomainError) as info:
        format_money(100, "ABC")
    assert info.value.code == "invalid_currency"


def test_to_decimal_is_exact() -> None:
    assert to_decimal(1050, "USD") == Decimal("10.50")
    assert to_decimal(10, "USD") + to_decimal(20, "USD") == Decimal("0.30")
    assert to_decimal(7, "JPY") == Decimal("7")
    assert to_decimal(1, "KWD") == Decimal("0.001")


@pytest.mark.parametrize(
    ("amount", "bps", "expected"),
    [(10000, 290, 290), (50, 100, 1), (49, 100, 0), (150, 100, 2), (1, 10000, 1), (7, 0, 0)],
)
def test_percent_of_rounds_half_up(amount: int, bps: int, expected: int) -> None:
    assert percent_of(amount, bps) == expected


@given(
    minor=st.integers(min_value=1, max_value=MAX_MINOR_UNITS),
    currency=st.sampled_from(["USD", "JPY", "KWD", "NGN"]),
)
def test_format_then_parse_round_trips(minor: int, currency: str) -> None:
    assert parse_amount(format_amount(minor, currency), currency) == minor

"""Exact money: integer minor units with an ISO 4217 currency. Never floats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

from fairtrain.core.errors import InvalidInput
from fairtrain.core.numbers import decimals, parse_decimal

# The largest amount in minor units: stored in 64-bit columns, with room for sums (below 2**63 ≈ 9.2e18).
MAX_MINOR = 10**18 - 1


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def currency_exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (KRW 0, EUR 2), from CLDR via Babel."""
    code = normalise_currency(currency)
    return get_currency_precision(code)


def normalise_currency(currency: str) -> str:
    code = currency.strip().upper()
    if len(code) != 3 or code not in _known_currencies():
        raise InvalidInput(f"unknown currency {currency!r} (expected an ISO 4217 code such as KRW or EUR)")
    return code


@dataclass(frozen=True, slots=True, order=True)
class Money:
    currency: str
    minor: int

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError(f"money amounts are integer minor units, got {type(self.minor).__name__}")

    @classmethod
    def parse(cls, amount: str, currency: str) -> Money:
        """Parse a major-unit amount such as ``"12.50"`` EUR into 1250 minor units, refusing extra digits,
        negative amounts and amounts whose minor units pass :data:`MAX_MINOR`."""
        code = normalise_currency(currency)
        exponent = currency_exponent(code)
        d = parse_decimal(amount, separators=True, what="an amount")
        if d < 0:
            raise InvalidInput(f"amount must not be negative: {amount!r}")
        if decimals(d) > exponent:
            raise InvalidInput(f"{amount!r} has more decimals than {code} allows ({exponent})")
        if d.scaleb(exponent) > MAX_MINOR:  # the exponent is bounded: comparing costs nothing
            raise InvalidInput(f"{amount!r} {code} is above the largest amount ({Money(code, MAX_MINOR)})")
        return cls(code, int(d.scaleb(exponent)))

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.minor + other.minor)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.minor - other.minor)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise InvalidInput(f"cannot combine {self.currency} and {other.currency}")

    def major_str(self) -> str:
        exponent = currency_exponent(self.currency)
        return str(Decimal(self.minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))

    def __str__(self) -> str:
        return f"{self.major_str()} {self.currency}"

    def to_dict(self) -> dict:
        return {"currency": self.currency, "minor": self.minor, "display": str(self)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Money:
        return cls(normalise_currency(d["currency"]), int(d["minor"]))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(normalise_currency(currency), 0)

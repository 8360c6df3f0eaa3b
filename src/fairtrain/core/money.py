"""Exact money: integer minor units with an ISO 4217 currency. Never floats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

from fairtrain.core.errors import InvalidInput


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
        """Parse a major-unit amount such as ``"12.50"`` EUR into 1250 minor units, refusing extra digits."""
        code = normalise_currency(currency)
        exponent = currency_exponent(code)
        try:
            d = Decimal(amount.strip().replace(",", "").replace("_", ""))
        except InvalidOperation:
            raise InvalidInput(f"not an amount: {amount!r}") from None
        if not d.is_finite():
            raise InvalidInput(f"not an amount: {amount!r}")
        scaled = d.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise InvalidInput(f"{amount!r} has more decimals than {code} allows ({exponent})")
        if d < 0:
            raise InvalidInput(f"amount must not be negative: {amount!r}")
        return cls(code, int(scaled))

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

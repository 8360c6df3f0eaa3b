"""Exact numbers from text, bounded before they are built: the one parser for shares, amounts,
percentages and basis points.

``Decimal("1e999999999")`` and ``Fraction("1e-999999999")`` are cheap to write and ruinous to use: the
first turns into a billion-digit integer the moment it is scaled to minor units, the second computes
10**999999999 at once. Everything here checks the text's shape and the exponent first, then the bounds,
and only then builds the number, so a hostile value costs microseconds and gets a reason.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from fractions import Fraction

from fairtrain.core.errors import InvalidInput
from fairtrain.core.i18n import N_

MAX_CHARS = 64  # a number longer than this is not something a person typed
MAX_EXPONENT = 99  # 1e99 and 1e-99 are as far as the notation goes
BASIS_POINTS = 10_000

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?")
_RATIO = re.compile(r"(\d+)\s*/\s*(\d+)")


class NumberError(InvalidInput):
    """The text is not a number, or not one in bounds; the message says which and why."""


def parse_decimal(
    text: str,
    *,
    minimum: Decimal | int | None = None,
    maximum: Decimal | int | None = None,
    places: int | None = None,
    separators: bool = False,
    what: str = "a number",
) -> Decimal:
    """``text`` as an exact Decimal within ``minimum..maximum`` with at most ``places`` decimals.

    ``separators``: thousands separators (``1,000`` and ``1_000``) are allowed and dropped. NaN, infinities
    and exponents beyond ±99 are refused before anything is computed."""
    if not isinstance(text, str):
        raise NumberError(f"not {what}: {text!r}")
    t = text.strip()
    if separators:
        t = t.replace(",", "").replace("_", "")
    if len(t) > MAX_CHARS:
        raise NumberError(f"not {what}: {len(t)} characters is too long for a number")
    m = _DECIMAL.fullmatch(t)
    if m is None:
        raise NumberError(f"not {what}: {text.strip()[:MAX_CHARS]!r}")
    if m.group(1) is not None and abs(int(m.group(1))) > MAX_EXPONENT:  # at most 64 digits: cheap to read
        raise NumberError(f"{t!r} is out of range (exponents go to ±{MAX_EXPONENT})")
    d = Decimal(t)
    if minimum is not None and d < minimum:
        raise NumberError(f"{t!r} is below the minimum {minimum}")
    if maximum is not None and d > maximum:
        raise NumberError(f"{t!r} is above the maximum {maximum}")
    if places is not None and decimals(d) > places:
        raise NumberError(
            f"{t!r} has more than {places} decimal place{'s' if places != 1 else ''}"
            if places
            else f"{t!r} must be a whole number"
        )
    return d


def decimals(d: Decimal) -> int:
    """The decimal places ``d`` needs (``1.50`` → 1, ``2E+3`` → 0), exactly."""
    with localcontext(prec=MAX_CHARS + 2 * MAX_EXPONENT + 2):  # exact for anything parse_decimal lets through
        exponent = d.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def parse_fraction(
    text: str,
    *,
    minimum: Fraction | int | None = None,
    maximum: Fraction | int | None = None,
    max_denominator: int = 10**12,
    what: str = "a number",
) -> Fraction:
    """``0.5``, ``1/3`` or ``50%`` as an exact Fraction within bounds, its denominator at most
    ``max_denominator`` once reduced (stored shares are 64-bit numerators and denominators)."""
    if not isinstance(text, str):
        raise NumberError(f"not {what}: {text!r}")
    t = text.strip()
    if len(t) > MAX_CHARS:
        raise NumberError(f"not {what}: {len(t)} characters is too long for a number")
    if m := _RATIO.fullmatch(t):
        num, den = int(m.group(1)), int(m.group(2))  # at most 64 digits each: cheap
        if den == 0:
            raise NumberError(f"{t!r} divides by zero")
        value = Fraction(num, den)
    else:
        percent = t.endswith("%")
        d = parse_decimal(t[:-1] if percent else t, what=what)
        value = Fraction(d) / (100 if percent else 1)
    if minimum is not None and value < minimum:
        raise NumberError(f"{t!r} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise NumberError(f"{t!r} is above the maximum {maximum}")
    if value.denominator > max_denominator:
        raise NumberError(f"{t!r} is too fine (the smallest step is 1/{max_denominator:,})")
    return value


def parse_basis_points(text: str, *, what: str = "a percentage") -> int:
    """A percentage such as ``15`` or ``12.5`` as whole basis points (0..10000); ``12.345`` is refused,
    not truncated."""
    if not isinstance(text, str):
        raise NumberError(f"not {what}: {text!r}")
    t = text.strip().removesuffix("%").strip()
    d = parse_decimal(t, what=what)
    if not 0 <= d <= 100:
        raise NumberError(f"{t!r} %: {what} is between 0 and 100")
    if decimals(d) > 2:
        raise NumberError(f"{t!r} %: not a whole number of basis points (at most 2 decimals)")
    return int(d * 100)


# Korean number units (written as escapes: Korean text lives only in the catalogue): cheon 10**3, man 10**4,
# eok 10**8, jo 10**12, and the won sign that may close a price.
_KO_UNITS = {"\ucc9c": 10**3, "\ub9cc": 10**4, "\uc5b5": 10**8, "\uc870": 10**12}
_WON = "\uc6d0"
# "3man 5cheon-won", "1eok 2,000man", "30,000won", "30000": groups of digits each with a unit, largest first.
_KO_GROUP = re.compile(r"(\d{1,4}(?:,\d{3})*|\d+)\s*([\ucc9c\ub9cc\uc5b5\uc870])")
_PLAIN = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")
PRICE_ERROR = N_("The price {text!r} is not an amount: write it in digits, for example 30000 or 30,000.")


class PriceError(NumberError):
    """A price that is not a whole amount of won as a person writes it; :meth:`localised` says so in any
    catalogue language (the message is a catalogue message)."""

    http_status = 422  # like every other refusal of a submitted offer

    def __init__(self, text: str):
        self.text = text[:MAX_CHARS]
        super().__init__(PRICE_ERROR.format(text=self.text))

    def localised(self, lang: str) -> str:
        from fairtrain.core.i18n import translator

        return translator(lang)(PRICE_ERROR).format(text=self.text)


def parse_price(text: str) -> Decimal:
    """A whole amount as a Korean reader writes it: ``30000``, ``30,000``, ``30,000`` won, ``3`` man won,
    ``3`` man ``5`` cheon won, ``1`` eok ``2,000`` man (the units written in Hangul). Separators must sit every three
    digits; each unit (cheon, man, eok, jo) appears at most once, largest first; a trailing won sign is allowed.
    Anything else (``3.5`` man, a number written in Hangul words, ``-3``, a unit twice) is a :class:`PriceError`,
    and so is a value above 10**16."""
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        raise PriceError(str(text))
    t = text.strip().removesuffix(_WON).strip()
    if not t:
        raise PriceError(text)
    if _PLAIN.fullmatch(t):
        value = int(t.replace(",", ""))
    else:
        value, pos, last_unit = 0, 0, None
        for m in _KO_GROUP.finditer(t):
            if t[pos : m.start()].strip():
                raise PriceError(text)
            unit = _KO_UNITS[m.group(2)]
            if last_unit is not None and unit >= last_unit:
                raise PriceError(text)
            digits = m.group(1)
            if "," in digits and not re.fullmatch(r"\d{1,3}(?:,\d{3})+", digits):
                raise PriceError(text)
            value += int(digits.replace(",", "")) * unit
            last_unit, pos = unit, m.end()
        rest = t[pos:].strip()
        if last_unit is None:
            raise PriceError(text)
        if rest:  # "3man 5000": digits below the smallest unit
            if not _PLAIN.fullmatch(rest) or int(rest.replace(",", "")) >= last_unit:
                raise PriceError(text)
            value += int(rest.replace(",", ""))
    if value > 10**16:
        raise PriceError(text)
    return Decimal(value)


__all__ = [
    "BASIS_POINTS",
    "MAX_CHARS",
    "NumberError",
    "PRICE_ERROR",
    "PriceError",
    "decimals",
    "parse_basis_points",
    "parse_decimal",
    "parse_fraction",
    "parse_price",
]

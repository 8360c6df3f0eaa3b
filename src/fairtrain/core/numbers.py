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

MAX_CHARS = 64  # a number longer than this is not something a person typed
MAX_EXPONENT = 99  # 1e99 and 1e-99 are as far as the notation goes
BASIS_POINTS = 10_000

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?")
_RATIO = re.compile(r"(\d+)\s*/\s*(\d+)")


class NumberError(InvalidInput):
    """The text is not a number, or not one in bounds; the message says which and why."""


def parse_decimal(text: str, *, minimum: Decimal | int | None = None, maximum: Decimal | int | None = None,
                  places: int | None = None, separators: bool = False, what: str = "a number") -> Decimal:
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
        raise NumberError(f"{t!r} has more than {places} decimal place{'s' if places != 1 else ''}"
                          if places else f"{t!r} must be a whole number")
    return d


def decimals(d: Decimal) -> int:
    """The decimal places ``d`` needs (``1.50`` → 1, ``2E+3`` → 0), exactly."""
    with localcontext(prec=MAX_CHARS + 2 * MAX_EXPONENT + 2):  # exact for anything parse_decimal lets through
        exponent = d.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def parse_fraction(text: str, *, minimum: Fraction | int | None = None, maximum: Fraction | int | None = None,
                   max_denominator: int = 10**12, what: str = "a number") -> Fraction:
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


__all__ = ["BASIS_POINTS", "MAX_CHARS", "NumberError", "decimals", "parse_basis_points", "parse_decimal",
           "parse_fraction"]

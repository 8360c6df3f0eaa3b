"""What a text column accepts, the same on every database: checked before storage, from the models.

PostgreSQL refuses NUL characters in any text and strings longer than a ``String(n)`` column; SQLite
stores both without a word. Callers check their values here first, so that both databases accept and
refuse the same input, and the refusal names the field and the reason instead of a driver error.
"""

from __future__ import annotations

from sqlalchemy.orm import InstrumentedAttribute

from fairtrain.core.errors import InvalidInput


def max_length(column: InstrumentedAttribute) -> int | None:
    """The column's length in characters (``String(n)``), or None for unbounded text."""
    return getattr(column.type, "length", None)


def text_problem(column: InstrumentedAttribute, value: str | None) -> str | None:
    """Why ``value`` cannot be stored in ``column`` (e.g. ``Work.title``), or None when it can."""
    if value is None:
        return None
    if "\x00" in value:
        return "contains a NUL character"
    limit = max_length(column)
    if limit is not None and len(value) > limit:
        return f"{len(value):,} characters, above the limit of {limit:,}"
    return None


def check_text(
    column: InstrumentedAttribute, value: str | None, what: str, error: type[Exception] = InvalidInput
) -> str | None:
    """``value`` unchanged when ``column`` can store it; otherwise ``error("<what>: <reason>")``."""
    if (problem := text_problem(column, value)) is not None:
        raise error(f"{what}: {problem}")
    return value

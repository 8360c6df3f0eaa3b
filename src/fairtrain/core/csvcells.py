"""CSV as the product reads and writes it.

Writing: every cell a person's spreadsheet could run as a formula (``=HYPERLINK(…)``, ``+``, ``-``, ``@``,
a leading tab or carriage return, and their full-width forms) is written with a leading apostrophe, the
OWASP "CSV injection" defence; numbers are written as numbers. Every CSV the product writes for people
(statements, repertoire usage) goes through :func:`writer`. Copies of a dataset in its own format are not
reports and are written byte for byte.

Reading: :func:`records` turns the csv module's errors (a field over its 131,072-character limit) into an
error for that record, and the reader goes on with the next line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from fairtrain.core.errors import InvalidInput

# The longest field a sheet may hold: the csv module's default limit, enforced here too because that limit
# is process-wide and a dataset reader in the same process may have raised it.
FIELD_LIMIT = 131_072
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutral(value: Any) -> Any:
    """``value`` as a cell no spreadsheet evaluates: text starting like a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Writer:
    def __init__(self, f, **kw):
        self._w = csv.writer(f, **kw)

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([neutral(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(f, **kw) -> _Writer:
    """A ``csv.writer`` whose cells are :func:`neutral`."""
    return _Writer(f, **kw)


class RecordError(InvalidInput):
    """One CSV record the csv module could not read; the reader goes on with the next line."""


_TOO_LONG = f"a field is longer than {FIELD_LIMIT:,} characters (the CSV field limit)"


def reason(e: csv.Error) -> str:
    if "field larger than field limit" in str(e):
        return _TOO_LONG
    return f"not valid CSV ({e})"


def records(reader: Iterator[list[str]]) -> Iterator[list[str] | RecordError]:
    """The records of a ``csv.reader``, each a list of fields or a :class:`RecordError` in its place."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield RecordError(reason(e))
            continue
        yield RecordError(_TOO_LONG) if max(map(len, record), default=0) > FIELD_LIMIT else record


__all__ = ["RecordError", "neutral", "reason", "records", "writer"]

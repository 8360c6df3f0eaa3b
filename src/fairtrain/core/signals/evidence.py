"""What every signal reader shares: the typed error, the retrieval record, and statement building.

Each finding becomes a :class:`~fairtrain.core.vocab.Statement` at ``Level.SIGNAL`` whose provenance
carries the evidence an AI Act Art. 53 file needs: source, URL, fetch time, HTTP status, sha256 of the
raw bytes, and the parser's name and version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fairtrain._version import __version__
from fairtrain.core.errors import ItemError
from fairtrain.core.vocab import Category, Level, Provenance, Statement, Terms, Value

VERSION = __version__


class SignalError(ItemError):
    """One signal could not be read; the caller records it and goes on."""


@dataclass(frozen=True, slots=True)
class Retrieval:
    """Where and when some raw signal bytes came from."""

    url: str | None = None
    status: int | None = None
    fetched_at: datetime | None = None
    sha256: str | None = None

    @classmethod
    def of(
        cls,
        raw: bytes | str | None,
        *,
        url: str | None = None,
        status: int | None = None,
        fetched_at: datetime | None = None,
    ) -> Retrieval:
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
        return cls(url=url, status=status, fetched_at=fetched_at or datetime.now(UTC), sha256=digest)

    @property
    def origin(self) -> str | None:
        if not self.url:
            return None
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def parser_id(module: str) -> str:
    """``fairtrain.signals.<module>/<version>``: recorded with every statement."""
    return f"fairtrain.signals.{module}/{VERSION}"


def statement(
    category: Category,
    value: Value,
    *,
    source: str,
    retrieval: Retrieval | None,
    parser: str,
    detail: Mapping[str, object] | None = None,
) -> Statement:
    r = retrieval or Retrieval()
    evidence: dict[str, object] = {
        "url": r.url,
        "status": r.status,
        "fetched_at": r.fetched_at.isoformat() if r.fetched_at else None,
        "sha256": r.sha256,
        "parser": parser,
    }
    if detail:
        evidence.update(detail)
    return Statement(
        category=category,
        value=value,
        level=Level.SIGNAL,
        provenance=Provenance(source=source, party=r.origin, at=r.fetched_at, evidence=evidence),
    )


def yes_no_statements(
    prefs: Mapping[str, bool],
    table: Mapping[str, Category],
    *,
    source: str,
    retrieval: Retrieval | None,
    parser: str,
    detail: Mapping[str, object] | None = None,
) -> Terms:
    """Statements for a ``label -> allowed`` mapping; labels outside ``table`` are ignored."""
    out = []
    for label, allowed in prefs.items():
        cat = table.get(label)
        if cat is None:
            continue
        d = {"label": label, **(detail or {})}
        out.append(
            statement(
                cat, Value.ALLOW if allowed else Value.DENY, source=source, retrieval=retrieval, parser=parser, detail=d
            )
        )
    return Terms(tuple(out))


def header_values(headers: object, name: str) -> list[str]:
    """Every value of one header, case-insensitively, from httpx/http.client headers, a mapping or pairs."""
    if headers is None:
        return []
    get_list = getattr(headers, "get_list", None) or getattr(headers, "get_all", None)
    if callable(get_list):
        return [str(v) for v in (get_list(name) or [])]
    items = headers.items() if hasattr(headers, "items") else headers
    lname = name.lower()
    out: list[str] = []
    for k, v in items:  # type: ignore[union-attr]
        if str(k).lower() == lname:
            out.extend(v if isinstance(v, (list, tuple)) else [v])
    return [str(v) for v in out]

"""Public registry search: the one place that finds works by title, holder name, work_ref or identifier.

A query is tried as every kind of name at once and the results are their union, in work id order:

- an ISWC, ISRC or ISBN, normalised as the registry stores them (``T-034.524.680-1`` = ``T0345246801``,
  an ISBN with or without hyphens), matched exactly through the partial identifier indexes;
- a ``work_ref``, matched exactly (``ix_works_work_ref``);
- part of a title or of a holder's name, case-insensitive: 3 characters or more are a substring
  (SQLite: FTS5 ``trigram`` tables; PostgreSQL: ``pg_trgm`` GIN indexes under ``LIKE '%q%'``); 1–2
  characters (a Korean word is often two syllables) match the start of a word, since trigrams need
  three (SQLite: FTS5 ``unicode61`` tables with 1- and 2-character prefix indexes; PostgreSQL: the same
  trigram indexes under ``LIKE 'q%' OR LIKE '% q%'``, since pg_trgm pads word starts). A word starts
  after a space on both; SQLite also starts one after other punctuation (``(Remaster)``, ``Pure_Love``),
  PostgreSQL does not. Migration 0013 builds the indexes; on SQLite triggers keep them in step inside
  every writer's transaction.

Pages are keyset-paginated: ``after`` is the last work id of the previous page, and each page says the
``after`` of the next one, so the order is stable while works are added and every page costs the same.
Rejected works are never listed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Connection, Engine

from fairtrain.core.errors import InvalidInput
from fairtrain.core.store.models import Holder, Organisation, Work, WorkShare
from fairtrain.services.registry.registry import IDENTIFIERS, normalise_identifier

MAX_QUERY = 300
MAX_LIMIT = 100
SHORT = 3  # queries shorter than a trigram match word prefixes
# Up to this many matching holders, their works are found through the holders; beyond it (a common
# fragment of many names) the database walks the shares in work order and stops at a page.
_HOLDER_LIST = 1000
_WORD = re.compile(r"[^\W_]+")

# why a work matched, in the order shown
MATCH_KINDS = ("iswc", "isrc", "isbn", "work_ref", "title", "holder")

# SQLite: the source table and column of each FTS5 table pair (migration 0013), and the trigger that
# indexes every inserted row
_INDEXED = {"works": "title", "holders": "name"}
_FTS_KINDS = ("tri", "words")


@contextmanager
def indexed_in_bulk(c: Connection) -> Iterator[Callable[[str, int, int], None]]:
    """Inside a writer's transaction: insert rows into ``works``/``holders`` without the per-row search
    triggers, and index them set-wise with the function yielded, ``index(table, first_id, last_id)``,
    before the transaction commits.

    FTS5 fed one row per statement by a trigger costs about 6× one ``INSERT … SELECT`` over the same rows
    (50,000 titles: 4,000 vs 26,500 rows/s, both FTS tables, SQLite 3.40). The insert triggers are dropped
    for the block and re-created from their own stored SQL on leaving it, in the same transaction: other
    connections never see them missing, and a rolled-back or killed import leaves them as they were.
    On leaving by an exception nothing is re-created (the caller rolls the transaction back). On
    PostgreSQL (GIN indexes, no triggers) the yielded function does nothing."""
    if c.dialect.name != "sqlite":
        yield lambda table, first, last: None
        return
    triggers = {f"search_{t}_ai": t for t in _INDEXED}
    saved = c.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ("
        + ", ".join(f"'{n}'" for n in triggers)
        + ")"
    ).all()
    paused = {triggers[name] for name, _ in saved}
    for name, _ in saved:
        c.exec_driver_sql(f'DROP TRIGGER "{name}"')

    def index(table: str, first: int, last: int) -> None:
        if table not in paused or last < first:
            return
        col = _INDEXED[table]
        for kind in _FTS_KINDS:
            c.exec_driver_sql(
                f"INSERT INTO search_{table}_{kind}(rowid, {col}) SELECT id, {col} FROM {table}"
                " WHERE id BETWEEN ? AND ?",
                (first, last),
            )

    yield index
    for _, create in saved:
        c.exec_driver_sql(create)


@dataclass(frozen=True)
class SearchPage:
    query: str
    results: list[dict] = field(default_factory=list)
    next_after: int | None = None  # pass as ``after`` for the next page; None on the last page

    def to_dict(self) -> dict:
        return {"query": self.query, "results": self.results, "next_after": self.next_after}


def search_works(engine: Engine, query: str, *, limit: int = 20, after: int = 0) -> SearchPage:
    """One page of the works a query names (see the module's docstring), ``limit`` at most."""
    q = unicodedata.normalize("NFC", (query or "").strip())
    if not q:
        raise InvalidInput("search: give part of a title, a holder's name, a work_ref or an ISWC/ISRC/ISBN")
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"search: the query is {len(q)} characters long; at most {MAX_QUERY}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"search: limit must be between 1 and {MAX_LIMIT}, not {limit}")
    if after < 0 or after >= 2**63:
        raise InvalidInput(f"search: after must be a work id, not {after}")
    n = limit + 1
    found: dict[int, list[str]] = {}
    with engine.connect() as c:
        dialect = c.dialect.name
        for kind, ids in _branches(c, dialect, q, after, n):
            for wid in ids:
                found.setdefault(wid, []).append(kind)
        page = sorted(found)[:n]
        more = len(page) > limit
        page = page[:limit]
        results = _describe(c, page, found)
    return SearchPage(q, results, page[-1] if more and page else None)


def _branches(c: Connection, dialect: str, q: str, after: int, n: int):
    """(kind, the first ``n`` ids after ``after`` it matches) for each way the query can name a work."""
    live = "w.status != 'rejected' AND w.id > :after"
    for kind in IDENTIFIERS:
        try:
            norm = normalise_identifier(kind, q)
        except InvalidInput:
            continue
        yield (
            kind,
            _ids(c, f"SELECT w.id FROM works w WHERE w.{kind} = :v AND {live} ORDER BY w.id LIMIT :n", norm, after, n),
        )
    yield (
        "work_ref",
        _ids(c, f"SELECT w.id FROM works w WHERE w.work_ref = :v AND {live} ORDER BY w.id LIMIT :n", q, after, n),
    )
    short = len(q) < SHORT
    if short:
        words = _WORD.findall(q)
        if not words:  # punctuation alone names no word
            return
        term = words[0]
    if dialect == "postgresql":
        if short:  # the start of the text or of a word after a space: pg_trgm indexes word starts
            cond = "(lower({col}) LIKE :v ESCAPE '\\' OR lower({col}) LIKE '% ' || :v ESCAPE '\\')"
            v = term.lower() + "%"
        else:
            cond = "lower({col}) LIKE :v ESCAPE '\\'"
            v = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        holders_sql = f"SELECT h.id FROM holders h WHERE {cond.format(col='h.name')}"
        yield "title", _pg_title_works(c, cond.format(col="w.title"), v, after, n)
        yield "holder", _holder_works(c, holders_sql, v, after, n)
        return
    # SQLite: FTS5 hands matches over in rowid (= work id) order, so a page stops after n of them
    fts = "words" if short else "tri"
    v = f'"{term}"*' if short else '"' + q.replace('"', '""') + '"'
    title_sql = (
        f"SELECT w.id FROM search_works_{fts} f JOIN works w ON w.id = f.rowid"
        f" WHERE search_works_{fts} MATCH :v AND f.rowid > :after AND w.status != 'rejected'"
        " ORDER BY f.rowid LIMIT :n"
    )
    holders_sql = f"SELECT rowid FROM search_holders_{fts} WHERE search_holders_{fts} MATCH :v"
    yield "title", _ids(c, title_sql, v, after, n)
    yield "holder", _holder_works(c, holders_sql, v, after, n)


def _pg_title_works(c: Connection, cond: str, v: str, after: int, n: int) -> list[int]:
    """PostgreSQL: the first ``n`` works after ``after`` whose title meets ``cond``, in two bounded steps.

    pg_trgm's estimates of how many titles a pattern matches are rough, and with ``ORDER BY id LIMIT``
    the planner then walks the whole primary key for a pattern it thought common (300,000 works: 35 ms
    for a rare Korean fragment). So: first walk a window of about √(n·N) ids (a common pattern fills
    the page there); if it does not, the pattern is rare and its matches beyond the window come through
    the trigram (or tsvector) index and are sorted (``id + 0`` keeps the planner off the walk)."""
    top = c.execute(text("SELECT max(id) FROM works")).scalar() or 0
    window = max(1000, min(50_000, int((n * top) ** 0.5)))
    live = "w.status != 'rejected'"
    ids = list(
        c.execute(
            text(
                f"SELECT w.id FROM works w WHERE {cond} AND {live} AND w.id > :after AND w.id <= :upto"
                " ORDER BY w.id LIMIT :n"
            ),
            {"v": v, "after": after, "upto": after + window, "n": n},
        ).scalars()
    )
    if len(ids) < n and after + window < top:
        ids += c.execute(
            text(f"SELECT w.id FROM works w WHERE {cond} AND {live} AND w.id > :upto ORDER BY w.id + 0 LIMIT :n"),
            {"v": v, "upto": after + window, "n": n - len(ids)},
        ).scalars()
    return ids


def _holder_works(c: Connection, holders_sql: str, v: str, after: int, n: int) -> list[int]:
    """The first ``n`` works after ``after`` held by the holders ``holders_sql`` selects.

    Few matching shares (a rare name) are fetched through the holder index and sorted here; many (a
    common fragment: the surname Kim in Hangul, Smith) are found by walking the shares in work order until a page is full,
    which is short exactly because they are many. Either way a page costs about √(n·N) rows at most
    (N shares; the holders' average share count guesses which side of it a query is on)."""
    holders = list(c.execute(text(holders_sql + " LIMIT :m"), {"v": v, "m": _HOLDER_LIST + 1}).scalars())
    if not holders:
        return []
    shares = c.execute(text("SELECT max(id) FROM work_shares")).scalar() or 0
    people = c.execute(text("SELECT max(id) FROM holders")).scalar() or 1
    # the crossover: sorting k shares costs about what walking shares/k·n rows does, at k = √(n·shares)
    cap = max(1000, min(50_000, int((n * shares) ** 0.5)))
    if len(holders) <= _HOLDER_LIST and len(holders) * shares / people <= 2 * cap:
        stmt = text(
            "SELECT ws.work_id FROM work_shares ws WHERE ws.holder_id IN :holders AND ws.work_id > :after LIMIT :cap"
        ).bindparams(bindparam("holders", expanding=True))
        works = sorted(set(c.execute(stmt, {"holders": holders, "after": after, "cap": cap + 1}).scalars()))
        if len(works) <= cap:
            out: list[int] = []
            live = text("SELECT id FROM works WHERE id IN :ids AND status != 'rejected' ORDER BY id").bindparams(
                bindparam("ids", expanding=True)
            )
            for i in range(0, len(works), 4 * n):
                out += c.execute(live, {"ids": works[i : i + 4 * n]}).scalars()
                if len(out) >= n:
                    break
            return out[:n]
    # ``+ws.holder_id``: not through the holder index, so the database walks work_shares by work_id
    walk = (
        "SELECT DISTINCT ws.work_id FROM work_shares ws JOIN works w ON w.id = ws.work_id"
        " WHERE +ws.holder_id {among} AND ws.work_id > :after AND w.status != 'rejected'"
        " ORDER BY ws.work_id LIMIT :n"
    )
    if c.dialect.name == "postgresql" and len(holders) <= _HOLDER_LIST:
        # a constant array is hashed (PostgreSQL 14+); a subquery became a probe of holders per share
        stmt = text(walk.format(among="= ANY(:holders)"))
        return list(c.execute(stmt, {"holders": holders, "after": after, "n": n}).scalars())
    return _ids(c, walk.format(among=f"IN ({holders_sql})"), v, after, n)


def _ids(c: Connection, sql: str, v: str, after: int, n: int) -> list[int]:
    return list(c.execute(text(sql), {"v": v, "after": after, "n": n}).scalars())


def _describe(c: Connection, ids: list[int], found: dict[int, list[str]]) -> list[dict]:
    if not ids:
        return []
    rows = {
        r.id: r
        for r in c.execute(
            select(
                Work.id,
                Work.title,
                Work.media_type,
                Work.status,
                Work.iscc,
                Work.work_ref,
                Work.iswc,
                Work.isrc,
                Work.isbn,
                Organisation.name.label("org"),
            )
            .outerjoin(Organisation, Organisation.id == Work.org_id)
            .where(Work.id.in_(ids))
        )
    }
    holders: dict[int, list[str]] = {}
    for wid, name in c.execute(
        select(WorkShare.work_id, Holder.name)
        .join(Holder, Holder.id == WorkShare.holder_id)
        .where(WorkShare.work_id.in_(ids))
        .order_by(WorkShare.work_id, WorkShare.id)
    ):
        if name not in holders.setdefault(wid, []):
            holders[wid].append(name)
    return [
        {
            "id": wid,
            "title": rows[wid].title,
            "media_type": rows[wid].media_type,
            "status": rows[wid].status,
            "iscc": rows[wid].iscc,
            "work_ref": rows[wid].work_ref,
            "organisation": rows[wid].org,
            "iswc": rows[wid].iswc,
            "isrc": rows[wid].isrc,
            "isbn": rows[wid].isbn,
            "holders": holders.get(wid, []),
            "matched": sorted(set(found[wid]), key=MATCH_KINDS.index),
        }
        for wid in ids
        if wid in rows
    ]

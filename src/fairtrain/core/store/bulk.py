"""Bulk inserts straight through the DBAPI driver, for imports of hundreds of thousands of rows.

SQLAlchemy's executemany processes every bound value through the column types; for 10⁵ rows that
per-value work cost more than the database itself (import 7k → 2xk rows/s measured in
benchmarks/registry_import.py). The statement is still compiled by SQLAlchemy for the dialect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import DBAPIError


def db_time(conn: Connection, t: datetime) -> datetime | str:
    """What :class:`UTCDateTime` stores (naive UTC), in the form the driver takes without adapting it.

    On SQLite that is SQLAlchemy's own DATETIME text format, so rows read back like ORM-written ones.
    """
    naive = t.astimezone(UTC).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if conn.dialect.name == "sqlite" else naive


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys, values already in database form) in one executemany."""
    if rows:
        keys = tuple(rows[0])
        bulk_insert_tuples(conn, table, keys, [tuple(r[k] for k in keys) for r in rows])


def bulk_insert_tuples(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple],
    *,
    constants: Mapping[str, str | int | None] | None = None,
) -> None:
    """Like :func:`bulk_insert` for rows already laid out as tuples in ``columns`` order (the fastest path).

    ``constants`` are columns with the same value in every row. On SQLite they are written into the
    statement instead of bound per row: binding is most of executemany's cost for narrow rows
    (250k declarations: 1.4 → 1.1 s with 6 of 10 columns constant).
    """
    if not rows:
        return
    constants = dict(constants or {})
    if conn.dialect.name == "postgresql":
        # COPY is PostgreSQL's bulk path: about 10× executemany for 10⁵ rows.
        names = (*columns, *constants)
        cols = ", ".join(f'"{c}"' for c in names)
        tail = tuple(constants.values())
        statement = f'COPY "{table.name}" ({cols}) FROM STDIN'
        dbapi = conn.dialect.loaded_dbapi
        try:
            with conn.connection.driver_connection.cursor() as cur, cur.copy(statement) as copy:
                for r in rows:
                    copy.write_row(r + tail if tail else r)
        except dbapi.Error as e:  # as SQLAlchemy raises it for any other statement (IntegrityError, ...)
            raise DBAPIError.instance(statement, None, e, dbapi.Error) from e
        return
    if constants:
        for name in (*columns, *constants):
            if name not in table.c:
                raise ValueError(f"{table.name} has no column {name!r}")
        cols = ", ".join(f'"{c}"' for c in (*columns, *constants))
        values = ", ".join(["?"] * len(columns) + [_sql_literal(v) for v in constants.values()])
        conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({cols}) VALUES ({values})', rows)
        return
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
    if compiled.positiontup is not None:
        order = [columns.index(k) for k in compiled.positiontup]
        params: list = rows if order == list(range(len(columns))) else [tuple(r[i] for i in order) for r in rows]
    else:
        params = [dict(zip(columns, r, strict=True)) for r in rows]
    conn.exec_driver_sql(str(compiled), params)


def bulk_insert_plain(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple],
    *,
    constants: Mapping[str, str | int | None] | None = None,
) -> None:
    """Like :func:`bulk_insert_tuples` for rows whose values are only text, integers and NULL: on SQLite
    multi-row ``INSERT … VALUES (…), (…), …`` statements of up to ``_PLAIN_VALUES`` bound values each, so a
    statement runs once for thousands of rows, not once a row. Rows are inserted in the order given
    (rowids follow it).

    Each run of an ``INSERT`` evaluates its table's ``CHECK (x IN ('a', 'b', 'c'))`` constraints by building
    an ephemeral index for the list, and executemany runs the statement once a row: for 75,000
    declarations that was half the insert's cost (16 → 9 µs a work, SQLite 3.40). Rows had gone in as one
    JSON array read by ``json_each``, each value read out of its row's JSON again (5.6 µs a declaration);
    bound values cost 3.4 µs (``benchmarks/registry_scale.py``). On PostgreSQL this is
    :func:`bulk_insert_tuples` (COPY)."""
    if not rows or conn.dialect.name != "sqlite":
        bulk_insert_tuples(conn, table, columns, rows, constants=constants)
        return
    constants = dict(constants or {})
    for name in (*columns, *constants):
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    # A column NULL in every row is written into the statement, not bound a row at a time.
    by_column = list(zip(*rows, strict=True))
    kept = [i for i, col in enumerate(by_column) if col.count(None) != len(col)]
    if len(kept) < len(columns):
        constants = {**{columns[i]: None for i in range(len(columns)) if i not in kept}, **constants}
        columns = [columns[i] for i in kept]
        rows = list(zip(*(by_column[i] for i in kept), strict=True)) if kept else [()] * len(rows)
    cols = ", ".join(f'"{c}"' for c in (*columns, *constants))
    one = "(" + ", ".join(["?"] * len(columns) + [_sql_literal(v) for v in constants.values()]) + ")"
    n, width = len(rows), len(columns)
    flat = list(chain.from_iterable(rows))
    per = max(1, min(n, _PLAIN_VALUES // width if width else _PLAIN_VALUES))
    whole = n // per * per
    head = f'INSERT INTO "{table.name}" ({cols}) VALUES '
    if whole:
        conn.exec_driver_sql(
            head + ", ".join([one] * per),
            [tuple(flat[i * width : (i + per) * width]) for i in range(0, whole, per)],
        )
    if whole < n:
        conn.exec_driver_sql(head + ", ".join([one] * (n - whole)), tuple(flat[whole * width :]))


_PLAIN_VALUES = 8000  # bound values a statement (SQLite allows 32,766; 2,000 four-column rows measured best)


def _sql_literal(v: str | int | None) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise TypeError(f"constant {v!r}: only text, integers and NULL are written into the statement")
    if isinstance(v, int):
        return str(int(v))
    if "\x00" in v:
        raise ValueError("constant text holds a NUL character")
    return "'" + v.replace("'", "''") + "'"


def allocate_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """Reserve ``n`` primary keys for rows about to be bulk-inserted in this transaction.

    Multi-row RETURNING cannot promise row order on SQLite, so SQLAlchemy falls back to one statement
    per row there; reserving the ids first keeps the import a single executemany.
    """
    if n == 0:
        return []
    name = table.name
    if conn.dialect.name == "postgresql":
        seq = conn.exec_driver_sql(f"SELECT pg_get_serial_sequence('{name}', 'id')").scalar_one()
        return list(conn.exec_driver_sql(f"SELECT nextval('{seq}') FROM generate_series(1, {int(n)})").scalars())
    # SQLite: a (no-op) write takes the database's write lock, so no other writer can take these ids.
    conn.exec_driver_sql(f"UPDATE {name} SET id = id WHERE 0")
    start = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {name}").scalar_one() + 1
    return list(range(start, start + n))

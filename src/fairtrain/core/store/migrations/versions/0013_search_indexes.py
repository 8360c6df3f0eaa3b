"""search indexes: titles and holder names by substring and by word prefix, work_ref by value

- ``work_shares``: (work_id, holder_id) and (holder_id, work_id) replace the one-column indexes, so the
  search reads a holder's works, or walks works in order testing their holders, from an index alone.
- ``ix_works_work_ref``: the registry search finds a work by its ``work_ref`` alone (the unique
  (org_id, work_ref) index leads with the organisation).
- SQLite: four external-content FTS5 tables over ``works.title`` and ``holders.name``: ``trigram``
  (substrings of 3+ characters, Hangul included, case-folded) and ``unicode61`` with prefix indexes
  of 1 and 2 characters (queries of 1–2 characters match the start of a word, so a two-syllable
  Korean word finds the titles it begins a word of). Triggers keep them in step with every insert,
  update and delete, inside the writer's own transaction, whichever code path writes (the CSV
  import's executemany included).
- PostgreSQL: ``pg_trgm`` GIN indexes on ``lower(title)`` / ``lower(name)``: ``LIKE '%q%'`` for 3+
  characters, and ``LIKE 'q%' OR LIKE '% q%'`` for 1–2 (pg_trgm pads the start of every word, so a
  word start of one or two characters is a trigram too).

Existing rows are indexed here, once.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# (FTS table suffix, tokenizer and options)
_SQLITE_KINDS = (("tri", "tokenize='trigram'"), ("words", "tokenize='unicode61 remove_diacritics 0', prefix='1 2'"))
# (index name part, source table, column)
_SOURCES = (("works", "works", "title"), ("holders", "holders", "name"))


def upgrade() -> None:
    for first, second in (("work_id", "holder_id"), ("holder_id", "work_id")):
        op.drop_index(f"ix_work_shares_{first}", table_name="work_shares")
        op.create_index(f"ix_work_shares_{first}_{second}", "work_shares", [first, second])
    op.create_index(
        "ix_works_work_ref",
        "works",
        ["work_ref"],
        sqlite_where=sa.text("work_ref IS NOT NULL"),
        postgresql_where=sa.text("work_ref IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for part, table, col in _SOURCES:
            op.execute(f"CREATE INDEX ix_search_{part}_trgm ON {table} USING gin (lower({col}) gin_trgm_ops)")
        return
    for part, table, col in _SOURCES:
        fts = [f"search_{part}_{kind}" for kind, _ in _SQLITE_KINDS]
        for name, (_, options) in zip(fts, _SQLITE_KINDS, strict=True):
            op.execute(f"CREATE VIRTUAL TABLE {name} USING fts5({col}, content='{table}', content_rowid='id', {options})")
            op.execute(f"INSERT INTO {name}({name}) VALUES ('rebuild')")
        ins = "".join(f"INSERT INTO {n}(rowid, {col}) VALUES (new.id, new.{col}); " for n in fts)
        dele = "".join(f"INSERT INTO {n}({n}, rowid, {col}) VALUES ('delete', old.id, old.{col}); " for n in fts)
        op.execute(f"CREATE TRIGGER search_{part}_ai AFTER INSERT ON {table} BEGIN {ins}END")
        op.execute(f"CREATE TRIGGER search_{part}_ad AFTER DELETE ON {table} BEGIN {dele}END")
        op.execute(f"CREATE TRIGGER search_{part}_au AFTER UPDATE OF {col} ON {table} BEGIN {dele}{ins}END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for part, _, _ in _SOURCES:
            op.execute(f"DROP INDEX IF EXISTS ix_search_{part}_trgm")
    else:
        for part, _, _ in _SOURCES:
            for trig in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS search_{part}_{trig}")
            for kind, _ in _SQLITE_KINDS:
                op.execute(f"DROP TABLE IF EXISTS search_{part}_{kind}")
    op.drop_index("ix_works_work_ref", table_name="works")
    for first, second in (("work_id", "holder_id"), ("holder_id", "work_id")):
        op.drop_index(f"ix_work_shares_{first}_{second}", table_name="work_shares")
        op.create_index(f"ix_work_shares_{first}", "work_shares", [first])

"""Storage: migrations match the models, times stay UTC, bulk inserts round-trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import insert, select

from fairtrain.core.store.bulk import bulk_insert, db_time
from fairtrain.core.store.db import _alembic_config, open_engine
from fairtrain.core.store.models import Holder, Organisation


def test_migrations_match_the_models(database_url):
    engine = open_engine(database_url)
    command.check(_alembic_config(engine))  # raises if autogenerate would emit any operation
    engine.dispose()


def test_times_are_stored_as_utc_and_read_back_aware(database_url):
    engine = open_engine(database_url)
    seoul = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=9)))
    with engine.begin() as c:
        c.execute(insert(Organisation).values(name="KOMCA", created_at=seoul))
        got = c.execute(select(Organisation.created_at)).scalar_one()
    assert got == seoul and got.tzinfo is UTC and got.hour == 0
    with pytest.raises(Exception, match="naive datetime"), engine.begin() as c:
        c.execute(insert(Organisation).values(name="naive", created_at=datetime(2026, 1, 1)))
    engine.dispose()


def test_bulk_insert_rows_read_back_like_orm_rows(database_url):
    engine = open_engine(database_url)
    t = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)  # no microseconds: the text form must still parse
    with engine.begin() as c:
        bulk_insert(
            c,
            Holder.__table__,
            [
                {"name": f"h{i}", "email": None, "created_by_org_id": None, "created_at": db_time(c, t)}
                for i in range(3)
            ],
        )
        rows = c.execute(select(Holder.name, Holder.created_at).order_by(Holder.id)).all()
    assert [r.name for r in rows] == ["h0", "h1", "h2"]
    assert all(r.created_at == t for r in rows)
    engine.dispose()

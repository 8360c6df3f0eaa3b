from alembic import context

from fairtrain.core.store.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` run by hand: take the URL from the environment like the CLI does
    from fairtrain.core.store.db import database_url, open_engine

    engine = open_engine(database_url())


def _render_item(type_, obj, autogen_context):
    # Migrations must not import model code that may move: UTCDateTime is a plain DateTime on disk.
    if type_ == "type" and obj.__class__.__name__ == "UTCDateTime":
        return "sa.DateTime()"
    return False


def _include_name(name, type_, parent_names):
    # The search indexes (services/registry/search.py) are made by hand in migration 0013: SQLite FTS5
    # virtual tables with their shadow tables, PostgreSQL expression GIN indexes. The models do not
    # describe them, so autogenerate leaves them alone.
    return not (name or "").startswith(("search_", "ix_search_"))


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()

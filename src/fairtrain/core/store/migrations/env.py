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


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()

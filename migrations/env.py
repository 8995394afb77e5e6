"""Alembic environment: the URL comes from omnicx settings unless the caller passed one."""

from alembic import context

from omnicx.config import load_settings
from omnicx.db.engine import create_engines
from omnicx.db.metadata import metadata, queue_metadata
from omnicx.schema import load_tables

load_tables()
config = context.config
url = config.attributes.get("url") or load_settings().resolved_database_url
target_metadata = [metadata, queue_metadata]


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engines = create_engines(url)
    try:
        with engines.main.connect() as conn:
            _migrate(conn)
    finally:
        engines.dispose()


def _migrate(conn) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        render_as_batch=conn.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    conn.commit()


run()

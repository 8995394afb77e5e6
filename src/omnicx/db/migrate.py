"""Running Alembic from code: `upgrade` for `omnicx migrate`, `drift` for `make check`."""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from omnicx.db.engine import Engines
from omnicx.db.metadata import metadata, queue_metadata

ROOT = Path(__file__).resolve().parents[3]


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade(engines: Engines) -> None:
    with engines.main.connect() as conn:
        config = alembic_config(str(engines.main.url))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    if engines.queue is not engines.main:
        queue_metadata.create_all(engines.queue, checkfirst=True)


def drift(engine: sa.Engine) -> list[object]:
    """Differences between the tables in code and a database migrated to head."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, [metadata, queue_metadata])  # type: ignore[arg-type]
    return list(diffs)

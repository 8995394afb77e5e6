"""Engines: SQLite in WAL mode for the embedded default, a pooled PostgreSQL for production."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from omnicx.db.types import json_dumps


@dataclass(frozen=True)
class Engines:
    main: sa.Engine
    queue: sa.Engine
    """The ingestion queue's engine: its own SQLite file, or the main engine on PostgreSQL."""

    @property
    def is_sqlite(self) -> bool:
        return self.main.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.main.dispose()
        if self.queue is not self.main:
            self.queue.dispose()


def create_engines(url: str, *, synchronous: str = "FULL") -> Engines:
    main = _create(url, synchronous)
    if main.dialect.name != "sqlite":
        return Engines(main=main, queue=main)
    database = main.url.database
    if not database or database == ":memory:":
        raise ValueError("the embedded database must be a file, not :memory:")
    queue_path = Path(database).with_name(Path(database).stem + "-ingest.db")
    return Engines(main=main, queue=_create(f"sqlite:///{queue_path}", synchronous))


def _json_loads(value: Any) -> Any:
    # A JSON column has numeric affinity in SQLite: a bare number comes back as a number.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _create(url: str, synchronous: str) -> sa.Engine:
    kwargs: dict[str, Any] = {
        "json_serializer": json_dumps,
        "json_deserializer": _json_loads,
    }
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 60}, **kwargs
        )
        _configure_sqlite(engine, synchronous)
        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: sa.Engine, synchronous: str) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE can be issued for writers.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.execute("PRAGMA temp_store=MEMORY")
        # Fewer, larger checkpoints: a page changed many times is copied back once.
        cursor.execute("PRAGMA wal_autocheckpoint=20000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

"""Counter upserts shared by the service, campaign and QR read models."""

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT (with ON CONFLICT) for `table`."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


@lru_cache(maxsize=256)
def _adder(dialect: str, table: sa.Table, counts: tuple[str, ...]) -> Any:
    """The upsert that adds `counts` to a row of `table`, built once per dialect, table and
    counters (so SQLAlchemy compiles it once)."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return insert.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={name: table.c[name] + insert.excluded[name] for name in counts},
    )


def add_counts(
    conn: sa.Connection, table: sa.Table, key: Mapping[str, Any], counts: Mapping[str, int]
) -> None:
    """Add `counts` to the row of `table` at `key` (its primary key), creating it at zero."""
    statement = _adder(conn.dialect.name, table, tuple(counts))
    conn.execute(statement, {**key, **counts})


def move_customers(conn: sa.Connection, table: sa.Table, loser_id: str, survivor_id: str) -> int:
    """Give the rows of a merged customer to the survivor; how many rows moved. Merges come
    with ingestion, so the statement goes straight to the driver."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    name = conn.dialect.identifier_preparer.format_table(table)
    sql = f"UPDATE {name} SET customer_id = {mark} WHERE customer_id = {mark}"  # noqa: S608
    return int(conn.exec_driver_sql(sql, (survivor_id, loser_id)).rowcount)

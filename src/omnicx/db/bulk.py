"""Fast executemany for the ingest hot path.

SQLAlchemy's executemany builds a parameter dict per row through the compiler; for tens of
thousands of rows a second that dominates. Here the INSERT is rendered once per table and
dialect, each column's own bind processor converts the values (the same conversion
SQLAlchemy applies), and the driver's executemany takes plain tuples.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

_Plan = tuple[str, list[str], list[Callable[[Any], Any] | None]]
_plans: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def _plan(table: sa.Table, dialect: sa.Dialect, keys: tuple[str, ...]) -> _Plan:
    key = (table.name, dialect.name, keys)
    plan = _plans.get(key)
    if plan is None:
        chosen = [c for c in table.columns if c.name in keys]
        columns = [c.name for c in chosen]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        preparer = dialect.identifier_preparer
        sql = (
            f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608 (names from table metadata)
            f"({', '.join(preparer.quote(c) for c in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        processors: list[Callable[[Any], Any] | None] = [
            c.type._cached_bind_processor(dialect) for c in chosen
        ]
        plan = _plans[key] = (sql, columns, processors)
    return plan


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows (dicts with the same keys, named after columns) in one executemany;
    columns left out take their defaults (an autoincrement id)."""
    if not rows:
        return
    sql, columns, processors = _plan(table, conn.dialect, tuple(sorted(rows[0])))
    pairs = list(zip(columns, processors, strict=True))
    params = [tuple(p(row[c]) if p is not None else row[c] for c, p in pairs) for row in rows]
    conn.exec_driver_sql(sql, params)


def upsert_many(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
) -> None:
    """Insert rows, or overwrite every other column where `conflict` columns match.

    The `ON CONFLICT … DO UPDATE SET c = excluded.c` form is the same on SQLite and PostgreSQL.
    """
    if not rows:
        return
    sql, columns, processors = _plan(table, conn.dialect, tuple(sorted(rows[0])))
    preparer = conn.dialect.identifier_preparer
    updates = ", ".join(
        f"{preparer.quote(c)} = excluded.{preparer.quote(c)}" for c in columns if c not in conflict
    )
    sql += (
        f" ON CONFLICT ({', '.join(preparer.quote(c) for c in conflict)}) DO UPDATE SET {updates}"
    )
    pairs = list(zip(columns, processors, strict=True))
    conn.exec_driver_sql(
        sql, [tuple(p(row[c]) if p is not None else row[c] for c, p in pairs) for row in rows]
    )


def execute_many(conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """A hand-written statement over many parameter tuples; `?` marks become the driver's."""
    if not rows:
        return
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    conn.exec_driver_sql(sql, list(rows))

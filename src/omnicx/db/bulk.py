"""Fast executemany for the ingest hot path.

SQLAlchemy's executemany builds a parameter dict per row through the compiler; for tens of
thousands of rows a second that dominates. Here the INSERT is rendered once per table,
dialect and set of columns; values are taken with one `itemgetter` per row, and only the
columns whose type converts values (JSON, datetimes) go through their bind processor, a whole
column at a time: the same conversion SQLAlchemy applies.
"""

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

Processor = Callable[[Any], Any]
_Converter = Callable[[Sequence[Any]], list[Any]]
"""Converts a whole column of values (one per row) at once."""
_Plan = tuple[str, list[str], Callable[[Mapping[str, Any]], Any], list[tuple[int, _Converter]]]
_plans: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if not value and isinstance(value, dict):
        return "{}"
    return orjson.dumps(value).decode()


def _processor(column: sa.Column[Any], dialect: sa.Dialect) -> _Converter | None:
    if dialect.name == "sqlite" and isinstance(column.type, sa.JSON):
        return _each(_json_text)
    processor: Processor | None = column.type._cached_bind_processor(dialect)
    if processor is None:
        return None
    if isinstance(column.type, sa.types.TypeDecorator):
        return _distinct(processor)
    return _each(processor)


def _each(processor: Processor) -> _Converter:
    def convert(values: Sequence[Any]) -> list[Any]:
        return list(map(processor, values))

    return convert


def _distinct(processor: Processor) -> _Converter:
    """Datetimes repeat within a batch (`created_at` is the batch's now, a deferral's end is
    shared): each distinct value of the column is converted once."""

    def convert(values: Sequence[Any]) -> list[Any]:
        try:
            converted = {value: processor(value) for value in set(values)}
        except TypeError:  # an unhashable value
            return list(map(processor, values))
        return list(map(converted.__getitem__, values))

    return convert


def _plan(table: sa.Table, dialect: sa.Dialect, keys: tuple[str, ...]) -> _Plan:
    key = (table.name, dialect.name, keys)
    plan = _plans.get(key)
    if plan is None:
        chosen = [c for c in table.columns if c.name in keys]
        columns = [c.name for c in chosen]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        preparer = dialect.identifier_preparer
        sql = (
            f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608 (names from metadata)
            f"({', '.join(preparer.quote(c) for c in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        converters = [(i, p) for i, c in enumerate(chosen) if (p := _processor(c, dialect))]
        getter = itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
        plan = _plans[key] = (sql, columns, getter, converters)
    return plan


def _params(rows: Sequence[Mapping[str, Any]], plan: _Plan) -> list[Any]:
    _, _, getter, converters = plan
    params = list(map(getter, rows))
    if not converters:
        return params
    columns: list[Sequence[Any]] = list(zip(*params, strict=True))
    for index, convert in converters:
        columns[index] = convert(columns[index])
    return list(zip(*columns, strict=True))


def run(conn: sa.Connection, sql: str, params: Any, *, many: bool = False) -> list[Any]:
    """Run a rendered statement on the driver's cursor: the rows it returns, as tuples.

    SQLAlchemy's execution of a plain string still builds a context and a result around it,
    which costs twice the statement itself on SQLite. Listeners of `before_cursor_execute`
    still hear the statement (with no execution context), and a driver error comes back as
    SQLAlchemy's own (`IntegrityError` and so on), as from `Connection.execute`."""
    if not conn.in_transaction():
        conn.begin()  # as SQLAlchemy's own execution begins one (the driver autocommits)
    driver = conn.connection.dbapi_connection
    if driver is None:
        raise RuntimeError("the connection is closed")
    cursor = driver.cursor()
    try:
        if conn.dispatch.before_cursor_execute:
            conn.dispatch.before_cursor_execute(conn, cursor, sql, params, None, many)
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    except conn.dialect.loaded_dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(
            sql, params, error, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from error
    finally:
        cursor.close()


_formats: dict[str, str] = {}


def query(conn: sa.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """`run` for a hand-written statement with `?` marks, which become the driver's."""
    if conn.dialect.paramstyle != "qmark":
        converted = _formats.get(sql)
        if converted is None:
            converted = _formats[sql] = sql.replace("?", "%s")
        sql = converted
    return run(conn, sql, tuple(params))


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows (dicts with the same keys, named after columns) in one executemany;
    columns left out take their defaults (an autoincrement id)."""
    if not rows:
        return
    plan = _plan(table, conn.dialect, tuple(sorted(rows[0])))
    run(conn, plan[0], _params(rows, plan), many=True)


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
    plan = _plan(table, conn.dialect, tuple(sorted(rows[0])))
    preparer = conn.dialect.identifier_preparer
    updates = ", ".join(
        f"{preparer.quote(c)} = excluded.{preparer.quote(c)}" for c in plan[1] if c not in conflict
    )
    sql = (
        f"{plan[0]} ON CONFLICT ({', '.join(preparer.quote(c) for c in conflict)}) "
        f"DO UPDATE SET {updates}"
    )
    run(conn, sql, _params(rows, plan), many=True)


_UpdatePlan = tuple[str, list[tuple[str, _Converter | None]]]
_update_plans: dict[tuple[str, str, str, tuple[str, ...]], _UpdatePlan] = {}


def update_one(
    conn: sa.Connection, table: sa.Table, key: str, key_value: Any, values: Mapping[str, Any]
) -> None:
    """`UPDATE table SET <values> WHERE key = key_value`, rendered once per set of columns.
    SQLAlchemy's own update of a row costs several times the statement on the inbound path
    (it walks every column of the table for each execution); the values go through the same
    bind processors."""
    if not values:
        return
    names = tuple(values)
    plan_key = (table.name, conn.dialect.name, key, names)
    plan = _update_plans.get(plan_key)
    if plan is None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        preparer = conn.dialect.identifier_preparer
        columns = [table.columns[name] for name in (*names, key)]
        sets = ", ".join(f"{preparer.quote(c.name)} = {mark}" for c in columns[:-1])
        sql = (
            f"UPDATE {preparer.format_table(table)} SET {sets} "  # noqa: S608 (names from metadata)
            f"WHERE {preparer.quote(key)} = {mark}"
        )
        plan = _update_plans[plan_key] = (
            sql,
            [(c.name, _processor(c, conn.dialect)) for c in columns],
        )
    sql, converters = plan
    row = {**values, key: key_value}
    params = [
        row[name] if convert is None else convert([row[name]])[0] for name, convert in converters
    ]
    run(conn, sql, tuple(params))


def execute_many(conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """A hand-written statement over many parameter tuples; `?` marks become the driver's."""
    if not rows:
        return
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    run(conn, sql, list(rows), many=True)


def select_in(
    conn: sa.Connection,
    sql: str,
    values: Sequence[Any],
    *,
    before: Sequence[Any] = (),
    chunk: int = 500,
) -> list[Any]:
    """Rows of `sql`, whose `{marks}` becomes one placeholder per value, over `values` in
    chunks; `before` are parameters placed ahead of the list. For the look-ups of a whole
    chunk of events at once, where rendering an expanding IN through SQLAlchemy costs more
    than the query."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    rows: list[Any] = []
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        statement = sql.replace("{marks}", ", ".join([mark] * len(part)))
        if mark != "?":
            statement = statement.replace("?", "%s")
        rows.extend(run(conn, statement, (*before, *part)))
    return rows


class _Query(NamedTuple):
    sql: str
    positions: tuple[str, ...] | None
    """The bind names in order (a positional paramstyle), or None (named)."""
    defaults: dict[str, Any]
    readers: list[tuple[int, Processor]]
    row: Callable[..., Any]


class Prepared:
    """A Core query rendered once and run on SQLite's cursor (see `run`); on other databases,
    through SQLAlchemy.

    Its rows carry their columns by key (`row.id`, `row._mapping`), each value through its
    type's result processor, as SQLAlchemy's own rows do. For the statements each inbound
    message runs, where SQLAlchemy's execution context and result cost more than the query;
    named bind parameters only (no expanding `IN`).
    """

    def __init__(self, statement: sa.Select[Any]) -> None:
        self._statement = statement
        self._plans: dict[str, _Query] = {}

    def rows(self, conn: sa.Connection, params: Mapping[str, Any]) -> list[Any]:
        if conn.dialect.name != "sqlite":
            # Other drivers' result processors depend on the column types they report.
            return list(conn.execute(self._statement, params))
        plan = self._plans.get(conn.dialect.name) or self._plan(conn.dialect)
        values = {**plan.defaults, **params}
        found = run(
            conn,
            plan.sql,
            values if plan.positions is None else tuple(values[k] for k in plan.positions),
        )
        if plan.readers:
            converted = []
            for raw in found:
                row = list(raw)
                for index, read in plan.readers:
                    row[index] = read(row[index])
                converted.append(row)
            found = converted
        make = plan.row
        return [make(*r) for r in found]

    def first(self, conn: sa.Connection, params: Mapping[str, Any]) -> Any:
        found = self.rows(conn, params)
        return found[0] if found else None

    def _plan(self, dialect: sa.Dialect) -> _Query:
        compiled = self._statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("a prepared query takes no expanding IN parameters")
        columns = list(self._statement.selected_columns)
        readers: list[tuple[int, Processor]] = []
        for index, column in enumerate(columns):
            read = column.type._cached_result_processor(dialect, None)
            if read is not None:
                readers.append((index, read))
        keys = [str(column.key) for column in columns]
        plan = _Query(
            compiled.string,
            tuple(compiled.positiontup) if compiled.positiontup is not None else None,
            dict(compiled.params),
            readers,
            _row_type(keys),
        )
        self._plans[dialect.name] = plan
        return plan


def _row_type(keys: list[str]) -> Callable[..., Any]:
    base = namedtuple("PreparedRow", keys)  # type: ignore[misc]

    class PreparedRow(base):
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(zip(self._fields, self, strict=True))

    return PreparedRow

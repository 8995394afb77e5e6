"""The driver-level statements of `db.bulk`: the same values as SQLAlchemy's own statements,
the same errors, and heard by statement listeners; on SQLite and PostgreSQL."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from omnicx.bootstrap import Services
from omnicx.db import UtcDateTime
from omnicx.db.bulk import Prepared, insert_many, run, select_in, update_one

meta = sa.MetaData()
things = sa.Table(
    "bulk_things",
    meta,
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=True),
    sa.Column("tags", sa.JSON(), nullable=True),
    sa.Column("count", sa.Integer(), nullable=False),
)
AT = datetime(2026, 3, 2, 12, 30, 15, 250000, tzinfo=UTC)


@pytest.fixture
def engine(services: Services) -> Iterator[sa.Engine]:
    engine = services.engines.main
    meta.create_all(engine)
    yield engine
    meta.drop_all(engine)


def stored(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(things).order_by(things.c.id))
        return [tuple(r) for r in rows]


def test_rows_written_at_the_driver_read_back_as_sqlalchemy_writes_them(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        insert_many(
            conn,
            things,
            [
                {"id": "a", "at": AT, "tags": ["x", "y"], "count": 1},
                {"id": "b", "at": None, "tags": {"k": 2}, "count": 2},
            ],
        )
        conn.execute(things.insert().values(id="c", at=AT, tags=["z"], count=3))
        update_one(conn, things, "id", "b", {"at": AT, "tags": ["w"], "count": 5})
        update_one(conn, things, "id", "c", {"count": 6})
    assert stored(engine) == [
        ("a", AT, ["x", "y"], 1),
        ("b", AT, ["w"], 5),
        ("c", AT, ["z"], 6),
    ]


def test_a_driver_error_is_sqlalchemy_s_and_listeners_hear_each_statement(
    engine: sa.Engine,
) -> None:
    heard: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        heard.append(statement.split()[0])

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        with engine.begin() as conn:
            insert_many(conn, things, [{"id": "a", "at": AT, "tags": None, "count": 1}])
            found = select_in(
                conn, "SELECT id, count FROM bulk_things WHERE id IN ({marks})", ["a"]
            )
            assert found == [("a", 1)]
        with engine.begin() as conn:
            insert_many(conn, things, [{"id": "b", "at": AT, "tags": None, "count": 1}])
            with pytest.raises(sa.exc.IntegrityError):
                run(conn, "INSERT INTO bulk_things (id, count) VALUES ('a', 2)", ())
            conn.rollback()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    assert [h for h in heard if h in ("INSERT", "SELECT")] == [
        "INSERT",
        "SELECT",
        "INSERT",
        "INSERT",
    ]
    assert stored(engine) == [("a", AT, None, 1)]  # the failed transaction left nothing


def test_a_prepared_query_gives_the_rows_sqlalchemy_gives(engine: sa.Engine) -> None:
    query = sa.select(things, sa.literal_column("'x'").label("mark")).where(
        things.c.count >= sa.bindparam("least")
    )
    prepared = Prepared(query.order_by(things.c.id))
    with engine.begin() as conn:
        insert_many(
            conn,
            things,
            [
                {"id": "a", "at": AT, "tags": ["x"], "count": 1},
                {"id": "b", "at": None, "tags": {"k": [1, 2]}, "count": 2},
                {"id": "c", "at": AT, "tags": None, "count": 3},
            ],
        )
        expected = conn.execute(query.order_by(things.c.id), {"least": 2}).all()
        rows = prepared.rows(conn, {"least": 2})
        first = prepared.first(conn, {"least": 3})
        none = prepared.first(conn, {"least": 4})
    assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
    assert [tuple(r) for r in rows] == [("b", None, {"k": [1, 2]}, 2, "x"), ("c", AT, None, 3, "x")]
    assert (rows[0].id, rows[0]._mapping["tags"], rows[1].at) == ("b", {"k": [1, 2]}, AT)
    assert (first.id, none) == ("c", None)


def test_a_prepared_query_refuses_an_expanding_in_on_sqlite() -> None:
    # Other databases run prepared queries through SQLAlchemy, which expands it.
    prepared = Prepared(sa.select(things.c.id).where(things.c.id.in_(["a", "b"])))
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn, pytest.raises(ValueError, match="expanding"):
        prepared.rows(conn, {})
    engine.dispose()


def test_a_driver_statement_outside_a_transaction_begins_one_as_sqlalchemy_would(
    engine: sa.Engine,
) -> None:
    with engine.connect() as conn:
        insert_many(conn, things, [{"id": "a", "at": AT, "tags": None, "count": 1}])
        assert conn.in_transaction()
        # closed without a commit: rolled back
    with engine.connect() as conn:
        update_one(conn, things, "id", "a", {"count": 2})  # no such row yet: nothing
        insert_many(conn, things, [{"id": "b", "at": None, "tags": None, "count": 3}])
        conn.commit()
    assert stored(engine) == [("b", None, None, 3)]

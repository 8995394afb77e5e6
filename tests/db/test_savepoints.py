"""Savepoints of a unit of work, issued on the driver's connection: nested, rolled back alone,
ended in order, and over once the transaction is; on SQLite and PostgreSQL."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork


def note(uow: UnitOfWork, key: str) -> None:
    uow.conn.execute(
        sa.text("INSERT INTO settings_kv (key, value) VALUES (:key, '1')"), {"key": key}
    )


def notes(services: Services) -> list[str]:
    with services.engines.main.connect() as conn:
        rows = conn.execute(sa.text("SELECT key FROM settings_kv WHERE key LIKE 'sp-%'"))
        return sorted(r[0] for r in rows)


@pytest.fixture
def table(services: Services) -> Iterator[Services]:
    with services.engines.main.begin() as conn:
        conn.execute(sa.text("CREATE TABLE settings_kv (key VARCHAR(20) PRIMARY KEY, value TEXT)"))
    yield services
    with services.engines.main.begin() as conn:
        conn.execute(sa.text("DROP TABLE settings_kv"))


def test_an_inner_savepoint_rolls_back_alone_and_the_outer_one_keeps_the_rest(
    table: Services,
) -> None:
    with table.uow() as uow:
        note(uow, "sp-before")
        outer = uow.begin_savepoint()
        note(uow, "sp-outer")
        inner = uow.begin_savepoint()
        assert uow.current_savepoint() is inner
        note(uow, "sp-inner")
        inner.rollback()
        assert (inner.is_active, outer.is_active) == (False, True)
        assert uow.current_savepoint() is outer
        note(uow, "sp-after-inner")
        outer.commit()
        assert uow.current_savepoint() is None
        uow.commit()
    assert notes(table) == ["sp-after-inner", "sp-before", "sp-outer"]


def test_a_failed_statement_is_undone_by_its_savepoint_and_the_transaction_goes_on(
    table: Services,
) -> None:
    with table.uow() as uow:
        note(uow, "sp-kept")
        savepoint = uow.begin_savepoint()
        with pytest.raises(sa.exc.IntegrityError):
            note(uow, "sp-kept")  # a duplicate key (PostgreSQL aborts the transaction)
        savepoint.rollback()
        note(uow, "sp-next")
        uow.commit()
    assert notes(table) == ["sp-kept", "sp-next"]


def test_savepoints_end_in_order_and_with_their_transaction(table: Services) -> None:
    with table.uow() as uow:
        outer = uow.begin_savepoint()
        inner = uow.begin_savepoint()
        with pytest.raises(RuntimeError, match="ended before the ones inside it"):
            outer.commit()
        inner.commit()
        with pytest.raises(RuntimeError, match="has already ended"):
            inner.rollback()
        note(uow, "sp-written")
        uow.rollback()
        assert outer.is_active is False
        assert uow.current_savepoint() is None
    assert notes(table) == []


def test_the_context_manager_undoes_a_failed_part_and_keeps_the_next(table: Services) -> None:
    with table.uow() as uow:

        def failing() -> None:
            with uow.savepoint():
                note(uow, "sp-failed")
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            failing()
        with uow.savepoint():
            note(uow, "sp-held")
        uow.commit()
    assert notes(table) == ["sp-held"]

"""The unit of work owns the transaction; domain events raised inside it are published to the
bus before the commit, so the outbox rows their handlers write commit with the change."""

from collections.abc import Callable
from types import TracebackType
from typing import Self

import sqlalchemy as sa

from omnicx.kernel import Clock, Event, MessageBus


class UnitOfWork:
    def __init__(
        self,
        engine: sa.Engine,
        bus: MessageBus,
        clock: Clock,
        *,
        write: bool,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self.clock = clock
        self._write = write
        self._after_commit = after_commit
        self._events: list[Event] = []
        self._on_commit: list[Callable[[], None]] = []
        self._conn: sa.Connection | None = None
        self._committed = False

    @property
    def conn(self) -> sa.Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._conn

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def __enter__(self) -> Self:
        conn = self._engine.connect()
        if self._write and conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        conn.begin()
        self._conn = conn
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self.conn
        try:
            if not self._committed:
                conn.rollback()
        finally:
            conn.close()
            self._conn = None

    def raise_event(self, event: Event) -> None:
        self._events.append(event)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this transaction has committed (never if it rolls back): how
        news of a change leaves the process, e.g. to the live stream."""
        self._on_commit.append(callback)

    def commit(self) -> None:
        # Handlers may raise further events; drain until quiet.
        while self._events:
            pending, self._events = self._events, []
            self._bus.publish(pending, self)
        self.conn.commit()
        self._committed = True
        callbacks, self._on_commit = self._on_commit, []
        for callback in callbacks:
            callback()
        if self._after_commit is not None:
            self._after_commit()

    def rollback(self) -> None:
        self._events.clear()
        self._on_commit.clear()
        self.conn.rollback()


class UnitOfWorkFactory:
    def __init__(
        self,
        engine: sa.Engine,
        bus: MessageBus,
        clock: Clock,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.clock = clock
        self.after_commit = after_commit

    def __call__(self, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(
            self.engine, self.bus, self.clock, write=write, after_commit=self.after_commit
        )

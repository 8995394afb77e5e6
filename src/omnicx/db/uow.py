"""The unit of work owns the transaction; domain events raised inside it are published to the
bus before the commit, so the outbox rows their handlers write commit with the change."""

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Self

import sqlalchemy as sa

from omnicx.db.bulk import run
from omnicx.kernel import Clock, Event, MessageBus, Settle


class Savepoint:
    """A savepoint of a unit of work's transaction. Its SQL goes straight to the driver's
    connection: SQLAlchemy's nested transaction costs twenty times more, once per message of
    a batch. Active until released (`commit`) or rolled back."""

    __slots__ = ("_name", "_uow", "is_active")

    def __init__(self, uow: "UnitOfWork", name: str) -> None:
        self._uow = uow
        self._name = name
        self.is_active = True
        uow._driver_sql(f"SAVEPOINT {name}")
        uow._savepoints.append(self)

    def commit(self) -> None:
        """Release the savepoint: its writes become part of the transaction."""
        self._end(f"RELEASE SAVEPOINT {self._name}")

    def rollback(self) -> None:
        """Undo the savepoint's writes; the rest of the transaction goes on."""
        self._end(f"ROLLBACK TO SAVEPOINT {self._name}", f"RELEASE SAVEPOINT {self._name}")

    def _end(self, *statements: str) -> None:
        if not self.is_active:
            raise RuntimeError(f"savepoint {self._name} has already ended")
        stack = self._uow._savepoints
        if stack[-1] is not self:
            raise RuntimeError(f"savepoint {self._name} ended before the ones inside it")
        stack.pop()
        self.is_active = False
        for statement in statements:
            self._uow._driver_sql(statement)


class UnitOfWork:
    def __init__(
        self,
        engine: sa.Engine,
        bus: MessageBus,
        clock: Clock,
        *,
        write: bool,
        after_commit: Callable[[], None] | None = None,
        writer_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self._engine = engine
        self._writer_lock = writer_lock or nullcontext()
        self._bus = bus
        self.clock = clock
        self._write = write
        self._after_commit = after_commit
        self._events: list[Event] = []
        self._on_commit: list[Callable[[], None]] = []
        self._released: list[Savepoint] = []
        self._savepoints: list[Savepoint] = []
        self._serial = 0
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
        self._writer_lock.__enter__()
        try:
            conn = self._engine.connect()
            if self._write and conn.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            conn.begin()
        except BaseException:
            self._writer_lock.__exit__(None, None, None)
            raise
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
            self._end_savepoints()
            self._writer_lock.__exit__(None, None, None)

    def raise_event(self, event: Event) -> None:
        self._events.append(event)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this transaction has committed (never if it rolls back): how
        news of a change leaves the process, e.g. to the live stream."""
        self._on_commit.append(callback)

    def publish(self, *, settle: bool = True) -> None:
        """Hand the events raised so far to their handlers now (handlers may raise further
        events; drained until quiet). `commit` does this too. With `settle=False`, `Settle`
        events stay raised, for a later `publish` or the commit."""
        held: list[Event] = []
        try:
            while self._events:
                pending, self._events = self._events, []
                if not settle:
                    held.extend(e for e in pending if isinstance(e, Settle))
                    pending = [e for e in pending if not isinstance(e, Settle)]
                self._bus.publish(pending, self)
        finally:
            if held:
                self._events[:0] = held

    @contextmanager
    def savepoint(self, *, publish: bool = True, settle: bool = True) -> Iterator[None]:
        """One part of a larger transaction: its events are handled inside it (or, with
        `publish=False`, left raised for the commit), and if it fails its writes, its events
        and its after-commit callbacks are undone while the rest of the transaction goes on
        (how a batch of independent messages shares one commit). With `settle=False`, its
        `Settle` events wait for the commit, so a batch's read models are brought up to date
        once, set-based, instead of once per part."""
        events, callbacks = len(self._events), len(self._on_commit)
        released = len(self._released)
        nested = self.begin_savepoint()
        try:
            yield
            if publish:
                self.publish(settle=settle)
        except BaseException:
            nested.rollback()
            del self._events[events:]
            del self._on_commit[callbacks:]
            del self._released[released:]
            raise
        nested.commit()
        self._released.append(nested)

    def begin_savepoint(self) -> Savepoint:
        """A savepoint inside the transaction (or inside the current savepoint), to `commit`
        (release) or `rollback`."""
        self._serial += 1
        return Savepoint(self, f"omnicx_sp_{self._serial}")

    def current_savepoint(self) -> Savepoint | None:
        """The innermost savepoint still active, or None in the transaction itself."""
        return self._savepoints[-1] if self._savepoints else None

    def _end_savepoints(self) -> None:
        """The transaction ended: so did every savepoint in it."""
        for savepoint in self._savepoints:
            savepoint.is_active = False
        self._savepoints.clear()

    def _driver_sql(self, statement: str) -> None:
        run(self.conn, statement, ())

    def released(self, savepoint: Savepoint) -> bool:
        """Whether `savepoint` was released through `savepoint()` and is still part of the
        transaction (no savepoint around it rolled back since)."""
        return any(s is savepoint for s in self._released)

    def commit(self) -> None:
        self.publish()
        self.conn.commit()
        self._committed = True
        self._end_savepoints()
        callbacks, self._on_commit = self._on_commit, []
        for callback in callbacks:
            callback()
        if self._after_commit is not None:
            self._after_commit()

    def rollback(self) -> None:
        self._events.clear()
        self._on_commit.clear()
        self._end_savepoints()
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
        # SQLite has one writer: this process's writers queue on a lock that wakes the next
        # one at once, instead of polling the database's busy handler with growing sleeps.
        self._writer_lock = threading.RLock() if engine.dialect.name == "sqlite" else None

    def __call__(self, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(
            self.engine,
            self.bus,
            self.clock,
            write=write,
            after_commit=self.after_commit,
            writer_lock=self._writer_lock if write else None,
        )

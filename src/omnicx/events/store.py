"""SQL storage of sources, events and the ingestion queue.

Values under sensitive keys in an event's properties, context and traits are sealed one by one;
queued and dead-lettered batches are sealed whole (one AES-GCM pass per batch).
"""

import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata
from omnicx.db.bulk import insert_many, query, select_in
from omnicx.db.metadata import queue_metadata
from omnicx.events.model import Source, TimelineItem
from omnicx.kernel.moments import from_micros
from omnicx.profiles.store import changed, reseal_rows

ID = sa.String(36)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("write_key", sa.String(64), nullable=False, unique=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BIGID, sa.Sequence("events_id_seq"), primary_key=True, autoincrement=False),
    sa.Column("source_id", ID, nullable=False),
    sa.Column("message_id", sa.String(100), nullable=False),
    sa.Column("profile_id", ID, nullable=True),
    sa.Column("type", sa.String(10), nullable=False),
    sa.Column("event", sa.String(200), nullable=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.BigInteger(), nullable=False),
    sa.Column("user_id", sa.String(320), nullable=True),
    sa.Column("anonymous_id", sa.String(320), nullable=True),
    sa.Column("properties", JsonValue, nullable=False),
    sa.Column("context", JsonValue, nullable=False),
    sa.Column("traits", JsonValue, nullable=True),
    sa.UniqueConstraint("source_id", "message_id"),
    sa.Index("ix_events_profile_ts", "profile_id", "ts"),
)

ingest_dead_letters = sa.Table(
    "ingest_dead_letters",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("source_id", ID, nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

ingest_queue = sa.Table(
    "ingest_queue",
    queue_metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("source_id", ID, nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("received_at", sa.BigInteger(), nullable=False),
)

_CHUNK = 400


EVENT_TABLES = ("events", "ingest_dead_letters")


_TOP_EVENT_ID = "SELECT max(id) FROM events"


class SqlEventRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    # -- sources -------------------------------------------------------------------------

    def add_source(self, source: Source) -> None:
        self.conn.execute(
            sources.insert().values(
                id=source.id,
                name=source.name,
                write_key=source.write_key,
                channel=source.channel,
                created_at=source.created_at,
                updated_at=source.created_at,
            )
        )

    def source_by_key(self, write_key: str) -> Source | None:
        row = self.conn.execute(sa.select(sources).where(sources.c.write_key == write_key)).first()
        return _source(row) if row else None

    def source_by_name(self, name: str) -> Source | None:
        row = self.conn.execute(sa.select(sources).where(sources.c.name == name)).first()
        return _source(row) if row else None

    def replace_write_key(self, source_id: str, write_key: str, now: datetime) -> Source | None:
        self.conn.execute(
            sources.update()
            .where(sources.c.id == source_id)
            .values(write_key=write_key, updated_at=now)
        )
        row = self.conn.execute(sa.select(sources).where(sources.c.id == source_id)).first()
        return _source(row) if row else None

    def list_sources(self) -> list[Source]:
        return [_source(r) for r in self.conn.execute(sa.select(sources).order_by(sources.c.name))]

    # -- writing events ------------------------------------------------------------------

    def existing_message_ids(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        by_source: dict[str, list[str]] = {}
        for source_id, message_id in keys:
            by_source.setdefault(source_id, []).append(message_id)
        found: set[tuple[str, str]] = set()
        for source_id, ids in by_source.items():
            rows = select_in(
                self.conn,
                "SELECT message_id FROM events WHERE source_id = ? AND message_id IN ({marks})",
                ids,
                before=(source_id,),
            )
            found.update((source_id, m) for (m,) in rows)
        return found

    def allocate_ids(self, count: int) -> list[int]:
        if count <= 0:
            return []
        if self.conn.dialect.name == "postgresql":
            rows = self.conn.execute(
                sa.text("SELECT nextval('events_id_seq') FROM generate_series(1, :n)"), {"n": count}
            )
            return [r[0] for r in rows]
        # SQLite: the write lock is held (BEGIN IMMEDIATE), so max+1 is ours alone.
        ((top,),) = query(self.conn, _TOP_EVENT_ID)
        top = top or 0
        return list(range(top + 1, top + 1 + count))

    def insert_events(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.cipher.enabled:
            seal = self.cipher.seal_sensitive
            rows = [
                {
                    **r,
                    "properties": seal(r["properties"]),
                    "context": seal(r["context"]),
                    "traits": seal(r["traits"]) if r["traits"] else r["traits"],
                }
                for r in rows
            ]
        insert_many(self.conn, events, rows)

    def add_dead_letter(
        self, source_id: str, items: list[dict[str, Any]], error: str, now: datetime
    ) -> None:
        self.conn.execute(
            ingest_dead_letters.insert().values(
                source_id=source_id,
                count=len(items),
                payload=_seal(self.cipher, orjson.dumps(items)),
                error=error,
                created_at=now,
            )
        )

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            sa.select(ingest_dead_letters).order_by(ingest_dead_letters.c.id.desc()).limit(limit)
        )
        return [
            {
                "id": r.id,
                "source_id": r.source_id,
                "count": r.count,
                "error": r.error,
                "created_at": r.created_at,
                "events": orjson.loads(self.cipher.open_bytes(r.payload)),
            }
            for r in rows
        ]

    def count_dead_letters(self) -> int:
        return int(
            self.conn.execute(
                sa.select(sa.func.count()).select_from(ingest_dead_letters)
            ).scalar_one()
        )

    # -- reading -------------------------------------------------------------------------

    def timeline(
        self,
        member_ids: Collection[str],
        *,
        after: tuple[int, int] | None,
        limit: int,
        newest_first: bool = True,
        channels: Collection[str] = (),
        types: Collection[str] = (),
    ) -> list[TimelineItem]:
        """Events in time order; `after` is the (ts, id) of the previous page's last item."""
        query = sa.select(events).where(events.c.profile_id.in_(list(member_ids)))
        if channels:
            query = query.where(events.c.channel.in_(list(channels)))
        if types:
            query = query.where(events.c.type.in_(list(types)))
        if after is not None:
            ts, event_id = after
            if newest_first:
                query = query.where(
                    sa.or_(events.c.ts < ts, sa.and_(events.c.ts == ts, events.c.id < event_id))
                )
            else:
                query = query.where(
                    sa.or_(events.c.ts > ts, sa.and_(events.c.ts == ts, events.c.id > event_id))
                )
        order = (
            (events.c.ts.desc(), events.c.id.desc())
            if newest_first
            else (events.c.ts.asc(), events.c.id.asc())
        )
        rows = self.conn.execute(query.order_by(*order).limit(limit))
        return [self._item(r) for r in rows]

    def channel_summary(self, member_ids: Collection[str]) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            sa.select(
                events.c.channel,
                sa.func.count(),
                sa.func.min(events.c.ts),
                sa.func.max(events.c.ts),
            )
            .where(events.c.profile_id.in_(list(member_ids)))
            .group_by(events.c.channel)
        )
        summary = []
        for channel, count, first, last in rows:
            latest = self.conn.execute(
                sa.select(events)
                .where(
                    events.c.profile_id.in_(list(member_ids)),
                    events.c.channel == channel,
                    events.c.ts == last,
                )
                .order_by(events.c.id.desc())
                .limit(1)
            ).first()
            summary.append(
                {
                    "channel": channel,
                    "events": count,
                    "first_seen": from_micros(first),
                    "last_seen": from_micros(last),
                    "last_interaction": self._item(latest) if latest else None,
                }
            )
        summary.sort(key=lambda s: s["last_seen"], reverse=True)
        return summary

    def _item(self, row: sa.Row[Any]) -> TimelineItem:
        reveal = self.cipher.reveal
        return TimelineItem(
            id=row.id,
            type=row.type,
            event=row.event,
            name=row.name,
            channel=row.channel,
            timestamp=from_micros(row.ts),
            received_at=from_micros(row.received_at),
            message_id=row.message_id,
            source_id=row.source_id,
            profile_id=row.profile_id,
            properties=reveal(row.properties),
            context=reveal(row.context),
            traits=reveal(row.traits),
        )

    def reseal(
        self, table: str, after: tuple[Any, ...] | None, limit: int
    ) -> tuple[tuple[Any, ...] | None, int]:
        """One batch of the sealing pass over one of `EVENT_TABLES`."""
        cipher = self.cipher

        def fix_event(row: Mapping[str, Any]) -> dict[str, Any]:
            out = {}
            for column in ("properties", "context", "traits"):
                old = row[column]
                if old is None:
                    continue
                new = cipher.reseal(old, cipher.seal_sensitive)
                if changed(old, new):
                    out[column] = new
            return out

        def fix_dead_letter(row: Mapping[str, Any]) -> dict[str, Any]:
            payload = bytes(row["payload"])
            if cipher.bytes_need_reseal(payload):
                return {"payload": cipher.reseal_bytes(payload)}
            return {}

        if table == "events":
            return reseal_rows(self.conn, events, fix_event, after, limit)
        return reseal_rows(self.conn, ingest_dead_letters, fix_dead_letter, after, limit)

    def count_for(self, member_ids: Collection[str]) -> int:
        return int(
            self.conn.execute(
                sa.select(sa.func.count())
                .select_from(events)
                .where(events.c.profile_id.in_(list(member_ids)))
            ).scalar_one()
        )


class _Pending:
    __slots__ = ("done", "error", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.done = False
        self.error: BaseException | None = None


class SqlIngestQueue:
    """Acknowledged, validated batches waiting for identity resolution.

    `push` commits with group commit: requests that arrive while a write is under way are
    written together by the next writer, in one transaction and one fsync, and each caller
    returns only once its own row is committed.
    """

    def __init__(self, engine: sa.Engine, cipher: FieldCipher) -> None:
        self.engine = engine
        self.cipher = cipher
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._writing = False

    def push(self, source_id: str, items: list[dict[str, Any]], received_at: int) -> None:
        entry = _Pending(
            {
                "source_id": source_id,
                "count": len(items),
                "payload": _seal(self.cipher, orjson.dumps(items)),
                "received_at": received_at,
            }
        )
        with self._cond:
            self._pending.append(entry)
            while self._writing and not entry.done:
                self._cond.wait()
            if entry.done:
                if entry.error is not None:
                    raise entry.error
                return
            self._writing = True
            group, self._pending = self._pending, []
        error: BaseException | None = None
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "sqlite":
                    conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                conn.begin()
                conn.execute(ingest_queue.insert(), [p.row for p in group])
                conn.commit()
        except BaseException as failure:
            error = failure
        finally:
            with self._cond:
                for pending in group:
                    pending.done, pending.error = True, error
                self._writing = False
                self._cond.notify_all()
        if error is not None:
            raise error

    @contextmanager
    def claim(self, max_events: int) -> Iterator["QueueClaim"]:
        """The oldest batches, up to about `max_events` events (always at least one batch).

        On PostgreSQL the rows stay locked (SKIP LOCKED) until the claim ends, so several
        workers share the queue; on SQLite one short read is enough, the writer being single.
        """
        conn = self.engine.connect()
        try:
            if conn.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            conn.begin()
            # Sizes first, payloads only for the rows taken: a payload spans many pages.
            query = (
                sa.select(ingest_queue.c.id, ingest_queue.c.source_id, ingest_queue.c.count)
                .order_by(ingest_queue.c.id)
                .limit(500)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            taken: list[tuple[int, str]] = []
            total = 0
            for row_id, source_id, count in conn.execute(query):
                if taken and total + count > max_events:
                    break
                taken.append((row_id, source_id))
                total += count
            claim = QueueClaim(conn)
            if taken:
                payloads = dict(
                    conn.execute(
                        sa.select(ingest_queue.c.id, ingest_queue.c.payload).where(
                            ingest_queue.c.id.in_([row_id for row_id, _ in taken])
                        )
                    ).all()
                )
                open_bytes = self.cipher.open_bytes
                claim.batches = [
                    (row_id, source_id, orjson.loads(open_bytes(payloads[row_id])))
                    for row_id, source_id in taken
                ]
            if conn.dialect.name == "sqlite":
                conn.rollback()
            yield claim
        finally:
            conn.close()

    def reseal(
        self, after: tuple[Any, ...] | None, limit: int
    ) -> tuple[tuple[Any, ...] | None, int]:
        """One batch of the sealing pass over the queue, in a short transaction of its own."""
        cipher = self.cipher

        def fix(row: Mapping[str, Any]) -> dict[str, Any]:
            payload = bytes(row["payload"])
            if cipher.bytes_need_reseal(payload):
                return {"payload": cipher.reseal_bytes(payload)}
            return {}

        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            conn.begin()
            result = reseal_rows(conn, ingest_queue, fix, after, limit)
            conn.commit()
        return result

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(ingest_queue.c.count), 0))
                ).scalar_one()
            )


class QueueClaim:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self.batches: list[tuple[int, str, list[dict[str, Any]]]] = []

    def ack(self) -> None:
        """Remove the claimed batches: call only once their events are committed."""
        ids = [row_id for row_id, _, _ in self.batches]
        conn = self._conn
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            conn.begin()
        for start in range(0, len(ids), _CHUNK):
            conn.execute(
                ingest_queue.delete().where(ingest_queue.c.id.in_(ids[start : start + _CHUNK]))
            )
        conn.commit()


def _source(row: sa.Row[Any]) -> Source:
    return Source(
        id=row.id,
        name=row.name,
        write_key=row.write_key,
        channel=row.channel,
        created_at=row.created_at,
    )


def _seal(cipher: FieldCipher, payload: bytes) -> bytes:
    return cipher.seal_bytes(payload) if cipher.enabled else payload

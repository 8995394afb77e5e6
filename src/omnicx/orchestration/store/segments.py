"""SQL storage of segments: definitions, members, the entered/exited history, and the queue
of customers to evaluate again (`segment_dirty`).

No personal data lives in these tables (ids, times and definitions); a customer's memberships
and history are theirs for privacy all the same. The facts a definition reads (traits,
tracked events, conversations) are read here from the tables of their domains, in batches.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from omnicx.conversations.store import conversations
from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata
from omnicx.db.bulk import insert_many, select_in
from omnicx.events.store import SqlEventRepository, events
from omnicx.kernel.moments import micros
from omnicx.orchestration.segments import (
    ConversationFact,
    EventFact,
    Facts,
    Needs,
    Segment,
)
from omnicx.profiles.store import profiles

ID = sa.String(36)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.String(1000), nullable=False),
    sa.Column("definition", JsonValue, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("scan", sa.String(10), nullable=True),
    sa.Column("scan_after", sa.String(36), nullable=False),
    sa.Column("refreshed_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

segment_members = sa.Table(
    "segment_members",
    metadata,
    sa.Column("segment_id", ID, primary_key=True),
    sa.Column("profile_id", ID, primary_key=True),
    sa.Column("since", UtcDateTime(), nullable=False),
    sa.Index("ix_segment_members_profile_id", "profile_id"),
)

segment_history = sa.Table(
    "segment_history",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("segment_id", ID, nullable=False, index=True),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("change", sa.String(10), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)

segment_dirty = sa.Table(
    "segment_dirty",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("marked_at", UtcDateTime(), nullable=False),
)
"""Customers whose facts changed since they were last evaluated: appended without locks by
ingestion, taken by id (and deleted by id) by the evaluation pass."""

SEGMENT_TABLES = ("segment_members", "segment_history", "segment_dirty")
"""The tables that hold rows about a customer."""

TIMELINE_SOURCE = "segments"
"""`source_id` of the Segment Entered / Segment Exited rows on customers' timelines."""

_CHUNK = 500
_NOTHING: Mapping[str, Any] = MappingProxyType({})


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fetch(conn: sa.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """Plain rows from the driver (`?` marks become its own): a pass over every customer
    reads millions of rows, and making each a SQLAlchemy row would cost more than the query.
    The statement runs in the connection's transaction."""
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _utc(value: datetime | str) -> datetime:
    """A `UtcDateTime` as the driver gives it, aware. SQLite gives the UTC time as ISO text
    without a zone; naming the zone in the text parses several times faster than setting it
    on the parsed time."""
    if isinstance(value, str):
        return datetime.fromisoformat(f"{value}+00:00")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _segment(row: sa.Row[Any]) -> Segment:
    return Segment(
        id=row.id,
        name=row.name,
        description=row.description,
        definition=row.definition,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        scan=row.scan,
        scan_after=row.scan_after,
        refreshed_at=row.refreshed_at,
    )


class SqlSegmentRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    @property
    def _postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    # -- definitions -----------------------------------------------------------------------

    def add(self, segment: Segment) -> None:
        self.conn.execute(
            segments.insert().values(
                id=segment.id,
                name=segment.name,
                description=segment.description,
                definition=segment.definition,
                version=segment.version,
                scan=segment.scan,
                scan_after=segment.scan_after,
                refreshed_at=segment.refreshed_at,
                created_at=segment.created_at,
                updated_at=segment.updated_at,
            )
        )

    def update(self, segment: Segment) -> None:
        self.conn.execute(
            segments.update()
            .where(segments.c.id == segment.id)
            .values(
                name=segment.name,
                description=segment.description,
                definition=segment.definition,
                version=segment.version,
                scan=segment.scan,
                scan_after=segment.scan_after,
                refreshed_at=segment.refreshed_at,
                updated_at=segment.updated_at,
            )
        )

    def get(self, segment_id: str, *, lock: bool = False) -> Segment | None:
        query = sa.select(segments).where(segments.c.id == segment_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return _segment(row) if row else None

    def by_name(self, name: str) -> Segment | None:
        row = self.conn.execute(sa.select(segments).where(segments.c.name == name)).first()
        return _segment(row) if row else None

    def all(self) -> list[Segment]:
        rows = self.conn.execute(sa.select(segments).order_by(segments.c.name))
        return [_segment(r) for r in rows]

    def delete(self, segment_id: str) -> bool:
        self.conn.execute(
            segment_members.delete().where(segment_members.c.segment_id == segment_id)
        )
        return bool(
            self.conn.execute(segments.delete().where(segments.c.id == segment_id)).rowcount
        )

    # -- members ---------------------------------------------------------------------------

    def size(self, segment_id: str) -> int:
        return int(
            self.conn.execute(
                sa.select(sa.func.count())
                .select_from(segment_members)
                .where(segment_members.c.segment_id == segment_id)
            ).scalar_one()
        )

    def sample(self, segment_id: str, limit: int) -> list[tuple[str, datetime]]:
        """Members, longest-standing first."""
        rows = self.conn.execute(
            sa.select(segment_members.c.profile_id, segment_members.c.since)
            .where(segment_members.c.segment_id == segment_id)
            .order_by(segment_members.c.since, segment_members.c.profile_id)
            .limit(limit)
        )
        return [(r.profile_id, r.since) for r in rows]

    def memberships(self, profile_id: str) -> list[tuple[Segment, datetime]]:
        rows = self.conn.execute(
            sa.select(segments, segment_members.c.since)
            .select_from(
                segments.join(segment_members, segment_members.c.segment_id == segments.c.id)
            )
            .where(segment_members.c.profile_id == profile_id)
            .order_by(segments.c.name)
        )
        return [(_segment(r), r.since) for r in rows]

    def current(
        self, profile_ids: Collection[str], segment_ids: Collection[str]
    ) -> set[tuple[str, str]]:
        """(segment id, profile id) of the memberships among these."""
        if not segment_ids:
            return set()
        wanted = sorted(segment_ids)
        listed = ", ".join("?" * len(wanted))
        sql = (
            "SELECT segment_id, profile_id FROM segment_members "  # noqa: S608 (placeholders)
            f"WHERE segment_id IN ({listed}) AND profile_id IN ({{marks}})"
        )
        rows = select_in(
            self.conn,
            sql,
            sorted(profile_ids),
            before=wanted,
            chunk=_CHUNK,
        )
        return {(segment_id, profile_id) for segment_id, profile_id in rows}

    def enter(self, segment_id: str, profile_id: str, now: datetime) -> bool:
        """Add a member; False when another pass added them first."""
        values = {"segment_id": segment_id, "profile_id": profile_id, "since": now}
        insert = pg_insert if self._postgres else sqlite_insert
        statement = insert(segment_members).values(**values).on_conflict_do_nothing()
        if not self.conn.execute(statement).rowcount:
            return False
        self._history(segment_id, profile_id, "entered", now)
        return True

    def exit(self, segment_id: str, profile_id: str, now: datetime) -> bool:
        """Remove a member; False when they were not one (any more)."""
        gone = self.conn.execute(
            segment_members.delete().where(
                segment_members.c.segment_id == segment_id,
                segment_members.c.profile_id == profile_id,
            )
        ).rowcount
        if not gone:
            return False
        self._history(segment_id, profile_id, "exited", now)
        return True

    def enter_many(self, pairs: Sequence[tuple[str, str]], now: datetime) -> list[tuple[str, str]]:
        """Add (segment id, profile id) members in a few statements; the pairs added, in the
        order given (not those another pass added first)."""
        added: set[tuple[str, str]] = set()
        convert = segment_members.c.since.type._cached_bind_processor(self.conn.dialect)
        since = convert(now) if convert is not None else now
        for chunk in _chunks(pairs):
            rows = ", ".join(["(?, ?, ?)"] * len(chunk))
            sql = (
                "INSERT INTO segment_members (segment_id, profile_id, since) "  # noqa: S608 (marks)
                f"VALUES {rows} ON CONFLICT DO NOTHING RETURNING segment_id, profile_id"
            )
            params = [value for pair in chunk for value in (*pair, since)]
            added.update((segment_id, p) for segment_id, p in _fetch(self.conn, sql, params))
        entered = [pair for pair in pairs if pair in added]
        self._histories(entered, "entered", now)
        return entered

    def exit_many(self, pairs: Sequence[tuple[str, str]], now: datetime) -> list[tuple[str, str]]:
        """Remove (segment id, profile id) members; the pairs removed, in the order given (not
        those that were no longer members)."""
        by_segment: dict[str, list[str]] = {}
        for segment_id, profile_id in pairs:
            by_segment.setdefault(segment_id, []).append(profile_id)
        gone: set[tuple[str, str]] = set()
        m = segment_members.c
        for segment_id, profile_ids in by_segment.items():
            for chunk in _chunks(profile_ids):
                rows = self.conn.execute(
                    segment_members.delete()
                    .where(m.segment_id == segment_id, m.profile_id.in_(chunk))
                    .returning(m.profile_id)
                )
                gone.update((segment_id, r.profile_id) for r in rows)
        exited = [pair for pair in pairs if pair in gone]
        self._histories(exited, "exited", now)
        return exited

    def _histories(self, pairs: Sequence[tuple[str, str]], change: str, now: datetime) -> None:
        insert_many(
            self.conn,
            segment_history,
            [{"segment_id": s, "profile_id": p, "change": change, "at": now} for s, p in pairs],
        )

    def _history(self, segment_id: str, profile_id: str, change: str, now: datetime) -> None:
        self.conn.execute(
            segment_history.insert().values(
                segment_id=segment_id, profile_id=profile_id, change=change, at=now
            )
        )

    def history(self, profile_ids: Collection[str]) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            sa.select(segment_history)
            .where(segment_history.c.profile_id.in_(sorted(profile_ids)))
            .order_by(segment_history.c.id)
        )
        return [dict(r._mapping) for r in rows]

    def timeline(self, rows: Sequence[tuple[Segment, str, str, datetime]]) -> None:
        """Write each (segment, profile id, "Segment Entered" | "Segment Exited", at) on the
        customer's timeline, channel "system"."""
        if not rows:
            return
        repo = SqlEventRepository(self.conn, self.cipher)
        ids = repo.allocate_ids(len(rows))
        repo.insert_events(
            [
                {
                    "id": event_id,
                    "source_id": TIMELINE_SOURCE,
                    "message_id": f"segment-{event_id}",
                    "profile_id": profile_id,
                    "type": "track",
                    "event": name,
                    "name": None,
                    "channel": "system",
                    "ts": micros(at),
                    "received_at": micros(at),
                    "user_id": None,
                    "anonymous_id": None,
                    "properties": {"segment_id": segment.id, "segment_name": segment.name},
                    "context": {"channel": "system"},
                    "traits": None,
                }
                for event_id, (segment, profile_id, name, at) in zip(ids, rows, strict=True)
            ]
        )

    # -- customers to evaluate again -------------------------------------------------------

    def mark(self, profile_ids: Collection[str], now: datetime) -> None:
        insert_many(
            self.conn,
            segment_dirty,
            [{"profile_id": profile_id, "marked_at": now} for profile_id in profile_ids],
        )

    def take_marked(self, limit: int) -> tuple[list[int], list[str]]:
        """The oldest marks, with every other mark of the same customers: (mark ids, customer
        ids). On PostgreSQL the marks stay locked (SKIP LOCKED) until the pass commits."""
        query = sa.select(segment_dirty.c.id, segment_dirty.c.profile_id).order_by(
            segment_dirty.c.id
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        first = self.conn.execute(query.limit(limit)).all()
        if not first:
            return [], []
        profile_ids = sorted({r.profile_id for r in first})
        mark_ids = {r.id for r in first}
        for chunk in _chunks(profile_ids):
            more = sa.select(segment_dirty.c.id).where(segment_dirty.c.profile_id.in_(chunk))
            if self._postgres:
                more = more.with_for_update(skip_locked=True)
            mark_ids.update(r.id for r in self.conn.execute(more))
        return sorted(mark_ids), profile_ids

    def unmark(self, mark_ids: Sequence[int]) -> None:
        for chunk in _chunks(mark_ids):
            self.conn.execute(segment_dirty.delete().where(segment_dirty.c.id.in_(chunk)))

    def any_marked(self) -> bool:
        return self.conn.execute(sa.select(segment_dirty.c.id).limit(1)).first() is not None

    # -- passes over customers -------------------------------------------------------------

    def next_scan(self) -> Segment | None:
        """A segment with a pass under way, locked (SKIP LOCKED) on PostgreSQL."""
        query = (
            sa.select(segments)
            .where(segments.c.scan.is_not(None))
            .order_by(segments.c.updated_at, segments.c.id)
            .limit(1)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        row = self.conn.execute(query).first()
        return _segment(row) if row else None

    def idle(self) -> list[Segment]:
        rows = self.conn.execute(sa.select(segments).where(segments.c.scan.is_(None)))
        return [_segment(r) for r in rows]

    def set_scan(
        self, segment_id: str, scan: str | None, after: str, refreshed_at: datetime | None = None
    ) -> None:
        values: dict[str, Any] = {"scan": scan, "scan_after": after}
        if refreshed_at is not None:
            values["refreshed_at"] = refreshed_at
        self.conn.execute(segments.update().where(segments.c.id == segment_id).values(**values))

    def live_after(self, after: str, limit: int) -> list[str]:
        """Live (not merged) customer ids after `after`, in id order."""
        rows = self.conn.execute(
            sa.select(profiles.c.id)
            .where(profiles.c.id > after, profiles.c.canonical_id == profiles.c.id)
            .order_by(profiles.c.id)
            .limit(limit)
        )
        return [r.id for r in rows]

    def live_page(self, after: str, limit: int) -> dict[str, datetime]:
        """Live customers after `after` in id order, with when each was created."""
        rows = _fetch(
            self.conn,
            "SELECT id, created_at FROM profiles WHERE id > ? AND canonical_id = id "
            "ORDER BY id LIMIT ?",
            (after, limit),
        )
        return {profile_id: _utc(at) for profile_id, at in rows}

    def members_after(self, segment_id: str, after: str, limit: int) -> list[str]:
        rows = self.conn.execute(
            sa.select(segment_members.c.profile_id)
            .where(segment_members.c.segment_id == segment_id, segment_members.c.profile_id > after)
            .order_by(segment_members.c.profile_id)
            .limit(limit)
        )
        return [r.profile_id for r in rows]

    # -- facts -----------------------------------------------------------------------------

    def profiles(self, profile_ids: Collection[str]) -> dict[str, tuple[str, datetime]]:
        """id -> (canonical id, created at) of the profiles that exist."""
        found: dict[str, tuple[str, datetime]] = {}
        for chunk in _chunks(sorted(profile_ids)):
            rows = self.conn.execute(
                sa.select(profiles.c.id, profiles.c.canonical_id, profiles.c.created_at).where(
                    profiles.c.id.in_(chunk)
                )
            )
            found.update({r.id: (r.canonical_id, r.created_at) for r in rows})
        return found

    def facts(self, roots: Mapping[str, datetime], needs: Needs, now: datetime) -> dict[str, Facts]:
        """The facts of live customers (id -> created at) that `needs` names; consents are
        the caller's to add."""
        ids = sorted(roots)
        # Traits live on the root; events and conversations also on the profiles merged in.
        traits = self.traits(ids, None if needs.any_trait else needs.trait_keys)
        found_events: dict[str, dict[str, list[EventFact]]] = {}
        found_conversations: dict[str, list[ConversationFact]] = {}
        if needs.event_names or needs.conversations:
            owner = self._owners(ids)
            if needs.event_names:
                found_events = {root: {} for root in ids}
                self._events(owner, needs, now, found_events)
            if needs.conversations:
                found_conversations = {root: [] for root in ids}
                self._conversations(owner, found_conversations)
        # One shared empty mapping for what a customer lacks: a pass builds a million Facts.
        return {
            root: Facts(
                customer_id=root,
                created_at=roots[root],
                traits=traits.get(root, _NOTHING),
                events=found_events.get(root, _NOTHING),
                conversations=found_conversations.get(root, ()),
            )
            for root in ids
        }

    def _owners(self, roots: Sequence[str]) -> dict[str, str]:
        """Profile id -> the live customer it belongs to, for `roots` and every profile
        merged into them."""
        owner: dict[str, str] = {}
        for chunk in _chunks(roots):
            rows = self.conn.execute(
                sa.select(profiles.c.id, profiles.c.canonical_id).where(
                    profiles.c.canonical_id.in_(chunk)
                )
            )
            owner.update({r.id: r.canonical_id for r in rows})
        for root in roots:
            owner.setdefault(root, root)
        return owner

    def traits(
        self, profile_ids: Collection[str], keys: Collection[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Current trait values by customer (only those of `keys` when given), opened. Read
        as stored: on SQLite a number held in a JSON column comes back as a number, not as
        JSON text."""
        found: dict[str, dict[str, Any]] = {}
        if keys is not None and not keys:
            return found
        where = "profile_id IN ({marks})"
        before = sorted(keys) if keys is not None else []
        if before:
            where = f"key IN ({', '.join('?' * len(before))}) AND {where}"
        sql = f"SELECT profile_id, key, value FROM traits WHERE {where}"  # noqa: S608 (placeholders only)
        sqlite = self.conn.dialect.name == "sqlite"
        reveal = self.cipher.reveal
        ids = sorted(profile_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            statement = sql.replace("{marks}", ", ".join("?" * len(chunk)))
            for profile_id, key, value in _fetch(self.conn, statement, (*before, *chunk)):
                if sqlite and isinstance(value, (str, bytes)):
                    value = orjson.loads(value)
                if isinstance(value, (str, dict, list)):
                    value = reveal(value)
                found.setdefault(profile_id, {})[key] = value
        return found

    def _events(
        self,
        owner: Mapping[str, str],
        needs: Needs,
        now: datetime,
        found: dict[str, dict[str, list[EventFact]]],
    ) -> None:
        columns = [events.c.profile_id, events.c.event, events.c.channel, events.c.ts]
        if needs.properties:
            columns.append(events.c.properties)
        since = (
            micros(now - needs.event_lookback)
            if not needs.all_time and needs.event_lookback is not None
            else None
        )
        names = sorted(needs.event_names)
        for chunk in _chunks(sorted(owner)):
            query = sa.select(*columns).where(
                events.c.profile_id.in_(chunk),
                events.c.type == "track",
                events.c.event.in_(names),
            )
            if since is not None:
                query = query.where(events.c.ts >= since)
            for row in self.conn.execute(query.order_by(events.c.ts, events.c.id)):
                properties = self.cipher.reveal(row.properties) if needs.properties else {}
                fact = EventFact(row.event, row.channel, row.ts, properties or {})
                found[owner[row.profile_id]].setdefault(row.event, []).append(fact)

    def _conversations(
        self, owner: Mapping[str, str], found: dict[str, list[ConversationFact]]
    ) -> None:
        c = conversations.c
        for chunk in _chunks(sorted(owner)):
            rows = self.conn.execute(
                sa.select(
                    c.customer_id,
                    c.status,
                    c.contact_reason,
                    c.channels,
                    c.last_message_at,
                    c.created_at,
                ).where(c.customer_id.in_(chunk), c.merged_into.is_(None))
            )
            for row in rows:
                found[owner[row.customer_id]].append(
                    ConversationFact(
                        status=row.status,
                        contact_reason=row.contact_reason,
                        channels=tuple(row.channels or ()),
                        active_at=row.last_message_at or row.created_at,
                    )
                )

    # -- privacy ---------------------------------------------------------------------------

    def customer_rows(self, profile_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        ids = sorted(profile_ids)
        found: dict[str, list[dict[str, Any]]] = {}
        for table in (segment_members, segment_history):
            rows: list[dict[str, Any]] = []
            for chunk in _chunks(ids):
                rows.extend(
                    dict(r._mapping)
                    for r in self.conn.execute(
                        sa.select(table).where(table.c.profile_id.in_(chunk))
                    )
                )
            found[str(table.name)] = rows
        return found

    def erase(self, profile_ids: Collection[str]) -> dict[str, int]:
        ids = sorted(profile_ids)
        counts: dict[str, int] = {}
        for table in (segment_members, segment_history, segment_dirty):
            count = 0
            for chunk in _chunks(ids):
                count += self.conn.execute(
                    table.delete().where(table.c.profile_id.in_(chunk))
                ).rowcount
            counts[str(table.name)] = count
        return counts

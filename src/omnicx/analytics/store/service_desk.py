"""The service desk's read models: one state row per conversation, counter cells per day x
channel x contact reason, and friction facts (channel switches, SLA breaches).

    analytics_service_conversations  per conversation: customer, first and latest inbound
                                     channel, reason, opening, resolution, CSAT, repeat
    analytics_service_cells          (day, channel, reason) -> conversations, resolved,
                                     resolution seconds, CSAT count and sum, repeats
    analytics_service_friction       one row per channel switch or SLA breach, with its day,
                                     channel and customer

They are written by the conversations' and desk's own events, in the transaction that raised
them (`ServiceReadModels`); reports read the cells, or the per-conversation rows when they
are asked for one segment.
"""

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import sqlalchemy as sa

from omnicx.analytics.service import (
    CellKey,
    ConversationFacts,
    Counts,
    ReportQuery,
    cell_deltas,
    repeats,
    resolved,
)
from omnicx.analytics.store.service_counts import add_counts, move_customers
from omnicx.conversations.messages import (
    ContactReasonChanged,
    ConversationOpened,
    ConversationsMerged,
    ConversationStatusChanged,
    CsatRecorded,
    MessageReceived,
)
from omnicx.conversations.store import conversations
from omnicx.db import UnitOfWork, UtcDateTime, metadata
from omnicx.db.bulk import Prepared
from omnicx.desk.messages import SlaBreached
from omnicx.kernel import MessageBus
from omnicx.orchestration.store.segments import segment_members, segments
from omnicx.profiles import ProfilesMerged

ID = sa.String(36)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

service_conversations = sa.Table(
    "analytics_service_conversations",
    metadata,
    sa.Column("conversation_id", ID, primary_key=True),
    sa.Column("customer_id", ID, nullable=False, index=True),
    sa.Column("day", sa.Date(), nullable=False, index=True),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("channel", sa.String(40), nullable=True),
    sa.Column("last_channel", sa.String(40), nullable=True),
    sa.Column("reason", sa.String(100), nullable=True),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Column("resolution_seconds", sa.BigInteger(), nullable=True),
    sa.Column("csat", sa.Integer(), nullable=True),
    sa.Column("is_repeat", sa.Boolean(), nullable=False),
    sa.Column("merged", sa.Boolean(), nullable=False),
)

service_cells = sa.Table(
    "analytics_service_cells",
    metadata,
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("channel", sa.String(40), primary_key=True),
    sa.Column("reason", sa.String(100), primary_key=True),
    sa.Column("conversations", sa.Integer(), nullable=False),
    sa.Column("resolved", sa.Integer(), nullable=False),
    sa.Column("resolution_seconds", sa.BigInteger(), nullable=False),
    sa.Column("csat_count", sa.Integer(), nullable=False),
    sa.Column("csat_sum", sa.Integer(), nullable=False),
    sa.Column("repeats", sa.Integer(), nullable=False),
)
"""'' stands for "no reason" in `reason`, so the key stays unique on every database."""

service_friction = sa.Table(
    "analytics_service_friction",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("day", sa.Date(), nullable=False, index=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("detail", sa.String(40), nullable=False),
    sa.Column("customer_id", ID, nullable=False, index=True),
    sa.Column("conversation_id", ID, nullable=False),
)
"""`kind` switch (`channel` -> `detail`, the next channel) or sla_breach (`detail`: the
metric)."""

SWITCH = "switch"
BREACH = "sla_breach"
SERVICE_TABLES = (service_conversations, service_friction)
"""The tables that hold rows about a customer."""
UNKNOWN_CHANNEL = "unknown"


def _facts(row: Any) -> ConversationFacts:
    return ConversationFacts(
        id=row.conversation_id,
        customer_id=row.customer_id,
        opened_at=row.opened_at,
        channel=row.channel,
        last_channel=row.last_channel,
        reason=row.reason,
        ended_at=row.ended_at,
        resolution_seconds=row.resolution_seconds,
        csat=row.csat,
        repeat=bool(row.is_repeat),
        merged=bool(row.merged),
    )


def _values(facts: ConversationFacts) -> dict[str, Any]:
    return {
        "customer_id": facts.customer_id,
        "day": facts.day,
        "opened_at": facts.opened_at,
        "channel": facts.channel,
        "last_channel": facts.last_channel,
        "reason": facts.reason,
        "ended_at": facts.ended_at,
        "resolution_seconds": facts.resolution_seconds,
        "csat": facts.csat,
        "is_repeat": facts.repeat,
        "merged": facts.merged,
    }


# Built once: every inbound message reads and writes a conversation's row, and building a
# statement costs more than running it.
_GET = Prepared(
    sa.select(service_conversations).where(
        service_conversations.c.conversation_id == sa.bindparam("b_id")
    )
)
_INSERT = service_conversations.insert()
_UPDATE = service_conversations.update().where(
    service_conversations.c.conversation_id == sa.bindparam("b_id")
)
_SOURCE = sa.select(
    conversations.c.customer_id,
    conversations.c.created_at,
    conversations.c.contact_reason,
    conversations.c.channels,
    conversations.c.csat_score,
).where(conversations.c.id == sa.bindparam("b_id"))


class SqlServiceRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # -- the read model ----------------------------------------------------------------------

    def get(self, conversation_id: str) -> ConversationFacts | None:
        row = _GET.first(self.conn, {"b_id": conversation_id})
        return _facts(row) if row else None

    def of_customer(self, customer_id: str) -> list[ConversationFacts]:
        t = service_conversations
        rows = self.conn.execute(sa.select(t).where(t.c.customer_id == customer_id))
        return [_facts(r) for r in rows]

    def save(self, before: ConversationFacts | None, after: ConversationFacts) -> None:
        """Write the conversation's new state and move its counts between the cells."""
        if before is None:
            self.conn.execute(_INSERT, {"conversation_id": after.id, **_values(after)})
        else:
            self.conn.execute(_UPDATE, {"b_id": after.id, **_values(after)})
        self.add_cells(cell_deltas([(before, after)]))

    def add_cells(self, deltas: dict[CellKey, Counts]) -> None:
        for (day, channel, reason), counts in sorted(deltas.items()):
            add_counts(
                self.conn,
                service_cells,
                {"day": day, "channel": channel, "reason": reason},
                counts.values(),
            )

    def add_friction(
        self, kind: str, day: date, channel: str, detail: str, facts: ConversationFacts
    ) -> None:
        self.conn.execute(
            service_friction.insert().values(
                day=day,
                channel=channel,
                kind=kind,
                detail=detail[:40],
                customer_id=facts.customer_id,
                conversation_id=facts.id,
            )
        )

    def move_customer(self, loser_id: str, survivor_id: str) -> int:
        """Give a merged customer's rows to the survivor; how many conversations moved (a
        customer without conversations has no friction rows either)."""
        moved = move_customers(self.conn, service_conversations, loser_id, survivor_id)
        if moved:
            move_customers(self.conn, service_friction, loser_id, survivor_id)
        return moved

    def source(self, conversation_id: str) -> Any:
        """The conversation as the conversations domain keeps it (opening, reason, channels)."""
        return self.conn.execute(_SOURCE, {"b_id": conversation_id}).first()

    # -- reports -----------------------------------------------------------------------------

    def segment_exists(self, segment_id: str) -> bool:
        found = self.conn.execute(sa.select(segments.c.id).where(segments.c.id == segment_id))
        return found.first() is not None

    def _members(self, segment_id: str) -> Any:
        return sa.select(segment_members.c.profile_id).where(
            segment_members.c.segment_id == segment_id
        )

    def cells(self, query: ReportQuery) -> dict[tuple[str, str], Counts]:
        """(channel, reason) -> counts of the conversations opened in the period."""
        if query.segment is not None:
            return self._segment_cells(query)
        t = service_cells
        select = (
            sa.select(
                t.c.channel,
                t.c.reason,
                *(sa.func.sum(t.c[name]) for name in Counts().values()),
            )
            .where(t.c.day >= query.start, t.c.day < query.end)
            .group_by(t.c.channel, t.c.reason)
        )
        if query.channel is not None:
            select = select.where(t.c.channel == query.channel)
        return {
            (r[0], r[1]): Counts(*(int(v or 0) for v in r[2:])) for r in self.conn.execute(select)
        }

    def _segment_cells(self, query: ReportQuery) -> dict[tuple[str, str], Counts]:
        assert query.segment is not None
        t = service_conversations
        done = t.c.resolution_seconds.is_not(None)
        rated = t.c.csat.is_not(None)
        select = (
            sa.select(
                t.c.channel,
                sa.func.coalesce(t.c.reason, ""),
                sa.func.count(),
                sa.func.sum(sa.case((done, 1), else_=0)),
                sa.func.sum(sa.func.coalesce(t.c.resolution_seconds, 0)),
                sa.func.sum(sa.case((rated, 1), else_=0)),
                sa.func.sum(sa.func.coalesce(t.c.csat, 0)),
                sa.func.sum(sa.case((t.c.is_repeat, 1), else_=0)),
            )
            .where(
                t.c.day >= query.start,
                t.c.day < query.end,
                t.c.merged.is_(False),
                t.c.channel.is_not(None),
                t.c.customer_id.in_(self._members(query.segment)),
            )
            .group_by(t.c.channel, sa.func.coalesce(t.c.reason, ""))
        )
        if query.channel is not None:
            select = select.where(t.c.channel == query.channel)
        return {
            (r[0], r[1]): Counts(*(int(v or 0) for v in r[2:])) for r in self.conn.execute(select)
        }

    def friction(self, query: ReportQuery, kind: str) -> dict[tuple[str, str], int]:
        """(channel, detail) -> how many switches or breaches in the period."""
        t = service_friction
        select = (
            sa.select(t.c.channel, t.c.detail, sa.func.count())
            .where(t.c.kind == kind, t.c.day >= query.start, t.c.day < query.end)
            .group_by(t.c.channel, t.c.detail)
        )
        if query.segment is not None:
            select = select.where(t.c.customer_id.in_(self._members(query.segment)))
        return {(r[0], r[1]): int(r[2]) for r in self.conn.execute(select)}

    # -- privacy -----------------------------------------------------------------------------

    def customer_rows(self, profile_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        ids = sorted(set(profile_ids))
        return {
            str(t.name): [
                dict(r._mapping)
                for r in self.conn.execute(sa.select(t).where(t.c.customer_id.in_(ids)))
            ]
            for t in SERVICE_TABLES
        }

    def erase_customer(self, profile_ids: Iterable[str]) -> dict[str, int]:
        """Delete the customer's rows; the counter cells keep their (anonymous) totals."""
        ids = sorted(set(profile_ids))
        return {
            str(t.name): int(self.conn.execute(t.delete().where(t.c.customer_id.in_(ids))).rowcount)
            for t in SERVICE_TABLES
        }


class ServiceReadModels:
    """Keeps the service read models as conversations open, move, get a reason, a CSAT, and
    breach SLAs; each handler runs in the transaction of the change."""

    def __init__(self) -> None:
        self._opened: weakref.WeakKeyDictionary[UnitOfWork, tuple[Any, ConversationFacts]] = (
            weakref.WeakKeyDictionary()
        )
        """The row a conversation's opening just wrote, with the savepoint it was written
        in: the message that opened it is heard next and needs no query for it."""

    def register(self, bus: MessageBus) -> None:
        bus.subscribe(ConversationOpened, self.opened)
        bus.subscribe(MessageReceived, self.received)
        bus.subscribe(ConversationStatusChanged, self.status_changed)
        bus.subscribe(ContactReasonChanged, self.reason_changed)
        bus.subscribe(CsatRecorded, self.csat_recorded)
        bus.subscribe(ConversationsMerged, self.conversations_merged)
        bus.subscribe(SlaBreached, self.breached)
        bus.subscribe(ProfilesMerged, self.profiles_merged)

    def _adopt(
        self, repo: SqlServiceRepository, uow: UnitOfWork, conversation_id: str, customer_id: str
    ) -> ConversationFacts:
        """A conversation the read model has not seen open (it predates it): its state from
        the conversation itself, written as new."""
        source = repo.source(conversation_id)
        channels: Sequence[str] = (source.channels or []) if source else []
        facts = ConversationFacts(
            id=conversation_id,
            customer_id=customer_id,
            opened_at=source.created_at if source else uow.clock.now(),
            channel=channels[0] if channels else None,
            last_channel=channels[-1] if channels else None,
            reason=source.contact_reason if source else None,
            csat=source.csat_score if source else None,
        )
        repo.save(None, facts)
        return facts

    def _current(
        self, repo: SqlServiceRepository, uow: UnitOfWork, conversation_id: str, customer_id: str
    ) -> ConversationFacts:
        return repo.get(conversation_id) or self._adopt(repo, uow, conversation_id, customer_id)

    def _repeats(self, repo: SqlServiceRepository, customer_id: str) -> None:
        mark_repeats(repo, customer_id)

    def opened(self, event: ConversationOpened, uow: UnitOfWork) -> None:
        repo = SqlServiceRepository(uow.conn)
        if repo.get(event.conversation_id) is not None:
            return
        source = repo.source(event.conversation_id)
        facts = ConversationFacts(
            id=event.conversation_id,
            customer_id=event.customer_id,
            opened_at=source.created_at if source else uow.clock.now(),
            channel=event.channel,
            last_channel=event.channel,
            reason=source.contact_reason if source else None,
        )
        repo.save(None, facts)
        if facts.reason:
            self._repeats(repo, facts.customer_id)
        else:
            self._opened[uow] = (uow.current_savepoint(), facts)

    def _just_opened(self, uow: UnitOfWork, conversation_id: str) -> ConversationFacts | None:
        kept = self._opened.pop(uow, None)
        if kept is None:
            return None
        savepoint, facts = kept
        if facts.id != conversation_id or savepoint is not uow.current_savepoint():
            return None
        return facts

    def received(self, event: MessageReceived, uow: UnitOfWork) -> None:
        repo = SqlServiceRepository(uow.conn)
        facts = self._just_opened(uow, event.conversation_id) or repo.get(event.conversation_id)
        if facts is None:
            facts = self._adopt(repo, uow, event.conversation_id, event.customer_id)
        if facts.channel is None:
            repo.save(facts, replace(facts, channel=event.channel, last_channel=event.channel))
        elif facts.last_channel != event.channel:
            if facts.last_channel is not None:
                repo.add_friction(
                    SWITCH, uow.clock.now().date(), facts.last_channel, event.channel, facts
                )
            repo.save(facts, replace(facts, last_channel=event.channel))

    def status_changed(self, event: ConversationStatusChanged, uow: UnitOfWork) -> None:
        self._opened.pop(uow, None)
        repo = SqlServiceRepository(uow.conn)
        facts = self._current(repo, uow, event.conversation_id, event.customer_id)
        after = resolved(facts, event.new_status, uow.clock.now())
        if after != facts:
            repo.save(facts, after)
            if after.reason:
                self._repeats(repo, after.customer_id)

    def reason_changed(self, event: ContactReasonChanged, uow: UnitOfWork) -> None:
        self._opened.pop(uow, None)
        repo = SqlServiceRepository(uow.conn)
        facts = self._current(repo, uow, event.conversation_id, event.customer_id)
        if facts.reason != event.new_reason:
            repo.save(facts, replace(facts, reason=event.new_reason))
            self._repeats(repo, facts.customer_id)

    def csat_recorded(self, event: CsatRecorded, uow: UnitOfWork) -> None:
        self._opened.pop(uow, None)
        repo = SqlServiceRepository(uow.conn)
        facts = self._current(repo, uow, event.conversation_id, event.customer_id)
        if facts.csat != event.score:
            repo.save(facts, replace(facts, csat=event.score))

    def conversations_merged(self, event: ConversationsMerged, uow: UnitOfWork) -> None:
        self._opened.pop(uow, None)
        repo = SqlServiceRepository(uow.conn)
        facts = repo.get(event.merged_id)
        if facts is not None and not facts.merged:
            repo.save(facts, replace(facts, merged=True))
            self._repeats(repo, facts.customer_id)

    def breached(self, event: SlaBreached, uow: UnitOfWork) -> None:
        self._opened.pop(uow, None)
        repo = SqlServiceRepository(uow.conn)
        facts = self._current(repo, uow, event.conversation_id, event.customer_id)
        repo.add_friction(
            BREACH, event.due_at.date(), facts.channel or UNKNOWN_CHANNEL, event.metric, facts
        )

    def profiles_merged(self, event: ProfilesMerged, uow: UnitOfWork) -> None:
        """The merged customer's conversations go to the survivor, whose repeat contacts are
        worked out again over both histories."""
        self._opened.pop(uow, None)
        repo = SqlServiceRepository(uow.conn)
        if repo.move_customer(event.loser_id, event.survivor_id):
            self._repeats(repo, event.survivor_id)


def mark_repeats(repo: SqlServiceRepository, customer_id: str) -> None:
    """Mark again which of the customer's conversations repeat an earlier one."""
    mine = repo.of_customer(customer_id)
    flagged = repeats(mine)
    for facts in mine:
        if facts.repeat != (facts.id in flagged):
            repo.save(facts, replace(facts, repeat=not facts.repeat))

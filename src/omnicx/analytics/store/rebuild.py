"""Rebuilding the read models from the facts the other domains keep, for `omnicx analytics
rebuild`: after the purchase, contact or channel settings change, or to recover from a loss.

The read models are emptied, then the stored past is replayed in time order, in chunks of
`chunk` events each in a transaction of its own, through the code that keeps them live:

    channel reports   the chunk's events (read as one stream ordered by time), and the
                      conversations' messages, orders and the gate's send decisions of the
                      same span of time, as facts applied by `Analytics.replay` (one
                      set-based pass per chunk, as for an ingest chunk)
    service reports   the conversations opened in the span, as they stand now: the channel
                      of their first inbound message, their reason, resolution and CSAT, a
                      switch for each change of channel between inbound messages, their SLA
                      breaches; repeat contacts worked out per customer
    campaigns         the gate's decisions, deliveries, journey entries and exits, and orders
                      of the span, in time order, handed to the campaign read model's own
                      handlers (a send and an order at the same instant: the send first)

A chunk's span of time ends where the next chunk's first event is; the last one takes
everything later. Every customer is counted under the profile they are now, so what the live
read models keep approximate around a merge comes out as if the customer had always been one
profile, and a fact that arrived after later ones enters the customer's path. What the
rebuild cannot see: a reopened conversation (only its first message is a contact), an age
learnt through a profile update rather than an event, and live facts arriving while it runs
(stop the worker first). Counter rows that have come to count nothing are not recreated.
Running it twice gives the same tables.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import sqlalchemy as sa

from omnicx.analytics.model import CONTACT, INTERACTION, PURCHASE, SENT, AnalyticsConfig, Fact
from omnicx.analytics.rollup import facts_from_rows, seconds_of
from omnicx.analytics.service import ConversationFacts, resolved
from omnicx.analytics.store.repository import SqlAnalyticsRepository
from omnicx.analytics.store.service_campaigns import (
    CampaignReadModels,
    campaign_days,
    campaign_sends,
)
from omnicx.analytics.store.service_desk import (
    BREACH,
    SWITCH,
    UNKNOWN_CHANNEL,
    SqlServiceRepository,
    mark_repeats,
    service_cells,
    service_conversations,
    service_friction,
)
from omnicx.analytics.store.tables import (
    analytics_channel_days,
    analytics_channel_hours,
    analytics_channel_months,
    analytics_cohorts,
    analytics_conversions,
    analytics_customers,
    analytics_economics,
    analytics_paths,
    analytics_seen_months,
)
from omnicx.commerce.messages import OrderPlaced
from omnicx.commerce.store.orders import commerce_orders
from omnicx.conversations.store import SqlConversationRepository, conversations, messages
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.desk.store import desk_sla_events
from omnicx.events.store import events
from omnicx.kernel import Event
from omnicx.kernel.moments import micros
from omnicx.orchestration.messages import (
    JourneyEntered,
    JourneyExited,
    MessageDecided,
    SendDelivered,
)
from omnicx.orchestration.store.journeys import journey_instances
from omnicx.orchestration.store.sends import send_decisions, sends

READ_MODEL_TABLES = (
    analytics_customers,
    analytics_seen_months,
    analytics_channel_days,
    analytics_channel_hours,
    analytics_channel_months,
    analytics_cohorts,
    analytics_paths,
    analytics_conversions,
    analytics_economics,
    service_conversations,
    service_cells,
    service_friction,
    campaign_sends,
    campaign_days,
)
"""Every table the rebuild empties and fills again (QR codes and their scans are facts of
their own, not read models, and stay)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Replay = Callable[[UnitOfWork, list[Fact]], None]
Progress = Callable[[int, int], None]
"""(chunks done, chunks in all)."""


@dataclass(frozen=True)
class Span:
    """One chunk: its events (in time order), and the other domains' facts of
    `[since, until)` (None: unbounded)."""

    events: list[dict[str, Any]]
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class Rebuilt:
    """What a rebuild read, per source."""

    chunks: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count


class ReadModelRebuild:
    def __init__(
        self,
        config: AnalyticsConfig,
        cipher: FieldCipher,
        replay: Replay,
        campaigns: CampaignReadModels,
        *,
        chunk: int,
    ) -> None:
        self.config = config
        self.cipher = cipher
        self.replay = replay
        self.campaigns = campaigns
        self.chunk = chunk

    # -- the plan -----------------------------------------------------------------------------

    def count(self, conn: sa.Connection) -> int:
        """How many chunks the stored events make (one at least)."""
        stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() or 0
        return max(1, -(-int(stored) // self.chunk))

    def event_chunks(self, conn: sa.Connection) -> Iterator[list[dict[str, Any]]]:
        """The stored events in time order, `chunk` at a time, as the rows `EventsStored`
        carries (their sealed values opened), read as one stream."""
        t = events
        select = sa.select(
            t.c.profile_id,
            t.c.source_id,
            t.c.type,
            t.c.event,
            t.c.channel,
            t.c.ts,
            t.c.properties,
            t.c.traits,
        ).order_by(t.c.ts, t.c.id)
        reveal = self.cipher.reveal
        streamed = conn.execution_options(stream_results=True, yield_per=self.chunk)
        for part in streamed.execute(select).partitions(self.chunk):
            yield [
                {
                    "profile_id": r.profile_id,
                    "source_id": r.source_id,
                    "type": r.type,
                    "event": r.event,
                    "channel": r.channel,
                    "ts": r.ts,
                    "properties": reveal(r.properties),
                    "traits": reveal(r.traits),
                }
                for r in part
            ]

    def clear(self, conn: sa.Connection) -> None:
        for table in READ_MODEL_TABLES:
            conn.execute(table.delete())

    # -- one chunk ----------------------------------------------------------------------------

    def run(self, uow: UnitOfWork, span: Span, done: Rebuilt) -> None:
        conn = uow.conn
        canon = _Canon(SqlAnalyticsRepository(conn))
        orders = self._orders(conn, span)
        decisions = self._decisions(conn, span)
        facts = facts_from_rows(span.events, self.config)
        done.add("events", len(span.events))
        facts += self._message_facts(conn, span, done)
        facts += [self._order_fact(order) for order in orders if order.customer_id is not None]
        facts += [
            Fact(d.customer_id, d.channel, micros(d.at), SENT)
            for d in decisions
            if d.outcome == "send" and d.channel is not None
        ]
        done.add("orders", len(orders))
        done.add("decisions", len(decisions))
        self.replay(uow, facts)
        self._conversations(conn, span, canon, done)
        self._campaigns(uow, span, canon, orders, decisions, done)
        done.chunks += 1

    def _message_facts(self, conn: sa.Connection, span: Span, done: Rebuilt) -> list[Fact]:
        """Customers' inbound messages (a contact when the first of its conversation) and
        agents' replies (a message sent, with the reply's agent time)."""
        m = messages
        earlier = messages.alias("earlier")
        first = (
            sa.select(sa.func.min(earlier.c.seq))
            .where(
                earlier.c.conversation_id == m.c.conversation_id,
                earlier.c.direction == "inbound",
            )
            .scalar_subquery()
        )
        select = sa.select(
            m.c.id,
            m.c.customer_id,
            m.c.direction,
            m.c.kind,
            m.c.channel,
            m.c.created_at,
            (m.c.seq == first).label("first"),
        ).where(m.c.direction.in_(("inbound", "outbound")), m.c.customer_id.is_not(None))
        rows = conn.execute(_within(select, m.c.created_at, span).order_by(m.c.created_at)).all()
        facts: list[Fact] = []
        for row in rows:
            ts = micros(row.created_at)
            if row.direction == "outbound":
                seconds = self.config.reply_seconds
                facts.append(Fact(row.customer_id, row.channel, ts, SENT, seconds=seconds))
                continue
            flags = INTERACTION | (CONTACT if row.first else 0)
            seconds = 0
            store = ""
            if row.kind != "message":
                message = SqlConversationRepository(conn, self.cipher).message(row.id)
                details = message.metadata if message is not None else {}
                seconds = seconds_of(details)
                named = details.get("store")
                store = named.strip()[:100] if isinstance(named, str) else ""
            facts.append(Fact(row.customer_id, row.channel, ts, flags, 0, store, seconds))
        done.add("messages", len(rows))
        return facts

    def _orders(self, conn: sa.Connection, span: Span) -> list[Any]:
        o = commerce_orders
        select = sa.select(
            o.c.id, o.c.customer_id, o.c.channel, o.c.location_id, o.c.total, o.c.currency
        ).add_columns(o.c.created_at)
        return list(
            conn.execute(_within(select, o.c.created_at, span).order_by(o.c.created_at, o.c.id))
        )

    def _order_fact(self, order: Any) -> Fact:
        return Fact(
            order.customer_id,
            order.channel,
            micros(order.created_at),
            INTERACTION | PURCHASE,
            amount=order.total if order.currency == self.config.currency else 0,
            store=order.location_id or "",
        )

    def _decisions(self, conn: sa.Connection, span: Span) -> list[Any]:
        d = send_decisions
        select = sa.select(
            d.c.send_id,
            d.c.customer_id,
            d.c.outcome,
            d.c.channel,
            d.c.reason,
            d.c.code,
            d.c.defer_until,
            d.c.origin,
            d.c.at,
        )
        return list(conn.execute(_within(select, d.c.at, span).order_by(d.c.at, d.c.id)))

    # -- the service desk's read model --------------------------------------------------------

    def _conversations(
        self, conn: sa.Connection, span: Span, canon: "_Canon", done: Rebuilt
    ) -> None:
        c = conversations
        select = sa.select(
            c.c.id,
            c.c.customer_id,
            c.c.status,
            c.c.contact_reason,
            c.c.csat_score,
            c.c.channels,
            c.c.resolved_at,
            c.c.closed_at,
            c.c.merged_into,
            c.c.created_at,
        ).where(c.c.customer_id.is_not(None))
        found = conn.execute(
            _within(select, c.c.created_at, span).order_by(c.c.created_at, c.c.id)
        ).all()
        done.add("conversations", len(found))
        if not found:
            return
        ids = [row.id for row in found]
        inbound: dict[str, list[tuple[str, datetime]]] = {}
        m = messages
        for row in conn.execute(
            sa.select(m.c.conversation_id, m.c.channel, m.c.created_at)
            .where(m.c.conversation_id.in_(ids), m.c.direction == "inbound")
            .order_by(m.c.conversation_id, m.c.seq)
        ):
            inbound.setdefault(row.conversation_id, []).append((row.channel, row.created_at))
        breaches: dict[str, list[tuple[str, datetime]]] = {}
        s = desk_sla_events
        for row in conn.execute(
            sa.select(s.c.conversation_id, s.c.metric, s.c.due_at)
            .where(s.c.conversation_id.in_(ids), s.c.kind != "warning")
            .order_by(s.c.conversation_id, s.c.raised_at, s.c.id)
        ):
            breaches.setdefault(row.conversation_id, []).append((row.metric, row.due_at))
        owners = canon.of([row.customer_id for row in found])
        repo = SqlServiceRepository(conn)
        customers: set[str] = set()
        for row in found:
            received = inbound.get(row.id, [])
            facts = _conversation_facts(row, owners[row.customer_id], received)
            repo.save(None, facts)
            for (before, _), (after, at) in pairwise(received):
                if after != before:
                    repo.add_friction(SWITCH, at.date(), before, after, facts)
            for metric, due in breaches.get(row.id, []):
                repo.add_friction(
                    BREACH, due.date(), facts.channel or UNKNOWN_CHANNEL, metric, facts
                )
            if facts.reason:
                customers.add(facts.customer_id)
        for customer_id in sorted(customers):
            mark_repeats(repo, customer_id)

    # -- the campaigns' read model ------------------------------------------------------------

    def _campaigns(
        self,
        uow: UnitOfWork,
        span: Span,
        canon: "_Canon",
        orders: Sequence[Any],
        decisions: Sequence[Any],
        done: Rebuilt,
    ) -> None:
        conn = uow.conn
        owners = canon.of(
            [d.customer_id for d in decisions]
            + [o.customer_id for o in orders if o.customer_id is not None]
        )
        happened: list[tuple[datetime, int, Event]] = [
            (
                d.at,
                0,
                MessageDecided(
                    d.send_id,
                    owners[d.customer_id],
                    d.outcome,
                    d.channel,
                    d.reason,
                    d.code,
                    d.defer_until,
                    d.origin,
                    d.at,
                ),
            )
            for d in decisions
        ]
        s = sends
        delivered = sa.select(s.c.send_id, s.c.customer_id, s.c.channel, s.c.updated_at).where(
            s.c.status == "delivered"
        )
        for row in conn.execute(_within(delivered, s.c.updated_at, span)):
            event = SendDelivered(row.send_id, row.customer_id, row.channel or "", row.updated_at)
            happened.append((row.updated_at, 1, event))
        j = journey_instances
        journey = sa.select(j.c.id, j.c.journey_id, j.c.version, j.c.profile_id)
        for row in conn.execute(
            journey.add_columns(j.c.entered_at).where(*_bounds(j.c.entered_at, span))
        ):
            entered = JourneyEntered(
                row.journey_id, row.version, row.id, row.profile_id, row.entered_at
            )
            happened.append((row.entered_at, 2, entered))
        ended = journey.add_columns(j.c.ended_at, j.c.outcome).where(
            j.c.state == "done", j.c.ended_at.is_not(None), *_bounds(j.c.ended_at, span)
        )
        for row in conn.execute(ended):
            exited = JourneyExited(
                row.journey_id,
                row.version,
                row.id,
                row.profile_id,
                row.ended_at,
                row.outcome or "completed",
            )
            happened.append((row.ended_at, 3, exited))
        for order in orders:
            if order.customer_id is None:
                continue
            placed = OrderPlaced(
                order.id,
                owners[order.customer_id],
                order.channel,
                order.location_id,
                order.total,
                order.currency,
                (),
                order.created_at,
            )
            happened.append((order.created_at, 4, placed))
        happened.sort(key=lambda item: (item[0], item[1]))
        handlers: dict[type[Event], Callable[[Any, UnitOfWork], None]] = {
            MessageDecided: self.campaigns.decided,
            SendDelivered: self.campaigns.delivered,
            JourneyEntered: self.campaigns.entered,
            JourneyExited: self.campaigns.exited,
            OrderPlaced: self.campaigns.order_placed,
        }
        for _, _, fact in happened:
            handlers[type(fact)](fact, uow)
        done.add("campaign_facts", len(happened))


def rebuild(
    uow: Callable[..., Any], rebuilder: ReadModelRebuild, progress: Progress | None = None
) -> Rebuilt:
    """Empty the read models and replay the stored past in time order, a transaction per
    chunk (the first one also empties them, so a failed first chunk leaves the tables as
    they were). A chunk's span of time ends where the next chunk's first event is."""
    done = Rebuilt()
    with uow(write=False) as reader:
        total = rebuilder.count(reader.conn)
        chunks = rebuilder.event_chunks(reader.conn)
        current = next(chunks, [])
        since: datetime | None = None
        while True:
            following = next(chunks, None)
            until = _moment(following[0]["ts"]) if following else None
            with uow() as work:
                if done.chunks == 0:
                    rebuilder.clear(work.conn)
                rebuilder.run(work, Span(current, since, until), done)
                work.commit()
            if progress is not None:
                progress(done.chunks, max(total, done.chunks))
            if following is None:
                return done
            since, current = until, following


# -- helpers ---------------------------------------------------------------------------------


class _Canon:
    """The live profile each profile id stands for now, looked up once per chunk."""

    def __init__(self, repo: SqlAnalyticsRepository) -> None:
        self.repo = repo

    def of(self, profile_ids: Iterable[str]) -> dict[str, str]:
        wanted = set(profile_ids)
        found = self.repo.canonical(wanted)
        return {pid: found.get(pid, pid) for pid in wanted}


def _moment(ts: int) -> datetime:
    return EPOCH + timedelta(microseconds=ts)


def _bounds(column: Any, span: Span) -> list[Any]:
    clauses = []
    if span.since is not None:
        clauses.append(column >= span.since)
    if span.until is not None:
        clauses.append(column < span.until)
    return clauses


def _within(select: Any, column: Any, span: Span) -> Any:
    return select.where(*_bounds(column, span))


def _conversation_facts(
    row: Any, customer_id: str, received: Sequence[tuple[str, datetime]]
) -> ConversationFacts:
    """A conversation's state as the live read model would hold it now."""
    channels: Sequence[str] = row.channels or []
    first = received[0][0] if received else (channels[0] if channels else None)
    last = received[-1][0] if received else (channels[-1] if channels else None)
    facts = ConversationFacts(
        id=row.id,
        customer_id=customer_id,
        opened_at=row.created_at,
        channel=first,
        last_channel=last,
        reason=row.contact_reason,
        csat=row.csat_score,
        merged=row.merged_into is not None,
    )
    if row.resolved_at is not None:
        facts = resolved(facts, "resolved", row.resolved_at)
    if row.status == "closed" and row.closed_at is not None:
        facts = resolved(facts, "closed", row.closed_at)
    elif row.status in ("open", "pending", "snoozed"):
        facts = replace(facts, resolution_seconds=None)
    return facts

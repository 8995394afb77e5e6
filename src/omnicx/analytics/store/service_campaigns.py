"""The campaigns' read models: each journey or broadcast send once, and daily counters per
campaign, version and channel.

    analytics_campaign_sends  send id -> campaign, version, customer, channel, day, delivered
                              (a send counts once however many decisions it took, and an
                              order finds the send it is attributed to here)
    analytics_campaign_days   (campaign, version, day, channel) -> sends, delivered, orders,
                              revenue, and for journeys ('' channel): entered, treated,
                              treated_converted, holdout, holdout_converted

Written by the maestro's events (`MessageDecided`, `SendDelivered`, `JourneyEntered`,
`JourneyExited`) and commerce's `OrderPlaced`, in the transaction that raised them.

The gate decides in batches (a broadcast page is 500 sends), so its sends are written
set-based: each `MessageDecided` only keeps its send for the unit of work, and a private
`_WriteSends` raised with the first of them writes them all at once (one insert per 500
sends, which returns the send ids that were new, then one upsert per counter key). A
reaction that reads the sends (a delivery, an order, a merge) writes what was kept first,
so it sees them as if each had been written as it was heard.
"""

import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from omnicx.analytics.campaigns import COUNTERS, CampaignCounts, campaign_of, held_out
from omnicx.analytics.service import ReportQuery
from omnicx.analytics.store.service_counts import add_counts, move_customers
from omnicx.commerce.messages import OrderPlaced
from omnicx.crypto import FieldCipher
from omnicx.db import Savepoint, UnitOfWork, UtcDateTime, metadata
from omnicx.db.bulk import execute_many
from omnicx.kernel import Event, MessageBus
from omnicx.orchestration.messages import (
    JourneyEntered,
    JourneyExited,
    MessageDecided,
    SendDelivered,
)
from omnicx.orchestration.store.journeys import journey_instances, journeys
from omnicx.orchestration.store.sends import broadcasts
from omnicx.profiles import ProfilesMerged

ID = sa.String(36)
CAMPAIGN = sa.String(80)

campaign_sends = sa.Table(
    "analytics_campaign_sends",
    metadata,
    sa.Column("send_id", sa.String(200), primary_key=True),
    sa.Column("campaign", CAMPAIGN, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("customer_id", ID, nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=False),
    sa.Column("delivered", sa.Boolean(), nullable=False),
    sa.Index("ix_analytics_campaign_sends_customer_id_sent_at", "customer_id", "sent_at"),
)

campaign_days = sa.Table(
    "analytics_campaign_days",
    metadata,
    sa.Column("campaign", CAMPAIGN, primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("channel", sa.String(40), primary_key=True),
    *(
        sa.Column(name, sa.BigInteger() if name == "revenue" else sa.Integer(), nullable=False)
        for name in COUNTERS
    ),
    sa.Index("ix_analytics_campaign_days_day", "day"),
)
"""Counts of one campaign version on one UTC day; `channel` '' holds the journey instances'
counts (entered, treated, holdout, conversions), which belong to no channel."""


class CampaignSend(NamedTuple):
    """A "send" decision of a campaign, as its row in `analytics_campaign_sends`."""

    send_id: str
    campaign: str
    version: int
    customer_id: str
    channel: str
    day: date
    sent_at: datetime


_SEND_COLUMNS = (*CampaignSend._fields, "delivered")
_SENDS_CHUNK = 500
_COUNT_SENDS = (
    f"INSERT INTO {campaign_days.name} (campaign, version, day, channel, "  # noqa: S608
    f"{', '.join(COUNTERS)}) VALUES (?, ?, ?, ?, {', '.join('?' * len(COUNTERS))}) "
    "ON CONFLICT (campaign, version, day, channel) "
    f"DO UPDATE SET sends = {campaign_days.name}.sends + excluded.sends"
)
"""Adds to the `sends` counter of a key (the other counters start at zero)."""


@dataclass(frozen=True)
class CampaignTotals:
    counts: dict[tuple[str, int], CampaignCounts]
    sends_by_channel: dict[tuple[str, int, str], int]
    names: dict[str, str]


class SqlCampaignRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def count(self, campaign: str, version: int, day: date, channel: str, **counts: int) -> None:
        add_counts(
            self.conn,
            campaign_days,
            {"campaign": campaign, "version": version, "day": day, "channel": channel},
            {name: counts.get(name, 0) for name in COUNTERS},
        )

    def add_sends(self, sends: Sequence[CampaignSend]) -> None:
        """Record each send id once (its first decision in `sends` wins, and one recorded
        before stays) and count the new ones per campaign, version, day and channel."""
        first: dict[str, CampaignSend] = {}
        for send in sends:
            first.setdefault(send.send_id, send)
        ordered = sorted(first.values())
        conn = self.conn
        dialect = conn.dialect
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        day = _binder(campaign_sends.c.day, dialect)
        at = _binder(campaign_sends.c.sent_at, dialect)
        no = _binder(campaign_sends.c.delivered, dialect)(False)
        row = f"({', '.join([mark] * len(_SEND_COLUMNS))})"
        new: set[str] = set()
        for start in range(0, len(ordered), _SENDS_CHUNK):
            part = ordered[start : start + _SENDS_CHUNK]
            sql = (
                f"INSERT INTO {campaign_sends.name} ({', '.join(_SEND_COLUMNS)}) "  # noqa: S608
                f"VALUES {', '.join([row] * len(part))} "
                "ON CONFLICT DO NOTHING RETURNING send_id"
            )
            times = {t: at(t) for t in {s.sent_at for s in part}}
            params = tuple(
                value for s in part for value in (*s[:5], day(s.day), times[s.sent_at], no)
            )
            new.update(r[0] for r in conn.exec_driver_sql(sql, params))
        counts: dict[tuple[str, int, date, str], int] = {}
        for send in ordered:
            if send.send_id in new:
                key = (send.campaign, send.version, send.day, send.channel)
                counts[key] = counts.get(key, 0) + 1
        execute_many(
            conn,
            _COUNT_SENDS,
            [
                (campaign, version, day(on), channel, *(n if c == "sends" else 0 for c in COUNTERS))
                for (campaign, version, on, channel), n in sorted(counts.items())
            ],
        )

    def send(self, send_id: str) -> Any:
        t = campaign_sends
        return self.conn.execute(sa.select(t).where(t.c.send_id == send_id)).first()

    def mark_delivered(self, send_id: str) -> None:
        t = campaign_sends
        self.conn.execute(t.update().where(t.c.send_id == send_id).values(delivered=True))

    def last_send(self, customer_id: str, since: Any, until: Any) -> Any:
        t = campaign_sends
        return self.conn.execute(
            sa.select(t)
            .where(t.c.customer_id == customer_id, t.c.sent_at >= since, t.c.sent_at <= until)
            .order_by(t.c.sent_at.desc(), t.c.send_id.desc())
            .limit(1)
        ).first()

    def variables(self, instance_id: str) -> Mapping[str, Any]:
        t = journey_instances
        row = self.conn.execute(sa.select(t.c.variables).where(t.c.id == instance_id)).first()
        found = self.cipher.reveal(row[0]) if row else None
        return found if isinstance(found, dict) else {}

    def move_customer(self, loser_id: str, survivor_id: str) -> None:
        move_customers(self.conn, campaign_sends, loser_id, survivor_id)

    # -- reports -----------------------------------------------------------------------------

    def totals(self, query: ReportQuery) -> CampaignTotals:
        t = campaign_days
        select = (
            sa.select(
                t.c.campaign,
                t.c.version,
                t.c.channel,
                *(sa.func.sum(t.c[name]) for name in COUNTERS),
            )
            .where(t.c.day >= query.start, t.c.day < query.end)
            .group_by(t.c.campaign, t.c.version, t.c.channel)
        )
        if query.channel is not None:
            select = select.where(t.c.channel.in_([query.channel, ""]))
        counts: dict[tuple[str, int], CampaignCounts] = {}
        by_channel: dict[tuple[str, int, str], int] = {}
        for row in self.conn.execute(select):
            found = CampaignCounts(*(int(v or 0) for v in row[3:]))
            counts.setdefault((row.campaign, row.version), CampaignCounts()).add(found)
            if row.channel:
                by_channel[(row.campaign, row.version, row.channel)] = found.sends
        return CampaignTotals(counts, by_channel, self.names({c for c, _ in counts}))

    def names(self, campaigns: Iterable[str]) -> dict[str, str]:
        ids: dict[str, set[str]] = {"journey": set(), "broadcast": set()}
        for campaign in campaigns:
            kind, _, ident = campaign.partition(":")
            ids.setdefault(kind, set()).add(ident)
        found: dict[str, str] = {}
        for kind, table in (("journey", journeys), ("broadcast", broadcasts)):
            if ids[kind]:
                rows = self.conn.execute(
                    sa.select(table.c.id, table.c.name).where(table.c.id.in_(sorted(ids[kind])))
                )
                found.update({f"{kind}:{r.id}": r.name for r in rows})
        return found

    # -- privacy -----------------------------------------------------------------------------

    def customer_rows(self, profile_ids: Iterable[str]) -> list[dict[str, Any]]:
        t = campaign_sends
        rows = self.conn.execute(sa.select(t).where(t.c.customer_id.in_(sorted(set(profile_ids)))))
        return [dict(r._mapping) for r in rows]

    def erase_customer(self, profile_ids: Iterable[str]) -> int:
        t = campaign_sends
        deleted = self.conn.execute(t.delete().where(t.c.customer_id.in_(sorted(set(profile_ids)))))
        return int(deleted.rowcount)


def _binder(column: sa.Column[Any], dialect: sa.Dialect) -> Any:
    """The conversion SQLAlchemy applies to a value of `column` for the driver."""
    processor = column.type._cached_bind_processor(dialect)
    return processor if processor is not None else _same


def _same(value: Any) -> Any:
    return value


@dataclass(eq=False)
class _Kept:
    """Sends heard in one unit of work and not written yet, with the savepoint they were
    heard in: should it roll back, they go with it."""

    savepoint: Savepoint | None
    sends: list[CampaignSend] = field(default_factory=list)

    def live(self) -> bool:
        return self.savepoint is None or self.savepoint.is_active


@dataclass(frozen=True)
class _WriteSends(Event):
    """Write the sends this unit of work kept (raised with the first one kept)."""


class CampaignReadModels:
    """Counts sends, deliveries, journey outcomes and attributed orders as they happen."""

    def __init__(self, cipher: FieldCipher, *, attribution_days: int, currency: str) -> None:
        self.cipher = cipher
        self.window = timedelta(days=attribution_days)
        self.currency = currency
        self._kept: weakref.WeakKeyDictionary[UnitOfWork, list[_Kept]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def register(self, bus: MessageBus) -> None:
        bus.subscribe(MessageDecided, self.decided)
        bus.subscribe(_WriteSends, self.write_sends)
        bus.subscribe(SendDelivered, self.delivered)
        bus.subscribe(JourneyEntered, self.entered)
        bus.subscribe(JourneyExited, self.exited)
        bus.subscribe(OrderPlaced, self.order_placed)
        bus.subscribe(ProfilesMerged, self.profiles_merged)

    def repo(self, uow: UnitOfWork) -> SqlCampaignRepository:
        return SqlCampaignRepository(uow.conn, self.cipher)

    def decided(self, event: MessageDecided, uow: UnitOfWork) -> None:
        if event.outcome != "send" or event.channel is None:
            return
        campaign = campaign_of(event.origin)
        if campaign is None:
            return
        at = event.at
        send = CampaignSend(
            event.send_id, *campaign, event.customer_id, event.channel, at.date(), at
        )
        savepoint = uow.current_savepoint()
        with self._lock:
            kept = self._kept.get(uow)
            if kept is None:
                kept = self._kept[uow] = []
            if not kept or kept[-1].savepoint is not savepoint or not kept[-1].live():
                kept.append(_Kept(savepoint))
                uow.raise_event(_WriteSends())
            kept[-1].sends.append(send)

    def write_sends(self, event: _WriteSends, uow: UnitOfWork) -> None:
        self.write_kept(uow)

    def write_kept(self, uow: UnitOfWork) -> None:
        """Write the sends kept in this unit of work (the first `_WriteSends` finds them all,
        the others nothing); those of a savepoint rolled back since are dropped."""
        with self._lock:
            kept = self._kept.pop(uow, None)
        if kept:
            sends = [send for part in kept if part.live() for send in part.sends]
            if sends:
                self.repo(uow).add_sends(sends)

    def delivered(self, event: SendDelivered, uow: UnitOfWork) -> None:
        self.write_kept(uow)
        repo = self.repo(uow)
        send = repo.send(event.send_id)
        if send is None or send.delivered:
            return
        repo.mark_delivered(event.send_id)
        repo.count(send.campaign, send.version, send.day, send.channel, delivered=1)

    def entered(self, event: JourneyEntered, uow: UnitOfWork) -> None:
        self.repo(uow).count(
            f"journey:{event.journey_id}", event.version, event.at.date(), "", entered=1
        )

    def exited(self, event: JourneyExited, uow: UnitOfWork) -> None:
        repo = self.repo(uow)
        converted = int(event.reason == "converted")
        if held_out(repo.variables(event.instance_id)):
            counts = {"holdout": 1, "holdout_converted": converted}
        else:
            counts = {"treated": 1, "treated_converted": converted}
        repo.count(f"journey:{event.journey_id}", event.version, event.at.date(), "", **counts)

    def order_placed(self, event: OrderPlaced, uow: UnitOfWork) -> None:
        if event.customer_id is None:
            return
        self.write_kept(uow)
        repo = self.repo(uow)
        send = repo.last_send(event.customer_id, event.at - self.window, event.at)
        if send is None:
            return
        revenue = event.total if event.currency == self.currency else 0
        repo.count(send.campaign, send.version, send.day, send.channel, orders=1, revenue=revenue)

    def profiles_merged(self, event: ProfilesMerged, uow: UnitOfWork) -> None:
        """The merged customer's sends go to the survivor, so later orders find them."""
        self.write_kept(uow)
        self.repo(uow).move_customer(event.loser_id, event.survivor_id)

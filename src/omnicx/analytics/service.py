"""Service reports, pure: channel x contact reason, friction, and availability gaps.

    channel-reasons    per channel of first contact and contact reason: conversations, how
                       many were resolved and their mean resolution time, CSAT (mean, count)
    friction           per channel: repeat contacts on the same reason within 7 days, channel
                       switches inside a conversation (from -> to), SLA breaches
    availability-gaps  commerce's gaps (an item not to be had on a channel or at a location)
                       with the requests counted in the period and the demand they lost

Every conversation has one state row (`ConversationFacts`) kept by the read model as its
facts arrive; what the row adds to the report cells (`contribution`) is taken out and put
back whenever the row changes, so a reason set late or a CSAT given days after resolution
lands in the cell of the day the conversation opened.

A conversation counts on the UTC day it opened, on the channel of its first inbound message.
Its resolution time runs from opening to its latest resolution (or its closing, when it was
closed without being resolved); a reopened conversation is unresolved until it is resolved
again. A conversation merged into another leaves the cells (its messages now belong to the
survivor).
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

from omnicx.commerce.catalog import GapsReport
from omnicx.commerce.model import Gap
from omnicx.kernel import Invalid

REPEAT_WINDOW = timedelta(days=7)
"""A new conversation on the same reason this soon after another opened or ended repeats it."""
MAX_DAYS = 731
"""The longest period a report covers."""
CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LOCATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
FILTERS = ("channel", "segment", "store")


# -- the question a report answers -------------------------------------------------------------


@dataclass(frozen=True)
class ReportQuery:
    """A period of UTC days [start, end) and the filters a report was asked for."""

    start: date
    end: date
    channel: str | None = None
    segment: str | None = None
    store: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def report_query(
    start: date | None,
    end: date | None,
    *,
    today: date,
    report: str,
    supports: Iterable[str] = FILTERS,
    channel: str | None = None,
    segment: str | None = None,
    store: str | None = None,
    default_days: int = 30,
) -> ReportQuery:
    """Check the parameters of a report: `to` defaults to tomorrow (today included), `from` to
    `default_days` before `to`; a filter the report cannot apply is refused by name."""
    end = end or today + timedelta(days=1)
    start = start or end - timedelta(days=default_days)
    if start >= end:
        raise Invalid("invalid_period", "from must be a day before to", "from")
    if (end - start).days > MAX_DAYS:
        raise Invalid("invalid_period", f"a period is at most {MAX_DAYS} days", "to")
    given = {"channel": channel, "segment": segment, "store": store}
    allowed = set(supports)
    for name, value in given.items():
        if value is not None and name not in allowed:
            raise Invalid(
                "unsupported_parameter", f"the {report} report does not take {name}", name
            )
    if channel is not None and not CHANNEL.match(channel):
        raise Invalid(
            "invalid_channel", "channel is a lower-case name such as web, store or sms", "channel"
        )
    if segment is not None and not SEGMENT.match(segment):
        raise Invalid("invalid_segment", "segment is a segment id", "segment")
    if store is not None and not LOCATION.match(store):
        raise Invalid("invalid_store", "store is a location code", "store")
    return ReportQuery(start, end, channel, segment, store)


# -- one conversation and what it adds to the cells --------------------------------------------


@dataclass(frozen=True)
class ConversationFacts:
    """The read model's state of one conversation."""

    id: str
    customer_id: str
    opened_at: datetime
    channel: str | None = None
    """Of its first inbound message."""
    last_channel: str | None = None
    """Of its latest inbound message (a message on another channel is a switch)."""
    reason: str | None = None
    ended_at: datetime | None = None
    """Its latest resolution, or its closing when it was closed without one."""
    resolution_seconds: int | None = None
    """Opening to `ended_at` while it stays resolved or closed; None while it is open."""
    csat: int | None = None
    repeat: bool = False
    merged: bool = False

    @property
    def day(self) -> date:
        return self.opened_at.date()


@dataclass
class Counts:
    """What conversations add to one cell (or a whole channel)."""

    conversations: int = 0
    resolved: int = 0
    resolution_seconds: int = 0
    csat_count: int = 0
    csat_sum: int = 0
    repeats: int = 0

    def add(self, other: "Counts", sign: int = 1) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + sign * getattr(other, f.name))

    def values(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __bool__(self) -> bool:
        return any(self.values().values())


CellKey = tuple[date, str, str]
"""(day, channel, reason); '' stands for no reason."""


def contribution(facts: ConversationFacts | None) -> tuple[CellKey, Counts] | None:
    """The cell a conversation counts in and what it adds there; None when it counts nowhere
    (merged away, or no inbound message seen yet)."""
    if facts is None or facts.merged or facts.channel is None:
        return None
    resolved = facts.resolution_seconds is not None
    return (facts.day, facts.channel, facts.reason or ""), Counts(
        conversations=1,
        resolved=int(resolved),
        resolution_seconds=facts.resolution_seconds or 0,
        csat_count=int(facts.csat is not None),
        csat_sum=facts.csat or 0,
        repeats=int(facts.repeat),
    )


def cell_deltas(
    changes: Iterable[tuple[ConversationFacts | None, ConversationFacts | None]],
) -> dict[CellKey, Counts]:
    """What to add to each cell for conversations that went from `before` to `after`; cells
    that net to nothing are left out."""
    deltas: dict[CellKey, Counts] = {}
    for before, after in changes:
        for facts, sign in ((before, -1), (after, 1)):
            found = contribution(facts)
            if found is not None:
                key, counts = found
                deltas.setdefault(key, Counts()).add(counts, sign)
    return {key: counts for key, counts in deltas.items() if counts}


def resolved(facts: ConversationFacts, status: str, at: datetime) -> ConversationFacts:
    """The conversation after a status change to `status` at `at`."""
    if status == "resolved" or (status == "closed" and facts.resolution_seconds is None):
        seconds = max(0, int((at - facts.opened_at).total_seconds()))
        return replace(facts, ended_at=at, resolution_seconds=seconds)
    if status in ("open", "pending", "snoozed"):
        return replace(facts, resolution_seconds=None)
    return facts


def repeats(conversations: Sequence[ConversationFacts]) -> set[str]:
    """The ids of the customer's conversations that repeat an earlier one: same reason, and
    the earlier one opened, or ended, within `REPEAT_WINDOW` before this one opened."""
    found: set[str] = set()
    ordered = sorted(
        (c for c in conversations if c.reason and not c.merged), key=lambda c: (c.opened_at, c.id)
    )
    for index, later in enumerate(ordered):
        for earlier in ordered[:index]:
            if earlier.reason != later.reason:
                continue
            gap_open = later.opened_at - earlier.opened_at
            ended = earlier.ended_at
            if gap_open <= REPEAT_WINDOW or (
                ended is not None
                and ended <= later.opened_at
                and later.opened_at - ended <= REPEAT_WINDOW
            ):
                found.add(later.id)
                break
    return found


# -- reports -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonCell:
    channel: str
    reason: str | None
    conversations: int
    resolved: int
    mean_resolution_seconds: float | None
    csat_mean: float | None
    csat_count: int


def _mean(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


def channel_reasons(cells: Mapping[tuple[str, str], Counts]) -> list[ReasonCell]:
    """The cells of the report, channel by channel, most conversations first."""
    rows = [
        ReasonCell(
            channel=channel,
            reason=reason or None,
            conversations=c.conversations,
            resolved=c.resolved,
            mean_resolution_seconds=_mean(c.resolution_seconds, c.resolved),
            csat_mean=_mean(c.csat_sum, c.csat_count),
            csat_count=c.csat_count,
        )
        for (channel, reason), c in cells.items()
        if c.conversations
    ]
    rows.sort(key=lambda r: (r.channel, -r.conversations, r.reason is None, r.reason or ""))
    return rows


@dataclass(frozen=True)
class FrictionRow:
    channel: str
    conversations: int
    repeat_contacts: int
    repeat_rate: float | None
    """Repeat contacts per conversation opened on the channel."""
    switches_out: int
    """Consecutive inbound messages of one conversation that moved from this channel."""
    switches_in: int
    sla_breaches: int


@dataclass(frozen=True)
class Switch:
    from_channel: str
    to_channel: str
    count: int


@dataclass(frozen=True)
class Breach:
    channel: str
    metric: str
    count: int


@dataclass(frozen=True)
class Friction:
    rows: list[FrictionRow]
    switches: list[Switch]
    breaches: list[Breach]


def friction(
    conversations: Mapping[str, Counts],
    switches: Mapping[tuple[str, str], int],
    breaches: Mapping[tuple[str, str], int],
    channel: str | None = None,
) -> Friction:
    """Per channel: conversations and repeats (from `conversations`, per channel), switches
    ((from, to) -> count) and breaches ((channel, metric) -> count). With `channel`, a switch
    shows when either end is that channel."""
    out: dict[str, int] = {}
    into: dict[str, int] = {}
    for (source, target), count in switches.items():
        out[source] = out.get(source, 0) + count
        into[target] = into.get(target, 0) + count
    breached: dict[str, int] = {}
    for (on, _), count in breaches.items():
        breached[on] = breached.get(on, 0) + count
    names = {*conversations, *out, *into, *breached}
    if channel is not None:
        names &= {channel}
    rows = []
    for name in sorted(names):
        counts = conversations.get(name, Counts())
        rows.append(
            FrictionRow(
                channel=name,
                conversations=counts.conversations,
                repeat_contacts=counts.repeats,
                repeat_rate=(
                    round(counts.repeats / counts.conversations, 4)
                    if counts.conversations
                    else None
                ),
                switches_out=out.get(name, 0),
                switches_in=into.get(name, 0),
                sla_breaches=breached.get(name, 0),
            )
        )
    pairs = [
        Switch(source, target, count)
        for (source, target), count in switches.items()
        if channel is None or channel in (source, target)
    ]
    pairs.sort(key=lambda s: (-s.count, s.from_channel, s.to_channel))
    missed = [
        Breach(on, metric, count)
        for (on, metric), count in breaches.items()
        if channel is None or on == channel
    ]
    missed.sort(key=lambda b: (b.channel, b.metric))
    return Friction(rows, pairs, missed)


# -- availability gaps -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelDemand:
    """Requests counted on a channel for items that could not be had, and their value."""

    channel: str
    requests: int
    lost_value: int
    currency: str


@dataclass(frozen=True)
class AvailabilityGaps:
    start: date
    end: date
    currency: str
    gaps: list[Gap]
    channels: list[ChannelDemand] = field(default_factory=list)
    searches: list[dict[str, Any]] = field(default_factory=list)
    """Searches that named no SKU: query, channel, count."""


def availability_gaps(
    report: GapsReport, query: ReportQuery, currency: str, locations: Iterable[str] = ()
) -> AvailabilityGaps:
    """Commerce's gaps report with demand counted over `query`'s period, kept to its channel
    and store (`store` keeps gaps at that location; `locations` are the codes the store
    filter may name)."""
    if query.store is not None and query.store not in set(locations):
        raise Invalid("unknown_store", f"no location {query.store}", "store")
    gaps = [
        g
        for g in report.gaps
        if query.channel in (None, g.channel) and query.store in (None, g.location_id)
    ]
    totals: dict[str, list[int]] = {}
    for gap in gaps:
        entry = totals.setdefault(gap.channel, [0, 0])
        entry[0] += gap.demand
        if gap.lost_value is not None and gap.lost_value.currency == currency:
            entry[1] += gap.lost_value.amount
    channels = [
        ChannelDemand(channel, requests, value, currency)
        for channel, (requests, value) in sorted(totals.items())
    ]
    searches = [
        {"query": s.query, "channel": s.channel, "count": s.count}
        for s in report.searches
        if query.channel in (None, s.channel) and query.store is None
    ]
    return AvailabilityGaps(query.start, query.end, currency, gaps, channels, searches)

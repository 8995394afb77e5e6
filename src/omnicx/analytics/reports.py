"""The channel reports, pure: which parameters each takes, and the report built from the
sums the read models hold (never from raw events).

    channel-usage  customers and interactions per channel per day, week or month
    propensity     the share of customers using 1, 2, 3 or 4+ channels, overall and by age band
    paths          the commonest channel sequences before a purchase or a contact (and a Sankey)
    conversions    online-to-offline and offline-to-online purchases within N days
    economics      revenue, orders and the cost to serve per channel
    clv            revenue per customer by first channel and by number of channels used
    heatmap        interactions per channel by weekday and hour
"""

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnicx.analytics.model import (
    AGE_BANDS,
    DIRECTIONS,
    OFFLINE_TO_ONLINE,
    ONLINE_TO_OFFLINE,
    OUTCOMES,
    PATH_SEPARATOR,
    AnalyticsConfig,
    channels_bucket,
    date_of,
)
from omnicx.kernel import Invalid

MAX_DAYS = 731
"""The longest period a report covers."""
DEFAULT_DAYS = 30
MAX_PATHS = 100
CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LOCATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
BUCKETS = ("day", "week", "month")
CHANNEL_COUNTS = ("1", "2", "3", "4+")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

REPORTS: dict[str, frozenset[str]] = {
    "channel-usage": frozenset({"channel", "bucket"}),
    "propensity": frozenset({"segment"}),
    "paths": frozenset({"channel", "outcome", "limit"}),
    "conversions": frozenset({"channel", "store"}),
    "economics": frozenset({"channel", "store"}),
    "clv": frozenset({"segment"}),
    "heatmap": frozenset({"channel", "tz"}),
}
"""Each report and the parameters it takes besides `from`, `to` and `format`."""
COHORT_REPORTS = frozenset({"propensity", "clv"})
"""Reports over customers first seen in the period (all customers when no period is given)."""


@dataclass(frozen=True)
class UsageQuery:
    """A report's question: a period of UTC days [start, end) and its parameters. The cohort
    reports may leave either end open."""

    report: str
    start: date | None
    end: date | None
    channel: str | None = None
    segment: str | None = None
    store: str | None = None
    bucket: str = "day"
    outcome: str = "purchase"
    limit: int = 10
    zone: str = "UTC"

    @property
    def days(self) -> tuple[int | None, int | None]:
        """The period as day numbers."""
        return (_day(self.start), _day(self.end))


def _day(moment: date | None) -> int | None:
    return None if moment is None else (moment - date(1970, 1, 1)).days


def usage_query(
    report: str,
    *,
    today: date,
    start: date | None = None,
    end: date | None = None,
    channel: str | None = None,
    segment: str | None = None,
    store: str | None = None,
    bucket: str | None = None,
    outcome: str | None = None,
    limit: int | None = None,
    zone: str | None = None,
) -> UsageQuery:
    """Check a report's parameters. `to` defaults to tomorrow (today included) and `from` to
    30 days before `to`, except in the cohort reports, where a missing end stays open. A
    parameter the report does not take is refused by name."""
    supported = REPORTS[report]
    given = {
        "channel": channel,
        "segment": segment,
        "store": store,
        "bucket": bucket,
        "outcome": outcome,
        "limit": limit,
        "tz": zone,
    }
    for name, value in given.items():
        if value is not None and name not in supported:
            raise Invalid(
                "unsupported_parameter", f"the {report} report does not take {name}", name
            )
    if report not in COHORT_REPORTS:
        end = end or today + timedelta(days=1)
        start = start or end - timedelta(days=DEFAULT_DAYS)
    if start is not None and end is not None:
        if start >= end:
            raise Invalid("invalid_period", "from must be a day before to", "from")
        if (end - start).days > MAX_DAYS and report not in COHORT_REPORTS:
            raise Invalid("invalid_period", f"a period is at most {MAX_DAYS} days", "to")
    if channel is not None and not CHANNEL.match(channel):
        raise Invalid(
            "invalid_channel", "channel is a lower-case name such as web, store or sms", "channel"
        )
    if segment is not None and not SEGMENT.match(segment):
        raise Invalid("invalid_segment", "segment is a segment id", "segment")
    if store is not None and not LOCATION.match(store):
        raise Invalid("invalid_store", "store is a location code", "store")
    if bucket is not None and bucket not in BUCKETS:
        raise Invalid("invalid_bucket", "bucket is day, week or month", "bucket")
    if outcome is not None and outcome not in OUTCOMES:
        raise Invalid("invalid_outcome", "outcome is purchase or contact", "outcome")
    if limit is not None and not 1 <= limit <= MAX_PATHS:
        raise Invalid("invalid_limit", f"limit is between 1 and {MAX_PATHS}", "limit")
    if zone is not None:
        _zone(zone)
    return UsageQuery(
        report,
        start,
        end,
        channel=channel,
        segment=segment,
        store=store,
        bucket=bucket or "day",
        outcome=outcome or "purchase",
        limit=limit or 10,
        zone=zone or "UTC",
    )


def _zone(name: str) -> ZoneInfo:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise Invalid("invalid_tz", "tz is an IANA time zone such as America/Sao_Paulo", "tz")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            "invalid_tz", "tz is an IANA time zone such as America/Sao_Paulo", "tz"
        ) from None


def minor(amount: Decimal, config: AnalyticsConfig) -> int:
    """An amount in units of the currency, in whole minor units."""
    return int((amount * config.minor_units).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def ratio(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


# -- reports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """What every report has: its name and period; `table` gives its CSV."""

    report: str
    start: date | None
    end: date | None

    def table(self) -> tuple[Sequence[str], list[Sequence[Any]]]:
        raise NotImplementedError


@dataclass(frozen=True)
class UsageRow:
    bucket: date
    channel: str
    interactions: int
    new_customers: int
    """Customers whose first interaction ever was on this channel."""
    new_to_channel: int
    """Customers who used this channel for the first time."""
    customers: int | None
    """Distinct customers on the channel in the month (month buckets only)."""


@dataclass(frozen=True)
class UsageTotal:
    channel: str
    interactions: int
    new_customers: int
    new_to_channel: int


@dataclass(frozen=True)
class ChannelUsage(Report):
    bucket: str
    series: list[UsageRow]
    totals: list[UsageTotal]

    def table(self) -> tuple[Sequence[str], list[Sequence[Any]]]:
        header = (
            "bucket",
            "channel",
            "interactions",
            "new_customers",
            "new_to_channel",
            "customers",
        )
        rows: list[Sequence[Any]] = [
            (
                r.bucket.isoformat(),
                r.channel,
                r.interactions,
                r.new_customers,
                r.new_to_channel,
                "" if r.customers is None else r.customers,
            )
            for r in self.series
        ]
        return header, rows


def bucket_start(moment: date, bucket: str) -> date:
    if bucket == "week":
        return moment - timedelta(days=moment.weekday())
    if bucket == "month":
        return moment.replace(day=1)
    return moment


def channel_usage(
    query: UsageQuery,
    days: Iterable[Sequence[Any]],
    months: Iterable[Sequence[Any]],
) -> ChannelUsage:
    """From (day, channel, interactions, new customers, new to channel) rows and, for month
    buckets, (YYYYMM, channel, distinct customers) rows."""
    cells: dict[tuple[date, str], list[int]] = {}
    totals: dict[str, list[int]] = {}
    for day, channel, interactions, new, adopted in days:
        key = (bucket_start(date_of(int(day)), query.bucket), str(channel))
        cell = cells.setdefault(key, [0, 0, 0])
        for target in (cell, totals.setdefault(str(channel), [0, 0, 0])):
            target[0] += int(interactions)
            target[1] += int(new)
            target[2] += int(adopted)
    distinct: dict[tuple[date, str], int] = {}
    if query.bucket == "month":
        for month, channel, customers in months:
            first = date(int(month) // 100, int(month) % 100, 1)
            distinct[(first, str(channel))] = int(customers)
            cells.setdefault((first, str(channel)), [0, 0, 0])
    series = [
        UsageRow(
            bucket=moment,
            channel=channel,
            interactions=v[0],
            new_customers=v[1],
            new_to_channel=v[2],
            customers=distinct.get((moment, channel), 0) if query.bucket == "month" else None,
        )
        for (moment, channel), v in sorted(cells.items())
    ]
    return ChannelUsage(
        report=query.report,
        start=query.start,
        end=query.end,
        bucket=query.bucket,
        series=series,
        totals=[
            UsageTotal(channel, v[0], v[1], v[2])
            for channel, v in sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
        ],
    )


@dataclass(frozen=True)
class Share:
    channels: str
    """1, 2, 3 or 4+"""
    customers: int
    share: float


@dataclass(frozen=True)
class BandShare:
    age_band: str
    channels: str
    customers: int
    share: float
    """Of the age band's customers."""


@dataclass(frozen=True)
class Propensity(Report):
    segment: str | None
    customers: int
    overall: list[Share]
    by_age_band: list[BandShare]

    def table(self) -> tuple[Sequence[str], list[Sequence[Any]]]:
        rows: list[Sequence[Any]] = [
            ("all", s.channels, s.customers, s.share) for s in self.overall
        ]
        rows += [(b.age_band, b.channels, b.customers, b.share) for b in self.by_age_band]
        return ("age_band", "channels", "customers", "share"), rows


def propensity(query: UsageQuery, cohorts: Iterable[Sequence[Any]]) -> Propensity:
    """From (first channel, channels used, age band, customers, ...) rows."""
    overall = dict.fromkeys(CHANNEL_COUNTS, 0)
    bands: dict[str, dict[str, int]] = {}
    for _, count, band, customers, *_ in cohorts:
        if int(count) <= 0:
            continue
        bucket = channels_bucket(int(count))
        overall[bucket] += int(customers)
        per_band = bands.setdefault(str(band), dict.fromkeys(CHANNEL_COUNTS, 0))
        per_band[bucket] += int(customers)
    total = sum(overall.values())
    order = {band: n for n, band in enumerate(AGE_BANDS)}
    return Propensity(
        report=query.report,
        start=query.start,
        end=query.end,
        segment=query.segment,
        customers=total,
        overall=[Share(k, v, ratio(v, total)) for k, v in overall.items()],
        by_age_band=[
            BandShare(band, k, v, ratio(v, sum(counts.values())))
            for band, counts in sorted(bands.items(), key=lambda item: order.get(item[0], 99))
            for k, v in counts.items()
        ],
    )


@dataclass(frozen=True)
class PathRow:
    path: list[str]
    times: int
    share: float


@dataclass(frozen=True)
class SankeyNode:
    id: str
    label: str
    step: int
    """1 for a path's first channel; the outcome's node is one step past the longest path."""


@dataclass(frozen=True)
class SankeyLink:
    source: str
    target: str
    value: int


@dataclass(frozen=True)
class Sankey:
    nodes: list[SankeyNode]
    links: list[SankeyLink]


@dataclass(frozen=True)
class Paths(Report):
    outcome: str
    total: int
    paths: list[PathRow]
    sankey: Sankey

    def table(self) -> tuple[Sequence[str], list[Sequence[Any]]]:
        return ("path", "times", "share"), [
            (" > ".join(p.path), p.times, p.share) for p in self.paths
        ]


def paths(query: UsageQuery, counted: Iterable[Sequence[Any]]) -> Paths:
    """From (path, times) rows; with a channel, the paths that end on it."""
    totals: dict[str, int] = {}
    for path, times in counted:
        steps = str(path).split(PATH_SEPARATOR)
        if query.channel is not None and steps[-1] != query.channel:
            continue
        totals[str(path)] = totals.get(str(path), 0) + int(times)
    total = sum(totals.values())
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    links: dict[tuple[str, str], int] = {}
    nodes: dict[str, SankeyNode] = {}
    longest = max((len(p.split(PATH_SEPARATOR)) for p in totals), default=0)
    end = SankeyNode(query.outcome, query.outcome, longest + 1)
    for path, times in ranked:
        steps = path.split(PATH_SEPARATOR)
        ids = []
        for n, channel in enumerate(steps, start=1):
            node = f"{n}:{channel}"
            nodes.setdefault(node, SankeyNode(node, channel, n))
            ids.append(node)
        ids.append(end.id)
        for source, target in itertools.pairwise(ids):
            links[(source, target)] = links.get((source, target), 0) + times
    if totals:
        nodes[end.id] = end
    return Paths(
        report=query.report,
        start=query.start,
        end=query.end,
        outcome=query.outcome,
        total=total,
        paths=[
            PathRow(path.split(PATH_SEPARATOR), times, ratio(times, total))
            for path, times in ranked[: query.limit]
        ],
        sankey=Sankey(
            nodes=sorted(nodes.values(), key=lambda n: (n.step, n.label)),
            links=[
                SankeyLink(source, target, value)
                for (source, target), value in sorted(
                    links.items(), key=lambda item: (-item[1], item[0])
                )
            ],
        ),
    )


@dataclass(frozen=True)
class ConversionRow:
    direction: str
    channel: str
    """Where the purchase happened."""
    conversions: int
    revenue: int
    purchases: int
    """All purchases on the channel in the period."""
    rate: float


@dataclass(frozen=True)
class ConversionTotal:
    direction: str
    conversions: int
    revenue: int
    purchases: int
    rate: float


@dataclass(frozen=True)
class Conversions(Report):
    days: int
    """The window: a purchase converts when the other side was seen at most this many days
    before it."""
    currency: str
    totals: list[ConversionTotal]
    channels: list[ConversionRow]

    def table(self) -> tuple[Sequence[str], list[Sequence[Any]]]:
        header = ("direction", "channel", "conversions", "revenue", "purchases", "rate")
        return header, [
            (r.direction, r.channel, r.conversions, r.revenue, r.purchases, r.rate)
            for r in self.channels
        ]


def conversions(
    query: UsageQuery,
    config: AnalyticsConfig,
    converted: Iterable[Sequence[Any]],
    economics: Iterable[Sequence[Any]],
) -> Conversions:
    """From (direction, channel, conversions, revenue) and (channel, orders, ...) rows."""
    orders = {str(row[0]): int(row[1]) for row in economics}
    cells: dict[tuple[str, str], list[int]] = {}
    for direction, channel, count, revenue in converted:
        cell = cells.setdefault((str(direction), str(channel)), [0, 0])
        cell[0] += int(count)
        cell[1] += int(revenue)
    sides = {ONLINE_TO_OFFLINE: config.offline, OFFLINE_TO_ONLINE: config.online}
    for direction, channels in sides.items():
        for channel in channels:
            if orders.get(channel) and (query.channel is None or channel == query.channel):
                cells.setdefault((direction, channel), [0, 0])
    rows = [
        ConversionRow(
            direction,
            channel,
            v[0],
            v[1],
            orders.get(channel, 0),
            ratio(v[0], orders.get(channel, 0)),
        )
        for (direction, channel), v in sorted(
            cells.items(), key=lambda item: (DIRECTIONS.index(item[0][0]), item[0][1])
        )
    ]
    totals = []
    for direction in DIRECTIONS:
        mine = [r for r in rows if r.direction == direction]
        count = sum(r.conversions for r in mine)
        bought = sum(r.purchases for r in mine)
        totals.append(
            ConversionTotal(
                direction,
                count,
                sum(v[1] for (d, _), v in cells.items() if d == direction),
                bought,
                ratio(count, bought),
            )
        )
    return Conversions(
        report=query.report,
        start=query.start,
        end=query.end,
        days=config.conversion_days,
        currency=config.currency,
        totals=totals,
        channels=rows,
    )


@dataclass(frozen=True)
class EconomicsRow:
    channel: str
    orders: int
    revenue: int
    messages_sent: int
    agent_minutes: float
    message_cost: int
    agent_cost: int
    cost_to_serve: int
    revenue_per_order: int


@dataclass(frozen=True)
class Economics(Report):
    currency: str
    channels: list[EconomicsRow]
    total: EconomicsRow

    def table(self) -> tuple[Sequence[str], list[Sequence[Any]]]:
        header = (
            "channel",
            "orders",
            "revenue",
            "messages_sent",
            "agent_minutes",
            "message_cost",
            "agent_cost",
            "cost_to_serve",
            "revenue_per_order",
        )
        return header, [
            (
                r.channel,
                r.orders,
                r.revenue,
                r.messages_sent,
                r.agent_minutes,
                r.message_cost,
                r.agent_cost,
                r.cost_to_serve,
                r.revenue_per_order,
            )
            for r in [*self.channels, self.total]
        ]


def _economics_row(channel: str, values: Sequence[int], costs: Sequence[int]) -> EconomicsRow:
    orders, revenue, messages, seconds = values
    message_cost, agent_cost = costs
    return EconomicsRow(
        channel=channel,
        orders=orders,
        revenue=revenue,
        messages_sent=messages,
        agent_minutes=round(seconds / 60, 2),
        message_cost=message_cost,
        agent_cost=agent_cost,
        cost_to_serve=message_cost + agent_cost,
        revenue_per_order=round(revenue / orders) if orders else 0,
    )


def economics(
    query: UsageQuery, config: AnalyticsConfig, sums: Iterable[Sequence[Any]]
) -> Economics:
    """From (channel, orders, revenue, messages, agent seconds) rows. Cost to serve is the
    messages sent times the channel's message cost plus agent minutes times their cost."""
    rows = []
    total = [0, 0, 0, 0]
    total_costs = [0, 0]
    for channel, *raw in sorted(sums, key=lambda row: str(row[0])):
        values = [int(v or 0) for v in raw]
        costs = (
            minor(values[2] * config.message_costs.get(str(channel), Decimal(0)), config),
            minor(Decimal(values[3]) / 60 * config.agent_minute_cost, config),
        )
        rows.append(_economics_row(str(channel), values, costs))
        total = [a + b for a, b in zip(total, values, strict=True)]
        total_costs = [a + b for a, b in zip(total_costs, costs, strict=True)]
    return Economics(
        report=query.report,
        start=query.start,
        end=query.end,
        currency=config.currency,
        channels=rows,
        total=_economics_row("all", total, total_costs),
    )


@dataclass(frozen=True)
class ClvRow:
    group: str
    customers: int
    orders: int
    revenue: int
    clv: int
    """Revenue per customer to date."""
    orders_per_customer: float


@dataclass(frozen=True)
class Clv(Report):
    segment: str | None
    currency: str
    by_first_channel: list[ClvRow]
    by_channels_used: list[ClvRow]

    def table(self) -> tuple[Sequence[str], list[Sequence[Any]]]:
        header = ("dimension", "group", "customers", "orders", "revenue", "clv")
        rows: list[Sequence[Any]] = []
        for dimension, found in (
            ("first_channel", self.by_first_channel),
            ("channels_used", self.by_channels_used),
        ):
            rows += [(dimension, r.group, r.customers, r.orders, r.revenue, r.clv) for r in found]
        return header, rows


def _clv_rows(groups: dict[str, list[int]]) -> list[ClvRow]:
    return [
        ClvRow(
            group=group,
            customers=v[0],
            orders=v[1],
            revenue=v[2],
            clv=round(v[2] / v[0]) if v[0] else 0,
            orders_per_customer=round(v[1] / v[0], 4) if v[0] else 0.0,
        )
        for group, v in groups.items()
        if v[0] > 0
    ]


def clv(query: UsageQuery, config: AnalyticsConfig, cohorts: Iterable[Sequence[Any]]) -> Clv:
    """From (first channel, channels used, age band, customers, orders, revenue) rows."""
    first: dict[str, list[int]] = {}
    counts: dict[str, list[int]] = {k: [0, 0, 0] for k in CHANNEL_COUNTS}
    for channel, count, _, customers, orders, revenue in cohorts:
        if int(count) <= 0:
            continue
        for target in (
            first.setdefault(str(channel), [0, 0, 0]),
            counts[channels_bucket(int(count))],
        ):
            target[0] += int(customers)
            target[1] += int(orders or 0)
            target[2] += int(revenue or 0)
    ranked = dict(sorted(first.items(), key=lambda item: (-item[1][2], item[0])))
    return Clv(
        report=query.report,
        start=query.start,
        end=query.end,
        segment=query.segment,
        currency=config.currency,
        by_first_channel=_clv_rows(ranked),
        by_channels_used=_clv_rows(counts),
    )


@dataclass(frozen=True)
class HeatCell:
    channel: str
    weekday: int
    """ISO: 1 is Monday, 7 Sunday."""
    hour: int
    interactions: int


@dataclass(frozen=True)
class Heatmap(Report):
    tz: str
    busiest: list[HeatCell]
    """Each channel's busiest weekday and hour."""
    cells: list[HeatCell] = field(default_factory=list)

    def table(self) -> tuple[Sequence[str], list[Sequence[Any]]]:
        return ("channel", "weekday", "hour", "interactions"), [
            (c.channel, c.weekday, c.hour, c.interactions) for c in self.cells
        ]


def zone_spans(zone: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """The hours since the epoch [start, end) cut where the zone's UTC offset changes:
    (from, to, offset in whole hours, rounded down for zones off by half an hour)."""
    tz = _zone(zone)

    def offset(hour: int) -> int:
        moment = (EPOCH + timedelta(hours=hour)).astimezone(tz)
        shift = moment.utcoffset()
        return int((shift.total_seconds() if shift else 0) // 3600)

    spans = []
    begin, current = start, offset(start)
    hour = start
    while hour < end:
        following = min(hour + 24, end)
        if offset(following - 1) != current:
            for moment in range(hour + 1, following):
                if (found := offset(moment)) != current:
                    spans.append((begin, moment, current))
                    begin, current = moment, found
                    break
        hour = following
    spans.append((begin, end, current))
    return spans


def heatmap(query: UsageQuery, slots: Iterable[Sequence[Any]]) -> Heatmap:
    """From (channel, ISO weekday, hour, interactions) rows, already in the query's zone."""
    cells: dict[tuple[str, int, int], int] = {}
    for channel, weekday, hour, interactions in slots:
        key = (str(channel), int(weekday), int(hour))
        cells[key] = cells.get(key, 0) + int(interactions)
    ordered = [HeatCell(k[0], k[1], k[2], v) for k, v in sorted(cells.items())]
    busiest: dict[str, HeatCell] = {}
    for cell in ordered:
        best = busiest.get(cell.channel)
        if best is None or cell.interactions > best.interactions:
            busiest[cell.channel] = cell
    return Heatmap(
        report=query.report,
        start=query.start,
        end=query.end,
        tz=query.zone,
        busiest=list(busiest.values()),
        cells=ordered,
    )

"""The analytics reports as plotly figures: plain data (`data` and `layout`) that the page hands
to plotly.js, served by omnicx itself. Each builder takes a report and `Labels`, which name
channels, contact reasons, weekdays and money in the user's language."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from babel.dates import get_day_names
from babel.numbers import format_currency, get_currency_precision

from omnicx.analytics.campaigns import CampaignRow
from omnicx.analytics.reports import (
    ChannelUsage,
    Clv,
    Conversions,
    Economics,
    Heatmap,
    Paths,
    Propensity,
)
from omnicx.analytics.service import AvailabilityGaps, Friction, ReasonCell
from omnicx.web.i18n import N_, Translator

Figure = dict[str, Any]

COLOURS = {
    "web": "#2563eb",
    "app": "#7c3aed",
    "store": "#059669",
    "call_center": "#d97706",
    "email": "#0891b2",
    "sms": "#db2777",
    "whatsapp": "#16a34a",
    "telegram": "#0ea5e9",
    "web_chat": "#4f46e5",
    "viber": "#9333ea",
    "push": "#ea580c",
    "in_app": "#65a30d",
    "marketplace": "#b45309",
    "qr": "#475569",
    "social": "#e11d48",
}
"""One colour per channel on every chart, so a channel looks the same everywhere."""
OTHER_COLOURS = ("#64748b", "#a16207", "#be123c", "#0f766e", "#6d28d9", "#1d4ed8")
SERIES_COLOURS = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#14b8a6")
LOCALES = {"en": "en", "pt-BR": "pt_BR", "es": "es"}
OUTCOME_NODES = {"purchase": N_("Purchase"), "contact": N_("Contact")}
"""The last node of a path diagram."""
DIRECTION_NAMES = {
    "online_to_offline": N_("Online to store"),
    "offline_to_online": N_("Store to online"),
}


@dataclass(frozen=True)
class Labels:
    """How the charts name things for one user."""

    tr: Translator
    language: str
    channel: Callable[[str], str]
    reason: Callable[[str], str]
    currency: str

    @property
    def locale(self) -> str:
        return LOCALES.get(self.language, "en")

    def _(self, message: str, **values: Any) -> str:
        return self.tr.gettext(message, **values)

    def major(self, minor: int | float) -> float:
        """An amount in minor units as a number of whole currency units."""
        digits: int = get_currency_precision(self.currency)
        return float(round(float(minor) / 10**digits, 2))

    def money(self, minor: int | float, currency: str | None = None) -> str:
        code = currency or self.currency
        digits: int = get_currency_precision(code)
        whole = float(minor) / 10**digits
        return format_currency(whole, code, locale=self.locale)

    def age_band(self, band: str) -> str:
        return self._("Age unknown") if band == "unknown" else band

    def weekday(self, iso_day: int) -> str:
        names = get_day_names("abbreviated", locale=self.locale)
        return str(names[(iso_day - 1) % 7])

    def colour(self, channel: str, index: int = 0) -> str:
        return COLOURS.get(channel, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def faded(colour: str, alpha: float = 0.35) -> str:
    """A #rrggbb colour, see-through (for the bands of a Sankey diagram)."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _sankey(
    labels: Labels, names: list[str], colours: list[str], links: list[tuple[int, int, int]]
) -> dict[str, Any]:
    return {
        "type": "sankey",
        "arrangement": "snap",
        "node": {"label": names, "color": colours, "pad": 18, "thickness": 16},
        "link": {
            "source": [source for source, _, _ in links],
            "target": [target for _, target, _ in links],
            "value": [value for _, _, value in links],
            "color": [faded(colours[source]) for source, _, _ in links],
        },
    }


def layout(labels: Labels, *, x: str = "", y: str = "", **more: Any) -> dict[str, Any]:
    """The look every chart shares: the console's font, no background, the legend on top."""
    base: dict[str, Any] = {
        "font": {"family": "system-ui, sans-serif", "size": 13, "color": "#1f2937"},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "height": 380,
        "legend": {"orientation": "h", "y": 1.12},
        "hoverlabel": {"namelength": -1},
        "separators": ".," if labels.locale == "en" else ",.",
    }
    if x:
        base["xaxis"] = {"title": {"text": x}, "automargin": True}
    if y:
        base["yaxis"] = {"title": {"text": y}, "automargin": True, "rangemode": "tozero"}
    base.update(more)
    return base


def _figure(data: list[dict[str, Any]], chart_layout: dict[str, Any]) -> Figure:
    return {"data": data, "layout": chart_layout}


def _bars(
    labels: Labels,
    categories: Sequence[str],
    series: Iterable[tuple[str, Sequence[float]]],
    *,
    x: str,
    y: str,
    percent: bool = False,
    stacked: bool = False,
) -> Figure:
    data = [
        {
            "type": "bar",
            "name": name,
            "x": list(categories),
            "y": list(values),
            "marker": {"color": SERIES_COLOURS[i % len(SERIES_COLOURS)]},
        }
        for i, (name, values) in enumerate(series)
    ]
    more: dict[str, Any] = {"barmode": "stack" if stacked else "group"}
    chart = layout(labels, x=x, y=y, **more)
    if percent:
        chart["yaxis"]["tickformat"] = ".0%"
    return _figure(data, chart)


# -- the channel reports -----------------------------------------------------------------------


def channel_usage(report: ChannelUsage, labels: Labels) -> list[tuple[str, Figure]]:
    channels = sorted({row.channel for row in report.series})
    lines: list[dict[str, Any]] = []
    customers: list[dict[str, Any]] = []
    for channel in channels:
        rows = [r for r in report.series if r.channel == channel]
        common = {
            "type": "scatter",
            "mode": "lines+markers",
            "name": labels.channel(channel),
            "x": [r.bucket.isoformat() for r in rows],
            "line": {"color": labels.colour(channel, len(lines))},
        }
        lines.append({**common, "y": [r.interactions for r in rows]})
        if any(r.customers is not None for r in rows):
            customers.append({**common, "y": [r.customers or 0 for r in rows]})
    charts = [
        (
            labels._("Interactions per channel"),
            _figure(lines, layout(labels, x=labels._("Period"), y=labels._("Interactions"))),
        )
    ]
    if customers:
        charts.append(
            (
                labels._("Customers per channel"),
                _figure(customers, layout(labels, x=labels._("Period"), y=labels._("Customers"))),
            )
        )
    return charts


def propensity(report: Propensity, labels: Labels) -> list[tuple[str, Figure]]:
    counts = [share.channels for share in report.overall]
    overall = _bars(
        labels,
        counts,
        [(labels._("Share of customers"), [share.share for share in report.overall])],
        x=labels._("Channels used"),
        y=labels._("Share of customers"),
        percent=True,
    )
    bands = sorted({b.age_band for b in report.by_age_band if b.age_band != "all"})
    by_band = _bars(
        labels,
        [labels.age_band(band) for band in bands],
        [
            (
                labels._("%(n)s channels", n=count),
                [
                    next(
                        (b.share for b in report.by_age_band if (b.age_band, b.channels) == key),
                        0.0,
                    )
                    for key in ((band, count) for band in bands)
                ],
            )
            for count in counts
        ],
        x=labels._("Age band"),
        y=labels._("Share of customers"),
        percent=True,
        stacked=True,
    )
    return [
        (labels._("Customers by number of channels used"), overall),
        (labels._("Channels used, by age band"), by_band),
    ]


def paths(report: Paths, labels: Labels) -> list[tuple[str, Figure]]:
    index = {node.id: i for i, node in enumerate(report.sankey.nodes)}
    names = [
        labels._(OUTCOME_NODES[node.label])
        if node.label in OUTCOME_NODES
        else labels.channel(node.label)
        for node in report.sankey.nodes
    ]
    colours = [labels.colour(node.label, node.step) for node in report.sankey.nodes]
    links = [(index[k.source], index[k.target], k.value) for k in report.sankey.links]
    sankey = _sankey(labels, names, colours, links)
    title = (
        labels._("Channels before a purchase")
        if report.outcome == "purchase"
        else labels._("Channels before a contact")
    )
    return [(title, _figure([sankey], layout(labels, height=460)))]


def conversions(report: Conversions, labels: Labels) -> list[tuple[str, Figure]]:
    channels = sorted({row.channel for row in report.channels})
    series = []
    for direction, name in DIRECTION_NAMES.items():
        found = {r.channel: r.conversions for r in report.channels if r.direction == direction}
        series.append((labels._(name), [found.get(c, 0) for c in channels]))
    figure = _bars(
        labels,
        [labels.channel(c) for c in channels],
        series,
        x=labels._("Channel of the purchase"),
        y=labels._("Conversions"),
    )
    return [(labels._("Purchases after browsing on another side"), figure)]


def economics(report: Economics, labels: Labels) -> list[tuple[str, Figure]]:
    rows = report.channels
    names = [labels.channel(r.channel) for r in rows]
    money = _bars(
        labels,
        names,
        [
            (labels._("Revenue"), [labels.major(r.revenue) for r in rows]),
            (labels._("Cost to serve"), [labels.major(r.cost_to_serve) for r in rows]),
        ],
        x=labels._("Channel"),
        y=report.currency,
    )
    orders = _bars(
        labels,
        names,
        [(labels._("Orders"), [r.orders for r in rows])],
        x=labels._("Channel"),
        y=labels._("Orders"),
    )
    return [
        (labels._("Revenue and cost to serve per channel"), money),
        (labels._("Orders per channel"), orders),
    ]


def clv(report: Clv, labels: Labels) -> list[tuple[str, Figure]]:
    first = _bars(
        labels,
        [labels.channel(r.group) for r in report.by_first_channel],
        [(labels._("Value per customer"), [labels.major(r.clv) for r in report.by_first_channel])],
        x=labels._("First channel"),
        y=report.currency,
    )
    used = _bars(
        labels,
        [r.group for r in report.by_channels_used],
        [(labels._("Value per customer"), [labels.major(r.clv) for r in report.by_channels_used])],
        x=labels._("Channels used"),
        y=report.currency,
    )
    return [
        (labels._("Customer value by first channel"), first),
        (labels._("Customer value by number of channels used"), used),
    ]


def heatmap(report: Heatmap, labels: Labels) -> list[tuple[str, Figure]]:
    grid = [[0] * 24 for _ in range(7)]
    for cell in report.cells:
        grid[cell.weekday - 1][cell.hour] += cell.interactions
    data = [
        {
            "type": "heatmap",
            "x": list(range(24)),
            "y": [labels.weekday(day) for day in range(1, 8)],
            "z": grid,
            "colorscale": "Blues",
            "hovertemplate": "%{y} %{x}h: %{z}<extra></extra>",
            "colorbar": {"title": {"text": labels._("Interactions")}},
        }
    ]
    chart = layout(labels, x=labels._("Hour (%(tz)s)", tz=report.tz), y="")
    chart["yaxis"] = {"autorange": "reversed", "automargin": True}
    chart["xaxis"]["dtick"] = 2
    return [(labels._("Interactions by weekday and hour"), _figure(data, chart))]


# -- the service, campaign and availability reports --------------------------------------------


def channel_reasons(cells: Sequence[ReasonCell], labels: Labels) -> list[tuple[str, Figure]]:
    channels = sorted({c.channel for c in cells})
    reasons = sorted({c.reason or "" for c in cells})
    volume = {(c.channel, c.reason or ""): c.conversations for c in cells}
    shown = [labels.reason(r) if r else labels._("No reason") for r in reasons]
    data = [
        {
            "type": "heatmap",
            "x": [labels.channel(c) for c in channels],
            "y": shown,
            "z": [[volume.get((c, r), 0) for c in channels] for r in reasons],
            "colorscale": "Oranges",
            "hovertemplate": "%{y} · %{x}: %{z}<extra></extra>",
            "colorbar": {"title": {"text": labels._("Conversations")}},
        }
    ]
    chart = layout(labels, x=labels._("Channel"), y="")
    chart["yaxis"] = {"automargin": True}
    return [(labels._("Conversations by channel and contact reason"), _figure(data, chart))]


def friction(found: Friction, labels: Labels) -> list[tuple[str, Figure]]:
    names = [labels.channel(r.channel) for r in found.rows]
    bars = _bars(
        labels,
        names,
        [
            (labels._("Repeat contacts"), [r.repeat_contacts for r in found.rows]),
            (labels._("Channel switches"), [r.switches_out for r in found.rows]),
            (labels._("SLA breaches"), [r.sla_breaches for r in found.rows]),
        ],
        x=labels._("Channel"),
        y=labels._("Conversations"),
    )
    charts = [(labels._("Where journeys break, by channel"), bars)]
    if found.switches:
        sources = sorted({s.from_channel for s in found.switches})
        targets = sorted({s.to_channel for s in found.switches})
        nodes = [("from", c) for c in sources] + [("to", c) for c in targets]
        index = {node: i for i, node in enumerate(nodes)}
        sankey = _sankey(
            labels,
            [labels.channel(c) for _, c in nodes],
            [labels.colour(c, i) for i, (_, c) in enumerate(nodes)],
            [
                (index[("from", s.from_channel)], index[("to", s.to_channel)], s.count)
                for s in found.switches
            ],
        )
        charts.append(
            (
                labels._("Channel switches inside a conversation"),
                _figure([sankey], layout(labels, height=360)),
            )
        )
    return charts


def campaign_name(row: CampaignRow, labels: Labels) -> str:
    name = row.name or row.id
    return f"{name} v{row.version}" if row.version is not None else name


def campaigns(rows: Sequence[CampaignRow], labels: Labels) -> list[tuple[str, Figure]]:
    names = [campaign_name(r, labels) for r in rows]
    rates = _bars(
        labels,
        names,
        [
            (labels._("Conversion rate"), [r.conversion_rate or 0.0 for r in rows]),
            (labels._("Holdout conversion rate"), [r.holdout_rate or 0.0 for r in rows]),
        ],
        x=labels._("Campaign"),
        y=labels._("Conversion rate"),
        percent=True,
    )
    volumes = _bars(
        labels,
        names,
        [
            (labels._("Sends"), [r.sends for r in rows]),
            (labels._("Delivered"), [r.delivered for r in rows]),
            (labels._("Conversions"), [r.conversions for r in rows]),
        ],
        x=labels._("Campaign"),
        y=labels._("Customers"),
    )
    return [
        (labels._("Conversion against the holdout"), rates),
        (labels._("Sends, deliveries and conversions"), volumes),
    ]


def availability_gaps(report: AvailabilityGaps, labels: Labels) -> list[tuple[str, Figure]]:
    names = [labels.channel(c.channel) for c in report.channels]
    lost = _bars(
        labels,
        names,
        [(labels._("Demand lost"), [labels.major(c.lost_value) for c in report.channels])],
        x=labels._("Channel"),
        y=report.currency,
    )
    requests = _bars(
        labels,
        names,
        [(labels._("Requests"), [c.requests for c in report.channels])],
        x=labels._("Channel"),
        y=labels._("Requests"),
    )
    return [
        (labels._("Demand lost to gaps, per channel"), lost),
        (labels._("Requests for items that could not be had"), requests),
    ]

"""The analytics area (analytics.read: analysts and marketers): every report as charts and a
table, with filters by period, segment, channel and store where the report applies them, and
its CSV from the API.

    GET /analytics                      the reports, one card each
    GET /analytics/{report}             one report: filters, charts, the figures as a table
    GET /console/vendor/plotly.min.js   plotly.js, from the plotly package (no internet needed)

A report page reads the same read models as `/api/analytics/{report}`, never the raw events.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from plotly.offline import get_plotlyjs_version  # type: ignore[import-untyped]

from omnicx.analytics import usage_query
from omnicx.analytics.reports import BUCKETS
from omnicx.analytics.service import report_query
from omnicx.api.deps import ServicesDep
from omnicx.api.routes.analytics_service import SERVICE_REPORTS
from omnicx.api.security import INLINE_STYLES
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.kernel import Invalid, NotFound
from omnicx.web import charts
from omnicx.web.auth import Staff, page
from omnicx.web.charts import Figure, Labels
from omnicx.web.i18n import N_
from omnicx.web.pages.conversation_common import CHANNEL_NAMES, REASON_NAMES
from omnicx.web.render import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

AnalyticsRead = Annotated[Staff, page("analytics.read")]

PLOTLY = files("plotly") / "package_data" / "plotly.min.js"
PLOTLY_VERSION: str = get_plotlyjs_version()
MAX_ROWS = 200
"""Rows of a report's table shown on its page; the CSV holds them all."""

CHANNELS = {
    **CHANNEL_NAMES,
    "web": N_("Web"),
    "app": N_("App"),
    "marketplace": N_("Marketplace"),
    "qr": N_("QR code"),
    "social": N_("Social"),
}
"""Channels as the reports name them (the channel filter offers these)."""
FILTERED_CHANNELS = (
    "web",
    "app",
    "store",
    "call_center",
    "email",
    "sms",
    "whatsapp",
    "telegram",
    "web_chat",
    "viber",
    "push",
    "in_app",
    "marketplace",
    "qr",
)
BUCKET_NAMES = {"day": N_("Day"), "week": N_("Week"), "month": N_("Month")}
OUTCOME_NAMES = {"purchase": N_("A purchase"), "contact": N_("A contact")}
COLUMNS = {
    "bucket": N_("Period"),
    "channel": N_("Channel"),
    "interactions": N_("Interactions"),
    "new_customers": N_("New customers"),
    "new_to_channel": N_("New to the channel"),
    "customers": N_("Customers"),
    "age_band": N_("Age band"),
    "channels": N_("Channels used"),
    "share": N_("Share"),
    "path": N_("Path"),
    "times": N_("Times"),
    "direction": N_("Direction"),
    "conversions": N_("Conversions"),
    "revenue": N_("Revenue"),
    "purchases": N_("Purchases"),
    "rate": N_("Rate"),
    "orders": N_("Orders"),
    "messages_sent": N_("Messages sent"),
    "agent_minutes": N_("Agent minutes"),
    "message_cost": N_("Message cost"),
    "agent_cost": N_("Agent cost"),
    "cost_to_serve": N_("Cost to serve"),
    "revenue_per_order": N_("Revenue per order"),
    "dimension": N_("Grouped by"),
    "group": N_("Group"),
    "clv": N_("Value per customer"),
    "weekday": N_("Weekday"),
    "hour": N_("Hour"),
    "reason": N_("Contact reason"),
    "resolved": N_("Resolved"),
    "mean_resolution_seconds": N_("Mean time to resolve"),
    "csat_mean": N_("CSAT"),
    "csat_count": N_("CSAT answers"),
    "repeat_contacts": N_("Repeat contacts"),
    "repeat_rate": N_("Repeat rate"),
    "switches_out": N_("Switched away"),
    "switches_in": N_("Switched to"),
    "sla_breaches": N_("SLA breaches"),
    "campaign": N_("Campaign"),
    "kind": N_("Kind"),
    "sends": N_("Sends"),
    "delivered": N_("Delivered"),
    "delivery_rate": N_("Delivery rate"),
    "conversion_rate": N_("Conversion rate"),
    "holdout_rate": N_("Holdout conversion rate"),
    "uplift": N_("Uplift"),
    "cost": N_("Cost"),
    "roi": N_("ROI"),
    "sku": N_("SKU"),
    "name": N_("Name"),
    "version": N_("Version"),
    "entered": N_("Entered"),
    "treated": N_("Treated"),
    "holdout": N_("Held out"),
    "holdout_conversions": N_("Holdout conversions"),
    "available_elsewhere": N_("Available elsewhere"),
    "title": N_("Item"),
    "location_id": N_("Location"),
    "detail": N_("Why"),
    "requests": N_("Requests"),
    "lost_value": N_("Demand lost"),
}
"""Column names of the report tables; a column not listed shows its own name."""
MONEY = frozenset(
    {
        "revenue",
        "message_cost",
        "agent_cost",
        "cost_to_serve",
        "revenue_per_order",
        "clv",
        "cost",
        "lost_value",
    }
)
RATES = frozenset(
    {"share", "rate", "repeat_rate", "delivery_rate", "conversion_rate", "holdout_rate", "uplift"}
)
DIMENSIONS = {"first_channel": N_("First channel"), "channels_used": N_("Channels used")}
AGE_BAND_NAMES = {"all": N_("Every age"), "unknown": N_("Age unknown")}
KINDS = {"journey": N_("Journey"), "broadcast": N_("Broadcast")}


@dataclass(frozen=True)
class Filters:
    """What the filter form asked for; `end` is the last day shown (the API's `to` is the
    day after)."""

    start: date | None = None
    end: date | None = None
    channel: str | None = None
    segment: str | None = None
    store: str | None = None
    bucket: str | None = None
    outcome: str | None = None
    tz: str | None = None

    @property
    def to(self) -> date | None:
        return self.end + timedelta(days=1) if self.end else None


@dataclass(frozen=True)
class Shown:
    """A report ready for its page."""

    charts: list[tuple[str, Figure]]
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    currency: str
    start: date | None
    end: date | None
    """The period the report covered, [start, end)."""
    empty: bool


Builder = Callable[[Services, UnitOfWork, Filters, Labels], Shown]


@dataclass(frozen=True)
class View:
    slug: str
    title: str
    summary: str
    filters: tuple[str, ...]
    build: Builder
    cohort: bool = False
    """Over customers first seen in the period: an empty period means every customer."""


# -- building each report ----------------------------------------------------------------------


def _usage(name: str, draw: Callable[[Any, Labels], list[tuple[str, Figure]]]) -> Builder:
    def build(services: Services, uow: UnitOfWork, given: Filters, labels: Labels) -> Shown:
        query = usage_query(
            name,
            today=services.clock.now().date(),
            start=given.start,
            end=given.to,
            channel=given.channel,
            segment=given.segment,
            store=given.store,
            bucket=given.bucket,
            outcome=given.outcome,
            zone=given.tz,
        )
        report = services.analytics.report(uow, query)
        header, rows = report.table()
        return Shown(
            draw(report, labels),
            header,
            list(rows),
            getattr(report, "currency", labels.currency),
            query.start,
            query.end,
            not rows,
        )

    return build


SERVICE_SPECS = {spec.name: spec for spec in SERVICE_REPORTS}
HIDDEN = frozenset({"id", "currency"})
"""CSV columns a report's table on its page leaves out."""


def _service(name: str, draw: Callable[[Any, Labels], list[tuple[str, Figure]]]) -> Builder:
    """A service, campaign or availability report: the API's own reading and table."""
    spec = SERVICE_SPECS[name]
    shown = [i for i, column in enumerate(spec.columns) if column not in HIDDEN]

    def build(services: Services, uow: UnitOfWork, given: Filters, labels: Labels) -> Shown:
        query = report_query(
            given.start,
            given.to,
            today=services.clock.now().date(),
            report=name,
            supports=spec.supports,
            channel=given.channel,
            segment=given.segment,
            store=given.store,
        )
        found = spec.read(services, uow, query)
        rows = [[row[i] for i in shown] for row in spec.rows(found)]
        return Shown(
            draw(found, labels),
            [spec.columns[i] for i in shown],
            rows,
            labels.currency,
            query.start,
            query.end,
            not rows,
        )

    return build


VIEWS: tuple[View, ...] = (
    View(
        "channel-usage",
        N_("Channel usage"),
        N_("Customers and interactions per channel over time."),
        ("channel", "bucket"),
        _usage("channel-usage", charts.channel_usage),
    ),
    View(
        "propensity",
        N_("Multichannel customers"),
        N_("How many channels customers use: overall, by age band and by segment."),
        ("segment",),
        _usage("propensity", charts.propensity),
        cohort=True,
    ),
    View(
        "paths",
        N_("Journey paths"),
        N_("The commonest sequences of channels before a purchase or a contact."),
        ("channel", "outcome"),
        _usage("paths", charts.paths),
    ),
    View(
        "conversions",
        N_("Online and offline"),
        N_("Browsed online and bought in a store within days, and the reverse."),
        ("channel", "store"),
        _usage("conversions", charts.conversions),
    ),
    View(
        "economics",
        N_("Channel economics"),
        N_("Revenue, orders and the cost to serve per channel."),
        ("channel", "store"),
        _usage("economics", charts.economics),
    ),
    View(
        "clv",
        N_("Customer value"),
        N_("Value per customer by first channel and by number of channels used."),
        ("segment",),
        _usage("clv", charts.clv),
        cohort=True,
    ),
    View(
        "heatmap",
        N_("Busiest hours"),
        N_("Interactions per weekday and hour, in the time zone you choose."),
        ("channel", "tz"),
        _usage("heatmap", charts.heatmap),
    ),
    View(
        "channel-reasons",
        N_("Contact reasons"),
        N_("Which contact reasons arrive on which channels, with resolution time and CSAT."),
        ("channel", "segment"),
        _service("channel-reasons", charts.channel_reasons),
    ),
    View(
        "friction",
        N_("Friction"),
        N_("Repeat contacts within 7 days, channel switches and SLA breaches, by channel."),
        ("channel", "segment"),
        _service("friction", charts.friction),
    ),
    View(
        "campaigns",
        N_("Campaigns"),
        N_("Journeys and broadcasts: sends, conversions, uplift against the holdout, ROI."),
        ("channel",),
        _service("campaigns", charts.campaigns),
    ),
    View(
        "availability-gaps",
        N_("Availability gaps"),
        N_("Items that could not be had on a channel or at a store, with the demand they lost."),
        ("channel", "store"),
        _service("availability-gaps", charts.availability_gaps),
    ),
)
BY_SLUG = {view.slug: view for view in VIEWS}


# -- the request -------------------------------------------------------------------------------


def _text(request: Request, name: str, longest: int) -> str | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    if len(value) > longest:
        raise Invalid("too_long", f"{name} is at most {longest} characters", name)
    return value


def _day(request: Request, name: str) -> date | None:
    value = _text(request, name, 10)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("invalid_date", f"{name} is a day written YYYY-MM-DD", name) from None


def read_period(request: Request) -> tuple[date | None, date | None]:
    """The period of the form: its first day and the day after its last (the API's `to`)."""
    last = _day(request, "to")
    return _day(request, "from"), last + timedelta(days=1) if last else None


def read_filters(request: Request, view: View) -> Filters:
    """The filters of the form that `view` shows; others in the address are left out."""
    wanted = {
        name: _text(request, name, 64)
        for name in ("channel", "segment", "store", "bucket", "outcome", "tz")
        if name in view.filters
    }
    return Filters(start=_day(request, "from"), end=_day(request, "to"), **wanted)


def csv_link(view: View, given: Filters, shown: Shown | None) -> str:
    """The API's CSV of what the page shows (same period and filters)."""
    params: dict[str, str] = {"format": "csv"}
    start = shown.start if shown is not None else given.start
    end = shown.end if shown is not None else given.to
    if start is not None:
        params["from"] = start.isoformat()
    if end is not None:
        params["to"] = end.isoformat()
    for name in view.filters:
        value = getattr(given, name)
        if value is not None:
            params[name] = value
    return f"/api/analytics/{view.slug}?{urlencode(params)}"


def labels_for(staff: Staff, currency: str) -> Labels:
    def channel(key: str) -> str:
        known = CHANNELS.get(key)
        return staff.gettext(known) if known else key.replace("_", " ")

    def reason(key: str) -> str:
        known = REASON_NAMES.get(key)
        return staff.gettext(known) if known else key.replace("_", " ")

    return Labels(staff.translator, staff.language, channel, reason, currency)


def cell(column: str, value: Any, labels: Labels, currency: str) -> str:
    """One table cell as the user reads it."""
    if value is None or value == "":
        return "\N{EN DASH}"
    if column in MONEY:
        return labels.money(value, currency)
    if column in RATES:
        return format_percent(value, "#,##0.0%", locale=labels.locale)
    if column == "channel":
        return labels._("Total") if value == "all" else labels.channel(str(value))
    if column == "age_band" and value in AGE_BAND_NAMES:
        return labels._(AGE_BAND_NAMES[value])
    if column == "reason":
        return labels.reason(str(value))
    if column == "path":
        return " → ".join(labels.channel(step) for step in str(value).split(" > "))
    if column == "weekday":
        return labels.weekday(int(value))
    if column == "dimension":
        return labels._(DIMENSIONS[value]) if value in DIMENSIONS else str(value)
    if column == "kind":
        return labels._(KINDS[value]) if value in KINDS else str(value)
    if column == "direction":
        known = charts.DIRECTION_NAMES.get(value)
        return labels._(known) if known else str(value)
    if column == "mean_resolution_seconds":
        return labels._("%(hours)s h", hours=format_decimal(value / 3600, "#,##0.0", labels.locale))
    if isinstance(value, float):
        return format_decimal(value, "#,##0.##", locale=labels.locale)
    if isinstance(value, int):
        return format_decimal(value, "#,##0", locale=labels.locale)
    return str(value)


def _options(services: Services, view: View) -> dict[str, list[tuple[str, str]]]:
    options: dict[str, list[tuple[str, str]]] = {}
    with services.uow(write=False) as uow:
        if "segment" in view.filters:
            found = services.segmenter.all(uow)
            options["segment"] = sorted(((s.id, s.name) for s in found), key=lambda o: o[1])
        if "store" in view.filters:
            places = services.locations(uow)
            options["store"] = [(p.id, p.name) for p in places if p.kind == "store"]
    return options


@router.get("/analytics")
def analytics_home(request: Request, staff: AnalyticsRead) -> Response:
    return render(request, "analytics.html", staff, views=VIEWS)


@router.get("/console/vendor/plotly.min.js")
def plotly_script() -> Response:
    return FileResponse(
        str(PLOTLY),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/analytics/{report}")
def analytics_report(
    request: Request, services: ServicesDep, staff: AnalyticsRead, report: str
) -> Response:
    view = BY_SLUG.get(report)
    if view is None:
        raise NotFound("unknown_report", staff.gettext("There is no such report."))
    labels = labels_for(staff, services.settings.currency)
    problem: str | None = None
    shown: Shown | None = None
    given = Filters()
    try:
        given = read_filters(request, view)
        with services.uow(write=False) as uow:
            shown = view.build(services, uow, given, labels)
    except Invalid as error:
        problem = error.message
    table: list[list[str]] = []
    if shown is not None:
        table = [
            [
                cell(column, value, labels, shown.currency)
                for column, value in zip(shown.header, row, strict=True)
            ]
            for row in shown.rows[:MAX_ROWS]
        ]
    last_day = shown.end - timedelta(days=1) if shown is not None and shown.end else given.end
    response = render(
        request,
        "analytics_report.html",
        staff,
        status_code=400 if problem else 200,
        views=VIEWS,
        view=view,
        given=given,
        start=shown.start if shown is not None else given.start,
        last_day=last_day,
        problem=problem,
        figures=[
            (title, orjson.dumps(figure).decode())
            for title, figure in (shown.charts if shown else [])
        ]
        if shown is not None and not shown.empty
        else [],
        header=[(column, COLUMNS.get(column)) for column in shown.header] if shown else [],
        table=table,
        total_rows=len(shown.rows) if shown else 0,
        max_rows=MAX_ROWS,
        csv=csv_link(view, given, shown),
        channels=[(key, CHANNELS[key]) for key in FILTERED_CHANNELS],
        buckets=[(key, BUCKET_NAMES[key]) for key in BUCKETS],
        outcomes=list(OUTCOME_NAMES.items()),
        options=_options(services, view),
        plotly_version=PLOTLY_VERSION,
    )
    response.headers[INLINE_STYLES] = "allowed"  # plotly.js styles what it draws inline
    return response

"""Service, campaign and availability reports, and QR codes for offline media.

    GET  /api/analytics/channel-reasons      channel x contact reason: volumes, resolution
                                             time, CSAT (analytics.read)
    GET  /api/analytics/friction             repeat contacts, channel switches, SLA breaches
    GET  /api/analytics/campaigns            journeys and broadcasts: sends, deliveries,
                                             conversions, uplift, ROI
    GET  /api/analytics/availability-gaps    gaps with the demand they lost
    POST /api/analytics/qr-codes             a tracked code for a campaign (journeys.write)
    GET  /api/analytics/qr-codes             codes with their scans (analytics.read)
    GET  /api/analytics/qr-codes/{id}.png    the image (also .svg); `customer` signs it for
                                             one customer (a receipt)
    GET  /q/{code}                           a scan: counted, then 302 to the campaign's page

Reports take `from` and `to` (UTC days, [from, to); the last 30 days by default), `channel`,
`segment` (a segment id) and `store` (a location code) where the report can apply them, and
`format=json|csv`. Any bad parameter is a 400 naming it.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import HTMLResponse, RedirectResponse, Response

from omnicx.access import Principal, RateLimited
from omnicx.analytics import qr
from omnicx.analytics.service import ReportQuery, report_query
from omnicx.api import security
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.routes.analytics import add_report, csv_response, query_parameter
from omnicx.api.schemas.analytics_service import (
    AvailabilityGapsPublic,
    BreachPublic,
    CampaignRowPublic,
    CampaignsPublic,
    ChannelDemandPublic,
    ChannelReasonsPublic,
    FrictionPublic,
    FrictionRowPublic,
    GapRowPublic,
    Period,
    QrCodeCreate,
    QrCodePublic,
    QrCodesPublic,
    ReasonCellPublic,
    SearchRowPublic,
    SwitchPublic,
)
from omnicx.bootstrap import Services
from omnicx.kernel import Invalid, NotFound

router = APIRouter(tags=["analytics: service, campaigns and QR codes"])

AnalyticsRead = Annotated[Principal, Depends(require("analytics.read"))]
JourneysWrite = Annotated[Principal, Depends(require("journeys.write"))]

From = Annotated[
    str | None, Query(alias="from", description="First UTC day, YYYY-MM-DD (30 days back).")
]
To = Annotated[str | None, Query(description="The day after the last, YYYY-MM-DD (tomorrow).")]
Channel = Annotated[str | None, Query(description="Only this channel.")]
Segment = Annotated[str | None, Query(description="Only customers in this segment (its id).")]
Store = Annotated[str | None, Query(description="Only this store (a location code).")]
Format = Annotated[str | None, Query(description="json (the default) or csv.")]
REPORT_ERRORS = error_responses(400)
CSV_OR_JSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    **REPORT_ERRORS,
}
FILTERS = ("channel", "segment", "store")


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("invalid_date", f"{name} is a day written YYYY-MM-DD", name) from None


def _csv_wanted(value: str | None) -> bool:
    if value not in (None, "json", "csv"):
        raise Invalid("invalid_format", "format is json or csv", "format")
    return value == "csv"


def _query(
    services: Services,
    report: str,
    start: str | None,
    end: str | None,
    supports: Sequence[str],
    filters: dict[str, str | None] | None = None,
) -> ReportQuery:
    given = filters or {}
    return report_query(
        _day(start, "from"),
        _day(end, "to"),
        today=services.clock.now().date(),
        report=report,
        supports=supports,
        channel=given.get("channel"),
        segment=given.get("segment"),
        store=given.get("store"),
    )


def _period(query: ReportQuery) -> Period:
    return Period(
        start=query.start,
        end=query.end,
        channel=query.channel,
        segment=query.segment,
        store=query.store,
    )


# -- reports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceReport:
    """One report route: what it reads, its CSV table and its JSON body."""

    name: str
    """The report and the last part of its path."""
    summary: str
    response_model: type[BaseModel]
    supports: tuple[str, ...]
    """The filters (of `FILTERS`) it can apply."""
    read: Callable[[Services, Any, ReportQuery], Any]
    """(services, unit of work, query) -> what the service answered."""
    columns: tuple[str, ...]
    rows: Callable[[Any], Iterable[Sequence[Any]]]
    body: Callable[[Services, ReportQuery, Any], BaseModel]


def _reason_rows(cells: Any) -> Iterable[Sequence[Any]]:
    return (
        (
            c.channel,
            c.reason,
            c.conversations,
            c.resolved,
            c.mean_resolution_seconds,
            c.csat_mean,
            c.csat_count,
        )
        for c in cells
    )


def _reasons_body(services: Services, query: ReportQuery, cells: Any) -> BaseModel:
    return ChannelReasonsPublic(
        period=_period(query), cells=[ReasonCellPublic(**vars(c)) for c in cells]
    )


def _friction_rows(found: Any) -> Iterable[Sequence[Any]]:
    return (
        (
            r.channel,
            r.conversations,
            r.repeat_contacts,
            r.repeat_rate,
            r.switches_out,
            r.switches_in,
            r.sla_breaches,
        )
        for r in found.rows
    )


def _friction_body(services: Services, query: ReportQuery, found: Any) -> BaseModel:
    return FrictionPublic(
        period=_period(query),
        channels=[FrictionRowPublic(**vars(r)) for r in found.rows],
        switches=[
            SwitchPublic(from_channel=s.from_channel, to_channel=s.to_channel, count=s.count)
            for s in found.switches
        ],
        breaches=[BreachPublic(**vars(b)) for b in found.breaches],
    )


CAMPAIGN_COLUMNS = (
    "kind",
    "id",
    "name",
    "version",
    "sends",
    "delivered",
    "delivery_rate",
    "entered",
    "treated",
    "holdout",
    "conversions",
    "conversion_rate",
    "holdout_conversions",
    "holdout_rate",
    "uplift",
    "orders",
    "revenue",
    "cost",
    "roi",
    "currency",
)


def _campaign_rows(rows: Any) -> Iterable[Sequence[Any]]:
    return ([getattr(r, name) for name in CAMPAIGN_COLUMNS] for r in rows)


def _campaigns_body(services: Services, query: ReportQuery, rows: Any) -> BaseModel:
    return CampaignsPublic(
        period=_period(query),
        currency=services.settings.currency,
        campaigns=[CampaignRowPublic(**vars(r)) for r in rows],
    )


def _gaps(report: Any) -> list[GapRowPublic]:
    return [
        GapRowPublic(
            sku=g.sku,
            title=g.title,
            channel=g.channel,
            location_id=g.location_id,
            reason=g.reason,
            detail=g.detail,
            available_elsewhere=list(g.available_elsewhere),
            requests=g.demand,
            lost_value=g.lost_value.amount if g.lost_value else None,
            currency=g.lost_value.currency if g.lost_value else None,
        )
        for g in report.gaps
    ]


def _gap_rows(report: Any) -> Iterable[Sequence[Any]]:
    return (
        (
            g.sku,
            g.title,
            g.channel,
            g.location_id,
            g.reason,
            g.detail,
            " ".join(g.available_elsewhere),
            g.requests,
            g.lost_value,
            g.currency,
        )
        for g in _gaps(report)
    )


def _gaps_body(services: Services, query: ReportQuery, report: Any) -> BaseModel:
    return AvailabilityGapsPublic(
        period=_period(query),
        currency=report.currency,
        gaps=_gaps(report),
        channels=[ChannelDemandPublic(**vars(c)) for c in report.channels],
        searches=[SearchRowPublic(**s) for s in report.searches],
    )


SERVICE_REPORTS = (
    ServiceReport(
        "channel-reasons",
        "Which contact reasons arrive on which channels: volumes, resolution time, CSAT",
        ChannelReasonsPublic,
        ("channel", "segment"),
        lambda services, uow, query: services.service_analytics.channel_reasons(uow, query),
        (
            "channel",
            "reason",
            "conversations",
            "resolved",
            "mean_resolution_seconds",
            "csat_mean",
            "csat_count",
        ),
        _reason_rows,
        _reasons_body,
    ),
    ServiceReport(
        "friction",
        "Where journeys break, by channel: repeat contacts, channel switches, SLA breaches",
        FrictionPublic,
        ("channel", "segment"),
        lambda services, uow, query: services.service_analytics.friction(uow, query),
        (
            "channel",
            "conversations",
            "repeat_contacts",
            "repeat_rate",
            "switches_out",
            "switches_in",
            "sla_breaches",
        ),
        _friction_rows,
        _friction_body,
    ),
    ServiceReport(
        "campaigns",
        "Journeys and broadcasts: sends, deliveries, conversions, uplift against the holdout, ROI",
        CampaignsPublic,
        ("channel",),
        lambda services, uow, query: services.service_analytics.campaigns(uow, query),
        CAMPAIGN_COLUMNS,
        _campaign_rows,
        _campaigns_body,
    ),
    ServiceReport(
        "availability-gaps",
        "Items that could not be had on a channel or at a store, with the demand they lost",
        AvailabilityGapsPublic,
        ("channel", "store"),
        lambda services, uow, query: services.service_analytics.availability_gaps(uow, query),
        (
            "sku",
            "title",
            "channel",
            "location_id",
            "reason",
            "detail",
            "available_elsewhere",
            "requests",
            "lost_value",
            "currency",
        ),
        _gap_rows,
        _gaps_body,
    ),
)


def _answer(spec: ServiceReport) -> Callable[[Services, Request, dict[str, Any]], Any]:
    def answer(services: Services, request: Request, values: dict[str, Any]) -> Any:
        csv_wanted = _csv_wanted(values["format"])
        filters = {name: values[name] for name in FILTERS}
        query = _query(services, spec.name, values["start"], values["to"], spec.supports, filters)
        with services.uow(write=False) as uow:
            found = spec.read(services, uow, query)
        if csv_wanted:
            start, end = query.start.isoformat(), query.end.isoformat()
            return csv_response(spec.name, start, end, spec.columns, spec.rows(found))
        return spec.body(services, query, found)

    return answer


for _spec in SERVICE_REPORTS:
    add_report(
        router,
        f"/api/analytics/{_spec.name}",
        _answer(_spec),
        summary=_spec.summary,
        response_model=_spec.response_model,
        responses=CSV_OR_JSON,
        parameters=[
            query_parameter("start", From),
            query_parameter("to", To),
            query_parameter("channel", Channel),
            query_parameter("segment", Segment),
            query_parameter("store", Store),
            query_parameter("format", Format),
        ],
    )


# -- QR codes ------------------------------------------------------------------------------------


def _qr_public(services: Services, code: Any) -> QrCodePublic:
    base = f"/api/analytics/qr-codes/{code.id}"
    return QrCodePublic(
        id=code.id,
        code=code.code,
        name=code.name,
        campaign=code.campaign,
        target_url=code.target_url,
        medium=code.medium,
        store=code.store_id,
        scan_url=services.service_analytics.scan_url(code),
        png_url=f"{base}.png",
        svg_url=f"{base}.svg",
        scans=code.scans,
        known_scans=code.known_scans,
        period_scans=code.period_scans,
        period_known_scans=code.period_known,
        last_scan_at=code.last_scan_at,
        created_by=code.created_by,
        created_at=code.created_at,
    )


@router.post(
    "/api/analytics/qr-codes",
    status_code=201,
    summary="Create a tracked QR code for a campaign on a poster, receipt or package",
    response_model=QrCodePublic,
    responses=error_responses(400),
)
def create_qr_code(
    body: QrCodeCreate, services: ServicesDep, caller: JourneysWrite
) -> QrCodePublic:
    definition = qr.check_definition(
        body.name, body.campaign, body.target_url, body.medium, body.store
    )
    with services.uow() as uow:
        code = services.service_analytics.create_qr(uow, definition, caller.actor)
        uow.commit()
    return _qr_public(services, code)


@router.get(
    "/api/analytics/qr-codes",
    summary="QR codes with their scans (in the period, and since they were made)",
    response_model=QrCodesPublic,
    responses=REPORT_ERRORS,
)
def list_qr_codes(
    services: ServicesDep, caller: AnalyticsRead, start: From = None, to: To = None
) -> QrCodesPublic:
    query = _query(services, "qr-codes", start, to, ())
    with services.uow(write=False) as uow:
        codes = services.service_analytics.qr_codes(uow, query)
    return QrCodesPublic(period=_period(query), items=[_qr_public(services, c) for c in codes])


def _image(
    services: Services, code_id: str, customer: str | None, scale: str | None
) -> tuple[str, int]:
    size = 8
    if scale is not None:
        if not scale.isdigit() or not 1 <= int(scale) <= 40:
            raise Invalid("invalid_scale", "scale is a whole number from 1 to 40", "scale")
        size = int(scale)
    with services.uow(write=False) as uow:
        code = services.service_analytics.qr_code(uow, code_id)
        customer_id = None
        if customer is not None:
            profile = services.profiles(uow).get(customer) if len(customer) <= 36 else None
            if profile is None:
                raise NotFound("customer_not_found", f"no customer {customer}", "customer")
            customer_id = profile.canonical_id
    return services.service_analytics.scan_url(code, customer_id), size


IMAGE_HELP = "A customer id: the code then carries that customer's signed id (a receipt)."


@router.get(
    "/api/analytics/qr-codes/{code_id}.png",
    summary="The QR code as a PNG image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **error_responses(400, 404)},
)
def qr_png(
    code_id: str,
    services: ServicesDep,
    caller: AnalyticsRead,
    customer: Annotated[str | None, Query(description=IMAGE_HELP)] = None,
    scale: Annotated[str | None, Query(description="Pixels per module, 1 to 40.")] = None,
) -> Response:
    url, size = _image(services, code_id, customer, scale)
    return Response(qr.png(url, scale=size), media_type="image/png")


@router.get(
    "/api/analytics/qr-codes/{code_id}.svg",
    summary="The QR code as an SVG image",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **error_responses(400, 404)},
)
def qr_svg(
    code_id: str,
    services: ServicesDep,
    caller: AnalyticsRead,
    customer: Annotated[str | None, Query(description=IMAGE_HELP)] = None,
    scale: Annotated[str | None, Query(description="Units per module, 1 to 40.")] = None,
) -> Response:
    url, size = _image(services, code_id, customer, scale)
    return Response(qr.svg(url, scale=size), media_type="image/svg+xml")


NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Code not found</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>This code is not one of ours</h1>
<p>The QR code you scanned is unknown or was mistyped.</p></body></html>
"""


@router.get(
    "/q/{code}",
    include_in_schema=False,
    summary="A QR code scan: counted, then redirected to the campaign's page",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To the code's target, with utm parameters."},
        404: {
            "description": "Not one of our codes: a page that says so.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
)
def scan(
    code: str,
    request: Request,
    services: ServicesDep,
    uid: Annotated[str | None, Query(description="A customer id signed by omnicx.")] = None,
) -> Response:
    counted = True
    try:
        services.throttle.hit("qr_address", security.client_address(services, request.scope))
    except RateLimited:
        counted = False
    anonymous_id = qr.cookie_anonymous_id(request.cookies.get("ajs_anonymous_id"))
    try:
        with services.uow(write=counted) as uow:
            if counted:
                done = services.service_analytics.scan(
                    uow, code, uid=uid, anonymous_id=anonymous_id
                )
                uow.commit()
                location = done.location
            else:
                location = services.service_analytics.landing(uow, code)
    except NotFound:
        return HTMLResponse(NOT_FOUND_PAGE, status_code=404)
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})

"""QR codes for offline media, in the analytics area: every code with its scans and its image
(analytics.read), and a form that makes a new one for a campaign (journeys.write).

    GET  /analytics/qr-codes     the codes, their scans in the period and since made
    POST /analytics/qr-codes     a new code; a refused form is shown again with its problem

Scans of a code land on the customer's timeline as the `qr` channel and count in every
report; the images come from `/api/analytics/qr-codes/{id}.png|.svg`.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.analytics import qr
from omnicx.analytics.service import report_query
from omnicx.api.deps import ServicesDep
from omnicx.bootstrap import Services
from omnicx.kernel import Invalid
from omnicx.web.auth import Staff, check_csrf, page
from omnicx.web.i18n import N_
from omnicx.web.pages.analytics import VIEWS, read_period
from omnicx.web.pages.marketing.common import AuditedRoute
from omnicx.web.render import render

router = APIRouter(route_class=AuditedRoute, include_in_schema=False)

AnalyticsRead = Annotated[Staff, page("analytics.read")]
JourneysWrite = Annotated[Staff, page("journeys.write")]

MEDIA = {
    "poster": N_("Poster"),
    "receipt": N_("Receipt"),
    "packaging": N_("Packaging"),
    "other": N_("Other medium"),
}
NOTICES = {"created": N_("QR code created: print it from the image links.")}


@dataclass(frozen=True)
class Draft:
    """What the form holds."""

    name: str = ""
    campaign: str = ""
    target_url: str = ""
    medium: str = "poster"
    store: str = ""


def _stores(services: Services) -> list[tuple[str, str]]:
    with services.uow(write=False) as uow:
        return [(p.id, p.name) for p in services.locations(uow) if p.kind == "store"]


def _page(
    request: Request,
    services: Services,
    staff: Staff,
    *,
    draft: Draft,
    problem: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    codes = []
    period_problem: str | None = None
    start = last_day = None
    try:
        start, end = read_period(request)
        query = report_query(
            start, end, today=services.clock.now().date(), report="qr-codes", supports=()
        )
        start, last_day = query.start, query.end - timedelta(days=1)
        with services.uow(write=False) as uow:
            codes = services.service_analytics.qr_codes(uow, query)
            urls = {c.id: services.service_analytics.scan_url(c) for c in codes}
    except Invalid as error:
        period_problem = error.message
        urls = {}
    return render(
        request,
        "analytics_qr.html",
        staff,
        status_code=400 if period_problem else status_code,
        views=VIEWS,
        codes=codes,
        urls=urls,
        start=start,
        last_day=last_day,
        draft=draft,
        media=list(MEDIA.items()),
        stores=_stores(services),
        problem=problem,
        period_problem=period_problem,
        notice=notice,
    )


@router.get("/analytics/qr-codes")
def qr_codes(request: Request, services: ServicesDep, staff: AnalyticsRead) -> Response:
    done = request.query_params.get("done", "")
    notice = NOTICES.get(done)
    return _page(request, services, staff, draft=Draft(), notice=notice)


@router.post("/analytics/qr-codes")
def create_qr_code(
    request: Request,
    services: ServicesDep,
    staff: JourneysWrite,
    csrf: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    campaign: Annotated[str, Form(max_length=200)] = "",
    target_url: Annotated[str, Form(max_length=4096)] = "",
    medium: Annotated[str, Form(max_length=40)] = "",
    store: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(staff, csrf)
    draft = Draft(name, campaign, target_url, medium, store)
    try:
        definition = qr.check_definition(name, campaign, target_url, medium, store or None)
        with services.uow() as uow:
            services.service_analytics.create_qr(uow, definition, staff.principal.actor)
            uow.commit()
    except Invalid as error:
        return _page(request, services, staff, draft=draft, problem=error.message, status_code=400)
    return RedirectResponse("/analytics/qr-codes?done=created", status_code=303)

"""The channel reports (analytics.read), as JSON or CSV (`format=csv`):

    GET /api/analytics/channel-usage   customers and interactions per channel and bucket
    GET /api/analytics/propensity      share of customers using 1, 2, 3, 4+ channels
    GET /api/analytics/paths           channel sequences before a purchase or contact, Sankey
    GET /api/analytics/conversions     online-to-offline and offline-to-online purchases
    GET /api/analytics/economics       revenue, orders and cost to serve per channel
    GET /api/analytics/clv             revenue per customer by first channel, channels used
    GET /api/analytics/heatmap         interactions per channel by weekday and hour

Every report takes `from` and `to` (UTC dates, [from, to)); the others each take what their
summary says. A parameter a report does not take is refused with 400 naming it. The reports
read read models kept as facts arrive, never the raw events.

The routes are registered from a table (`CHANNEL_REPORTS`, one `ChannelReport` each) through
`add_report`, which the service reports' routes use too: a report route is its path, its
query parameters, and one function from their values to the answer.
"""

import csv
import inspect
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from omnicx.access import Principal
from omnicx.analytics import REPORTS, Report, usage_query
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.responses import JsonResponse
from omnicx.api.schemas.analytics import (
    ChannelUsagePublic,
    ClvPublic,
    ConversionsPublic,
    EconomicsPublic,
    HeatmapPublic,
    PathsPublic,
    PropensityPublic,
)
from omnicx.bootstrap import Services
from omnicx.kernel import Invalid

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

AnalyticsRead = Annotated[Principal, Depends(require("analytics.read"))]
Format = Annotated[str, Query(max_length=10, description="json (default) or csv")]
PARAMETERS = ("channel", "segment", "store", "bucket", "outcome", "limit", "tz")
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    **error_responses(400),
}

Start = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=10,
        description="First UTC day counted, YYYY-MM-DD (default: 30 days before `to`).",
    ),
]
End = Annotated[
    str | None,
    Query(
        alias="to",
        max_length=10,
        description="The UTC day after the last counted, YYYY-MM-DD (default: tomorrow).",
    ),
]
CohortStart = Annotated[
    str | None,
    Query(
        alias="from", max_length=10, description="Customers first seen on or after this UTC day."
    ),
]
CohortEnd = Annotated[
    str | None,
    Query(alias="to", max_length=10, description="Customers first seen before this UTC day."),
]
Channel = Annotated[str | None, Query(max_length=40, description="One channel, e.g. web.")]
Segment = Annotated[
    str | None, Query(max_length=36, description="A segment's id: its members only.")
]
Store = Annotated[
    str | None, Query(max_length=100, description="A store's location code: its sales only.")
]
Bucket = Annotated[
    str | None, Query(max_length=10, description="day (default), week (from Monday) or month")
]
PathChannel = Annotated[
    str | None, Query(max_length=40, description="Only paths that end on this channel.")
]
Outcome = Annotated[str | None, Query(max_length=10, description="purchase (default) or contact")]
Limit = Annotated[str | None, Query(max_length=10, description="Top paths listed, 1 to 100 (10).")]
Zone = Annotated[str | None, Query(max_length=64, description="IANA time zone of the hours (UTC).")]


# -- registering a report route ------------------------------------------------------------------


def query_parameter(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    """A query parameter of a report route: `name` is its keyword (and its name in the query
    unless `annotation` gives an alias)."""
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def add_report(
    router: APIRouter,
    path: str,
    answer: Callable[[Services, Request, dict[str, Any]], Any],
    *,
    summary: str,
    response_model: type[BaseModel],
    responses: dict[int | str, dict[str, Any]],
    parameters: Sequence[inspect.Parameter],
) -> None:
    """Register `GET path` for analytics.read callers: `answer` gets the services, the
    request and the values of `parameters` by keyword, and returns a response or a body of
    `response_model`. The route's name (its OpenAPI operation) is the path's last part."""
    name = path.rsplit("/", 1)[-1].replace("-", "_")

    def endpoint(request: Request, services: Services, **values: Any) -> Any:
        values.pop("_")
        return answer(services, request, values)

    signature = inspect.Signature(
        [
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            inspect.Parameter("services", inspect.Parameter.KEYWORD_ONLY, annotation=ServicesDep),
            inspect.Parameter("_", inspect.Parameter.KEYWORD_ONLY, annotation=AnalyticsRead),
            *parameters,
        ],
        return_annotation=Response,
    )
    endpoint.__name__ = endpoint.__qualname__ = name
    setattr(endpoint, "__signature__", signature)  # noqa: B010 - FastAPI reads the parameters here
    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        name=name,
        summary=summary,
        response_model=response_model,
        responses=responses,
    )


def csv_response(
    report: str, start: str, end: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response:
    """A report as a CSV file with a header row, named for the report and its period."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    name = f"omnicx-{report}-{start}-{end}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- the channel reports -------------------------------------------------------------------------


def _day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("invalid_date", f"{field} is a day written YYYY-MM-DD", field) from None


def _limit(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid("invalid_limit", "limit is a whole number from 1 to 100", "limit") from None


def _as_given(value: str | None) -> str | None:
    return value


@dataclass(frozen=True)
class Option:
    """A parameter a channel report takes besides `from`, `to` and `format`."""

    name: str
    annotation: Any
    keyword: str = ""
    """The `usage_query` keyword it fills (`name` when empty)."""
    parse: Callable[[str | None], Any] = _as_given


@dataclass(frozen=True)
class ChannelReport:
    name: str
    """The report (`REPORTS`) and the last part of its path."""
    summary: str
    response_model: type[BaseModel]
    options: tuple[Option, ...]
    cohort: bool = False
    """`from` and `to` pick customers by the day they were first seen."""


CHANNEL = Option("channel", Channel)
SEGMENT = Option("segment", Segment)
STORE = Option("store", Store)

CHANNEL_REPORTS = (
    ChannelReport(
        "channel-usage",
        "Customers and interactions per channel per day, week or month",
        ChannelUsagePublic,
        (CHANNEL, Option("bucket", Bucket)),
    ),
    ChannelReport(
        "propensity",
        "The share of customers using one, two, three or more channels, by age band",
        PropensityPublic,
        (SEGMENT,),
        cohort=True,
    ),
    ChannelReport(
        "paths",
        "The commonest sequences of channels before a purchase or a contact (and a Sankey)",
        PathsPublic,
        (
            Option("channel", PathChannel),
            Option("outcome", Outcome),
            Option("limit", Limit, parse=_limit),
        ),
    ),
    ChannelReport(
        "conversions",
        "Browsed online and bought in a store within N days, and the reverse",
        ConversionsPublic,
        (CHANNEL, STORE),
    ),
    ChannelReport(
        "economics",
        "Revenue, orders and the cost to serve per channel",
        EconomicsPublic,
        (CHANNEL, STORE),
    ),
    ChannelReport(
        "clv",
        "Customer lifetime value by first channel and by number of channels used",
        ClvPublic,
        (SEGMENT,),
        cohort=True,
    ),
    ChannelReport(
        "heatmap",
        "Interactions per channel by weekday and hour",
        HeatmapPublic,
        (CHANNEL, Option("tz", Zone, keyword="zone")),
    ),
)


def _answer(spec: ChannelReport) -> Callable[[Services, Request, dict[str, Any]], Response]:
    name = spec.name

    def answer(services: Services, request: Request, values: dict[str, Any]) -> Response:
        given = {
            option.keyword or option.name: option.parse(values[option.name])
            for option in spec.options
        }
        for parameter in PARAMETERS:
            if parameter in request.query_params and parameter not in REPORTS[name]:
                raise Invalid(
                    "unsupported_parameter",
                    f"the {name} report does not take {parameter}",
                    parameter,
                )
        fmt = values["format"]
        if fmt not in ("json", "csv"):
            raise Invalid("invalid_format", "format is json or csv", "format")
        query = usage_query(
            name,
            today=services.clock.now().date(),
            start=_day(values["start"], "from"),
            end=_day(values["end"], "to"),
            **given,
        )
        with services.uow(write=False) as uow:
            report = services.analytics.report(uow, query)
        if fmt == "csv":
            return _csv(report)
        body = {k: v for k, v in asdict(report).items() if k not in ("report", "start", "end")}
        body["period"] = {
            "start": query.start,
            "end": query.end,
            "channel": query.channel,
            "segment": query.segment,
            "store": query.store,
        }
        return JsonResponse(
            spec.response_model.model_validate(body).model_dump(mode="json", by_alias=True)
        )

    return answer


def _csv(report: Report) -> Response:
    header, rows = report.table()
    start = report.start.isoformat() if report.start else "start"
    end = report.end.isoformat() if report.end else "now"
    return csv_response(report.report, start, end, header, rows)


for _spec in CHANNEL_REPORTS:
    add_report(
        router,
        f"/{_spec.name}",
        _answer(_spec),
        summary=_spec.summary,
        response_model=_spec.response_model,
        responses=RESPONSES,
        parameters=[
            query_parameter("start", CohortStart if _spec.cohort else Start),
            query_parameter("end", CohortEnd if _spec.cohort else End),
            *(query_parameter(option.name, option.annotation) for option in _spec.options),
            query_parameter("format", Format, "json"),
        ],
    )

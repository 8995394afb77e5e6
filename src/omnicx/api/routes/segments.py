"""The segments API: definitions (segments.write), members, sizes and dry runs (segments.read).

    POST|GET /api/segments                   create (JSON or YAML body) / list
    GET|PUT|DELETE /api/segments/{id}        one segment; PUT may change the definition
    GET /api/segments/{id}/size              members now, and whether a pass is under way
    GET /api/segments/{id}/preview?limit=    some members, with the traits the definition tests
    POST /api/segments/preview               a dry run of an unsaved definition: size and sample
    GET /api/customers/{id}/segments         the segments a customer is in

A definition with problems is refused whole with `400 invalid_segment`: `field` names the
first problem by its JSON path (`condition.all[2].within`) and `items` lists every one.
"""

import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import orjson
import yaml
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_body, error_responses
from omnicx.api.responses import JsonResponse
from omnicx.api.schemas.segments import (
    CustomerSegment,
    CustomerSegments,
    MemberPublic,
    PreviewRequest,
    SegmentChange,
    SegmentCreate,
    SegmentPreview,
    SegmentPublic,
    SegmentSize,
    SegmentsPublic,
)
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.kernel import Gone, Invalid, NotFound
from omnicx.orchestration.segmenter import Member
from omnicx.orchestration.segments import Segment, SegmentInvalid
from omnicx.profiles import find_profile

router = APIRouter(prefix="/api", tags=["segments"])

SegmentsRead = Annotated[Principal, Depends(require("segments.read"))]
SegmentsWrite = Annotated[Principal, Depends(require("segments.write"))]

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
MAX_NESTING = 64

M = TypeVar("M", bound=BaseModel)


# -- bodies: JSON, or YAML ---------------------------------------------------------------


def _plain(value: Any, path: str, depth: int = 0) -> Any:
    """YAML data as JSON data: string keys, finite numbers, no NUL, dates as ISO text."""
    if depth > MAX_NESTING:
        raise Invalid("too_deeply_nested", f"the body nests over {MAX_NESTING} levels", "body")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Invalid("malformed_yaml", f"{path}: keys must be texts, not {key!r}", path)
            out[key] = _plain(item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list):
        return [_plain(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, str):
        if "\x00" in value:
            raise Invalid("nul_character", f"{path}: a text holds a NUL character", path)
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("malformed_yaml", f"{path}: numbers must be finite", path)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise Invalid("malformed_yaml", f"{path}: {type(value).__name__} values are not accepted", path)


def _data(raw: bytes, content_type: str | None) -> Any:
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media in YAML_TYPES:
        try:
            loaded = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
            problem = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise Invalid(
                "malformed_yaml", f"the body is not valid YAML: {problem}", "body"
            ) from None
        return _plain(loaded, "body")
    if media == "application/json" or media.endswith("+json"):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise Invalid(
                "malformed_json", f"the body is not valid JSON: {error}", "body"
            ) from None
    raise HTTPException(
        415, f"the body must be application/json or application/yaml; the request sent {media}"
    )


def body_of(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency reading the body as `model`, from JSON or YAML."""

    async def read(request: Request) -> M:
        data = _data(await request.body(), request.headers.get("content-type"))
        try:
            return model.model_validate(data)
        except ValidationError as error:
            problems = [
                {**problem, "loc": ("body", *problem["loc"])}
                for problem in error.errors(include_url=False)
            ]
            raise RequestValidationError(problems, body=data) from None

    return read


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "description": "JSON, or the same as YAML (`Content-Type: application/yaml`).",
            "content": {"application/json": {"schema": schema}},
        }
    }


# -- answers -----------------------------------------------------------------------------


def segment_public(segment: Segment) -> SegmentPublic:
    return SegmentPublic(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        condition=segment.definition,
        version=segment.version,
        computing=segment.scan is not None,
        refreshed_at=segment.refreshed_at,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def member_public(member: Member) -> MemberPublic:
    return MemberPublic(
        id=member.profile_id,
        display_name=member.display_name,
        since=member.since,
        traits=member.traits,
    )


def invalid_response(error: SegmentInvalid) -> JsonResponse:
    return JsonResponse(
        error_body(
            error.code,
            error.message,
            field=error.field,
            items=[{"field": path, "message": message} for path, message in error.problems],
        ),
        status_code=400,
    )


@contextmanager
def _writing(services: Services) -> Iterator[UnitOfWork]:
    with services.uow() as uow:
        yield uow
        uow.commit()


# -- routes ------------------------------------------------------------------------------


@router.post(
    "/segments",
    status_code=201,
    response_model=SegmentPublic,
    summary="Define a segment",
    responses=error_responses(409),
    openapi_extra=_documented(SegmentCreate),
)
def create_segment(
    services: ServicesDep,
    _: SegmentsWrite,
    body: Annotated[SegmentCreate, Depends(body_of(SegmentCreate))],
) -> SegmentPublic | JsonResponse:
    try:
        with _writing(services) as uow:
            segment = services.segmenter.create(uow, body.name, body.description, body.condition)
    except SegmentInvalid as error:
        return invalid_response(error)
    return segment_public(segment)


@router.get("/segments", response_model=SegmentsPublic, summary="List segments")
def list_segments(services: ServicesDep, _: SegmentsRead) -> SegmentsPublic:
    with services.uow(write=False) as uow:
        found = services.segmenter.all(uow)
    return SegmentsPublic(items=[segment_public(s) for s in found])


@router.post(
    "/segments/preview",
    response_model=SegmentPreview,
    summary="Dry run: the size and some members of an unsaved definition",
    openapi_extra=_documented(PreviewRequest),
)
def preview_definition(
    request: Request,
    services: ServicesDep,
    _: SegmentsRead,
    body: Annotated[PreviewRequest, Depends(body_of(PreviewRequest))],
) -> SegmentPreview | JsonResponse:
    try:
        with services.uow(write=False) as uow:
            preview = services.segmenter.preview(
                uow,
                body.condition,
                limit=body.limit,
                max_customers=services.settings.segment_preview_max_customers,
            )
    except SegmentInvalid as error:
        return invalid_response(error)
    request.state.audit_customers = [m.profile_id for m in preview.sample]
    return SegmentPreview(
        size=preview.size,
        members=[member_public(m) for m in preview.sample],
        scanned=preview.scanned,
        complete=preview.complete,
    )


@router.get("/segments/{segment_id}", response_model=SegmentPublic, summary="One segment")
def get_segment(segment_id: str, services: ServicesDep, _: SegmentsRead) -> SegmentPublic:
    with services.uow(write=False) as uow:
        return segment_public(services.segmenter.get(uow, segment_id))


@router.put(
    "/segments/{segment_id}",
    response_model=SegmentPublic,
    summary="Change a segment (a new definition is evaluated again for everyone)",
    responses=error_responses(409),
    openapi_extra=_documented(SegmentChange),
)
def change_segment(
    segment_id: str,
    services: ServicesDep,
    _: SegmentsWrite,
    body: Annotated[SegmentChange, Depends(body_of(SegmentChange))],
) -> SegmentPublic | JsonResponse:
    try:
        with _writing(services) as uow:
            segment = services.segmenter.update(
                uow,
                segment_id,
                name=body.name,
                description=body.description,
                definition=body.condition,
            )
    except SegmentInvalid as error:
        return invalid_response(error)
    return segment_public(segment)


@router.delete(
    "/segments/{segment_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a segment and its memberships",
)
def delete_segment(segment_id: str, services: ServicesDep, _: SegmentsWrite) -> Response:
    with _writing(services) as uow:
        services.segmenter.delete(uow, segment_id)
    return Response(status_code=204)


@router.get("/segments/{segment_id}/size", response_model=SegmentSize, summary="Members now")
def segment_size(segment_id: str, services: ServicesDep, _: SegmentsRead) -> SegmentSize:
    with services.uow(write=False) as uow:
        segment, size = services.segmenter.size(uow, segment_id)
    return SegmentSize(
        segment_id=segment.id,
        size=size,
        computing=segment.scan is not None,
        refreshed_at=segment.refreshed_at,
    )


@router.get(
    "/segments/{segment_id}/preview",
    response_model=SegmentPreview,
    summary="Some members, longest-standing first, with the traits the definition tests",
)
def segment_preview(
    segment_id: str,
    request: Request,
    services: ServicesDep,
    _: SegmentsRead,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SegmentPreview:
    with services.uow(write=False) as uow:
        segment, size = services.segmenter.size(uow, segment_id)
        sample = services.segmenter.sample(uow, segment.id, limit)
    request.state.audit_customers = [m.profile_id for m in sample]
    return SegmentPreview(size=size, members=[member_public(m) for m in sample])


@router.get(
    "/customers/{customer_id}/segments",
    response_model=CustomerSegments,
    summary="The segments a customer is in",
    responses=error_responses(410),
)
def customer_segments(
    customer_id: str, request: Request, services: ServicesDep, _: SegmentsRead
) -> CustomerSegments:
    with services.uow(write=False) as uow:
        try:
            profile = find_profile(services.profiles(uow), customer_id)
        except NotFound:
            if services.privacy(uow).is_erased(customer_id):
                raise Gone("customer_erased", f"customer {customer_id} was erased", "id") from None
            raise
        found = services.segmenter.memberships(uow, profile.canonical_id)
    request.state.audit_customers = [profile.canonical_id]
    return CustomerSegments(
        items=[CustomerSegment(id=s.id, name=s.name, since=since) for s, since in found]
    )

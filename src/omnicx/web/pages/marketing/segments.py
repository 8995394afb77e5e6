"""The segment pages: the list with member counts, and the editor of a definition with its
problems shown in place, a dry run of the members it would hold, and save.

    GET  /marketing/segments                 every segment, its members and state
    GET  /marketing/segments/new             the editor for a new segment (segments.write)
    GET  /marketing/segments/{id}            one segment: size, some members, its editor
    POST /marketing/segments                 create, or dry-run an unsaved definition
    POST /marketing/segments/{id}            change, or dry-run the edited definition
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.api.deps import ServicesDep
from omnicx.bootstrap import Services
from omnicx.kernel import DomainError, Invalid
from omnicx.orchestration.segmenter import Member
from omnicx.orchestration.segments import Segment, SegmentInvalid
from omnicx.web.auth import Staff, check_csrf, page
from omnicx.web.i18n import N_
from omnicx.web.pages.marketing.common import (
    MAX_DOCUMENT,
    AuditedRoute,
    Problems,
    as_yaml,
    read_document,
)
from omnicx.web.render import render

router = APIRouter(route_class=AuditedRoute, include_in_schema=False)

SegmentsRead = Annotated[Staff, page("segments.read")]
SegmentsWrite = Annotated[Staff, page("segments.write")]

SAMPLE = 10
"""Members shown on a segment's page and in a dry run."""
MAX_DESCRIPTION = 1000

STARTER: dict[str, Any] = {
    "all": [
        {"trait": "tier", "op": "in", "value": ["gold", "platinum"]},
        {"event": "Order Completed", "count": {"gte": 2}, "within": "30d"},
    ]
}
"""The definition a new segment's editor starts from."""

STATES = {"computing": N_("Evaluating"), "ready": N_("Up to date")}
NOTICES = {"saved": N_("Segment saved."), "created": N_("Segment created.")}


@dataclass(frozen=True)
class MemberView:
    id: str
    name: str
    since: Any
    traits: list[tuple[str, str]]


@dataclass(frozen=True)
class Dry:
    """A dry run of the definition in the editor."""

    size: int
    scanned: int
    complete: bool
    members: list[MemberView]


def _state(segment: Segment) -> str:
    return "computing" if segment.scan is not None else "ready"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _members(found: list[Member]) -> list[MemberView]:
    return [
        MemberView(
            id=m.profile_id,
            name=m.display_name or "",
            since=m.since,
            traits=[(key, _shown(value)) for key, value in sorted(m.traits.items())],
        )
        for m in found
    ]


@router.get("/marketing/segments")
def segments(
    request: Request,
    services: ServicesDep,
    staff: SegmentsRead,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    with services.uow(write=False) as uow:
        found = sorted(services.segmenter.all(uow), key=lambda s: (s.name.casefold(), s.id))
        repo = services.segmenter.repo(uow)
        rows = [(s, repo.size(s.id), _state(s)) for s in found]
    return render(
        request,
        "segments.html",
        staff,
        rows=rows,
        states=STATES,
        notice=NOTICES.get(done or ""),
    )


def _editor(
    request: Request,
    staff: Staff,
    segment: Segment | None,
    *,
    name: str,
    description: str,
    definition: str,
    size: int | None = None,
    members: list[MemberView] | None = None,
    dry: Dry | None = None,
    problems: Problems | None = None,
    notice: str | None = None,
) -> Response:
    problems = problems or Problems()
    return render(
        request,
        "segments_edit.html",
        staff,
        status_code=problems.status if problems else 200,
        segment=segment,
        state=_state(segment) if segment is not None else None,
        states=STATES,
        name=name,
        description=description,
        definition=definition,
        size=size,
        members=members or [],
        dry=dry,
        problems=problems,
        notice=notice,
        max_description=MAX_DESCRIPTION,
    )


@router.get("/marketing/segments/new")
def new_segment(request: Request, staff: SegmentsWrite) -> Response:
    return _editor(request, staff, None, name="", description="", definition=as_yaml(STARTER))


def _saved(services: Services, segment_id: str) -> tuple[Segment, int, list[Member]]:
    with services.uow(write=False) as uow:
        segment, size = services.segmenter.size(uow, segment_id)
        sample = services.segmenter.sample(uow, segment.id, SAMPLE)
    return segment, size, sample


@router.get("/marketing/segments/{segment_id}")
def segment_page(
    segment_id: str,
    request: Request,
    services: ServicesDep,
    staff: SegmentsRead,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    segment, size, sample = _saved(services, segment_id)
    request.state.audit_customers = [m.profile_id for m in sample]
    return _editor(
        request,
        staff,
        segment,
        name=segment.name,
        description=segment.description,
        definition=as_yaml(segment.definition),
        size=size,
        members=_members(sample),
        notice=NOTICES.get(done or ""),
    )


FormText = Annotated[str, Form(max_length=MAX_DOCUMENT)]


def _submit(
    request: Request,
    services: Services,
    staff: Staff,
    segment_id: str | None,
    *,
    name: str,
    description: str,
    definition: str,
    action: str,
) -> Response:
    segment: Segment | None = None
    size: int | None = None
    members: list[MemberView] = []
    if segment_id is not None:
        segment, size, sample = _saved(services, segment_id)
        members = _members(sample)
    problems = Problems()
    condition: dict[str, Any] | None = None
    if not definition.strip():
        problems.add("definition", "", staff.gettext("Enter a definition."))
    else:
        try:
            condition = read_document(definition)
        except Invalid as error:
            problems.of(error, "definition")
    if len(description) > MAX_DESCRIPTION:
        problems.add(
            "description",
            "",
            staff.gettext("Keep the description under %(n)s characters.", n=MAX_DESCRIPTION),
        )
    dry: Dry | None = None
    if condition is not None and action == "preview":
        try:
            with services.uow(write=False) as uow:
                preview = services.segmenter.preview(
                    uow,
                    condition,
                    limit=SAMPLE,
                    max_customers=services.settings.segment_preview_max_customers,
                )
        except SegmentInvalid as error:
            problems.of(error, "definition", error.problems)
        else:
            request.state.audit_customers = [m.profile_id for m in preview.sample]
            dry = Dry(preview.size, preview.scanned, preview.complete, _members(preview.sample))
    elif condition is not None and not problems:
        try:
            with services.uow() as uow:
                if segment is None:
                    saved = services.segmenter.create(uow, name, description, condition)
                else:
                    saved = services.segmenter.update(
                        uow, segment.id, name=name, description=description, definition=condition
                    )
                uow.commit()
        except SegmentInvalid as error:
            problems.of(error, "definition", error.problems)
        except DomainError as error:
            problems.of(error, "name" if error.field == "name" else "definition")
        else:
            done = "created" if segment is None else "saved"
            return RedirectResponse(f"/marketing/segments/{saved.id}?done={done}", status_code=303)
    return _editor(
        request,
        staff,
        segment,
        name=name,
        description=description,
        definition=definition,
        size=size,
        members=members,
        dry=dry,
        problems=problems,
    )


Action = Annotated[Literal["save", "preview"], Form()]


@router.post("/marketing/segments")
def create_segment(
    request: Request,
    services: ServicesDep,
    staff: SegmentsWrite,
    name: Annotated[str, Form(max_length=1000)] = "",
    description: FormText = "",
    definition: FormText = "",
    action: Action = "save",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(staff, csrf)
    return _submit(
        request,
        services,
        staff,
        None,
        name=name,
        description=description,
        definition=definition,
        action=action,
    )


@router.post("/marketing/segments/{segment_id}")
def change_segment(
    segment_id: str,
    request: Request,
    services: ServicesDep,
    staff: SegmentsWrite,
    name: Annotated[str, Form(max_length=1000)] = "",
    description: FormText = "",
    definition: FormText = "",
    action: Action = "save",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(staff, csrf)
    return _submit(
        request,
        services,
        staff,
        segment_id,
        name=name,
        description=description,
        definition=definition,
        action=action,
    )

"""Publishing a journey's draft, or an earlier version again, after its impact preview: how
many customers sit on each node of the live version and what each group would do or receive
next under the migration map, which the marketer edits until every group is placed.

    GET  /marketing/journeys/{id}/publish?migration=        the preview of publishing the draft
    POST /marketing/journeys/{id}/publish                   publish it with the map
    GET  /marketing/journeys/{id}/rollback?to=&migration=   the preview of a rollback
    POST /marketing/journeys/{id}/rollback                  roll back with the map
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.api.deps import ServicesDep
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.kernel import Conflict, DomainError, Invalid
from omnicx.orchestration.journeys import Definition, DefinitionInvalid, Journey, parse_definition
from omnicx.orchestration.migration import MigrationInvalid
from omnicx.web.auth import Staff, check_csrf
from omnicx.web.i18n import N_
from omnicx.web.pages.marketing.common import (
    MAX_DOCUMENT,
    AuditedRoute,
    Problems,
    as_yaml,
    read_document,
)
from omnicx.web.pages.marketing.journeys import (
    STATES,
    Csrf,
    JourneysRead,
    JourneysWrite,
    draft_state,
    find,
)
from omnicx.web.render import render

router = APIRouter(route_class=AuditedRoute, include_in_schema=False)

Mode = Literal["publish", "rollback"]
RULES = {
    "follow": N_("Follow"),
    "drain": N_("Stay on the current version"),
    "exit": N_("Leave the journey"),
}
MapText = Annotated[str, Form(max_length=MAX_DOCUMENT)]


@dataclass(frozen=True)
class Release:
    """What publishing would do: the version it makes, the customers it moves, and what
    stands in its way."""

    journey: Journey
    mode: Mode
    to: int | None
    """The earlier version a rollback publishes again."""
    preview: dict[str, Any] | None
    migration: str
    problems: Problems

    @property
    def ready(self) -> bool:
        return self.preview is not None and not self.problems


def _map(text: str, problems: Problems) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        return read_document(text)
    except Invalid as error:
        problems.of(error, "migration")
        return None


def _target(
    services: Services, uow: UnitOfWork, journey: Journey, mode: Mode, to: int | None
) -> tuple[Definition | None, int | None, Problems]:
    """The definition a release would publish (None when it cannot), which earlier version
    a rollback repeats, and the draft's problems."""
    problems = Problems()
    if mode == "publish":
        checked = services.conductor.validate(uow, journey.id, None)
        for problem in checked["problems"]:
            problems.add("definition", problem["field"], problem["message"])
        if problems:
            return None, None, problems
        if draft_state(services, uow, journey) == "live":
            raise Conflict("nothing_to_publish", "the draft is the live version already", "draft")
        assert journey.draft is not None
        return parse_definition(journey.draft), None, problems
    if journey.live_version is None:
        raise Conflict("not_published", "the journey was never published", "id")
    wanted = to if to is not None else journey.live_version - 1
    if wanted == journey.live_version:
        raise Conflict("already_live", f"version {wanted} is live", "to")
    if wanted < 1 or services.conductor.repo(uow).version(journey.id, wanted) is None:
        raise Invalid("unknown_version", f"no version {wanted} to roll back to", "to")
    return (
        services.conductor.definition(services.conductor.repo(uow), journey.id, wanted),
        wanted,
        problems,
    )


def release(
    services: Services,
    journey_id: str,
    mode: Mode,
    to: int | None,
    text: str | None,
    refusal: DomainError | None = None,
) -> Release:
    """The preview of a release with the map typed as `text` (None: a suggested map, where
    every node the new version keeps is followed)."""
    with services.uow(write=False) as uow:
        journey = find(services, uow, journey_id)
        target, wanted, problems = _target(services, uow, journey, mode, to)
        if refusal is not None and not isinstance(refusal, MigrationInvalid):
            items = getattr(refusal, "problems", ())
            problems.of(refusal, "definition", [(p.field, p.message) for p in items])
        if target is None:
            return Release(journey, mode, wanted, None, text or "", problems)
        if text is None:
            nobody = services.conductor.preview(uow, journey_id, {}, target=target)
            suggested = {g["node"]: "follow" for g in nobody["groups"] if g["node"] in target.nodes}
            text = as_yaml(suggested)
        raw = _map(text, problems)
        preview = services.conductor.preview(uow, journey_id, raw, target=target)
    for problem in preview["problems"]:
        problems.add("migration", problem["field"], problem["message"])
    return Release(journey, mode, wanted, preview, text, problems)


def _page(request: Request, staff: Staff, found: Release, *, status_code: int = 200) -> Response:
    return render(
        request,
        "journeys_release.html",
        staff,
        status_code=status_code,
        release=found,
        journey=found.journey,
        states=STATES,
        rules=RULES,
        problems=found.problems,
    )


@router.get("/marketing/journeys/{journey_id}/publish")
def publish_preview(
    journey_id: str,
    request: Request,
    services: ServicesDep,
    staff: JourneysRead,
    migration: Annotated[str | None, Query(max_length=MAX_DOCUMENT)] = None,
) -> Response:
    return _page(request, staff, release(services, journey_id, "publish", None, migration))


@router.get("/marketing/journeys/{journey_id}/rollback")
def rollback_preview(
    journey_id: str,
    request: Request,
    services: ServicesDep,
    staff: JourneysRead,
    to: Annotated[int | None, Query(ge=1)] = None,
    migration: Annotated[str | None, Query(max_length=MAX_DOCUMENT)] = None,
) -> Response:
    return _page(request, staff, release(services, journey_id, "rollback", to, migration))


def _release(
    request: Request,
    services: Services,
    staff: Staff,
    journey_id: str,
    mode: Mode,
    to: int | None,
    text: str,
    note: str,
) -> Response:
    problems = Problems()
    raw = _map(text, problems)
    if problems:
        found = release(services, journey_id, mode, to, text)
        return _page(request, staff, found, status_code=400)
    try:
        with services.uow() as uow:
            actor = staff.principal.actor
            if mode == "publish":
                services.conductor.publish(uow, journey_id, raw, actor, note=note.strip() or None)
            else:
                services.conductor.rollback(uow, journey_id, to, raw, actor)
            uow.commit()
    except (DefinitionInvalid, MigrationInvalid, Invalid) as error:
        found = release(services, journey_id, mode, to, text, refusal=error)
        if not found.problems:
            found.problems.of(error, "migration")
        return _page(request, staff, found, status_code=400)
    done = "published" if mode == "publish" else "rolled_back"
    return RedirectResponse(f"/marketing/journeys/{journey_id}?done={done}", status_code=303)


@router.post("/marketing/journeys/{journey_id}/publish")
def publish(
    journey_id: str,
    request: Request,
    services: ServicesDep,
    staff: JourneysWrite,
    csrf: Csrf = "",
    migration: MapText = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    check_csrf(staff, csrf)
    return _release(request, services, staff, journey_id, "publish", None, migration, note)


@router.post("/marketing/journeys/{journey_id}/rollback")
def rollback(
    journey_id: str,
    request: Request,
    services: ServicesDep,
    staff: JourneysWrite,
    csrf: Csrf = "",
    to: Annotated[int | None, Form(ge=1)] = None,
    migration: MapText = "",
) -> Response:
    check_csrf(staff, csrf)
    return _release(request, services, staff, journey_id, "rollback", to, migration, "")

"""The journey pages: the list with state, version and customers, and one journey with where
its customers are, its versions, the draft's editor (problems shown in place), pause and
resume. Publishing and rolling back, with their impact preview, are in `release`.

    GET  /marketing/journeys                 every journey
    GET  /marketing/journeys/new             the editor for a new journey (journeys.write)
    POST /marketing/journeys                 create it as a draft
    GET  /marketing/journeys/{id}            one journey
    POST /marketing/journeys/{id}/draft      check or save the draft
    POST /marketing/journeys/{id}/pause      freeze it
    POST /marketing/journeys/{id}/resume     thaw it
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.api.deps import ServicesDep
from omnicx.api.schemas.journeys import DEFINITION_EXAMPLE
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.kernel import DomainError, Invalid, NotFound
from omnicx.orchestration.journeys import DefinitionInvalid, Journey, Version
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

JourneysRead = Annotated[Staff, page("journeys.read")]
JourneysWrite = Annotated[Staff, page("journeys.write")]
Csrf = Annotated[str, Form(max_length=200)]

STATES = {"draft": N_("Draft"), "live": N_("Live"), "paused": N_("Paused")}
OUTCOMES = {
    "completed": N_("Completed"),
    "converted": N_("Converted"),
    "exited": N_("Taken out"),
    "failed": N_("Failed"),
}
"""How customers who finished the journey left it."""
NOTICES = {
    "created": N_("Journey created as a draft. Publish it to let customers in."),
    "draft_saved": N_("Draft saved."),
    "published": N_("Published: version %(version)s is live."),
    "rolled_back": N_("Rolled back: version %(version)s is live."),
    "paused": N_("Journey paused: nobody moves or enters until it is resumed."),
    "resumed": N_("Journey resumed."),
}


@dataclass(frozen=True)
class Row:
    """A journey in the list."""

    journey: Journey
    running: int
    ended: int
    draft: str


@dataclass(frozen=True)
class VersionRow:
    version: Version
    by: str


def find(services: Services, uow: UnitOfWork, journey_id: str) -> Journey:
    journey = services.conductor.repo(uow).journey(journey_id)
    if journey is None:
        raise NotFound("journey_not_found", f"no journey {journey_id}", "id")
    return journey


def draft_state(services: Services, uow: UnitOfWork, journey: Journey) -> str:
    """ "unpublished" (never published), "live" (the draft is the live version) or
    "changed" (the draft differs from it)."""
    if journey.live_version is None:
        return "unpublished"
    live = services.conductor.repo(uow).version(journey.id, journey.live_version)
    return "live" if live is not None and live.hash == journey.draft_hash else "changed"


def actor_name(services: Services, uow: UnitOfWork, actor: str) -> str:
    """Who an actor id (`user:<id>`) names, for people."""
    kind, _, actor_id = actor.partition(":")
    if kind == "user":
        user = services.users(uow).get(actor_id)
        if user is not None:
            return user.name
    return actor


def notice(staff: Staff, done: str | None, journey: Journey | None = None) -> str | None:
    message = NOTICES.get(done or "")
    if message is None:
        return None
    version = journey.live_version if journey is not None else None
    return staff.gettext(message, version=version) if "%(" in message else staff.gettext(message)


@router.get("/marketing/journeys")
def journeys(
    request: Request,
    services: ServicesDep,
    staff: JourneysRead,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    with services.uow(write=False) as uow:
        repo = services.conductor.repo(uow)
        rows = [
            Row(
                journey,
                sum(count for _, _, _, count in repo.places(journey.id)),
                sum(repo.outcomes(journey.id).values()),
                draft_state(services, uow, journey),
            )
            for journey in repo.journeys()
        ]
    return render(
        request,
        "journeys.html",
        staff,
        rows=rows,
        states=STATES,
        notice=notice(staff, done),
    )


@router.get("/marketing/journeys/new")
def new_journey(request: Request, staff: JourneysWrite) -> Response:
    return render(
        request,
        "journeys_new.html",
        staff,
        definition=as_yaml(DEFINITION_EXAMPLE),
        problems=Problems(),
    )


def _source(text: str, problems: Problems, staff: Staff) -> dict[str, Any] | None:
    if not text.strip():
        problems.add("definition", "", staff.gettext("Enter a definition."))
        return None
    try:
        return read_document(text)
    except Invalid as error:
        problems.of(error, "definition")
        return None


def _place(problems: Problems, error: DomainError) -> None:
    if isinstance(error, DefinitionInvalid):
        problems.of(error, "definition", [(p.field, p.message) for p in error.problems])
    else:
        problems.of(error, "definition")


@router.post("/marketing/journeys")
def create_journey(
    request: Request,
    services: ServicesDep,
    staff: JourneysWrite,
    csrf: Csrf = "",
    definition: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "",
) -> Response:
    check_csrf(staff, csrf)
    problems = Problems()
    source = _source(definition, problems, staff)
    if source is not None:
        try:
            with services.uow() as uow:
                journey = services.conductor.create(uow, source, staff.principal.actor)
                uow.commit()
        except DomainError as error:
            _place(problems, error)
        else:
            return RedirectResponse(
                f"/marketing/journeys/{journey.id}?done=created", status_code=303
            )
    return render(
        request,
        "journeys_new.html",
        staff,
        status_code=problems.status,
        definition=definition,
        problems=problems,
    )


def _journey_page(
    request: Request,
    services: Services,
    staff: Staff,
    journey_id: str,
    *,
    definition: str | None = None,
    problems: Problems | None = None,
    message: str | None = None,
    done: str | None = None,
) -> Response:
    with services.uow(write=False) as uow:
        journey = find(services, uow, journey_id)
        stats = services.conductor.stats(uow, journey_id)
        versions = [
            VersionRow(v, actor_name(services, uow, v.published_by))
            for v in services.conductor.repo(uow).versions(journey_id)
        ]
        draft = draft_state(services, uow, journey)
    problems = problems or Problems()
    return render(
        request,
        "journeys_page.html",
        staff,
        status_code=problems.status if problems else 200,
        journey=journey,
        states=STATES,
        outcomes=OUTCOMES,
        stats=stats,
        versions=list(reversed(versions)),
        draft=draft,
        definition=as_yaml(journey.draft) if definition is None else definition,
        problems=problems,
        notice=message or notice(staff, done, journey),
    )


@router.get("/marketing/journeys/{journey_id}")
def journey_page(
    journey_id: str,
    request: Request,
    services: ServicesDep,
    staff: JourneysRead,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _journey_page(request, services, staff, journey_id, done=done)


@router.post("/marketing/journeys/{journey_id}/draft")
def save_draft(
    journey_id: str,
    request: Request,
    services: ServicesDep,
    staff: JourneysWrite,
    csrf: Csrf = "",
    definition: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "",
    action: Annotated[Literal["save", "check"], Form()] = "save",
) -> Response:
    check_csrf(staff, csrf)
    problems = Problems()
    source = _source(definition, problems, staff)
    message: str | None = None
    if source is not None and action == "check":
        with services.uow(write=False) as uow:
            found = services.conductor.validate(uow, journey_id, source)
        for problem in found["problems"]:
            problems.add("definition", problem["field"], problem["message"])
        if found["valid"]:
            message = staff.gettext("The definition is valid. Nothing was saved yet.")
    elif source is not None:
        try:
            with services.uow() as uow:
                services.conductor.replace_draft(uow, journey_id, source, staff.principal.actor)
                uow.commit()
        except DomainError as error:
            _place(problems, error)
        else:
            return RedirectResponse(
                f"/marketing/journeys/{journey_id}?done=draft_saved", status_code=303
            )
    return _journey_page(
        request,
        services,
        staff,
        journey_id,
        definition=definition,
        problems=problems,
        message=message,
    )


@router.post("/marketing/journeys/{journey_id}/pause")
def pause_journey(
    journey_id: str, services: ServicesDep, staff: JourneysWrite, csrf: Csrf = ""
) -> Response:
    check_csrf(staff, csrf)
    with services.uow() as uow:
        services.conductor.pause(uow, journey_id, staff.principal.actor)
        uow.commit()
    return RedirectResponse(f"/marketing/journeys/{journey_id}?done=paused", status_code=303)


@router.post("/marketing/journeys/{journey_id}/resume")
def resume_journey(
    journey_id: str, services: ServicesDep, staff: JourneysWrite, csrf: Csrf = ""
) -> Response:
    check_csrf(staff, csrf)
    with services.uow() as uow:
        services.conductor.resume(uow, journey_id, staff.principal.actor)
        uow.commit()
    services.wake()
    return RedirectResponse(f"/marketing/journeys/{journey_id}?done=resumed", status_code=303)

"""The journeys API: definitions as data, versions, live edits with a migration map, and the
customers in flight (journeys.write to change, journeys.read to look).

    POST|GET /api/journeys                    create a draft (JSON or YAML body) / list
    GET /api/journeys/{id}                    one journey, where its customers are, outcomes
    PUT /api/journeys/{id}/draft              replace the draft (validated on upload)
    POST /api/journeys/{id}/validate          every problem of the draft, or of a body sent
    POST /api/journeys/{id}/preview           dry run of publishing the draft with a map
    POST /api/journeys/{id}/publish           the draft becomes the next version
    POST /api/journeys/{id}/pause|resume      freeze or thaw the journey
    POST /api/journeys/{id}/rollback          publish an earlier version again, with a map
    GET /api/journeys/{id}/versions           every published version
    GET /api/journeys/{id}/instances?node=    customers in the journey
    GET /api/journeys/{id}/instances/{iid}    one customer's path, transition by transition
    GET /api/customers/{id}/journeys          a customer's journeys

A definition with problems is refused whole with `400 invalid_definition`: `field` names the
first problem by its path (`nodes.wait_2.duration`) and `items` lists every one. A map that
leaves customers unplaced is refused the same way with `invalid_migration`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_body, error_responses
from omnicx.api.responses import JsonResponse
from omnicx.api.schemas.journeys import (
    DEFINITION_EXAMPLE,
    GroupStats,
    InstancePublic,
    InstancesPublic,
    JourneyDetail,
    JourneyPublic,
    JourneysPublic,
    JourneyStats,
    MigrationBody,
    PlacePublic,
    PreviewPublic,
    ProblemPublic,
    PublishBody,
    PublishPublic,
    RollbackBody,
    TransitionPublic,
    ValidationPublic,
    VersionPublic,
    VersionsPublic,
)
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.kernel import Gone, Invalid, NotFound
from omnicx.orchestration.journeys import (
    DefinitionInvalid,
    Instance,
    Journey,
    Transition,
    load_source,
)
from omnicx.orchestration.migration import MigrationInvalid
from omnicx.profiles import find_profile

router = APIRouter(prefix="/api", tags=["journeys"])

JourneysRead = Annotated[Principal, Depends(require("journeys.read"))]
JourneysWrite = Annotated[Principal, Depends(require("journeys.write"))]

JSON_TYPES = frozenset({"application/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})

_DEFINITION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A journey definition as JSON, or the same as YAML "
        "(`Content-Type: application/yaml`); see the README's Journeys section.",
        "content": {
            "application/json": {
                "schema": {"type": "object", "additionalProperties": True},
                "example": DEFINITION_EXAMPLE,
            }
        },
    }
}
_OPTIONAL_DEFINITION: dict[str, Any] = {
    "requestBody": {**_DEFINITION_BODY["requestBody"], "required": False}
}


# -- bodies ----------------------------------------------------------------------------------


def _media(content_type: str | None) -> str:
    return (content_type or "application/json").split(";")[0].strip().lower()


async def _read_definition(request: Request, *, required: bool) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise Invalid("invalid_definition", "the body must hold a journey definition", "body")
        return None
    media = _media(request.headers.get("content-type"))
    if media not in JSON_TYPES | YAML_TYPES and not media.endswith("+json"):
        raise HTTPException(
            415,
            f"the body must be application/json or application/yaml; the request sent {media}",
        )
    return load_source(raw, "application/yaml" if media in YAML_TYPES else "application/json")


async def definition_body(request: Request) -> dict[str, Any]:
    found = await _read_definition(request, required=True)
    assert found is not None
    return found


async def optional_definition(request: Request) -> dict[str, Any] | None:
    return await _read_definition(request, required=False)


def invalid_response(error: DefinitionInvalid | MigrationInvalid) -> JsonResponse:
    return JsonResponse(
        error_body(
            error.code,
            error.message,
            field=error.field,
            items=[{"field": p.field, "message": p.message} for p in error.problems],
        ),
        status_code=400,
    )


@contextmanager
def _writing(services: Services) -> Iterator[UnitOfWork]:
    with services.uow() as uow:
        yield uow
        uow.commit()


# -- answers ---------------------------------------------------------------------------------


def journey_public(journey: Journey, live_hash: str | None = None) -> JourneyPublic:
    return JourneyPublic(
        id=journey.id,
        name=journey.name,
        description=journey.description,
        status=journey.status,
        live_version=journey.live_version,
        draft=dict(journey.draft) if journey.draft is not None else None,
        draft_hash=journey.draft_hash,
        draft_is_live=live_hash is not None and live_hash == journey.draft_hash,
        next_fire_at=journey.next_fire_at,
        created_at=journey.created_at,
        updated_at=journey.updated_at,
        created_by=journey.created_by,
        updated_by=journey.updated_by,
    )


def _live_hash(services: Services, uow: UnitOfWork, journey: Journey) -> str | None:
    if journey.live_version is None:
        return None
    version = services.conductor.repo(uow).version(journey.id, journey.live_version)
    return version.hash if version else None


def _journey(services: Services, uow: UnitOfWork, journey_id: str) -> Journey:
    journey = services.conductor.repo(uow).journey(journey_id)
    if journey is None:
        raise NotFound("journey_not_found", f"no journey {journey_id}", "id")
    return journey


def _transition(t: Transition) -> TransitionPublic:
    return TransitionPublic(node=t.node, at=t.at, outcome=t.outcome, detail=dict(t.detail))


def instance_public(instance: Instance, history: list[Transition] | None = None) -> InstancePublic:
    groups = instance.variables.get("groups") or {}
    return InstancePublic(
        id=instance.id,
        journey_id=instance.journey_id,
        version=instance.version,
        customer_id=instance.profile_id,
        node=instance.node,
        state=instance.state,
        wake_at=instance.wake_at,
        waiting=instance.waiting,
        groups={str(k): str(v) for k, v in groups.items()},
        entered_at=instance.entered_at,
        updated_at=instance.updated_at,
        ended_at=instance.ended_at,
        outcome=instance.outcome,
        history=[_transition(t) for t in history] if history is not None else None,
    )


def _problems(items: list[dict[str, str]]) -> list[ProblemPublic]:
    return [ProblemPublic(**p) for p in items]


# -- journeys --------------------------------------------------------------------------------


@router.post(
    "/journeys",
    status_code=201,
    summary="Create a journey from a definition (a draft)",
    response_model=JourneyPublic,
    responses=error_responses(409),
    openapi_extra=_DEFINITION_BODY,
)
def create_journey(
    services: ServicesDep,
    caller: JourneysWrite,
    source: Annotated[dict[str, Any], Depends(definition_body)],
) -> JourneyPublic | JsonResponse:
    try:
        with _writing(services) as uow:
            journey = services.conductor.create(uow, source, caller.actor)
    except DefinitionInvalid as error:
        return invalid_response(error)
    return journey_public(journey)


@router.get("/journeys", summary="List journeys")
def list_journeys(
    services: ServicesDep,
    _: JourneysRead,
    status: Annotated[str | None, Query(pattern="^(draft|live|paused)$")] = None,
) -> JourneysPublic:
    with services.uow(write=False) as uow:
        found = services.conductor.repo(uow).journeys(status)
        return JourneysPublic(
            items=[journey_public(j, _live_hash(services, uow, j)) for j in found]
        )


@router.get("/journeys/{journey_id}", summary="One journey, where its customers are")
def get_journey(journey_id: str, services: ServicesDep, _: JourneysRead) -> JourneyDetail:
    with services.uow(write=False) as uow:
        journey = _journey(services, uow, journey_id)
        stats = services.conductor.stats(uow, journey_id)
        public = journey_public(journey, _live_hash(services, uow, journey))
    return JourneyDetail(
        **public.model_dump(),
        stats=JourneyStats(
            running=stats["running"],
            places=[PlacePublic(**p) for p in stats["places"]],
            ended=stats["ended"],
            splits={
                node: {group: GroupStats(**counts) for group, counts in groups.items()}
                for node, groups in stats["splits"].items()
            },
            inbox=stats["inbox"],
        ),
    )


@router.put(
    "/journeys/{journey_id}/draft",
    summary="Replace the draft",
    response_model=JourneyPublic,
    responses=error_responses(409),
    openapi_extra=_DEFINITION_BODY,
)
def replace_draft(
    journey_id: str,
    services: ServicesDep,
    caller: JourneysWrite,
    source: Annotated[dict[str, Any], Depends(definition_body)],
) -> JourneyPublic | JsonResponse:
    try:
        with _writing(services) as uow:
            journey = services.conductor.replace_draft(uow, journey_id, source, caller.actor)
            live = _live_hash(services, uow, journey)
    except DefinitionInvalid as error:
        return invalid_response(error)
    return journey_public(journey, live)


@router.post(
    "/journeys/{journey_id}/validate",
    summary="Check the draft, or a definition sent, without saving",
    openapi_extra=_OPTIONAL_DEFINITION,
)
def validate_journey(
    journey_id: str,
    services: ServicesDep,
    _: JourneysRead,
    source: Annotated[dict[str, Any] | None, Depends(optional_definition)],
) -> ValidationPublic:
    with services.uow(write=False) as uow:
        found = services.conductor.validate(uow, journey_id, source)
    return ValidationPublic(
        valid=found["valid"],
        problems=_problems(found["problems"]),
        hash=found["hash"],
        needs_migration=found["needs_migration"],
    )


@router.post(
    "/journeys/{journey_id}/preview",
    summary="Dry run: what publishing the draft with this map would do to customers in flight",
    response_model=PreviewPublic,
    responses=error_responses(409),
)
def preview_journey(
    journey_id: str, body: MigrationBody, services: ServicesDep, _: JourneysRead
) -> PreviewPublic | JsonResponse:
    try:
        with services.uow(write=False) as uow:
            found = services.conductor.preview(uow, journey_id, body.migration)
    except DefinitionInvalid as error:
        return invalid_response(error)
    return PreviewPublic(
        from_version=found["from_version"],
        to_version=found["to_version"],
        customers=found["customers"],
        groups=found["groups"],
        problems=_problems(found["problems"]),
    )


def _published(services: Services, journey_id: str, found: dict[str, Any]) -> PublishPublic:
    with services.uow(write=False) as uow:
        journey = _journey(services, uow, journey_id)
        public = journey_public(journey, _live_hash(services, uow, journey))
    return PublishPublic(
        version=found["version"], customers=found["customers"], moved=found["moved"], journey=public
    )


@router.post(
    "/journeys/{journey_id}/publish",
    summary="Publish the draft as the next version, moving customers in flight by the map",
    response_model=PublishPublic,
    responses=error_responses(409),
)
def publish_journey(
    journey_id: str, body: PublishBody, services: ServicesDep, caller: JourneysWrite
) -> PublishPublic | JsonResponse:
    try:
        with _writing(services) as uow:
            found = services.conductor.publish(
                uow, journey_id, body.migration, caller.actor, note=body.note
            )
    except (DefinitionInvalid, MigrationInvalid) as error:
        return invalid_response(error)
    return _published(services, journey_id, found)


@router.post(
    "/journeys/{journey_id}/rollback",
    summary="Publish an earlier version again, as a new version, with a map",
    response_model=PublishPublic,
    responses=error_responses(409),
)
def rollback_journey(
    journey_id: str, body: RollbackBody, services: ServicesDep, caller: JourneysWrite
) -> PublishPublic | JsonResponse:
    try:
        with _writing(services) as uow:
            found = services.conductor.rollback(
                uow, journey_id, body.to_version, body.migration, caller.actor
            )
    except (DefinitionInvalid, MigrationInvalid) as error:
        return invalid_response(error)
    return _published(services, journey_id, found)


@router.post(
    "/journeys/{journey_id}/pause",
    summary="Pause: nobody moves or enters until resumed",
    responses=error_responses(409),
)
def pause_journey(journey_id: str, services: ServicesDep, caller: JourneysWrite) -> JourneyPublic:
    with _writing(services) as uow:
        journey = services.conductor.pause(uow, journey_id, caller.actor)
        live = _live_hash(services, uow, journey)
    return journey_public(journey, live)


@router.post(
    "/journeys/{journey_id}/resume",
    summary="Resume a paused journey",
    responses=error_responses(409),
)
def resume_journey(journey_id: str, services: ServicesDep, caller: JourneysWrite) -> JourneyPublic:
    with _writing(services) as uow:
        journey = services.conductor.resume(uow, journey_id, caller.actor)
        live = _live_hash(services, uow, journey)
    services.wake()
    return journey_public(journey, live)


@router.get("/journeys/{journey_id}/versions", summary="Every published version")
def list_versions(journey_id: str, services: ServicesDep, _: JourneysRead) -> VersionsPublic:
    with services.uow(write=False) as uow:
        _journey(services, uow, journey_id)
        versions = services.conductor.repo(uow).versions(journey_id)
    return VersionsPublic(
        items=[
            VersionPublic(
                version=v.version,
                hash=v.hash,
                published_at=v.published_at,
                published_by=v.published_by,
                note=v.note,
                migration=dict(v.migration) if v.migration is not None else None,
                definition=dict(v.definition),
            )
            for v in versions
        ]
    )


@router.get("/journeys/{journey_id}/instances", summary="Customers in the journey")
def list_instances(
    journey_id: str,
    request: Request,
    services: ServicesDep,
    _: JourneysRead,
    node: Annotated[str | None, Query(max_length=64)] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    state: Annotated[str | None, Query(pattern="^(running|ready|waiting|done)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(max_length=36)] = None,
) -> InstancesPublic:
    with services.uow(write=False) as uow:
        _journey(services, uow, journey_id)
        found = services.conductor.repo(uow).instances(
            journey_id, node=node, version=version, state=state, limit=limit, after=after
        )
    request.state.audit_customers = sorted({i.profile_id for i in found})
    return InstancesPublic(
        items=[instance_public(i) for i in found],
        next_after=found[-1].id if len(found) == limit else None,
    )


@router.get(
    "/journeys/{journey_id}/instances/{instance_id}",
    summary="One customer's path through the journey",
)
def get_instance(
    journey_id: str, instance_id: str, request: Request, services: ServicesDep, _: JourneysRead
) -> InstancePublic:
    with services.uow(write=False) as uow:
        repo = services.conductor.repo(uow)
        instance = repo.instance(instance_id)
        if instance is None or instance.journey_id != journey_id:
            raise NotFound("instance_not_found", f"no instance {instance_id}", "instance_id")
        history = repo.history([instance_id]).get(instance_id, [])
    request.state.audit_customers = [instance.profile_id]
    return instance_public(instance, history)


@router.get(
    "/customers/{customer_id}/journeys",
    summary="A customer's journeys, with each path",
    response_model=InstancesPublic,
    responses={307: {"description": "A merged id: follow to the surviving profile"}},
)
def customer_journeys(
    customer_id: str, request: Request, services: ServicesDep, _: JourneysRead
) -> InstancesPublic | RedirectResponse:
    with services.uow(write=False) as uow:
        try:
            profile = find_profile(services.profiles(uow), customer_id)
        except NotFound:
            if services.privacy(uow).is_erased(customer_id):
                raise Gone("customer_erased", f"customer {customer_id} was erased", "id") from None
            raise
        if profile.canonical_id != customer_id:
            return RedirectResponse(
                f"/api/customers/{profile.canonical_id}/journeys", status_code=307
            )
        members = services.profiles(uow).members(profile.id)
        repo = services.conductor.repo(uow)
        found = repo.of_customers(set(members) | {profile.id})
        history = repo.history([i.id for i in found])
    request.state.audit_customers = [profile.id]
    return InstancesPublic(
        items=[instance_public(i, history.get(i.id, [])) for i in found], next_after=None
    )

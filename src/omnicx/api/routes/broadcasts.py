"""Broadcasts (one message to a segment, each member through the policy gate) and the named
message templates that broadcasts and journeys send.

    POST /api/broadcasts                   schedule one (journeys.write)
    GET  /api/broadcasts[/{id}]            with counts: decided, sent, delivered, failed,
                                           deferred, skipped by reason (journeys.read)
    POST /api/broadcasts/{id}/cancel       members not yet expanded are not asked
    GET  /api/templates[/{name}]           message templates (journeys.read)
    PUT|DELETE /api/templates/{name}       a template's variants per channel and language
                                           (journeys.write)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.sends import (
    BroadcastCountsPublic,
    BroadcastCreate,
    BroadcastPublic,
    BroadcastsPublic,
    ContentPublic,
    TemplatePublic,
    TemplatePut,
    TemplatesPublic,
    TemplateVariantPublic,
)
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.kernel import Invalid, NotFound, new_id
from omnicx.orchestration.broadcasts import Broadcast, BroadcastCounts
from omnicx.orchestration.gate import TEMPLATE_NAME, Content, TemplateVariant

router = APIRouter(prefix="/api", tags=["policy gate"])

JourneysRead = Annotated[Principal, Depends(require("journeys.read"))]
JourneysWrite = Annotated[Principal, Depends(require("journeys.write"))]


def broadcast_public(b: Broadcast, counts: BroadcastCounts) -> BroadcastPublic:
    c = b.content
    return BroadcastPublic(
        id=b.id,
        name=b.name,
        segment_id=b.segment_id,
        purpose=b.purpose,
        category=b.category,
        priority=b.priority,
        channels=list(b.channels),
        content=ContentPublic(
            template=c.template,
            text=c.text,
            subject=c.subject,
            html=c.html,
            variables=dict(c.variables),
        ),
        schedule_at=b.schedule_at,
        not_after=b.not_after,
        fallback_after_seconds=b.fallback_after_seconds,
        status=b.status,
        expanded=b.expanded,
        created_by=b.created_by,
        created_at=b.created_at,
        started_at=b.started_at,
        finished_at=b.finished_at,
        counts=BroadcastCountsPublic(
            decided=counts.decided,
            queued=counts.queued,
            sent=counts.sent,
            delivered=counts.delivered,
            failed=counts.failed,
            deferred=counts.deferred,
            cancelled=counts.cancelled,
            unknown=counts.unknown,
            skipped=counts.skipped,
        ),
    )


def _with_counts(services: Services, uow: UnitOfWork, b: Broadcast) -> BroadcastPublic:
    return broadcast_public(b, services.sends(uow).broadcast_counts(b.id))


@router.post(
    "/broadcasts",
    status_code=201,
    summary="Schedule a broadcast to a segment",
    responses=error_responses(404),
)
def create_broadcast(
    body: BroadcastCreate, services: ServicesDep, caller: JourneysWrite
) -> BroadcastPublic:
    with services.uow() as uow:
        now = uow.clock.now()
        c = body.content
        broadcast = services.sending.create_broadcast(
            uow,
            Broadcast(
                id=new_id(),
                name=body.name.strip(),
                segment_id=body.segment_id,
                purpose=body.purpose,
                category=body.category,
                priority=body.priority,
                channels=tuple(body.channels),
                content=Content(
                    template=c.template,
                    text=c.text,
                    subject=c.subject,
                    html=c.html,
                    variables=c.variables,
                ),
                schedule_at=body.schedule_at or now,
                status="scheduled",
                created_by=caller.actor,
                created_at=now,
                updated_at=now,
                fallback_after_seconds=body.fallback_after_seconds,
                not_after=body.not_after,
            ),
        )
        uow.commit()
    return broadcast_public(broadcast, BroadcastCounts())


@router.get("/broadcasts", summary="Broadcasts, newest first")
def list_broadcasts(services: ServicesDep, _: JourneysRead) -> BroadcastsPublic:
    with services.uow(write=False) as uow:
        found = services.sends(uow).list_broadcasts(200)
        return BroadcastsPublic(items=[_with_counts(services, uow, b) for b in found])


@router.get(
    "/broadcasts/{broadcast_id}",
    summary="A broadcast and where its sends stand",
    responses=error_responses(404),
)
def get_broadcast(broadcast_id: str, services: ServicesDep, _: JourneysRead) -> BroadcastPublic:
    with services.uow(write=False) as uow:
        found = services.sends(uow).broadcast(broadcast_id)
        if found is None:
            raise NotFound("broadcast_not_found", f"no broadcast {broadcast_id}", "id")
        return _with_counts(services, uow, found)


@router.post(
    "/broadcasts/{broadcast_id}/cancel",
    summary="Stop a broadcast: members not yet expanded are not asked",
    responses=error_responses(404, 409),
)
def cancel_broadcast(broadcast_id: str, services: ServicesDep, _: JourneysWrite) -> BroadcastPublic:
    with services.uow() as uow:
        cancelled = services.sending.cancel_broadcast(uow, broadcast_id)
        uow.commit()
    with services.uow(write=False) as uow:
        return _with_counts(services, uow, cancelled)


# -- templates ---------------------------------------------------------------------------------


def _name(name: str) -> str:
    if not TEMPLATE_NAME.match(name):
        raise Invalid(
            "invalid_template_name", "a template name is 1 to 100 of a-z 0-9 _ - .", "name"
        )
    return name


def template_public(name: str, variants: list[TemplateVariant]) -> TemplatePublic:
    return TemplatePublic(
        name=name,
        variants=[
            TemplateVariantPublic(
                channel=v.channel,
                language=v.language,
                subject=v.subject,
                text=v.text,
                html=v.html,
                provider_template=dict(v.provider_template) if v.provider_template else None,
                updated_at=v.updated_at,
            )
            for v in variants
        ],
    )


@router.get("/templates", summary="Message templates by name")
def list_templates(services: ServicesDep, _: JourneysRead) -> TemplatesPublic:
    with services.uow(write=False) as uow:
        return TemplatesPublic(items=services.sends(uow).template_names())


@router.get("/templates/{name}", summary="A message template", responses=error_responses(400, 404))
def get_template(name: str, services: ServicesDep, _: JourneysRead) -> TemplatePublic:
    with services.uow(write=False) as uow:
        variants = services.sends(uow).variants(_name(name))
    if not variants:
        raise NotFound("template_not_found", f"no template named {name!r}", "name")
    return template_public(name, variants)


@router.put(
    "/templates/{name}",
    summary="Create or replace a message template's variants",
    responses=error_responses(400),
)
def put_template(
    name: str, body: TemplatePut, services: ServicesDep, _: JourneysWrite
) -> TemplatePublic:
    variants = [
        TemplateVariant(
            name=_name(name),
            channel=v.channel,
            language=v.language,
            text=v.text,
            subject=v.subject,
            html=v.html,
            provider_template=v.provider_template.model_dump(exclude_none=True)
            if v.provider_template
            else None,
        )
        for v in body.variants
    ]
    with services.uow() as uow:
        stored = services.sending.put_template(uow, name, variants)
        uow.commit()
    return template_public(name, stored)


@router.delete(
    "/templates/{name}",
    status_code=204,
    summary="Delete a message template",
    responses=error_responses(400, 404),
)
def delete_template(name: str, services: ServicesDep, _: JourneysWrite) -> Response:
    with services.uow() as uow:
        if not services.sends(uow).delete_template(_name(name)):
            raise NotFound("template_not_found", f"no template named {name!r}", "name")
        uow.commit()
    return Response(status_code=204)

"""Admin API: sources (with their write keys) and outbound webhook subscriptions."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.admin import (
    DeadLettersPublic,
    DeliveriesPublic,
    DeliveryPublic,
    SourceCreate,
    SourcePublic,
    SourcesPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhooksPublic,
)
from omnicx.events import Source, create_source, rotate_write_key
from omnicx.kernel import NotFound
from omnicx.webhooks import Subscription, create_subscription, delete_subscription

router = APIRouter(prefix="/api", tags=["admin"])

SourcesManage = Annotated[Principal, Depends(require("sources.manage"))]
WebhooksManage = Annotated[Principal, Depends(require("webhooks.manage"))]
IngestManage = Annotated[Principal, Depends(require("ingest.manage"))]


def _source(s: Source) -> SourcePublic:
    return SourcePublic(
        id=s.id, name=s.name, channel=s.channel, write_key=s.write_key, created_at=s.created_at
    )


def _webhook(s: Subscription) -> WebhookPublic:
    return WebhookPublic(
        id=s.id,
        url=s.url,
        topics=list(s.topics),
        description=s.description,
        created_at=s.created_at,
    )


@router.post(
    "/sources", response_model=SourcePublic, status_code=201, responses=error_responses(409)
)
def add_source(body: SourceCreate, services: ServicesDep, _: SourcesManage) -> SourcePublic:
    with services.uow() as uow:
        source = create_source(services.events(uow), body.name, body.channel, uow.clock.now())
        uow.commit()
    return _source(source)


@router.get("/sources", response_model=SourcesPublic)
def list_sources(services: ServicesDep, _: SourcesManage) -> SourcesPublic:
    with services.uow(write=False) as uow:
        return SourcesPublic(items=[_source(s) for s in services.events(uow).list_sources()])


@router.post(
    "/sources/{source_id}/rotate-write-key",
    response_model=SourcePublic,
    summary="Replace a source's write key; the old one stops working",
    responses=error_responses(404),
)
def rotate_source_key(source_id: str, services: ServicesDep, _: SourcesManage) -> SourcePublic:
    with services.uow() as uow:
        source = rotate_write_key(services.events(uow), source_id, uow.clock.now())
        uow.commit()
    # Other processes drop their cached sources within a few seconds.
    services.forget_sources()
    return _source(source)


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
def add_webhook(body: WebhookCreate, services: ServicesDep, _: WebhooksManage) -> WebhookCreated:
    with services.uow() as uow:
        subscription = create_subscription(
            services.webhooks(uow), body.url, body.topics, body.description, uow.clock.now()
        )
        uow.commit()
    services.forget_subscriptions()
    return WebhookCreated(**_webhook(subscription).model_dump(), secret=subscription.secret)


@router.get("/webhooks", response_model=WebhooksPublic)
def list_webhooks(services: ServicesDep, _: WebhooksManage) -> WebhooksPublic:
    with services.uow(write=False) as uow:
        return WebhooksPublic(items=[_webhook(s) for s in services.webhooks(uow).active()])


@router.delete("/webhooks/{webhook_id}", status_code=204)
def remove_webhook(webhook_id: str, services: ServicesDep, _: WebhooksManage) -> Response:
    with services.uow() as uow:
        delete_subscription(services.webhooks(uow), webhook_id)
        uow.commit()
    services.forget_subscriptions()
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveriesPublic)
def list_deliveries(
    webhook_id: str,
    services: ServicesDep,
    _: WebhooksManage,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveriesPublic:
    with services.uow(write=False) as uow:
        repo = services.webhooks(uow)
        if repo.get(webhook_id) is None:
            raise NotFound("webhook_not_found", f"no webhook {webhook_id}", "webhook_id")
        deliveries = repo.deliveries(webhook_id, limit)
    return DeliveriesPublic(
        items=[
            DeliveryPublic(
                id=d.id,
                topic=d.topic,
                status=d.status,
                attempts=d.attempts,
                last_error=d.last_error,
                created_at=d.created_at,
                next_attempt_at=d.available_at if d.status == "pending" else None,
                done_at=d.done_at,
                payload=d.payload,
            )
            for d in deliveries
        ]
    )


@router.get(
    "/ingest/dead-letters",
    response_model=DeadLettersPublic,
    summary="Acknowledged batches the worker could not resolve, newest first",
)
def list_dead_letters(
    services: ServicesDep,
    _: IngestManage,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLettersPublic:
    with services.uow(write=False) as uow:
        return DeadLettersPublic(items=services.events(uow).dead_letters(limit))

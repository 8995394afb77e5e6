"""Privacy API: subject-access exports and erasures, retention, and the audit log."""

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from omnicx.access import Principal
from omnicx.api.audit import actor_of
from omnicx.api.deps import Caller, ServicesDep, require
from omnicx.api.schemas.privacy import (
    AuditEntryPublic,
    AuditPublic,
    PrivacyRequestCreate,
    PrivacyRequestPublic,
    PrivacyRequestsPublic,
    RetentionPublic,
)
from omnicx.bootstrap import Services
from omnicx.kernel import Forbidden
from omnicx.privacy import (
    AuditEntry,
    AuditFilter,
    PrivacyRequest,
    audit_csv,
    audit_entries,
    audit_jsonl,
    audit_page,
    get_request,
    list_requests,
)

router = APIRouter(prefix="/api", tags=["privacy"])

PrivacyExport = Annotated[Principal, Depends(require("privacy.export"))]
PrivacyManage = Annotated[Principal, Depends(require("privacy.manage"))]
AuditRead = Annotated[Principal, Depends(require("audit.read"))]

_PERMISSION = {"export": "privacy.export", "erasure": "privacy.erase"}
_ACTION = {"export": "export", "erasure": "erase"}


def _public(request: PrivacyRequest) -> PrivacyRequestPublic:
    archive = (
        f"/api/privacy/requests/{request.id}/archive"
        if request.kind == "export" and request.status == "completed"
        else None
    )
    return PrivacyRequestPublic(**asdict(request), archive_url=archive)


def _audit(request: Request, action: str | None, *customers: str, **detail: str) -> None:
    if action:
        request.state.audit_action = action
    request.state.audit_customers = [c for c in customers if c]
    if detail:
        request.state.audit_detail = detail


@router.post(
    "/privacy/requests",
    response_model=PrivacyRequestPublic,
    status_code=201,
    summary="Export everything held about a customer, or erase them",
    responses={
        404: {"description": "No such customer"},
        410: {"description": "The customer was erased already"},
    },
)
def create_request(
    body: PrivacyRequestCreate, request: Request, services: ServicesDep, caller: Caller
) -> PrivacyRequestPublic:
    _audit(request, _ACTION[body.kind], body.customer_id)
    permission = _PERMISSION[body.kind]
    if not caller.may(permission):
        raise Forbidden(
            "forbidden",
            f"this needs the {permission} permission, which the {caller.role} role lacks",
            "kind",
        )
    actor = actor_of(caller)
    assert actor is not None
    if body.kind == "export":
        created = services.export_customer(body.customer_id, actor, body.reason)
    else:
        created = services.erase_customer(body.customer_id, actor, body.reason)
    _audit(
        request,
        None,
        body.customer_id,
        created.subject_id,
        privacy_request_id=created.id,
    )
    return _public(created)


@router.get("/privacy/requests", response_model=PrivacyRequestsPublic)
def list_privacy_requests(
    services: ServicesDep,
    _: PrivacyExport,
    customer_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PrivacyRequestsPublic:
    with services.uow(write=False) as uow:
        found, next_cursor = list_requests(
            services.privacy(uow), customer_id=customer_id, cursor=cursor, limit=limit
        )
    return PrivacyRequestsPublic(items=[_public(r) for r in found], next=next_cursor)


@router.get(
    "/privacy/requests/{request_id}",
    response_model=PrivacyRequestPublic,
    responses={404: {"description": "No such request"}},
)
def get_privacy_request(
    request_id: str, request: Request, services: ServicesDep, _: PrivacyExport
) -> PrivacyRequestPublic:
    with services.uow(write=False) as uow:
        found = get_request(services.privacy(uow), request_id)
    _audit(request, None, found.subject_id)
    return _public(found)


@router.get(
    "/privacy/requests/{request_id}/archive",
    response_class=Response,
    summary="The export archive: manifest.json, <domain>.json and <domain>/<table>.csv",
    responses={
        200: {"content": {"application/zip": {}}},
        404: {"description": "No such request, or an erasure"},
        410: {"description": "The archive expired or the person was erased"},
    },
)
def download_archive(
    request_id: str, request: Request, services: ServicesDep, _: PrivacyExport
) -> Response:
    with services.uow(write=False) as uow:
        found = get_request(services.privacy(uow), request_id)
    _audit(request, "export", found.subject_id, privacy_request_id=found.id)
    content = services.archive(request_id)
    return Response(
        content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="omnicx-export-{request_id}.zip"'},
    )


@router.post(
    "/privacy/retention",
    response_model=RetentionPublic,
    summary="Apply the retention policies now (the worker does it on a schedule)",
)
def run_retention(
    services: ServicesDep, _: PrivacyManage, dry_run: bool = False
) -> RetentionPublic:
    return RetentionPublic(dry_run=dry_run, counts=services.apply_retention(dry_run=dry_run))


# -- audit ---------------------------------------------------------------------------------


def _filter(
    customer_id: str | None,
    actor_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
) -> AuditFilter:
    return AuditFilter(
        customer_id=customer_id, actor_id=actor_id, action=action, since=since, until=until
    )


@router.get("/audit", response_model=AuditPublic, summary="The audit log, newest first")
def read_audit(
    services: ServicesDep,
    _: AuditRead,
    customer_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPublic:
    where = _filter(customer_id, actor_id, action, since, until)
    with services.uow(write=False) as uow:
        found, next_cursor = audit_page(services.audit(uow), where, cursor=cursor, limit=limit)
    return AuditPublic(items=[AuditEntryPublic(**asdict(e)) for e in found], next=next_cursor)


def _entries(services: Services, where: AuditFilter) -> Iterator[AuditEntry]:
    with services.uow(write=False) as uow:
        yield from audit_entries(services.audit(uow), where)


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    summary="Every matching audit entry, newest first, streamed as CSV or JSON lines",
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
def export_audit(
    services: ServicesDep,
    _: AuditRead,
    format: Literal["csv", "jsonl"] = "csv",
    customer_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    where = _filter(customer_id, actor_id, action, since, until)
    with services.uow(write=False) as uow:
        audit_page(services.audit(uow), where, cursor=None, limit=1)  # checks the filter
    if format == "csv":
        return StreamingResponse(
            audit_csv(_entries(services, where)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="omnicx-audit.csv"'},
        )
    return StreamingResponse(
        audit_jsonl(_entries(services, where)),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="omnicx-audit.jsonl"'},
    )

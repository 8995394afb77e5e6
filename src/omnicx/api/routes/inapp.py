"""The in-app inbox: its widget, the inbox a customer's page or app reads, and staff's view.

Public (CORS from any origin; the caller proves its address as for push, see `push.py`):

    GET  /inbox.js                          the embeddable inbox widget
    GET  /inapp/messages                    ?limit=&before=: newest first, with the unread
                                            count; showing a message marks it delivered
    POST /inapp/messages/{id}/read          the customer read it → receipt "read"
    POST /inapp/messages/{id}/clicked       the customer followed it → receipt "clicked"

Staff:

    GET  /api/customers/{id}/inapp-messages   customers.read
"""

from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import CORS, error_responses
from omnicx.api.responses import JsonResponse
from omnicx.api.routes.push import answer, caller_address, customer_ids, preflight
from omnicx.api.schemas.inapp import InAppMessagePublic, InAppMessagesPublic
from omnicx.channels import inapp as inapp_channel
from omnicx.channels.inapp import MAX_LIST, Mark
from omnicx.kernel import Invalid

router = APIRouter(tags=["in-app inbox"])
WIDGET = Path(inapp_channel.__file__).parent / "static" / "inbox.js"
MAX_ID = 36

CustomersRead = Annotated[Principal, Depends(require("customers.read"))]


@router.get("/inbox.js", include_in_schema=False)
async def widget() -> Response:
    return Response(
        WIDGET.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={**CORS, "Cache-Control": "public, max-age=3600"},
    )


preflight(router, "/inapp/messages", "GET")
preflight(router, "/inapp/messages/{message_id}/read", "POST")
preflight(router, "/inapp/messages/{message_id}/clicked", "POST")


@router.get(
    "/inapp/messages",
    summary="The caller's in-app inbox, newest first, and how many are unread",
    responses=error_responses(400, 401, 404),
)
async def inbox(
    request: Request,
    services: ServicesDep,
    limit: int = 50,
    before: str | None = None,
) -> Response:
    async def work() -> Response:
        address = await caller_address(services, request)
        if not 1 <= limit <= MAX_LIST:
            raise Invalid("invalid_limit", f"limit must be 1 to {MAX_LIST}", "limit")
        if before is not None and (not before or len(before) > MAX_ID):
            raise Invalid("invalid_before", "before must be a message id", "before")
        messages, unread = await anyio.to_thread.run_sync(
            lambda: services.inapp.open(address, limit=limit, before=before)
        )
        return JsonResponse({"messages": [m.public() for m in messages], "unread": unread})

    return await answer(work)


async def _mark(request: Request, services: ServicesDep, message_id: str, mark: Mark) -> Response:
    async def work() -> Response:
        address = await caller_address(services, request)
        if len(message_id) > MAX_ID:
            raise Invalid("invalid_message_id", "not a message id", "message_id")
        message = await anyio.to_thread.run_sync(services.inapp.mark, address, message_id, mark)
        return JsonResponse({"message": message.public()})

    return await answer(work)


@router.post(
    "/inapp/messages/{message_id}/read",
    summary="The customer read an in-app message",
    responses=error_responses(400, 401, 404),
)
async def mark_read(request: Request, services: ServicesDep, message_id: str) -> Response:
    return await _mark(request, services, message_id, "read")


@router.post(
    "/inapp/messages/{message_id}/clicked",
    summary="The customer followed an in-app message",
    responses=error_responses(400, 401, 404),
)
async def mark_clicked(request: Request, services: ServicesDep, message_id: str) -> Response:
    return await _mark(request, services, message_id, "clicked")


@router.get(
    "/api/customers/{customer_id}/inapp-messages",
    response_model=InAppMessagesPublic,
    summary="A customer's in-app messages, newest first",
    responses=error_responses(404),
)
def customer_inbox(
    customer_id: str,
    request: Request,
    services: ServicesDep,
    _: CustomersRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> InAppMessagesPublic:
    with services.uow(write=False) as uow:
        root, ids = customer_ids(services, uow, customer_id)
    request.state.audit_customers = [root]
    found = services.inapp.of_customers(ids, limit=limit)
    return InAppMessagesPublic(customer_id=root, items=[InAppMessagePublic.of(m) for m in found])

"""Push: browsers and apps register for notifications, devices report receipts, and staff see
a customer's devices.

Public (CORS from any origin, like the chat and tracking endpoints):

    GET    /push/sw.js              the service-worker code a site imports (`importScripts`)
    GET    /push/vapid-public-key   {"key"}: the browser's `applicationServerKey`
    POST   /push/subscriptions      {"subscription": PushSubscription JSON} → 201
    DELETE /push/subscriptions      {"endpoint"} → 204
    POST   /push/devices            {"token", "platform"?} (an app's FCM token) → 201
    DELETE /push/devices            {"token"} → 204
    POST   /push/receipts           {"token": receipt token, "event"} → 204

Who registers is proven one of two ways, and the device is kept under what was proven:

    X-App-Token: <token>                 a signed-in customer: the site's backend asked for
                                         the token (`POST /api/app-tokens`) for its userId
    Authorization: Basic <write key>     a web visitor: the chat session (`POST
    + X-Chat-Token: <chat token>         /chat/sessions`) bound to its anonymousId

Receipts need neither: each notification carries a receipt token signed for its message.

Staff (`/api`):

    POST   /api/app-tokens                                   customers.write
    GET    /api/customers/{id}/push-registrations            customers.read
    DELETE /api/customers/{id}/push-registrations/{reg_id}   customers.write
"""

import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnicx.access import Principal, RateLimited
from omnicx.api import security
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import CORS, contains_json_nul, error_body, error_responses
from omnicx.api.responses import JsonResponse
from omnicx.api.schemas.push import (
    AppTokenCreate,
    AppTokenPublic,
    PushRegistrationPublic,
    PushRegistrationsPublic,
)
from omnicx.bootstrap import Services
from omnicx.channels import push as push_channel
from omnicx.channels import webchat
from omnicx.channels.fcm import check_device
from omnicx.channels.inapp import (
    AppTokenRefused,
    app_token_key,
    issue_app_token,
    verify_app_token,
)
from omnicx.channels.push import check_address, read_receipt_token, receipt_key
from omnicx.channels.receipts import DeliveryReceipt, normalise
from omnicx.channels.webchat import TokenRefused
from omnicx.channels.webpush import check_subscription
from omnicx.db import UnitOfWork
from omnicx.kernel import DomainError, Invalid, NotFound
from omnicx.profiles import find_profile

router = APIRouter(tags=["push"])

SERVICE_WORKER = Path(push_channel.__file__).parent / "static" / "push-sw.js"
HEADERS = "Content-Type, Authorization, X-Chat-Token, X-App-Token"

CustomersRead = Annotated[Principal, Depends(require("customers.read"))]
CustomersWrite = Annotated[Principal, Depends(require("customers.write"))]


class Unauthenticated(DomainError):
    """A write key, chat token or app token that does not prove who is asking (401)."""

    status = 401


# -- helpers the public push and in-app routes share ----------------------------------------


def cors(response: Response) -> Response:
    response.headers.update(CORS)
    return response


async def answer(work: Callable[[], Awaitable[Response]]) -> Response:
    """Run a public route's work; every refusal is the usual JSON error, with CORS headers
    so the page's script can show it."""
    try:
        return cors(await work())
    except DomainError as error:
        return JsonResponse(
            error_body(error.code, error.message, field=error.field),
            status_code=error.status,
            headers=CORS,
        )
    except RateLimited as error:
        return security.rate_limited(error, cors=True)


def preflight(on: APIRouter, path: str, methods: str) -> None:
    """Answer the browser's CORS preflight of a public route."""

    async def allow() -> Response:
        return Response(
            status_code=204,
            headers={
                **CORS,
                "Access-Control-Allow-Methods": f"{methods}, OPTIONS",
                "Access-Control-Allow-Headers": HEADERS,
                "Access-Control-Max-Age": "86400",
            },
        )

    name = path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    allow.__name__ = f"preflight_{name}"
    on.add_api_route(path, allow, methods=["OPTIONS"], include_in_schema=False)


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if contains_json_nul(body):
        raise Invalid("nul_character", "a string in the body contains a NUL character", "body")
    try:
        payload = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as error:
        raise Invalid("malformed_json", f"the body is not valid JSON: {error}", "body") from None
    if not isinstance(payload, dict):
        raise Invalid("malformed_body", "the body must be a JSON object", "body")
    return payload


def _write_key(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        key = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated(
            "invalid_authorization", "Authorization is not valid Basic credentials"
        ) from None
    return key or None


async def caller_address(services: Services, request: Request) -> tuple[str, str]:
    """The address the caller proved: an app token's, or a chat visitor's anonymousId."""
    now = services.clock.now()
    token = request.headers.get("x-app-token")
    if token:
        try:
            address = verify_app_token(app_token_key(services.cipher.keyring.index_key), token, now)
        except AppTokenRefused as error:
            raise Unauthenticated("invalid_app_token", str(error), "X-App-Token") from None
        await security.throttle(services, "tracking_key", f"app:{address[0]}:{address[1]}")
        return address
    key = _write_key(request)
    chat = request.headers.get("x-chat-token")
    if key is None or not chat:
        raise Unauthenticated(
            "missing_credentials",
            "send X-App-Token, or the site's write key (Basic) with the visitor's X-Chat-Token",
        )
    source = services.source_for_key(key)
    if source is None:
        raise Unauthenticated("unknown_write_key", "the write key is not one of a source")
    await security.throttle(services, "tracking_key", source.id)
    try:
        visitor = webchat.verify(
            webchat.chat_key(services.cipher.keyring.index_key), chat, source.id, now
        )
    except TokenRefused as error:
        raise Unauthenticated("invalid_chat_token", str(error), "X-Chat-Token") from None
    return "anonymous_id", visitor.anonymous_id


def _string(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"missing_{name}", f"{name} is required", name)
    return value.strip()


# -- public ---------------------------------------------------------------------------------


@router.get("/push/sw.js", include_in_schema=False)
async def service_worker() -> Response:
    return Response(
        SERVICE_WORKER.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={**CORS, "Cache-Control": "public, max-age=3600"},
    )


@router.get(
    "/push/vapid-public-key",
    summary="The VAPID public key browsers subscribe with (applicationServerKey)",
    responses=error_responses(404),
)
async def vapid_public_key(services: ServicesDep) -> Response:
    async def work() -> Response:
        if services.vapid_public_key is None:
            raise NotFound(
                "channel_not_configured",
                "web push is not configured: set OMNICX_WEBPUSH_VAPID_PRIVATE_KEY",
            )
        return JsonResponse({"key": services.vapid_public_key})

    return await answer(work)


preflight(router, "/push/subscriptions", "POST, DELETE")
preflight(router, "/push/devices", "POST, DELETE")
preflight(router, "/push/receipts", "POST")


def _configured(services: Services, kind: str) -> None:
    push = services.push
    if push is None or kind not in push.devices:
        setting = (
            "OMNICX_WEBPUSH_VAPID_PRIVATE_KEY"
            if kind == "webpush"
            else "OMNICX_FCM_SERVICE_ACCOUNT"
        )
        raise NotFound("channel_not_configured", f"{kind} is not configured: set {setting}")


def _registered(registration: push_channel.Registration) -> Response:
    return JsonResponse(
        {
            "id": registration.id,
            "kind": registration.kind,
            "address_kind": registration.address_kind,
        },
        status_code=201,
    )


@router.post(
    "/push/subscriptions",
    status_code=201,
    summary="A browser's web-push subscription, kept for the caller",
    responses=error_responses(400, 401, 404),
)
async def subscribe(request: Request, services: ServicesDep) -> Response:
    async def work() -> Response:
        address = await caller_address(services, request)
        _configured(services, "webpush")
        payload = await read_json(request)
        target = check_subscription(
            payload.get("subscription"), services.settings.webpush_endpoint_hosts
        )
        saved = await anyio.to_thread.run_sync(
            services.push_devices.register, address, "webpush", target, "web"
        )
        return _registered(saved)

    return await answer(work)


@router.delete(
    "/push/subscriptions",
    status_code=204,
    summary="Forget a browser's subscription (the caller's own)",
    responses=error_responses(400, 401, 404),
)
async def unsubscribe(request: Request, services: ServicesDep) -> Response:
    async def work() -> Response:
        address = await caller_address(services, request)
        endpoint = _string(await read_json(request), "endpoint")
        await anyio.to_thread.run_sync(
            services.push_devices.unregister, address, "webpush", endpoint
        )
        return Response(status_code=204)

    return await answer(work)


@router.post(
    "/push/devices",
    status_code=201,
    summary="An app install's FCM registration token, kept for the caller",
    responses=error_responses(400, 401, 404),
)
async def register_device(request: Request, services: ServicesDep) -> Response:
    async def work() -> Response:
        address = await caller_address(services, request)
        _configured(services, "fcm")
        payload = await read_json(request)
        target, platform = check_device(payload.get("token"), payload.get("platform"))
        saved = await anyio.to_thread.run_sync(
            services.push_devices.register, address, "fcm", target, platform
        )
        return _registered(saved)

    return await answer(work)


@router.delete(
    "/push/devices",
    status_code=204,
    summary="Forget an app install's token (the caller's own)",
    responses=error_responses(400, 401, 404),
)
async def unregister_device(request: Request, services: ServicesDep) -> Response:
    async def work() -> Response:
        address = await caller_address(services, request)
        token = _string(await read_json(request), "token")
        await anyio.to_thread.run_sync(services.push_devices.unregister, address, "fcm", token)
        return Response(status_code=204)

    return await answer(work)


@router.post(
    "/push/receipts",
    status_code=204,
    summary="A device says a notification arrived, was dismissed or was opened",
    responses=error_responses(400),
)
async def push_receipt(request: Request, services: ServicesDep) -> Response:
    async def work() -> Response:
        address = security.client_address(services, request.scope)
        await security.throttle(services, "tracking_address", address)
        payload = await read_json(request)
        key = receipt_key(services.cipher.keyring.index_key)
        channel, message_id = read_receipt_token(key, _string(payload, "token"))
        event = _string(payload, "event").lower()
        status = normalise("webpush", event) or normalise("fcm", event)
        if status is None:
            raise Invalid(
                "invalid_event",
                "event must be delivered, dismissed, clicked or opened",
                "event",
            )
        receipt = DeliveryReceipt(channel, message_id, status, services.clock.now(), None, event)
        await anyio.to_thread.run_sync(services.record_receipt, receipt, None)
        return Response(status_code=204)

    return await answer(work)


# -- staff ----------------------------------------------------------------------------------


def customer_ids(services: Services, uow: UnitOfWork, customer_id: str) -> tuple[str, list[str]]:
    """The live customer an id stands for, and every profile merged into it."""
    profiles = services.profiles(uow)
    profile = find_profile(profiles, customer_id)
    root = profile.canonical_id
    return root, sorted(profiles.members(root)) or [root]


@router.post(
    "/api/app-tokens",
    response_model=AppTokenPublic,
    status_code=201,
    summary="A token that opens a customer's in-app inbox and push registration",
    description="The site's or app's backend asks for it after its own sign-in and hands it "
    "to its page or app, which sends it as X-App-Token.",
    responses=error_responses(400),
)
def create_app_token(
    body: AppTokenCreate, request: Request, services: ServicesDep, _: CustomersWrite
) -> AppTokenPublic:
    kind = "user_id" if body.userId is not None else "anonymous_id"
    address = check_address(kind, body.userId if body.userId is not None else body.anonymousId)
    with services.uow(write=False) as uow:
        owner = push_channel.owner_of(uow, services.cipher, address)
    if owner is not None:
        request.state.audit_customers = [owner]
    ttl = timedelta(hours=services.settings.inapp_token_hours)
    token, expires = issue_app_token(
        app_token_key(services.cipher.keyring.index_key), address, services.clock.now(), ttl
    )
    return AppTokenPublic(token=token, address_kind=kind, expires_at=expires)


@router.get(
    "/api/customers/{customer_id}/push-registrations",
    response_model=PushRegistrationsPublic,
    summary="The browsers and app installs a customer registered for push",
    responses=error_responses(404),
)
def list_registrations(
    customer_id: str, request: Request, services: ServicesDep, _: CustomersRead
) -> PushRegistrationsPublic:
    with services.uow(write=False) as uow:
        root, ids = customer_ids(services, uow, customer_id)
        found = services.push_registrations(uow).of_customers(ids)
    request.state.audit_customers = [root]
    return PushRegistrationsPublic(
        customer_id=root, items=[PushRegistrationPublic.of(r) for r in found]
    )


@router.delete(
    "/api/customers/{customer_id}/push-registrations/{registration_id}",
    status_code=204,
    summary="Forget one of a customer's devices",
    responses=error_responses(404),
)
def delete_registration(
    customer_id: str,
    registration_id: str,
    request: Request,
    services: ServicesDep,
    _: CustomersWrite,
) -> Response:
    with services.uow() as uow:
        root, ids = customer_ids(services, uow, customer_id)
        repo = services.push_registrations(uow)
        found = repo.get(registration_id)
        if found is None or found.customer_id not in ids:
            raise NotFound(
                "registration_not_found",
                f"customer {root} has no device {registration_id}",
                "registration_id",
            )
        repo.forget([registration_id])
        uow.commit()
    request.state.audit_customers = [root]
    return Response(status_code=204)

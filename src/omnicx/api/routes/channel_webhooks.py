"""Public webhooks of the messaging providers: Twilio SMS (inbound and status callbacks), the
WhatsApp Cloud API (handshake and notifications) and Telegram bots.

They are not `/api` routes: no API key, each provider proves itself by its own signature,
checked on the raw request before anything in it is interpreted or stored.

    route                              proof                                  refused
    POST /webhooks/twilio/sms          X-Twilio-Signature (RequestValidator)  403
    POST /webhooks/twilio/status       X-Twilio-Signature                     403
    GET  /webhooks/whatsapp            hub.verify_token                       403
    POST /webhooks/whatsapp            X-Hub-Signature-256 (app secret)       403
    POST /webhooks/telegram/{bot}      X-Telegram-Bot-Api-Secret-Token        403
    POST /webhooks/viber               X-Viber-Content-Signature (auth token) 403

A channel without settings answers 404 `channel_not_configured`. A signed body that is not
what the provider sends answers 400. Each inbound message is stored in a savepoint of its
own by `Services.receive_inbound`, idempotent on the provider's message id, so a provider's
retry after a failure stores nothing twice.
"""

from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from omnicx.api import security
from omnicx.api.deps import ServicesDep
from omnicx.api.errors import domain_error, error_responses
from omnicx.api.responses import JsonResponse
from omnicx.bootstrap import Services
from omnicx.channels.receipts import DeliveryReceipt
from omnicx.channels.telegram import SECRET_HEADER
from omnicx.channels.twilio import SIGNATURE_HEADER as TWILIO_SIGNATURE
from omnicx.channels.twilio import FormParams
from omnicx.channels.viber import SIGNATURE_HEADER as VIBER_SIGNATURE
from omnicx.channels.whatsapp import SIGNATURE_HEADER as WHATSAPP_SIGNATURE
from omnicx.conversations import DeliveryUpdate
from omnicx.kernel import DomainError, Forbidden, Invalid, NotFound

router = APIRouter(prefix="/webhooks", tags=["channel webhooks"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_CHALLENGE = 256

_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
    }
}
_JSON = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_TWIML: dict[int | str, dict[str, Any]] = {
    200: {"description": "Stored; an empty TwiML answer.", "content": {"text/xml": {}}}
}
_RECEIVED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "How many messages were stored and statuses recorded.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "messages": {"type": "integer"},
                        "statuses": {"type": "integer"},
                    },
                }
            }
        },
    }
}


def _not_configured(channel: str, setting: str) -> NotFound:
    return NotFound(
        "channel_not_configured", f"{channel} is not configured: set {setting} to receive it"
    )


def public_url(services: Services, request: Request) -> str:
    """The URL the provider called, as it saw it: `OMNICX_PUBLIC_BASE_URL` when set, else the
    request's own, with the scheme and host a trusted proxy forwarded."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    tail = path + (f"?{query}" if query else "")
    base = services.settings.public_base_url
    if base:
        return base.rstrip("/") + tail
    proxies = security.proxies(services)
    scheme = "https" if proxies.https(request.scope) else request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded and proxies.trusts(peer):
        host = forwarded.split(",")[0].strip()
    return f"{scheme}://{host}{tail}"


async def _twilio_form(services: Services, request: Request) -> tuple[str, FormParams]:
    twilio = services.twilio
    if not twilio.configured:
        raise _not_configured("Twilio SMS", "OMNICX_TWILIO_ACCOUNTS")
    signature = request.headers.get(TWILIO_SIGNATURE)
    if not signature:
        raise Forbidden(
            "missing_signature", f"the request has no {TWILIO_SIGNATURE} header", TWILIO_SIGNATURE
        )
    params = FormParams.parse(await request.body())
    account = twilio.verify(public_url(services, request), params, signature)
    if account is None:
        raise Forbidden(
            "invalid_signature",
            f"{TWILIO_SIGNATURE} does not match this URL and body for any Twilio account",
            TWILIO_SIGNATURE,
        )
    return account, params


@router.post(
    "/twilio/sms",
    response_class=Response,
    responses={**_TWIML, **error_responses(400, 403, 404, 413)},
    openapi_extra=_FORM,
)
async def twilio_sms(request: Request, services: ServicesDep) -> Response:
    """An inbound SMS from Twilio (set as the number's "A message comes in" webhook)."""
    account, params = await _twilio_form(services, request)
    if services.twilio.fetches_media(params):
        inbound = await anyio.to_thread.run_sync(
            services.twilio.inbound, account, params, services.clock.now()
        )
    else:
        inbound = services.twilio.inbound(account, params, services.clock.now())
    await services.receive_inbound_async(inbound)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(
    "/twilio/status",
    status_code=204,
    response_class=Response,
    responses=error_responses(400, 403, 404, 413),
    openapi_extra=_FORM,
)
async def twilio_status(request: Request, services: ServicesDep) -> Response:
    """A delivery status callback of an SMS omnicx sent."""
    _, params = await _twilio_form(services, request)
    update = services.twilio.delivery(params, services.clock.now())
    if update is not None:
        ref = request.query_params.get("ref")
        await anyio.to_thread.run_sync(_record, services, update, ref)
    return Response(status_code=204)


@router.get(
    "/whatsapp",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "The challenge, echoed.", "content": {"text/plain": {}}},
        **error_responses(403),
    },
)
def whatsapp_handshake(
    services: ServicesDep,
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=32)] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token", max_length=512)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=MAX_CHALLENGE)] = None,
) -> PlainTextResponse:
    """Meta's verification request when the webhook is set up: the challenge is echoed when
    `hub.verify_token` is OMNICX_WHATSAPP_VERIFY_TOKEN."""
    if not services.whatsapp.handshake(mode, token):
        raise Forbidden(
            "invalid_verify_token",
            "hub.mode must be subscribe and hub.verify_token the configured verify token",
            "hub.verify_token",
        )
    if not challenge:
        raise Forbidden("missing_challenge", "hub.challenge is missing", "hub.challenge")
    return PlainTextResponse(challenge)


@router.post(
    "/whatsapp",
    response_class=JsonResponse,
    responses={**_RECEIVED, **error_responses(400, 403, 404, 413)},
    openapi_extra=_JSON,
)
async def whatsapp_notification(request: Request, services: ServicesDep) -> JsonResponse:
    """Inbound messages and delivery statuses from the WhatsApp Cloud API."""
    whatsapp = services.whatsapp
    if not whatsapp.configured:
        raise _not_configured("WhatsApp", "OMNICX_WHATSAPP_APP_SECRET")
    signature = request.headers.get(WHATSAPP_SIGNATURE)
    if not signature:
        raise Forbidden(
            "missing_signature",
            f"the request has no {WHATSAPP_SIGNATURE} header",
            WHATSAPP_SIGNATURE,
        )
    body = await request.body()
    if not whatsapp.verify(body, signature):
        raise Forbidden(
            "invalid_signature",
            f"{WHATSAPP_SIGNATURE} is not the HMAC-SHA256 of this body with the app secret",
            WHATSAPP_SIGNATURE,
        )
    payload = _json(body)
    notification = await anyio.to_thread.run_sync(whatsapp.parse, payload, services.clock.now())
    for message in notification.messages:
        await services.receive_inbound_async(message)
    recorded = 0
    for update in notification.statuses:
        recorded += await anyio.to_thread.run_sync(_record, services, update)
    return JsonResponse({"messages": len(notification.messages), "statuses": recorded})


@router.post(
    "/telegram/{bot}",
    response_class=JsonResponse,
    responses={**_RECEIVED, **error_responses(400, 403, 404, 413)},
    openapi_extra=_JSON,
)
async def telegram_update(bot: str, request: Request, services: ServicesDep) -> JsonResponse:
    """An update for one of our Telegram bots (set with `setWebhook` and its secret token)."""
    telegram = services.telegram
    if bot not in telegram.bots:
        raise NotFound("unknown_bot", f"no Telegram bot named {bot!r} is configured", "bot")
    secret = request.headers.get(SECRET_HEADER)
    if not secret:
        raise Forbidden("missing_signature", f"the request has no {SECRET_HEADER}", SECRET_HEADER)
    if not telegram.verify(bot, secret):
        raise Forbidden(
            "invalid_signature", f"{SECRET_HEADER} is not this bot's secret token", SECRET_HEADER
        )
    payload = _json(await request.body())
    inbound = await anyio.to_thread.run_sync(telegram.parse, bot, payload, services.clock.now())
    if inbound is not None:
        await services.receive_inbound_async(inbound)
    return JsonResponse({"messages": int(inbound is not None), "statuses": 0})


@router.post(
    "/viber",
    response_class=JsonResponse,
    responses={**_RECEIVED, **error_responses(400, 403, 404, 413)},
    openapi_extra=_JSON,
)
async def viber_callback(request: Request, services: ServicesDep) -> JsonResponse:
    """A callback of our Viber bot (set with `set_webhook`): a message, a delivery receipt
    or a subscription change."""
    viber = services.viber
    if not viber.configured:
        raise _not_configured("Viber", "OMNICX_VIBER_AUTH_TOKEN")
    signature = request.headers.get(VIBER_SIGNATURE)
    if not signature:
        raise Forbidden(
            "missing_signature", f"the request has no {VIBER_SIGNATURE} header", VIBER_SIGNATURE
        )
    body = await request.body()
    if not viber.verify(body, signature):
        raise Forbidden(
            "invalid_signature",
            f"{VIBER_SIGNATURE} is not the HMAC-SHA256 of this body with the auth token",
            VIBER_SIGNATURE,
        )
    callback = await anyio.to_thread.run_sync(viber.parse, _json(body), services.clock.now())
    messages = statuses = 0
    if callback.message is not None:
        await services.receive_inbound_async(callback.message)
        messages = 1
    elif callback.receipt is not None:
        statuses = int(
            await anyio.to_thread.run_sync(services.record_receipt, callback.receipt, None)
        )
    elif callback.user_id is not None:
        await anyio.to_thread.run_sync(services.record_viber_subscription, callback)
    return JsonResponse({"messages": messages, "statuses": statuses})


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Invalid("malformed_json", f"the body is not valid JSON: {error}", "body") from None


def _record(services: Services, update: DeliveryUpdate, ref: str | None = None) -> int:
    """Record a status; one of a message omnicx did not send (another system sharing the
    number) is acknowledged and dropped, so the provider does not retry it. The gate's
    proactive messages are looked up first (`ref`: our id in the callback URL); every status
    is normalised and lands on the customer's timeline (`channels.receipts`)."""
    return int(services.record_receipt(DeliveryReceipt.of(update), ref))


_FAST: dict[str, Any] = {
    "/webhooks/twilio/sms": twilio_sms,
    "/webhooks/twilio/status": twilio_status,
    "/webhooks/whatsapp": whatsapp_notification,
    "/webhooks/viber": viber_callback,
}
_TELEGRAM = "/webhooks/telegram/"


class WebhookFastPath:
    """ASGI middleware answering the providers' `POST` webhooks before routing.

    Every inbound message enters here, so these requests skip the router's scan and
    dependency injection; they run the documented routes above, with the same answers and
    the same error bodies. It sits inside the input guard, which limits their bodies.
    """

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        route = _FAST.get(path)
        bot = path[len(_TELEGRAM) :] if path.startswith(_TELEGRAM) else ""
        if route is None and (not bot or "/" in bot):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            if route is not None:
                response = await route(request, self.services)
            else:
                response = await telegram_update(bot, request, self.services)
        except DomainError as error:
            response = domain_error(error)
        await response(scope, receive, send)

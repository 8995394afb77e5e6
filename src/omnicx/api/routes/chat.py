"""The web-chat widget's public endpoints, and the widget itself.

    GET  /widget.js       the embeddable script (static, cached for an hour)
    POST /chat/sessions   write key (Basic auth) + {"anonymousId"} → a chat token
    POST /chat/messages   write key + `X-Chat-Token` + {"text", "clientMessageId"?, "email"?,
                          "name"?, "page"?} → the message joins the customer's conversation
    GET  /chat/stream     ?key=<write key>&token=<chat token>: server-sent events, the visitor's
                          messages and the replies addressed to it (`event: message`), then
                          new ones as they are sent; `event: expired` when the token runs out

A site embeds the widget with its source's write key; each visitor then holds a token bound to
its anonymousId (the analytics.js one, so browsing and chat join one profile). These routes
answer CORS from any origin, as the tracking endpoints do; `/api` never does. Every refusal is
the usual JSON error, with CORS headers so the widget can show it.
"""

import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from omnicx.access import RateLimited
from omnicx.api import security
from omnicx.api.deps import ServicesDep
from omnicx.api.errors import CORS, contains_json_nul, error_body, error_responses
from omnicx.api.responses import JsonResponse
from omnicx.bootstrap import Services
from omnicx.channels import webchat
from omnicx.channels.webchat import ChatVisitor, TokenRefused, visitor_topic
from omnicx.channels.webchat.visitor import visitor_messages
from omnicx.conversations import DeliveryUpdate, InboundMessage
from omnicx.events.model import Source
from omnicx.kernel import DomainError, Invalid, new_id
from omnicx.profiles.identifiers import normalize_email

router = APIRouter(tags=["web chat"])

WIDGET = Path(webchat.__file__).parent / "static" / "widget.js"
MAX_CLIENT_ID = 100
MAX_NAME = 200
MAX_PAGE = 2000
PING_SECONDS = 15


class ChatRefused(DomainError):
    """A write key or chat token that does not open the chat (401)."""

    status = 401


def _cors(response: Response) -> Response:
    response.headers.update(CORS)
    return response


def _refusal(error: DomainError) -> Response:
    return JsonResponse(
        error_body(error.code, error.message, field=error.field),
        status_code=error.status,
        headers=CORS,
    )


async def _answer(work: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return _cors(await work())
    except DomainError as error:
        return _refusal(error)
    except RateLimited as error:
        return security.rate_limited(error, cors=True)


def _write_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise ChatRefused(
                "invalid_authorization", "Authorization is not valid Basic credentials"
            ) from None
        if key:
            return key
    raise ChatRefused("missing_write_key", "send the site's write key as the Basic auth user name")


def _source(services: Services, key: str) -> Source:
    source = services.source_for_key(key)
    if source is None:
        raise ChatRefused("unknown_write_key", "the write key is not one of a source")
    return source


def _visitor(services: Services, source: Source, token: str | None) -> ChatVisitor:
    if not token:
        raise ChatRefused("missing_chat_token", "start a chat session and send its token")
    try:
        return webchat.verify(_key(services), token, source.id, services.clock.now())
    except TokenRefused as error:
        raise ChatRefused("invalid_chat_token", str(error)) from None


def _key(services: Services) -> bytes:
    return webchat.chat_key(services.cipher.keyring.index_key)


async def _json(request: Request) -> dict[str, Any]:
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


def _text(payload: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise Invalid(f"missing_{name.lower()}", f"{name} is required", name)
        return None
    if not isinstance(value, str):
        raise Invalid(f"invalid_{name.lower()}", f"{name} must be a string", name)
    value = value.strip()
    if required and not value:
        raise Invalid(f"missing_{name.lower()}", f"{name} must not be empty", name)
    if len(value) > limit:
        raise Invalid(f"{name.lower()}_too_long", f"{name} is at most {limit} characters", name)
    return value


def _preflight(path: str, methods: str) -> None:
    async def preflight() -> Response:
        return Response(
            status_code=204,
            headers={
                **CORS,
                "Access-Control-Allow-Methods": f"{methods}, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Chat-Token",
                "Access-Control-Max-Age": "86400",
            },
        )

    preflight.__name__ = f"preflight_{path.strip('/').replace('/', '_')}"
    router.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)


@router.get("/widget.js", include_in_schema=False)
async def widget() -> Response:
    return Response(
        WIDGET.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={**CORS, "Cache-Control": "public, max-age=3600"},
    )


_preflight("/chat/sessions", "POST")
_preflight("/chat/messages", "POST")


@router.post(
    "/chat/sessions",
    summary="Start a web-chat session: a token bound to the visitor's anonymousId",
    responses=error_responses(400, 401),
)
async def start_session(request: Request, services: ServicesDep) -> Response:
    async def work() -> Response:
        address = security.client_address(services, request.scope)
        await security.throttle(services, "tracking_address", address)
        source = _source(services, _write_key(request))
        payload = await _json(request)
        raw = payload.get("anonymousId")
        anonymous_id = webchat.check_anonymous_id(raw) if raw is not None else new_id()
        now = services.clock.now()
        ttl = timedelta(hours=services.settings.chat_token_hours)
        token = webchat.issue(_key(services), source.id, anonymous_id, now, ttl)
        return JsonResponse(
            {"token": token, "anonymousId": anonymous_id, "expires_at": (now + ttl).isoformat()}
        )

    return await _answer(work)


@router.post(
    "/chat/messages",
    summary="A web-chat visitor's message",
    responses=error_responses(400, 401),
)
async def post_message(request: Request, services: ServicesDep) -> Response:
    async def work() -> Response:
        source = _source(services, _write_key(request))
        visitor = _visitor(services, source, request.headers.get("x-chat-token"))
        await security.throttle(services, "tracking_key", source.id)
        payload = await _json(request)
        text = _text(payload, "text", services.settings.chat_max_text_chars, required=True)
        client_id = _text(payload, "clientMessageId", MAX_CLIENT_ID)
        name = _text(payload, "name", MAX_NAME)
        page = _text(payload, "page", MAX_PAGE)
        email = _text(payload, "email", 320)
        sender: list[tuple[str, str]] = [("anonymous_id", visitor.anonymous_id)]
        if email is not None:
            try:
                sender.append(("email", normalize_email(email)))
            except Invalid as error:
                raise Invalid(error.code, error.message, "email") from None
        metadata: dict[str, Any] = {"anonymous_id": visitor.anonymous_id, "source_id": source.id}
        if page is not None:
            metadata["page"] = page
        inbound = InboundMessage(
            channel=webchat.CHANNEL,
            account=source.name,
            sender=tuple(sender),
            received_at=services.clock.now(),
            sender_name=name,
            provider_message_id=f"{visitor.anonymous_id}:{client_id}" if client_id else None,
            text=text,
            metadata=metadata,
        )
        receipt = await services.receive_inbound_async(inbound)
        services.live.seen(_presence(visitor), services.settings.chat_away_minutes * 60)
        return JsonResponse(
            {
                "message_id": receipt.message_id,
                "conversation_id": receipt.conversation_id,
                "duplicate": receipt.duplicate,
            }
        )

    return await _answer(work)


def _presence(visitor: ChatVisitor) -> str:
    return webchat.presence_key(visitor.anonymous_id)


@router.get(
    "/chat/stream",
    summary="A web-chat visitor's live messages (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "An endless `text/event-stream` of `message` events.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(400, 401),
    },
)
async def visitor_stream(
    request: Request, services: ServicesDep, key: str = "", token: str = ""
) -> Response:
    try:
        source = _source(services, key) if key else None
        if source is None:
            raise ChatRefused("missing_write_key", "send the site's write key as `key`")
        visitor = _visitor(services, source, token)
    except DomainError as error:
        return _refusal(error)
    return EventSourceResponse(
        _visitor_events(request, services, visitor),
        ping=PING_SECONDS,
        headers={**CORS, "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _unseen(services: Services, anonymous_id: str, after: dict[str, int]) -> list[Any]:
    with services.uow(write=False) as uow:
        return visitor_messages(
            services.profiles(uow), services.conversations(uow), anonymous_id, after
        )


def _delivered(services: Services, message_ids: list[str]) -> None:
    now = services.clock.now()
    for message_id in message_ids:
        try:
            services.record_delivery(DeliveryUpdate(webchat.CHANNEL, message_id, "delivered", now))
        except DomainError:
            continue  # not sent yet by the worker: it is marked on a later pass


async def _visitor_events(
    request: Request, services: Services, visitor: ChatVisitor
) -> AsyncIterator[ServerSentEvent]:
    away = services.settings.chat_away_minutes * 60
    poll = services.settings.chat_poll_seconds
    subscription = services.live.subscribe([visitor_topic(visitor.anonymous_id)])
    after: dict[str, int] = {}
    try:
        while True:
            services.live.seen(_presence(visitor), away)
            if services.clock.now() >= visitor.expires_at:
                yield ServerSentEvent(event="expired", data='{"message": "start a new session"}')
                return
            unseen = await anyio.to_thread.run_sync(_unseen, services, visitor.anonymous_id, after)
            reached = [m.id for m in unseen if m.direction == "outbound" and m.status == "sent"]
            for message in unseen:
                yield ServerSentEvent(
                    event="message", id=message.id, data=orjson.dumps(message.public()).decode()
                )
            if reached:
                await anyio.to_thread.run_sync(_delivered, services, reached)
            await subscription.next(poll)
            if await request.is_disconnected():
                return
    finally:
        services.live.seen(_presence(visitor), away)
        services.live.unsubscribe(subscription)

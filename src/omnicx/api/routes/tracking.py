"""Segment-compatible tracking: `/v1/{identify,track,page,screen,group,alias,batch}`, the
browser short forms `/v1/{i,t,p,s,g,a}` and `/v1/b`, and the settings analytics.js fetches.

Bodies are read raw and validated by `events.parse` (orjson, no model per event): this path
carries every event, so it stays lean. A 200 is sent only once the batch is durably queued.
"""

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from omnicx.access import RateLimited
from omnicx.api import security
from omnicx.api.deps import ServicesDep
from omnicx.api.errors import CORS, contains_json_nul, error_body, error_responses
from omnicx.api.responses import JsonResponse
from omnicx.bootstrap import Services
from omnicx.events import SHORT_TYPES, IngestRejected, acknowledge, decode_body, parse_call
from omnicx.kernel.moments import micros

router = APIRouter(tags=["tracking"])

_SEGMENT_EVENT = {
    "type": "object",
    "description": "A Segment-spec call; see the README's API section.",
    "additionalProperties": True,
    "properties": {
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "messageId": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "context": {"type": "object"},
        "traits": {"type": "object"},
        "properties": {"type": "object"},
        "event": {"type": "string"},
    },
}
_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _SEGMENT_EVENT},
            "text/plain": {"schema": {"type": "string"}},
        },
    },
    "responses": {
        "400": {"description": "Malformed JSON or an invalid event; `items` names each bad one."},
        "401": {"description": "Missing or unknown write key."},
        "413": {"description": "Over 32 KB per event or 500 KB per body."},
    },
}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise IngestRejected(413, "body_too_large", f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IngestRejected(413, "body_too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _basic_write_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise IngestRejected(
            401, "invalid_authorization", "Authorization is not valid Basic credentials"
        ) from None
    return decoded.partition(":")[0] or None


async def ingest(request: Request, services: Services, call_type: str | None) -> Response:
    received = datetime.now(UTC)
    await security.throttle(
        services, "tracking_address", security.client_address(services, request.scope)
    )
    header_key = _basic_write_key(request)
    source = services.source_for_key(header_key) if header_key else None
    if header_key and source is None:
        raise IngestRejected(401, "unknown_write_key", "the write key is not one of a source")
    body = await _read_body(request, services.limits.max_body_bytes)
    payload = decode_body(body, request.headers.get("content-encoding"), services.limits)
    sent = orjson.dumps(payload) if body[:2] == b"\x1f\x8b" else body  # gzip: what it held
    if contains_json_nul(sent):
        raise IngestRejected(
            400, "nul_character", "a string in the body contains a NUL character (\\u0000)"
        )
    if source is None:
        body_key = payload.get("writeKey") if isinstance(payload, dict) else None
        if not isinstance(body_key, str) or not body_key:
            raise IngestRejected(
                401,
                "missing_write_key",
                "send the write key as Basic auth user name or as writeKey",
            )
        source = services.source_for_key(body_key)
        if source is None:
            raise IngestRejected(401, "unknown_write_key", "the write key is not one of a source")
    await security.throttle(services, "tracking_key", source.id)
    parsed = parse_call(
        payload,
        call_type,
        received_at=received,
        default_channel=source.channel,
        limits=services.limits,
        identity=services.identity,
    )
    await anyio.to_thread.run_sync(
        acknowledge, services.queue, source, parsed.events, micros(received)
    )
    services.wake()
    content: dict[str, Any] = {"success": True, "accepted": len(parsed.events)}
    if parsed.warnings:
        content["warnings"] = parsed.warnings
    return JsonResponse(content, headers=CORS)


def _preflight(path: str, method: str) -> None:
    """Answer the CORS preflight of one route; a path with no route stays a 404."""

    async def preflight() -> Response:
        return Response(
            status_code=204,
            headers={
                **CORS,
                "Access-Control-Allow-Methods": f"{method}, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding",
                "Access-Control-Max-Age": "86400",
            },
        )

    preflight.__name__ = f"preflight_{path.strip('/').replace('/', '_')}"
    router.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)


def _route(path: str, call_type: str | None, summary: str) -> None:
    async def endpoint(request: Request, services: ServicesDep) -> Response:
        return await ingest(request, services, call_type)

    endpoint.__name__ = f"ingest_{path.strip('/').replace('/', '_')}"
    router.add_api_route(path, endpoint, methods=["POST"], summary=summary, openapi_extra=_DOC)
    _preflight(path, "POST")


for _short, _type in SHORT_TYPES.items():
    _route(f"/v1/{_type}", _type, f"Record a {_type} call")
    _route(f"/v1/{_short}", _type, f"Record a {_type} call (browser short form)")
_route("/v1/batch", None, "Record a batch of calls")
_route("/v1/b", None, "Record a batch of calls (browser short form)")


_preflight("/v1/projects/{write_key}/settings", "GET")


@router.get(
    "/v1/projects/{write_key}/settings",
    summary="Settings analytics.js loads",
    responses=error_responses(401),
)
async def project_settings(write_key: str, request: Request, services: ServicesDep) -> Response:
    if services.source_for_key(write_key) is None:
        raise IngestRejected(401, "unknown_write_key", "the write key is not one of a source")
    host = f"{request.url.netloc}/v1"
    return JsonResponse(
        {
            "integrations": {"Segment.io": {"apiKey": write_key, "apiHost": host}},
            "plan": {
                "track": {"__default": {"enabled": True}},
                "identify": {"__default": {"enabled": True}},
            },
        },
        headers=CORS,
    )


CALL_TYPES: dict[str, str | None] = {
    **{f"/v1/{t}": t for t in SHORT_TYPES.values()},
    **{f"/v1/{s}": t for s, t in SHORT_TYPES.items()},
    "/v1/batch": None,
    "/v1/b": None,
}


class TrackingFastPath:
    """ASGI middleware answering `POST` on the tracking paths before routing.

    Every event enters here, so these requests skip the router, dependency injection and
    exception middleware; they run the same `ingest` as the documented routes above, with the
    same error bodies.
    """

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in CALL_TYPES:
            await self.app(scope, receive, send)
            return
        try:
            response = await ingest(Request(scope, receive), self.services, CALL_TYPES[path])
        except IngestRejected as error:
            response = ingest_error(error)
        except RateLimited as error:
            response = security.rate_limited(error, cors=True)
        await response(scope, receive, send)


def ingest_error(error: IngestRejected) -> Response:
    return JsonResponse(
        error_body(error.code, error.message, items=error.items or None),
        status_code=error.status,
        headers=CORS,
    )

"""Every error leaves as JSON: `{"error": {"code", "message", "field"?, "items"?}}`.

Codes are stable; messages name what is wrong; no stack trace ever reaches a client.

    status  codes
    400     malformed_json, malformed_body, invalid_encoding, nul_character, too_deeply_nested,
            and the `Invalid` codes of each domain
    401     unauthorized (API keys); missing_write_key, unknown_write_key (tracking)
    403     forbidden
    404     not_found, and the `NotFound` codes of each domain
    405     method_not_allowed
    409     the `Conflict` codes of each domain
    410     the `Gone` codes of each domain
    413     body_too_large, event_too_large
    414     uri_too_long
    415     unsupported_media_type
    422     invalid_request: parameters or a body of the wrong shape, every problem in `items`
    429     too_many_requests
    500     internal_error, with a `request_id` that is logged beside the traceback

`install(app)` maps every exception to that shape, puts `InputGuard` in front of the routes,
and makes the OpenAPI document describe those responses on every operation (see `document`).
"""

import email.message
import logging
import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnicx.api.responses import JsonResponse
from omnicx.api.schemas.errors import Error
from omnicx.events.parse import IngestRejected
from omnicx.kernel import DomainError, new_id

log = logging.getLogger("omnicx.api")

CORS = {"Access-Control-Allow-Origin": "*"}

MAX_PATH_BYTES = 2048
MAX_QUERY_BYTES = 8192
MAX_JSON_DEPTH = 64

STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "Bad input: malformed JSON, a body that is not UTF-8, a NUL character, or a value "
    "that breaks a rule. `field` names it.",
    401: "No API key, or an unknown or revoked one.",
    403: "The key's role lacks the permission this needs.",
    404: "Not found.",
    409: "The current state forbids this change.",
    410: "Erased: it existed and is gone for good.",
    413: "The body is too large.",
    414: "The path or the query string is too long.",
    415: "The body is not `application/json`.",
    422: "Parameters or a body of the wrong shape; `items` lists every problem.",
    429: "Too many requests; retry after `Retry-After` seconds.",
    500: "Unexpected failure; nothing was written. Quote `request_id` when reporting it.",
}

_HTTP_CODES = {
    400: "malformed_body",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "body_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "too_many_requests",
}

_ERROR_REF = "#/components/schemas/Error"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# `\u0000` escaped in a JSON string, not preceded by an escaping backslash of its own.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            **{k: v for k, v in extra.items() if v is not None},
        }
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route's own error statuses, e.g. `error_responses(409)`."""
    return {status: _described(status) for status in statuses}


def _described(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or STATUS_DESCRIPTIONS.get(status, "Error."),
        "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
    }


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = email.message.Message()
    message["content-type"] = content_type
    return message.get_content_type()


def _is_json(media_type: str | None) -> bool:
    return media_type is not None and (
        media_type == "application/json" or media_type.endswith("+json")
    )


def _field(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts)


def _expects_json_body(request: Request) -> bool:
    route = request.scope.get("route")
    body = getattr(route, "body_field", None)
    if body is None:
        return False
    return type(body.field_info).__name__ not in ("Form", "File")


def _validation_response(request: Request, error: RequestValidationError) -> Response:
    problems = list(error.errors())
    for problem in problems:
        if problem.get("type") == "json_invalid":
            ctx = problem.get("ctx") or {}
            position = problem["loc"][-1] if len(problem["loc"]) > 1 else 0
            return JsonResponse(
                error_body(
                    "malformed_json",
                    f"the body is not valid JSON: {ctx.get('error', 'decode error')} "
                    f"at position {position}",
                    field="body",
                ),
                status_code=400,
            )
    about_body = any(p["loc"] and p["loc"][0] == "body" for p in problems)
    media_type = _media_type(request.headers.get("content-type"))
    if about_body and _expects_json_body(request):
        if media_type is None and int(request.headers.get("content-length") or 0) > 0:
            return _unsupported(None)
        if media_type is not None and not _is_json(media_type):
            return _unsupported(media_type)
    items = [{"field": _field(p["loc"]), "message": str(p["msg"])} for p in problems]
    first = items[0] if items else {"field": "request", "message": "invalid request"}
    return JsonResponse(
        error_body(
            "invalid_request",
            f"{first['field']}: {first['message']}",
            field=first["field"],
            items=items,
        ),
        status_code=422,
    )


def _unsupported(media_type: str | None) -> Response:
    sent = f"Content-Type {media_type}" if media_type else "no Content-Type"
    return JsonResponse(
        error_body(
            "unsupported_media_type",
            f"the body must be application/json; the request sent {sent}",
            field="content-type",
        ),
        status_code=415,
    )


def _http_response(error: HTTPException) -> Response:
    code = _HTTP_CODES.get(error.status_code, "http_error")
    message = str(error.detail)
    field = None
    if error.status_code == 400 and message == "There was an error parsing the body":
        message = "the body could not be parsed as JSON (a number too long, or nesting too deep)"
        field = "body"
    elif error.status_code == 404 and message == "Not Found":
        message = "no such route"
    elif error.status_code == 405 and message == "Method Not Allowed":
        message = "this route does not accept that method"
    return JsonResponse(
        error_body(code, message, field=field),
        status_code=error.status_code,
        headers=getattr(error, "headers", None),
    )


def domain_error(error: DomainError) -> Response:
    """The answer to a refusal a domain raised: its status, code, message and field."""
    return JsonResponse(
        error_body(error.code, error.message, field=error.field), status_code=error.status
    )


def install(app: FastAPI, *, max_body_bytes: int) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, error: DomainError) -> Response:
        return domain_error(error)

    @app.exception_handler(IngestRejected)
    async def _ingest(_: Request, error: IngestRejected) -> Response:
        return JsonResponse(
            error_body(error.code, error.message, items=error.items or None),
            status_code=error.status,
            headers=CORS,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return _validation_response(request, error)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> Response:
        return _http_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        request_id = new_id()
        log.error(
            "unhandled error %s on %s %s",
            request_id,
            request.method,
            request.url.path,
            exc_info=error,
        )
        return JsonResponse(
            error_body(
                "internal_error",
                "something went wrong on our side; nothing was written",
                request_id=request_id,
            ),
            status_code=500,
            headers={"X-Request-Id": request_id},
        )

    app.add_middleware(InputGuard, max_body_bytes=max_body_bytes)
    document(app)


class InputGuard:
    """Refuse hostile input before it reaches a route or the database.

    URLs: a path over 2 KB or a query over 8 KB (414), a NUL character (400). Bodies of
    POST, PUT, PATCH and DELETE: over the body limit (413); for JSON, not UTF-8, a `\\u0000`
    in a string (PostgreSQL text cannot hold one) or nesting over 64 levels (400). The
    tracking fast path sits in front of this and does its own checks.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self._refuse_url(scope)
        if refused is None and scope["method"] in _BODY_METHODS:
            body, refused = await self._read(scope, receive)
            if refused is None:
                receive = _replay(body, receive)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refuse_url(self, scope: Scope) -> Response | None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        if len(raw_path) > MAX_PATH_BYTES:
            return _refusal(414, "uri_too_long", f"the path is over {MAX_PATH_BYTES} bytes", "path")
        if len(query) > MAX_QUERY_BYTES:
            return _refusal(
                414, "uri_too_long", f"the query string is over {MAX_QUERY_BYTES} bytes", "query"
            )
        if "\x00" in scope["path"] or b"%00" in raw_path:
            return _refusal(400, "nul_character", "the path contains a NUL character", "path")
        if b"%00" in query or b"\x00" in query:
            return _refusal(
                400, "nul_character", "the query string contains a NUL character", "query"
            )
        return None

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, Response | None]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        too_large = _refusal(
            413, "body_too_large", f"the body is over {self.max_body_bytes} bytes", "body"
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return b"", too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(_media_type(headers.get("content-type"))):
            return body, _refuse_json(body)
        return body, None


def contains_json_nul(data: bytes) -> bool:
    """Whether a JSON text holds a NUL character in a string (PostgreSQL text cannot)."""
    return b"\\u0000" in data and _JSON_NUL.search(data) is not None


def _refuse_json(body: bytes) -> Response | None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return _refusal(
            400, "invalid_encoding", f"the body is not UTF-8 (byte {error.start})", "body"
        )
    if contains_json_nul(body):
        return _refusal(
            400, "nul_character", "a string in the body contains a NUL character (\\u0000)", "body"
        )
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _depth(body) > MAX_JSON_DEPTH:
        return _refusal(
            400,
            "too_deeply_nested",
            f"the body nests arrays and objects over {MAX_JSON_DEPTH} levels deep",
            "body",
        )
    return None


def _depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects, strings skipped."""
    deepest = depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _refusal(status: int, code: str, message: str, field: str) -> Response:
    return JsonResponse(error_body(code, message, field=field), status_code=status)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def operation_statuses(operation: dict[str, Any]) -> set[int]:
    """The error statuses any operation of this shape can answer, whatever it does."""
    statuses = {414, 500}
    parameters = operation.get("parameters", [])
    body = operation.get("requestBody")
    if parameters or body:
        statuses |= {400, 422}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if body and any(_is_json(t) for t in body.get("content", {})):
        statuses |= {413, 415}
    if operation.get("security"):
        statuses |= {401, 403}
    return statuses


def document(app: FastAPI) -> None:
    """Describe every error response in the OpenAPI document with the one `Error` schema.

    Each operation lists what its shape can answer (`operation_statuses`: parameters, a body,
    a path parameter, an API key) plus what the route declares itself
    (`responses=error_responses(409)`); FastAPI's own 422 shape is replaced by ours.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "Error" in components:
            return schema
        error_schema = Error.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error_schema.pop("$defs", {}))
        components["Error"] = error_schema
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                for status in operation_statuses(operation):
                    responses.setdefault(str(status), _described(status))
                for status, response in responses.items():
                    if not status.isdigit() or int(status) < 400:
                        continue
                    if status == "422" or "content" not in response:
                        response["content"] = _described(int(status))["content"]
                    if status == "422":
                        response["description"] = STATUS_DESCRIPTIONS[422]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

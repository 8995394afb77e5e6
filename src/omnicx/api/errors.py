"""Every error leaves as JSON: `{"error": {"code", "message", "field"?, "items"?}}`.

Codes are stable; messages name what is wrong; no stack trace ever reaches a client.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from omnicx.api.responses import JsonResponse
from omnicx.events.parse import IngestRejected
from omnicx.kernel import DomainError

log = logging.getLogger("omnicx.api")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            **{k: v for k, v in extra.items() if v is not None},
        }
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, error: DomainError) -> Response:
        return JsonResponse(
            error_body(error.code, error.message, field=error.field), status_code=error.status
        )

    @app.exception_handler(IngestRejected)
    async def _ingest(_: Request, error: IngestRejected) -> Response:
        return JsonResponse(
            error_body(error.code, error.message, items=error.items or None),
            status_code=error.status,
            headers=CORS,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> Response:
        problems = [
            {
                "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                "message": e["msg"],
            }
            for e in error.errors()
        ]
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        return JsonResponse(
            error_body(
                "invalid_request",
                f"{first['field']}: {first['message']}",
                field=first["field"],
                items=problems,
            ),
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> Response:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }.get(error.status_code, "http_error")
        return JsonResponse(
            error_body(code, str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> Response:
        log.exception("unhandled error")
        return JsonResponse(
            error_body("internal_error", "something went wrong on our side"), status_code=500
        )


CORS = {"Access-Control-Allow-Origin": "*"}

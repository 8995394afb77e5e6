"""The audit trail of the API: every `/api` request leaves one append-only entry per customer
it touched (or one alone), refused ones included, before its response goes out.

    who        the principal the auth dependency put on `request.state` (none: `anonymous`)
    what       the action (`request.state.audit_action`, or read/search/create/update/delete
               from the method), the route template, the ids in the path
    whom       customer ids from the `customer_id` path or query parameter and from
               `request.state.audit_customers` (routes such as the search set it)
    from where the client address (behind trusted proxies, the forwarded one), the user agent
    outcome    the status; `request.state.audit_detail` adds facts (a privacy request's id)

Query strings are never recorded, only the names of their parameters: a search for an email
leaves the ids it returned, not the email. If the entry cannot be written the response is
replaced by a 503 `audit_unavailable`: no data leaves without its trace.
"""

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnicx.access import Principal
from omnicx.api import security
from omnicx.api.errors import error_body
from omnicx.api.responses import JsonResponse
from omnicx.bootstrap import Services
from omnicx.privacy import Actor, record_access

log = logging.getLogger("omnicx.audit")

_ACTIONS = {"GET": "read", "HEAD": "read", "POST": "create", "PUT": "update", "PATCH": "update"}
_SEARCHES = {"/api/customers"}


def actor_of(principal: Principal | None) -> Actor | None:
    if principal is None:
        return None
    return Actor(principal.kind, principal.id, principal.name, principal.role)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "(no route)"


def _resource(path_params: dict[str, Any]) -> str | None:
    parts = [
        f"{name}:{value}" if name.endswith("id") else name
        for name, value in sorted(path_params.items())
    ]
    return ",".join(parts) or None


def _customers(scope: Scope, state: dict[str, Any], query: list[tuple[str, str]]) -> list[str]:
    found: list[str] = []
    path_id = scope.get("path_params", {}).get("customer_id")
    if isinstance(path_id, str):
        found.append(path_id)
    found.extend(value for key, value in query if key == "customer_id" and value)
    extra: Iterable[str] = state.get("audit_customers") or ()
    found.extend(str(c) for c in extra)
    return found


def _action(scope: Scope, state: dict[str, Any]) -> str:
    if state.get("audit_action"):
        return str(state["audit_action"])
    method = scope["method"]
    if method == "GET" and _route(scope) in _SEARCHES:
        return "search"
    return _ACTIONS.get(method, "delete" if method == "DELETE" else method.lower())


def record_request(services: Services, scope: Scope, status: int) -> None:
    """Append the audit entries of one answered request (an API call, or a console page
    that changes something or shows customers)."""
    state: dict[str, Any] = scope.get("state") or {}
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    detail: dict[str, Any] = {"params": sorted({key for key, _ in query})}
    detail.update(state.get("audit_detail") or {})
    with services.uow() as uow:
        record_access(
            services.audit(uow),
            actor=actor_of(state.get("principal")),
            action=_action(scope, state),
            method=scope["method"],
            route=_route(scope),
            resource=_resource(dict(scope.get("path_params") or {})),
            customer_ids=_customers(scope, state, query),
            client_address=security.client_address(services, scope),
            user_agent=_header(scope, b"user-agent"),
            status=status,
            detail=detail,
            now=uow.clock.now(),
        )
        uow.commit()


class AuditTrail:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    def record(self, scope: Scope, status: int) -> None:
        record_request(self.services, scope, status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started = False
        withheld = False

        async def audited(message: Message) -> None:
            nonlocal started, withheld
            if withheld:
                return
            if message["type"] == "http.response.start" and not started:
                started = True
                try:
                    await anyio.to_thread.run_sync(self.record, scope, message["status"])
                except Exception:
                    log.exception("audit entry not written; the response is withheld")
                    withheld = True
                    refusal = JsonResponse(
                        error_body(
                            "audit_unavailable",
                            "the audit log cannot be written, so no data is returned; "
                            "try again shortly",
                        ),
                        status_code=503,
                    )
                    await refusal(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, audited)
        except Exception:
            if not started:
                try:
                    await anyio.to_thread.run_sync(self.record, scope, 500)
                except Exception:
                    log.exception("audit entry of a failed request not written")
            raise


def install(app: Any, services: Services) -> None:
    app.add_middleware(AuditTrail, services=services)

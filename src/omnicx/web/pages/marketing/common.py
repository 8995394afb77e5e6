"""What the marketer pages share: routes that leave an entry in the audit trail, definitions
typed as YAML or JSON, and validation problems placed beside the field they concern."""

import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import yaml
from fastapi import Request
from fastapi.responses import Response

from omnicx.api.audit import record_request
from omnicx.bootstrap import Services
from omnicx.kernel import DomainError, Invalid
from omnicx.orchestration.journeys import load_source
from omnicx.web.render import PageRoute, error_page

log = logging.getLogger("omnicx.audit")

MAX_DOCUMENT = 200_000
"""The longest definition or map a form may carry, in characters."""


class AuditedRoute(PageRoute):
    """A console route that leaves an audit entry as the API does for the same action: every
    form sent (refused ones included) and every page that shows customers
    (`request.state.audit_customers`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            response = await handler(request)
            if request.method == "GET" and not getattr(request.state, "audit_customers", None):
                return response
            services: Services = request.app.state.services
            try:
                await anyio.to_thread.run_sync(
                    record_request, services, request.scope, response.status_code
                )
            except Exception:
                log.exception("audit entry of a console page not written; the page is withheld")
                return error_page(
                    request,
                    503,
                    "The audit log cannot be written, so this page is withheld. Try again shortly.",
                )
            return response

        return handle


@dataclass
class Problems:
    """Validation problems of a form, by the field they are shown beside: each one a path
    inside a definition (empty for the whole field) and a message."""

    by_field: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    status: int = 400

    def add(self, where: str, path: str, message: str) -> None:
        found = self.by_field.setdefault(where, [])
        if (path, message) not in found:
            found.append((path, message))

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def __getitem__(self, where: str) -> list[tuple[str, str]]:
        return self.by_field.get(where, [])

    def of(self, error: DomainError, where: str, items: Any = ()) -> None:
        """Place `error` (and its `items`: path and message pairs) beside `where`."""
        self.status = error.status
        pairs = [(str(path), str(message)) for path, message in items]
        if not pairs:
            path = error.field if error.field not in (None, "body", where) else ""
            pairs = [(path or "", error.message)]
        for path, message in pairs:
            self.add(where, path, message)


def read_document(text: str) -> dict[str, Any]:
    """A mapping typed as YAML or JSON (JSON reads as YAML); `Invalid` says why not."""
    if len(text) > MAX_DOCUMENT:
        raise Invalid("too_long", f"the text is over {MAX_DOCUMENT} characters", "body")
    return load_source(text, "application/yaml")


def as_yaml(value: Mapping[str, Any] | None) -> str:
    """A definition as the editor shows it: YAML in the order it was written."""
    if not value:
        return ""
    return yaml.safe_dump(dict(value), sort_keys=False, allow_unicode=True, width=100)

"""Rendering console pages: one Jinja2 environment, the user's language, the navigation their
role allows, and HTML error pages for the routes of the console (`PageRoute`)."""

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException

from omnicx import __version__
from omnicx.access import Principal
from omnicx.kernel import DomainError, new_id
from omnicx.web.auth import ROLE_NAMES, LoginRequired, PageForbidden, Staff
from omnicx.web.i18n import N_, Translator

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"

ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("/inbox", N_("Inbox"), "conversations.read"),
    ("/customers", N_("Customers"), "customers.read"),
    ("/store", N_("Store"), "commerce.sell"),
    ("/marketing/segments", N_("Segments"), "segments.read"),
    ("/marketing/journeys", N_("Journeys"), "journeys.read"),
    ("/analytics", N_("Analytics"), "analytics.read"),
)
"""The console's areas: path, name (translated when shown) and the permission that opens it."""


def home_of(principal: Principal) -> str:
    """Where a user lands after signing in: the first area their role opens."""
    if principal.role == "store_associate":
        return "/store"
    for path, _, permission in NAVIGATION:
        if principal.may(permission):
            return path
    return "/account"


def _formatter(language: str) -> Callable[[datetime | None], str]:
    def when(moment: datetime | None) -> str:
        if moment is None:
            return ""
        if language == "en":
            return moment.strftime("%Y-%m-%d %H:%M")
        return moment.strftime("%d/%m/%Y %H:%M")

    return when


def render(
    request: Request,
    template: str,
    staff: Staff | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A console page in the user's language (English before sign-in)."""
    language = staff.language if staff is not None else "en"
    tr = Translator(language)

    nav = (
        [
            (path, name, request.url.path.startswith(path))
            for path, name, permission in NAVIGATION
            if staff.may(permission)
        ]
        if staff is not None
        else []
    )
    html = ENV.get_template(template).render(
        request=request,
        staff=staff,
        language=language,
        nav=nav,
        role_names=ROLE_NAMES,
        version=__version__,
        _=tr.gettext,
        gettext=tr.gettext,
        ngettext=tr.ngettext,
        when=_formatter(language),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    staff: Staff | None = getattr(request.state, "staff", None)
    return render(request, "error.html", staff, status_code=status_code, message=message)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse("/login?next=" + _quote(target), status_code=303)


def _quote(path: str) -> str:
    return quote(path, safe="/")


class PageRoute(APIRoute):
    """A console route: failures answer with an HTML page, never JSON, never a 500 body
    that says more than 'something went wrong'."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                if request.method == "GET":
                    return login_redirect(request)
                return RedirectResponse("/login", status_code=303)
            except PageForbidden as error:
                return error_page(request, 403, error.message)
            except DomainError as error:
                return error_page(request, error.status, error.message)
            except RequestValidationError as error:
                fields = sorted({".".join(str(p) for p in e["loc"][1:]) for e in error.errors()})
                return error_page(request, 400, "Missing or invalid: " + ", ".join(fields))
            except HTTPException as error:
                return error_page(request, error.status_code, str(error.detail))
            except Exception:
                request_id = new_id()
                log.exception("console page failed %s on %s", request_id, request.url.path)
                return error_page(
                    request, 500, f"Something went wrong on our side (request {request_id})."
                )

        return handle

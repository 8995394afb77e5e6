"""Signing in and out, the landing page of each role, and the user's own settings."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from omnicx.access import LANGUAGES, RateLimited, Unauthenticated, log_out, update_user
from omnicx.api.deps import SESSION_COOKIE, ServicesDep
from omnicx.api.routes.access import sign_in
from omnicx.api.security import proxies
from omnicx.web.auth import AnyStaff, check_csrf, current_staff
from omnicx.web.i18n import N_
from omnicx.web.render import PageRoute, home_of, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

LOGIN_COOKIE = "omnicx_login"
"""A random value set with the sign-in form and sent back in it, so a sign-in cannot be forged
by another site."""

LANGUAGE_NAMES = {"en": "English", "pt-BR": "Português (Brasil)", "es": "Español"}


def safe_next(target: str | None) -> str | None:
    """A place to return to after signing in: only a path on this site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _login_form(
    request: Request, *, next_path: str | None, email: str = "", error: str | None = None
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        status_code=401 if error else 200,
        login_token=token,
        next_path=next_path or "",
        email=email,
        error=error,
    )
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login"
    )
    return response


@router.get("/login")
def login_page(
    request: Request, services: ServicesDep, next: Annotated[str | None, Query()] = None
) -> Response:
    staff = current_staff(request, services)
    if staff is not None:
        return RedirectResponse(safe_next(next) or home_of(staff.principal), status_code=303)
    return _login_form(request, next_path=safe_next(next))


@router.post("/login")
def login_submit(
    request: Request,
    services: ServicesDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE)
    next_path = safe_next(next)
    if not expected or not secrets.compare_digest(expected, login_token):
        return _login_form(
            request,
            next_path=next_path,
            email=email,
            error=N_("The sign-in form expired. Please try again."),
        )
    if not email.strip() or not password:
        return _login_form(
            request, next_path=next_path, email=email, error=N_("Enter your email and password.")
        )
    try:
        signed_in = sign_in(services, request, email, password, request.headers.get("user-agent"))
    except Unauthenticated:
        return _login_form(
            request, next_path=next_path, email=email, error=N_("Wrong email or password.")
        )
    except RateLimited:
        return _login_form(
            request,
            next_path=next_path,
            email=email,
            error=N_("Too many attempts. Try again in a minute."),
        )
    user = signed_in.user
    target = next_path or home_of(user.principal())
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        max_age=int(services.settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=proxies(services).https(request.scope),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    services: ServicesDep, staff: AnyStaff, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    check_csrf(staff, csrf)
    with services.uow() as uow:
        log_out(services.sessions(uow), staff.principal.session_id or "", uow.clock.now())
        uow.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request, services: ServicesDep) -> Response:
    staff = current_staff(request, services)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_of(staff.principal), status_code=303)


@router.get("/account")
def account(request: Request, staff: AnyStaff) -> Response:
    return render(
        request,
        "account.html",
        staff,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
    )


@router.post("/account/language")
def change_language(
    services: ServicesDep,
    staff: AnyStaff,
    language: Annotated[str, Form(max_length=10)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(staff, csrf)
    with services.uow() as uow:
        update_user(
            services.users(uow),
            services.sessions(uow),
            staff.user.id,
            uow.clock.now(),
            language=language,
        )
        uow.commit()
    return RedirectResponse("/account", status_code=303)

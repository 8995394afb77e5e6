"""Dependencies shared by routes: the services and the caller, checked against a permission.

Every `/api` route declares the permission it needs with `Depends(require("..."))`; the
permission table lives in `omnicx.access.model`, so each role's reach is checked on the server.
The bearer token is an API key (`ocx_…`) or a staff session token (`ocs_…`). The web console's
scripts call the same routes with the session cookie instead (`SESSION_COOKIE`); a request that
changes anything must then carry the session's CSRF token in `X-CSRF-Token`, so another site
cannot make a signed-in browser act.
"""

import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from omnicx.access import (
    PERMISSIONS,
    SESSION_PREFIX,
    Principal,
    Session,
    StaffUser,
    authenticate,
    session_user,
)
from omnicx.bootstrap import Services

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `omnicx keys create`, or a session token from "
    "`POST /api/auth/login`.",
)

SESSION_COOKIE = "omnicx_session"
"""The cookie the console keeps a staff session's token in (HttpOnly, SameSite=Lax)."""
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SEEN_EVERY = timedelta(minutes=1)
"""How stale `last_used_at` of a key or `last_seen_at` of a session may get before a request
writes it again: a read stays a read most of the time."""


async def get_services(request: Request) -> Services:
    """The app's services (a coroutine: FastAPI would run a plain function in a thread)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    cookie = request.cookies.get(SESSION_COOKIE) if credentials is None else None
    if cookie is not None:
        caller = _session_caller(services, cookie, request)
    elif credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("send an API key or a session token as `Authorization: Bearer <token>`")
    elif credentials.credentials.startswith(SESSION_PREFIX):
        caller = _session_caller(services, credentials.credentials, None)
    else:
        caller = _key_caller(services, credentials.credentials)
    request.state.principal = caller
    return caller


def signed_in_session(services: Services, token: str) -> tuple[Session, StaffUser] | None:
    """The live session and active user a session token opens; marks the session seen."""
    now = services.clock.now()
    idle = int(services.settings.session_idle_minutes * 60)
    with services.uow(write=False) as uow:
        found = session_user(
            services.users(uow), services.sessions(uow), token, now, idle_seconds=idle
        )
    if found is None:
        return None
    session, _ = found
    if now - session.last_seen_at >= SEEN_EVERY:
        with services.uow() as uow:
            services.sessions(uow).touch(session.id, now)
            uow.commit()
    return found


def csrf_matches(session: Session, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), session.csrf_secret.encode())


def _session_caller(services: Services, token: str, cookie_request: Request | None) -> Principal:
    found = signed_in_session(services, token)
    if found is None:
        raise _unauthorized("unknown, expired or revoked session: sign in again")
    session, user = found
    if (
        cookie_request is not None
        and cookie_request.method not in SAFE_METHODS
        and not csrf_matches(session, cookie_request.headers.get(CSRF_HEADER))
    ):
        raise HTTPException(
            403, "a request signed in by cookie must carry its CSRF token in X-CSRF-Token"
        )
    services.throttle.hit("api", f"session:{session.id}")
    return user.principal(session.id)


def _key_caller(services: Services, token: str) -> Principal:
    now = services.clock.now()
    with services.uow(write=False) as uow:
        key = authenticate(services.api_keys(uow), token)
    if key is None:
        raise _unauthorized("unknown or revoked API key")
    if key.last_used_at is None or now - key.last_used_at >= SEEN_EVERY:
        with services.uow() as uow:
            services.api_keys(uow).mark_used(key.id, now)
            uow.commit()
    services.throttle.hit("api", f"key:{key.id}")
    return key.principal()


Caller = Annotated[Principal, Depends(principal)]
"""Any authenticated caller, whatever its role (who am I, sign out)."""


def require(permission: str) -> Callable[[Principal], Principal]:
    """A dependency that lets the caller through only if its role grants `permission`."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def check(caller: Caller) -> Principal:
        if not caller.may(permission):
            raise HTTPException(
                403, f"this needs the {permission} permission, which the {caller.role} role lacks"
            )
        return caller

    check.permission = permission  # type: ignore[attr-defined]
    return check


CustomersRead = Annotated[Principal, Depends(require("customers.read"))]
CustomersWrite = Annotated[Principal, Depends(require("customers.write"))]
UsersManage = Annotated[Principal, Depends(require("users.manage"))]
KeysManage = Annotated[Principal, Depends(require("keys.manage"))]

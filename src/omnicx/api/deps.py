"""Dependencies shared by routes: the services and the caller, checked against a permission.

Every `/api` route declares the permission it needs with `Depends(require("..."))`; the
permission table lives in `omnicx.access.model`, so each role's reach is checked on the server.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from omnicx.access import PERMISSIONS, Principal, authenticate
from omnicx.bootstrap import Services

_bearer = HTTPBearer(auto_error=False, description="An API key from `omnicx keys create`.")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "send an API key as `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with services.uow(write=False) as uow:
        key = authenticate(services.api_keys(uow), credentials.credentials)
    if key is None:
        raise HTTPException(
            401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    found = key.principal()
    request.state.principal = found
    return found


def require(permission: str) -> Callable[[Principal], Principal]:
    """A dependency that lets the caller through only if its role grants `permission`."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def check(caller: Annotated[Principal, Depends(principal)]) -> Principal:
        if not caller.may(permission):
            raise HTTPException(
                403, f"this needs the {permission} permission, which the {caller.role} role lacks"
            )
        return caller

    check.permission = permission  # type: ignore[attr-defined]
    return check


CustomersRead = Annotated[Principal, Depends(require("customers.read"))]
CustomersWrite = Annotated[Principal, Depends(require("customers.write"))]

"""Dependencies shared by routes: the services and the caller's API key."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from omnicx.access import ApiKey, authenticate
from omnicx.bootstrap import Services

_bearer = HTTPBearer(auto_error=False, description="An API key from `omnicx keys create`.")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def api_key(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
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
    return key


def admin_key(key: Annotated[ApiKey, Depends(api_key)]) -> ApiKey:
    if key.role != "admin":
        raise HTTPException(403, f"this needs an admin key; yours is {key.role}")
    return key


ReaderDep = Annotated[ApiKey, Depends(api_key)]
AdminDep = Annotated[ApiKey, Depends(admin_key)]

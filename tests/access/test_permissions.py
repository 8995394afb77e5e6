"""Every /api route names a permission, and every role and key scope gets exactly its own."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from omnicx.access import (
    KEY_SCOPES,
    ROLE_PERMISSIONS,
    STAFF_ROLES,
    Argon2PasswordHasher,
    create_api_key,
)
from omnicx.api.routes.access import ANY_CALLER_ROUTES, PUBLIC_ROUTES
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from tests.access.conftest import add_user, sign_in

CHECKED_IN_BODY = frozenset({("POST", "/api/privacy/requests")})
"""Routes that check a permission chosen by the body (privacy.export or privacy.erase by its
`kind`); tests/privacy covers their refusals."""

STREAMS = frozenset({("GET", "/api/stream")})
"""Endless event streams: the sweep checks only their refusals (an allowed call never ends);
tests/channels/webchat/test_stream.py reads them over HTTP."""


def _permissions(route: APIRoute) -> set[str]:
    found: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        permission = getattr(dependant.call, "permission", None)
        if permission:
            found.add(permission)
        pending.extend(dependant.dependencies)
    return found


def _flat(routes: list[Any]) -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                if isinstance(context.original_route, APIRoute):
                    yield context.path, context.original_route
        elif isinstance(route, APIRoute):
            yield route.path, route


def api_routes(client: TestClient) -> Iterator[tuple[str, str, APIRoute]]:
    """(method, path, route) of every route under /api, routers included."""
    for path, route in _flat(client.app.routes):  # type: ignore[attr-defined]
        if path.startswith("/api"):
            for method in sorted(route.methods or ()):
                yield method, path, route


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "missing", path)


def test_every_api_route_declares_one_permission(client: TestClient) -> None:
    unguarded = set()
    for method, path, route in api_routes(client):
        permissions = _permissions(route)
        assert len(permissions) <= 1, (method, path, permissions)
        if not permissions:
            unguarded.add((method, path))

    assert unguarded == PUBLIC_ROUTES | ANY_CALLER_ROUTES | CHECKED_IN_BODY


@pytest.fixture
def roomy(make_settings: Any) -> Iterator[tuple[TestClient, Services]]:
    """An app whose per-caller rate limit stays out of the way of the sweep."""
    settings: Settings = make_settings(rate_limit_api="100000/second")
    services = build(settings)
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    upgrade(services.engines)
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield client, services
    finally:
        services.close()


def _callers(services: Services) -> dict[str, dict[str, str]]:
    callers = {}
    for role in STAFF_ROLES:
        add_user(services, f"{role}@shop.example", role)
        token = sign_in(services, f"{role}@shop.example")
        callers[f"user:{role}"] = {"Authorization": f"Bearer {token}"}
    for scope in KEY_SCOPES:
        with services.uow() as uow:
            _, secret = create_api_key(services.api_keys(uow), scope, scope, uow.clock.now())
            uow.commit()
        callers[f"key:{scope}"] = {"Authorization": f"Bearer {secret}"}
    return callers


def test_each_role_and_scope_is_refused_exactly_what_it_lacks(
    roomy: tuple[TestClient, Services],
) -> None:
    client, services = roomy
    callers = _callers(services)
    checked = 0
    for method, path, route in api_routes(client):
        if (method, path) in PUBLIC_ROUTES | ANY_CALLER_ROUTES | CHECKED_IN_BODY:
            continue
        (permission,) = _permissions(route)
        url = _url(path)
        for caller, headers in callers.items():
            role = caller.partition(":")[2]
            if (method, path) in STREAMS and permission in ROLE_PERMISSIONS[role]:
                continue
            response = client.request(method, url, headers=headers, json={}, follow_redirects=False)
            if permission in ROLE_PERMISSIONS[role]:
                assert response.status_code != 403, (caller, method, path, response.json())
            else:
                assert response.status_code == 403, (caller, method, path)
                assert response.json() == {
                    "error": {
                        "code": "forbidden",
                        "message": f"this needs the {permission} permission, "
                        f"which the {role} role lacks",
                    }
                }
            checked += 1
    assert checked >= 7 * 20


def test_no_credentials_get_401_on_every_guarded_route(client: TestClient) -> None:
    for method, path, _ in api_routes(client):
        if (method, path) in PUBLIC_ROUTES:
            continue
        url = _url(path)
        response = client.request(method, url, json={}, follow_redirects=False)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"


def test_the_role_table_names_every_role_and_scope() -> None:
    assert set(ROLE_PERMISSIONS) == set(STAFF_ROLES) | set(KEY_SCOPES)
    assert ROLE_PERMISSIONS["agent"] >= {
        "customers.read",
        "customers.write",
        "conversations.read",
        "conversations.write",
    }
    assert ROLE_PERMISSIONS["store_associate"] >= {
        "customers.read",
        "conversations.read",
        "conversations.write",
    }
    assert ROLE_PERMISSIONS["marketer"] == {
        "customers.read",
        "analytics.read",
        "consent.read",
        "segments.read",
        "segments.write",
        "journeys.read",
        "journeys.write",
        "commerce.read",
    }
    assert ROLE_PERMISSIONS["analyst"] == {"analytics.read"}
    assert ROLE_PERMISSIONS["read_only"] == {
        "customers.read",
        "analytics.read",
        "conversations.read",
        "consent.read",
        "segments.read",
        "journeys.read",
        "commerce.read",
    }
    # Only the head office changes the catalog, prices and stock.
    assert not any("commerce.manage" in ROLE_PERMISSIONS[r] for r in STAFF_ROLES if r != "admin")

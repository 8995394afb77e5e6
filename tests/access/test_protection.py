"""Rate limits (429 with Retry-After), body limits, CORS and security headers."""

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.db.migrate import upgrade
from omnicx.events import Source, create_source
from tests.access.conftest import PASSWORD, add_user
from tests.conftest import table_counts


@pytest.fixture
def tight(make_settings: Any) -> Iterator[tuple[TestClient, Services]]:
    settings = make_settings(
        rate_limit_api="3/minute",
        rate_limit_login_email="2/minute",
        rate_limit_login_address="5/minute",
        rate_limit_tracking_key="2/minute",
        rate_limit_tracking_address="3/minute",
        max_request_bytes=1000,
        trusted_proxies="10.0.0.0/8",
    )
    services = build(settings)
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    upgrade(services.engines)
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield client, services
    finally:
        services.close()


def _limited(response: Any, limit: str) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.json() == {
        "error": {
            "code": "rate_limited",
            "message": f"too many requests: the limit is {limit}; retry later",
            "retry_after": int(response.headers["retry-after"]),
        }
    }


def test_api_calls_are_limited_per_key(
    tight: tuple[TestClient, Services],
) -> None:
    client, services = tight
    from tests.conftest import _api_key

    first, second = _api_key(services, "admin"), _api_key(services, "admin")
    statuses = [client.get("/api/keys", headers=first).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    _limited(client.get("/api/keys", headers=first), "3 per 1 minute")
    assert client.get("/api/keys", headers=second).status_code == 200


def test_sign_in_attempts_are_limited_per_email_and_per_address(
    tight: tuple[TestClient, Services],
) -> None:
    client, services = tight
    add_user(services, "ana@shop.example", "agent")
    wrong = {"email": "ana@shop.example", "password": "guess guess guess"}

    statuses = [client.post("/api/auth/login", json=wrong).status_code for _ in range(3)]

    assert statuses == [401, 401, 429]
    _limited(client.post("/api/auth/login", json={**wrong, "password": PASSWORD}), "2 per 1 minute")
    other = {"email": "bob@shop.example", "password": "x"}
    assert client.post("/api/auth/login", json=other).status_code == 401
    _limited(client.post("/api/auth/login", json=other), "5 per 1 minute")
    behind_proxy = {"X-Forwarded-For": "203.0.113.9"}
    client_from_elsewhere = TestClient(client.app, client=("10.1.2.3", 5000))
    response = client_from_elsewhere.post("/api/auth/login", json=other, headers=behind_proxy)
    assert response.status_code == 401
    assert table_counts(services, "staff_sessions") == {"staff_sessions": 0}


def _source(services: Services, name: str) -> Source:
    with services.uow() as uow:
        source = create_source(services.events(uow), name, "web", uow.clock.now())
        uow.commit()
    return source


def test_tracking_is_limited_per_write_key_and_per_address(
    tight: tuple[TestClient, Services],
) -> None:
    client, services = tight
    web, app = _source(services, "Web"), _source(services, "App")

    def send(source: Source) -> Any:
        token = base64.b64encode(f"{source.write_key}:".encode()).decode()
        return client.post(
            "/v1/track",
            headers={"Authorization": f"Basic {token}"},
            json={"userId": "u", "event": "E"},
        )

    assert [send(web).status_code for _ in range(2)] == [200, 200]
    refused = send(web)
    _limited(refused, "2 per 1 minute")
    assert refused.headers["access-control-allow-origin"] == "*"
    _limited(send(app), "3 per 1 minute")
    assert services.queue.pending() == 2


def test_a_body_over_the_limit_is_refused_and_nothing_written(
    tight: tuple[TestClient, Services],
) -> None:
    client, services = tight
    from tests.conftest import _api_key

    admin = _api_key(services, "admin")
    big = {"name": "x" * 2000, "scope": "admin"}

    declared = client.post("/api/keys", headers=admin, json=big)

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        yield b"x" * 2000
        yield b'", "scope": "admin"}'

    streamed = client.post(
        "/api/keys", headers={**admin, "Content-Type": "application/json"}, content=chunks()
    )

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
    assert table_counts(services, "api_keys") == {"api_keys": 1}


def test_api_answers_carry_no_cors_and_are_not_cached(
    client: TestClient, admin: dict[str, str]
) -> None:
    origin = {"Origin": "https://evil.example"}

    response = client.get("/api/keys", headers={**admin, **origin})
    preflight = client.options(
        "/api/keys", headers={**origin, "Access-Control-Request-Method": "GET"}
    )

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in preflight.headers
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    tracking = client.options("/v1/track", headers=origin)
    assert tracking.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_html_pages_carry_the_security_headers(client: TestClient, page: str) -> None:
    response = client.get(page)

    assert response.status_code == 200
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["permissions-policy"] == (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
    )
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "strict-transport-security" not in headers
    policy = dict(p.split(" ", 1) for p in headers["content-security-policy"].split("; "))
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self'"
    assert policy["script-src"].startswith("'self' https://cdn.jsdelivr.net")
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert len(response.content) == int(headers["content-length"])


def test_swagger_ui_inline_script_is_allowed_by_its_hash(client: TestClient) -> None:
    import hashlib
    import re

    response = client.get("/docs")

    inline = re.search(rb"<script>(.*?)</script>", response.content, re.DOTALL)
    assert inline is not None
    digest = base64.b64encode(hashlib.sha256(inline.group(1)).digest()).decode()
    script_src = response.headers["content-security-policy"].split("; ")[1]
    assert script_src == f"script-src 'self' https://cdn.jsdelivr.net 'sha256-{digest}'"


def test_hsts_only_over_https_or_from_a_trusted_proxy(
    tight: tuple[TestClient, Services],
) -> None:
    client, _ = tight
    forwarded = {"X-Forwarded-Proto": "https"}

    direct = client.get("/docs", headers=forwarded)
    via_proxy = TestClient(client.app, client=("10.0.0.5", 4000)).get("/docs", headers=forwarded)
    over_https = TestClient(client.app, base_url="https://testserver").get("/docs")

    assert "strict-transport-security" not in direct.headers
    for response in (via_proxy, over_https):
        assert response.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )

"""The error contract: one JSON shape, a stable code, a message naming what is wrong.

Representative bad inputs on each router, with their exact bodies, and proof that a failure
writes nothing and that an unexpected exception leaks nothing.
"""

import gzip
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.asgi import app_for
from omnicx.bootstrap import Services
from tests.conftest import table_counts

JSON = {"content-type": "application/json"}


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def invalid(field: str, message: str) -> dict[str, Any]:
    return error(
        "invalid_request",
        f"{field}: {message}",
        field=field,
        items=[{"field": field, "message": message}],
    )


# Customers router: API keys, roles, parameters, hostile URLs.


def test_missing_and_unknown_api_keys(client: TestClient) -> None:
    missing = client.get("/api/customers", params={"q": "ana"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json() == error(
        "unauthorized", "send an API key or a session token as `Authorization: Bearer <token>`"
    )
    unknown = client.get(
        "/api/customers", params={"q": "ana"}, headers={"Authorization": "Bearer ocx_nope"}
    )
    assert unknown.status_code == 401
    assert unknown.json() == error("unauthorized", "unknown or revoked API key")


def test_wrong_role_is_forbidden_and_writes_nothing(
    client: TestClient, reader: dict[str, str], services: Services
) -> None:
    response = client.post(
        "/api/sources", json={"name": "Till", "channel": "store"}, headers=reader
    )
    assert response.status_code == 403
    assert response.json() == error(
        "forbidden", "this needs the sources.manage permission, which the read_only role lacks"
    )
    assert table_counts(services, "sources") == {"sources": 0}


def test_query_parameters_of_the_wrong_shape(client: TestClient, admin: dict[str, str]) -> None:
    missing = client.get("/api/customers", headers=admin)
    assert missing.status_code == 422
    assert missing.json() == invalid("q", "Field required")
    not_a_number = client.get("/api/customers", params={"q": "a", "limit": "ten"}, headers=admin)
    assert not_a_number.status_code == 422
    assert not_a_number.json() == invalid(
        "limit", "Input should be a valid integer, unable to parse string as an integer"
    )
    huge = client.get("/api/customers", params={"q": "a", "limit": str(10**40)}, headers=admin)
    assert huge.status_code == 422
    assert huge.json() == invalid("limit", "Input should be less than or equal to 200")


def test_domain_errors_name_the_field(client: TestClient, admin: dict[str, str]) -> None:
    kind = client.get("/api/customers/lookup", params={"kind": "shoe", "value": "1"}, headers=admin)
    assert kind.status_code == 400
    assert kind.json() == error(
        "unknown_identifier_kind",
        "kind must be one of: user_id, anonymous_id, email, phone, loyalty_id",
        field="kind",
    )
    merge = client.post("/api/merges/nope/undo", headers=admin)
    assert merge.status_code == 404
    assert merge.json() == error("merge_not_found", "no merge nope", field="merge_id")


def test_nul_characters_in_urls_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    query = client.get("/api/customers", params={"q": "ana\x00"}, headers=admin)
    assert query.status_code == 400
    assert query.json() == error(
        "nul_character", "the query string contains a NUL character", field="query"
    )
    path = client.get("/api/customers/abc%00def", headers=admin)
    assert path.status_code == 400
    assert path.json() == error("nul_character", "the path contains a NUL character", field="path")


def test_absurdly_long_urls_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    path = client.get("/api/customers/" + "x" * 5000, headers=admin)
    assert path.status_code == 414
    assert path.json() == error("uri_too_long", "the path is over 2048 bytes", field="path")
    query = client.get("/api/identity/conflicts", params={"customer_id": "y" * 9000}, headers=admin)
    assert query.status_code == 414
    assert query.json() == error(
        "uri_too_long", "the query string is over 8192 bytes", field="query"
    )


def test_unknown_routes_and_methods(client: TestClient, admin: dict[str, str]) -> None:
    route = client.get("/api/nothing-here", headers=admin)
    assert route.status_code == 404
    assert route.json() == error("not_found", "no such route")
    method = client.put("/api/sources", json={}, headers=admin)
    assert method.status_code == 405
    assert method.json() == error("method_not_allowed", "this route does not accept that method")


# Admin router: JSON bodies.


@pytest.mark.parametrize(
    ("body", "headers", "status", "expected"),
    [
        pytest.param(
            b'{"name": ',
            JSON,
            400,
            error(
                "malformed_json",
                "the body is not valid JSON: Expecting value at position 9",
                field="body",
            ),
            id="malformed-json",
        ),
        pytest.param(
            b"name=Till&channel=store",
            {"content-type": "text/plain"},
            415,
            error(
                "unsupported_media_type",
                "the body must be application/json; the request sent Content-Type text/plain",
                field="content-type",
            ),
            id="text-plain",
        ),
        pytest.param(
            b'{"name": "Till", "channel": "store"}',
            {},
            415,
            error(
                "unsupported_media_type",
                "the body must be application/json; the request sent no Content-Type",
                field="content-type",
            ),
            id="no-content-type",
        ),
        pytest.param(
            b'{"name": "Caf\xe9", "channel": "store"}',
            JSON,
            400,
            error("invalid_encoding", "the body is not UTF-8 (byte 13)", field="body"),
            id="latin-1",
        ),
        pytest.param(
            b'{"name": "Till\\u0000", "channel": "store"}',
            JSON,
            400,
            error(
                "nul_character",
                "a string in the body contains a NUL character (\\u0000)",
                field="body",
            ),
            id="nul",
        ),
        pytest.param(
            b'{"name": "Till", "channel": "store", "x": ' + b"[" * 100 + b"]" * 100 + b"}",
            JSON,
            400,
            error(
                "too_deeply_nested",
                "the body nests arrays and objects over 64 levels deep",
                field="body",
            ),
            id="deep",
        ),
        pytest.param(
            b'{"name": "Till", "channel": "store", "n": ' + b"9" * 5000 + b"}",
            JSON,
            400,
            error(
                "malformed_body",
                "the body could not be parsed as JSON (a number too long, or nesting too deep)",
                field="body",
            ),
            id="huge-number",
        ),
        pytest.param(
            b'{"name": "Till", "channel": 123456789012345678901234567890}',
            JSON,
            422,
            invalid("channel", "Input should be a valid string"),
            id="number-for-string",
        ),
        pytest.param(
            b"[]",
            JSON,
            422,
            invalid("body", "Input should be a valid dictionary or object to extract fields from"),
            id="array",
        ),
        pytest.param(
            b'{"name": "", "channel": "store"}',
            JSON,
            422,
            invalid("name", "String should have at least 1 character"),
            id="empty-name",
        ),
        pytest.param(
            b'{"name": "Till", "channel": "' + b"x" * 1_100_000 + b'"}',
            JSON,
            413,
            error("body_too_large", "the body is over 1048576 bytes", field="body"),
            id="too-large",
        ),
    ],
)
def test_bad_bodies_get_a_clear_error_and_write_nothing(
    client: TestClient,
    admin: dict[str, str],
    services: Services,
    body: bytes,
    headers: dict[str, str],
    status: int,
    expected: dict[str, Any],
) -> None:
    response = client.post("/api/sources", content=body, headers={**admin, **headers})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected
    assert table_counts(services, "sources") == {"sources": 0}


def test_conflict_and_rule_errors_write_nothing(
    client: TestClient, admin: dict[str, str], services: Services
) -> None:
    created = client.post("/api/sources", json={"name": "Till", "channel": "store"}, headers=admin)
    assert created.status_code == 201
    again = client.post("/api/sources", json={"name": "Till", "channel": "web"}, headers=admin)
    assert again.status_code == 409
    assert again.json() == error(
        "source_exists", "a source named 'Till' exists already", field="name"
    )
    webhook = client.post(
        "/api/webhooks", json={"url": "ftp://example.com", "topics": ["x"]}, headers=admin
    )
    assert webhook.status_code == 400
    assert webhook.json() == error(
        "invalid_url", "url must be an absolute http(s) URL", field="url"
    )
    assert table_counts(services, "sources", "webhook_subscriptions") == {
        "sources": 1,
        "webhook_subscriptions": 0,
    }


# Tracking router: the Segment-compatible fast path.


def test_tracking_errors(
    client: TestClient, write_auth: dict[str, str], services: Services
) -> None:
    malformed = client.post("/v1/track", content=b'{"x', headers={**write_auth, **JSON})
    assert malformed.status_code == 400
    assert malformed.json() == error(
        "malformed_json",
        "the body is not valid JSON: unexpected end of data: line 1 column 4 (char 3)",
    )
    keyless = client.post("/v1/track", json={"userId": "ana", "event": "Viewed"})
    assert keyless.status_code == 401
    assert keyless.json() == error(
        "missing_write_key", "send the write key as Basic auth user name or as writeKey"
    )
    settings = client.get("/v1/projects/nope/settings")
    assert settings.status_code == 401
    assert settings.json() == error("unknown_write_key", "the write key is not one of a source")
    assert table_counts(services, "ingest_queue") == {"ingest_queue": 0}


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_tracking_refuses_nul_characters_before_acknowledging(
    client: TestClient, write_auth: dict[str, str], services: Services, gzipped: bool
) -> None:
    body = b'{"userId": "ana\\u0000", "event": "Viewed"}'
    headers = {**write_auth, **JSON}
    if gzipped:
        body = gzip.compress(body)
        headers["content-encoding"] = "gzip"
    response = client.post("/v1/track", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == error(
        "nul_character", "a string in the body contains a NUL character (\\u0000)"
    )
    assert table_counts(services, "ingest_queue") == {"ingest_queue": 0}


# Unexpected failures.


@pytest.fixture
def fragile_client(services: Services) -> Iterator[TestClient]:
    with TestClient(app_for(services, run_worker=False), raise_server_exceptions=False) as client:
        yield client


def test_an_unexpected_exception_leaks_nothing(
    fragile_client: TestClient,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "password=hunter2 in /srv/omnicx/secret.py line 42"

    def explode(_key: str) -> None:
        raise RuntimeError(secret)

    monkeypatch.setattr(services, "source_for_key", explode)
    with caplog.at_level(logging.ERROR, logger="omnicx.api"):
        response = fragile_client.get("/v1/projects/any/settings")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == error(
        "internal_error",
        "something went wrong on our side; nothing was written",
        request_id=request_id,
    )
    assert secret not in response.text
    assert "Traceback" not in response.text
    [record] = [r for r in caplog.records if r.name == "omnicx.api"]
    assert record.getMessage() == (f"unhandled error {request_id} on GET /v1/projects/any/settings")
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == secret


# The OpenAPI document says all of the above.


def test_the_document_describes_every_error_with_one_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert schemas["Error"]["required"] == ["error"]
    assert schemas["ErrorDetail"]["required"] == ["code", "message"]
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    errors_seen: set[str] = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "500" in responses, f"{method} {path}"
            for status, response in responses.items():
                if int(status) >= 400:
                    errors_seen.add(status)
                    assert response["content"] == ref, f"{method} {path} {status}"
    assert {"400", "401", "403", "404", "409", "413", "414", "415", "422", "500"} <= errors_seen
    sources = document["paths"]["/api/sources"]["post"]["responses"]
    assert sorted(sources) == [
        "201",
        "400",
        "401",
        "403",
        "409",
        "413",
        "414",
        "415",
        "422",
        "429",
        "500",
    ]
    health = document["paths"]["/health"]["get"]["responses"]
    assert sorted(health) == ["200", "414", "500"]

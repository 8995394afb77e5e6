"""The Segment-compatible tracking API, through the ASGI app (the worker is not running)."""

import base64
import gzip
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.events import Source
from tests.conftest import table_counts

WRITTEN = ("events", "profiles", "identifiers", "traits", "outbox")
NOTHING = dict.fromkeys(WRITTEN, 0)

CALLS: dict[str, dict[str, Any]] = {
    "identify": {"userId": "u1", "traits": {"plan": "gold"}},
    "track": {"userId": "u1", "event": "Signed Up"},
    "page": {"userId": "u1", "name": "Home"},
    "screen": {"userId": "u1", "name": "Home"},
    "group": {"userId": "u1", "groupId": "g1"},
    "alias": {"userId": "u1", "previousId": "a1"},
}
SHORT = {"identify": "i", "track": "t", "page": "p", "screen": "s", "group": "g", "alias": "a"}


def basic(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def stored_events(services: Services) -> list[tuple[str, str, str]]:
    with services.engines.main.connect() as conn:
        rows = conn.execute(sa.text("SELECT type, message_id, channel FROM events ORDER BY id"))
        return [(r[0], r[1], r[2]) for r in rows]


def error_of(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    """The `error` object of a JSON error response, after checking its shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert set(error) <= {"code", "message", "field", "items"}
    return error


def assert_nothing_written(services: Services, drain: Callable[[], int]) -> None:
    assert services.queue.pending() == 0
    assert drain() == 0
    assert table_counts(services, *WRITTEN) == NOTHING


# -- every route ------------------------------------------------------------------------


@pytest.mark.parametrize("short", [False, True], ids=["long", "short"])
@pytest.mark.parametrize("call_type", list(CALLS))
def test_every_call_route_takes_its_call(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    drain: Callable[[], int],
    call_type: str,
    short: bool,
) -> None:
    path = f"/v1/{SHORT[call_type] if short else call_type}"
    response = client.post(path, headers=write_auth, json={**CALLS[call_type], "messageId": "m-1"})
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 1}
    assert response.headers["access-control-allow-origin"] == "*"
    assert services.queue.pending() == 1
    assert drain() == 1
    assert services.queue.pending() == 0
    assert stored_events(services) == [(call_type, "m-1", "web")]


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/b"])
def test_the_batch_routes_take_every_call_type(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    drain: Callable[[], int],
    path: str,
) -> None:
    batch = [
        {**call, "type": call_type, "messageId": f"m-{n}"}
        for n, (call_type, call) in enumerate(CALLS.items())
    ]
    response = client.post(path, headers=write_auth, json={"batch": batch})
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 6}
    assert drain() == 6
    assert stored_events(services) == [
        (call_type, f"m-{n}", "web") for n, call_type in enumerate(CALLS)
    ]


def test_the_type_of_a_single_call_comes_from_the_route(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/page", headers=write_auth, json={"type": "track", "userId": "u1", "messageId": "m"}
    )
    assert response.status_code == 200
    assert drain() == 1
    assert stored_events(services) == [("page", "m", "web")]


def test_warnings_are_returned_with_the_accepted_call(
    client: TestClient, services: Services, write_auth: dict[str, str]
) -> None:
    response = client.post(
        "/v1/identify", headers=write_auth, json={"userId": "u1", "traits": {"email": "nope"}}
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "accepted": 1,
        "warnings": [
            {
                "index": None,
                "field": "traits.email",
                "code": "invalid_email",
                "message": "'nope' is not an email address; it was kept as a trait but not linked",
            }
        ],
    }
    assert services.queue.pending() == 1


# -- write keys -------------------------------------------------------------------------


def test_the_write_key_is_taken_from_basic_auth(
    client: TestClient, services: Services, source: Source, drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/track", headers=basic(source.write_key), json={"userId": "u1", "event": "A"}
    )
    assert response.status_code == 200
    assert drain() == 1


def test_basic_auth_with_a_password_still_uses_the_user_name(
    client: TestClient, services: Services, source: Source
) -> None:
    token = base64.b64encode(f"{source.write_key}:ignored".encode()).decode()
    response = client.post(
        "/v1/track",
        headers={"Authorization": f"Basic {token}"},
        json={"userId": "u1", "event": "A"},
    )
    assert response.status_code == 200
    assert services.queue.pending() == 1


@pytest.mark.parametrize("path", ["/v1/track", "/v1/t", "/v1/batch"])
def test_the_write_key_is_taken_from_the_body(
    client: TestClient,
    services: Services,
    source: Source,
    drain: Callable[[], int],
    path: str,
) -> None:
    call = {"userId": "u1", "event": "A"}
    body = {"batch": [{**call, "type": "track"}]} if path == "/v1/batch" else call
    response = client.post(path, json={**body, "writeKey": source.write_key})
    assert response.status_code == 200
    assert drain() == 1
    assert table_counts(services, "events") == {"events": 1}


def test_an_unknown_basic_write_key_is_refused_and_nothing_is_queued(
    client: TestClient, services: Services, source: Source, drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/track",
        headers=basic("not-a-key"),
        json={"userId": "u1", "event": "A", "writeKey": source.write_key},
    )
    error = error_of(response, 401, "unknown_write_key")
    assert error == {"code": "unknown_write_key", "message": "the write key is not one of a source"}
    assert response.headers["access-control-allow-origin"] == "*"
    assert_nothing_written(services, drain)


def test_an_unknown_body_write_key_is_refused_and_nothing_is_queued(
    client: TestClient, services: Services, source: Source, drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/batch",
        json={"writeKey": "not-a-key", "batch": [{"type": "track", "userId": "u", "event": "A"}]},
    )
    error_of(response, 401, "unknown_write_key")
    assert_nothing_written(services, drain)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer something"}, {"Authorization": "Basic " + "Og=="}],
    ids=["none", "bearer", "empty-user"],
)
def test_a_missing_write_key_is_refused(
    client: TestClient,
    services: Services,
    source: Source,
    drain: Callable[[], int],
    headers: dict[str, str],
) -> None:
    response = client.post("/v1/track", headers=headers, json={"userId": "u1", "event": "A"})
    error = error_of(response, 401, "missing_write_key")
    assert error["message"] == "send the write key as Basic auth user name or as writeKey"
    assert_nothing_written(services, drain)


def test_an_empty_body_write_key_is_a_missing_one(
    client: TestClient, services: Services, source: Source, drain: Callable[[], int]
) -> None:
    response = client.post("/v1/track", json={"userId": "u1", "event": "A", "writeKey": ""})
    error_of(response, 401, "missing_write_key")
    assert_nothing_written(services, drain)


def test_basic_credentials_that_are_not_base64_are_refused(
    client: TestClient, services: Services, source: Source, drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/track",
        headers={"Authorization": "Basic !!!"},
        json={"userId": "u1", "event": "A", "writeKey": source.write_key},
    )
    error_of(response, 401, "invalid_authorization")
    assert_nothing_written(services, drain)


# -- bodies -----------------------------------------------------------------------------


def test_a_text_plain_body_is_read_as_json(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/t",
        headers={**write_auth, "Content-Type": "text/plain;charset=UTF-8"},
        content=orjson.dumps({"anonymousId": "a1", "event": "Beacon", "messageId": "m"}),
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 1}
    assert drain() == 1
    assert stored_events(services) == [("track", "m", "web")]


def test_a_gzip_body_is_accepted(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    body = {
        "batch": [
            {"type": "identify", "userId": "u1", "messageId": "m1"},
            {"type": "track", "userId": "u1", "event": "A", "messageId": "m2"},
        ]
    }
    response = client.post(
        "/v1/batch",
        headers={
            **write_auth,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        content=gzip.compress(orjson.dumps(body)),
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 2}
    assert drain() == 2
    assert stored_events(services) == [("identify", "m1", "web"), ("track", "m2", "web")]


def test_a_corrupt_gzip_body_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/track",
        headers={**write_auth, "Content-Encoding": "gzip"},
        content=b"this is not gzip",
    )
    error_of(response, 400, "malformed_gzip")
    assert_nothing_written(services, drain)


def test_malformed_json_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/track",
        headers={**write_auth, "Content-Type": "application/json"},
        content=b'{"userId": "u1",',
    )
    error = error_of(response, 400, "malformed_json")
    assert error["message"].startswith("the body is not valid JSON: ")
    assert response.headers["access-control-allow-origin"] == "*"
    assert_nothing_written(services, drain)


def test_a_batch_with_one_bad_item_is_refused_whole(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/batch",
        headers=write_auth,
        json={
            "batch": [
                {"type": "identify", "userId": "u1", "traits": {"email": "ana@example.com"}},
                {"type": "track", "userId": "u1", "event": "A"},
                {"type": "track", "userId": "u1"},
                {"type": "page", "anonymousId": "a1"},
            ]
        },
    )
    error = error_of(response, 400, "invalid_event")
    assert error == {
        "code": "invalid_event",
        "message": "1 invalid event",
        "items": [{"index": 2, "field": "event", "message": "a track call needs an event name"}],
    }
    assert_nothing_written(services, drain)


def test_a_body_that_is_not_an_object_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post("/v1/batch", headers=write_auth, json=[{"type": "track"}])
    error_of(response, 400, "invalid_body")
    assert_nothing_written(services, drain)


def test_an_empty_body_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post("/v1/identify", headers=write_auth, content=b"")
    error_of(response, 400, "empty_body")
    assert_nothing_written(services, drain)


# -- limits -----------------------------------------------------------------------------


def test_a_body_over_500_kb_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    items = [
        {"type": "track", "userId": "u1", "event": "A", "properties": {"pad": "x" * 20_000}}
    ] * 30
    response = client.post("/v1/batch", headers=write_auth, json={"batch": items})
    error = error_of(response, 413, "body_too_large")
    assert error == {"code": "body_too_large", "message": "the body is over 512000 bytes"}
    assert response.headers["access-control-allow-origin"] == "*"
    assert_nothing_written(services, drain)


def test_a_streamed_body_over_500_kb_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"userId": "u1", "event": "A", "properties": {"pad": "'
        for _ in range(60):
            yield b"x" * 10_000
        yield b'"}}'

    response = client.post("/v1/track", headers=write_auth, content=chunks())
    error_of(response, 413, "body_too_large")
    assert_nothing_written(services, drain)


def test_a_gzip_body_over_500_kb_unpacked_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    body = gzip.compress(
        orjson.dumps({"userId": "u1", "event": "A", "properties": {"pad": "x" * 600_000}})
    )
    response = client.post(
        "/v1/track", headers={**write_auth, "Content-Encoding": "gzip"}, content=body
    )
    error = error_of(response, 413, "body_too_large")
    assert error["message"] == "the body is over 512000 bytes unpacked"
    assert_nothing_written(services, drain)


def test_a_batch_event_over_32_kb_is_refused_naming_it(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    big = {"type": "track", "userId": "u1", "event": "A", "properties": {"pad": "x" * 33_000}}
    response = client.post(
        "/v1/batch",
        headers=write_auth,
        json={"batch": [{"type": "identify", "userId": "u1"}, big]},
    )
    error = error_of(response, 413, "event_too_large")
    assert error == {
        "code": "event_too_large",
        "message": "events over the size limit",
        "items": [{"index": 1, "message": "event is over 32768 bytes", "field": None}],
    }
    assert_nothing_written(services, drain)


def test_a_single_call_over_32_kb_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/track",
        headers=write_auth,
        json={"userId": "u1", "event": "A", "properties": {"pad": "x" * 33_000}},
    )
    error_of(response, 413, "event_too_large")
    assert_nothing_written(services, drain)


# -- replays and identity ---------------------------------------------------------------


def test_a_replayed_batch_is_stored_once(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
) -> None:
    body = {
        "batch": [
            {"type": "identify", "userId": "u1", "messageId": "m1", "traits": {"plan": "gold"}},
            {"type": "track", "userId": "u1", "event": "A", "messageId": "m2"},
        ]
    }
    first = client.post("/v1/batch", headers=write_auth, json=body)
    second = client.post("/v1/batch", headers=write_auth, json=body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json() == {"success": True, "accepted": 2}
    assert services.queue.pending() == 4
    assert drain() == 2
    assert stored_events(services) == [("identify", "m1", "web"), ("track", "m2", "web")]

    third = client.post("/v1/batch", headers=write_auth, json=body)
    assert third.status_code == 200
    assert drain() == 0
    assert table_counts(services, "events", "profiles", "identifiers", "trait_history") == {
        "events": 2,
        "profiles": 1,
        "identifiers": 1,
        "trait_history": 1,
    }


def test_the_same_message_id_from_another_source_is_another_event(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
) -> None:
    made = client.post("/api/sources", headers=admin, json={"name": "Store", "channel": "store"})
    assert made.status_code == 201
    call = {"userId": "u1", "event": "A", "messageId": "m1"}
    assert client.post("/v1/track", headers=write_auth, json=call).status_code == 200
    other = basic(made.json()["write_key"])
    assert client.post("/v1/track", headers=other, json=call).status_code == 200
    assert drain() == 2
    assert stored_events(services) == [("track", "m1", "web"), ("track", "m1", "store")]


def test_an_alias_links_an_anonymous_history_with_the_user(
    client: TestClient, write_auth: dict[str, str], admin: dict[str, str], drain: Callable[[], int]
) -> None:
    calls = [
        ("/v1/page", {"anonymousId": "anon-1", "name": "Home", "messageId": "m1"}),
        ("/v1/identify", {"userId": "u1", "traits": {"name": "Ana"}, "messageId": "m2"}),
    ]
    for path, body in calls:
        assert client.post(path, headers=write_auth, json=body).status_code == 200
    assert drain() == 2
    before = client.get(
        "/api/customers/lookup", params={"kind": "anonymous_id", "value": "anon-1"}, headers=admin
    ).json()["id"]

    alias = {"previousId": "anon-1", "userId": "u1", "messageId": "m3"}
    assert client.post("/v1/alias", headers=write_auth, json=alias).status_code == 200
    assert drain() == 1

    by_user = client.get(
        "/api/customers/lookup", params={"kind": "user_id", "value": "u1"}, headers=admin
    ).json()
    by_anonymous = client.get(
        "/api/customers/lookup", params={"kind": "anonymous_id", "value": "anon-1"}, headers=admin
    ).json()
    assert by_user == by_anonymous
    assert sorted((i["kind"], i["value"]) for i in by_user["identifiers"]) == [
        ("anonymous_id", "anon-1"),
        ("user_id", "u1"),
    ]
    assert by_user["traits"] == {"name": "Ana"}
    assert len(by_user["merged_ids"]) == 1
    assert before in [by_user["id"], *by_user["merged_ids"]]
    timeline = client.get(
        f"/api/customers/{by_user['id']}/timeline", params={"order": "asc"}, headers=admin
    ).json()
    assert [(i["type"], i["message_id"]) for i in timeline["items"]] == [
        ("page", "m1"),
        ("identify", "m2"),
        ("alias", "m3"),
    ]
    assert timeline["items"][2]["properties"] == {"previousId": "anon-1"}


def test_an_alias_of_an_unknown_anonymous_id_attaches_it_to_the_user(
    client: TestClient, write_auth: dict[str, str], admin: dict[str, str], drain: Callable[[], int]
) -> None:
    alias = {"previousId": "anon-9", "userId": "u9"}
    assert client.post("/v1/a", headers=write_auth, json=alias).status_code == 200
    assert drain() == 1
    found = client.get(
        "/api/customers/lookup", params={"kind": "anonymous_id", "value": "anon-9"}, headers=admin
    ).json()
    assert sorted((i["kind"], i["value"]) for i in found["identifiers"]) == [
        ("anonymous_id", "anon-9"),
        ("user_id", "u9"),
    ]
    assert found["merged_ids"] == []


def test_a_merge_inside_one_batch_keeps_the_traits_of_both_histories(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
) -> None:
    batch = [
        {"type": "identify", "anonymousId": "anon-1", "traits": {"name": "Ana"}},
        {"type": "identify", "userId": "u1", "traits": {"plan": "gold"}},
        {"type": "track", "userId": "u1", "event": "Order Completed"},
        {"type": "alias", "previousId": "anon-1", "userId": "u1"},
        {"type": "identify", "userId": "u1", "traits": {"city": "Recife"}},
    ]
    assert client.post("/v1/batch", headers=write_auth, json={"batch": batch}).status_code == 200
    assert drain() == 5
    customer = client.get(
        "/api/customers/lookup", params={"kind": "anonymous_id", "value": "anon-1"}, headers=admin
    ).json()
    assert customer["traits"] == {"city": "Recife", "name": "Ana", "plan": "gold"}
    assert customer["display_name"] == "Ana"
    assert sorted((i["kind"], i["value"]) for i in customer["identifiers"]) == [
        ("anonymous_id", "anon-1"),
        ("user_id", "u1"),
    ]
    assert len(customer["merged_ids"]) == 1
    assert table_counts(services, "profiles", "merges", "traits") == {
        "profiles": 2,
        "merges": 1,
        "traits": 3,
    }


def test_the_context_channel_overrides_the_source_channel(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    body = {"userId": "u1", "event": "A", "messageId": "m", "context": {"channel": "whatsapp"}}
    assert client.post("/v1/track", headers=write_auth, json=body).status_code == 200
    assert drain() == 1
    assert stored_events(services) == [("track", "m", "whatsapp")]


# -- settings, CORS and errors ----------------------------------------------------------


def test_the_project_settings_name_the_api_host(client: TestClient, source: Source) -> None:
    response = client.get(f"/v1/projects/{source.write_key}/settings")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {
        "integrations": {"Segment.io": {"apiKey": source.write_key, "apiHost": "testserver/v1"}},
        "plan": {
            "track": {"__default": {"enabled": True}},
            "identify": {"__default": {"enabled": True}},
        },
    }


def test_the_project_settings_of_an_unknown_key_are_refused(
    client: TestClient, source: Source
) -> None:
    response = client.get("/v1/projects/nope/settings")
    error_of(response, 401, "unknown_write_key")
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        *[(f"/v1/{t}", "POST") for t in CALLS],
        *[(f"/v1/{s}", "POST") for s in SHORT.values()],
        ("/v1/batch", "POST"),
        ("/v1/b", "POST"),
        ("/v1/projects/k/settings", "GET"),
    ],
)
def test_the_cors_preflight_is_answered(client: TestClient, path: str, method: str) -> None:
    response = client.options(
        path,
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert {k: v for k, v in response.headers.items() if k.startswith("access-control-")} == {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": f"{method}, OPTIONS",
        "access-control-allow-headers": "Content-Type, Authorization, Content-Encoding",
        "access-control-max-age": "86400",
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/track", 405, "method_not_allowed"),
        ("POST", "/v1/nope", 404, "not_found"),
        ("OPTIONS", "/v1/nope", 404, "not_found"),
        ("GET", "/nowhere", 404, "not_found"),
        ("POST", "/api/sources", 401, "unauthorized"),
    ],
)
def test_errors_outside_ingestion_are_json_too(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    error_of(client.request(method, path), status, code)


def test_an_unsupported_encoding_is_refused(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    response = client.post(
        "/v1/track",
        headers={**write_auth, "Content-Encoding": "br"},
        content=orjson.dumps({"userId": "u1", "event": "A"}),
    )
    error_of(response, 400, "unsupported_encoding")
    assert_nothing_written(services, drain)


def test_the_health_check_counts_pending_events(
    client: TestClient, services: Services, write_auth: dict[str, str], drain: Callable[[], int]
) -> None:
    assert client.post(
        "/v1/batch",
        headers=write_auth,
        json={"batch": [{"type": "track", "userId": "u", "event": e} for e in "ABC"]},
    ).json() == {"success": True, "accepted": 3}
    assert client.get("/health").json() == {"status": "ok", "pending_events": 3, "dead_letters": 0}
    assert drain() == 3
    assert client.get("/health").json() == {"status": "ok", "pending_events": 0, "dead_letters": 0}

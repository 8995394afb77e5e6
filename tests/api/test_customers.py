"""The customer API: search, look-up, timeline pages and filters, context, auth."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def people(client: TestClient, write_auth: dict[str, str], drain: Callable[[], int]) -> None:
    batch: list[dict[str, Any]] = [
        {
            "type": "identify",
            "userId": "ana",
            "timestamp": "2026-05-01T10:00:00Z",
            "traits": {
                "firstName": "Ana",
                "lastName": "Souza",
                "email": "ana@example.com",
                "phone": "+55 11 91234-5678",
            },
        },
        {
            "type": "identify",
            "userId": "bruno",
            "timestamp": "2026-05-01T11:00:00Z",
            "traits": {"name": "Bruno Anastácio", "email": "bruno@example.com"},
        },
    ]
    for day in range(1, 8):
        channel = "store" if day % 2 else "web"
        batch.append(
            {
                "type": "track",
                "userId": "ana",
                "event": f"Visit {day}",
                "timestamp": f"2026-05-{day + 1:02d}T09:00:00Z",
                "context": {"channel": channel},
            }
        )
    batch.append(
        {"type": "page", "userId": "ana", "name": "Home", "timestamp": "2026-05-09T09:00:00Z"}
    )
    response = client.post("/v1/batch", headers=write_auth, json={"batch": batch})
    assert response.status_code == 200
    assert drain() == len(batch)


def names(response: Any) -> list[str]:
    return [c["display_name"] for c in response.json()["items"]]


@pytest.mark.usefixtures("people")
def test_search_by_name_email_or_phone_typed_any_way(
    client: TestClient, admin: dict[str, str]
) -> None:
    def search(q: str) -> list[str]:
        response = client.get("/api/customers", params={"q": q}, headers=admin)
        assert response.status_code == 200
        return sorted(names(response))

    assert search("ana") == ["Ana Souza", "Bruno Anastácio"]
    assert search("SOUZA") == ["Ana Souza"]
    assert search(" Bruno@Example.com ") == ["Bruno Anastácio"]
    assert search("(11) 91234-5678") == ["Ana Souza"]
    assert search("nobody") == []


@pytest.mark.usefixtures("people")
def test_lookup_normalises_the_value(client: TestClient, admin: dict[str, str]) -> None:
    found = client.get(
        "/api/customers/lookup", params={"kind": "phone", "value": "5511912345678"}, headers=admin
    )
    assert found.status_code == 200
    assert found.json()["display_name"] == "Ana Souza"
    assert found.json()["phone"] == "+5511912345678"
    missing = client.get(
        "/api/customers/lookup", params={"kind": "email", "value": "zed@example.com"}, headers=admin
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "customer_not_found"
    bad = client.get(
        "/api/customers/lookup", params={"kind": "email", "value": "zed"}, headers=admin
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": "invalid_email",
        "field": "value",
        "message": "'zed' is not an email address",
    }
    kind = client.get(
        "/api/customers/lookup", params={"kind": "shoe_size", "value": "42"}, headers=admin
    )
    assert kind.status_code == 400
    assert kind.json()["error"]["field"] == "kind"


@pytest.mark.usefixtures("people")
def test_timeline_pages_with_a_cursor_and_filters(
    client: TestClient, admin: dict[str, str]
) -> None:
    ana = client.get(
        "/api/customers/lookup", params={"kind": "user_id", "value": "ana"}, headers=admin
    ).json()["id"]
    url = f"/api/customers/{ana}/timeline"
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get(url, params=params, headers=admin).json()
        seen += [i["event"] or i["name"] or i["type"] for i in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [
        "Home",
        "Visit 7",
        "Visit 6",
        "Visit 5",
        "Visit 4",
        "Visit 3",
        "Visit 2",
        "Visit 1",
        "identify",
    ]
    store = client.get(url, params={"channel": "store", "order": "asc"}, headers=admin).json()
    assert [i["event"] for i in store["items"]] == ["Visit 1", "Visit 3", "Visit 5", "Visit 7"]
    assert {i["channel"] for i in store["items"]} == {"store"}
    pages_only = client.get(url, params={"type": "page"}, headers=admin).json()
    assert [(i["type"], i["name"], i["timestamp"]) for i in pages_only["items"]] == [
        ("page", "Home", "2026-05-09T09:00:00Z")
    ]
    bad = client.get(url, params={"cursor": "garbage"}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "cursor"


@pytest.mark.usefixtures("people")
def test_context_is_the_whole_customer_in_one_call(
    client: TestClient, admin: dict[str, str]
) -> None:
    ana = client.get(
        "/api/customers/lookup", params={"kind": "user_id", "value": "ana"}, headers=admin
    ).json()["id"]
    context = client.get(f"/api/customers/{ana}/context", headers=admin).json()
    assert context["customer"]["display_name"] == "Ana Souza"
    assert context["event_count"] == 9
    assert [(c["channel"], c["events"]) for c in context["channels"]] == [("web", 5), ("store", 4)]
    assert context["channels"][0]["last_interaction"]["name"] == "Home"
    assert context["channels"][1]["last_interaction"]["event"] == "Visit 7"
    assert [e["name"] or e["event"] for e in context["recent_events"][:2]] == ["Home", "Visit 7"]
    assert context["traits"]["lastName"]["value"] == "Souza"
    assert context["merges"] == []
    assert context["conflicts"] == []


def test_customer_api_needs_a_valid_key(client: TestClient, reader: dict[str, str]) -> None:
    assert client.get("/api/customers", params={"q": "x"}).status_code == 401
    refused = client.get(
        "/api/customers", params={"q": "x"}, headers={"Authorization": "Bearer ocx_wrong"}
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert client.get("/api/customers", params={"q": "x"}, headers=reader).status_code == 200
    assert client.get("/api/customers/nope", headers=reader).status_code == 404

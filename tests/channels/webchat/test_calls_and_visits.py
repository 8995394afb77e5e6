"""The call centre and store channels: call records, screen pop, store visits."""

from typing import Any

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.conftest import table_counts

CALL = {
    "direction": "inbound",
    "number": "(11) 98888-7777",
    "duration_seconds": 312,
    "outcome": "answered",
    "notes": "Asked about the delivery of order 1234",
    "recording_url": "https://pbx.example.com/rec/abc.mp3",
    "call_id": "pbx-1",
}


def test_a_call_is_recorded_and_the_screen_pop_finds_it(
    client: TestClient, admin: dict[str, str]
) -> None:
    first = client.post("/api/calls", json=CALL, headers=admin)
    assert first.status_code == 201, first.json()
    recorded = first.json()
    assert recorded["created_conversation"] is True
    assert recorded["duplicate"] is False

    again = client.post("/api/calls", json=CALL, headers=admin)
    assert again.status_code == 201
    assert again.json()["duplicate"] is True
    assert again.json()["message_id"] == recorded["message_id"]

    pop = client.get("/api/calls/screen-pop", params={"number": "+55 11 98888 7777"}, headers=admin)
    assert pop.status_code == 200
    body = pop.json()
    assert body["number"] == "+5511988887777"
    assert body["customer"]["id"] == recorded["customer_id"]
    assert [c["id"] for c in body["open_conversations"]] == [recorded["conversation_id"]]
    assert body["open_conversations"][0]["channels"] == ["call_center"]
    (interaction,) = body["recent"]
    assert interaction["kind"] == "call"
    assert interaction["channel"] == "call_center"
    assert interaction["text"] == "Asked about the delivery of order 1234"
    assert interaction["metadata"] == {
        "direction": "inbound",
        "duration_seconds": 312,
        "outcome": "answered",
        "recording_url": "https://pbx.example.com/rec/abc.mp3",
        "agent": "test admin",
    }


def test_an_unknown_number_pops_no_customer(client: TestClient, admin: dict[str, str]) -> None:
    pop = client.get("/api/calls/screen-pop", params={"number": "+5511977776666"}, headers=admin)
    assert pop.status_code == 200
    assert pop.json() == {
        "number": "+5511977776666",
        "customer": None,
        "open_conversations": [],
        "recent": [],
    }


def test_bad_call_records_are_refused_and_nothing_is_written(
    client: TestClient, admin: dict[str, str], services: Services
) -> None:
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({**CALL, "number": "12"}, 400, "invalid_phone", "number"),
        ({**CALL, "recording_url": "ftp://x/y"}, 400, "invalid_recording_url", "recording_url"),
        ({**CALL, "duration_seconds": -1}, 422, "invalid_request", "duration_seconds"),
        ({**CALL, "outcome": "great"}, 422, "invalid_request", "outcome"),
    ]
    for body, status, code, field in cases:
        response = client.post("/api/calls", json=body, headers=admin)
        assert response.status_code == status, body
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["field"] == field
    assert table_counts(services, "conversations", "messages", "profiles") == {
        "conversations": 0,
        "messages": 0,
        "profiles": 0,
    }
    pop = client.get("/api/calls/screen-pop", params={"number": "abc"}, headers=admin)
    assert pop.status_code == 400
    assert pop.json()["error"]["field"] == "number"


def test_a_store_visit_joins_the_customers_open_conversation(
    client: TestClient, admin: dict[str, str]
) -> None:
    call = client.post("/api/calls", json=CALL, headers=admin).json()
    by_id = client.post(
        "/api/store-visits",
        json={"store": "loja-paulista", "customer_id": call["customer_id"], "notes": "Tried shoes"},
        headers=admin,
    )
    assert by_id.status_code == 201, by_id.json()
    assert by_id.json()["conversation_id"] == call["conversation_id"]
    assert by_id.json()["customer_id"] == call["customer_id"]

    by_phone = client.post(
        "/api/store-visits",
        json={
            "store": "loja-paulista",
            "identifiers": {"phone": "11988887777"},
            "visit_id": "v1",
            "associate": "Bia",
        },
        headers=admin,
    )
    assert by_phone.status_code == 201
    assert by_phone.json()["conversation_id"] == call["conversation_id"]
    pop = client.get("/api/calls/screen-pop", params={"number": "11988887777"}, headers=admin)
    kinds = [(i["kind"], i["channel"]) for i in pop.json()["recent"]]
    assert sorted(kinds) == [("call", "call_center"), ("visit", "store"), ("visit", "store")]
    visit = next(i for i in pop.json()["recent"] if i["metadata"].get("associate") == "Bia")
    assert visit["metadata"] == {"store": "loja-paulista", "associate": "Bia"}


def test_store_visits_need_a_customer(
    client: TestClient, admin: dict[str, str], services: Services
) -> None:
    none = client.post("/api/store-visits", json={"store": "s1"}, headers=admin)
    assert none.status_code == 400
    assert none.json()["error"]["code"] == "customer_required"
    unknown = client.post(
        "/api/store-visits", json={"store": "s1", "customer_id": "nobody"}, headers=admin
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "customer_not_found"
    bad = client.post(
        "/api/store-visits", json={"store": "s1", "identifiers": {"email": "x"}}, headers=admin
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "identifiers.email"
    assert table_counts(services, "conversations", "messages") == {
        "conversations": 0,
        "messages": 0,
    }

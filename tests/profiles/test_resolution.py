"""Identity resolution through the real ingestion path, on SQLite and PostgreSQL."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.conftest import table_counts

Send = Callable[..., dict[str, Any]]


def post(client: TestClient, auth: dict[str, str], *events: dict[str, Any]) -> None:
    response = client.post("/v1/batch", headers=auth, json={"batch": list(events)})
    assert response.status_code == 200, response.text


def lookup(client: TestClient, admin: dict[str, str], kind: str, value: str) -> dict[str, Any]:
    response = client.get(
        "/api/customers/lookup", params={"kind": kind, "value": value}, headers=admin
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(customer: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["kind"], i["value"]) for i in customer["identifiers"]}


def test_anonymous_browsing_joins_the_profile_once_identified(
    client: TestClient,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    services: Services,
) -> None:
    post(
        client,
        write_auth,
        {
            "type": "page",
            "anonymousId": "anon-1",
            "name": "Home",
            "timestamp": "2026-01-01T10:00:00Z",
        },
        {
            "type": "track",
            "anonymousId": "anon-1",
            "event": "Product Viewed",
            "timestamp": "2026-01-01T10:01:00Z",
        },
    )
    drain()
    post(
        client,
        write_auth,
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "u-1",
            "traits": {"email": "Ana@Example.com"},
            "timestamp": "2026-01-01T10:05:00Z",
        },
    )
    drain()
    customer = lookup(client, admin, "user_id", "u-1")
    assert ids(customer) == {
        ("anonymous_id", "anon-1"),
        ("user_id", "u-1"),
        ("email", "ana@example.com"),
    }
    timeline = client.get(
        f"/api/customers/{customer['id']}/timeline", params={"order": "asc"}, headers=admin
    ).json()
    assert [i["type"] for i in timeline["items"]] == ["page", "track", "identify"]
    assert table_counts(services, "profiles", "merges") == {
        "profiles": 1,
        "merges": 0,
    }


def test_same_phone_typed_differently_in_two_channels_stitches_two_histories(
    client: TestClient,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    services: Services,
) -> None:
    post(
        client,
        write_auth,
        {
            "type": "identify",
            "userId": "u-9",
            "traits": {"phone": "+55 11 91234-5678"},
            "timestamp": "2026-02-01T09:00:00Z",
        },
    )
    drain()
    post(
        client,
        write_auth,
        {
            "type": "track",
            "anonymousId": "pos-77",
            "event": "Order Completed",
            "context": {"channel": "store", "traits": {"phone": "(11) 91234-5678"}},
            "timestamp": "2026-02-03T15:00:00Z",
        },
    )
    drain()
    assert table_counts(services, "profiles", "merges") == {"profiles": 1, "merges": 0}
    post(
        client,
        write_auth,
        {
            "type": "track",
            "anonymousId": "app-5",
            "event": "App Opened",
            "context": {"channel": "app"},
            "timestamp": "2026-02-04T08:00:00Z",
        },
    )
    drain()
    post(
        client,
        write_auth,
        {
            "type": "identify",
            "anonymousId": "app-5",
            "traits": {"phone": "5511912345678"},
            "context": {"channel": "app"},
            "timestamp": "2026-02-04T08:01:00Z",
        },
    )
    drain()
    customer = lookup(client, admin, "phone", "(11) 91234-5678")
    assert ids(customer) == {
        ("user_id", "u-9"),
        ("phone", "+5511912345678"),
        ("anonymous_id", "pos-77"),
        ("anonymous_id", "app-5"),
    }
    assert len(customer["merged_ids"]) == 1
    merges = client.get(f"/api/customers/{customer['id']}/merges", headers=admin).json()["items"]
    assert [(m["kind"], m["value"], m["survivor_id"]) for m in merges] == [
        ("phone", "+5511912345678", customer["id"])
    ]
    assert merges[0]["event_id"] is not None
    redirect = client.get(
        f"/api/customers/{customer['merged_ids'][0]}", headers=admin, follow_redirects=False
    )
    assert redirect.status_code == 307
    assert redirect.headers["location"] == f"/api/customers/{customer['id']}"
    context = client.get(f"/api/customers/{customer['id']}/context", headers=admin).json()
    assert {c["channel"] for c in context["channels"]} == {"web", "store", "app"}
    assert context["event_count"] == 4


def test_traits_last_write_wins_by_event_time_not_arrival(
    client: TestClient,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
) -> None:
    post(
        client,
        write_auth,
        {
            "type": "identify",
            "userId": "u-2",
            "traits": {"city": "Campinas"},
            "timestamp": "2026-03-10T10:00:00Z",
            "context": {"channel": "store"},
        },
    )
    drain()
    post(
        client,
        write_auth,
        {
            "type": "identify",
            "userId": "u-2",
            "traits": {"city": "Santos", "tier": "gold"},
            "timestamp": "2026-03-01T10:00:00Z",
        },
    )
    drain()
    context = client.get(
        f"/api/customers/{lookup(client, admin, 'user_id', 'u-2')['id']}/context", headers=admin
    ).json()
    assert context["traits"]["city"] == {
        "value": "Campinas",
        "channel": "store",
        "updated_at": "2026-03-10T10:00:00Z",
    }
    assert context["traits"]["tier"]["value"] == "gold"


def test_two_identified_people_sharing_an_email_are_not_merged(
    client: TestClient,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    services: Services,
) -> None:
    post(
        client,
        write_auth,
        {"type": "identify", "userId": "wife", "traits": {"email": "family@example.com"}},
        {"type": "identify", "userId": "husband"},
    )
    drain()
    post(
        client,
        write_auth,
        {"type": "identify", "userId": "husband", "traits": {"email": "family@example.com"}},
    )
    drain()
    assert table_counts(services, "profiles", "merges") == {"profiles": 2, "merges": 0}
    husband = lookup(client, admin, "user_id", "husband")
    assert ("email", "family@example.com") not in ids(husband)
    conflicts = client.get("/api/identity/conflicts", headers=admin).json()["items"]
    assert [(c["kind"], c["value"], c["rule"], c["profile_id"]) for c in conflicts] == [
        ("email", "family@example.com", "limit:user_id", husband["id"])
    ]
    context = client.get(f"/api/customers/{husband['id']}/context", headers=admin).json()
    assert [c["rule"] for c in context["conflicts"]] == ["limit:user_id"]


def test_blocked_shared_store_email_never_links(
    make_settings: Callable[..., Any],
    tmp_path: Any,
) -> None:
    from omnicx.bootstrap import build
    from omnicx.db.migrate import upgrade
    from omnicx.events import acknowledge, create_source, parse_call
    from omnicx.workers import Worker

    settings = make_settings(blocked_identifiers={"email": ["loja@example.com"]})
    services = build(settings)
    upgrade(services.engines)
    try:
        with services.uow() as uow:
            source = create_source(services.events(uow), "Till", "store", uow.clock.now())
            uow.commit()
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        payload = {
            "batch": [
                {"type": "identify", "userId": "c1", "traits": {"email": "LOJA@example.com"}},
                {"type": "identify", "userId": "c2", "traits": {"email": "loja@example.com "}},
            ]
        }
        parsed = parse_call(
            payload,
            None,
            received_at=now,
            default_channel="store",
            limits=services.limits,
            identity=services.identity,
        )
        acknowledge(services.queue, source, parsed.events, 0)
        assert Worker(services).drain() == 2
        assert table_counts(services, "profiles", "merges", "identity_conflicts") == {
            "profiles": 2,
            "merges": 0,
            "identity_conflicts": 0,
        }
    finally:
        services.close()


def test_undo_merge_restores_identifiers_traits_and_events(
    client: TestClient,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    services: Services,
) -> None:
    post(
        client,
        write_auth,
        {
            "type": "identify",
            "userId": "u-5",
            "traits": {"email": "bia@example.com", "city": "Recife"},
            "timestamp": "2026-04-01T10:00:00Z",
        },
        {
            "type": "track",
            "anonymousId": "kiosk-1",
            "event": "Coupon Printed",
            "context": {"channel": "store", "traits": {"city": "Olinda"}},
            "timestamp": "2026-04-02T10:00:00Z",
        },
    )
    drain()
    post(
        client,
        write_auth,
        {
            "type": "track",
            "anonymousId": "kiosk-1",
            "event": "Newsletter Signup",
            "context": {"channel": "store", "traits": {"email": "BIA@example.com"}},
            "timestamp": "2026-04-03T10:00:00Z",
        },
    )
    drain()
    merged = lookup(client, admin, "user_id", "u-5")
    assert merged["traits"]["city"] == "Olinda"
    assert len(merged["merged_ids"]) == 1
    loser_id = merged["merged_ids"][0]
    merge_id = client.get(f"/api/customers/{merged['id']}/merges", headers=admin).json()["items"][
        0
    ]["id"]

    refused = client.post(f"/api/merges/{merge_id}/undo", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    undone = client.post(f"/api/merges/{merge_id}/undo", headers=admin)
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_at"] is not None

    survivor = client.get(f"/api/customers/{merged['id']}", headers=admin).json()
    restored = client.get(f"/api/customers/{loser_id}", headers=admin, follow_redirects=False)
    assert restored.status_code == 200
    assert ids(survivor) == {("user_id", "u-5"), ("email", "bia@example.com")}
    assert ids(restored.json()) == {("anonymous_id", "kiosk-1")}
    assert survivor["traits"]["city"] == "Recife"
    assert restored.json()["traits"]["city"] == "Olinda"

    def events_of(pid: str) -> list[str]:
        items = client.get(
            f"/api/customers/{pid}/timeline", params={"order": "asc"}, headers=admin
        ).json()["items"]
        return [i["event"] or i["type"] for i in items]

    # The linking event carried both people's identifiers: it stays with the survivor.
    assert events_of(merged["id"]) == ["identify", "Newsletter Signup"]
    assert events_of(loser_id) == ["Coupon Printed"]

    again = client.post(f"/api/merges/{merge_id}/undo", headers=admin)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "merge_already_undone"

    # The same link seen again is a conflict for review, not a silent re-merge.
    post(
        client,
        write_auth,
        {
            "type": "track",
            "anonymousId": "kiosk-1",
            "event": "Newsletter Signup",
            "context": {"channel": "store", "traits": {"email": "bia@example.com"}},
            "messageId": "second-signup",
            "timestamp": "2026-04-04T10:00:00Z",
        },
    )
    drain()
    assert table_counts(services, "merges")["merges"] == 1
    conflicts = client.get("/api/identity/conflicts", headers=admin).json()["items"]
    assert conflicts[0]["rule"] == "separated"


def test_undo_of_unknown_merge_is_404(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/api/merges/nope/undo", headers=admin)
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "merge_not_found",
        "message": "no merge nope",
        "field": "merge_id",
    }


def test_read_only_key_cannot_undo_a_merge(
    client: TestClient,
    reader: dict[str, str],
    services: Services,
) -> None:
    response = client.post("/api/merges/whatever/undo", headers=reader)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"

"""The segments API: definitions with path-named errors, JSON or YAML, sizes, previews and
dry runs with exact counts, and nothing written on a refused request."""

from collections.abc import Callable

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.access.conftest import add_user, sign_in
from tests.conftest import table_counts

GOLD = {"trait": "tier", "op": "eq", "value": "gold"}
YAML = {"Content-Type": "application/yaml"}


def people(
    client: TestClient,
    write_auth: dict[str, str],
    drain: Callable[[], int],
    *,
    ages: bool = True,
) -> None:
    """Five customers: u0..u4 with tiers gold, silver, gold, silver, gold (and ages 20..60)."""
    for i in range(5):
        traits: dict[str, object] = {"tier": "gold" if i % 2 == 0 else "silver", "name": f"U{i}"}
        if ages:
            traits["age"] = 20 + 10 * i
        response = client.post(
            "/v1/identify", headers=write_auth, json={"userId": f"u{i}", "traits": traits}
        )
        assert response.status_code == 200
    drain()


def settle(services: Services) -> None:
    while services.evaluate_segments():
        pass


def customer(client: TestClient, admin: dict[str, str], user: str) -> str:
    found = client.get(
        "/api/customers/lookup", params={"kind": "user_id", "value": user}, headers=admin
    )
    customer_id: str = found.json()["id"]
    return customer_id


def test_create_read_list_change_delete(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    people(client, write_auth, drain, ages=False)
    created = client.post(
        "/api/segments",
        json={"name": " VIP ", "description": "Gold tier", "condition": GOLD},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "VIP"
    assert body["condition"] == GOLD
    assert body["version"] == 1
    assert body["computing"] is True
    segment_id = body["id"]

    settle(services)
    one = client.get(f"/api/segments/{segment_id}", headers=admin).json()
    assert one["computing"] is False
    listed = client.get("/api/segments", headers=admin).json()
    assert [s["id"] for s in listed["items"]] == [segment_id]
    size = client.get(f"/api/segments/{segment_id}/size", headers=admin).json()
    assert size["size"] == 3

    sample = client.get(f"/api/segments/{segment_id}/preview?limit=2", headers=admin).json()
    assert sample["size"] == 3
    assert len(sample["members"]) == 2
    members = {customer(client, admin, f"u{i}") for i in (0, 2, 4)}
    for member in sample["members"]:
        assert member["id"] in members
        assert member["traits"] == {"tier": "gold"}
        assert member["display_name"] in ("U0", "U2", "U4")
        assert member["since"] is not None

    renamed = client.put(
        f"/api/segments/{segment_id}", json={"name": "Gold", "description": ""}, headers=admin
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["version"]) == ("Gold", 1)
    assert renamed.json()["computing"] is False  # no new definition, no new pass

    deleted = client.delete(f"/api/segments/{segment_id}", headers=admin)
    assert deleted.status_code == 204
    assert client.get(f"/api/segments/{segment_id}", headers=admin).status_code == 404
    assert table_counts(services, "segments", "segment_members") == {
        "segments": 0,
        "segment_members": 0,
    }
    again = client.delete(f"/api/segments/{segment_id}", headers=admin)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "segment_not_found"


def test_a_bad_definition_names_every_problem_and_writes_nothing(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    condition = {
        "all": [
            GOLD,
            {"event": "Order Completed", "count": {"gte": 2}, "within": "30 days"},
            {"any": [{"expr": "traits.age >"}, {"consent": {"purpose": "marketing"}}]},
        ]
    }
    response = client.post(
        "/api/segments", json={"name": "Broken", "condition": condition}, headers=admin
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_segment"
    assert error["field"] == "condition.all[1].within"
    assert error["message"].startswith("condition.all[1].within: a window is a whole number")
    assert error["message"].endswith("(and 2 more)")
    assert [item["field"] for item in error["items"]] == [
        "condition.all[1].within",
        "condition.all[2].any[0].expr",
        "condition.all[2].any[1].consent.channel",
    ]
    assert table_counts(services, "segments", "segment_dirty") == {
        "segments": 0,
        "segment_dirty": 0,
    }


def test_shape_errors_conflicts_and_missing(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    missing = client.post("/api/segments", json={"condition": GOLD}, headers=admin)
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "name"
    extra = client.post(
        "/api/segments", json={"name": "A", "condition": GOLD, "owner": "x"}, headers=admin
    )
    assert extra.status_code == 422
    assert extra.json()["error"]["field"] == "owner"
    malformed = client.post(
        "/api/segments",
        content=b'{"name": ',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    unsupported = client.post(
        "/api/segments", content=b"name=A", headers={**admin, "Content-Type": "text/plain"}
    )
    assert unsupported.status_code == 415

    first = client.post("/api/segments", json={"name": "VIP", "condition": GOLD}, headers=admin)
    assert first.status_code == 201
    second = client.post("/api/segments", json={"name": "VIP", "condition": GOLD}, headers=admin)
    assert second.status_code == 409
    assert second.json()["error"] == {
        "code": "segment_exists",
        "message": "a segment named 'VIP' exists already",
        "field": "name",
    }
    other = client.post("/api/segments", json={"name": "Other", "condition": GOLD}, headers=admin)
    clash = client.put(f"/api/segments/{other.json()['id']}", json={"name": "VIP"}, headers=admin)
    assert clash.status_code == 409
    bad = client.put(
        f"/api/segments/{other.json()['id']}",
        json={"condition": {"trait": "tier", "op": "near"}},
        headers=admin,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "condition.op"
    assert (
        client.get(f"/api/segments/{other.json()['id']}", headers=admin).json()["condition"] == GOLD
    )
    for method in ("GET", "PUT", "DELETE"):
        gone = client.request(method, "/api/segments/nope", json={}, headers=admin)
        assert gone.status_code == 404, method
    assert client.get("/api/segments/nope/size", headers=admin).status_code == 404
    assert client.get("/api/segments/nope/preview", headers=admin).status_code == 404
    assert table_counts(services, "segments")["segments"] == 2


def test_yaml_bodies(client: TestClient, services: Services, admin: dict[str, str]) -> None:
    document = b"""
name: Recent buyers
description: Bought twice in a month
condition:
  all:
    - event: Order Completed
      count: {gte: 2}
      within: 30d
    - not:
        trait: tier
        op: eq
        value: blocked
"""
    created = client.post("/api/segments", content=document, headers={**admin, **YAML})
    assert created.status_code == 201, created.text
    assert created.json()["condition"]["all"][0] == {
        "event": "Order Completed",
        "count": {"gte": 2},
        "within": "30d",
    }
    broken = client.post("/api/segments", content=b"name: [unclosed", headers={**admin, **YAML})
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "malformed_yaml"
    wrong = client.post(
        "/api/segments",
        content=b"name: X\ncondition:\n  trait: t\n  op: in\n  value: gold\n",
        headers={**admin, **YAML},
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["field"] == "condition.value"
    nul = client.post(
        "/api/segments",
        content=b'name: "X\\0"\ncondition: {trait: t, op: exists}\n',
        headers={**admin, **YAML},
    )
    assert nul.status_code == 400
    assert nul.json()["error"]["code"] == "nul_character"
    dated = client.post(
        "/api/segments",
        content=b"name: Joined\ncondition: {trait: joined, op: gte, value: 2024-05-01}\n",
        headers={**admin, **YAML},
    )
    assert dated.status_code == 201
    assert dated.json()["condition"]["value"] == "2024-05-01"
    assert table_counts(services, "segments")["segments"] == 2


def test_dry_run_counts_exactly(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    people(client, write_auth, drain)
    condition = {"any": [GOLD, {"trait": "age", "op": "gte", "value": 50}]}
    preview = client.post(
        "/api/segments/preview", json={"condition": condition, "limit": 2}, headers=admin
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["size"], body["scanned"], body["complete"]) == (4, 5, True)
    assert len(body["members"]) == 2
    assert all(m["since"] is None and "tier" in m["traits"] for m in body["members"])
    none = client.post(
        "/api/segments/preview",
        json={"condition": {"trait": "tier", "op": "eq", "value": "bronze"}},
        headers=admin,
    ).json()
    assert (none["size"], none["members"]) == (0, [])
    invalid = client.post("/api/segments/preview", json={"condition": {"all": []}}, headers=admin)
    assert invalid.status_code == 400
    assert invalid.json()["error"]["field"] == "condition.all"
    assert table_counts(services, "segments")["segments"] == 0


def test_dry_run_stops_at_its_limit(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    people(client, write_auth, drain)
    services.settings = services.settings.model_copy(update={"segment_preview_max_customers": 3})
    body = client.post(
        "/api/segments/preview", json={"condition": {"trait": "age", "op": "exists"}}, headers=admin
    ).json()
    assert (body["size"], body["scanned"], body["complete"]) == (3, 3, False)


def test_who_may_read_and_write(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    people(client, write_auth, drain, ages=False)
    created = client.post("/api/segments", json={"name": "VIP", "condition": GOLD}, headers=admin)
    segment_id = created.json()["id"]
    settle(services)
    add_user(services, "agent@shop.example", "agent")
    agent = {"Authorization": f"Bearer {sign_in(services, 'agent@shop.example')}"}
    u0 = customer(client, admin, "u0")
    context = client.get(f"/api/customers/{u0}/context", headers=agent)
    assert context.status_code == 200
    assert context.json()["segments"] is None
    refused = client.get(f"/api/customers/{u0}/segments", headers=agent)
    assert refused.status_code == 403
    admin_context = client.get(f"/api/customers/{u0}/context", headers=admin).json()
    assert [s["id"] for s in admin_context["segments"]] == [segment_id]
    missing = client.get("/api/customers/nobody/segments", headers=admin)
    assert missing.status_code == 404


def test_segments_of_a_customer_follow_merges(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    body = {"anonymousId": "anon-9", "traits": {"tier": "gold"}}
    assert client.post("/v1/identify", headers=write_auth, json=body).status_code == 200
    assert (
        client.post(
            "/v1/identify", headers=write_auth, json={"userId": "u9", "traits": {"plan": "pro"}}
        ).status_code
        == 200
    )
    drain()
    anonymous = client.get(
        "/api/customers/lookup", params={"kind": "anonymous_id", "value": "anon-9"}, headers=admin
    ).json()["id"]
    created = client.post("/api/segments", json={"name": "VIP", "condition": GOLD}, headers=admin)
    settle(services)
    link = {"userId": "u9", "anonymousId": "anon-9", "event": "Signed In"}
    assert client.post("/v1/track", headers=write_auth, json=link).status_code == 200
    drain()
    settle(services)
    survivor = customer(client, admin, "u9")
    for asked in {anonymous, survivor}:
        found = client.get(f"/api/customers/{asked}/segments", headers=admin).json()
        assert [s["id"] for s in found["items"]] == [created.json()["id"]]

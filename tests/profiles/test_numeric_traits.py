"""Numbers, booleans and lists as traits read back exactly through every customer route (a JSON
column has numeric affinity in SQLite, so a bare number is stored as one)."""

from collections.abc import Callable

from fastapi.testclient import TestClient


def test_numeric_traits_read_back_on_profile_context_and_timeline(
    client: TestClient,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    traits = {"age": 31, "score": 4.5, "vip": True, "tags": ["a", 1], "name": "Ana"}
    sent = client.post("/v1/identify", headers=write_auth, json={"userId": "n1", "traits": traits})
    assert sent.status_code == 200, sent.text
    drain()
    found = client.get(
        "/api/customers/lookup", params={"kind": "user_id", "value": "n1"}, headers=admin
    )
    assert found.status_code == 200, found.text
    customer_id = found.json()["id"]

    profile = client.get(f"/api/customers/{customer_id}", headers=admin)
    context = client.get(f"/api/customers/{customer_id}/context", headers=admin)
    timeline = client.get(f"/api/customers/{customer_id}/timeline", headers=admin)

    assert profile.status_code == 200, profile.text
    assert context.status_code == 200, context.text
    assert timeline.status_code == 200, timeline.text
    assert {k: v["value"] for k, v in context.json()["traits"].items()} == traits
    assert timeline.json()["items"][0]["traits"] == traits

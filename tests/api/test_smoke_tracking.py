from collections.abc import Callable

from fastapi.testclient import TestClient


def test_identify_then_track_lands_on_one_timeline(
    client: TestClient,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
) -> None:
    r1 = client.post(
        "/v1/identify",
        headers=write_auth,
        json={"anonymousId": "a1", "userId": "u1", "traits": {"email": "Ana@Example.com"}},
    )
    r2 = client.post(
        "/v1/track", headers=write_auth, json={"anonymousId": "a1", "event": "Viewed Product"}
    )
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert drain() == 2
    found = client.get(
        "/api/customers/lookup",
        params={"kind": "email", "value": " ANA@example.com"},
        headers=admin,
    )
    assert found.status_code == 200
    timeline = client.get(f"/api/customers/{found.json()['id']}/timeline", headers=admin)
    assert [i["type"] for i in timeline.json()["items"]] == ["track", "identify"]

"""The users and keys APIs, write-key rotation, and the last admin."""

import base64

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.events import Source
from tests.access.conftest import PASSWORD, Staff
from tests.conftest import table_counts


def test_create_list_update_and_reset_a_user(client: TestClient, staff: Staff) -> None:
    admin = staff("admin")

    created = client.post(
        "/api/users",
        headers=admin,
        json={"email": "Bia@Shop.example", "role": "marketer", "language": "pt-BR"},
    )

    assert created.status_code == 201
    user = created.json()
    assert (user["email"], user["name"], user["role"], user["language"]) == (
        "bia@shop.example",
        "bia",
        "marketer",
        "pt-BR",
    )
    assert len(user["password"]) == 20
    login = {"email": "bia@shop.example", "password": user["password"]}
    assert client.post("/api/auth/login", json=login).status_code == 200
    listed = client.get("/api/users", headers=admin).json()["items"]
    assert [u["email"] for u in listed] == ["admin@shop.example", "bia@shop.example"]
    changed = client.patch(
        f"/api/users/{user['id']}", headers=admin, json={"role": "analyst", "name": "Bia Lima"}
    )
    assert (changed.json()["role"], changed.json()["name"]) == ("analyst", "Bia Lima")
    reset = client.post(
        f"/api/users/{user['id']}/password", headers=admin, json={"password": PASSWORD}
    )
    assert reset.json() == {"password": None}
    assert client.post("/api/auth/login", json=login).status_code == 401
    assert client.post("/api/auth/login", json={**login, "password": PASSWORD}).status_code == 200


def test_a_duplicate_email_is_a_conflict_and_writes_nothing(
    client: TestClient, services: Services, staff: Staff
) -> None:
    admin = staff("admin")

    again = client.post(
        "/api/users", headers=admin, json={"email": "ADMIN@shop.example", "role": "agent"}
    )

    assert again.status_code == 409
    assert again.json() == {
        "error": {
            "code": "user_exists",
            "message": "a user with the email admin@shop.example exists already",
            "field": "email",
        }
    }
    assert table_counts(services, "staff_users") == {"staff_users": 1}


def test_a_short_password_is_refused(client: TestClient, services: Services, staff: Staff) -> None:
    admin = staff("admin")

    response = client.post(
        "/api/users",
        headers=admin,
        json={"email": "x@shop.example", "role": "agent", "password": "short"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "password"
    assert table_counts(services, "staff_users") == {"staff_users": 1}


def test_the_last_active_admin_can_be_neither_disabled_nor_demoted(
    client: TestClient, services: Services, staff: Staff
) -> None:
    admin = staff("admin")
    me = client.get("/api/auth/me", headers=admin).json()["id"]

    disable = client.patch(f"/api/users/{me}", headers=admin, json={"disabled": True})
    demote = client.patch(f"/api/users/{me}", headers=admin, json={"role": "agent"})

    assert disable.status_code == 409
    assert disable.json() == {
        "error": {
            "code": "last_admin",
            "message": "this is the last active admin: make another user admin first",
            "field": "disabled",
        }
    }
    assert demote.status_code == 409
    assert demote.json()["error"]["field"] == "role"
    assert client.get("/api/auth/me", headers=admin).json()["role"] == "admin"
    second = staff("admin", "second@shop.example")
    assert client.patch(f"/api/users/{me}", headers=second, json={"disabled": True}).json()[
        "disabled"
    ]
    assert client.get("/api/auth/me", headers=admin).status_code == 401


def test_keys_are_shown_once_listed_without_secrets_and_revoked_at_once(
    client: TestClient, staff: Staff
) -> None:
    admin = staff("admin")

    created = client.post(
        "/api/keys", headers=admin, json={"name": "till app", "scope": "read_only"}
    )

    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith("ocx_")
    assert key["prefix"] == key["key"][:10]
    assert key["created_by"] == f"user:{client.get('/api/auth/me', headers=admin).json()['id']}"
    bearer = {"Authorization": f"Bearer {key['key']}"}
    assert client.get("/api/customers", params={"q": "ana"}, headers=bearer).status_code == 200
    listed = client.get("/api/keys", headers=admin).json()["items"]
    assert len(listed) == 1
    assert sorted(listed[0]) == [
        "created_at", "created_by", "id", "last_used_at", "name", "prefix", "revoked_at", "scope"
    ]  # fmt: skip
    assert listed[0]["last_used_at"] is not None
    revoked = client.post(f"/api/keys/{key['id']}/revoke", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = client.get("/api/customers", params={"q": "ana"}, headers=bearer)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "unknown or revoked API key"
    twice = client.post(f"/api/keys/{key['id']}/revoke", headers=admin)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "key_revoked"


def test_rotating_a_write_key_stops_the_old_one_at_once(
    client: TestClient, source: Source, admin: dict[str, str]
) -> None:
    def send(key: str) -> int:
        auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
        return client.post(
            "/v1/track", headers=auth, json={"userId": "u", "event": "E"}
        ).status_code

    assert send(source.write_key) == 200

    rotated = client.post(f"/api/sources/{source.id}/rotate-write-key", headers=admin)

    assert rotated.status_code == 200
    new_key = rotated.json()["write_key"]
    assert new_key != source.write_key
    assert send(source.write_key) == 401
    assert send(new_key) == 200
    missing = client.post("/api/sources/nope/rotate-write-key", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "source_not_found"

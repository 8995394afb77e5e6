"""`omnicx users …` and `omnicx keys …`."""

import json

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.cli.conftest import Invoke, invoke  # noqa: F401


def test_users_create_list_and_disable(invoke: Invoke, client: TestClient) -> None:  # noqa: F811
    created = invoke("users", "create", "--email", "Ana@Shop.example", "--role", "admin")
    second = invoke("users", "create", "--email", "bia@shop.example", "--role", "agent")

    assert created.exit_code == 0
    user = json.loads(created.stdout)
    assert (user["email"], user["role"], user["language"]) == ("ana@shop.example", "admin", "en")
    login = {"email": "ana@shop.example", "password": user["password"]}
    assert client.post("/api/auth/login", json=login).status_code == 200
    listed = [json.loads(line) for line in invoke("users", "list").stdout.splitlines()]
    assert [u["email"] for u in listed] == ["ana@shop.example", "bia@shop.example"]
    assert all("password" not in u for u in listed)
    assert second.exit_code == 0
    last_admin = invoke("users", "disable", "--email", "ana@shop.example")
    assert last_admin.exit_code == 2
    assert json.loads(last_admin.stderr)["error"]["code"] == "last_admin"
    disabled = invoke("users", "disable", "--email", "BIA@shop.example")
    assert disabled.exit_code == 0
    assert json.loads(disabled.stdout)["disabled"] is True


def test_keys_list_and_revoke(
    invoke: Invoke,  # noqa: F811
    client: TestClient,
    services: Services,
) -> None:
    key = json.loads(invoke("keys", "create", "--name", "crm", "--role", "read_only").stdout)

    listed = [json.loads(line) for line in invoke("keys", "list").stdout.splitlines()]
    revoked = invoke("keys", "revoke", "--id", key["id"])

    assert [(k["id"], k["role"], k["prefix"]) for k in listed] == [
        (key["id"], "read_only", key["key"][:10])
    ]
    assert all("key" not in k for k in listed)
    assert revoked.exit_code == 0
    assert json.loads(revoked.stdout)["revoked_at"] is not None
    bearer = {"Authorization": f"Bearer {key['key']}"}
    assert client.get("/api/customers", params={"q": "a"}, headers=bearer).status_code == 401
    unknown = invoke("keys", "revoke", "--id", "nope")
    assert unknown.exit_code == 2
    assert json.loads(unknown.stderr) == {
        "error": {"code": "key_not_found", "message": "no API key nope", "field": "key_id"}
    }

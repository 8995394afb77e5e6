import json

from fastapi.testclient import TestClient

from tests.cli.conftest import Invoke


def test_sources_create_prints_one_json_object(invoke: Invoke, client: TestClient) -> None:
    result = invoke("sources", "create", "--name", "Store Moema", "--channel", "store")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    created = json.loads(lines[0])
    assert sorted(created) == ["channel", "id", "name", "write_key"]
    assert (created["name"], created["channel"]) == ("Store Moema", "store")
    sent = client.post(
        "/v1/track",
        json={"writeKey": created["write_key"], "anonymousId": "a1", "event": "Visited"},
    )
    assert sent.status_code == 200


def test_sources_create_twice_fails_with_a_json_error(invoke: Invoke) -> None:
    assert invoke("sources", "create", "--name", "Web shop", "--channel", "web").exit_code == 0

    again = invoke("sources", "create", "--name", "Web shop", "--channel", "web")

    assert again.exit_code == 2
    assert again.stdout == ""
    assert json.loads(again.stderr) == {
        "error": {
            "code": "source_exists",
            "message": "a source named 'Web shop' exists already",
            "field": "name",
        }
    }


def test_keys_create_prints_one_json_object_with_a_working_key(
    invoke: Invoke, client: TestClient
) -> None:
    result = invoke("keys", "create", "--name", "support desk", "--role", "read_only")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    created = json.loads(lines[0])
    assert sorted(created) == ["id", "key", "name", "role"]
    assert (created["name"], created["role"]) == ("support desk", "read_only")
    assert created["key"].startswith("ocx_")
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/customers", params={"q": "x"}, headers=headers).status_code == 200

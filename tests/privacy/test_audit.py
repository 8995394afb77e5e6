"""The audit log: who read whose data, when and from where; append-only in the database."""

import csv
import io

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.privacy.conftest import Person


def key_id(client: TestClient, headers: dict[str, str], services: Services) -> str:
    with services.uow(write=False) as uow:
        keys = {k.name: k.id for k in services.api_keys(uow).all()}
    return keys["test read_only"]


def test_a_read_leaves_its_exact_trail(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    reader: dict[str, str],
    person: Person,
) -> None:
    read = client.get(
        f"/api/customers/{person.id}?fields=all", headers={**reader, "User-Agent": "till/2.1"}
    )
    assert read.status_code == 200
    found = client.get("/api/audit", params={"customer_id": person.id}, headers=admin).json()
    entry = found["items"][0]
    reader_id = key_id(client, reader, services)
    assert {k: v for k, v in entry.items() if k not in ("id", "at", "request_id")} == {
        "actor_kind": "api_key",
        "actor_id": reader_id,
        "actor_name": "test read_only",
        "actor_role": "read_only",
        "action": "read",
        "method": "GET",
        "route": "/api/customers/{customer_id}",
        "resource": f"customer_id:{person.id}",
        "customer_id": person.id,
        "client_address": "testclient",
        "user_agent": "till/2.1",
        "status": 200,
        "detail": {"params": ["fields"]},
    }
    by_actor = client.get("/api/audit", params={"actor_id": reader_id}, headers=admin).json()
    assert [e["customer_id"] for e in by_actor["items"]] == [person.id]


def test_a_search_records_the_ids_it_returned_not_what_was_typed(
    client: TestClient, admin: dict[str, str], reader: dict[str, str], person: Person
) -> None:
    assert (
        client.get("/api/customers", params={"q": "Zeldarina"}, headers=reader).status_code == 200
    )
    refused = client.get("/api/audit", headers=reader)
    assert refused.status_code == 403
    entries = client.get("/api/audit", params={"action": "search"}, headers=admin).json()["items"]
    assert [(e["customer_id"], e["detail"], e["actor_role"]) for e in entries] == [
        (person.id, {"params": ["q"]}, "read_only")
    ]
    reads = client.get("/api/audit", params={"action": "read"}, headers=admin).json()["items"]
    assert [(e["route"], e["actor_role"], e["status"]) for e in reads[:2]] == [
        ("/api/audit", "admin", 200),
        ("/api/audit", "read_only", 403),
    ]
    text = client.get("/api/audit/export", params={"format": "csv"}, headers=admin).text
    assert "Zeldarina" not in text


def test_the_audit_log_exports_as_csv_and_json_lines(
    client: TestClient, admin: dict[str, str], reader: dict[str, str], person: Person
) -> None:
    client.get(f"/api/customers/{person.id}/timeline", headers=reader)
    response = client.get(
        "/api/audit/export", params={"format": "csv", "customer_id": person.id}, headers=admin
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["route"], r["actor_name"], r["action"]) for r in rows[:2]] == [
        ("/api/audit/export", "test admin", "read"),
        ("/api/customers/{customer_id}/timeline", "test read_only", "read"),
    ]
    lines = client.get(
        "/api/audit/export", params={"format": "jsonl", "customer_id": person.id}, headers=admin
    ).text.splitlines()
    assert len(lines) == len(rows) + 1
    bad = client.get("/api/audit", params={"action": "peek"}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "action"


def test_the_database_refuses_to_change_or_delete_audit_rows(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    client.get("/api/sources", headers=admin)
    with services.engines.main.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one()
        assert count == 1
    for statement in ("UPDATE audit_log SET status = 200", "DELETE FROM audit_log"):
        with services.engines.main.connect() as conn, pytest.raises(sa.exc.DatabaseError):
            conn.execute(sa.text(statement))
    with services.engines.main.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*), min(status) FROM audit_log")).one() == (
            1,
            200,
        )

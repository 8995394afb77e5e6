"""Sensitive values rest sealed in every table and file, and come back in plaintext."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.webhooks.http import FakeWebhookSender

EMAIL = "ana.sigilo@example.com"
PHONE = "+5511912345678"
ADDRESS = "Rua Secreta 123"
BIRTHDAY = "1987-06-05"
NOTES = "prefers calls after nine"
CARD_NOTE = "gift wrap in blue paper"
SECRETS = (EMAIL, PHONE, "91234-5678", ADDRESS, BIRTHDAY, NOTES, CARD_NOTE)


def identify(write_auth: dict[str, str], client: TestClient, user: str, email: str) -> None:
    batch: list[dict[str, Any]] = [
        {
            "type": "identify",
            "userId": user,
            "timestamp": "2026-05-01T10:00:00Z",
            "traits": {
                "firstName": "Ana",
                "lastName": "Sigilo",
                "email": email,
                "phone": "(11) 91234-5678",
                "address": {"street": ADDRESS, "city": "São Paulo"},
                "birthday": BIRTHDAY,
                "notes": NOTES,
            },
            "context": {"traits": {"email": email}, "channel": "web"},
        },
        {
            "type": "track",
            "userId": user,
            "event": "Order Completed",
            "timestamp": "2026-05-01T10:05:00Z",
            "properties": {"total": 120, "shipping": {"address": ADDRESS}, "note": CARD_NOTE},
        },
    ]
    response = client.post("/v1/batch", headers=write_auth, json={"batch": batch})
    assert response.status_code == 200


def rows_holding(services: Services, needles: tuple[str, ...]) -> list[tuple[str, str]]:
    """(table, needle) for every needle found in any column of any table, read with plain SQL."""
    found = []
    engines = {services.engines.main, services.engines.queue}
    for engine in engines:
        inspector = sa.inspect(engine)
        with engine.connect() as conn:
            for table in inspector.get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    text = " ".join(
                        bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
                        for v in row
                    )
                    found += [(table, n) for n in needles if n in text]
    return found


@pytest.fixture
def subscribed(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/webhooks",
        headers=admin,
        json={"url": "https://crm.example.com/hook", "topics": ["traits.changed"]},
    )
    assert response.status_code == 201


@pytest.fixture
def ingested(
    client: TestClient,
    write_auth: dict[str, str],
    drain: Callable[[], int],
    services: Services,
    subscribed: None,
) -> str:
    identify(write_auth, client, "ana", EMAIL)
    assert services.queue.pending() == 2
    assert rows_holding(services, SECRETS) == []
    assert drain() == 2
    assert services.process_outbox() == 1
    return EMAIL


def test_sensitive_values_are_unreadable_in_the_database_and_plain_in_the_api(
    client: TestClient,
    admin: dict[str, str],
    services: Services,
    sender: FakeWebhookSender,
    ingested: str,
    tmp_path: Path,
) -> None:
    assert rows_holding(services, SECRETS) == []
    if services.engines.main.dialect.name == "sqlite":
        with services.engines.main.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        files = sorted(tmp_path.glob("omnicx*.db*"))
        assert [f.name for f in files if not f.name.endswith("-shm")] == [
            "omnicx-ingest.db",
            "omnicx-ingest.db-wal",
            "omnicx.db",
            "omnicx.db-wal",
        ]
        raw = b"".join(f.read_bytes() for f in files)
        assert [s for s in SECRETS if s.encode() in raw] == []
        assert b"Sigilo" in raw  # the name is not sensitive: the files were read for real

    found = client.get("/api/customers", params={"q": EMAIL.upper()}, headers=admin)
    assert found.status_code == 200
    [summary] = found.json()["items"]
    assert (summary["display_name"], summary["email"], summary["phone"]) == (
        "Ana Sigilo",
        EMAIL,
        PHONE,
    )
    by_phone = client.get("/api/customers", params={"q": "(11) 91234 5678"}, headers=admin)
    assert [c["id"] for c in by_phone.json()["items"]] == [summary["id"]]
    by_name = client.get("/api/customers", params={"q": "sigilo"}, headers=admin)
    assert [c["id"] for c in by_name.json()["items"]] == [summary["id"]]
    lookup = client.get(
        "/api/customers/lookup", params={"kind": "email", "value": EMAIL}, headers=admin
    )
    assert lookup.status_code == 200
    customer = lookup.json()
    assert customer["traits"]["address"] == {"street": ADDRESS, "city": "São Paulo"}
    assert (customer["traits"]["birthday"], customer["traits"]["notes"]) == (BIRTHDAY, NOTES)
    assert sorted((i["kind"], i["value"]) for i in customer["identifiers"]) == [
        ("email", EMAIL),
        ("phone", PHONE),
        ("user_id", "ana"),
    ]

    context = client.get(f"/api/customers/{summary['id']}/context", headers=admin)
    assert context.status_code == 200
    body = context.json()
    assert body["traits"]["email"]["value"] == EMAIL
    events = {e["type"]: e for e in body["recent_events"]}
    assert events["track"]["properties"] == {
        "total": 120,
        "shipping": {"address": ADDRESS},
        "note": CARD_NOTE,
    }
    assert events["identify"]["traits"]["notes"] == NOTES
    assert events["identify"]["context"]["traits"] == {"email": EMAIL}

    [(url, sent, _)] = sender.sent
    assert url == "https://crm.example.com/hook"
    assert EMAIL.encode() in sent
    webhook_id = client.get("/api/webhooks", headers=admin).json()["items"][0]["id"]
    deliveries = client.get(f"/api/webhooks/{webhook_id}/deliveries", headers=admin).json()
    [delivery] = deliveries["items"]
    assert delivery["payload"]["data"]["changes"]["email"]["new"] == EMAIL


def test_a_dead_letter_rests_sealed(services: Services) -> None:
    with services.uow() as uow:
        services.events(uow).add_dead_letter(
            "source", [{"traits": {"email": EMAIL}}], "boom", uow.clock.now()
        )
        uow.commit()
    assert rows_holding(services, (EMAIL,)) == []
    with services.uow(write=False) as uow:
        [letter] = services.events(uow).dead_letters(10)
    assert letter["events"] == [{"traits": {"email": EMAIL}}]

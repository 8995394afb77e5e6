"""Subject access: one archive with every domain's data about the person, in plain text."""

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.kernel import FixedClock
from tests.conftest import table_counts
from tests.privacy.conftest import Person


def test_an_export_holds_every_domain_in_plain_text(
    client: TestClient, services: Services, admin: dict[str, str], person: Person
) -> None:
    client.get(f"/api/customers/{person.id}", headers=admin)
    created = client.post(
        "/api/privacy/requests",
        json={"kind": "export", "customer_id": person.merged_id, "reason": "ticket 7"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["kind"], body["subject_id"], body["status"]) == ("export", person.id, "completed")
    assert body["archive_url"] == f"/api/privacy/requests/{body['id']}/archive"
    assert body["counts"]["profiles"]["profiles"] == 2
    assert body["counts"]["profiles"]["merges"] == 1
    assert body["counts"]["events"] == {"events": 5, "ingest_dead_letters": 1}
    assert body["counts"]["webhooks"]["webhook_deliveries"] >= 3

    archive = client.get(body["archive_url"], headers=admin)
    assert archive.status_code == 200
    assert archive.headers["content-type"] == "application/zip"
    files = zipfile.ZipFile(io.BytesIO(archive.content))
    manifest = json.loads(files.read("manifest.json"))
    assert manifest["subject_id"] == person.id
    assert sorted(manifest["profile_ids"]) == sorted([person.id, person.merged_id])
    assert set(manifest["domains"]) == {
        "profiles",
        "events",
        "webhooks",
        "privacy",
        "conversations",
        "desk",
    }
    assert sorted(manifest["files"]) == sorted(n for n in files.namelist() if n != "manifest.json")
    profiles = json.loads(files.read("profiles.json"))
    assert {(i["kind"], i["value"]) for i in profiles["identifiers"]} >= {
        ("email", "zeldarina.q@example.org"),
        ("phone", "+5511977776543"),
    }
    assert {t["key"]: t["value"] for t in profiles["traits"]}["city"] == "Pindamonhangaba-Z"
    assert len(profiles["trait_history"]) >= 6
    events = json.loads(files.read("events.json"))
    tracked = [e for e in events["events"] if e["source_id"] != "conversations"]
    assert [e["message_id"] for e in tracked] == ["zq-1", "zq-2", "zq-3"]
    conversations = json.loads(files.read("conversations.json"))
    assert [(m["direction"], m["text"]) for m in conversations["messages"]] == [
        ("inbound", "My parcel to Pindamonhangaba-Z never came; call +55 11 97777-6543."),
        ("outbound", "Dear Zeldarina Quixotesca, it ships to Pindamonhangaba-Z today."),
    ]
    assert [m["message_id"] for m in events["events"] if m["source_id"] == "conversations"] == [
        m["id"] for m in conversations["messages"]
    ]
    assert events["events"][1]["traits"]["phone"] == "+55 11 97777-6543"
    assert [e["messageId"] for e in events["ingest_dead_letters"][0]["events"]] == ["zq-dead"]
    deliveries = json.loads(files.read("webhooks.json"))["webhook_deliveries"]
    assert {d["payload"]["type"] for d in deliveries} == {
        "profile.created",
        "profile.merged",
        "traits.changed",
    }
    audit = json.loads(files.read("privacy.json"))["audit_log"]
    assert any(e["route"] == "/api/customers/{customer_id}" for e in audit)
    rows = list(csv.DictReader(io.StringIO(files.read("profiles/identifiers.csv").decode())))
    assert "zeldarina.q@example.org" in {r["value"] for r in rows}

    listed = client.get(
        "/api/privacy/requests", params={"customer_id": person.id}, headers=admin
    ).json()
    assert [r["id"] for r in listed["items"]] == [body["id"]]


def test_an_archive_expires_and_is_dropped_by_an_erasure(
    client: TestClient, services: Services, admin: dict[str, str], person: Person
) -> None:
    clock = FixedClock(datetime.now(UTC))
    services.uow.clock = clock
    first = client.post(
        "/api/privacy/requests", json={"kind": "export", "customer_id": person.id}, headers=admin
    ).json()
    clock.advance(timedelta(days=7, seconds=1))
    expired = client.get(first["archive_url"], headers=admin)
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "archive_expired"
    assert services.apply_retention()["export_archives"] == 1
    assert table_counts(services, "privacy_archives") == {"privacy_archives": 0}
    second = client.post(
        "/api/privacy/requests", json={"kind": "export", "customer_id": person.id}, headers=admin
    ).json()
    client.post(
        "/api/privacy/requests", json={"kind": "erasure", "customer_id": person.id}, headers=admin
    )
    assert client.get(second["archive_url"], headers=admin).status_code == 410
    assert table_counts(services, "privacy_archives") == {"privacy_archives": 0}
    statuses = client.get(f"/api/privacy/requests/{second['id']}", headers=admin).json()
    assert (statuses["status"], statuses["archive_url"]) == ("expired", None)


def test_export_refusals_write_nothing(
    client: TestClient, services: Services, reader: dict[str, str], admin: dict[str, str]
) -> None:
    tables = ("privacy_requests", "privacy_archives")
    refused = client.post(
        "/api/privacy/requests", json={"kind": "export", "customer_id": "x"}, headers=reader
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "kind"
    unknown = client.post(
        "/api/privacy/requests", json={"kind": "export", "customer_id": "nobody"}, headers=admin
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "customer_not_found"
    bad = client.post(
        "/api/privacy/requests", json={"kind": "forget", "customer_id": "x"}, headers=admin
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "kind"
    assert client.get("/api/privacy/requests/nope", headers=admin).status_code == 404
    assert table_counts(services, *tables) == {"privacy_requests": 0, "privacy_archives": 0}

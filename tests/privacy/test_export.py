"""Subject access: one archive with every domain's data about the person, in plain text."""

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.kernel import FixedClock
from tests.conftest import table_counts
from tests.privacy.conftest import DEVICE_TOKEN, SHIP_TO, TEE, Person


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
    assert body["counts"]["events"] == {"events": 22, "ingest_dead_letters": 1}
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
        "consent",
        "segments",
        "journeys",
        "maestro_sends",
        "maestro_tracking",
        "commerce",
        "channels",
        "analytics_service",
        "analytics",
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
    tracked = [e["message_id"] for e in events["events"] if e["message_id"].startswith("zq-")]
    assert tracked == ["zq-1", "zq-2", "zq-3", "zq-4"]
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


def _archive(client: TestClient, admin: dict[str, str], customer_id: str) -> Any:
    created = client.post(
        "/api/privacy/requests", json={"kind": "export", "customer_id": customer_id}, headers=admin
    )
    assert created.status_code == 201, created.text
    archive = client.get(created.json()["archive_url"], headers=admin)
    assert archive.status_code == 200
    return created.json()["counts"], zipfile.ZipFile(io.BytesIO(archive.content))


def test_an_export_holds_the_consents_segments_journeys_sends_orders_and_devices(
    client: TestClient, admin: dict[str, str], person: Person
) -> None:
    counts, files = _archive(client, admin, person.merged_id)
    places = person.places

    assert counts["consent"] == {
        "consent_changes": 1,
        "consents": 1,
        "consent_preferences": 1,
        "consent_confirmations": 0,
        "consent_suppressions": 1,
    }
    consent = json.loads(files.read("consent.json"))
    (change,) = consent["consent_changes"]
    assert (change["purpose"], change["channel"], change["state"]) == (
        "marketing",
        "email",
        "granted",
    )
    assert change["proof"]["typed_name"] == "Zeldarina Quixotesca"
    assert change["note"] == "Zeldarina ticked the box in Pindamonhangaba-Z"
    assert consent["consent_preferences"][0]["time_zone"] == "America/Sao_Paulo"
    assert [(s["kind"], s["channel"], s["note"]) for s in consent["consent_suppressions"]] == [
        ("phone", "sms", "Zeldarina Quixotesca asked for no more texts")
    ]

    assert counts["segments"] == {"segment_members": 1, "segment_history": 1}
    segments = json.loads(files.read("segments.json"))
    assert [(m["segment_id"], m["profile_id"]) for m in segments["segment_members"]] == [
        (places.segment_id, person.id)
    ]
    assert [h["change"] for h in segments["segment_history"]] == ["entered"]

    journeys = json.loads(files.read("journeys.json"))
    (instance,) = journeys["journey_instances"]
    assert (instance["journey_id"], instance["state"], instance["outcome"]) == (
        places.journey_id,
        "done",
        "completed",
    )
    assert instance["variables"]["event"]["properties"] == {"to": "Pindamonhangaba-Z"}
    assert [h["outcome"] for h in journeys["journey_history"]] == ["entered", "send", "completed"]

    sends = json.loads(files.read("maestro_sends.json"))
    assert [(s["origin"].split(":")[0], s["channel"], s["status"]) for s in sends["sends"]] == [
        ("journey", "email", "delivered"),
        ("system", "in_app", "sent"),
    ]
    assert sends["sends"][1]["intent"]["content"]["text"] == (
        "Zeldarina, your Pindamonhangaba-Z voucher is ready"
    )
    assert [(m["to_kind"], m["to_value"], m["status"]) for m in sends["send_messages"]] == [
        ("email", "zeldarina.q@example.org", "read"),
        ("user_id", "zq-user-5521", "sent"),
    ]
    assert [(d["outcome"], d["code"]) for d in sends["send_decisions"]] == [
        ("send", "sent"),
        ("send", "sent"),
    ]
    tracking = json.loads(files.read("maestro_tracking.json"))
    assert [(r["kind"], r["channel"]) for r in tracking["send_receipts"]] == [("read", "email")]
    assert tracking["send_receipts"][0]["message_id"] == sends["send_messages"][0]["id"]

    commerce = json.loads(files.read("commerce.json"))
    (order,) = commerce["commerce_orders"]
    assert (order["id"], order["customer_name"], order["total"]) == (
        places.order_id,
        "Zeldarina Quixotesca",
        10000,
    )
    assert order["note"] == "Zeldarina asks to ring twice"
    assert commerce["commerce_order_groups"][0]["address"]["line1"] == SHIP_TO["line1"]
    assert [(line["sku"], line["qty"]) for line in commerce["commerce_order_lines"]] == [(TEE, 2)]
    (returned,) = commerce["commerce_returns"]
    assert (returned["id"], returned["note"]) == (
        places.return_id,
        "Zeldarina says the seam split in Pindamonhangaba-Z",
    )
    (account,) = commerce["commerce_loyalty_accounts"]
    # 100 points for the delivered order, 50 reversed by the return, 30 given by hand.
    assert (account["points"], account["credit"]) == (80, 5000)
    assert [
        (e["kind"], e["points"], e["reason"]) for e in commerce["commerce_loyalty_entries"]
    ] == [
        ("earn", 100, None),
        ("reverse", -50, None),
        ("credit", 0, None),
        ("earn", 30, "Zeldarina's birthday"),
    ]

    channels = json.loads(files.read("channels.json"))
    (device,) = channels["push_registrations"]
    assert (device["kind"], device["platform"], json.loads(device["target"])) == (
        "fcm",
        "android",
        {"token": DEVICE_TOKEN},
    )
    assert [m["text"] for m in channels["inapp_messages"]] == [
        "Zeldarina, your Pindamonhangaba-Z voucher is ready"
    ]
    assert [i["address_kind"] for i in channels["inapp_inboxes"]] == ["user_id"]


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

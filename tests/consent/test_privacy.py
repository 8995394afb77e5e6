"""Consent and privacy: an export holds the consents with their proof; an erasure deletes the
current consents, preferences and double opt-ins, keeps the history as anonymised proof under
the request, and leaves the suppression list alone."""

import io
import json
import zipfile

import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.consent.store import consent_changes
from tests.conftest import table_counts


def test_export_then_erase(
    client: TestClient, services: Services, admin: dict[str, str], ana: str
) -> None:
    recorded = client.put(
        f"/api/customers/{ana}/consents",
        headers=admin,
        json={
            "items": [{"purpose": "marketing", "channel": "sms", "state": "granted"}],
            "source": {"channel": "web", "actor_kind": "customer"},
            "proof": {"ip": "203.0.113.9", "form_text": "Ofertas por SMS", "form_version": "4"},
            "note": "pediu no site",
        },
    )
    assert recorded.status_code == 200
    client.put(
        f"/api/customers/{ana}/preferences", headers=admin, json={"time_zone": "America/Recife"}
    )
    suppressed = client.post(
        "/api/suppressions",
        headers=admin,
        json={"kind": "phone", "value": "+5511988887777", "reason": "complained"},
    )
    assert suppressed.status_code == 201

    export = client.post(
        "/api/privacy/requests",
        headers=admin,
        json={"kind": "export", "customer_id": ana, "reason": "ticket 9"},
    )
    assert export.status_code == 201, export.text
    assert export.json()["counts"]["consent"] == {
        "consent_changes": 1,
        "consents": 1,
        "consent_preferences": 1,
        "consent_confirmations": 0,
        "consent_suppressions": 1,
    }
    archive = client.get(export.json()["archive_url"], headers=admin)
    files = zipfile.ZipFile(io.BytesIO(archive.content))
    section = json.loads(files.read("consent.json"))
    (change,) = section["consent_changes"]
    assert change["proof"]["ip"] == "203.0.113.9"
    assert change["note"] == "pediu no site"

    erased = client.post(
        "/api/privacy/requests",
        headers=admin,
        json={"kind": "erasure", "customer_id": ana, "reason": "asked to be forgotten"},
    )

    assert erased.status_code == 201, erased.text
    assert erased.json()["counts"]["consent"] == {
        "consent_changes": 1,
        "consents": 1,
        "consent_preferences": 1,
        "consent_confirmations": 0,
    }
    assert table_counts(services, "consents", "consent_preferences", "consent_suppressions") == {
        "consents": 0,
        "consent_preferences": 0,
        "consent_suppressions": 1,
    }
    with services.uow(write=False) as uow:
        row = uow.conn.execute(sa.select(consent_changes)).one()
        proof = services.cipher.reveal(row.proof)
    assert (row.profile_id, row.erasure_request_id, row.note) == (None, erased.json()["id"], None)
    assert proof == {"form_text": "Ofertas por SMS", "form_version": "4"}
    assert (row.purpose, row.channel, row.state, row.source_channel) == (
        "marketing",
        "sms",
        "granted",
        "web",
    )
    assert row.actor_id is None

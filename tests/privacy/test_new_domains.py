"""Erasure in the consent, orchestration, commerce and channel domains: what the law asks to
keep stays under no name (the consent's proof, the books), everything else about the person
goes, and the bystander and the shop's own setup (segments, journeys, templates, catalog)
are untouched."""

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.consent.store import consent_changes
from omnicx.privacy import Actor, EraseSubject
from tests.conftest import table_counts
from tests.privacy.conftest import Person

PERSONAL = (
    "consents",
    "consent_preferences",
    "segment_members",
    "journey_instances",
    "journey_history",
    "sends",
    "send_messages",
    "send_decisions",
    "send_receipts",
    "push_registrations",
    "inapp_messages",
    "inapp_inboxes",
    "commerce_loyalty_accounts",
    "commerce_loyalty_entries",
)
SHOP = (
    "segments",
    "journeys",
    "journey_versions",
    "send_templates",
    "commerce_products",
    "commerce_locations",
    "commerce_orders",
    "commerce_order_lines",
    "commerce_returns",
    "commerce_refunds",
    "consent_changes",
    "consent_suppressions",
)


def _erase(client: TestClient, admin: dict[str, str], customer_id: str) -> dict[str, Any]:
    response = client.post(
        "/api/privacy/requests",
        json={"kind": "erasure", "customer_id": customer_id, "reason": "ticket 5120"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_erasure_keeps_the_proof_and_the_books_under_no_name(
    client: TestClient, services: Services, admin: dict[str, str], person: Person
) -> None:
    kept = table_counts(services, *SHOP)
    personal = table_counts(services, *PERSONAL)
    # The bystander is a member of the segment too.
    assert personal["segment_members"] == 2
    assert {t: n for t, n in personal.items() if t != "segment_members"} == {
        "consents": 1,
        "consent_preferences": 1,
        "journey_instances": 1,
        "journey_history": 3,
        "sends": 2,
        "send_messages": 2,
        "send_decisions": 2,
        "send_receipts": 1,
        "push_registrations": 1,
        "inapp_messages": 1,
        "inapp_inboxes": 1,
        "commerce_loyalty_accounts": 1,
        "commerce_loyalty_entries": 4,
    }

    erased = _erase(client, admin, person.id)

    assert table_counts(services, *SHOP) == kept
    assert table_counts(services, *PERSONAL) == {
        **dict.fromkeys(PERSONAL, 0),
        "segment_members": 1,
    }
    with services.uow(write=False) as uow:
        change = uow.conn.execute(sa.select(consent_changes)).one()
        proof = services.cipher.reveal(change.proof)
        suppression = uow.conn.execute(
            sa.text("SELECT kind, channel, note FROM consent_suppressions")
        )
        suppressions = [tuple(row) for row in suppression]
    assert (change.profile_id, change.actor_id, change.note) == (None, None, None)
    assert (change.erasure_request_id, change.purpose, change.state) == (
        erased["id"],
        "marketing",
        "granted",
    )
    assert proof == {"form_text": "News by email", "form_version": "2"}
    # The phone stays suppressed for SMS, without the words that named the person.
    assert suppressions == [("phone", "sms", None)]

    order = client.get(f"/api/commerce/orders/{person.places.order_id}", headers=admin).json()
    assert (order["customer_id"], order["customer_name"], order["note"]) == (None, None, None)
    assert (order["total"]["amount"], order["status"]) == (10000, "delivered")
    assert order["groups"][0]["address"] is None
    returned = client.get(f"/api/commerce/returns/{person.places.return_id}", headers=admin)
    assert (returned.json()["customer_id"], returned.json()["note"]) == (None, None)
    assert returned.json()["refund"]["amount"] == 5000

    size = client.get(f"/api/segments/{person.places.segment_id}/size", headers=admin).json()
    assert size["size"] == 1
    journey = client.get(f"/api/journeys/{person.places.journey_id}", headers=admin).json()
    assert (journey["status"], journey["live_version"]) == ("live", 1)
    assert client.get("/api/templates/parcel_news", headers=admin).status_code == 200
    for path in ("consents", "preferences", "decisions", "loyalty"):
        gone = client.get(f"/api/customers/{person.id}/{path}", headers=admin)
        assert (path, gone.status_code) == (path, 410)


def test_a_new_domain_that_fails_keeps_everything(
    client: TestClient, services: Services, admin: dict[str, str], person: Person
) -> None:
    def broken(query: EraseSubject, uow: object) -> None:
        raise RuntimeError("the push service registry is down")

    services.bus.answer(EraseSubject, broken)
    before = table_counts(services, *PERSONAL, *SHOP, "suppressions", "erased_profiles")

    with pytest.raises(RuntimeError, match="registry is down"):
        services.erase_customer(person.id, Actor("cli", "tester", "tester", "operator"), "")

    assert table_counts(services, *PERSONAL, *SHOP, "suppressions", "erased_profiles") == before
    with services.uow(write=False) as uow:
        notes = uow.conn.execute(sa.text("SELECT note FROM consent_suppressions")).scalars().all()
    (note,) = notes
    assert note is not None

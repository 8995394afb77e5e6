"""Erasure: nothing of the person is left in any table, and a replay does not bring them back."""

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.config import Settings
from tests.channels.push.conftest import ServiceAccount
from tests.conftest import table_counts
from tests.privacy.conftest import IDENTIFIERS, MARKERS, Person, batches, privacy_settings


@pytest.fixture(params=["sealed", "plain"])
def settings(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    service_account: ServiceAccount,
) -> Settings:
    """Each test twice: values sealed at rest (the default), and sealing off, where anything
    left behind would show in plain text."""
    if request.param == "plain":
        return privacy_settings(make_settings, service_account, sensitive_fields=[])
    return privacy_settings(make_settings, service_account)


def scan(services: Services) -> dict[str, list[str]]:
    """Every table of the database (and of the queue's), every row, as text: which tables
    hold which of the person's identifiers, trait values and device token."""
    wanted = MARKERS
    hits: dict[str, list[str]] = {}
    engines = {services.engines.main, services.engines.queue}
    for engine in engines:
        reflected = sa.MetaData()
        with engine.connect() as conn:
            reflected.reflect(conn)
            for table in reflected.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    text = " ".join(
                        v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                        for v in row
                    )
                    found = sorted(value for value in wanted if value in text)
                    if found:
                        hits.setdefault(table.name, []).extend(found)
    return hits


def erase(client: TestClient, admin: dict[str, str], customer_id: str) -> dict[str, Any]:
    response = client.post(
        "/api/privacy/requests",
        json={"kind": "erasure", "customer_id": customer_id, "reason": "ticket 4411"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_erasure_leaves_no_trace_in_any_table(
    client: TestClient, services: Services, admin: dict[str, str], person: Person
) -> None:
    before = scan(services)
    assert set(before) >= {"events", "identifiers", "traits", "trait_history", "profiles"}
    if not services.cipher.enabled:
        assert set(before) >= {
            "ingest_dead_letters",
            "outbox",
            "merges",
            "conversations",
            "messages",
            "message_attachments",
            "consent_changes",
            "consent_suppressions",
            "journey_instances",
            "sends",
            "inapp_messages",
            "push_registrations",
            "commerce_orders",
            "commerce_order_groups",
            "commerce_returns",
            "commerce_loyalty_entries",
        }

    body = erase(client, admin, person.merged_id)

    assert body["kind"] == "erasure"
    assert body["customer_id"] == person.merged_id
    assert body["subject_id"] == person.id
    assert body["counts"]["profiles"]["profiles"] == 2
    assert body["counts"]["profiles"]["identifiers"] == len(IDENTIFIERS)
    # On the timeline: four tracked events, the conversation's two messages, the consent, the
    # segment entered, the journey entered and exited, the gate's two sends and the email's
    # open, the order placed, shipped and delivered, and six steps of points and the return.
    assert body["counts"]["events"] == {"events": 22, "ingest_dead_letters": 1}
    assert body["counts"]["conversations"] == {
        "conversations": 1,
        "messages": 2,
        "message_attachments": 1,
        "message_deliveries": 2,
    }
    assert body["counts"]["consent"] == {
        "consent_changes": 1,
        "consents": 1,
        "consent_preferences": 1,
        "consent_confirmations": 0,
        "consent_suppressions": 1,
    }
    assert body["counts"]["segments"] == {
        "segment_members": 1,
        "segment_history": 1,
        "segment_dirty": 0,
    }
    assert body["counts"]["journeys"] == {
        "journey_instances": 1,
        "journey_history": 3,
        "journey_tasks": 0,
        "journey_inbox": 0,
    }
    assert body["counts"]["maestro_sends"] == {"sends": 2, "send_messages": 2, "send_decisions": 2}
    assert body["counts"]["maestro_tracking"] == {"send_receipts": 1}
    assert body["counts"]["commerce"] == {
        "commerce_orders": 1,
        "commerce_carts": 0,
        "commerce_returns": 1,
        "commerce_refunds": 1,
        "commerce_exchanges": 0,
        "commerce_loyalty_accounts": 1,
        "commerce_loyalty_entries": 4,
    }
    assert body["counts"]["channels"] == {
        "push_registrations": 1,
        "inapp_messages": 1,
        "inapp_inboxes": 1,
    }
    assert body["counts"]["privacy"]["suppressions"] == len(IDENTIFIERS)
    assert scan(services) == {}
    for customer_id in (person.id, person.merged_id):
        gone = client.get(f"/api/customers/{customer_id}", headers=admin)
        assert gone.status_code == 410
        assert gone.json()["error"]["code"] == "customer_erased"
    bystander = client.get(f"/api/customers/{person.bystander}", headers=admin)
    assert bystander.status_code == 200
    assert bystander.json()["traits"]["firstName"] == "Bernardo"
    letters = client.get("/api/ingest/dead-letters", headers=admin).json()["items"]
    assert [e["messageId"] for e in letters[0]["events"]] == ["by-dead"]
    assert letters[0]["error"] == "ValueError: could not resolve [erased]"


def test_a_replay_after_erasure_does_not_bring_the_person_back(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
    person: Person,
) -> None:
    erase(client, admin, person.id)
    counts = table_counts(services, "profiles", "identifiers", "events", "traits", "outbox")
    replay = [dict(call, messageId=f"{call['messageId']}-again") for call in batches()[:3]]
    response = client.post("/v1/batch", headers=write_auth, json={"batch": replay})
    assert response.status_code == 200
    assert drain() == 0
    assert table_counts(services, "profiles", "identifiers", "events", "traits", "outbox") == counts
    assert scan(services) == {}
    with services.uow(write=False) as uow:
        assert services.privacy(uow).suppression_hits() == 2 + 4 + 2
        assert services.queue.pending() == 0
    missing = client.get(
        "/api/customers/lookup", params={"kind": "user_id", "value": "zq-user-5521"}, headers=admin
    )
    assert missing.status_code == 404


def test_erasing_twice_or_an_unknown_customer_writes_nothing(
    client: TestClient, services: Services, admin: dict[str, str], person: Person
) -> None:
    tables = ("profiles", "suppressions", "privacy_requests", "erased_profiles", "events")
    before = table_counts(services, *tables)
    unknown = client.post(
        "/api/privacy/requests",
        json={"kind": "erasure", "customer_id": "no-such-customer"},
        headers=admin,
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": "customer_not_found",
        "message": "no customer no-such-customer",
        "field": "customer_id",
    }
    assert table_counts(services, *tables) == before
    erase(client, admin, person.id)
    after = table_counts(services, *tables)
    again = client.post(
        "/api/privacy/requests",
        json={"kind": "erasure", "customer_id": person.merged_id},
        headers=admin,
    )
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "customer_erased"
    assert table_counts(services, *tables) == after


def test_a_domain_that_fails_fails_the_whole_erasure(
    client: TestClient, services: Services, admin: dict[str, str], person: Person
) -> None:
    from omnicx.privacy import EraseSubject

    def broken(query: EraseSubject, uow: object) -> None:
        raise RuntimeError("the orders domain is down")

    services.bus.answer(EraseSubject, broken)
    tables = ("profiles", "identifiers", "events", "suppressions", "privacy_requests", "outbox")
    before = table_counts(services, *tables)
    with pytest.raises(RuntimeError, match="orders domain"):
        services.erase_customer(person.id, _operator(), "")
    assert table_counts(services, *tables) == before
    assert client.get(f"/api/customers/{person.id}", headers=admin).status_code == 200


def _operator() -> Any:
    from omnicx.privacy import Actor

    return Actor("cli", "tester", "tester", "operator")

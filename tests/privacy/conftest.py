"""A person worth erasing: two profiles merged into one, five kinds of identifiers, traits,
webhook deliveries, a dead letter and a conversation (an email with an attachment and an
agent's reply); and a bystander who must survive everything."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.conversations import AttachmentIn, FakeChannelSender, InboundMessage, ThreadHints
from omnicx.kernel import FixedClock
from omnicx.webhooks import create_subscription

IDENTIFIERS = {
    ("user_id", "zq-user-5521"),
    ("anonymous_id", "anon-zq81"),
    ("anonymous_id", "anon-zq82"),
    ("email", "zeldarina.q@example.org"),
    ("phone", "+5511977776543"),
    ("loyalty_id", "LOY-88231"),
}
TRAIT_VALUES = {
    "Zeldarina",
    "Quixotesca",
    "Pindamonhangaba-Z",
    "ultramarine-7731",
    "+55 11 97777-6543",
}


def batches() -> list[dict[str, Any]]:
    return [
        {
            "type": "identify",
            "messageId": "zq-1",
            "anonymousId": "anon-zq81",
            "timestamp": "2026-05-01T10:00:00Z",
            "traits": {
                "email": "zeldarina.q@example.org",
                "firstName": "Zeldarina",
                "favourite": "ultramarine-7731",
            },
        },
        {
            "type": "identify",
            "messageId": "zq-2",
            "userId": "zq-user-5521",
            "anonymousId": "anon-zq82",
            "timestamp": "2026-05-02T10:00:00Z",
            "traits": {
                "phone": "+55 11 97777-6543",
                "lastName": "Quixotesca",
                "loyaltyId": "LOY-88231",
                "city": "Pindamonhangaba-Z",
            },
        },
        {
            "type": "track",
            "messageId": "zq-3",
            "userId": "zq-user-5521",
            "anonymousId": "anon-zq81",
            "event": "Order Completed",
            "timestamp": "2026-05-03T10:00:00Z",
            "properties": {"total": 120.5},
        },
        {
            "type": "identify",
            "messageId": "by-1",
            "userId": "bystander-1",
            "timestamp": "2026-05-01T09:00:00Z",
            "traits": {"email": "bystander@example.net", "firstName": "Bernardo"},
        },
    ]


@dataclass
class Person:
    id: str
    merged_id: str
    bystander: str


@pytest.fixture
def person(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    source: Any,
) -> Person:
    with services.uow() as uow:
        create_subscription(
            services.webhooks(uow),
            "https://crm.example.com/hooks",
            ["profile.created", "profile.merged", "traits.changed"],
            "CRM",
            uow.clock.now(),
        )
        uow.commit()
    services.forget_subscriptions()
    for call in batches():
        response = client.post("/v1/batch", headers=write_auth, json={"batch": [call]})
        assert response.status_code == 200
        drain()
    with services.uow() as uow:
        services.events(uow).add_dead_letter(
            source.id,
            [
                {
                    "type": "track",
                    "messageId": "zq-dead",
                    "userId": "zq-user-5521",
                    "anonymousId": None,
                    "identifiers": [["user_id", "zq-user-5521"]],
                    "traits": {"city": "Pindamonhangaba-Z"},
                },
                {
                    "type": "track",
                    "messageId": "by-dead",
                    "userId": "bystander-1",
                    "anonymousId": None,
                    "identifiers": [["user_id", "bystander-1"]],
                    "traits": {},
                },
            ],
            "ValueError: could not resolve zq-user-5521",
            uow.clock.now(),
        )
        uow.commit()

    def lookup(kind: str, value: str) -> str:
        found = client.get(
            "/api/customers/lookup", params={"kind": kind, "value": value}, headers=admin
        )
        assert found.status_code == 200, found.text
        customer_id: str = found.json()["id"]
        return customer_id

    survivor = lookup("user_id", "zq-user-5521")
    merged = client.get(f"/api/customers/{survivor}", headers=admin).json()["merged_ids"]
    assert len(merged) == 1
    _converse(client, services, admin, survivor)
    return Person(survivor, merged[0], lookup("user_id", "bystander-1"))


WROTE_AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
REPLIED_AT = datetime(2026, 5, 4, 11, 0, tzinfo=UTC)


def _converse(client: TestClient, services: Services, admin: dict[str, str], survivor: str) -> None:
    """The person writes an email (with an attachment) and an agent answers it."""
    receipt = services.receive_inbound(
        InboundMessage(
            channel="email",
            account="support@shop.example",
            sender=(("email", "zeldarina.q@example.org"),),
            sender_name="Zeldarina Quixotesca",
            received_at=WROTE_AT,
            provider_message_id="<zq-mail-1@example.org>",
            text="My parcel to Pindamonhangaba-Z never came; call +55 11 97777-6543.",
            html="<p>Zeldarina here: ultramarine-7731 scarf</p>",
            thread=ThreadHints(subject="Zeldarina's order"),
            attachments=(AttachmentIn("zeldarina.txt", "text/plain", b"Quixotesca LOY-88231"),),
        )
    )
    assert receipt.customer_id == survivor
    services.channel_senders["email"] = FakeChannelSender("email")
    clock = services.uow.clock
    services.uow.clock = FixedClock(REPLIED_AT)
    try:
        replied = client.post(
            f"/api/conversations/{receipt.conversation_id}/replies",
            json={"text": "Dear Zeldarina Quixotesca, it ships to Pindamonhangaba-Z today."},
            headers=admin,
        )
    finally:
        services.uow.clock = clock
    assert replied.status_code == 201, replied.text

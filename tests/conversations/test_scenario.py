"""One customer across four channels, end to end through the app: web chat, an email follow-up,
a call and a store visit land in one conversation; the agent answers by SMS and the store
associate finds that conversation by the customer's phone. Runs on SQLite and PostgreSQL."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import FakeChannelSender, InboundMessage
from omnicx.conversations.model import ThreadHints
from omnicx.db.migrate import upgrade
from omnicx.webhooks.http import FakeWebhookSender
from tests.access.conftest import PASSWORD, add_user

ANON = "anon-3f9a"
EMAIL = "carla@example.com"
PHONE = "+5511977776666"


@pytest.fixture
def services(settings: Settings, sender: FakeWebhookSender) -> Iterator[Services]:
    built = build(settings, sender=sender)
    upgrade(built.engines)
    built.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    built.channel_senders["sms"] = FakeChannelSender("sms")
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(app_for(services, run_worker=False)) as test_client:
        yield test_client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.json()
    return response.json()


def test_one_customer_across_chat_email_call_and_store_is_one_conversation(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Any,
) -> None:
    # Web chat, through the widget's public routes, leaving an email address.
    session = _ok(client.post("/chat/sessions", json={"anonymousId": ANON}, headers=write_auth))
    chat = _ok(
        client.post(
            "/chat/messages",
            json={"text": "Is the blue jacket back in M?", "email": EMAIL, "clientMessageId": "m1"},
            headers={**write_auth, "X-Chat-Token": session["token"]},
        )
    )
    assert chat["duplicate"] is False
    conversation_id = chat["conversation_id"]

    # The shop's checkout identifies the visitor with the phone number.
    identified = client.post(
        "/v1/identify",
        json={"anonymousId": ANON, "traits": {"email": EMAIL, "phone": "(11) 97777-6666"}},
        headers=write_auth,
    )
    assert identified.status_code == 200
    drain()

    # The email follow-up, as the SMTP listener hands it over.
    emailed = services.receive_inbound(
        InboundMessage(
            channel="email",
            account="support@shop.example",
            sender=(("email", EMAIL),),
            sender_name="Carla",
            received_at=services.clock.now(),
            provider_message_id="<f1@example.com>",
            text="Following up on my chat: size M, please.",
            thread=ThreadHints(subject="Blue jacket"),
        )
    )
    assert (emailed.conversation_id, emailed.created_conversation) == (conversation_id, False)
    customer_id = emailed.customer_id

    call = _ok(
        client.post(
            "/api/calls",
            json={
                "direction": "inbound",
                "number": PHONE,
                "duration_seconds": 95,
                "outcome": "answered",
                "notes": "Wants the jacket held at Paulista",
                "call_id": "pbx-77",
            },
            headers=admin,
        ),
        201,
    )
    assert (call["conversation_id"], call["customer_id"]) == (conversation_id, customer_id)
    visit = _ok(
        client.post(
            "/api/store-visits",
            json={"store": "loja-paulista", "identifiers": {"phone": PHONE}, "visit_id": "v-9"},
            headers=admin,
        ),
        201,
    )
    assert (visit["conversation_id"], visit["customer_id"]) == (conversation_id, customer_id)

    # The agent sees one conversation holding all four channels, in order.
    listed = _ok(
        client.get("/api/conversations", params={"customer_id": customer_id}, headers=admin)
    )
    assert [c["id"] for c in listed["items"]] == [conversation_id]
    detail = _ok(client.get(f"/api/conversations/{conversation_id}", headers=admin))
    assert detail["conversation"]["channels"] == ["web_chat", "email", "call_center", "store"]
    assert [(m["channel"], m["kind"], m["direction"]) for m in detail["messages"]["items"]] == [
        ("web_chat", "message", "inbound"),
        ("email", "message", "inbound"),
        ("call_center", "call", "inbound"),
        ("store", "visit", "inbound"),
    ]

    # The agent replies by SMS; the worker sends it through the SMS sender.
    replied = _ok(
        client.post(
            f"/api/conversations/{conversation_id}/replies",
            json={"channel": "sms", "text": "Held for you at Paulista until Friday."},
            headers=admin,
        ),
        201,
    )
    assert (replied["channel"], replied["direction"], replied["status"]) == (
        "sms",
        "outbound",
        "queued",
    )
    services.process_outbox()
    sms = services.channel_senders["sms"]
    assert isinstance(sms, FakeChannelSender)
    assert [(o.to, o.text) for o in sms.sent] == [
        (("phone", PHONE), "Held for you at Paulista until Friday.")
    ]

    # The store associate signs in and finds the customer by phone.
    add_user(services, "bia@shop.example", "store_associate")
    login = _ok(
        client.post("/api/auth/login", json={"email": "bia@shop.example", "password": PASSWORD})
    )
    associate = {"Authorization": f"Bearer {login['token']}"}
    pop = _ok(client.get("/api/calls/screen-pop", params={"number": PHONE}, headers=associate))
    assert pop["customer"]["id"] == customer_id
    assert [c["id"] for c in pop["open_conversations"]] == [conversation_id]
    assert pop["open_conversations"][0]["channels"] == [
        "web_chat",
        "email",
        "call_center",
        "store",
        "sms",
    ]

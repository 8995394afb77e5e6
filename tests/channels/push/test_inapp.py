"""The in-app inbox on both databases: a reply and a maestro send land in the customer's
inbox, listing marks them delivered, reading and clicking send receipts that move the
message and land on the timeline; nobody else's inbox shows them; erasure removes it all."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import principal_for_role
from omnicx.bootstrap import Services
from omnicx.channels.push import owner_of
from omnicx.conversations import InboundMessage, Message, Reply
from omnicx.kernel import Conflict, Invalid
from omnicx.orchestration.gate import Content, SendIntent
from tests.channels.push.conftest import app_token, timeline, visitor
from tests.conftest import table_counts

AGENT = principal_for_role("user", "agent-1", "Rita", "agent")


def customer_with_user_id(services: Services, user_id: str, email: str) -> tuple[str, str]:
    """(customer id, conversation id) of a customer who wrote an email."""
    receipt = services.receive_inbound(
        InboundMessage(
            channel="email",
            account="support@localhost",
            sender=(("email", email), ("user_id", user_id)),
            received_at=services.clock.now(),
            text="Hello",
        )
    )
    return receipt.customer_id, receipt.conversation_id


def message(services: Services, message_id: str) -> Message:
    with services.uow(write=False) as uow:
        found = services.conversations(uow).message(message_id)
    assert found is not None
    return found


def inbox(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/inapp/messages", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    body: dict[str, Any] = response.json()
    return body


def test_a_reply_in_the_inbox_is_delivered_read_and_clicked(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    dia = app_token(client, admin, "u-dia")
    assert inbox(client, dia) == {"messages": [], "unread": 0}
    customer, conversation = customer_with_user_id(services, "u-dia", "dia@shop.example")

    reply = services.reply(
        conversation, Reply(author=AGENT, channel="in_app", text="Your voucher is ready")
    )
    assert (reply.channel, reply.to) == ("in_app", ("user_id", "u-dia"))
    assert services.process_outbox() == 1
    services.process_outbox()  # a retried send stores nothing twice
    assert table_counts(services, "inapp_messages") == {"inapp_messages": 1}

    listed = inbox(client, dia)
    assert listed["unread"] == 1
    (shown,) = listed["messages"]
    assert (shown["id"], shown["text"], shown["status"]) == (
        reply.id,
        "Your voucher is ready",
        "delivered",
    )
    assert message(services, reply.id).status == "delivered"
    assert inbox(client, dia)["messages"][0]["status"] == "delivered"

    read = client.post(f"/inapp/messages/{reply.id}/read", headers=dia)
    assert read.status_code == 200, read.text
    assert read.json()["message"]["status"] == "read"
    assert client.post(f"/inapp/messages/{reply.id}/read", headers=dia).status_code == 200
    clicked = client.post(f"/inapp/messages/{reply.id}/clicked", headers=dia)
    assert clicked.json()["message"]["status"] == "clicked"
    assert inbox(client, dia)["unread"] == 0

    assert message(services, reply.id).status == "read"
    with services.uow(write=False) as uow:
        history = [d.status for d in services.conversations(uow).deliveries(reply.id)]
    assert history == ["queued", "sent", "delivered", "read", "read"]
    assert timeline(client, admin, customer) == [
        ("Message Delivered", "in_app", "delivered"),
        ("Message Read", "in_app", "read"),
        ("Message Clicked", "in_app", "clicked"),
    ]

    staff = client.get(f"/api/customers/{customer}/inapp-messages", headers=admin)
    assert staff.status_code == 200
    (item,) = staff.json()["items"]
    assert (item["id"], item["status"], item["address_kind"]) == (reply.id, "clicked", "user_id")


def test_another_address_sees_nothing_and_cannot_mark(
    client: TestClient, services: Services, admin: dict[str, str], write_auth: dict[str, str]
) -> None:
    dia = app_token(client, admin, "u-dia")
    inbox(client, dia)
    _, conversation = customer_with_user_id(services, "u-dia", "dia@shop.example")
    reply = services.reply(conversation, Reply(author=AGENT, channel="in_app", text="Private"))
    services.process_outbox()

    stranger = visitor(client, write_auth, "anon-stranger")
    assert inbox(client, stranger) == {"messages": [], "unread": 0}
    refused = client.post(f"/inapp/messages/{reply.id}/read", headers=stranger)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "message_not_found"
    assert client.get("/inapp/messages").status_code == 401
    assert message(services, reply.id).status == "sent"
    bad = client.get("/inapp/messages", params={"limit": 0}, headers=dia)
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "limit")


def test_the_inbox_is_a_channel_only_once_opened(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    _, conversation = customer_with_user_id(services, "u-eva", "eva@shop.example")
    with pytest.raises((Conflict, Invalid)) as caught:
        services.reply(conversation, Reply(author=AGENT, channel="in_app", text="Hi"))
    assert "never opened the in-app inbox" in caught.value.message
    assert table_counts(services, "inapp_messages") == {"inapp_messages": 0}

    inbox(client, app_token(client, admin, "u-eva"))
    services.reply(conversation, Reply(author=AGENT, channel="in_app", text="Hi"))
    assert services.process_outbox() == 1
    assert table_counts(services, "inapp_messages") == {"inapp_messages": 1}


def drain(services: Services) -> None:
    for _ in range(20):
        if not services.process_outbox() + services.process_sends():
            return


def test_a_maestro_send_reaches_the_inbox_and_its_receipts_reach_the_gate(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    fay = app_token(client, admin, "u-fay")
    inbox(client, fay)
    with services.uow(write=False) as uow:
        customer = owner_of(uow, services.cipher, ("user_id", "u-fay"))
    assert customer is not None
    with services.uow() as uow:
        decision = services.submit_send(
            uow,
            SendIntent(
                send_id="order-7-shipped",
                customer_id=customer,
                purpose="transactional",
                category="order",
                priority=80,
                channels=("in_app",),
                content=Content(text="Order 7 has shipped"),
                origin="system:orders",
            ),
        )
        uow.commit()
    assert (decision.outcome, decision.channel) == ("send", "in_app")
    drain(services)

    (shown,) = inbox(client, fay)["messages"]
    assert shown["text"] == "Order 7 has shipped"
    assert client.post(f"/inapp/messages/{shown['id']}/read", headers=fay).status_code == 200
    with services.uow(write=False) as uow:
        sent = services.sends(uow).message(shown["id"])
    assert sent is not None
    assert sent.status == "read"
    events = client.get(
        f"/api/customers/{customer}/timeline", params={"order": "asc"}, headers=admin
    ).json()["items"]
    receipts = [
        (e["event"], e["properties"].get("send_id")) for e in events if e["source_id"] == "receipts"
    ]
    assert receipts == [
        ("Message Delivered", "order-7-shipped"),
        ("Message Read", "order-7-shipped"),
    ]


def test_export_and_erasure_cover_the_inbox_and_devices(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    gil = app_token(client, admin, "u-gil")
    inbox(client, gil)
    customer, conversation = customer_with_user_id(services, "u-gil", "gil@shop.example")
    services.reply(conversation, Reply(author=AGENT, channel="in_app", text="Secret voucher 99"))
    services.process_outbox()
    assert client.post("/push/devices", json={"token": "fcm-gil"}, headers=gil).status_code == 201

    export = client.post(
        "/api/privacy/requests",
        json={"kind": "export", "customer_id": customer, "reason": "ticket 1"},
        headers=admin,
    )
    assert export.status_code == 201, export.text
    erased = client.post(
        "/api/privacy/requests",
        json={"kind": "erasure", "customer_id": customer, "reason": "ticket 2"},
        headers=admin,
    )
    assert erased.status_code == 201, erased.text
    counts = erased.json()["counts"]
    assert counts["channels"] == {
        "push_registrations": 1,
        "inapp_messages": 1,
        "inapp_inboxes": 1,
    }
    assert table_counts(services, "push_registrations", "inapp_messages", "inapp_inboxes") == {
        "push_registrations": 0,
        "inapp_messages": 0,
        "inapp_inboxes": 0,
    }

"""The conversations JSON API, end to end through the app, on SQLite and PostgreSQL."""

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import (
    AttachmentIn,
    DeliveryUpdate,
    FakeChannelSender,
    InboundMessage,
    Receipt,
    ThreadHints,
)
from omnicx.conversations.services import assign
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock
from omnicx.webhooks.http import FakeWebhookSender
from tests.access.conftest import add_user, sign_in
from tests.conftest import table_counts

AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
T0 = "2026-05-04T09:00:00Z"
TABLES = (
    "conversations",
    "messages",
    "message_attachments",
    "message_deliveries",
    "outbox",
    "events",
)
ANA = (("email", "ana@example.com"), ("phone", "+5511988887777"))
ANA_EMAIL = (("email", "ana@example.com"),)
ANA_PHONE = (("phone", "+5511988887777"),)
BEA = (("email", "bea@example.com"),)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_max_attempts=2, webhook_backoff_seconds=1.0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


@pytest.fixture
def services(
    settings: Settings, sender: FakeWebhookSender, clock: FixedClock
) -> Iterator[Services]:
    built = build(settings, clock=clock, sender=sender)
    upgrade(built.engines)
    built.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    built.channel_senders.clear()
    built.channel_senders.update(
        sms=FakeChannelSender("sms"),
        email=FakeChannelSender("email"),
        whatsapp=FakeChannelSender("whatsapp"),
    )
    yield built
    built.close()


def fake(services: Services, channel: str) -> FakeChannelSender:
    sender = services.channel_senders[channel]
    assert isinstance(sender, FakeChannelSender)
    return sender


def receive(
    services: Services,
    channel: str,
    sender: tuple[tuple[str, str], ...],
    pid: str,
    text: str,
    **extra: Any,
) -> Receipt:
    return services.receive_inbound(
        InboundMessage(
            channel=channel,
            account="support@shop.example" if channel == "email" else "+5511900000000",
            sender=sender,
            received_at=services.clock.now(),
            provider_message_id=pid,
            text=text,
            **extra,
        )
    )


def conversation_body(receipt: Receipt, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": receipt.conversation_id,
        "customer_id": receipt.customer_id,
        "status": "open",
        "priority": "normal",
        "subject": None,
        "contact_reason": None,
        "team_id": None,
        "assignee_id": None,
        "labels": [],
        "channels": ["sms"],
        "last_inbound_channel": "sms",
        "last_message_at": T0,
        "snoozed_until": None,
        "resolved_at": None,
        "closed_at": None,
        "merged_into": None,
        "split_from": None,
        "sla_policy_id": None,
        "sla": {},
        "csat": None,
        "created_at": T0,
        "updated_at": T0,
    }
    body.update(changes)
    return body


def inbound_body(receipt: Receipt, seq: int, channel: str, text: str, **changes: Any) -> Any:
    body: dict[str, Any] = {
        "id": receipt.message_id,
        "conversation_id": receipt.conversation_id,
        "seq": seq,
        "direction": "inbound",
        "kind": "message",
        "channel": channel,
        "account": "support@shop.example" if channel == "email" else "+5511900000000",
        "sender_kind": "customer",
        "sender_id": receipt.customer_id,
        "sender_name": None,
        "created_at": T0,
        "subject": None,
        "text": text,
        "html": None,
        "to": None,
        "status": None,
        "provider_message_id": None,
        "email_message_id": None,
        "in_reply_to": None,
        "warnings": [],
        "metadata": {},
        "attachments": [],
    }
    body.update(changes)
    return body


# -- reading ---------------------------------------------------------------------------------


def test_a_conversation_comes_with_plaintext_messages_and_downloadable_attachments(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    receipt = receive(
        services,
        "email",
        ANA_EMAIL,
        "<m1@mail.example>",
        "Where is order 1001?",
        html="<p>Where is order 1001?</p>",
        sender_name="Ana Souza",
        thread=ThreadHints(subject="Order 1001"),
        attachments=(AttachmentIn("recibo café.pdf", "application/pdf", b"%PDF-1.4 fake"),),
    )

    response = client.get(f"/api/conversations/{receipt.conversation_id}", headers=admin)

    assert response.status_code == 200
    body = response.json()
    (attachment_id,) = [a["id"] for a in body["messages"]["items"][0]["attachments"]]
    url = f"/api/conversations/{receipt.conversation_id}/attachments/{attachment_id}"
    assert body == {
        "conversation": conversation_body(
            receipt, subject="Order 1001", channels=["email"], last_inbound_channel="email"
        ),
        "messages": {
            "items": [
                inbound_body(
                    receipt,
                    1,
                    "email",
                    "Where is order 1001?",
                    html="<p>Where is order 1001?</p>",
                    sender_name="Ana Souza",
                    subject="Order 1001",
                    provider_message_id="<m1@mail.example>",
                    email_message_id="<m1@mail.example>",
                    attachments=[
                        {
                            "id": attachment_id,
                            "filename": "recibo café.pdf",
                            "content_type": "application/pdf",
                            "size": 13,
                            "url": url,
                        }
                    ],
                )
            ],
            "next": None,
        },
    }

    download = client.get(url, headers=admin)
    assert download.status_code == 200
    assert download.content == b"%PDF-1.4 fake"
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"recibo caf_.pdf\"; filename*=UTF-8''recibo%20caf%C3%A9.pdf"
    )
    assert download.headers["x-content-type-options"] == "nosniff"
    elsewhere = client.get(f"/api/conversations/other/attachments/{attachment_id}", headers=admin)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"] == {
        "code": "attachment_not_found",
        "message": f"no attachment {attachment_id} in conversation other",
        "field": "attachment_id",
    }
    with services.uow(write=False) as uow:
        trail = services.audit(uow).audit_about([receipt.customer_id])
    assert [(e["route"], e["status"]) for e in trail] == [
        ("/api/conversations/{conversation_id}", 200),
        ("/api/conversations/{conversation_id}/attachments/{attachment_id}", 200),
    ]


def test_an_unknown_conversation_is_404(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/api/conversations/nope", headers=admin)
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "conversation_not_found",
            "message": "no conversation nope",
            "field": "conversation_id",
        }
    }


def test_messages_page_by_position(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    receipts = [receive(services, "sms", ANA_PHONE, f"SM{n}", f"text {n}") for n in range(3)]
    cid = receipts[0].conversation_id

    first = client.get(f"/api/conversations/{cid}", params={"limit": 2}, headers=admin).json()
    rest = client.get(
        f"/api/conversations/{cid}/messages", params={"after": 2, "limit": 2}, headers=admin
    ).json()

    assert [m["text"] for m in first["messages"]["items"]] == ["text 0", "text 1"]
    assert first["messages"]["next"] == 2
    assert rest == {
        "items": [inbound_body(receipts[2], 3, "sms", "text 2", provider_message_id="SM2")],
        "next": None,
    }


def three_conversations(services: Services, clock: FixedClock) -> tuple[Receipt, ...]:
    """Ana's by SMS, Bea's by email (assigned to agent-7 of team-1), Cid's by WhatsApp, a
    minute apart."""
    ana = receive(services, "sms", ANA_PHONE, "SM1", "ana")
    clock.advance(timedelta(minutes=1))
    bea = receive(services, "email", BEA, "<b1@x>", "bea")
    clock.advance(timedelta(minutes=1))
    cid = receive(services, "whatsapp", (("phone", "+5511977776666"),), "w1", "cid")
    with services.uow() as uow:
        assign(
            services.conversations(uow),
            bea.conversation_id,
            team_id="team-1",
            assignee_id="agent-7",
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    return ana, bea, cid


def test_the_list_filters_and_pages_with_a_cursor(
    client: TestClient, services: Services, clock: FixedClock, admin: dict[str, str]
) -> None:
    ana, bea, cid = three_conversations(services, clock)
    client.patch(
        f"/api/conversations/{ana.conversation_id}", json={"labels": ["VIP"]}, headers=admin
    )
    client.post(
        f"/api/conversations/{cid.conversation_id}/status",
        json={"status": "resolved"},
        headers=admin,
    )

    def ids(**params: Any) -> list[str]:
        response = client.get("/api/conversations", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert ids() == [cid.conversation_id, bea.conversation_id, ana.conversation_id]
    assert ids(status=["open", "pending"]) == [bea.conversation_id, ana.conversation_id]
    assert ids(status="resolved") == [cid.conversation_id]
    assert ids(channel="email") == [bea.conversation_id]
    assert ids(assignee_id="agent-7") == [bea.conversation_id]
    assert ids(team_id="team-1") == [bea.conversation_id]
    assert ids(label="vip") == [ana.conversation_id]
    assert ids(customer_id=ana.customer_id) == [ana.conversation_id]

    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/conversations", params=params, headers=admin).json()
        pages.append([c["id"] for c in page["items"]])
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == [[cid.conversation_id], [bea.conversation_id], [ana.conversation_id]]

    bad = client.get("/api/conversations", params={"cursor": "yesterday"}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": "invalid_cursor",
        "message": "cursor must be the `next` value of a previous page",
        "field": "cursor",
    }
    unknown = client.get("/api/conversations", params={"customer_id": "ghost"}, headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "customer_not_found"


def test_the_list_takes_the_inbox_filters_and_refuses_bad_ones(
    client: TestClient, services: Services, clock: FixedClock, admin: dict[str, str]
) -> None:
    ana, bea, cid = three_conversations(services, clock)
    with services.uow() as uow:
        repo = services.conversations(uow)
        repo.update(ana.conversation_id, sla={"state": "breached", "due_at": None, "clocks": {}})
        repo.update(cid.conversation_id, sla={"state": "running", "due_at": None, "clocks": {}})
        uow.commit()
    for receipt, reason in ((ana, "delivery"), (bea, "delivery"), (cid, "payment")):
        patched = client.patch(
            f"/api/conversations/{receipt.conversation_id}",
            json={"contact_reason": reason},
            headers=admin,
        )
        assert patched.status_code == 200, patched.text

    def ids(**params: Any) -> list[str]:
        response = client.get("/api/conversations", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert ids(unassigned="true") == [cid.conversation_id, ana.conversation_id]
    assert ids(contact_reason="delivery") == [bea.conversation_id, ana.conversation_id]
    assert ids(sla_state="breached") == [ana.conversation_id]
    assert ids(sla_state="running", contact_reason="payment") == [cid.conversation_id]
    assert ids(unassigned="true", contact_reason="delivery") == [ana.conversation_id]
    assert ids(sla_state="met") == []

    def refused(status: int, **params: Any) -> dict[str, Any]:
        response = client.get("/api/conversations", params=params, headers=admin)
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()["error"]
        return body

    assert refused(400, contact_reason="weather") == {
        "code": "unknown_contact_reason",
        "message": "contact_reason 'weather' is not one of: "
        + ", ".join(services.settings.contact_reasons),
        "field": "contact_reason",
    }
    assert refused(400, unassigned="true", assignee_id="agent-7") == {
        "code": "conflicting_filters",
        "message": "unassigned and assignee_id cannot be asked together",
        "field": "unassigned",
    }
    assert refused(422, sla_state="late")["message"] == (
        "sla_state: Input should be 'breached', 'warning', 'running', 'paused' or 'met'"
    )


def test_a_customers_conversations_are_listed_under_the_customer(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    ana = receive(services, "sms", ANA_PHONE, "SM1", "hi")
    receive(services, "email", BEA, "<b1@x>", "bea")

    response = client.get(f"/api/customers/{ana.customer_id}/conversations", headers=admin)

    assert response.status_code == 200
    assert response.json() == {"items": [conversation_body(ana)], "next": None}
    missing = client.get("/api/customers/ghost/conversations", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "customer_not_found",
        "message": "no customer ghost",
        "field": "customer_id",
    }


# -- changing --------------------------------------------------------------------------------


def test_status_changes_follow_the_state_machine_and_refusals_write_nothing(
    client: TestClient, services: Services, clock: FixedClock, admin: dict[str, str]
) -> None:
    receipt = receive(services, "sms", ANA_PHONE, "SM1", "hi")
    url = f"/api/conversations/{receipt.conversation_id}/status"
    clock.advance(timedelta(minutes=5))

    resolved = client.post(url, json={"status": "resolved"}, headers=admin)

    assert resolved.status_code == 200
    assert resolved.json() == conversation_body(
        receipt,
        status="resolved",
        resolved_at="2026-05-04T09:05:00Z",
        updated_at="2026-05-04T09:05:00Z",
    )
    before = table_counts(services, *TABLES)
    refused = client.post(url, json={"status": "pending"}, headers=admin)
    assert refused.status_code == 409
    assert refused.json() == {
        "error": {
            "code": "invalid_transition",
            "message": "refused transition resolved -> pending: a resolved conversation can "
            "become closed, open",
            "field": "status",
        }
    }
    same = client.post(url, json={"status": "resolved"}, headers=admin)
    assert same.status_code == 409
    assert same.json()["error"]["code"] == "status_unchanged"
    reopened = client.post(url, json={"status": "open"}, headers=admin)
    assert reopened.status_code == 200
    no_until = client.post(url, json={"status": "snoozed"}, headers=admin)
    assert no_until.status_code == 400
    assert no_until.json()["error"] == {
        "code": "snoozed_until_required",
        "message": "snoozing needs snoozed_until",
        "field": "snoozed_until",
    }
    unknown = client.post(url, json={"status": "archived"}, headers=admin)
    assert unknown.status_code == 422
    assert table_counts(services, *TABLES) == before
    snoozed = client.post(
        url, json={"status": "snoozed", "snoozed_until": "2026-05-05T09:00:00Z"}, headers=admin
    )
    assert snoozed.status_code == 200
    assert (snoozed.json()["status"], snoozed.json()["snoozed_until"]) == (
        "snoozed",
        "2026-05-05T09:00:00Z",
    )


def test_priority_contact_reason_and_labels_change_and_bad_values_write_nothing(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    receipt = receive(services, "sms", ANA_PHONE, "SM1", "hi")
    url = f"/api/conversations/{receipt.conversation_id}"

    changed = client.patch(
        url,
        json={"priority": "high", "contact_reason": "delivery", "labels": [" VIP ", "vip", "late"]},
        headers=admin,
    )

    assert changed.status_code == 200
    assert changed.json() == conversation_body(
        receipt, priority="high", contact_reason="delivery", labels=["vip", "late"]
    )
    cleared = client.patch(url, json={"contact_reason": None}, headers=admin)
    assert cleared.json() == conversation_body(receipt, priority="high", labels=["vip", "late"])
    with services.engines.main.connect() as conn:
        row_before = conn.exec_driver_sql("SELECT * FROM conversations").all()
    refusals = {
        "contact_reason": client.patch(url, json={"contact_reason": "weather"}, headers=admin),
        "labels": client.patch(url, json={"labels": [""]}, headers=admin),
        "priority": client.patch(url, json={"priority": None}, headers=admin),
        "body": client.patch(url, json={}, headers=admin),
    }
    assert {k: (r.status_code, r.json()["error"]["field"]) for k, r in refusals.items()} == {
        "contact_reason": (400, "contact_reason"),
        "labels": (400, "labels"),
        "priority": (400, "priority"),
        "body": (400, "body"),
    }
    assert (
        refusals["contact_reason"]
        .json()["error"]["message"]
        .startswith("contact reason must be one of: order_status, delivery,")
    )
    with services.engines.main.connect() as conn:
        assert conn.exec_driver_sql("SELECT * FROM conversations").all() == row_before


def test_a_reply_is_queued_sent_and_its_delivery_history_readable(
    client: TestClient, services: Services, clock: FixedClock, admin: dict[str, str]
) -> None:
    receipt = receive(services, "sms", ANA, "SM1", "is it shipped?")
    clock.advance(timedelta(minutes=2))

    response = client.post(
        f"/api/conversations/{receipt.conversation_id}/replies",
        json={"text": "Yes, it left today."},
        headers=admin,
    )

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "conversation_id": receipt.conversation_id,
        "seq": 2,
        "direction": "outbound",
        "kind": "message",
        "channel": "sms",
        "account": "+5511900000000",
        "sender_kind": "bot",
        "sender_id": body["sender_id"],
        "sender_name": "test admin",
        "created_at": "2026-05-04T09:02:00Z",
        "subject": None,
        "text": "Yes, it left today.",
        "html": None,
        "to": {"kind": "phone", "value": "+5511988887777"},
        "status": "queued",
        "provider_message_id": None,
        "email_message_id": None,
        "in_reply_to": None,
        "warnings": [],
        "metadata": {},
        "attachments": [],
    }
    assert table_counts(services, "outbox")["outbox"] == 1
    services.process_outbox()
    assert [(o.to, o.text) for o in fake(services, "sms").sent] == [
        (("phone", "+5511988887777"), "Yes, it left today.")
    ]
    clock.advance(timedelta(minutes=1))
    services.record_delivery(DeliveryUpdate("sms", "sms-1", "delivered", AT + timedelta(minutes=3)))
    history = client.get(
        f"/api/conversations/{receipt.conversation_id}/messages/{body['id']}/deliveries",
        headers=admin,
    )
    assert history.json() == {
        "message_id": body["id"],
        "channel": "sms",
        "status": "delivered",
        "items": [
            {"status": "queued", "at": "2026-05-04T09:02:00Z", "error": None},
            {"status": "sent", "at": "2026-05-04T09:02:00Z", "error": None},
            {"status": "delivered", "at": "2026-05-04T09:03:00Z", "error": None},
        ],
    }
    named = client.post(
        f"/api/conversations/{receipt.conversation_id}/replies",
        json={"channel": "email", "text": "Tracking link attached", "subject": "Order 1001"},
        headers=admin,
    )
    assert named.status_code == 201
    assert (named.json()["channel"], named.json()["to"]) == (
        "email",
        {"kind": "email", "value": "ana@example.com"},
    )


def test_a_reply_no_channel_can_take_is_refused_naming_each_reason(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    fake(services, "whatsapp").refuse = "outside the 24-hour window: only approved templates"
    fake(services, "sms").refuse = "the customer opted out of SMS"
    receipt = receive(services, "whatsapp", ANA_PHONE, "w1", "hi")
    before = table_counts(services, *TABLES)

    response = client.post(
        f"/api/conversations/{receipt.conversation_id}/replies",
        json={"text": "hello"},
        headers=admin,
    )

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "channel_unavailable",
            "message": "whatsapp: outside the 24-hour window: only approved templates; "
            "sms: the customer opted out of SMS; "
            "email: the customer has no identifier this channel can reach",
            "field": "channel",
        }
    }
    unknown = client.post(
        f"/api/conversations/{receipt.conversation_id}/replies",
        json={"channel": "fax", "text": "hello"},
        headers=admin,
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_channel"
    empty = client.post(
        f"/api/conversations/{receipt.conversation_id}/replies", json={}, headers=admin
    )
    assert empty.status_code == 400
    assert empty.json()["error"]["code"] == "empty_reply"
    bad = client.post(
        f"/api/conversations/{receipt.conversation_id}/replies",
        json={"text": "see file", "attachments": [{"filename": "a.txt", "content_base64": "%%"}]},
        headers=admin,
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": "invalid_attachment",
        "message": "attachment 0 ('a.txt'): content_base64 is not base64",
        "field": "attachments.0.content_base64",
    }
    assert table_counts(services, *TABLES) == before


def test_a_note_is_stored_with_its_attachment_and_never_sent(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    receipt = receive(services, "sms", ANA_PHONE, "SM1", "hi")
    content = base64.b64encode(b"order 1001 screenshot").decode()

    response = client.post(
        f"/api/conversations/{receipt.conversation_id}/notes",
        json={
            "text": "VIP: call back",
            "attachments": [
                {"filename": "shot.png", "content_type": "image/png", "content_base64": content}
            ],
        },
        headers=admin,
    )

    assert response.status_code == 201
    note = response.json()
    assert (note["direction"], note["channel"], note["status"], note["to"]) == (
        "note",
        "note",
        None,
        None,
    )
    assert [(a["filename"], a["size"]) for a in note["attachments"]] == [("shot.png", 21)]
    services.process_outbox()
    assert fake(services, "sms").sent == []
    assert table_counts(services, "outbox")["outbox"] == 0
    download = client.get(note["attachments"][0]["url"], headers=admin)
    assert (download.content, download.headers["content-type"]) == (
        b"order 1001 screenshot",
        "image/png",
    )


def test_a_send_that_keeps_failing_ends_failed_not_queued(
    client: TestClient, services: Services, clock: FixedClock, admin: dict[str, str]
) -> None:
    fake(services, "sms").fail = "provider timed out"
    receipt = receive(services, "sms", ANA_PHONE, "SM1", "hi")
    sent = client.post(
        f"/api/conversations/{receipt.conversation_id}/replies",
        json={"text": "hello"},
        headers=admin,
    ).json()

    assert services.process_outbox() == 1
    clock.advance(timedelta(seconds=2))
    assert services.process_outbox() == 1

    history = client.get(
        f"/api/conversations/{receipt.conversation_id}/messages/{sent['id']}/deliveries",
        headers=admin,
    ).json()
    assert history == {
        "message_id": sent["id"],
        "channel": "sms",
        "status": "failed",
        "items": [
            {"status": "queued", "at": T0, "error": None},
            {
                "status": "failed",
                "at": "2026-05-04T09:00:02Z",
                "error": "gave up after repeated send failures: provider timed out",
            },
        ],
    }
    clock.advance(timedelta(hours=1))
    assert services.process_outbox() == 0


def test_merge_and_split_move_messages_and_their_timeline_rows(
    client: TestClient, services: Services, clock: FixedClock, admin: dict[str, str]
) -> None:
    first = receive(services, "email", ANA_EMAIL, "<m1@x>", "first")
    client.post(
        f"/api/conversations/{first.conversation_id}/status",
        json={"status": "closed"},
        headers=admin,
    )
    clock.advance(timedelta(minutes=1))
    second = receive(services, "sms", ANA, "SM2", "second")
    clock.advance(timedelta(minutes=1))
    third = receive(services, "sms", ANA, "SM3", "third")
    assert second.conversation_id == third.conversation_id != first.conversation_id

    merged = client.post(
        f"/api/conversations/{second.conversation_id}/merge",
        json={"merged_id": first.conversation_id},
        headers=admin,
    )

    assert merged.status_code == 200
    assert (merged.json()["id"], merged.json()["channels"]) == (
        second.conversation_id,
        ["sms", "email"],
    )
    detail = client.get(f"/api/conversations/{second.conversation_id}", headers=admin).json()
    assert [(m["text"], m["seq"]) for m in detail["messages"]["items"]] == [
        ("first", 1),
        ("second", 2),
        ("third", 3),
    ]
    old = client.get(f"/api/conversations/{first.conversation_id}", headers=admin).json()
    assert (old["conversation"]["merged_into"], old["messages"]["items"]) == (
        second.conversation_id,
        [],
    )

    split = client.post(
        f"/api/conversations/{second.conversation_id}/split",
        json={"message_id": third.message_id},
        headers=admin,
    )

    assert split.status_code == 201
    new_id = split.json()["id"]
    assert (split.json()["split_from"], split.json()["channels"]) == (
        second.conversation_id,
        ["sms"],
    )
    timeline = client.get(
        f"/api/customers/{first.customer_id}/timeline", params={"order": "asc"}, headers=admin
    ).json()
    assert [(t["message_id"], t["properties"]["conversation_id"]) for t in timeline["items"]] == [
        (first.message_id, second.conversation_id),
        (second.message_id, second.conversation_id),
        (third.message_id, new_id),
    ]


def test_merge_and_split_refusals_write_nothing(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    ana = receive(services, "sms", ANA_PHONE, "SM1", "ana")
    bea = receive(services, "email", BEA, "<b1@x>", "bea")
    before = table_counts(services, *TABLES)
    url = f"/api/conversations/{ana.conversation_id}"

    answers = [
        client.post(f"{url}/merge", json={"merged_id": bea.conversation_id}, headers=admin),
        client.post(f"{url}/merge", json={"merged_id": ana.conversation_id}, headers=admin),
        client.post(f"{url}/merge", json={"merged_id": "ghost"}, headers=admin),
        client.post(f"{url}/split", json={"message_id": ana.message_id}, headers=admin),
        client.post(f"{url}/split", json={"message_id": bea.message_id}, headers=admin),
    ]

    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [
        (409, "different_customers"),
        (400, "merge_self"),
        (404, "conversation_not_found"),
        (400, "split_at_first"),
        (404, "message_not_found"),
    ]
    assert table_counts(services, *TABLES) == before


# -- the customer context --------------------------------------------------------------------


def test_the_context_lists_open_and_recent_conversations_with_their_channels(
    client: TestClient, services: Services, clock: FixedClock, admin: dict[str, str]
) -> None:
    old = receive(services, "email", ANA_EMAIL, "<m1@x>", "old")
    client.post(
        f"/api/conversations/{old.conversation_id}/status",
        json={"status": "closed"},
        headers=admin,
    )
    clock.advance(timedelta(hours=1))
    current = receive(services, "web_chat", (("anonymous_id", "anon-1"), *ANA_EMAIL), "c1", "hi")
    receive(services, "sms", ANA, "SM1", "there")

    context = client.get(f"/api/customers/{current.customer_id}/context", headers=admin).json()

    summary = {
        "id": current.conversation_id,
        "status": "open",
        "priority": "normal",
        "subject": None,
        "contact_reason": None,
        "channels": ["web_chat", "sms"],
        "last_inbound_channel": "sms",
        "last_message_at": "2026-05-04T10:00:00Z",
        "assignee_id": None,
        "team_id": None,
        "labels": [],
        "created_at": "2026-05-04T10:00:00Z",
    }
    assert context["conversations"] == [
        summary,
        {
            **summary,
            "id": old.conversation_id,
            "status": "closed",
            "channels": ["email"],
            "last_inbound_channel": "email",
            "last_message_at": T0,
            "created_at": T0,
        },
    ]
    add_user(services, "marketer@shop.example", "marketer")
    marketer = {"Authorization": f"Bearer {sign_in(services, 'marketer@shop.example')}"}
    limited = client.get(f"/api/customers/{current.customer_id}/context", headers=marketer)
    assert limited.status_code == 200
    assert limited.json()["conversations"] is None


def test_when_two_customers_merge_their_conversations_follow_the_survivor(
    client: TestClient, services: Services, clock: FixedClock, admin: dict[str, str]
) -> None:
    by_phone = receive(services, "sms", ANA_PHONE, "SM1", "from my phone")
    clock.advance(timedelta(minutes=1))
    by_email = receive(services, "email", ANA_EMAIL, "<m1@x>", "from my email")
    assert by_phone.customer_id != by_email.customer_id
    assert by_phone.conversation_id != by_email.conversation_id
    clock.advance(timedelta(minutes=1))
    linking = receive(services, "whatsapp", ANA, "w1", "both")
    survivor = linking.customer_id
    loser = ({by_phone.customer_id, by_email.customer_id} - {survivor}).pop()

    listed = client.get(f"/api/customers/{loser}/conversations", headers=admin)

    assert listed.status_code == 200
    assert [(c["id"], c["customer_id"]) for c in listed.json()["items"]] == [
        (linking.conversation_id, survivor),
        *[
            (r.conversation_id, survivor)
            for r in (by_email, by_phone)
            if r.conversation_id != linking.conversation_id
        ],
    ]
    filtered = client.get("/api/conversations", params={"customer_id": loser}, headers=admin)
    assert filtered.json()["items"] == listed.json()["items"]

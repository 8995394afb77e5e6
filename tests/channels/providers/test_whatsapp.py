"""WhatsApp Cloud API: the handshake, HMAC signatures, notification parsing, the 24-hour
window, and the Graph API requests the sender makes."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnicx.channels.whatsapp import WhatsAppCloud, sign
from omnicx.config import Settings
from omnicx.conversations import (
    AttachmentIn,
    DeliveryUpdate,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
    Template,
    ThreadHints,
)
from omnicx.kernel import Invalid
from tests.channels.providers.conftest import (
    APP_SECRET,
    VERIFY_TOKEN,
    WA_NUMBER_ID,
    WA_TOKEN,
    FakeProvider,
    provider_settings,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SENT_AT = int((NOW - timedelta(minutes=1)).timestamp())
GRAPH = "https://graph.test/v21.0"


def whatsapp(tmp_path: Path, provider: FakeProvider, **overrides: object) -> WhatsAppCloud:
    settings = Settings(data_dir=tmp_path, **{**provider_settings(), **overrides})
    return WhatsAppCloud(settings, provider.client())


def notification(
    messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511930003000", "phone_number_id": WA_NUMBER_ID},
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": "Ana Souza"}, "wa_id": "5511988887777"}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}],
    }


def text_message(body: str = "Oi, meu pedido?", wamid: str = "wamid.A1") -> dict[str, Any]:
    return {
        "from": "5511988887777",
        "id": wamid,
        "timestamp": str(SENT_AT),
        "type": "text",
        "text": {"body": body},
    }


def test_the_handshake_answers_only_the_verify_token(
    tmp_path: Path, provider: FakeProvider
) -> None:
    cloud = whatsapp(tmp_path, provider)
    assert cloud.handshake("subscribe", VERIFY_TOKEN) is True
    assert cloud.handshake("subscribe", "wrong") is False
    assert cloud.handshake("unsubscribe", VERIFY_TOKEN) is False
    assert cloud.handshake(None, None) is False
    assert (
        whatsapp(tmp_path, provider, whatsapp_verify_token=None).handshake(
            "subscribe", VERIFY_TOKEN
        )
        is False
    )


def test_the_signature_is_the_hmac_sha256_of_the_raw_body(
    tmp_path: Path, provider: FakeProvider
) -> None:
    cloud = whatsapp(tmp_path, provider)
    body = json.dumps(notification([text_message()])).encode()
    header = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()

    assert sign(body, APP_SECRET) == header
    assert cloud.verify(body, header) is True
    assert cloud.verify(body + b" ", header) is False
    assert cloud.verify(body, sign(body, "another-secret")) is False
    assert cloud.verify(body, header.removeprefix("sha256=")) is False
    assert cloud.verify(body, None) is False
    assert whatsapp(tmp_path, provider, whatsapp_app_secret=None).verify(body, header) is False


def test_a_text_message_names_the_customer_by_phone_and_whatsapp_id(
    tmp_path: Path, provider: FakeProvider
) -> None:
    reply = {**text_message(), "context": {"from": "5511930003000", "id": "wamid.OURS"}}
    parsed = whatsapp(tmp_path, provider).parse(notification([reply]), NOW)

    (message,) = parsed.messages
    assert parsed.statuses == ()
    assert message.channel == "whatsapp"
    assert message.account == WA_NUMBER_ID
    assert message.sender == (("phone", "+5511988887777"), ("whatsapp_id", "5511988887777"))
    assert message.sender_name == "Ana Souza"
    assert message.provider_message_id == "wamid.A1"
    assert message.text == "Oi, meu pedido?"
    assert message.received_at == datetime.fromtimestamp(SENT_AT, UTC)
    assert message.thread == ThreadHints(in_reply_to="wamid.OURS")
    assert message.metadata == {"wa_type": "text", "display_phone_number": "5511930003000"}


def test_media_is_fetched_through_the_graph_api_with_the_number_s_token(
    tmp_path: Path, provider: FakeProvider
) -> None:
    provider.answers[("GET", f"{GRAPH}/MEDIA1")] = httpx.Response(
        200, json={"url": "https://lookaside.test/MEDIA1", "mime_type": "application/pdf"}
    )
    provider.answers[("GET", "https://lookaside.test/MEDIA1")] = httpx.Response(
        200, content=b"%PDF-1.7", headers={"content-type": "application/pdf"}
    )
    document = {
        "from": "5511988887777",
        "id": "wamid.D1",
        "timestamp": str(SENT_AT),
        "type": "document",
        "document": {
            "id": "MEDIA1",
            "filename": "nota-fiscal.pdf",
            "mime_type": "application/pdf",
            "caption": "segue a nota",
        },
    }
    image = {
        "from": "5511988887777",
        "id": "wamid.I1",
        "timestamp": str(SENT_AT),
        "type": "image",
        "image": {"id": "MISSING", "mime_type": "image/jpeg"},
    }

    parsed = whatsapp(tmp_path, provider).parse(notification([document, image]), NOW)

    doc, img = parsed.messages
    assert doc.text == "segue a nota"
    assert doc.attachments == (AttachmentIn("nota-fiscal.pdf", "application/pdf", b"%PDF-1.7"),)
    assert doc.warnings == ()
    assert img.attachments == ()
    assert img.warnings == ("image MISSING not fetched: the Graph API gave no URL",)
    assert img.metadata["media_id"] == "MISSING"
    assert [r.headers["authorization"] for r in provider.requests] == [f"Bearer {WA_TOKEN}"] * 3
    assert [str(r.url) for r in provider.requests] == [
        f"{GRAPH}/MEDIA1",
        "https://lookaside.test/MEDIA1",
        f"{GRAPH}/MISSING",
    ]


def test_location_contacts_buttons_and_unknown_types(
    tmp_path: Path, provider: FakeProvider
) -> None:
    base = {"from": "5511988887777", "timestamp": str(SENT_AT)}
    messages: list[dict[str, Any]] = [
        {
            **base,
            "id": "w1",
            "type": "location",
            "location": {
                "latitude": -23.561,
                "longitude": -46.656,
                "name": "Loja Paulista",
                "address": "Av. Paulista, 1000",
            },
        },
        {
            **base,
            "id": "w2",
            "type": "contacts",
            "contacts": [
                {"name": {"formatted_name": "Bia"}, "phones": [{"phone": "+55 11 97777-0000"}]}
            ],
        },
        {
            **base,
            "id": "w3",
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sim"}},
        },
        {**base, "id": "w4", "type": "reaction", "reaction": {"emoji": "👍"}},
    ]

    location, contacts, button, reaction = (
        whatsapp(tmp_path, provider).parse(notification(messages), NOW).messages
    )

    assert location.text == "📍 Loja Paulista, Av. Paulista, 1000 (-23.561000, -46.656000)"
    assert location.metadata["location"] == {
        "latitude": -23.561,
        "longitude": -46.656,
        "name": "Loja Paulista",
    }
    assert contacts.text == "Bia: +55 11 97777-0000"
    assert button.text == "Sim"
    assert button.metadata["reply_id"] == "yes"
    assert reaction.text is None
    assert reaction.warnings == (
        "WhatsApp message type 'reaction' is not supported; kept without text",
    )


def test_statuses_become_delivery_updates(tmp_path: Path, provider: FakeProvider) -> None:
    statuses: list[dict[str, Any]] = [
        {"id": "wamid.S1", "status": "delivered", "timestamp": str(SENT_AT), "recipient_id": "1"},
        {"id": "wamid.S1", "status": "read", "timestamp": str(SENT_AT + 5), "recipient_id": "1"},
        {
            "id": "wamid.S2",
            "status": "failed",
            "timestamp": str(SENT_AT),
            "errors": [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "error_data": {"details": "More than 24 hours have passed"},
                }
            ],
        },
        {"id": "wamid.S3", "status": "deleted", "timestamp": str(SENT_AT)},
    ]
    parsed = whatsapp(tmp_path, provider).parse(notification(statuses=statuses), NOW)

    at = datetime.fromtimestamp(SENT_AT, UTC)
    assert parsed.messages == ()
    assert parsed.statuses == (
        DeliveryUpdate("whatsapp", "wamid.S1", "delivered", at, None),
        DeliveryUpdate("whatsapp", "wamid.S1", "read", at + timedelta(seconds=5), None),
        DeliveryUpdate(
            "whatsapp",
            "wamid.S2",
            "failed",
            at,
            "WhatsApp error 131047: Re-engagement message (More than 24 hours have passed)",
        ),
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"object": "page", "entry": []}, "object"),
        ({"object": "whatsapp_business_account", "entry": {}}, "entry"),
        ({"object": "whatsapp_business_account", "entry": [{"changes": [1]}]}, "entry.changes"),
        (notification([{**text_message(), "from": "abc"}]), "from"),
        (notification([{**text_message(), "id": ""}]), "messages.id"),
        (notification([{**text_message(), "type": "location", "location": {}}]), "location"),
    ],
)
def test_malformed_notifications_are_refused_naming_the_field(
    tmp_path: Path, provider: FakeProvider, payload: Any, field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        whatsapp(tmp_path, provider).parse(payload, NOW)
    assert caught.value.field == field


def context(**changes: object) -> SendContext:
    values: dict[str, object] = {
        "customer_id": "c1",
        "conversation_id": "v1",
        "channel": "whatsapp",
        "account": WA_NUMBER_ID,
        "to": ("whatsapp_id", "5511988887777"),
        "now": NOW,
        "last_inbound_at": NOW - timedelta(hours=23, minutes=59),
        **changes,
    }
    return SendContext(**values)  # type: ignore[arg-type]


def test_the_24_hour_window_allows_free_text_and_outside_it_only_templates(
    tmp_path: Path, provider: FakeProvider
) -> None:
    cloud = whatsapp(tmp_path, provider)
    late = NOW - timedelta(hours=24, seconds=1)
    template = Template("order_update", "pt_BR", ("Ana",))

    assert cloud.can_send(context()) is None
    assert cloud.can_send(context(last_inbound_at=late)) == (
        "outside WhatsApp's 24-hour customer-service window (the customer last wrote at "
        "2026-11-22 11:59 UTC): only an approved template can be sent"
    )
    assert cloud.can_send(context(last_inbound_at=late, template=template)) is None
    assert cloud.can_send(context(last_inbound_at=None)) == (
        "the customer has never written on WhatsApp: only an approved template can start "
        "the conversation"
    )
    assert cloud.can_send(context(last_inbound_at=None, template=template)) is None
    assert cloud.can_send(context(to=("email", "a@b.example"))) == (
        "WhatsApp needs the customer's WhatsApp number"
    )
    assert whatsapp(tmp_path, provider, whatsapp_numbers={}).can_send(context()) == (
        "no WhatsApp number is configured to send from"
    )


def test_with_an_approved_list_only_those_templates_are_sent(
    tmp_path: Path, provider: FakeProvider
) -> None:
    numbers = {
        name: {**number, "templates": {"order_update": ["pt_BR", "en_US"]}}
        for name, number in provider_settings()["whatsapp_numbers"].items()
    }
    cloud = whatsapp(tmp_path, provider, whatsapp_numbers=numbers)
    late = NOW - timedelta(days=3)
    assert (
        cloud.can_send(
            context(last_inbound_at=late, template=Template("order_update", "pt_BR", ("Ana",)))
        )
        is None
    )
    assert (
        cloud.can_send(
            context(last_inbound_at=late, template=Template("order_update", "es", ("Ana",)))
        )
        == "template 'order_update' in es is not approved for this WhatsApp number"
    )
    assert (
        cloud.can_send(context(last_inbound_at=late, template=Template("promo_blast", "pt_BR")))
        == "template 'promo_blast' in pt_BR is not approved for this WhatsApp number"
    )


def outbound(**changes: object) -> OutboundMessage:
    values: dict[str, object] = {
        "message_id": "m1",
        "conversation_id": "v1",
        "channel": "whatsapp",
        "account": WA_NUMBER_ID,
        "to": ("whatsapp_id", "5511988887777"),
        "text": "Chegou! Pode retirar hoje.",
        **changes,
    }
    return OutboundMessage(**values)  # type: ignore[arg-type]


MESSAGES = f"{GRAPH}/{WA_NUMBER_ID}/messages"


def test_send_text_posts_the_cloud_api_message(tmp_path: Path, provider: FakeProvider) -> None:
    provider.answers[("POST", MESSAGES)] = httpx.Response(
        200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT1"}]}
    )
    result = whatsapp(tmp_path, provider).send(outbound(to=("phone", "+5511988887777")))

    assert result == SendResult("wamid.OUT1", "sent")
    (request,) = provider.requests
    assert request.headers["authorization"] == f"Bearer {WA_TOKEN}"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511988887777",
        "type": "text",
        "text": {"body": "Chegou! Pode retirar hoje.", "preview_url": False},
    }


def test_send_a_template_with_its_parameters(tmp_path: Path, provider: FakeProvider) -> None:
    provider.answers[("POST", MESSAGES)] = httpx.Response(
        200, json={"messages": [{"id": "wamid.T1"}]}
    )
    template = Template("order_ready", "pt_BR", ("Ana", "#1042"))
    assert whatsapp(tmp_path, provider).send(outbound(template=template, text=None)) == (
        SendResult("wamid.T1", "sent")
    )
    assert json.loads(provider.requests[0].content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511988887777",
        "type": "template",
        "template": {
            "name": "order_ready",
            "language": {"code": "pt_BR"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ana"},
                        {"type": "text", "text": "#1042"},
                    ],
                }
            ],
        },
    }


def test_attachments_are_uploaded_then_sent_after_the_text(
    tmp_path: Path, provider: FakeProvider
) -> None:
    ids = iter(["wamid.X1", "wamid.X2"])
    provider.answers[("POST", f"{GRAPH}/{WA_NUMBER_ID}/media")] = httpx.Response(
        200, json={"id": "UPLOADED1"}
    )
    provider.answers[("POST", MESSAGES)] = lambda _: httpx.Response(
        200, json={"messages": [{"id": next(ids)}]}
    )
    pdf = AttachmentIn("troca.pdf", "application/pdf", b"%PDF")

    result = whatsapp(tmp_path, provider).send(outbound(attachments=(pdf,)))

    assert result == SendResult("wamid.X1", "sent")
    upload, text, document = provider.requests
    assert b'name="file"; filename="troca.pdf"' in upload.content
    assert b"%PDF" in upload.content
    assert json.loads(text.content)["type"] == "text"
    assert json.loads(document.content)["document"] == {"id": "UPLOADED1", "filename": "troca.pdf"}


def test_a_failure_after_a_part_went_out_is_not_retried(
    tmp_path: Path, provider: FakeProvider
) -> None:
    answers = iter(
        [
            httpx.Response(200, json={"messages": [{"id": "wamid.X1"}]}),
            httpx.Response(503, json={"error": {"message": "Service unavailable", "code": 2}}),
        ]
    )
    provider.answers[("POST", f"{GRAPH}/{WA_NUMBER_ID}/media")] = httpx.Response(
        200, json={"id": "UPLOADED1"}
    )
    provider.answers[("POST", MESSAGES)] = lambda _: next(answers)
    pdf = AttachmentIn("troca.pdf", "application/pdf", b"%PDF")

    with pytest.raises(SendFailed) as caught:
        whatsapp(tmp_path, provider).send(outbound(attachments=(pdf,)))

    assert caught.value.retry is False
    assert str(caught.value) == (
        "sent 1 of 2 parts, then: WhatsApp answered 503: Service unavailable (code 2)"
    )


def test_outside_the_window_meta_s_refusal_is_permanent(
    tmp_path: Path, provider: FakeProvider
) -> None:
    provider.answers[("POST", MESSAGES)] = httpx.Response(
        400,
        json={"error": {"message": "Re-engagement message", "code": 131047, "type": "OAuth"}},
    )
    with pytest.raises(SendFailed) as caught:
        whatsapp(tmp_path, provider).send(outbound())
    assert (str(caught.value), caught.value.retry) == (
        "WhatsApp answered 400: Re-engagement message (code 131047)",
        False,
    )

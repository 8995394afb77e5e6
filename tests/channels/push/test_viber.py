"""Viber against a local server speaking its REST Bot API, and its signed callbacks through the
real app on both databases: messages join conversations, receipts move replies and land on the
timeline, a bad signature is refused with nothing stored."""

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from omnicx.access import principal_for_role
from omnicx.bootstrap import Services
from omnicx.channels.viber import ViberBot, sign
from omnicx.config import Settings
from omnicx.conversations import OutboundMessage, Reply, SendContext, SendFailed
from omnicx.kernel import Invalid
from tests.channels.push.conftest import VIBER_TOKEN, Answer, LocalServer, answer, timeline
from tests.conftest import table_counts

AGENT = principal_for_role("user", "agent-1", "Rita", "agent")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
USER = "01234567890A="
STORED = ("profiles", "identifiers", "conversations", "messages", "events")


def bot(tmp_path: Any, server: LocalServer, client: httpx.Client) -> ViberBot:
    settings = Settings(
        data_dir=tmp_path,
        viber_auth_token=VIBER_TOKEN,
        viber_api_base_url=server.url,
        viber_sender_name="Shop",
        viber_sender_avatar="https://shop.example/logo.png",
    )
    return ViberBot(settings, client)


def out(
    text: str = "Hello from the shop", to: tuple[str, str] = ("viber_id", USER)
) -> OutboundMessage:
    return OutboundMessage("m-1", "c-1", "viber", None, to, text)


def test_send_message_carries_the_auth_token_and_the_sender(
    tmp_path: Any, server: LocalServer
) -> None:
    server.routes[("POST", "/pa/send_message")] = answer(
        200, {"status": 0, "status_message": "ok", "message_token": 5741311803571721087}
    )
    with httpx.Client(timeout=5) as client:
        result = bot(tmp_path, server, client).send(out())

    assert (result.provider_message_id, result.status) == ("5741311803571721087", "sent")
    (seen,) = server.seen
    assert seen.headers["x-viber-auth-token"] == VIBER_TOKEN
    assert seen.json() == {
        "receiver": USER,
        "min_api_version": 1,
        "sender": {"name": "Shop", "avatar": "https://shop.example/logo.png"},
        "tracking_data": "m-1",
        "type": "text",
        "text": "Hello from the shop",
    }


@pytest.mark.parametrize(
    ("reply", "retry"),
    [
        (answer(200, {"status": 6, "status_message": "receiverNotSubscribed"}), False),
        (answer(200, {"status": 5, "status_message": "receiverNotRegistered"}), False),
        (answer(200, {"status": 12, "status_message": "tooManyRequests"}), True),
        (answer(200, {"status": 2, "status_message": "invalidAuthToken"}), True),
        (answer(503, {"status_message": "down"}), True),
        (answer(200, {"status": 0}), False),
    ],
)
def test_viber_refusals_say_whether_to_retry(
    tmp_path: Any, server: LocalServer, reply: Answer, retry: bool
) -> None:
    server.routes[("POST", "/pa/send_message")] = reply
    with httpx.Client(timeout=5) as client, pytest.raises(SendFailed) as caught:
        bot(tmp_path, server, client).send(out())
    assert caught.value.retry is retry


def test_what_viber_cannot_send_is_said_before_queueing(tmp_path: Any, server: LocalServer) -> None:
    with httpx.Client(timeout=5) as client:
        viber = bot(tmp_path, server, client)
        ctx = SendContext("cu", "c", "viber", None, ("viber_id", USER), NOW, None)
        assert viber.can_send(ctx) is None
        assert "Viber id" in str(
            viber.can_send(SendContext("cu", "c", "viber", None, ("phone", "+55"), NOW, None))
        )
        files = SendContext(
            "cu", "c", "viber", None, ("viber_id", USER), NOW, None, has_attachments=True
        )
        assert "public URL" in str(viber.can_send(files))
        with pytest.raises(SendFailed) as caught:
            viber.send(out("x" * 7001))
        assert caught.value.retry is False
    assert server.seen == []


def test_the_signature_is_the_body_s_hmac_with_the_auth_token(
    tmp_path: Any, server: LocalServer
) -> None:
    body = b'{"event":"webhook","timestamp":1,"message_token":1}'
    with httpx.Client(timeout=5) as client:
        viber = bot(tmp_path, server, client)
        assert viber.verify(body, sign(body, VIBER_TOKEN)) is True
        assert viber.verify(body, sign(body, VIBER_TOKEN).upper()) is True
        assert viber.verify(body + b" ", sign(body, VIBER_TOKEN)) is False
        assert viber.verify(body, sign(body, "another-token")) is False
        assert viber.verify(body, None) is False
        with pytest.raises(Invalid):
            viber.parse({"event": "message", "message_token": 1, "sender": "x"}, NOW)


# -- through the app --------------------------------------------------------------------------


def post(client: TestClient, payload: dict[str, Any], token: str = VIBER_TOKEN) -> Any:
    body = json.dumps(payload).encode()
    return client.post(
        "/webhooks/viber",
        content=body,
        headers={
            "content-type": "application/json",
            "X-Viber-Content-Signature": sign(body, token),
        },
    )


def message_callback(text: str, token: int = 4912661846655238145) -> dict[str, Any]:
    return {
        "event": "message",
        "timestamp": 1763899200000,
        "message_token": token,
        "sender": {
            "id": USER,
            "name": "Ana Souza",
            "language": "pt",
            "country": "BR",
            "api_version": 10,
        },
        "message": {"type": "text", "text": text, "tracking_data": "x"},
    }


def test_a_signed_message_joins_a_conversation_once(client: TestClient, services: Services) -> None:
    first = post(client, message_callback("Oi, meu pedido?"))
    assert first.status_code == 200, first.text
    assert first.json() == {"messages": 1, "statuses": 0}
    assert post(client, message_callback("Oi, meu pedido?")).status_code == 200

    with services.uow(write=False) as uow:
        stored = services.conversations(uow).by_provider_id("viber", "4912661846655238145")
    assert stored is not None
    assert (stored.direction, stored.text, stored.sender_name) == (
        "inbound",
        "Oi, meu pedido?",
        "Ana Souza",
    )
    assert stored.metadata["language"] == "pt"
    assert table_counts(services, "messages") == {"messages": 1}


def test_a_bad_or_missing_signature_is_refused_with_nothing_stored(
    client: TestClient, services: Services
) -> None:
    forged = post(client, message_callback("forged"), token="not-the-token")
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "invalid_signature"
    unsigned = client.post("/webhooks/viber", json=message_callback("unsigned"))
    assert unsigned.status_code == 403
    assert unsigned.json()["error"]["code"] == "missing_signature"
    assert table_counts(services, *STORED) == dict.fromkeys(STORED, 0)


def test_a_reply_goes_out_and_its_receipts_land_on_the_timeline(
    client: TestClient, services: Services, server: LocalServer, admin: dict[str, str]
) -> None:
    server.routes[("POST", "/pa/send_message")] = answer(200, {"status": 0, "message_token": 777})
    post(client, message_callback("Oi"))
    with services.uow(write=False) as uow:
        inbound = services.conversations(uow).by_provider_id("viber", "4912661846655238145")
    assert inbound is not None
    reply = services.reply(
        inbound.conversation_id, Reply(author=AGENT, channel="auto", text="Olá!")
    )
    assert (reply.channel, reply.to) == ("viber", ("viber_id", USER))
    assert services.process_outbox() == 1
    assert server.on("POST", "/pa/send_message")[0].json()["text"] == "Olá!"

    for event, at in (("delivered", 1763899260000), ("seen", 1763899320000)):
        answered = post(
            client, {"event": event, "timestamp": at, "message_token": 777, "user_id": USER}
        )
        assert answered.json() == {"messages": 0, "statuses": 1}
    unknown = post(client, {"event": "seen", "timestamp": 1, "message_token": 1, "user_id": USER})
    assert unknown.json() == {"messages": 0, "statuses": 0}

    with services.uow(write=False) as uow:
        sent = services.conversations(uow).message(reply.id)
    assert sent is not None
    assert (sent.status, sent.provider_message_id) == ("read", "777")
    assert timeline(client, admin, inbound.customer_id) == [
        ("Message Delivered", "viber", "delivered"),
        ("Message Read", "viber", "read"),
    ]


def test_subscriptions_land_on_a_known_customer_s_timeline(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    stranger = {
        "event": "subscribed",
        "timestamp": 1,
        "message_token": 5,
        "user": {"id": "nobody="},
    }
    assert post(client, stranger).status_code == 200
    assert table_counts(services, "profiles", "events") == {"profiles": 0, "events": 0}

    post(client, message_callback("Oi"))
    with services.uow(write=False) as uow:
        inbound = services.conversations(uow).by_provider_id("viber", "4912661846655238145")
    assert inbound is not None
    for payload in (
        {"event": "unsubscribed", "timestamp": 1763899500000, "message_token": 6, "user_id": USER},
        {"event": "unsubscribed", "timestamp": 1763899500000, "message_token": 6, "user_id": USER},
        {"event": "webhook", "timestamp": 1, "message_token": 7},
    ):
        assert post(client, payload).status_code == 200
    events = client.get(
        f"/api/customers/{inbound.customer_id}/timeline", params={"order": "asc"}, headers=admin
    ).json()["items"]
    assert [(e["event"], e["channel"]) for e in events if e["source_id"] == "viber"] == [
        ("Channel Unsubscribed", "viber")
    ]


def test_without_a_token_viber_is_not_configured(make_settings: Any, tmp_path: Any) -> None:
    from omnicx.asgi import app_for
    from omnicx.bootstrap import build
    from omnicx.db.migrate import upgrade

    services = build(make_settings())
    upgrade(services.engines)
    try:
        with TestClient(app_for(services, run_worker=False)) as plain:
            response = plain.post("/webhooks/viber", json={"event": "webhook"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "channel_not_configured"
        assert "viber" not in services.channel_senders
    finally:
        services.close()

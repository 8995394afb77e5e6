"""The public provider webhooks against the real app and database: requests signed with the
providers' own schemes are stored in the customer's conversation; a bad or missing signature
is refused with nothing stored; replies leave through the providers' APIs."""

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from omnicx.access import principal_for_role
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.channels.whatsapp import sign
from omnicx.config import Settings
from omnicx.conversations import Message, Reply, Template
from omnicx.db.migrate import upgrade
from omnicx.kernel import Conflict
from tests.channels.providers.conftest import (
    APP_SECRET,
    BOT_SECRET,
    BOT_TOKEN,
    PUBLIC,
    SHOP_NUMBER,
    TWILIO_SID,
    TWILIO_TOKEN,
    VERIFY_TOKEN,
    WA_NUMBER_ID,
    FakeProvider,
    provider_settings,
)
from tests.conftest import table_counts

STORED = ("profiles", "identifiers", "conversations", "messages", "message_attachments")
NOTHING = dict.fromkeys(STORED, 0)
SMS_SID = "SM" + "c" * 32
AGENT = principal_for_role("user", "agent-1", "Rita", "agent")


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**provider_settings())


@pytest.fixture
def connected(services: Services, provider: FakeProvider) -> Services:
    """The providers' adapters talk to the fake provider."""
    client = provider.client()
    services.twilio.client = client
    services.whatsapp.client = client
    services.telegram.client = client
    return services


@pytest.fixture
def app(connected: Services) -> Iterator[TestClient]:
    with TestClient(app_for(connected, run_worker=False)) as test_client:
        yield test_client


def twilio_post(
    client: TestClient, path: str, values: dict[str, str], token: str = TWILIO_TOKEN
) -> httpx2.Response:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, values)
    return client.post(
        path,
        content=urlencode(values),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def sms(**extra: str) -> dict[str, str]:
    return {
        "MessageSid": SMS_SID,
        "AccountSid": TWILIO_SID,
        "From": "+55 11 98888-7777",
        "To": SHOP_NUMBER,
        "Body": "Meu pedido chegou?",
        "NumMedia": "0",
        **extra,
    }


def stored(services: Services, channel: str, provider_id: str) -> Message:
    with services.uow(write=False) as uow:
        message = services.conversations(uow).by_provider_id(channel, provider_id)
    assert message is not None
    return message


def identifiers(services: Services, customer_id: str) -> set[tuple[str, str]]:
    with services.uow(write=False) as uow:
        return {(i["kind"], i["value"]) for i in services.profiles(uow).identifiers_of(customer_id)}


def test_a_signed_sms_is_stored_once_in_the_customer_s_conversation(
    app: TestClient, connected: Services
) -> None:
    response = twilio_post(app, "/webhooks/twilio/sms", sms())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    message = stored(connected, "sms", SMS_SID)
    assert (message.direction, message.channel, message.account) == ("inbound", "sms", SHOP_NUMBER)
    assert message.text == "Meu pedido chegou?"
    assert identifiers(connected, message.customer_id) == {("phone", "+5511988887777")}

    again = twilio_post(app, "/webhooks/twilio/sms", sms())
    assert again.status_code == 200
    assert table_counts(connected, "messages", "conversations") == {
        "messages": 1,
        "conversations": 1,
    }


def test_mms_media_is_stored_as_attachments(
    app: TestClient, connected: Services, provider: FakeProvider
) -> None:
    media = "https://twilio.test/media/ME1"
    provider.answers[("GET", media)] = httpx.Response(
        200, content=b"\x89PNG", headers={"content-type": "image/png"}
    )
    values = sms(Body="a etiqueta", NumMedia="1", MediaUrl0=media, MediaContentType0="image/png")

    assert twilio_post(app, "/webhooks/twilio/sms", values).status_code == 200

    message = stored(connected, "sms", SMS_SID)
    assert [(a.filename, a.content_type, a.size) for a in message.attachments] == [
        ("media-0.png", "image/png", 4)
    ]


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        ({"NumMedia": "eleven"}, "invalid_num_media", "NumMedia"),
        ({"From": "whatsapp:+5511987654321"}, "unsupported_channel", "From"),
    ],
)
def test_a_signed_sms_that_is_not_one_stores_nothing(
    app: TestClient, connected: Services, extra: dict[str, str], code: str, field: str
) -> None:
    response = twilio_post(app, "/webhooks/twilio/sms", sms(**extra))

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert table_counts(connected, "messages", "conversations", "profiles") == {
        "messages": 0,
        "conversations": 0,
        "profiles": 0,
    }


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({}, "missing_signature", "the request has no X-Twilio-Signature header"),
        (
            {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
            "invalid_signature",
            "X-Twilio-Signature does not match this URL and body for any Twilio account",
        ),
    ],
)
def test_an_unsigned_or_badly_signed_sms_stores_nothing(
    app: TestClient, connected: Services, headers: dict[str, str], code: str, message: str
) -> None:
    response = app.post(
        "/webhooks/twilio/sms",
        content=urlencode(sms()),
        headers={"content-type": "application/x-www-form-urlencoded", **headers},
    )

    assert response.status_code == 403
    assert response.json() == {
        "error": {"code": code, "message": message, "field": "X-Twilio-Signature"}
    }
    assert table_counts(connected, *STORED) == NOTHING


def test_a_signature_by_another_token_or_for_another_body_stores_nothing(
    app: TestClient, connected: Services
) -> None:
    forged = twilio_post(app, "/webhooks/twilio/sms", sms(), token="guessed-token")
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        PUBLIC + "/webhooks/twilio/sms", sms()
    )
    tampered = app.post(
        "/webhooks/twilio/sms",
        content=urlencode(sms(Body="tampered")),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )

    assert [forged.status_code, tampered.status_code] == [403, 403]
    assert tampered.json()["error"]["code"] == "invalid_signature"
    assert table_counts(connected, *STORED) == NOTHING


def test_a_signed_but_malformed_form_is_refused_naming_the_field(
    app: TestClient, connected: Services
) -> None:
    values = sms()
    del values["From"]
    response = twilio_post(app, "/webhooks/twilio/sms", values)

    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "missing_field", "message": "the form has no From", "field": "From"}
    }
    assert table_counts(connected, *STORED) == NOTHING


def test_the_signed_url_is_the_forwarded_one_only_from_a_trusted_proxy(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        **{**provider_settings(), "public_base_url": None, "trusted_proxies": ["10.0.0.0/8"]}
    )
    services = build(settings)
    upgrade(services.engines)
    url = "https://cx.shop.example/webhooks/twilio/sms"
    values = sms()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, values),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "cx.shop.example",
    }
    try:
        app = app_for(services, run_worker=False)
        with TestClient(app, client=("203.0.113.9", 5000)) as outsider:
            refused = outsider.post(
                "/webhooks/twilio/sms", content=urlencode(values), headers=headers
            )
        assert refused.status_code == 403
        assert table_counts(services, *STORED) == NOTHING
        with TestClient(app, client=("10.1.2.3", 5000)) as proxy:
            accepted = proxy.post(
                "/webhooks/twilio/sms", content=urlencode(values), headers=headers
            )
        assert accepted.status_code == 200
        assert table_counts(services, "messages")["messages"] == 1
    finally:
        services.close()


def test_an_sms_reply_goes_out_through_twilio_and_its_statuses_are_recorded(
    app: TestClient, connected: Services, provider: FakeProvider
) -> None:
    messages_api = f"https://twilio.test/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    provider.answers[("POST", messages_api)] = httpx.Response(
        201, json={"sid": "SM" + "d" * 32, "status": "queued"}
    )
    assert twilio_post(app, "/webhooks/twilio/sms", sms()).status_code == 200
    conversation_id = stored(connected, "sms", SMS_SID).conversation_id

    reply = connected.reply(conversation_id, Reply(author=AGENT, channel="auto", text="Chegou!"))
    assert (reply.channel, reply.status) == ("sms", "queued")
    assert connected.process_outbox() == 1

    (request,) = provider.requests
    assert dict(parse_qsl(request.content.decode())) == {
        "To": "+5511988887777",
        "Body": "Chegou!",
        "From": SHOP_NUMBER,
        "StatusCallback": PUBLIC + "/webhooks/twilio/status",
    }
    for status in ("sent", "delivered"):
        answer = twilio_post(
            app,
            "/webhooks/twilio/status",
            {"MessageSid": "SM" + "d" * 32, "MessageStatus": status, "AccountSid": TWILIO_SID},
        )
        assert answer.status_code == 204
    with connected.uow(write=False) as uow:
        repo = connected.conversations(uow)
        sent = repo.message(reply.id)
        history = repo.deliveries(reply.id)
    assert sent is not None
    assert (sent.status, sent.provider_message_id) == ("delivered", "SM" + "d" * 32)
    assert [h.status for h in history][-2:] == ["sent", "delivered"]


def test_a_status_of_a_message_we_did_not_send_is_acknowledged_and_dropped(
    app: TestClient, connected: Services
) -> None:
    response = twilio_post(
        app, "/webhooks/twilio/status", {"MessageSid": "SMunknown", "MessageStatus": "delivered"}
    )
    assert response.status_code == 204
    assert table_counts(connected, "message_deliveries") == {"message_deliveries": 0}


def whatsapp_post(
    client: TestClient, payload: dict[str, Any], secret: str = APP_SECRET
) -> httpx2.Response:
    body = json.dumps(payload).encode()
    return client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"content-type": "application/json", "X-Hub-Signature-256": sign(body, secret)},
    )


def whatsapp_text(text: str, wamid: str, at: datetime) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "5511930003000",
                                "phone_number_id": WA_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "551188887777"}],
                            "messages": [
                                {
                                    "from": "551188887777",
                                    "id": wamid,
                                    "timestamp": str(int(at.timestamp())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def test_the_whatsapp_handshake_echoes_the_challenge_for_the_verify_token(
    app: TestClient,
) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    ok = app.get("/webhooks/whatsapp", params=query)
    wrong = app.get("/webhooks/whatsapp", params={**query, "hub.verify_token": "guess"})

    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert ok.headers["content-type"].startswith("text/plain")
    assert wrong.status_code == 403
    assert wrong.json() == {
        "error": {
            "code": "invalid_verify_token",
            "message": "hub.mode must be subscribe and hub.verify_token the configured verify "
            "token",
            "field": "hub.verify_token",
        }
    }


def test_a_signed_whatsapp_message_is_stored_with_both_identifiers(
    app: TestClient, connected: Services
) -> None:
    now = datetime.now(UTC)
    response = whatsapp_post(app, whatsapp_text("Oi!", "wamid.IN1", now))

    assert response.status_code == 200
    assert response.json() == {"messages": 1, "statuses": 0}
    message = stored(connected, "whatsapp", "wamid.IN1")
    assert (message.account, message.text, message.sender_name) == (WA_NUMBER_ID, "Oi!", "Ana")
    # Brazil's missing ninth digit is restored on the phone; the WhatsApp id stays as sent.
    assert identifiers(connected, message.customer_id) == {
        ("phone", "+5511988887777"),
        ("whatsapp_id", "551188887777"),
    }


@pytest.mark.parametrize("secret", ["not-the-app-secret", None])
def test_a_badly_signed_whatsapp_notification_stores_nothing(
    app: TestClient, connected: Services, secret: str | None
) -> None:
    payload = whatsapp_text("Oi!", "wamid.IN1", datetime.now(UTC))
    if secret is None:
        response = app.post("/webhooks/whatsapp", json=payload)
        expected = ("missing_signature", "the request has no X-Hub-Signature-256 header")
    else:
        response = whatsapp_post(app, payload, secret)
        expected = (
            "invalid_signature",
            "X-Hub-Signature-256 is not the HMAC-SHA256 of this body with the app secret",
        )

    assert response.status_code == 403
    assert response.json() == {
        "error": {"code": expected[0], "message": expected[1], "field": "X-Hub-Signature-256"}
    }
    assert table_counts(connected, *STORED) == NOTHING


def test_a_signed_body_that_is_not_json_is_refused(app: TestClient, connected: Services) -> None:
    body = b"{not json"
    response = app.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"content-type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert table_counts(connected, *STORED) == NOTHING


def test_outside_the_24_hour_window_a_whatsapp_reply_is_refused_but_a_template_goes(
    app: TestClient, connected: Services, provider: FakeProvider
) -> None:
    provider.answers[("POST", f"https://graph.test/v21.0/{WA_NUMBER_ID}/messages")] = (
        httpx.Response(200, json={"messages": [{"id": "wamid.OUT1"}]})
    )
    long_ago = datetime.now(UTC) - timedelta(hours=25)
    assert whatsapp_post(app, whatsapp_text("Oi!", "wamid.OLD", long_ago)).status_code == 200
    conversation_id = stored(connected, "whatsapp", "wamid.OLD").conversation_id

    with pytest.raises(Conflict) as caught:
        connected.reply(conversation_id, Reply(author=AGENT, channel="whatsapp", text="Oi Ana"))
    assert "outside WhatsApp's 24-hour customer-service window" in caught.value.message
    assert table_counts(connected, "messages")["messages"] == 1

    template = Template("order_ready", "pt_BR", ("Ana",))
    sent = connected.reply(
        conversation_id, Reply(author=AGENT, channel="whatsapp", template=template)
    )
    assert connected.process_outbox() == 1
    assert json.loads(provider.requests[0].content)["template"]["name"] == "order_ready"
    status = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": WA_NUMBER_ID},
                            "statuses": [
                                {
                                    "id": "wamid.OUT1",
                                    "status": "read",
                                    "timestamp": str(int(datetime.now(UTC).timestamp())),
                                },
                                {"id": "wamid.ELSEWHERE", "status": "read", "timestamp": "1"},
                            ],
                        },
                    }
                ]
            }
        ],
    }
    answer = whatsapp_post(app, status)
    assert answer.json() == {"messages": 0, "statuses": 1}
    with connected.uow(write=False) as uow:
        message = connected.conversations(uow).message(sent.id)
    assert message is not None
    assert (message.status, message.provider_message_id) == ("read", "wamid.OUT1")


def telegram_post(
    client: TestClient,
    payload: dict[str, Any],
    secret: str | None = BOT_SECRET,
    bot: str = "shopbot",
) -> httpx2.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    return client.post(f"/webhooks/telegram/{bot}", json=payload, headers=headers)


def telegram_update(update_id: int, **message: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": 4242, "is_bot": False, "first_name": "Ana"},
            "chat": {"id": 4242, "type": "private"},
            "date": int(datetime.now(UTC).timestamp()),
            **message,
        },
    }


def test_a_shared_contact_joins_the_telegram_user_to_the_phone_s_profile(
    app: TestClient, connected: Services
) -> None:
    assert twilio_post(app, "/webhooks/twilio/sms", sms()).status_code == 200
    customer = stored(connected, "sms", SMS_SID).customer_id

    # Telegram dates are whole seconds: these two come two seconds after the SMS, so the
    # Telegram conversation is the customer's latest once the profiles are one.
    later = int(datetime.now(UTC).timestamp()) + 2
    first = telegram_post(app, telegram_update(1, text="Olá", date=later))
    contact = {"phone_number": "5511988887777", "first_name": "Ana", "user_id": 4242}
    second = telegram_post(app, telegram_update(2, contact=contact, date=later))

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"messages": 1, "statuses": 0}
    hello = stored(connected, "telegram", "shopbot:4242:1")
    shared = stored(connected, "telegram", "shopbot:4242:2")
    assert shared.customer_id == customer
    assert hello.conversation_id != stored(connected, "sms", SMS_SID).conversation_id
    assert shared.conversation_id == hello.conversation_id
    assert identifiers(connected, customer) >= {
        ("phone", "+5511988887777"),
        ("telegram_id", "4242"),
    }
    assert hello.text == "Olá"


def test_a_telegram_reply_goes_out_through_send_message(
    app: TestClient, connected: Services, provider: FakeProvider
) -> None:
    provider.answers[("POST", f"https://telegram.test/bot{BOT_TOKEN}/sendMessage")] = (
        httpx.Response(200, json={"ok": True, "result": {"message_id": 900}})
    )
    assert telegram_post(app, telegram_update(1, text="Olá")).status_code == 200
    conversation_id = stored(connected, "telegram", "shopbot:4242:1").conversation_id

    reply = connected.reply(conversation_id, Reply(author=AGENT, text="Oi, Ana!"))
    assert connected.process_outbox() == 1

    assert json.loads(provider.requests[0].content) == {"chat_id": "4242", "text": "Oi, Ana!"}
    with connected.uow(write=False) as uow:
        sent = connected.conversations(uow).message(reply.id)
    assert sent is not None
    assert (sent.channel, sent.account, sent.status, sent.provider_message_id) == (
        "telegram",
        "shopbot",
        "sent",
        "shopbot:4242:900",
    )


@pytest.mark.parametrize(
    ("secret", "code"), [(None, "missing_signature"), ("wrong-secret", "invalid_signature")]
)
def test_a_telegram_update_without_the_secret_token_stores_nothing(
    app: TestClient, connected: Services, secret: str | None, code: str
) -> None:
    response = telegram_post(app, telegram_update(1, text="Olá"), secret)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == "X-Telegram-Bot-Api-Secret-Token"
    assert table_counts(connected, *STORED) == NOTHING


def test_an_unknown_bot_is_not_found_and_skipped_updates_store_nothing(
    app: TestClient, connected: Services
) -> None:
    unknown = telegram_post(app, telegram_update(1, text="Olá"), bot="otherbot")
    group = telegram_post(
        app, telegram_update(2, text="oi grupo", chat={"id": -100, "type": "group"})
    )

    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "code": "unknown_bot",
            "message": "no Telegram bot named 'otherbot' is configured",
            "field": "bot",
        }
    }
    assert (group.status_code, group.json()) == (200, {"messages": 0, "statuses": 0})
    assert table_counts(connected, *STORED) == NOTHING


def test_webhooks_answered_before_routing_keep_the_input_limits(
    app: TestClient, connected: Services
) -> None:
    limit = connected.settings.max_request_bytes
    huge = sms(Body="x" * (limit + 1))
    too_big = twilio_post(app, "/webhooks/twilio/sms", huge)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "body_too_large"
    # Paths beside the webhooks' own are routed as before: a GET is not a webhook, a
    # Telegram path with a further segment names no bot.
    assert app.get("/webhooks/twilio/sms").status_code == 405
    nested = telegram_post(app, telegram_update(3, text="Olá"), bot="shopbot/extra")
    assert nested.status_code == 404
    assert nested.json()["error"]["code"] == "not_found"
    assert table_counts(connected, *STORED) == NOTHING


def test_channels_without_settings_are_not_found(make_settings: Callable[..., Settings]) -> None:
    services = build(make_settings())
    upgrade(services.engines)
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            twilio = client.post("/webhooks/twilio/sms", content=b"a=b")
            whatsapp = client.post("/webhooks/whatsapp", json={})
            handshake = client.get(
                "/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "x"}
            )
    finally:
        services.close()
    assert set(services.channel_senders) & {"sms", "whatsapp", "telegram"} == set()

    assert twilio.status_code == 404
    assert twilio.json() == {
        "error": {
            "code": "channel_not_configured",
            "message": "Twilio SMS is not configured: set OMNICX_TWILIO_ACCOUNTS to receive it",
        }
    }
    assert whatsapp.json()["error"]["code"] == "channel_not_configured"
    assert handshake.status_code == 403

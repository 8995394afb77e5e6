"""Telegram Bot API: the secret token, update parsing (text, own and others' contacts, photos,
documents), and the sendMessage request."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnicx.channels.telegram import TelegramBots
from omnicx.config import Settings
from omnicx.conversations import (
    AttachmentIn,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
    Template,
)
from omnicx.kernel import Invalid
from tests.channels.providers.conftest import BOT_SECRET, BOT_TOKEN, FakeProvider, provider_settings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SENT_AT = int((NOW - timedelta(seconds=30)).timestamp())
API = f"https://telegram.test/bot{BOT_TOKEN}"
USER = {"id": 4242, "is_bot": False, "first_name": "Ana", "last_name": "Souza", "username": "ana"}


def bots(tmp_path: Path, provider: FakeProvider, **overrides: object) -> TelegramBots:
    settings = Settings(data_dir=tmp_path, **{**provider_settings(), **overrides})
    return TelegramBots(settings, provider.client())


def update(**message: Any) -> dict[str, Any]:
    return {
        "update_id": 9001,
        "message": {
            "message_id": 77,
            "from": USER,
            "chat": {"id": 4242, "type": "private"},
            "date": SENT_AT,
            **message,
        },
    }


def test_the_secret_token_must_be_the_bot_s_own(tmp_path: Path, provider: FakeProvider) -> None:
    telegram = bots(tmp_path, provider)
    assert telegram.verify("shopbot", BOT_SECRET) is True
    assert telegram.verify("shopbot", BOT_SECRET + "x") is False
    assert telegram.verify("shopbot", "") is False
    assert telegram.verify("shopbot", None) is False
    assert telegram.verify("otherbot", BOT_SECRET) is False
    assert telegram.verify("shopbot", "ç") is False


def test_a_text_message_in_a_private_chat(tmp_path: Path, provider: FakeProvider) -> None:
    message = bots(tmp_path, provider).parse("shopbot", update(text="Olá!"), NOW)

    assert message is not None
    assert message.channel == "telegram"
    assert message.account == "shopbot"
    assert message.sender == (("telegram_id", "4242"),)
    assert message.sender_name == "Ana Souza"
    assert message.provider_message_id == "shopbot:4242:77"
    assert message.text == "Olá!"
    assert message.received_at == datetime.fromtimestamp(SENT_AT, UTC)
    assert message.metadata == {"chat_id": "4242", "username": "ana"}
    assert message.warnings == ()


def test_the_user_s_own_contact_links_their_phone(tmp_path: Path, provider: FakeProvider) -> None:
    own = {"phone_number": "5511988887777", "first_name": "Ana", "user_id": 4242}
    message = bots(tmp_path, provider).parse("shopbot", update(contact=own), NOW)

    assert message is not None
    assert message.sender == (("telegram_id", "4242"), ("phone", "+5511988887777"))
    assert message.text == "Ana: 5511988887777"
    assert message.metadata["shared_own_contact"] is True


def test_someone_else_s_contact_is_only_text(tmp_path: Path, provider: FakeProvider) -> None:
    other = {"phone_number": "+5521977776666", "first_name": "Bia", "user_id": 5151}
    message = bots(tmp_path, provider).parse("shopbot", update(contact=other), NOW)

    assert message is not None
    assert message.sender == (("telegram_id", "4242"),)
    assert message.text == "Bia: +5521977776666"
    assert "shared_own_contact" not in message.metadata


def test_a_photo_is_fetched_with_get_file(tmp_path: Path, provider: FakeProvider) -> None:
    provider.answers[("GET", f"{API}/getFile")] = httpx.Response(
        200, json={"ok": True, "result": {"file_id": "BIG", "file_path": "photos/file_1.jpg"}}
    )
    provider.answers[("GET", f"https://telegram.test/file/bot{BOT_TOKEN}/photos/file_1.jpg")] = (
        httpx.Response(200, content=b"\xff\xd8photo")
    )
    photos = [{"file_id": "SMALL", "width": 90}, {"file_id": "BIG", "width": 1280}]

    message = bots(tmp_path, provider).parse(
        "shopbot", update(photo=photos, caption="o defeito"), NOW
    )

    assert message is not None
    assert message.text == "o defeito"
    assert message.attachments == (AttachmentIn("photo.jpg", "image/jpeg", b"\xff\xd8photo"),)
    assert provider.requests[0].url.params["file_id"] == "BIG"


def test_a_document_that_cannot_be_fetched_leaves_a_warning(
    tmp_path: Path, provider: FakeProvider
) -> None:
    document = {"file_id": "DOC", "file_name": "nota.pdf", "mime_type": "application/pdf"}
    message = bots(tmp_path, provider).parse("shopbot", update(document=document), NOW)

    assert message is not None
    assert message.attachments == ()
    assert message.warnings == ("nota.pdf not fetched: getFile gave no file path",)


@pytest.mark.parametrize(
    "payload",
    [
        {"update_id": 1, "edited_message": {"message_id": 1}},
        {"update_id": 1, "callback_query": {"id": "q"}},
        update(chat={"id": -100, "type": "group"}, text="hi all"),
        update(**{"from": {**USER, "is_bot": True}}, text="beep"),
    ],
)
def test_updates_that_are_not_a_customer_message_are_skipped(
    tmp_path: Path, provider: FakeProvider, payload: dict[str, Any]
) -> None:
    assert bots(tmp_path, provider).parse("shopbot", payload, NOW) is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "update_id"),
        ({"update_id": "1"}, "update_id"),
        (update(message_id="77"), "message.message_id"),
        (update(**{"from": {**USER, "id": "4242"}}), "message.from.id"),
        (update(location={"latitude": "north"}), "location"),
    ],
)
def test_malformed_updates_are_refused(
    tmp_path: Path, provider: FakeProvider, payload: Any, field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        bots(tmp_path, provider).parse("shopbot", payload, NOW)
    assert (caught.value.code, caught.value.field) == ("invalid_update", field)


def context(**changes: object) -> SendContext:
    values: dict[str, object] = {
        "customer_id": "c1",
        "conversation_id": "v1",
        "channel": "telegram",
        "account": "shopbot",
        "to": ("telegram_id", "4242"),
        "now": NOW,
        "last_inbound_at": None,
        **changes,
    }
    return SendContext(**values)  # type: ignore[arg-type]


def test_can_send_needs_a_telegram_id_and_a_bot(tmp_path: Path, provider: FakeProvider) -> None:
    telegram = bots(tmp_path, provider)
    assert telegram.can_send(context()) is None
    assert telegram.can_send(context(account=None)) is None
    assert telegram.can_send(context(to=("phone", "+5511988887777"))) == (
        "Telegram needs the customer's Telegram id"
    )
    assert telegram.can_send(context(template=Template("t", "pt_BR"))) == (
        "Telegram has no message templates"
    )
    assert bots(tmp_path, provider, telegram_bots={}).can_send(context()) == (
        "no Telegram bot is configured"
    )


def outbound(**changes: object) -> OutboundMessage:
    values: dict[str, object] = {
        "message_id": "m1",
        "conversation_id": "v1",
        "channel": "telegram",
        "account": "shopbot",
        "to": ("telegram_id", "4242"),
        "text": "Seu pedido saiu para entrega.",
        **changes,
    }
    return OutboundMessage(**values)  # type: ignore[arg-type]


def test_send_message_posts_to_the_bot_api(tmp_path: Path, provider: FakeProvider) -> None:
    provider.answers[("POST", f"{API}/sendMessage")] = httpx.Response(
        200, json={"ok": True, "result": {"message_id": 501, "chat": {"id": 4242}}}
    )
    result = bots(tmp_path, provider).send(outbound())

    assert result == SendResult("shopbot:4242:501", "sent")
    (request,) = provider.requests
    assert json.loads(request.content) == {
        "chat_id": "4242",
        "text": "Seu pedido saiu para entrega.",
    }


def test_an_attachment_goes_as_a_document(tmp_path: Path, provider: FakeProvider) -> None:
    provider.answers[("POST", f"{API}/sendDocument")] = httpx.Response(
        200, json={"ok": True, "result": {"message_id": 502}}
    )
    pdf = AttachmentIn("etiqueta.pdf", "application/pdf", b"%PDF")

    result = bots(tmp_path, provider).send(outbound(text=None, attachments=(pdf,)))

    assert result == SendResult("shopbot:4242:502", "sent")
    (request,) = provider.requests
    assert b'name="chat_id"\r\n\r\n4242' in request.content
    assert b'name="document"; filename="etiqueta.pdf"' in request.content


@pytest.mark.parametrize(
    ("answer", "retry", "message"),
    [
        (
            httpx.Response(
                403,
                json={
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                },
            ),
            False,
            "Telegram answered 403: Forbidden: bot was blocked by the user",
        ),
        (
            httpx.Response(
                429,
                json={"ok": False, "error_code": 429, "description": "Too Many Requests"},
            ),
            True,
            "Telegram answered 429: Too Many Requests",
        ),
    ],
)
def test_bot_api_errors_are_retryable_or_permanent(
    tmp_path: Path, provider: FakeProvider, answer: httpx.Response, retry: bool, message: str
) -> None:
    provider.answers[("POST", f"{API}/sendMessage")] = answer
    with pytest.raises(SendFailed) as caught:
        bots(tmp_path, provider).send(outbound())
    assert (str(caught.value), caught.value.retry) == (message, retry)


def test_the_bot_token_never_reaches_an_error(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    settings = Settings(data_dir=tmp_path, **provider_settings())
    telegram = TelegramBots(settings, httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(SendFailed) as caught:
        telegram.send(outbound())
    assert BOT_TOKEN not in str(caught.value)
    assert str(caught.value) == (
        "Telegram did not answer: ConnectError: cannot reach "
        "https://telegram.test/bot<token>/sendMessage"
    )
    assert caught.value.retry is True

"""Telegram through the Bot API: webhooks authenticated by the secret token, and sending.

Each bot is set up with `setWebhook(url=<public>/webhooks/telegram/<name>, secret_token=...)`;
Telegram then sends that token in `X-Telegram-Bot-Api-Secret-Token` with every update, and it
is compared in constant time before the update is read.

Only messages in private chats join conversations (there the chat id is the user's id, the
`telegram_id` replies go to). A contact the user shares about themselves links their phone to
the profile; a contact of someone else is kept as text only.

    update                          stored as
    message.text                    text
    message.photo, .document        an attachment (getFile); the caption as text
    message.contact (own)           text, and the phone joins the sender's identifiers
    message.contact (another's)     text "name: phone"
    message.location                text with the coordinates
    edited messages, other chats,   nothing (answered 200 so Telegram does not retry)
    bots, other update kinds
"""

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from omnicx.channels.providers import call, extension, fetch_media
from omnicx.config import Settings, TelegramBot
from omnicx.conversations import (
    AttachmentIn,
    InboundMessage,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
)
from omnicx.kernel import Invalid

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_TEXT_CHARS = 4096


class TelegramBots:
    """The Telegram channel: the webhook's checks and parsing, and the sender, for every
    configured bot (the bot's name is the channel account)."""

    channel = "telegram"

    def __init__(self, settings: Settings, client: httpx.Client) -> None:
        self.bots: Mapping[str, TelegramBot] = settings.telegram_bots
        self.base_url = settings.telegram_api_base_url.rstrip("/")
        self.media_max_bytes = settings.provider_media_max_bytes
        self.client = client

    @property
    def configured(self) -> bool:
        return bool(self.bots)

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, bot: str, secret: str | None) -> bool:
        """Whether the secret token is the one `bot`'s webhook was set with."""
        config = self.bots.get(bot)
        if config is None or not secret:
            return False
        expected = config.secret_token.get_secret_value().encode()
        return hmac.compare_digest(secret.encode("utf-8", "surrogateescape"), expected)

    def parse(self, bot: str, update: Any, now: datetime) -> InboundMessage | None:
        """The inbound message of an update, or None for an update that is not one."""
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise Invalid("invalid_update", "the body is not a Telegram update", "update_id")
        message = update.get("message")
        if not isinstance(message, dict):
            return None
        chat = message.get("chat")
        user = message.get("from")
        if not isinstance(chat, dict) or not isinstance(user, dict):
            raise Invalid("invalid_update", "message.chat and message.from must be objects")
        if chat.get("type") != "private" or user.get("is_bot"):
            return None
        user_id = _id(user.get("id"), "message.from.id")
        message_id = _id(message.get("message_id"), "message.message_id")
        sender = [("telegram_id", user_id)]
        text = _str(message.get("text")) or _str(message.get("caption"))
        attachments: list[AttachmentIn] = []
        warnings: list[str] = []
        metadata: dict[str, Any] = {"chat_id": _id(chat.get("id"), "message.chat.id")}
        if user.get("username"):
            metadata["username"] = str(user["username"])
        if user.get("language_code"):
            metadata["language"] = str(user["language_code"])
        contact = message.get("contact")
        if isinstance(contact, dict):
            phone = _str(contact.get("phone_number"))
            name = " ".join(
                n for n in (_str(contact.get("first_name")), _str(contact.get("last_name"))) if n
            )
            if phone and str(contact.get("user_id")) == user_id:
                sender.append(("phone", phone if phone.startswith("+") else "+" + phone))
                metadata["shared_own_contact"] = True
            text = f"{name or '(no name)'}: {phone}" if phone else name or None
        location = message.get("location")
        if isinstance(location, dict):
            try:
                lat, lon = float(location["latitude"]), float(location["longitude"])
            except (KeyError, TypeError, ValueError):
                raise Invalid(
                    "invalid_update", "a location needs latitude and longitude", "location"
                ) from None
            text = f"📍 {lat:.6f}, {lon:.6f}"
            metadata["location"] = {"latitude": lat, "longitude": lon}
        for fetched, warning in self._media(bot, message):
            if fetched is not None:
                attachments.append(fetched)
            if warning is not None:
                warnings.append(warning)
        if text is None and not attachments and not warnings:
            warnings.append("Telegram message without text or a supported attachment")
        name = " ".join(n for n in (_str(user.get("first_name")), _str(user.get("last_name"))) if n)
        return InboundMessage(
            channel=self.channel,
            account=bot,
            sender=tuple(sender),
            sender_name=name or None,
            received_at=_timestamp(message.get("date"), now),
            provider_message_id=f"{bot}:{metadata['chat_id']}:{message_id}",
            text=text,
            attachments=tuple(attachments),
            warnings=tuple(warnings),
            metadata=metadata,
        )

    def _media(
        self, bot: str, message: dict[str, Any]
    ) -> list[tuple[AttachmentIn | None, str | None]]:
        found: list[tuple[str, str, str | None]] = []
        photos = message.get("photo")
        if isinstance(photos, list) and photos and isinstance(photos[-1], dict):
            # Telegram lists the sizes of one photo, smallest first.
            largest = photos[-1]
            found.append((str(largest.get("file_id") or ""), "photo.jpg", "image/jpeg"))
        for kind in ("document", "audio", "video", "voice"):
            item = message.get(kind)
            if isinstance(item, dict):
                content_type = _str(item.get("mime_type"))
                name = _str(item.get("file_name")) or f"{kind}{extension(content_type or '')}"
                found.append((str(item.get("file_id") or ""), name, content_type))
        return [self._fetch(bot, *item) for item in found]

    def _fetch(
        self, bot: str, file_id: str, filename: str, content_type: str | None
    ) -> tuple[AttachmentIn | None, str | None]:
        token = self.bots[bot].token.get_secret_value()
        try:
            response = self.client.get(
                f"{self.base_url}/bot{token}/getFile", params={"file_id": file_id}
            )
            path = response.json().get("result", {}).get("file_path")
        except (httpx.HTTPError, ValueError, AttributeError):
            path = None
        if not isinstance(path, str) or not file_id:
            return None, f"{filename} not fetched: getFile gave no file path"
        fetched = fetch_media(
            self.client,
            f"{self.base_url}/file/bot{token}/{path}",
            filename=filename,
            content_type=content_type,
            max_bytes=self.media_max_bytes,
        )
        return fetched.attachment, fetched.warning

    # -- outbound --------------------------------------------------------------------------

    def _bot(self, account: str | None) -> tuple[str, TelegramBot] | None:
        if account and account in self.bots:
            return account, self.bots[account]
        return next(iter(self.bots.items()), None)

    def can_send(self, ctx: SendContext) -> str | None:
        if ctx.to[0] != "telegram_id":
            return "Telegram needs the customer's Telegram id"
        if self._bot(ctx.account) is None:
            return "no Telegram bot is configured"
        if ctx.template is not None:
            return "Telegram has no message templates"
        return None

    def send(self, out: OutboundMessage) -> SendResult:
        chosen = self._bot(out.account)
        if chosen is None:
            raise SendFailed("no Telegram bot is configured", retry=False)
        name, bot = chosen
        if out.to[0] != "telegram_id":
            raise SendFailed(f"Telegram cannot reach a {out.to[0]}", retry=False)
        text = (out.text or "").strip()
        if not text and not out.attachments:
            raise SendFailed("a Telegram message needs text or an attachment", retry=False)
        if len(text) > MAX_TEXT_CHARS:
            raise SendFailed(f"a Telegram text is at most {MAX_TEXT_CHARS} characters", retry=False)
        api = f"{self.base_url}/bot{bot.token.get_secret_value()}"
        chat_id = out.to[1]
        parts: list[tuple[str, dict[str, Any]]] = []
        if text:
            parts.append(("sendMessage", {"json": {"chat_id": chat_id, "text": text}}))
        for attachment in out.attachments:
            parts.append(
                (
                    "sendDocument",
                    {
                        "data": {"chat_id": chat_id},
                        "files": {
                            "document": (
                                attachment.filename,
                                attachment.content,
                                attachment.content_type,
                            )
                        },
                    },
                )
            )
        sent: list[str] = []
        for method, kwargs in parts:
            try:
                response = call(self.client, "Telegram", "POST", f"{api}/{method}", **kwargs)
            except SendFailed as error:
                # The token is part of the URL: never let it into an error message.
                reason = str(error).replace(bot.token.get_secret_value(), "<token>")
                if sent:
                    reason = f"sent {len(sent)} of {len(parts)} parts, then: {reason}"
                raise SendFailed(reason, retry=error.retry and not sent) from None
            sent.append(f"{name}:{chat_id}:{_sent_id(response)}")
        return SendResult(sent[0], "sent")


def _sent_id(response: httpx.Response) -> str:
    try:
        message_id = response.json()["result"]["message_id"]
    except (ValueError, KeyError, TypeError):
        raise SendFailed("Telegram answered without a message id", retry=False) from None
    return str(message_id)


def _id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("invalid_update", f"{where} must be an integer", where)
    return str(value)


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _timestamp(raw: Any, now: datetime) -> datetime:
    try:
        moment = datetime.fromtimestamp(int(raw), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return now if moment > now + timedelta(days=1) else moment

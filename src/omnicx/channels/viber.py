"""Viber through its REST Bot API: signed callbacks (messages, receipts, subscriptions) and
sending with `send_message`.

Viber signs each callback with `X-Viber-Content-Signature`: the hex HMAC-SHA256 of the raw
body keyed by the bot's auth token; it is checked before the body is read. Sending carries
the same token in `X-Viber-Auth-Token`; Viber answers HTTP 200 with a `status` of its own.

    callback event           what happens
    message                  an inbound message (text; picture, video, file fetched as an
                             attachment; location, contact and sticker as text)
    delivered, seen, failed  a delivery receipt: delivered, read, failed
    subscribed,              a timeline event (`Channel Subscribed`, `Channel Unsubscribed`,
    unsubscribed,            `Conversation Started`) on the customer who holds the Viber id,
    conversation_started     when one does
    webhook                  nothing (Viber checking the URL when it is set)

    send_message status                               SendFailed
    0                                                 (none)
    2 invalid auth token, 12 too many requests, 5xx   retry
    5 not registered, 6 not subscribed, 11 no         permanent: the customer cannot get
    suitable device, any other                        Viber messages from this bot
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from omnicx.channels.providers import call, extension, fetch_media
from omnicx.channels.receipts import DeliveryReceipt, normalise, timeline_event
from omnicx.config import Settings
from omnicx.conversations import (
    AttachmentIn,
    InboundMessage,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
)
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.kernel import Invalid
from omnicx.profiles.model import Identifier
from omnicx.profiles.store import SqlProfileRepository

SIGNATURE_HEADER = "X-Viber-Content-Signature"
TOKEN_HEADER = "X-Viber-Auth-Token"  # noqa: S105 (a header name)
MAX_TEXT_CHARS = 7000
RETRYABLE_STATUSES = frozenset({2, 12})
MEDIA_TYPES = ("picture", "video", "file")
SUBSCRIPTION_EVENTS = {
    "subscribed": "Channel Subscribed",
    "unsubscribed": "Channel Unsubscribed",
    "conversation_started": "Conversation Started",
}
"""Timeline events of Viber's subscription callbacks."""


def sign(body: bytes, token: str) -> str:
    """The `X-Viber-Content-Signature` of a body."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ViberCallback:
    """What one signed callback carried: at most one of a message, a receipt or a
    subscription change (`event` and the Viber user it is about)."""

    event: str
    token: str
    at: datetime
    message: InboundMessage | None = None
    receipt: DeliveryReceipt | None = None
    user_id: str | None = None


class ViberBot:
    """The Viber channel: the callbacks' checks and parsing, and the sender."""

    channel = "viber"

    def __init__(self, settings: Settings, client: httpx.Client) -> None:
        self.auth_token = settings.viber_auth_token
        self.base_url = settings.viber_api_base_url.rstrip("/")
        self.sender = {"name": settings.viber_sender_name}
        if settings.viber_sender_avatar:
            self.sender["avatar"] = settings.viber_sender_avatar
        self.media_max_bytes = settings.provider_media_max_bytes
        self.client = client

    @property
    def configured(self) -> bool:
        return self.auth_token is not None and bool(self.auth_token.get_secret_value())

    def _token(self) -> str:
        return self.auth_token.get_secret_value() if self.auth_token is not None else ""

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, body: bytes, signature: str | None) -> bool:
        if not signature or not self.configured:
            return False
        expected = sign(body, self._token())
        return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())

    def parse(self, payload: Any, now: datetime) -> ViberCallback:
        if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
            raise Invalid("invalid_callback", "the body is not a Viber callback", "event")
        event = payload["event"]
        token = _text(payload.get("message_token"), "message_token")
        at = _timestamp(payload.get("timestamp"), now)
        if event == "message":
            return ViberCallback(event, token, at, message=self._message(payload, token, at))
        if event in ("delivered", "seen", "failed"):
            status = normalise("viber", event)
            assert status is not None
            error = str(payload.get("desc") or "") or None if event == "failed" else None
            receipt = DeliveryReceipt(self.channel, token, status, at, error, event)
            return ViberCallback(event, token, at, receipt=receipt)
        if event == "unsubscribed":
            return ViberCallback(event, token, at, user_id=_text(payload.get("user_id"), "user_id"))
        if event in ("subscribed", "conversation_started"):
            user = _dict(payload.get("user"), "user")
            return ViberCallback(event, token, at, user_id=_text(user.get("id"), "user.id"))
        return ViberCallback(event, token, at)

    def _message(self, payload: dict[str, Any], token: str, at: datetime) -> InboundMessage:
        sender = _dict(payload.get("sender"), "sender")
        user_id = _text(sender.get("id"), "sender.id")
        body = _dict(payload.get("message"), "message")
        kind = _text(body.get("type"), "message.type")
        text = _str(body.get("text"))
        attachments: list[AttachmentIn] = []
        warnings: list[str] = []
        metadata: dict[str, Any] = {"viber_type": kind}
        for key in ("language", "country", "api_version"):
            if sender.get(key) is not None:
                metadata[key] = sender[key]
        if kind in MEDIA_TYPES:
            media = _str(body.get("media"))
            if media is None:
                warnings.append(f"Viber {kind} without a media URL")
            else:
                name = _str(body.get("file_name")) or f"{kind}{extension(_guess(kind))}"
                fetched = fetch_media(
                    self.client,
                    media,
                    filename=name,
                    content_type=None,
                    max_bytes=self.media_max_bytes,
                )
                if fetched.attachment is not None:
                    attachments.append(fetched.attachment)
                if fetched.warning is not None:
                    warnings.append(fetched.warning)
                    metadata["media_url"] = media
        elif kind == "location":
            location = _dict(body.get("location"), "message.location")
            try:
                lat, lon = float(location["lat"]), float(location["lon"])
            except (KeyError, TypeError, ValueError):
                raise Invalid(
                    "invalid_callback", "a location needs numeric lat and lon", "location"
                ) from None
            text = f"📍 {lat:.6f}, {lon:.6f}"
            metadata["location"] = {"latitude": lat, "longitude": lon}
        elif kind == "contact":
            contact = _dict(body.get("contact"), "message.contact")
            name = _str(contact.get("name")) or "(no name)"
            phone = _str(contact.get("phone_number"))
            text = f"{name}: {phone}" if phone else name
        elif kind == "url":
            text = text or _str(body.get("media"))
        elif kind == "sticker":
            text = text or "(sticker)"
            metadata["sticker_id"] = body.get("sticker_id")
        elif kind != "text":
            warnings.append(f"Viber message type {kind!r} is not supported; kept without text")
        if text is None and not attachments and not warnings:
            warnings.append("Viber message without text or a supported attachment")
        return InboundMessage(
            channel=self.channel,
            account="viber",
            sender=(("viber_id", user_id),),
            sender_name=_str(sender.get("name")),
            received_at=at,
            provider_message_id=token,
            text=text,
            attachments=tuple(attachments),
            warnings=tuple(warnings),
            metadata=metadata,
        )

    # -- outbound --------------------------------------------------------------------------

    def can_send(self, ctx: SendContext) -> str | None:
        if ctx.to[0] != "viber_id":
            return "Viber needs the customer's Viber id"
        if not self.configured:
            return "no Viber bot is configured"
        if ctx.template is not None:
            return "Viber has no message templates"
        if ctx.has_attachments:
            return "Viber sends pictures and files only from a public URL: send a link"
        return None

    def send(self, out: OutboundMessage) -> SendResult:
        if not self.configured:
            raise SendFailed("no Viber bot is configured", retry=False)
        if out.to[0] != "viber_id":
            raise SendFailed(f"Viber cannot reach a {out.to[0]}", retry=False)
        if out.attachments:
            raise SendFailed("Viber sends pictures and files only from a public URL", retry=False)
        text = (out.text or "").strip()
        if not text:
            raise SendFailed("a Viber message needs text", retry=False)
        if len(text) > MAX_TEXT_CHARS:
            raise SendFailed(f"a Viber text is at most {MAX_TEXT_CHARS} characters", retry=False)
        response = call(
            self.client,
            "Viber",
            "POST",
            f"{self.base_url}/pa/send_message",
            json={
                "receiver": out.to[1],
                "min_api_version": 1,
                "sender": self.sender,
                "tracking_data": out.message_id,
                "type": "text",
                "text": text,
            },
            headers={TOKEN_HEADER: self._token()},
        )
        try:
            answer = response.json()
        except ValueError:
            raise SendFailed("Viber answered without JSON", retry=False) from None
        status = answer.get("status") if isinstance(answer, dict) else None
        if status != 0:
            message = answer.get("status_message") if isinstance(answer, dict) else None
            raise SendFailed(
                f"Viber refused the message: status {status} ({message})",
                retry=status in RETRYABLE_STATUSES,
            )
        token = answer.get("message_token")
        if isinstance(token, bool) or not isinstance(token, int | str) or not str(token):
            raise SendFailed("Viber answered without a message token", retry=False)
        return SendResult(str(token), "sent")


def record_subscription(uow: UnitOfWork, cipher: FieldCipher, callback: ViberCallback) -> bool:
    """A subscription callback on the timeline of the customer holding the Viber id, once
    per callback; False when nobody holds it (nothing is created for a bare subscription)."""
    name = SUBSCRIPTION_EVENTS.get(callback.event)
    if name is None or callback.user_id is None:
        return False
    wanted = Identifier("viber_id", callback.user_id)
    owner = SqlProfileRepository(uow.conn, cipher).owners({wanted}).get(wanted)
    if owner is None:
        return False
    return timeline_event(
        uow,
        cipher,
        source="viber",
        key=f"{callback.event}:{callback.token}",
        customer_id=owner,
        name=name,
        channel="viber",
        at=callback.at,
        properties={"event": callback.event},
    )


def _guess(kind: str) -> str:
    return {"picture": "image/jpeg", "video": "video/mp4"}.get(kind, "")


def _timestamp(raw: Any, now: datetime) -> datetime:
    """Viber's Unix time in milliseconds; `now` when absent or absurd."""
    try:
        moment = datetime.fromtimestamp(int(raw) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return now if moment > now + timedelta(days=1) else moment


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid("invalid_callback", f"{where} must be an object", where)
    return value


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value):
        raise Invalid("invalid_callback", f"{where} must be a non-empty string or number", where)
    return str(value)


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None

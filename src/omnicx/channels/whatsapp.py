"""WhatsApp through Meta's Cloud API: the webhook handshake, signed notifications (inbound
messages and delivery statuses), and sending text, media and templates.

Meta signs each notification with `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the
raw body keyed by the app secret; it is checked before the body is parsed.

The customer-service window: a business may send free-form messages to a customer only within
24 hours of the customer's last message; outside it only an approved template goes out
(`can_send` says so before anything is queued).

    inbound type                   stored as
    text, button, interactive      text
    image, document, audio,        an attachment (fetched through the Graph API); its caption
    video, sticker                 as text; a link and a warning when the download fails
    location                       text "📍 name, address (lat, long)" and the coordinates
    contacts                       text listing each shared contact's name and phones
    reaction, anything else        a message with a warning naming the type
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from omnicx.channels.providers import call, extension, fetch_media
from omnicx.config import Settings, WhatsAppNumber
from omnicx.conversations import (
    AttachmentIn,
    DeliveryUpdate,
    InboundMessage,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
    ThreadHints,
)
from omnicx.conversations.model import DeliveryState
from omnicx.kernel import Invalid

SIGNATURE_HEADER = "X-Hub-Signature-256"
WINDOW = timedelta(hours=24)
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
MAX_TEXT_CHARS = 4096

STATUSES: dict[str, DeliveryState] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Notification:
    """What one signed webhook call carried."""

    messages: tuple[InboundMessage, ...]
    statuses: tuple[DeliveryUpdate, ...]


class WhatsAppCloud:
    """The WhatsApp channel through the Cloud API: the webhook's checks and parsing, and the
    sender."""

    channel = "whatsapp"

    def __init__(self, settings: Settings, client: httpx.Client) -> None:
        self.numbers: Mapping[str, WhatsAppNumber] = settings.whatsapp_numbers
        self.app_secret = settings.whatsapp_app_secret
        self.verify_token = settings.whatsapp_verify_token
        self.graph = f"{settings.whatsapp_api_base_url.rstrip('/')}/{settings.whatsapp_api_version}"
        self.media_max_bytes = settings.provider_media_max_bytes
        self.client = client

    @property
    def configured(self) -> bool:
        return self.app_secret is not None and bool(self.app_secret.get_secret_value())

    # -- inbound ---------------------------------------------------------------------------

    def handshake(self, mode: str | None, token: str | None) -> bool:
        """Whether a verification request (`hub.mode=subscribe`, `hub.verify_token`) is ours."""
        if mode != "subscribe" or not token or self.verify_token is None:
            return False
        expected = self.verify_token.get_secret_value()
        return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())

    def verify(self, body: bytes, signature: str | None) -> bool:
        if not signature or not self.configured or self.app_secret is None:
            return False
        expected = sign(body, self.app_secret.get_secret_value())
        return hmac.compare_digest(signature.strip().encode(), expected.encode())

    def parse(self, payload: Any, now: datetime) -> Notification:
        """The messages and statuses of a notification (`object: whatsapp_business_account`)."""
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            raise Invalid(
                "invalid_notification",
                "the body is not a WhatsApp Business Account notification",
                "object",
            )
        messages: list[InboundMessage] = []
        statuses: list[DeliveryUpdate] = []
        for entry in _list(payload.get("entry"), "entry"):
            for change in _list(_dict(entry, "entry").get("changes"), "entry.changes"):
                change = _dict(change, "entry.changes")
                if change.get("field") != "messages":
                    continue
                value = _dict(change.get("value"), "entry.changes.value")
                metadata = _dict(value.get("metadata"), "entry.changes.value.metadata")
                account = _text(metadata.get("phone_number_id"), "metadata.phone_number_id")
                names = {
                    str(c.get("wa_id")): ((c.get("profile") or {}).get("name"))
                    for c in value.get("contacts") or []
                    if isinstance(c, dict)
                }
                for raw in _list(value.get("messages") or [], "value.messages"):
                    messages.append(
                        self._message(account, metadata, _dict(raw, "value.messages"), names, now)
                    )
                for raw in _list(value.get("statuses") or [], "value.statuses"):
                    update = _status(_dict(raw, "value.statuses"), now)
                    if update is not None:
                        statuses.append(update)
        return Notification(tuple(messages), tuple(statuses))

    def _message(
        self,
        account: str,
        metadata: dict[str, Any],
        raw: dict[str, Any],
        names: dict[str, Any],
        now: datetime,
    ) -> InboundMessage:
        wa_id = _text(raw.get("from"), "messages.from")
        if not wa_id.isdigit():
            raise Invalid("invalid_wa_id", f"messages.from {wa_id!r} is not a WhatsApp id", "from")
        kind = _text(raw.get("type"), "messages.type")
        text: str | None = None
        attachments: list[AttachmentIn] = []
        warnings: list[str] = []
        extra: dict[str, Any] = {"wa_type": kind}
        if metadata.get("display_phone_number"):
            extra["display_phone_number"] = str(metadata["display_phone_number"])
        body: dict[str, Any] = raw[kind] if isinstance(raw.get(kind), dict) else {}
        if kind == "text":
            text = str(body.get("body") or "") or None
        elif kind == "button":
            text = str(body.get("text") or "") or None
        elif kind == "interactive":
            reply = body.get("button_reply") or body.get("list_reply") or {}
            text = str(reply.get("title") or "") or None
            if reply.get("id"):
                extra["reply_id"] = str(reply["id"])
        elif kind in MEDIA_TYPES:
            text = str(body.get("caption") or "") or None
            fetched, warning = self._fetch(account, kind, body)
            if fetched is not None:
                attachments.append(fetched)
            if warning is not None:
                warnings.append(warning)
                extra["media_id"] = str(body.get("id") or "")
        elif kind == "location":
            text, extra["location"] = _location(body)
        elif kind == "contacts":
            text = _contacts(raw.get("contacts"))
        else:
            warnings.append(f"WhatsApp message type {kind!r} is not supported; kept without text")
        context: dict[str, Any] = raw["context"] if isinstance(raw.get("context"), dict) else {}
        return InboundMessage(
            channel=self.channel,
            account=account,
            sender=(("phone", "+" + wa_id), ("whatsapp_id", wa_id)),
            sender_name=names.get(wa_id) or None,
            received_at=_timestamp(raw.get("timestamp"), now),
            provider_message_id=_text(raw.get("id"), "messages.id"),
            text=text,
            attachments=tuple(attachments),
            thread=ThreadHints(in_reply_to=str(context["id"]) if context.get("id") else None),
            warnings=tuple(warnings),
            metadata=extra,
        )

    def _fetch(
        self, account: str, kind: str, body: dict[str, Any]
    ) -> tuple[AttachmentIn | None, str | None]:
        """A media file: its URL from the Graph API, then the bytes, both with the token of
        the number that received it."""
        media_id = str(body.get("id") or "")
        number = self._number(account)
        if not media_id or number is None:
            return None, f"{kind} {media_id or '(no id)'} not fetched: no token for {account}"
        content_type = str(body.get("mime_type") or "application/octet-stream")
        filename = str(body.get("filename") or f"{kind}-{media_id}{extension(content_type)}")
        auth = {"Authorization": f"Bearer {number.access_token.get_secret_value()}"}
        try:
            response = self.client.get(f"{self.graph}/{media_id}", headers=auth)
            url = response.json().get("url") if response.is_success else None
        except (httpx.HTTPError, ValueError, AttributeError):
            url = None
        if not isinstance(url, str):
            return None, f"{kind} {media_id} not fetched: the Graph API gave no URL"
        fetched = fetch_media(
            self.client,
            url,
            filename=filename,
            content_type=content_type,
            max_bytes=self.media_max_bytes,
            headers=auth,
        )
        return fetched.attachment, fetched.warning

    def _number(self, account: str | None) -> WhatsAppNumber | None:
        for number in self.numbers.values():
            if number.phone_number_id == account:
                return number
        return next(iter(self.numbers.values()), None) if account is None else None

    # -- outbound --------------------------------------------------------------------------

    def can_send(self, ctx: SendContext) -> str | None:
        if ctx.to[0] not in ("whatsapp_id", "phone"):
            return "WhatsApp needs the customer's WhatsApp number"
        number = self._number(ctx.account) or self._number(None)
        if number is None:
            return "no WhatsApp number is configured to send from"
        if ctx.template is not None:
            approved = number.templates
            if approved is not None and ctx.template.language not in approved.get(
                ctx.template.name, ()
            ):
                return (
                    f"template {ctx.template.name!r} in {ctx.template.language} is not approved "
                    "for this WhatsApp number"
                )
            return None
        if ctx.last_inbound_at is None:
            return (
                "the customer has never written on WhatsApp: only an approved template can "
                "start the conversation"
            )
        if ctx.now - ctx.last_inbound_at > WINDOW:
            return (
                "outside WhatsApp's 24-hour customer-service window (the customer last wrote "
                f"at {ctx.last_inbound_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC): only an "
                "approved template can be sent"
            )
        return None

    def send(self, out: OutboundMessage) -> SendResult:
        number = self._number(out.account) or self._number(None)
        if number is None:
            raise SendFailed("no WhatsApp number is configured to send from", retry=False)
        if out.to[0] not in ("whatsapp_id", "phone"):
            raise SendFailed(f"WhatsApp cannot reach a {out.to[0]}", retry=False)
        to = out.to[1].removeprefix("+")
        token = number.access_token.get_secret_value()
        payloads = self._payloads(number, token, to, out)
        sent: list[str] = []
        for payload in payloads:
            try:
                response = call(
                    self.client,
                    "WhatsApp",
                    "POST",
                    f"{self.graph}/{number.phone_number_id}/messages",
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except SendFailed as error:
                if sent:
                    # Part of it reached the customer: sending again would repeat that part.
                    raise SendFailed(
                        f"sent {len(sent)} of {len(payloads)} parts, then: {error}", retry=False
                    ) from None
                raise
            sent.append(_message_id(response))
        return SendResult(sent[0], "sent")

    def _payloads(
        self, number: WhatsAppNumber, token: str, to: str, out: OutboundMessage
    ) -> list[dict[str, Any]]:
        """The Cloud API messages that carry `out`: a template, or its text and then each
        attachment (uploaded first, so a failed upload sends nothing)."""
        base: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
        }
        if out.template is not None:
            template: dict[str, Any] = {
                "name": out.template.name,
                "language": {"code": out.template.language},
            }
            if out.template.params:
                template["components"] = [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": p} for p in out.template.params],
                    }
                ]
            return [{**base, "type": "template", "template": template}]
        text = (out.text or "").strip()
        if len(text) > MAX_TEXT_CHARS:
            raise SendFailed(f"a WhatsApp text is at most {MAX_TEXT_CHARS} characters", retry=False)
        if not text and not out.attachments:
            raise SendFailed("a WhatsApp message needs text or an attachment", retry=False)
        payloads: list[dict[str, Any]] = []
        if text:
            payloads.append({**base, "type": "text", "text": {"body": text, "preview_url": False}})
        for attachment in out.attachments:
            media_id = self._upload(number, token, attachment)
            kind = "image" if attachment.content_type in ("image/jpeg", "image/png") else "document"
            media: dict[str, Any] = {"id": media_id}
            if kind == "document":
                media["filename"] = attachment.filename
            payloads.append({**base, "type": kind, kind: media})
        return payloads

    def _upload(self, number: WhatsAppNumber, token: str, attachment: AttachmentIn) -> str:
        response = call(
            self.client,
            "WhatsApp",
            "POST",
            f"{self.graph}/{number.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": attachment.content_type},
            files={"file": (attachment.filename, attachment.content, attachment.content_type)},
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            media_id = response.json().get("id")
        except (ValueError, AttributeError):
            media_id = None
        if not isinstance(media_id, str):
            raise SendFailed("WhatsApp answered a media upload without an id")
        return media_id


def _message_id(response: httpx.Response) -> str:
    try:
        messages = response.json().get("messages")
        provider_id = messages[0].get("id")
    except (ValueError, AttributeError, IndexError, TypeError):
        provider_id = None
    if not isinstance(provider_id, str):
        raise SendFailed("WhatsApp answered without a message id", retry=False)
    return provider_id


def _status(raw: dict[str, Any], now: datetime) -> DeliveryUpdate | None:
    status = STATUSES.get(str(raw.get("status") or ""))
    if status is None:
        return None
    error = None
    errors = raw.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        details = (
            (first.get("error_data") or {}).get("details")
            if isinstance(first.get("error_data"), dict)
            else None
        )
        error = (
            f"WhatsApp error {first.get('code')}: {first.get('title') or first.get('message')}"
            + (f" ({details})" if details else "")
        )
    return DeliveryUpdate(
        "whatsapp",
        _text(raw.get("id"), "statuses.id"),
        status,
        _timestamp(raw.get("timestamp"), now),
        error,
    )


def _location(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    try:
        latitude = float(body["latitude"])
        longitude = float(body["longitude"])
    except (KeyError, TypeError, ValueError):
        raise Invalid(
            "invalid_location", "a location needs numeric latitude and longitude", "location"
        ) from None
    place = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
    where = f"{latitude:.6f}, {longitude:.6f}"
    text = f"📍 {place} ({where})" if place else f"📍 {where}"
    return text, {"latitude": latitude, "longitude": longitude, "name": body.get("name")}


def _contacts(raw: Any) -> str | None:
    lines = []
    for contact in raw if isinstance(raw, list) else []:
        if not isinstance(contact, dict):
            continue
        name = (contact.get("name") or {}).get("formatted_name") or "(no name)"
        phones = ", ".join(
            str(p.get("phone")) for p in contact.get("phones") or [] if isinstance(p, dict)
        )
        lines.append(f"{name}: {phones}" if phones else str(name))
    return "\n".join(lines) or None


def _timestamp(raw: Any, now: datetime) -> datetime:
    """A provider's Unix time; `now` when absent or absurd (more than a day ahead)."""
    try:
        moment = datetime.fromtimestamp(int(raw), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return now if moment > now + timedelta(days=1) else moment


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid("invalid_notification", f"{where} must be an object", where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid("invalid_notification", f"{where} must be an array", where)
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        raise Invalid("invalid_notification", f"{where} must be a non-empty string", where)
    return str(value)

"""SMS through Twilio: signed inbound webhooks, status callbacks, and the Messages REST API.

Twilio signs each webhook with `X-Twilio-Signature`: HMAC-SHA1, keyed by the account's auth
token, of the public URL it called followed by every form parameter sorted by name. The
signature is checked with the `twilio` package's `RequestValidator` against each configured
account before a single parameter is read, so a forged request finds nothing to act on.

    Twilio MessageStatus              delivery status
    accepted, scheduled, queued       queued
    sending, sent                     sent
    delivered / read                  delivered / read
    undelivered                       undelivered
    failed, canceled                  failed
"""

from collections.abc import Iterator, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode

import httpx
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from omnicx.channels.providers import call, extension, fetch_media
from omnicx.config import Settings, TwilioAccount
from omnicx.conversations import (
    AttachmentIn,
    DeliveryUpdate,
    InboundMessage,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
)
from omnicx.conversations.model import DeliveryState
from omnicx.kernel import Invalid

SIGNATURE_HEADER = "X-Twilio-Signature"
STATUS_PATH = "/webhooks/twilio/status"
MAX_BODY_CHARS = 1600
"""Twilio refuses a longer SMS body (it splits up to this many characters into segments)."""

STATUSES: dict[str, DeliveryState] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


class FormParams:
    """Form parameters with repeated names kept; `getlist` is what `RequestValidator` reads."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    @classmethod
    def parse(cls, body: bytes) -> "FormParams":
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
        except (UnicodeDecodeError, ValueError):
            raise Invalid(
                "malformed_body", "the body is not a UTF-8 form (x-www-form-urlencoded)", "body"
            ) from None
        return cls(pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def getlist(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise Invalid("missing_field", f"the form has no {name}", name)
        return value


class TwilioSms:
    """The SMS channel through Twilio: the webhook's checks and parsing, and the sender."""

    channel = "sms"

    def __init__(
        self,
        settings: Settings,
        client: httpx.Client,
        *,
        accounts: Mapping[str, TwilioAccount] | None = None,
        base_url: str | None = None,
        tag_callbacks: bool = False,
    ) -> None:
        """`accounts` and `base_url` default to the Twilio settings (another provider that
        speaks the Messages API takes its own); `tag_callbacks` puts our message id in the
        status callback URL (`?ref=`), so an interrupted send can be matched by it."""
        self.accounts: Mapping[str, TwilioAccount] = (
            settings.twilio_accounts if accounts is None else accounts
        )
        self.base_url = (base_url or settings.twilio_api_base_url).rstrip("/")
        self.tag_callbacks = tag_callbacks
        self.public_base_url = (settings.public_base_url or "").rstrip("/") or None
        self.media_max_bytes = settings.provider_media_max_bytes
        self.client = client

    @property
    def configured(self) -> bool:
        return bool(self.accounts)

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, url: str, params: FormParams, signature: str | None) -> str | None:
        """The name of the account whose auth token signed this request, or None."""
        if not signature:
            return None
        for name, account in self.accounts.items():
            validator = RequestValidator(account.auth_token.get_secret_value())
            if validator.validate(url, params, signature):
                return name
        return None

    def fetches_media(self, params: FormParams) -> bool:
        """Whether `inbound` downloads media (blocking network calls) for these params."""
        return (params.get("NumMedia") or "0") != "0"

    def inbound(self, account_name: str, params: FormParams, now: datetime) -> InboundMessage:
        """An inbound SMS (or MMS, its media fetched with the account's credentials)."""
        sender = params.require("From")
        if ":" in sender:
            raise Invalid(
                "unsupported_channel",
                f"From {sender!r} is not an SMS sender; only SMS reaches this webhook",
                "From",
            )
        attachments, warnings, links = self._media(self.accounts[account_name], params)
        metadata: dict[str, object] = {"twilio_account": account_name}
        if links:
            metadata["media_links"] = links
        for name in ("FromCity", "FromState", "FromCountry", "NumSegments"):
            value = params.get(name)
            if value:
                metadata[name] = value
        return InboundMessage(
            channel=self.channel,
            account=params.require("To"),
            sender=(("phone", sender),),
            received_at=now,
            provider_message_id=params.require("MessageSid"),
            text=params.get("Body") or None,
            attachments=tuple(attachments),
            warnings=tuple(warnings),
            metadata=metadata,
        )

    def _media(
        self, account: TwilioAccount, params: FormParams
    ) -> tuple[list[AttachmentIn], list[str], list[str]]:
        raw = params.get("NumMedia") or "0"
        if not raw.isdigit() or int(raw) > 10:
            raise Invalid("invalid_num_media", "NumMedia must be a number from 0 to 10", "NumMedia")
        attachments: list[AttachmentIn] = []
        warnings: list[str] = []
        links: list[str] = []
        for index in range(int(raw)):
            url = params.get(f"MediaUrl{index}")
            if not url:
                warnings.append(f"MediaUrl{index} is missing")
                continue
            content_type = params.get(f"MediaContentType{index}") or "application/octet-stream"
            fetched = fetch_media(
                self.client,
                url,
                filename=f"media-{index}{extension(content_type)}",
                content_type=content_type,
                max_bytes=self.media_max_bytes,
                follow_redirects=True,
                auth=(account.account_sid, account.auth_token.get_secret_value()),
            )
            if fetched.attachment is not None:
                attachments.append(fetched.attachment)
            else:
                links.append(url)
                warnings.append(fetched.warning or f"media {index} not fetched")
        return attachments, warnings, links

    def delivery(self, params: FormParams, now: datetime) -> DeliveryUpdate | None:
        """The status callback of a message we sent; None for statuses of inbound messages."""
        raw = params.require("MessageStatus").lower()
        if raw in ("receiving", "received"):
            return None
        status = STATUSES.get(raw)
        if status is None:
            raise Invalid(
                "unknown_status", f"MessageStatus {raw!r} is not a Twilio status", "MessageStatus"
            )
        error = None
        code = params.get("ErrorCode")
        if code:
            message = params.get("ErrorMessage")
            error = f"Twilio error {code}" + (f": {message}" if message else "")
        return DeliveryUpdate(self.channel, params.require("MessageSid"), status, now, error)

    # -- outbound --------------------------------------------------------------------------

    def can_send(self, ctx: SendContext) -> str | None:
        if ctx.to[0] != "phone":
            return "SMS needs a phone number"
        if ctx.has_attachments:
            return "SMS cannot carry attachments"
        if self._sender(ctx.account) is None:
            return "no Twilio number is configured to send SMS from"
        return None

    def _sender(self, number: str | None) -> tuple[TwilioAccount, dict[str, str]] | None:
        """The account and `From`/`MessagingServiceSid` to send from: the account holding
        `number`, else the first account with a number or a messaging service."""
        for account in self.accounts.values():
            if number and number in account.numbers:
                return account, {"From": number}
        for account in self.accounts.values():
            if account.numbers:
                return account, {"From": account.numbers[0]}
            if account.messaging_service_sid:
                return account, {"MessagingServiceSid": account.messaging_service_sid}
        return None

    def send(self, out: OutboundMessage) -> SendResult:
        chosen = self._sender(out.account)
        if chosen is None:
            raise SendFailed("no Twilio number is configured to send SMS from", retry=False)
        account, origin = chosen
        if out.to[0] != "phone":
            raise SendFailed(f"SMS cannot reach a {out.to[0]}", retry=False)
        if out.attachments:
            raise SendFailed("SMS cannot carry attachments", retry=False)
        body = (out.text or "").strip()
        if not body:
            raise SendFailed("an SMS needs text", retry=False)
        if len(body) > MAX_BODY_CHARS:
            raise SendFailed(f"an SMS is at most {MAX_BODY_CHARS} characters", retry=False)
        form = {"To": out.to[1], "Body": body, **origin}
        if self.public_base_url:
            form["StatusCallback"] = self.public_base_url + STATUS_PATH
            if self.tag_callbacks:
                form["StatusCallback"] += "?" + urlencode({"ref": out.message_id})
        response = call(
            self.client,
            "Twilio",
            "POST",
            f"{self.base_url}/2010-04-01/Accounts/{account.account_sid}/Messages.json",
            data=form,
            auth=(account.account_sid, account.auth_token.get_secret_value()),
        )
        answer = response.json()
        sid = answer.get("sid") if isinstance(answer, dict) else None
        if not isinstance(sid, str):
            raise SendFailed("Twilio answered without a message sid")
        if STATUSES.get(str(answer.get("status")).lower()) in ("failed", "undelivered"):
            raise SendFailed(f"Twilio refused the message ({answer.get('status')})", retry=False)
        # Accepted by Twilio: handed over, so never sent again; callbacks tell the rest.
        return SendResult(sid, "sent")

    def find_sent(self, out: OutboundMessage, since: datetime) -> SendResult | None:
        """The message Twilio accepted for `out` since `since`, if any: Messages are listed
        newest first for the recipient (and our number) and matched on the body, so an
        interrupted send can be settled instead of sent again. Twilio's list has no filter
        by our own id; two identical bodies to one number within the window are taken for
        the same message."""
        chosen = self._sender(out.account)
        if chosen is None:
            return None
        account, origin = chosen
        body = (out.text or "").strip()
        query = {"To": out.to[1], "PageSize": "50"}
        if "From" in origin:
            query["From"] = origin["From"]
        url: str | None = (
            f"{self.base_url}/2010-04-01/Accounts/{account.account_sid}/Messages.json?"
            + urlencode(query)
        )
        auth = (account.account_sid, account.auth_token.get_secret_value())
        pages = 0
        while url and pages < 10:
            pages += 1
            answer = call(self.client, "Twilio", "GET", url, auth=auth).json()
            if not isinstance(answer, dict):
                return None
            for item in answer.get("messages") or ():
                created = _twilio_time(item.get("date_created"))
                if created is not None and created < since:
                    return None
                if item.get("body") == body and isinstance(item.get("sid"), str):
                    status = STATUSES.get(str(item.get("status")).lower(), "sent")
                    return SendResult(item["sid"], "sent" if status == "queued" else status)
            following = answer.get("next_page_uri")
            url = f"{self.base_url}{following}" if isinstance(following, str) else None
        return None


def _twilio_time(value: object) -> datetime | None:
    """Twilio's RFC 2822 dates ("Mon, 23 Nov 2026 12:00:00 +0000")."""
    if not isinstance(value, str):
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None

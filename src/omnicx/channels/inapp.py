"""The in-app inbox: messages kept for the customer inside the site or app, the channel that
puts them there (`in_app`), and the tokens that open an inbox.

An inbox belongs to an address, like a push device (see `channels.push`): an `anonymous_id`
(a web visitor's chat session) or a `user_id` (an app token the site's backend asked omnicx
for after its own sign-in). The channel reaches a customer only through an address whose
inbox was opened at least once, so nothing is "sent" where nobody will ever look.

    message state      set when                           receipt
    sent               the channel stored it               (the send itself)
    delivered          an inbox listing first showed it    delivered
    read               the customer marked it read         read
    clicked            the customer followed it            read (if not yet), clicked

App tokens: base64url(JSON {"v": 1, "k": kind, "a": value, "e": expiry}) "." base64url(HMAC)
with a key derived from the index key, as web-chat tokens are.
"""

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import orjson

from omnicx.channels.push import ADDRESS_KINDS, check_address
from omnicx.channels.receipts import DeliveryReceipt, ReceiptStatus
from omnicx.conversations import OutboundMessage, SendContext, SendFailed, SendResult
from omnicx.db import UnitOfWork, UnitOfWorkFactory
from omnicx.kernel import Invalid, NotFound

log = logging.getLogger("omnicx.channels")

CHANNEL = "in_app"
MAX_TEXT_CHARS = 5000
MAX_LIST = 100

Mark = Literal["read", "clicked"]


@dataclass(frozen=True)
class InAppMessage:
    id: str
    customer_id: str
    address_kind: str
    text: str
    created_at: datetime
    title: str | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    clicked_at: datetime | None = None

    @property
    def status(self) -> str:
        if self.clicked_at is not None:
            return "clicked"
        if self.read_at is not None:
            return "read"
        if self.delivered_at is not None:
            return "delivered"
        return "sent"

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "text": self.text,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "read_at": self.read_at.isoformat() if self.read_at else None,
        }


class InAppRepository(Protocol):
    def add(self, message: InAppMessage, *, address_hash: str) -> bool: ...
    def get(self, message_id: str, address_kind: str, address_hash: str) -> InAppMessage | None: ...
    def of_address(
        self, address_kind: str, address_hash: str, *, limit: int, before: str | None = None
    ) -> list[InAppMessage]: ...
    def unread(self, address_kind: str, address_hash: str) -> int: ...
    def mark(self, message_id: str, **values: datetime) -> None: ...
    def open_inbox(
        self, address_kind: str, address_hash: str, customer_id: str | None, now: datetime
    ) -> None: ...
    def has_inbox(self, address_kind: str, address_hash: str) -> bool: ...
    def of_customers(self, customer_ids: Collection[str], *, limit: int) -> list[InAppMessage]: ...


Owner = Callable[[UnitOfWork, tuple[str, str]], str | None]
"""The live customer an address belongs to (created when new, as a first event would)."""

RecordReceipt = Callable[[DeliveryReceipt], bool]


# -- app tokens ------------------------------------------------------------------------------


class AppTokenRefused(Exception):
    """An app token that is malformed, forged or expired."""


def app_token_key(index_key: bytes) -> bytes:
    return hmac.new(index_key, b"omnicx app token v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_app_token(
    key: bytes, address: tuple[str, str], now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    kind, value = check_address(*address)
    expires = now + ttl
    body = _b64(orjson.dumps({"v": 1, "k": kind, "a": value, "e": int(expires.timestamp())}))
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}", expires


def verify_app_token(key: bytes, token: str, now: datetime) -> tuple[str, str]:
    """The address an app token opens; AppTokenRefused says why not."""
    body, sep, signature = token.partition(".")
    if not sep or not body or not signature:
        raise AppTokenRefused("the app token is malformed")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise AppTokenRefused("the app token's signature does not match")
    try:
        claims = orjson.loads(_unb64(body))
        kind, value, expires = str(claims["k"]), str(claims["a"]), int(claims["e"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise AppTokenRefused("the app token is malformed") from None
    if claims.get("v") != 1 or kind not in ADDRESS_KINDS:
        raise AppTokenRefused("the app token is of an unknown version")
    if now >= datetime.fromtimestamp(expires, UTC):
        raise AppTokenRefused("the app token has expired: ask the site for a new one")
    return kind, value


# -- the channel and the inbox ---------------------------------------------------------------


class InApp:
    """The `in_app` channel's sender, and the inbox its widget and apps read."""

    channel = CHANNEL

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        repo: Callable[[UnitOfWork], InAppRepository],
        blind: Callable[[str, str], str],
        owner: Owner,
        receipts: RecordReceipt,
    ) -> None:
        self.uow = uow
        self.repo = repo
        self.blind = blind
        self.owner = owner
        self.receipts = receipts

    def _hash(self, address: tuple[str, str]) -> str:
        return self.blind(address[0], address[1])

    # -- sending ----------------------------------------------------------------------------

    def can_send(self, ctx: SendContext) -> str | None:
        if ctx.to[0] not in ADDRESS_KINDS:
            return "the in-app inbox reaches a customer by user_id or anonymous_id"
        if ctx.template is not None:
            return "the in-app inbox has no message templates"
        if ctx.has_attachments:
            return "in-app messages cannot carry attachments"
        with self.uow(write=False) as uow:
            opened = self.repo(uow).has_inbox(ctx.to[0], self._hash(ctx.to))
        if not opened:
            return f"the customer never opened the in-app inbox with their {ctx.to[0]}"
        return None

    def send(self, out: OutboundMessage) -> SendResult:
        """Store the message in the address's inbox; idempotent on the message id, so a
        retried send never shows it twice."""
        if out.to[0] not in ADDRESS_KINDS:
            raise SendFailed(f"the in-app inbox cannot reach a {out.to[0]}", retry=False)
        if out.attachments:
            raise SendFailed("in-app messages cannot carry attachments", retry=False)
        text = (out.text or "").strip()
        if not text:
            raise SendFailed("an in-app message needs text", retry=False)
        if len(text) > MAX_TEXT_CHARS:
            raise SendFailed(f"an in-app text is at most {MAX_TEXT_CHARS} characters", retry=False)
        with self.uow() as uow:
            customer_id = self.owner(uow, out.to)
            if customer_id is None:
                raise SendFailed(f"nobody holds this {out.to[0]} any more", retry=False)
            self.repo(uow).add(
                InAppMessage(
                    id=out.message_id,
                    customer_id=customer_id,
                    address_kind=out.to[0],
                    text=text,
                    title=(out.thread.subject or "").strip()[:200] or None,
                    created_at=uow.clock.now(),
                ),
                address_hash=self._hash(out.to),
            )
            uow.commit()
        return SendResult(out.message_id, "sent")

    # -- the inbox --------------------------------------------------------------------------

    def open(
        self, address: tuple[str, str], *, limit: int = 50, before: str | None = None
    ) -> tuple[list[InAppMessage], int]:
        """The inbox's newest messages (before the message `before`) and how many are
        unread. Opening marks the inbox as one the channel may use, and each message shown
        for the first time as delivered."""
        if not 1 <= limit <= MAX_LIST:
            raise Invalid("invalid_limit", f"limit must be 1 to {MAX_LIST}", "limit")
        hashed = self._hash(address)
        with self.uow() as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            repo.open_inbox(address[0], hashed, self.owner(uow, address), now)
            if before is not None and repo.get(before, address[0], hashed) is None:
                raise NotFound("message_not_found", "no such message in this inbox", "before")
            found = repo.of_address(address[0], hashed, limit=limit, before=before)
            unread = repo.unread(address[0], hashed)
            uow.commit()
        fresh = [m for m in found if m.delivered_at is None]
        for message in fresh:
            self._receipt(message.id, "delivered", now)
        if fresh:
            with self.uow() as uow:
                repo = self.repo(uow)
                for message in fresh:
                    repo.mark(message.id, delivered_at=now)
                uow.commit()
        shown = {m.id: now for m in fresh}
        return [_with(m, delivered_at=shown.get(m.id, m.delivered_at)) for m in found], unread

    def mark(self, address: tuple[str, str], message_id: str, mark: Mark) -> InAppMessage:
        """The customer read or followed a message of their inbox (idempotent)."""
        hashed = self._hash(address)
        with self.uow(write=False) as uow:
            message = self.repo(uow).get(message_id, address[0], hashed)
            now = uow.clock.now()
        if message is None:
            raise NotFound("message_not_found", "no such message in this inbox", "message_id")
        values: dict[str, datetime] = {}
        if message.delivered_at is None:
            values["delivered_at"] = now
        if message.read_at is None:
            values["read_at"] = now
        if mark == "clicked" and message.clicked_at is None:
            values["clicked_at"] = now
        if not values:
            return message
        steps: tuple[ReceiptStatus, ...] = ("delivered", "read", "clicked")
        for status in steps:
            if f"{status}_at" in values:
                self._receipt(message.id, status, now)
        with self.uow() as uow:
            self.repo(uow).mark(message.id, **values)
            uow.commit()
        return _with(message, **values)

    def _receipt(self, message_id: str, status: ReceiptStatus, at: datetime) -> None:
        """Receipts go first and the inbox row after, so a crash in between repeats a
        receipt (recorded once) rather than losing it."""
        if not self.receipts(DeliveryReceipt(CHANNEL, message_id, status, at, None, status)):
            log.info("in-app message %s is neither a conversation's nor the gate's", message_id)

    def of_customers(self, customer_ids: Sequence[str], limit: int = 100) -> list[InAppMessage]:
        with self.uow(write=False) as uow:
            return self.repo(uow).of_customers(customer_ids, limit=limit)


def _with(message: InAppMessage, **values: datetime | None) -> InAppMessage:
    return replace(message, **values)  # type: ignore[arg-type]

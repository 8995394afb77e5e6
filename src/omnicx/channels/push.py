"""The push channel: web push (VAPID) and mobile push (FCM) behind one `push` sender, the
devices each customer registered, and the signed receipt tokens devices report back with.

A device is registered under an address, the identifier it proved: an `anonymous_id` (a web
visitor's chat session) or a `user_id` (an app token the site's backend asked omnicx for). A
message on the push channel goes to the address the channel picks for the customer (its
`user_id` when it has one, else its `anonymous_id`) and from there to every device registered
under that address:

    device answer                   what happens
    accepted                        counted as reached
    gone (404/410, UNREGISTERED)    the registration is removed
    retryable (429, 5xx, network)   the message is tried again later, unless a device was
                                    reached (then it is sent, and the rest is logged)
    refused (other 4xx)             logged; the message fails if no device was reached

A device only ever gets messages for the address it proved, so linking an anonymousId to
someone else's profile (the tracking API trusts the site's calls) never sends that person's
messages to another device.
"""

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson

from omnicx.conversations import OutboundMessage, SendContext, SendFailed, SendResult
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork, UnitOfWorkFactory
from omnicx.kernel import Invalid, NotFound, new_id
from omnicx.profiles import IdentityRules, ProfileWriter
from omnicx.profiles.model import Identifier
from omnicx.profiles.store import SqlProfileRepository

log = logging.getLogger("omnicx.channels")

CHANNEL = "push"
ADDRESS_KINDS = ("user_id", "anonymous_id")
MAX_BODY_CHARS = 1000
MAX_TITLE_CHARS = 120
MAX_ADDRESS = 320

DeviceKind = Literal["webpush", "fcm"]
Outcome = Literal["sent", "gone", "retry", "refused"]


@dataclass(frozen=True)
class Registration:
    """One device: a browser's push subscription (`webpush`) or an app's FCM token."""

    id: str
    kind: DeviceKind
    customer_id: str
    address_kind: str
    target: Mapping[str, Any]
    """webpush: {"endpoint", "keys": {"p256dh", "auth"}}; fcm: {"token"}"""
    platform: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PushPayload:
    """What a notification carries; `data` goes to the service worker or the app as is."""

    title: str
    body: str
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    detail: str = ""


class DeviceSender(Protocol):
    """One push technology (web push, FCM): hands a payload to one device."""

    kind: DeviceKind

    def deliver(self, target: Mapping[str, Any], payload: PushPayload) -> Delivery: ...
    def close(self) -> None: ...


class PushRepository(Protocol):
    def save(
        self,
        registration: Registration,
        *,
        address_hash: str,
        target_hash: str,
    ) -> Registration: ...
    def remove(self, kind: DeviceKind, target_hash: str, address_hash: str) -> bool: ...
    def of_address(self, address_kind: str, address_hash: str) -> list[Registration]: ...
    def forget(self, ids: Sequence[str]) -> int: ...


# -- addresses and receipt tokens ------------------------------------------------------------


def check_address(kind: str, value: object) -> tuple[str, str]:
    if kind not in ADDRESS_KINDS:
        raise Invalid("invalid_address", f"push reaches a {' or '.join(ADDRESS_KINDS)}", kind)
    if not isinstance(value, str) or not value.strip():
        raise Invalid("invalid_address", f"{kind} must be a non-empty string", kind)
    value = value.strip()
    if len(value) > MAX_ADDRESS or not value.isprintable():
        raise Invalid(
            "invalid_address", f"{kind} must be at most {MAX_ADDRESS} printable characters", kind
        )
    return kind, value


def receipt_key(index_key: bytes) -> bytes:
    return hmac.new(index_key, b"omnicx push receipt v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def receipt_token(key: bytes, channel: str, message_id: str) -> str:
    """What a device sends back to say a message arrived, was dismissed or clicked: the
    channel and message id, signed, so nobody else can report on our messages."""
    body = _b64(orjson.dumps([channel, message_id]))
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16])
    return f"{body}.{signature}"


def read_receipt_token(key: bytes, token: str) -> tuple[str, str]:
    """(channel, message id) of a receipt token; Invalid when it is malformed or forged."""
    body, sep, signature = token.partition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16])
    if not sep or not hmac.compare_digest(expected, signature):
        raise Invalid("invalid_receipt_token", "the receipt token is not one of ours", "token")
    try:
        channel, message_id = orjson.loads(_unb64(body))
    except (binascii.Error, ValueError, TypeError):
        raise Invalid("invalid_receipt_token", "the receipt token is malformed", "token") from None
    return str(channel), str(message_id)


def target_of(kind: DeviceKind, target: Mapping[str, Any]) -> str:
    """What identifies a device for its technology: the endpoint, or the FCM token."""
    return str(target["endpoint"] if kind == "webpush" else target["token"])


def owner_of(uow: UnitOfWork, cipher: FieldCipher, address: tuple[str, str]) -> str | None:
    """The live customer holding an address, None when nobody does."""
    wanted = Identifier(*address)
    return SqlProfileRepository(uow.conn, cipher).owners({wanted}).get(wanted)


def customer_for(
    uow: UnitOfWork, cipher: FieldCipher, rules: IdentityRules, address: tuple[str, str]
) -> str:
    """The customer holding an address, created when it is new (as a first event would)."""
    writer = ProfileWriter(
        SqlProfileRepository(uow.conn, cipher), rules, uow.clock.now(), uow.raise_event
    )
    customer_id = writer.resolve(
        [Identifier(*address)], event_id=None, channel=CHANNEL, source_id=None
    )
    if customer_id is None:
        raise Invalid("address_blocked", f"this {address[0]} cannot be used", address[0])
    writer.flush()
    return customer_id


# -- registering devices ---------------------------------------------------------------------


class PushDevices:
    """Registering and removing a customer's browsers and app installs."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        repo: Callable[[UnitOfWork], PushRepository],
        cipher: FieldCipher,
        rules: IdentityRules,
    ) -> None:
        self.uow = uow
        self.repo = repo
        self.cipher = cipher
        self.rules = rules

    def register(
        self,
        address: tuple[str, str],
        kind: DeviceKind,
        target: Mapping[str, Any],
        platform: str | None,
    ) -> Registration:
        """Keep a device under `address` (idempotent: the same device again updates its row,
        and moves it when it was registered under another address)."""
        address = check_address(*address)
        with self.uow() as uow:
            now = uow.clock.now()
            customer_id = customer_for(uow, self.cipher, self.rules, address)
            saved = self.repo(uow).save(
                Registration(
                    id=new_id(),
                    kind=kind,
                    customer_id=customer_id,
                    address_kind=address[0],
                    target=target,
                    platform=platform,
                    created_at=now,
                    updated_at=now,
                ),
                address_hash=self.cipher.blind(*address),
                target_hash=self.cipher.blind(kind, target_of(kind, target)),
            )
            uow.commit()
        return saved

    def unregister(self, address: tuple[str, str], kind: DeviceKind, key: str) -> None:
        """Remove the device whose endpoint or token is `key`; NotFound when it is not
        registered under `address`."""
        with self.uow() as uow:
            removed = self.repo(uow).remove(
                kind, self.cipher.blind(kind, key), self.cipher.blind(*address)
            )
            uow.commit()
        if not removed:
            field_name = "endpoint" if kind == "webpush" else "token"
            raise NotFound(
                "registration_not_found", "no such device is registered here", field_name
            )


# -- the channel -----------------------------------------------------------------------------


class PushSender:
    """The `push` channel: every device registered under the message's address, through the
    technology of each."""

    channel = CHANNEL

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        repo: Callable[[UnitOfWork], PushRepository],
        blind: Callable[[str, str], str],
        devices: Mapping[str, DeviceSender],
        *,
        receipt_key: bytes,
        receipt_url: str,
        default_title: str,
    ) -> None:
        self.uow = uow
        self.repo = repo
        self.blind = blind
        self.devices = dict(devices)
        self.receipt_key = receipt_key
        self.receipt_url = receipt_url
        self.default_title = default_title

    def registrations(self, to: tuple[str, str]) -> list[Registration]:
        if to[0] not in ADDRESS_KINDS:
            return []
        with self.uow(write=False) as uow:
            found = self.repo(uow).of_address(to[0], self.blind(to[0], to[1]))
        return [r for r in found if r.kind in self.devices]

    def can_send(self, ctx: SendContext) -> str | None:
        if ctx.to[0] not in ADDRESS_KINDS:
            return "push reaches a customer by user_id or anonymous_id"
        if ctx.template is not None:
            return "push has no message templates"
        if ctx.has_attachments:
            return "push notifications cannot carry attachments"
        if not self.registrations(ctx.to):
            return f"no browser or app of the customer's {ctx.to[0]} is registered for push"
        return None

    def payload(self, out: OutboundMessage) -> PushPayload:
        text = " ".join((out.text or "").split())
        if not text:
            raise SendFailed("a push notification needs text", retry=False)
        if len(text) > MAX_BODY_CHARS:
            text = text[: MAX_BODY_CHARS - 1] + "…"
        title = (out.thread.subject or self.default_title).strip()[:MAX_TITLE_CHARS]
        token = receipt_token(self.receipt_key, CHANNEL, out.message_id)
        return PushPayload(
            title,
            text,
            {"message_id": out.message_id, "receipt": token, "receipt_url": self.receipt_url},
        )

    def send(self, out: OutboundMessage) -> SendResult:
        if out.to[0] not in ADDRESS_KINDS:
            raise SendFailed(f"push cannot reach a {out.to[0]}", retry=False)
        if out.attachments:
            raise SendFailed("push notifications cannot carry attachments", retry=False)
        payload = self.payload(out)
        targets = self.registrations(out.to)
        if not targets:
            raise SendFailed(
                f"no browser or app of the customer's {out.to[0]} is registered for push",
                retry=False,
            )
        reached = 0
        gone: list[str] = []
        problems: list[tuple[Outcome, str]] = []
        for registration in targets:
            result = self.devices[registration.kind].deliver(registration.target, payload)
            if result.outcome == "sent":
                reached += 1
            elif result.outcome == "gone":
                gone.append(registration.id)
            else:
                problems.append((result.outcome, f"{registration.kind}: {result.detail}"))
        if gone:
            with self.uow() as uow:
                self.repo(uow).forget(gone)
                uow.commit()
            log.info("push: %d registration(s) gone, removed", len(gone))
        if reached:
            for _, detail in problems:
                log.warning("push %s: a device was not reached: %s", out.message_id, detail)
            return SendResult(out.message_id, "sent")
        reasons = "; ".join(d for _, d in problems) or "every registered device is gone"
        retry = any(outcome == "retry" for outcome, _ in problems)
        raise SendFailed(f"no device was reached: {reasons}", retry=retry)

    def close(self) -> None:
        for device in self.devices.values():
            device.close()

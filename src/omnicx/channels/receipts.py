"""Delivery receipts: every provider's statuses normalised to one vocabulary, recorded on the
message they are about and on the customer's timeline.

    normalised   meaning                                   timeline event
    queued       accepted by omnicx or the provider,       (none: "Message Sent" is already
                 not yet handed on                          there from when it was queued)
    sent         handed to the carrier or push service     (none, as above)
    delivered    reached the device, app or inbox          Message Delivered
    read         seen (opened, shown, dismissed)           Message Read
    clicked      the customer acted on it (tap, link)      Message Clicked
    bounced      refused by the network for good           Message Bounced
                 (an undeliverable number, a dead address)
    failed       the provider gave up                      Message Failed

    provider     its statuses                              normalised
    twilio       accepted, scheduled, queued               queued
                 sending, sent                             sent
                 delivered / read                          delivered / read
                 undelivered                               bounced
                 failed, canceled                          failed
    whatsapp     sent, delivered, read, failed             the same
    viber        delivered, seen, failed                   delivered, read, failed
    webpush      delivered, dismissed, clicked             delivered, read, clicked
    fcm          delivered, dismissed, opened              delivered, read, clicked
    in_app       delivered, read, clicked                  the same
    email        delivered, opened, clicked, bounced,      delivered, read, clicked, bounced,
                 failed                                     failed
    omnicx       the conversations' own states:            the same, undelivered → bounced
                 queued, sent, delivered, read,
                 undelivered, failed

A status not in a provider's table (Twilio's `receiving`, WhatsApp's `deleted`) is not a
delivery receipt: `normalise` answers None and nothing is recorded.

Conversation messages and the maestro's messages keep the coarser states of their own
(`clicked` is kept there as `read`, `bounced` as `undelivered`); the timeline keeps the
normalised one. Each status lands on the timeline once per message, however often the
provider repeats it.
"""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

from omnicx.conversations import DeliveryUpdate
from omnicx.conversations import services as conversation_services
from omnicx.conversations.model import DeliveryState
from omnicx.conversations.store import SqlConversationRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork, UnitOfWorkFactory
from omnicx.events.store import SqlEventRepository, events
from omnicx.kernel import NotFound
from omnicx.kernel.moments import micros
from omnicx.orchestration.store.sends import SqlSendRepository

log = logging.getLogger("omnicx.channels")

ReceiptStatus = Literal["queued", "sent", "delivered", "read", "clicked", "bounced", "failed"]

STATUSES: tuple[ReceiptStatus, ...] = (
    "queued",
    "sent",
    "delivered",
    "read",
    "clicked",
    "bounced",
    "failed",
)

TIMELINE_SOURCE = "receipts"
"""The `source_id` of the timeline events receipts write."""

TIMELINE_EVENTS: dict[ReceiptStatus, str] = {
    "delivered": "Message Delivered",
    "read": "Message Read",
    "clicked": "Message Clicked",
    "bounced": "Message Bounced",
    "failed": "Message Failed",
}

PROVIDERS: dict[str, dict[str, ReceiptStatus]] = {
    "twilio": {
        "accepted": "queued",
        "scheduled": "queued",
        "queued": "queued",
        "sending": "sent",
        "sent": "sent",
        "delivered": "delivered",
        "read": "read",
        "undelivered": "bounced",
        "failed": "failed",
        "canceled": "failed",
    },
    "whatsapp": {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"},
    "viber": {"delivered": "delivered", "seen": "read", "failed": "failed"},
    "webpush": {"delivered": "delivered", "dismissed": "read", "clicked": "clicked"},
    "fcm": {"delivered": "delivered", "dismissed": "read", "opened": "clicked"},
    "in_app": {"delivered": "delivered", "read": "read", "clicked": "clicked"},
    "email": {
        "delivered": "delivered",
        "opened": "read",
        "clicked": "clicked",
        "bounced": "bounced",
        "failed": "failed",
    },
    "omnicx": {
        "queued": "queued",
        "sent": "sent",
        "delivered": "delivered",
        "read": "read",
        "undelivered": "bounced",
        "failed": "failed",
    },
}
"""Each provider's delivery statuses, as it spells them, to the normalised ones."""

DELIVERY_STATES: dict[ReceiptStatus, DeliveryState] = {
    "queued": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "clicked": "read",
    "bounced": "undelivered",
    "failed": "failed",
}
"""The state a conversation or maestro message keeps for each normalised status."""


def normalise(provider: str, status: str) -> ReceiptStatus | None:
    """The normalised status of a provider's `status`; None when it is not a delivery
    receipt (or the provider is unknown)."""
    return PROVIDERS.get(provider, {}).get(status.strip().lower())


@dataclass(frozen=True)
class DeliveryReceipt:
    """A provider's word about a message omnicx sent: found by (channel, provider_message_id),
    or by `ref` (our own message id) when the provider echoes it."""

    channel: str
    provider_message_id: str
    status: ReceiptStatus
    at: datetime
    error: str | None = None
    provider_status: str | None = None
    """The status as the provider said it, kept on the timeline."""

    @classmethod
    def of(cls, update: DeliveryUpdate, provider_status: str | None = None) -> "DeliveryReceipt":
        """A receipt from a conversation `DeliveryUpdate` (a connector that speaks those)."""
        status = normalise("omnicx", update.status) or "failed"
        return cls(
            update.channel,
            update.provider_message_id,
            status,
            update.at,
            update.error,
            provider_status or update.status,
        )

    def update(self) -> DeliveryUpdate:
        return DeliveryUpdate(
            self.channel,
            self.provider_message_id,
            DELIVERY_STATES[self.status],
            self.at,
            self.error,
        )


GateReceipt = Callable[[DeliveryUpdate, str | None], bool]
"""The maestro's receipt entry point (`Sending.record_receipt`): False when the message is
not one of the gate's."""

T = TypeVar("T")


class Receipts:
    """Records receipts: the maestro's messages first (the gate moves its sends forward and
    falls back on failure), then conversation messages; each on the customer's timeline."""

    def __init__(self, uow: UnitOfWorkFactory, cipher: FieldCipher, gate: GateReceipt) -> None:
        self.uow = uow
        self.cipher = cipher
        self.gate = gate

    def record(self, receipt: DeliveryReceipt, ref: str | None = None) -> bool:
        """Record one receipt; False when the message is none of ours (another system that
        shares the provider account), which callers acknowledge and drop."""
        update = receipt.update()
        if self.gate(update, ref):
            self._retrying(lambda uow: self._gate_timeline(uow, receipt, ref))
            return True
        try:
            self._retrying(lambda uow: self._conversation(uow, receipt, update))
        except NotFound:
            return False
        return True

    def _conversation(
        self, uow: UnitOfWork, receipt: DeliveryReceipt, update: DeliveryUpdate
    ) -> None:
        message = conversation_services.record_delivery(
            SqlConversationRepository(uow.conn, self.cipher),
            update,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        self.timeline(
            uow,
            message.customer_id,
            message.id,
            receipt,
            {"conversation_id": message.conversation_id},
        )

    def _gate_timeline(self, uow: UnitOfWork, receipt: DeliveryReceipt, ref: str | None) -> None:
        repo = SqlSendRepository(uow.conn, self.cipher)
        message = repo.by_provider_id(receipt.channel, receipt.provider_message_id)
        if message is None and ref:
            message = repo.message(ref)
        if message is None:
            return
        send = repo.get(message.send_ref)
        extra = {"send_id": send.send_id, "origin": send.intent.origin} if send else {}
        self.timeline(uow, message.customer_id, message.id, receipt, extra)

    def timeline(
        self,
        uow: UnitOfWork,
        customer_id: str,
        message_id: str,
        receipt: DeliveryReceipt,
        extra: Mapping[str, Any],
    ) -> bool:
        """Put the receipt on the customer's timeline, once per message and status; False
        when it was there already or its status has no event."""
        name = TIMELINE_EVENTS.get(receipt.status)
        if name is None:
            return False
        properties: dict[str, Any] = {
            "message_id": message_id,
            "status": receipt.status,
            "provider_status": receipt.provider_status,
            "direction": "outbound",
            **extra,
        }
        if receipt.error:
            properties["error"] = receipt.error
        return timeline_event(
            uow,
            self.cipher,
            source=TIMELINE_SOURCE,
            key=f"{message_id}:{receipt.status}",
            customer_id=customer_id,
            name=name,
            channel=receipt.channel,
            at=receipt.at,
            properties=properties,
        )

    def _retrying(self, work: Callable[[UnitOfWork], T]) -> T:
        """`work` in a fresh unit of work, again when a concurrent receipt for the same
        message won the race for its timeline row (a unique key) or a deadlock hit."""
        for attempt in range(1, 6):
            try:
                with self.uow() as uow:
                    result = work(uow)
                    uow.commit()
                return result
            except (exc.IntegrityError, exc.OperationalError):
                if attempt == 5:
                    raise
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")


def timeline_event(
    uow: UnitOfWork,
    cipher: FieldCipher,
    *,
    source: str,
    key: str,
    customer_id: str,
    name: str,
    channel: str,
    at: datetime,
    properties: Mapping[str, Any],
) -> bool:
    """One event on a customer's timeline, written once per (source, key); False when it
    was there already."""
    found = uow.conn.execute(
        sa.select(events.c.id).where(events.c.source_id == source, events.c.message_id == key)
    ).first()
    if found is not None:
        return False
    repo = SqlEventRepository(uow.conn, cipher)
    (event_id,) = repo.allocate_ids(1)
    repo.insert_events(
        [
            {
                "id": event_id,
                "source_id": source,
                "message_id": key,
                "profile_id": customer_id,
                "type": "track",
                "event": name,
                "name": None,
                "channel": channel,
                "ts": micros(at),
                "received_at": micros(uow.clock.now()),
                "user_id": None,
                "anonymous_id": None,
                "properties": dict(properties),
                "context": {"channel": channel},
                "traits": None,
            }
        ]
    )
    return True

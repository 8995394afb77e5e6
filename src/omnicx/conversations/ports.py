"""The conversations domain's ports: how a message leaves through a channel, and where
conversations are kept.

A channel connector registers a `ChannelSender` with `services.channel_senders[channel]` in
the composition root; the worker sends each queued outbound message through it, with retries.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from omnicx.conversations.model import (
    Attachment,
    AttachmentIn,
    Conversation,
    DeliveryState,
    DeliveryStatus,
    Message,
    Template,
)


@dataclass(slots=True)
class SendContext:
    """What a channel's rules may look at before a message is queued.

    `last_inbound_at` is when the customer last wrote on this channel (any conversation),
    e.g. for WhatsApp's 24-hour customer-service window.
    """

    customer_id: str
    conversation_id: str
    channel: str
    account: str | None
    to: tuple[str, str]
    now: datetime
    last_inbound_at: datetime | None
    template: Template | None = None
    has_attachments: bool = False


@dataclass(frozen=True)
class ThreadHeaders:
    """Email threading: our Message-ID for this message, the one it answers, the chain, and
    the reply+token address replies should go to."""

    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    message_id: str
    conversation_id: str
    channel: str
    account: str | None
    """Our endpoint to send from (the one the customer last wrote to), None for the default."""
    to: tuple[str, str]
    """The customer identifier to send to, e.g. ("phone", "+5511988887777")."""
    text: str | None
    html: str | None = None
    attachments: tuple[AttachmentIn, ...] = ()
    thread: ThreadHeaders = ThreadHeaders()
    template: Template | None = None


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str | None
    status: DeliveryState = "sent"


class SendFailed(Exception):
    """A send that did not go out. `retry` false means trying again cannot help (a number
    the provider rejects); the message is then marked failed at once."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class ChannelSender(Protocol):
    channel: str

    def can_send(self, ctx: SendContext) -> str | None:
        """None when the message may be sent, else why not (shown to the agent)."""
        ...

    def send(self, out: OutboundMessage) -> SendResult:
        """Send one message; raise `SendFailed` when it did not go out."""
        ...


class ConversationRepository(Protocol):
    def add_conversation(self, c: Conversation) -> None: ...
    def get(self, conversation_id: str, *, lock: bool = False) -> Conversation | None: ...
    def by_reply_token(self, token: str) -> Conversation | None: ...
    def by_email_ids(self, email_ids: Collection[str]) -> Conversation | None: ...
    def update(self, conversation_id: str, **values: Any) -> None: ...
    def lock_customer(self, profile_id: str) -> None: ...
    def of_customer(self, canonical_id: str, *, limit: int = 100) -> list[Conversation]: ...
    def next_seq(self, conversation_id: str) -> int: ...
    def add_message(self, m: Message) -> None: ...
    def add_attachment(self, attachment: Attachment, content: bytes, now: datetime) -> None: ...
    def message(self, message_id: str) -> Message | None: ...
    def by_provider_id(self, channel: str, provider_message_id: str) -> Message | None: ...
    def messages_of(
        self, conversation_id: str, *, after_seq: int = 0, limit: int = 10_000
    ) -> list[Message]: ...
    def last_inbound(
        self, canonical_id: str, channel: str, conversation_id: str | None = None
    ) -> Message | None: ...
    def move_messages(self, message_ids: Sequence[str], conversation_id: str) -> None: ...
    def renumber(self, conversation_id: str, ordered_ids: Sequence[str]) -> None: ...
    def set_delivery(
        self, message_id: str, status: DeliveryState | None, provider_id: str | None, now: datetime
    ) -> None: ...
    def add_delivery(self, entry: DeliveryStatus) -> None: ...
    def deliveries(self, message_id: str) -> list[DeliveryStatus]: ...

"""The conversations domain's facts: conversations, messages and the state machine.

A conversation belongs to a customer, not to a channel: each message records its own channel
and the channel account (which of our addresses, numbers or bots) it used.

    Conversation status
    open ──────► pending ──────► open
     │  ▲          │
     │  └──────────┤  (an inbound message reopens pending and snoozed conversations)
     ▼             ▼
    snoozed ───► open            snoozed needs `snoozed_until` in the future
     │
     ▼
    resolved ──► open            an inbound message within `conversation_reopen_days` reopens
     │                           it; resolving sets `resolved_at`
     ▼
    closed                       final: nothing leaves it; a new inbound opens a new one

Every status but closed may go to resolved or closed; resolved and closed are "done".
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from omnicx.access.model import Principal
from omnicx.kernel import Conflict, Invalid

Status = Literal["open", "pending", "snoozed", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Direction = Literal["inbound", "outbound", "note"]
SenderKind = Literal["customer", "agent", "bot", "system"]
MessageKind = Literal["message", "call", "visit"]
DeliveryState = Literal["queued", "sent", "delivered", "read", "undelivered", "failed"]

STATUSES: tuple[Status, ...] = ("open", "pending", "snoozed", "resolved", "closed")
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound", "note")
SENDER_KINDS: tuple[SenderKind, ...] = ("customer", "agent", "bot", "system")
MESSAGE_KINDS: tuple[MessageKind, ...] = ("message", "call", "visit")
DELIVERY_STATES: tuple[DeliveryState, ...] = (
    "queued",
    "sent",
    "delivered",
    "read",
    "undelivered",
    "failed",
)
ACTIVE: tuple[Status, ...] = ("open", "pending", "snoozed")
"""Statuses of a conversation that is still being worked on; a customer has at most one."""

TRANSITIONS: dict[Status, frozenset[Status]] = {
    "open": frozenset({"pending", "snoozed", "resolved", "closed"}),
    "pending": frozenset({"open", "snoozed", "resolved", "closed"}),
    "snoozed": frozenset({"open", "pending", "resolved", "closed"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}

REACH: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "sms": ("phone",),
    "whatsapp": ("whatsapp_id", "phone"),
    "telegram": ("telegram_id",),
    "web_chat": ("anonymous_id",),
    "call_center": ("phone",),
    "viber": ("viber_id",),
    "push": ("user_id", "anonymous_id"),
    "in_app": ("user_id", "anonymous_id"),
}
"""Identifier kinds through which each channel reaches a customer, in order of preference.
Channels not listed reach customers through an identifier kind named like the channel."""

REPLY_ORDER: tuple[str, ...] = ("whatsapp", "sms", "telegram", "email", "web_chat")
"""Where `channel: "auto"` looks next when the last inbound channel cannot be used."""

CHANNEL_EVENTS: dict[MessageKind, str] = {
    "message": "Message",
    "call": "Call",
    "visit": "Store Visit",
}
"""Timeline event names per message kind (a message adds " Received" or " Sent")."""


# -- what arrives -------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentIn:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ThreadHints:
    """What an inbound message says about the thread it belongs to."""

    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_token: str | None = None
    subject: str | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A message, call or visit from a customer, as a channel connector hands it over.

    `sender` holds the customer's identifiers, e.g. (("email", "ana@example.com"),) or
    (("phone", "+5511988887777"), ("whatsapp_id", "5511988887777")); `account` is our
    endpoint that received it.
    """

    channel: str
    account: str
    sender: tuple[tuple[str, str], ...]
    received_at: datetime
    sender_name: str | None = None
    provider_message_id: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: tuple[AttachmentIn, ...] = ()
    thread: ThreadHints = field(default_factory=ThreadHints)
    warnings: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    kind: MessageKind = "message"


@dataclass(frozen=True)
class Receipt:
    customer_id: str
    conversation_id: str
    message_id: str
    created_conversation: bool
    duplicate: bool


@dataclass(frozen=True)
class Template:
    """An approved provider template (WhatsApp outside its 24-hour window)."""

    name: str
    language: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reply:
    """An agent's reply, or an internal note when `note` is true (notes are never sent)."""

    author: Principal
    channel: str = "auto"
    text: str | None = None
    html: str | None = None
    attachments: tuple[AttachmentIn, ...] = ()
    note: bool = False
    template: Template | None = None
    subject: str | None = None


@dataclass(frozen=True)
class DeliveryUpdate:
    """A provider's status callback for a message we sent."""

    channel: str
    provider_message_id: str
    status: DeliveryState
    at: datetime
    error: str | None = None


# -- what is kept -------------------------------------------------------------------------


@dataclass(frozen=True)
class Csat:
    score: int
    comment: str | None
    at: datetime


@dataclass(frozen=True)
class Conversation:
    id: str
    customer_id: str
    status: Status
    priority: Priority
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None = None
    last_inbound_channel: str | None = None
    subject: str | None = None
    contact_reason: str | None = None
    team_id: str | None = None
    assignee_id: str | None = None
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    merged_into: str | None = None
    split_from: str | None = None
    labels: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    """Every channel the conversation's messages used, in order of first use."""
    sla_policy_id: str | None = None
    sla: dict[str, Any] = field(default_factory=dict)
    """SLA clocks, owned by the desk."""
    csat: Csat | None = None
    reply_token: str = ""
    """Token of the conversation's reply+token email address."""

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class Attachment:
    id: str
    message_id: str
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Message:
    id: str
    conversation_id: str
    customer_id: str
    seq: int
    """Position in the conversation; ordered by created_at, then arrival."""
    direction: Direction
    kind: MessageKind
    channel: str
    account: str | None
    sender_kind: SenderKind
    sender_id: str | None
    created_at: datetime
    text: str | None = None
    html: str | None = None
    subject: str | None = None
    sender_name: str | None = None
    to: tuple[str, str] | None = None
    """Outbound: the customer identifier it was sent to."""
    provider_message_id: str | None = None
    email_message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    status: DeliveryState | None = None
    """Outbound only: the latest delivery status."""
    warnings: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class DeliveryStatus:
    message_id: str
    status: DeliveryState
    at: datetime
    error: str | None = None


# -- rules ---------------------------------------------------------------------------------


def check_transition(
    conversation: Conversation, to: Status, now: datetime, snoozed_until: datetime | None
) -> None:
    """Refuse a status change the state machine does not allow (409) or that lacks what it
    needs (400); a change to the same status is refused too, so a retry cannot stamp twice."""
    if to not in STATUSES:
        raise Invalid("invalid_status", f"status must be one of {', '.join(STATUSES)}", "status")
    if conversation.merged_into is not None:
        raise Conflict(
            "conversation_merged",
            f"conversation was merged into {conversation.merged_into}",
        )
    if to == conversation.status:
        raise Conflict("status_unchanged", f"conversation is already {to}")
    if to not in TRANSITIONS[conversation.status]:
        if conversation.status == "closed":
            raise Conflict("conversation_closed", "a closed conversation cannot change status")
        raise Conflict(
            "invalid_transition",
            f"refused transition {conversation.status} -> {to}: a {conversation.status} "
            f"conversation can become {', '.join(sorted(TRANSITIONS[conversation.status]))}",
            "status",
        )
    if to == "snoozed":
        if snoozed_until is None:
            raise Invalid("snoozed_until_required", "snoozing needs snoozed_until", "snoozed_until")
        if snoozed_until <= now:
            raise Invalid(
                "snoozed_until_past", "snoozed_until must be in the future", "snoozed_until"
            )
    elif snoozed_until is not None:
        raise Invalid(
            "snoozed_until_unexpected", "snoozed_until is only for snoozing", "snoozed_until"
        )


def check_priority(priority: str) -> Priority:
    for known in PRIORITIES:
        if priority == known:
            return known
    raise Invalid(
        "invalid_priority", f"priority must be one of {', '.join(PRIORITIES)}", "priority"
    )


def check_labels(labels: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Labels trimmed, lower-cased, de-duplicated in order; each 1 to 64 characters."""
    seen: dict[str, None] = {}
    for label in labels:
        clean = label.strip().lower()
        if not clean or len(clean) > 64:
            raise Invalid("invalid_label", "a label is 1 to 64 characters", "labels")
        seen.setdefault(clean, None)
    if len(seen) > 50:
        raise Invalid("too_many_labels", "a conversation holds at most 50 labels", "labels")
    return tuple(seen)


def check_csat(score: int, comment: str | None) -> None:
    if not 1 <= score <= 5:
        raise Invalid("invalid_csat_score", "csat score must be 1 to 5", "score")
    if comment is not None and len(comment) > 2000:
        raise Invalid("csat_comment_too_long", "csat comment is at most 2000 characters", "comment")

"""Conversation domain events (past tense). Each carries the customer and the conversation;
the desk (assignment, SLA clocks) and the agents' live stream subscribe to them."""

from dataclasses import dataclass
from datetime import datetime

from omnicx.kernel import Event


@dataclass(frozen=True)
class ConversationOpened(Event):
    customer_id: str
    conversation_id: str
    channel: str


@dataclass(frozen=True)
class MessageReceived(Event):
    customer_id: str
    conversation_id: str
    message_id: str
    channel: str
    kind: str
    """message, call or visit"""
    reopened: bool = False
    """The message reopened a resolved, pending or snoozed conversation."""


@dataclass(frozen=True)
class MessageSent(Event):
    """An agent's outbound message was stored and queued, or an internal note was added
    (`direction` "note"; notes never leave)."""

    customer_id: str
    conversation_id: str
    message_id: str
    channel: str
    direction: str
    author_id: str | None


@dataclass(frozen=True)
class MessageDeliveryChanged(Event):
    customer_id: str
    conversation_id: str
    message_id: str
    channel: str
    status: str
    error: str | None


@dataclass(frozen=True)
class ConversationStatusChanged(Event):
    customer_id: str
    conversation_id: str
    old_status: str
    new_status: str


@dataclass(frozen=True)
class ContactReasonChanged(Event):
    """An agent set, changed or cleared (None) the conversation's contact reason."""

    customer_id: str
    conversation_id: str
    old_reason: str | None
    new_reason: str | None


@dataclass(frozen=True)
class CsatRecorded(Event):
    """The customer's CSAT score (1 to 5) for the conversation was recorded, once."""

    customer_id: str
    conversation_id: str
    score: int
    at: datetime


@dataclass(frozen=True)
class ConversationAssigned(Event):
    customer_id: str
    conversation_id: str
    team_id: str | None
    assignee_id: str | None
    previous_team_id: str | None
    previous_assignee_id: str | None


@dataclass(frozen=True)
class ConversationsMerged(Event):
    """`merged_id`'s messages moved into `conversation_id`, which survives."""

    customer_id: str
    conversation_id: str
    merged_id: str


@dataclass(frozen=True)
class ConversationSplit(Event):
    """Messages of `source_id` from one onward moved to the new `conversation_id`."""

    customer_id: str
    conversation_id: str
    source_id: str

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from omnicx.api.schemas.commerce_returns import CustomerCommerce
from omnicx.api.schemas.consent import CustomerConsents, PreferencesPublic
from omnicx.api.schemas.conversations import ConversationSummary
from omnicx.api.schemas.segments import CustomerSegment


class IdentifierPublic(BaseModel):
    kind: str
    value: str
    channel: str | None
    first_seen: datetime


class TraitPublic(BaseModel):
    value: Any
    channel: str
    updated_at: datetime = Field(description="Event time of the write that set this value.")


class CustomerPublic(BaseModel):
    id: str
    display_name: str | None
    email: str | None
    phone: str | None
    created_at: datetime
    updated_at: datetime
    identifiers: list[IdentifierPublic]
    traits: dict[str, Any]
    merged_ids: list[str] = Field(description="Profiles merged into this one; they redirect here.")


class CustomerSummary(BaseModel):
    id: str
    display_name: str | None
    email: str | None
    phone: str | None
    updated_at: datetime


class CustomersPublic(BaseModel):
    items: list[CustomerSummary]


class TimelineItemPublic(BaseModel):
    id: int
    type: str
    event: str | None
    name: str | None
    channel: str
    timestamp: datetime
    received_at: datetime
    message_id: str
    source_id: str
    properties: dict[str, Any]
    traits: dict[str, Any] | None
    context: dict[str, Any]


class TimelinePublic(BaseModel):
    items: list[TimelineItemPublic]
    next: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class ChannelUsage(BaseModel):
    channel: str
    events: int
    first_seen: datetime
    last_seen: datetime
    last_interaction: TimelineItemPublic | None


class MergePublic(BaseModel):
    id: str
    survivor_id: str
    loser_id: str
    kind: str
    value: str
    event_id: int | None
    reason: str
    created_at: datetime
    undone_at: datetime | None


class ConflictPublic(BaseModel):
    id: str
    profile_id: str
    other_profile_id: str | None
    kind: str
    value: str
    rule: str
    detail: str
    event_id: int | None
    created_at: datetime


class ConflictsPublic(BaseModel):
    items: list[ConflictPublic]


class MergesPublic(BaseModel):
    items: list[MergePublic]


class CustomerContext(BaseModel):
    """Everything a touchpoint needs about one customer, in one call."""

    customer: CustomerPublic
    traits: dict[str, TraitPublic]
    channels: list[ChannelUsage]
    recent_events: list[TimelineItemPublic]
    event_count: int
    merges: list[MergePublic]
    conflicts: list[ConflictPublic]
    conversations: list[ConversationSummary] | None = Field(
        description="Every open, pending or snoozed conversation, then the latest resolved or "
        "closed ones, each with the channels it used; null when the caller lacks the "
        "conversations.read permission."
    )
    consents: CustomerConsents | None = Field(
        default=None,
        description="Consents per purpose and channel, what they allow, pending double opt-ins "
        "and suppressions; null when the caller lacks the consent.read permission.",
    )
    preferences: PreferencesPublic | None = Field(
        default=None,
        description="Channel order, language, time zone, quiet hours and frequency caps; null "
        "when the caller lacks the consent.read permission.",
    )
    segments: list[CustomerSegment] | None = Field(
        default=None,
        description="The segments the customer is in, with when they entered; null when the "
        "caller lacks the segments.read permission.",
    )
    commerce: CustomerCommerce | None = Field(
        default=None,
        description="Open carts, recent orders (channel, location, status), pickups waiting, "
        "returns, exchanges, loyalty balance and tier; null when the caller lacks the "
        "commerce.read permission.",
    )

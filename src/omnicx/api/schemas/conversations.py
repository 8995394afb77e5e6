"""Bodies and answers of the conversations API."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from omnicx.conversations import Conversation, Message

StatusName = Literal["open", "pending", "snoozed", "resolved", "closed"]
PriorityName = Literal["low", "normal", "high", "urgent"]


class CsatPublic(BaseModel):
    score: int
    comment: str | None
    at: datetime


class ConversationPublic(BaseModel):
    id: str
    customer_id: str | None = Field(description="The surviving customer; null once erased.")
    status: StatusName
    priority: PriorityName
    subject: str | None
    contact_reason: str | None
    team_id: str | None
    assignee_id: str | None
    labels: list[str]
    channels: list[str] = Field(
        description="Every channel the conversation's messages used, in order of first use."
    )
    last_inbound_channel: str | None
    last_message_at: datetime | None
    snoozed_until: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    merged_into: str | None = Field(description="The conversation this one was merged into.")
    split_from: str | None = Field(description="The conversation this one was split from.")
    sla_policy_id: str | None
    sla: dict[str, Any]
    csat: CsatPublic | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Conversation) -> "ConversationPublic":
        return cls(
            id=c.id,
            customer_id=c.customer_id or None,
            status=c.status,
            priority=c.priority,
            subject=c.subject,
            contact_reason=c.contact_reason,
            team_id=c.team_id,
            assignee_id=c.assignee_id,
            labels=list(c.labels),
            channels=list(c.channels),
            last_inbound_channel=c.last_inbound_channel,
            last_message_at=c.last_message_at,
            snoozed_until=c.snoozed_until,
            resolved_at=c.resolved_at,
            closed_at=c.closed_at,
            merged_into=c.merged_into,
            split_from=c.split_from,
            sla_policy_id=c.sla_policy_id,
            sla=c.sla,
            csat=CsatPublic(score=c.csat.score, comment=c.csat.comment, at=c.csat.at)
            if c.csat
            else None,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class ConversationsPublic(BaseModel):
    items: list[ConversationPublic]
    next: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class ConversationSummary(BaseModel):
    """A conversation in a customer's context: where it stands and the channels it used."""

    id: str
    status: StatusName
    priority: PriorityName
    subject: str | None
    contact_reason: str | None
    channels: list[str]
    last_inbound_channel: str | None
    last_message_at: datetime | None
    assignee_id: str | None
    team_id: str | None
    labels: list[str]
    created_at: datetime

    @classmethod
    def of(cls, c: Conversation) -> "ConversationSummary":
        return cls(
            id=c.id,
            status=c.status,
            priority=c.priority,
            subject=c.subject,
            contact_reason=c.contact_reason,
            channels=list(c.channels),
            last_inbound_channel=c.last_inbound_channel,
            last_message_at=c.last_message_at,
            assignee_id=c.assignee_id,
            team_id=c.team_id,
            labels=list(c.labels),
            created_at=c.created_at,
        )


class AttachmentPublic(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    url: str = Field(description="Where to download the content (same credentials).")


class Recipient(BaseModel):
    kind: str
    value: str


class MessagePublic(BaseModel):
    id: str
    conversation_id: str
    seq: int = Field(description="Position in the conversation, from 1.")
    direction: Literal["inbound", "outbound", "note"]
    kind: Literal["message", "call", "visit"]
    channel: str
    account: str | None = Field(description="Our address, number, bot or store it used.")
    sender_kind: Literal["customer", "agent", "bot", "system"]
    sender_id: str | None
    sender_name: str | None
    created_at: datetime
    subject: str | None
    text: str | None
    html: str | None
    to: Recipient | None = Field(description="Outbound: the identifier it was sent to.")
    status: Literal["queued", "sent", "delivered", "read", "undelivered", "failed"] | None = Field(
        description="Outbound: the latest delivery status."
    )
    provider_message_id: str | None
    email_message_id: str | None
    in_reply_to: str | None
    warnings: list[str]
    metadata: dict[str, Any]
    attachments: list[AttachmentPublic]

    @classmethod
    def of(cls, m: Message) -> "MessagePublic":
        return cls(
            id=m.id,
            conversation_id=m.conversation_id,
            seq=m.seq,
            direction=m.direction,
            kind=m.kind,
            channel=m.channel,
            account=m.account,
            sender_kind=m.sender_kind,
            sender_id=m.sender_id,
            sender_name=m.sender_name,
            created_at=m.created_at,
            subject=m.subject,
            text=m.text,
            html=m.html,
            to=Recipient(kind=m.to[0], value=m.to[1]) if m.to else None,
            status=m.status,
            provider_message_id=m.provider_message_id,
            email_message_id=m.email_message_id,
            in_reply_to=m.in_reply_to,
            warnings=list(m.warnings),
            metadata=m.metadata,
            attachments=[
                AttachmentPublic(
                    id=a.id,
                    filename=a.filename,
                    content_type=a.content_type,
                    size=a.size,
                    url=f"/api/conversations/{m.conversation_id}/attachments/{a.id}",
                )
                for a in m.attachments
            ],
        )


class MessagesPublic(BaseModel):
    items: list[MessagePublic]
    next: int | None = Field(description="Pass as `after` for the next page; null at the end.")


class ConversationDetail(BaseModel):
    conversation: ConversationPublic
    messages: MessagesPublic = Field(description="The first page of messages, oldest first.")


class DeliveryPublic(BaseModel):
    status: Literal["queued", "sent", "delivered", "read", "undelivered", "failed"]
    at: datetime
    error: str | None


class DeliveriesPublic(BaseModel):
    message_id: str
    channel: str
    status: str | None
    items: list[DeliveryPublic] = Field(description="Every status reported, oldest first.")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: StatusName
    snoozed_until: AwareDatetime | None = Field(
        default=None, description="Required when snoozing; the conversation reopens then."
    )


class ConversationChange(BaseModel):
    """Send only what changes; `contact_reason: null` clears the reason."""

    model_config = ConfigDict(extra="forbid")

    priority: PriorityName | None = None
    contact_reason: str | None = Field(default=None, max_length=100)
    labels: list[str] | None = Field(
        default=None, max_length=50, description="The whole new set of labels."
    )


class AttachmentUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(
        default="application/octet-stream", min_length=1, max_length=200, pattern=r"^[^/\s]+/\S+$"
    )
    content_base64: str = Field(description="The content, base64-encoded.")


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    language: str = Field(min_length=2, max_length=20)
    params: list[str] = Field(default_factory=list, max_length=50)


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(
        default="auto",
        min_length=1,
        max_length=40,
        description='"auto": the channel of the last inbound message, else the next one that '
        "can reach the customer; or a channel's name.",
    )
    text: str | None = None
    html: str | None = None
    subject: str | None = Field(default=None, max_length=500, description="Email only.")
    template: TemplateIn | None = Field(
        default=None, description="An approved template (WhatsApp outside its 24-hour window)."
    )
    attachments: list[AttachmentUpload] = Field(default_factory=list, max_length=20)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentUpload] = Field(default_factory=list, max_length=20)


class MergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merged_id: str = Field(
        min_length=1,
        max_length=64,
        description="The conversation to merge into this one; it is closed and points here.",
    )


class SplitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(
        min_length=1,
        max_length=64,
        description="The first message to move: it and every later one go to a new conversation.",
    )

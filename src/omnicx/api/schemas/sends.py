"""Bodies and answers of the policy gate's API: decisions, broadcasts and message templates."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

OutcomeName = Literal["send", "skip", "defer"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionPublic(BaseModel):
    id: int
    send_id: str
    outcome: OutcomeName
    channel: str | None
    reason: str = Field(description="Why, for people: the rule that decided and its facts.")
    code: str = Field(
        description="The reason's stable code: sent, stale, suppressed, unreachable, "
        "no_consent, channel_rule, no_channel, lost_priority, frequency_cap, quiet_hours."
    )
    defer_until: datetime | None
    origin: str
    purpose: str
    at: datetime
    status: str = Field(
        description="The send's state now: deferred, queued, sending, sent, delivered, "
        "failed, skipped, cancelled or unknown."
    )
    delivery: str | None = Field(
        description="For a send decision: the status of the message on its channel."
    )


class DecisionsPublic(BaseModel):
    items: list[DecisionPublic]
    next_before: int | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page."
    )


class ContentIn(Strict):
    template: str | None = Field(
        default=None, max_length=100, description="A message template's name."
    )
    text: str | None = Field(default=None, max_length=10_000, description="Literal text.")
    subject: str | None = Field(default=None, max_length=10_000)
    html: str | None = Field(default=None, max_length=10_000)
    variables: dict[str, Any] = Field(
        default_factory=dict, description="Template variables beside `customer`."
    )


class ContentPublic(BaseModel):
    template: str | None
    text: str | None
    subject: str | None
    html: str | None
    variables: dict[str, Any]


class BroadcastCreate(Strict):
    name: str = Field(max_length=200)
    segment_id: str = Field(max_length=64)
    content: ContentIn
    purpose: str = Field(default="marketing", max_length=40)
    category: str = Field(default="broadcast", max_length=40)
    priority: int = Field(default=50, ge=0, le=100)
    channels: list[str] = Field(
        default_factory=list, max_length=10, description="In order; empty lets the gate choose."
    )
    schedule_at: AwareDatetime | None = Field(default=None, description="Now when absent.")
    fallback_after_seconds: int | None = Field(default=None, ge=1, le=30 * 86_400)
    not_after: AwareDatetime | None = Field(
        default=None, description="Members not reached by then are skipped as stale."
    )


class BroadcastCountsPublic(BaseModel):
    decided: int
    queued: int
    sent: int = Field(
        description="Handed to a provider and not failed since (delivered ones included)."
    )
    delivered: int
    failed: int
    deferred: int
    cancelled: int
    unknown: int
    skipped: dict[str, int] = Field(description="Skipped members by reason code.")


class BroadcastPublic(BaseModel):
    id: str
    name: str
    segment_id: str
    purpose: str
    category: str
    priority: int
    channels: list[str]
    content: ContentPublic
    schedule_at: datetime
    not_after: datetime | None
    fallback_after_seconds: int | None
    status: str = Field(description="scheduled, sending, done or cancelled.")
    expanded: int = Field(description="Members asked about so far.")
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: BroadcastCountsPublic


class BroadcastsPublic(BaseModel):
    items: list[BroadcastPublic]


class ProviderTemplateIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    language: str | None = Field(default=None, max_length=20)
    params: list[str] = Field(default_factory=list, max_length=30)


class TemplateVariantIn(Strict):
    channel: str = Field(default="*", max_length=40, description="A channel, or * for any.")
    language: str = Field(default="*", max_length=20, description="A language tag, or *.")
    subject: str | None = Field(default=None, max_length=10_000)
    text: str | None = Field(default=None, max_length=10_000)
    html: str | None = Field(default=None, max_length=100_000)
    provider_template: ProviderTemplateIn | None = Field(
        default=None,
        description="A template the provider approved (WhatsApp outside its 24-hour window); "
        "params are rendered like the text.",
    )


class TemplatePut(Strict):
    variants: list[TemplateVariantIn] = Field(min_length=1, max_length=100)


class TemplateVariantPublic(BaseModel):
    channel: str
    language: str
    subject: str | None
    text: str | None
    html: str | None
    provider_template: dict[str, Any] | None
    updated_at: datetime | None


class TemplatePublic(BaseModel):
    name: str
    variants: list[TemplateVariantPublic]


class TemplatesPublic(BaseModel):
    items: list[str]

"""Bodies and answers of the consent API: consents, opt-outs, preferences, suppressions."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from omnicx.consent import (
    ChannelLimit,
    Confirmation,
    ConsentChange,
    ConsentRecord,
    ConsentSource,
    ContactPermission,
    Preferences,
    Suppression,
    format_quiet_hours,
)


class SourceIn(BaseModel):
    channel: str = Field(
        max_length=40,
        description="Where it was said: sms, email, web, store, call_center, whatsapp…",
    )
    method: str = Field(
        default="api",
        max_length=20,
        description="api, web_form, preference_centre, double_opt_in, keyword, one_click, "
        "mailto, agent, store or import. web_form and preference_centre grants of marketing "
        "by email wait for a double opt-in.",
    )
    actor_kind: str | None = Field(
        default=None,
        max_length=10,
        description="customer, agent, store or system; by default the caller: a store "
        "associate is store, another staff user agent, an API key system.",
    )
    actor_id: str | None = Field(default=None, max_length=64)
    store_id: str | None = Field(default=None, max_length=64)


class ConsentItemIn(BaseModel):
    purpose: str = Field(
        max_length=40,
        description="transactional, service, marketing, feedback or a configured custom purpose",
    )
    channel: str = Field(
        max_length=20,
        description="email, sms, whatsapp, telegram, push, web_chat, call, post, or * for "
        "every channel",
    )
    state: str = Field(max_length=10, description="granted, denied or revoked")


class ConsentsChange(BaseModel):
    items: list[ConsentItemIn] = Field(min_length=1, max_length=100)
    source: SourceIn
    proof: dict[str, Any] = Field(
        default_factory=dict,
        description="Evidence kept sealed with the consent: ip, user_agent, form_text, "
        "form_version, message_id…",
    )
    note: str | None = Field(default=None, max_length=2000)
    at: AwareDatetime | None = Field(
        default=None, description="When the customer said it (default now); never future."
    )


class OptOutCreate(BaseModel):
    purpose: str = Field(default="marketing", max_length=40)
    channel: str = Field(
        default="*", max_length=20, description="Every channel unless the customer named one."
    )
    note: str | None = Field(default=None, max_length=2000)
    store_id: str | None = Field(
        default=None, max_length=64, description="The store where the customer said it."
    )
    said_on: str | None = Field(
        default=None,
        max_length=40,
        description="Where it was said: store, call_center, whatsapp…; default store when a "
        "store is named or the caller is a store associate, else call_center.",
    )


class SourcePublic(BaseModel):
    channel: str
    actor_kind: str
    method: str
    actor_id: str | None
    store_id: str | None

    @classmethod
    def of(cls, source: ConsentSource) -> "SourcePublic":
        return cls(
            channel=source.channel,
            actor_kind=source.actor_kind,
            method=source.method,
            actor_id=source.actor_id,
            store_id=source.store_id,
        )


class ConsentPublic(BaseModel):
    purpose: str
    channel: str
    state: str
    at: datetime
    source: SourcePublic
    detail: str | None
    change_id: str

    @classmethod
    def of(cls, record: ConsentRecord) -> "ConsentPublic":
        return cls(
            purpose=record.purpose,
            channel=record.channel,
            state=record.state,
            at=record.at,
            source=SourcePublic.of(record.source),
            detail=record.detail,
            change_id=record.change_id,
        )


class ConsentChangePublic(BaseModel):
    id: str
    purpose: str
    channel: str
    state: str
    at: datetime
    source: SourcePublic
    detail: str | None
    proof: dict[str, Any]
    note: str | None
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def of(cls, change: ConsentChange) -> "ConsentChangePublic":
        return cls(
            id=change.id,
            purpose=change.purpose,
            channel=change.channel,
            state=change.state,
            at=change.at,
            source=SourcePublic.of(change.source),
            detail=change.detail,
            proof=change.proof,
            note=change.note,
            recorded_by=change.recorded_by,
            recorded_at=change.recorded_at,
        )


class PermissionPublic(BaseModel):
    purpose: str
    channel: str
    allowed: bool
    reason: str

    @classmethod
    def of(cls, purpose: str, channel: str, answer: ContactPermission) -> "PermissionPublic":
        return cls(purpose=purpose, channel=channel, allowed=answer.allowed, reason=answer.reason)


class ConfirmationPublic(BaseModel):
    id: str
    purpose: str
    channel: str
    status: Literal["pending", "confirmed", "expired"]
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, confirmation: Confirmation, now: datetime) -> "ConfirmationPublic":
        return cls(
            id=confirmation.id,
            purpose=confirmation.purpose,
            channel=confirmation.channel,
            status=confirmation.status(now),
            created_at=confirmation.created_at,
            expires_at=confirmation.expires_at,
            sent_at=confirmation.sent_at,
        )


class SuppressionPublic(BaseModel):
    id: str
    kind: str
    value_hash: str = Field(description="The keyed hash the identifier is kept as.")
    reason: str
    channel: str
    note: str | None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, s: Suppression) -> "SuppressionPublic":
        return cls(
            id=s.id,
            kind=s.kind,
            value_hash=s.value_hash,
            reason=s.reason,
            channel=s.channel,
            note=s.note,
            created_by=s.created_by,
            created_at=s.created_at,
        )


class SuppressionsPublic(BaseModel):
    items: list[SuppressionPublic]


class SuppressionCreate(BaseModel):
    kind: str = Field(max_length=40, description="email, phone, whatsapp_id, telegram_id…")
    value: str = Field(min_length=1, max_length=320)
    reason: str = Field(max_length=20, description="bounced, complained, legal or manual")
    channel: str | None = Field(
        default=None,
        max_length=20,
        description="The channel it blocks (bounced, manual); by default the identifier's own "
        "(email for an email, sms for a phone). legal and complained block every channel.",
    )
    note: str | None = Field(default=None, max_length=2000)


class CustomerConsents(BaseModel):
    """A customer's consents as every touchpoint needs them."""

    customer_id: str
    current: list[ConsentPublic] = Field(description="The latest word per purpose and channel.")
    effective: list[PermissionPublic] = Field(
        description="May we contact them, for each purpose on each channel, and why."
    )
    pending: list[ConfirmationPublic] = Field(description="Double opt-ins awaiting the click.")
    suppressions: list[SuppressionPublic] = Field(
        description="Suppressions of the customer's identifiers."
    )


class ConsentsPublic(CustomerConsents):
    history: list[ConsentChangePublic] = Field(description="Every change, newest first.")


class ConsentsRecorded(BaseModel):
    changes: list[ConsentChangePublic]
    pending: list[ConfirmationPublic] = Field(
        description="Grants waiting for the customer's confirmation (double opt-in)."
    )
    consents: CustomerConsents


class ChannelLimitIn(BaseModel):
    channel: str = Field(max_length=20)
    max_per_day: int | None = None
    max_per_week: int | None = None


class PreferencesIn(BaseModel):
    channel_order: list[str] = Field(default_factory=list, max_length=10)
    language: str | None = Field(default=None, max_length=35, description="pt-BR, es, en…")
    time_zone: str | None = Field(
        default=None, max_length=64, description="IANA zone, e.g. America/Sao_Paulo"
    )
    quiet_hours: str | None = Field(
        default=None,
        max_length=11,
        description="Local HH:MM-HH:MM with no messages, e.g. 21:00-08:00",
    )
    max_per_day: int | None = Field(default=None, description="Messages a day, every channel.")
    max_per_week: int | None = Field(default=None, description="Messages a week, every channel.")
    channel_limits: list[ChannelLimitIn] = Field(default_factory=list, max_length=10)


class PreferencesPublic(BaseModel):
    customer_id: str
    channel_order: list[str]
    language: str | None
    time_zone: str | None
    quiet_hours: str | None
    max_per_day: int | None
    max_per_week: int | None
    channel_limits: list[ChannelLimitIn]
    updated_at: datetime | None

    @classmethod
    def of(cls, customer_id: str, p: Preferences) -> "PreferencesPublic":
        return cls(
            customer_id=customer_id,
            channel_order=list(p.channel_order),
            language=p.language,
            time_zone=p.time_zone,
            quiet_hours=format_quiet_hours(p.quiet_hours),
            max_per_day=p.max_per_day,
            max_per_week=p.max_per_week,
            channel_limits=[
                ChannelLimitIn(
                    channel=c.channel, max_per_day=c.max_per_day, max_per_week=c.max_per_week
                )
                for c in p.channel_limits
            ],
            updated_at=p.updated_at,
        )


class PreferenceLink(BaseModel):
    url: str = Field(description="The customer's signed preference-centre page.")
    expires_at: datetime


def channel_limit(item: ChannelLimitIn) -> ChannelLimit:
    return ChannelLimit(item.channel, item.max_per_day, item.max_per_week)

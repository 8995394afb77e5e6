"""Consent facts: what a customer said about being contacted, per purpose and channel, and
what they prefer.

    purpose    transactional · service · marketing · feedback · custom ones from settings
    channel    email · sms · whatsapp · telegram · push · web_chat · call · post · "*" (every)
    state      granted · denied · revoked

A `ConsentRecord` is the latest word per (customer, purpose, channel); `ConsentChange` is one
entry of the append-only history, with who said it, where, how and the proof. A
`Suppression` blocks an identifier (by keyed hash) whoever holds it. A `Confirmation` is a
double opt-in waiting for the customer to click the link we emailed.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

from omnicx.config import DEFAULT_OPT_OUT_KEYWORDS
from omnicx.kernel import Invalid

Purpose = str
"""transactional | service | marketing | feedback | a custom purpose from the settings."""

State = Literal["granted", "denied", "revoked"]
ActorKind = Literal["customer", "agent", "store", "system"]
SuppressionReason = Literal["bounced", "complained", "legal", "manual"]

BUILTIN_PURPOSES: tuple[str, ...] = ("transactional", "service", "marketing", "feedback")
OPT_OUT_PURPOSES: frozenset[str] = frozenset({"transactional", "service"})
"""Allowed unless denied or revoked; every other purpose needs an explicit grant (opt-in)."""

ALL_CHANNELS = "*"
CHANNELS: tuple[str, ...] = (
    "email",
    "sms",
    "whatsapp",
    "telegram",
    "push",
    "web_chat",
    "call",
    "post",
)
CHANNEL_ALIASES: dict[str, str] = {"call_center": "call", "phone": "call", "chat": "web_chat"}
"""Channel names other parts use, and the consent channel they stand for."""

STATES: tuple[State, ...] = ("granted", "denied", "revoked")
ACTOR_KINDS: tuple[ActorKind, ...] = ("customer", "agent", "store", "system")
METHODS: tuple[str, ...] = (
    "api",
    "web_form",
    "preference_centre",
    "double_opt_in",
    "keyword",
    "one_click",
    "mailto",
    "agent",
    "store",
    "import",
)
"""How a consent was said. `web_form` and `preference_centre` grants of marketing by email go
through double opt-in."""
DOUBLE_OPT_IN_METHODS: frozenset[str] = frozenset({"web_form", "preference_centre"})

SUPPRESSION_REASONS: tuple[SuppressionReason, ...] = ("bounced", "complained", "legal", "manual")

DEFAULT_OPT_IN_KEYWORDS: tuple[str, ...] = ("START", "UNSTOP")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
MAX_PER_DAY = 1000
MAX_PER_WEEK = 10_000


@dataclass(frozen=True)
class ConsentPolicy:
    """What the installation configured: its purposes, the keywords that opt out or back in,
    and double opt-in for marketing by email."""

    purposes: tuple[str, ...] = BUILTIN_PURPOSES
    opt_out_keywords: tuple[str, ...] = DEFAULT_OPT_OUT_KEYWORDS
    opt_in_keywords: tuple[str, ...] = DEFAULT_OPT_IN_KEYWORDS
    double_opt_in: bool = True
    confirm_hours: float = 168.0
    preference_link_days: float = 365.0
    base_url: str = "http://127.0.0.1:8000"

    @property
    def optional_purposes(self) -> tuple[str, ...]:
        """Every purpose but transactional: what a keyword or the preference centre changes."""
        return tuple(p for p in self.purposes if p != "transactional")


@dataclass(slots=True)
class ConsentSource:
    """Where and by whom a consent was said: the channel it was said on (sms, web, store…),
    the actor, the store (for a store associate) and how."""

    channel: str
    actor_kind: ActorKind
    method: str
    actor_id: str | None = None
    store_id: str | None = None


@dataclass(slots=True)
class ConsentRecord:
    """The current state of one (customer, purpose, channel)."""

    customer_id: str
    purpose: str
    channel: str
    state: State
    at: datetime
    source: ConsentSource
    change_id: str
    detail: str | None = None
    """A short human summary, e.g. "keyword STOP"."""


@dataclass(frozen=True)
class ConsentChange:
    """One entry of the append-only history."""

    id: str
    customer_id: str | None
    purpose: str
    channel: str
    state: State
    at: datetime
    source: ConsentSource
    recorded_by: str
    recorded_at: datetime
    proof: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    detail: str | None = None

    def record(self, customer_id: str) -> ConsentRecord:
        return ConsentRecord(
            customer_id,
            self.purpose,
            self.channel,
            self.state,
            self.at,
            self.source,
            self.id,
            self.detail,
        )


@dataclass(frozen=True)
class Wish:
    """One (purpose, channel, state) a customer expressed."""

    purpose: str
    channel: str
    state: State


@dataclass(frozen=True)
class ChannelLimit:
    channel: str
    max_per_day: int | None = None
    max_per_week: int | None = None


@dataclass(frozen=True)
class Preferences:
    """How a customer likes to be contacted; empty when they said nothing."""

    channel_order: tuple[str, ...] = ()
    language: str | None = None
    time_zone: str | None = None
    quiet_hours: tuple[time, time] | None = None
    """Local start and end; a window over midnight (21:00-08:00) is normal."""
    max_per_day: int | None = None
    max_per_week: int | None = None
    """Messages over every channel; `channel_limits` caps single channels."""
    channel_limits: tuple[ChannelLimit, ...] = ()
    updated_at: datetime | None = None

    def limit_of(self, channel: str) -> ChannelLimit | None:
        wanted = consent_channel(channel)
        return next((c for c in self.channel_limits if c.channel == wanted), None)


@dataclass(slots=True)
class ContactPermission:
    allowed: bool
    reason: str
    """Why, for people: "marketing not granted on sms", "marketing revoked on every channel by
    keyword PARAR on sms, 2026-11-23 12:00 UTC"."""


@dataclass(frozen=True)
class Suppression:
    """An identifier nobody may contact (or, for a bounce, not on its channel)."""

    id: str
    kind: str
    value_hash: str
    reason: SuppressionReason
    channel: str
    created_at: datetime
    created_by: str
    note: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """A double opt-in: the grant waits until the link sent to `email` is followed."""

    id: str
    customer_id: str
    purpose: str
    channel: str
    email: str
    source: ConsentSource
    proof: dict[str, Any]
    recorded_by: str
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None = None
    change_id: str | None = None
    sent_at: datetime | None = None

    def status(self, now: datetime) -> Literal["pending", "confirmed", "expired"]:
        if self.confirmed_at is not None:
            return "confirmed"
        return "expired" if now >= self.expires_at else "pending"


# -- checks ---------------------------------------------------------------------------------


def consent_channel(channel: str) -> str:
    """The consent channel a channel name stands for (call_center is call)."""
    return CHANNEL_ALIASES.get(channel, channel)


def check_purpose(purpose: str, policy: ConsentPolicy, field: str = "purpose") -> str:
    if purpose not in policy.purposes:
        raise Invalid(
            "unknown_purpose", f"purpose must be one of {', '.join(policy.purposes)}", field
        )
    return purpose


def check_channel(channel: str, field: str = "channel", *, every: bool = True) -> str:
    known = consent_channel(channel)
    if known in CHANNELS or (every and known == ALL_CHANNELS):
        return known
    names = ", ".join((*CHANNELS, *((ALL_CHANNELS,) if every else ())))
    raise Invalid("unknown_channel", f"channel must be one of {names}", field)


def check_state(state: str, field: str = "state") -> State:
    for known in STATES:
        if state == known:
            return known
    raise Invalid("invalid_state", f"state must be one of {', '.join(STATES)}", field)


def check_method(method: str, field: str = "source.method") -> str:
    if method not in METHODS:
        raise Invalid("unknown_method", f"method must be one of {', '.join(METHODS)}", field)
    return method


def check_actor_kind(kind: str, field: str = "source.actor_kind") -> ActorKind:
    for known in ACTOR_KINDS:
        if kind == known:
            return known
    raise Invalid(
        "invalid_actor_kind", f"actor_kind must be one of {', '.join(ACTOR_KINDS)}", field
    )


def check_source_channel(channel: str, field: str = "source.channel") -> str:
    if not _NAME.match(channel):
        raise Invalid(
            "invalid_source_channel",
            "the channel a consent was said on is a lower-case name (sms, web, store…)",
            field,
        )
    return channel


def check_reason(reason: str, field: str = "reason") -> SuppressionReason:
    for known in SUPPRESSION_REASONS:
        if reason == known:
            return known
    raise Invalid(
        "invalid_reason", f"reason must be one of {', '.join(SUPPRESSION_REASONS)}", field
    )


def check_purposes(names: Sequence[str]) -> tuple[str, ...]:
    """Built-in purposes followed by the custom ones, each a lower-case name, once."""
    found = list(BUILTIN_PURPOSES)
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"consent purpose {name!r} must be a lower-case name")
        if name not in found:
            found.append(name)
    return tuple(found)


def parse_time(text: str, field: str) -> time:
    match = _HHMM.match(text.strip())
    if match is None:
        raise Invalid("invalid_time", f"{field} must be HH:MM on a 24-hour clock", field)
    return time(int(match.group(1)), int(match.group(2)))


def parse_quiet_hours(text: str, field: str = "quiet_hours") -> tuple[time, time]:
    """ "21:00-08:00" as (start, end)."""
    start, sep, end = text.partition("-")
    if not sep:
        raise Invalid("invalid_quiet_hours", f"{field} is written HH:MM-HH:MM", field)
    try:
        window = (parse_time(start, field), parse_time(end, field))
    except Invalid:
        raise Invalid(
            "invalid_quiet_hours", f"{field} is written HH:MM-HH:MM on a 24-hour clock", field
        ) from None
    if window[0] == window[1]:
        raise Invalid("invalid_quiet_hours", f"{field} must not start and end alike", field)
    return window


def format_quiet_hours(window: tuple[time, time] | None) -> str | None:
    if window is None:
        return None
    return f"{window[0]:%H:%M}-{window[1]:%H:%M}"


def check_time_zone(name: str, field: str = "time_zone") -> str:
    text = name.strip()
    try:
        if not text or text.startswith(("/", ".")) or len(text) > 64:
            raise ValueError(text)
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            "invalid_time_zone", f"{name!r} is not an IANA time zone (America/Sao_Paulo)", field
        ) from None
    return text


def check_language(tag: str, field: str = "language") -> str:
    """A BCP 47 language tag babel knows (pt-BR, es, en), in its canonical spelling."""
    text = tag.strip()
    try:
        if not text or len(text) > 35:
            raise ValueError(text)
        locale = Locale.parse(text, sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        raise Invalid(
            "invalid_language", f"{tag!r} is not a language tag (pt-BR, es, en)", field
        ) from None
    return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


def check_limit(value: int | None, most: int, field: str) -> int | None:
    if value is not None and not 1 <= value <= most:
        raise Invalid("invalid_limit", f"{field} must be 1 to {most}, or null", field)
    return value


def check_preferences(preferences: Preferences) -> Preferences:
    """The preferences with their values checked and spelt canonically."""
    order: list[str] = []
    for i, channel in enumerate(preferences.channel_order):
        known = check_channel(channel, f"channel_order.{i}", every=False)
        if known in order:
            raise Invalid(
                "duplicate_channel", f"{known} appears twice in channel_order", "channel_order"
            )
        order.append(known)
    day = check_limit(preferences.max_per_day, MAX_PER_DAY, "max_per_day")
    week = check_limit(preferences.max_per_week, MAX_PER_WEEK, "max_per_week")
    if day is not None and week is not None and day > week:
        raise Invalid("invalid_limit", "max_per_day is more than max_per_week", "max_per_day")
    limits: list[ChannelLimit] = []
    for i, limit in enumerate(preferences.channel_limits):
        where = f"channel_limits.{i}"
        known = check_channel(limit.channel, f"{where}.channel", every=False)
        if any(c.channel == known for c in limits):
            raise Invalid("duplicate_channel", f"{known} appears twice in channel_limits", where)
        per_day = check_limit(limit.max_per_day, MAX_PER_DAY, f"{where}.max_per_day")
        per_week = check_limit(limit.max_per_week, MAX_PER_WEEK, f"{where}.max_per_week")
        limits.append(ChannelLimit(known, per_day, per_week))
    return Preferences(
        channel_order=tuple(order),
        language=check_language(preferences.language) if preferences.language else None,
        time_zone=check_time_zone(preferences.time_zone) if preferences.time_zone else None,
        quiet_hours=preferences.quiet_hours,
        max_per_day=day,
        max_per_week=week,
        channel_limits=tuple(limits),
        updated_at=preferences.updated_at,
    )

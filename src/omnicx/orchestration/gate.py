"""The policy gate: every proactive message (a journey step, a broadcast, an agent's nudge)
is an intent that the gate answers with send, skip or defer, and the answer is recorded with
a reason a person can read, so anyone can tell why a customer did or did not get a message.

`decide(intent, facts, now)` is pure: the wired side (`orchestration.sending`) gathers the
facts (consents, preferences, reachability, channel rules, recent sends) and acts on the
decision. The rules, in the order they are applied:

    rule                 when it bites                                        transactional
    stale                `not_after` has passed: skip                         applies
    suppression          the customer may not be contacted at all: skip       applies
    channel choice       no channel reaches the customer with consent for     applies
                         the purpose, within its own rules (WhatsApp's 24-hour
                         window, a sender configured) and its own caps: skip
    competing sends      a promotional send of higher priority (or equal and  bypassed
                         earlier) is waiting or went out within the window:
                         skip, "lost to <send_id> (priority 80 > 40)"
    frequency caps       a rolling-window cap is reached: marketing is        bypassed
                         skipped, other purposes wait until the window frees
    quiet hours          the customer's local time is inside their quiet      bypassed
                         hours: deferred to the local end, never dropped

Channel choice: the requested channels in their order; with none requested ("auto"), every
channel that can send, ordered by the customer's own channel order, then by the most recent
engagement (an inbound message, a click), then by cost. Channels this send already used (a
fallback) are left out.

The values built for every decision (`Facts`, `ChannelFacts`, `PastSend`, `Decision`) are
plain slotted dataclasses rather than frozen ones, whose field-by-field `__init__` cost a
third of a microsecond each in a batch of thousands; nothing changes them once built.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnicx.kernel import Invalid
from omnicx.orchestration import caps
from omnicx.orchestration.caps import CapHit, CapRule, Counted, applicable, check_caps

Outcome = Literal["send", "skip", "defer"]
OUTCOMES: tuple[Outcome, ...] = ("send", "skip", "defer")

PURPOSES: tuple[str, ...] = ("transactional", "service", "marketing", "feedback")
"""The built-in purposes; custom ones are any other lower-case name."""

BYPASS: frozenset[str] = frozenset({"transactional"})
"""Purposes that pass competition, caps and quiet hours (never consent or suppression)."""

NOT_PROMOTIONAL = caps.NOT_PROMOTIONAL
"""Purposes that neither compete for the customer's attention nor count toward their own
per-day and per-week limits."""

CODES: tuple[str, ...] = (
    "sent",
    "stale",
    "suppressed",
    "unreachable",
    "no_consent",
    "channel_rule",
    "no_channel",
    "lost_priority",
    "frequency_cap",
    "quiet_hours",
)
"""Stable codes of the reasons, for counting (a broadcast's skips by reason)."""


@dataclass(frozen=True)
class Content:
    template: str | None = None
    """A named template (Jinja2 sandbox), picked per channel and the customer's language."""
    text: str | None = None
    """Literal text, rendered with the variables in the same sandbox."""
    subject: str | None = None
    html: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendIntent:
    send_id: str
    """Deterministic: the same intent twice is one send,
    e.g. "j:<journey>:<version>:<instance>:<node>:<visit>"."""
    customer_id: str
    purpose: str
    category: str
    """What frequency caps count, e.g. "promotion", "reminder", "order"."""
    priority: int
    """0 to 100; between competing promotional sends the higher wins."""
    channels: tuple[str, ...]
    """In order of preference; () lets the gate choose ("auto")."""
    content: Content
    origin: str
    """"journey:<id>:v<version>:<node>", "broadcast:<id>", "agent:<user id>", "system:<x>"."""
    fallback_after_seconds: int | None = None
    """Not delivered within this long: the next channel is tried."""
    not_after: datetime | None = None
    """Stale after this: skipped rather than sent late."""


@dataclass(slots=True)
class Decision:
    send_id: str
    outcome: Outcome
    channel: str | None
    reason: str
    defer_until: datetime | None
    at: datetime
    code: str = ""
    """One of `CODES`: the reason without its particulars."""


@dataclass(slots=True)
class ChannelFacts:
    """What decides whether one channel can carry the message."""

    channel: str
    reachable: bool
    """The customer holds an identifier this channel reaches."""
    allowed: bool = True
    """Consent for the purpose on this channel (suppressions of the address included)."""
    consent_reason: str = ""
    refusal: str | None = None
    """The channel's own rules: no sender configured, outside WhatsApp's 24-hour window…"""
    last_engagement: datetime | None = None
    cost: float = 0.0


SendState = Literal["waiting", "going", "gone"]


@dataclass(slots=True)
class PastSend:
    """Another send of the same customer: `waiting` (deferred), `going` (queued or being
    handed over) or `gone` (handed to the provider). Failed, skipped and cancelled sends
    are not facts for the gate."""

    send_id: str
    purpose: str
    category: str
    channel: str | None
    priority: int
    at: datetime
    """When it was decided (to go, or to wait)."""
    state: SendState


@dataclass(frozen=True)
class Policy:
    """The business's rules, from settings."""

    caps: tuple[CapRule, ...] = ()
    quiet_hours: tuple[time, time] | None = (time(21, 0), time(8, 0))
    time_zone: str = "UTC"
    competition: timedelta = timedelta(hours=1)
    """How close two promotional sends must be to compete."""


@dataclass(slots=True)
class Facts:
    customer_id: str
    channels: tuple[ChannelFacts, ...]
    """The requested channels, or with "auto" every channel that can send."""
    policy: Policy = field(default_factory=Policy)
    suppressed: str | None = None
    """Why the customer may not be contacted at all (legal, a complaint), if so."""
    channel_order: tuple[str, ...] = ()
    time_zone: str | None = None
    quiet_hours: tuple[time, time] | None = None
    """The customer's own quiet hours; None: the policy's."""
    max_per_day: int | None = None
    max_per_week: int | None = None
    channel_limits: tuple[tuple[str, int | None, int | None], ...] = ()
    """The customer's own limits per channel: (channel, per day, per week)."""
    recent: tuple[PastSend, ...] = ()
    """The customer's other sends of the last week and the ones still waiting."""
    tried: tuple[str, ...] = ()
    """Channels this send already went out on (a fallback)."""

    def rules(self) -> tuple[CapRule, ...]:
        """The business's caps and the customer's own limits."""
        own = caps.customer_rules(self.max_per_day, self.max_per_week, self.channel_limits)
        return self.policy.caps + own

    def channel(self, name: str) -> ChannelFacts:
        for facts in self.channels:
            if facts.channel == name:
                return facts
        return ChannelFacts(name, reachable=False, refusal=f"no sender is configured for {name}")


# -- checking an intent --------------------------------------------------------------------

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_SEND_ID = 200
MAX_TEXT = 10_000
MAX_FALLBACK_SECONDS = 30 * 86_400


def check_intent(intent: SendIntent) -> None:
    """Refuse an intent the gate cannot judge, naming the field (`Invalid`)."""
    if not intent.send_id or len(intent.send_id) > MAX_SEND_ID or not intent.send_id.isprintable():
        raise Invalid(
            "invalid_send_id", f"send_id is 1 to {MAX_SEND_ID} printable characters", "send_id"
        )
    if not intent.customer_id or len(intent.customer_id) > 64:
        raise Invalid("invalid_customer", "customer_id is a customer id", "customer_id")
    for name, value in (("purpose", intent.purpose), ("category", intent.category)):
        if not NAME.match(value):
            raise Invalid(
                f"invalid_{name}",
                f"{name} is a lower-case name of 1 to 40 letters, digits and _",
                name,
            )
    if isinstance(intent.priority, bool) or not 0 <= intent.priority <= 100:
        raise Invalid("invalid_priority", "priority is a whole number from 0 to 100", "priority")
    if len(intent.channels) > 10:
        raise Invalid("too_many_channels", "at most 10 channels", "channels")
    for channel in intent.channels:
        if not NAME.match(channel):
            raise Invalid("invalid_channel", f"{channel!r} is not a channel name", "channels")
    if not intent.origin or len(intent.origin) > 200:
        raise Invalid("invalid_origin", "origin is 1 to 200 characters", "origin")
    content = intent.content
    if not (content.template or content.text or content.html):
        raise Invalid(
            "empty_content", "content needs a template, a text or an html", "content.text"
        )
    if content.template is not None and not TEMPLATE_NAME.match(content.template):
        raise Invalid(
            "invalid_template_name",
            "a template name is 1 to 100 of a-z 0-9 _ - .",
            "content.template",
        )
    for part, body in (
        ("text", content.text),
        ("html", content.html),
        ("subject", content.subject),
    ):
        if body is not None and len(body) > MAX_TEXT:
            raise Invalid(
                "content_too_long",
                f"content.{part} is at most {MAX_TEXT} characters",
                f"content.{part}",
            )
    seconds = intent.fallback_after_seconds
    if seconds is not None and (
        isinstance(seconds, bool) or not 1 <= seconds <= MAX_FALLBACK_SECONDS
    ):
        raise Invalid(
            "invalid_fallback",
            f"fallback_after_seconds is 1 to {MAX_FALLBACK_SECONDS}",
            "fallback_after_seconds",
        )
    if intent.not_after is not None and intent.not_after.tzinfo is None:
        raise Invalid("invalid_not_after", "not_after needs a time zone", "not_after")


TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


# -- the decision ------------------------------------------------------------------------


def decide(intent: SendIntent, facts: Facts, now: datetime) -> Decision:
    def result(
        outcome: Outcome, channel: str | None, reason: str, code: str, until: datetime | None
    ) -> Decision:
        return Decision(intent.send_id, outcome, channel, reason, until, now, code)

    def skip(reason: str, code: str, channel: str | None = None) -> Decision:
        return result("skip", channel, reason, code, None)

    if intent.not_after is not None and intent.not_after <= now:
        return skip(f"stale: not to be sent after {_utc(intent.not_after)}", "stale")
    if facts.suppressed:
        return skip(f"suppressed: {facts.suppressed}", "suppressed")

    rules = facts.rules()
    chosen, why, passed, refusals = _choose(intent, facts, rules, now)
    if chosen is None:
        return skip(_no_channel(intent, facts, refusals), _refusal_code(refusals))
    send_reason = f"send on {chosen}: {why}"
    if passed:
        send_reason += f" (passed over {'; '.join(passed)})"

    if intent.purpose in BYPASS:
        return result(
            "send", chosen, f"{send_reason}; transactional: no caps nor quiet hours", "sent", None
        )

    if intent.purpose not in NOT_PROMOTIONAL:
        rival = competitor(intent, facts.recent, facts.policy, now)
        if rival is not None:
            return skip(lost_to(rival, intent.priority), "lost_priority", chosen)

    hit = _caps(intent, facts, rules, now)
    if hit is not None:
        label = hit.rule.label()
        counted = f"frequency cap {label} reached ({hit.count} in the last {hit.rule.window})"
        if intent.purpose == "marketing" or hit.frees_at is None:
            return skip(f"{counted}: skipped", "frequency_cap", chosen)
        if intent.not_after is not None and hit.frees_at > intent.not_after:
            return skip(
                f"{counted}; it frees at {_utc(hit.frees_at)}, after the message goes stale "
                f"({_utc(intent.not_after)}): skipped",
                "frequency_cap",
                chosen,
            )
        return result(
            "defer",
            chosen,
            f"{counted}: deferred to {_utc(hit.frees_at)} when the window frees",
            "frequency_cap",
            hit.frees_at,
        )

    hours = facts.quiet_hours or facts.policy.quiet_hours
    if hours is not None:
        zone_name, zone = _zone(facts)
        quiet = _quiet(now, zone_name, zone, hours)
        if quiet is not None:
            until, span, local = quiet
            if intent.not_after is not None and until > intent.not_after:
                return skip(
                    f"{span} until {local}; the message is stale after "
                    f"{_utc(intent.not_after)}: skipped",
                    "stale",
                    chosen,
                )
            return result(
                "defer",
                chosen,
                f"{span}: deferred to {local} local time ({_utc(until)})",
                "quiet_hours",
                until,
            )
    return result("send", chosen, send_reason, "sent", None)


# -- channel choice --------------------------------------------------------------------------


def candidates(intent: SendIntent, facts: Facts) -> list[ChannelFacts]:
    """The channels to try, in order (those already tried by this send left out)."""
    if intent.channels:
        return [facts.channel(c) for c in dict.fromkeys(intent.channels) if c not in facts.tried]
    order = {c: i for i, c in enumerate(facts.channel_order)}
    pool = [c for c in facts.channels if c.channel not in facts.tried]

    def rank(c: ChannelFacts) -> tuple[int, float, float, str]:
        engaged = -c.last_engagement.timestamp() if c.last_engagement else float("inf")
        return (order.get(c.channel, len(order)), engaged, c.cost, c.channel)

    return sorted(pool, key=rank)


def _choose(
    intent: SendIntent, facts: Facts, rules: tuple[CapRule, ...], now: datetime
) -> tuple[str | None, str, list[str], list[tuple[str, str]]]:
    """(channel, why it, the ones passed over as text, (code, text) of every refusal)."""
    refusals: list[tuple[str, str]] = []
    tried = list(candidates(intent, facts))
    for index, option in enumerate(tried):
        refused = _refusal(intent, facts, rules, option, now)
        if refused is not None:
            refusals.append(refused)
            continue
        return option.channel, _why(intent, facts, option, index), [t for _, t in refusals], []
    return None, "", [], refusals


def _refusal(
    intent: SendIntent,
    facts: Facts,
    rules: tuple[CapRule, ...],
    option: ChannelFacts,
    now: datetime,
) -> tuple[str, str] | None:
    name = option.channel
    if not option.reachable and option.refusal is None:
        return "unreachable", f"{name}: the customer has no identifier this channel can reach"
    if option.refusal is not None:
        return "channel_rule", f"{name}: {option.refusal}"
    if not option.allowed:
        return "no_consent", f"{name}: {option.consent_reason or 'no consent'}"
    if rules and intent.purpose not in BYPASS:
        own = [
            r
            for r in applicable(
                rules, purpose=intent.purpose, category=intent.category, channel=name
            )
            if r.channel == name
        ]
        hit = check_caps(own, _counted(facts.recent), now) if own else None
        if hit is not None:
            return "frequency_cap", (
                f"{name}: frequency cap {hit.rule.label()} reached "
                f"({hit.count} in the last {hit.rule.window})"
            )
    return None


def _why(intent: SendIntent, facts: Facts, option: ChannelFacts, index: int) -> str:
    prefix = f"fallback after {', '.join(facts.tried)}; " if facts.tried else ""
    if intent.channels:
        wanted = ", ".join(intent.channels)
        place = "the first" if index == 0 and not facts.tried else "the next"
        return f"{prefix}{place} of the requested channels ({wanted})"
    if option.channel in facts.channel_order:
        return f"{prefix}the customer's channel order ({' > '.join(facts.channel_order)})"
    if option.last_engagement is not None:
        return f"{prefix}the most recent engagement ({_utc(option.last_engagement)})"
    return f"{prefix}the lowest cost ({option.cost:g})"


def _no_channel(intent: SendIntent, facts: Facts, refusals: list[tuple[str, str]]) -> str:
    if not refusals:
        if facts.tried:
            return f"no channel left after {', '.join(facts.tried)}"
        return "no channel can send this message"
    return "no channel: " + "; ".join(text for _, text in refusals)


def _refusal_code(refusals: list[tuple[str, str]]) -> str:
    codes = {code for code, _ in refusals}
    return codes.pop() if len(codes) == 1 else "no_channel"


# -- competition and caps ------------------------------------------------------------------


def competitor(
    intent: SendIntent, recent: Sequence[PastSend], policy: Policy, now: datetime
) -> PastSend | None:
    """The promotional send this one loses to: one waiting or going (any age), or gone within
    the competition window, of higher priority, or of equal priority and decided first."""
    best: PastSend | None = None
    for other in _rivals(intent, recent, policy, now):
        if other.priority >= intent.priority and (
            best is None
            or (other.priority, -other.at.timestamp()) > (best.priority, -best.at.timestamp())
        ):
            best = other
    return best


def outranked(
    intent: SendIntent, recent: Sequence[PastSend], policy: Policy, now: datetime
) -> list[PastSend]:
    """Sends not yet handed over that this one, of higher priority, replaces."""
    if intent.purpose in NOT_PROMOTIONAL:
        return []
    return [
        o
        for o in _rivals(intent, recent, policy, now)
        if o.state != "gone" and o.priority < intent.priority
    ]


def lost_to(winner: PastSend, priority: int) -> str:
    sign = ">" if winner.priority > priority else "="
    tail = "" if sign == ">" else ", decided first"
    return f"lost to {winner.send_id} (priority {winner.priority} {sign} {priority}{tail})"


def _rivals(
    intent: SendIntent, recent: Sequence[PastSend], policy: Policy, now: datetime
) -> list[PastSend]:
    since = now - policy.competition
    return [
        o
        for o in recent
        if o.send_id != intent.send_id
        and o.purpose not in NOT_PROMOTIONAL
        and (o.state != "gone" or o.at > since)
    ]


def _counted(recent: Sequence[PastSend]) -> list[Counted]:
    return [
        Counted(o.send_id, o.purpose, o.category, o.channel, o.at)
        for o in recent
        if o.state != "waiting"
    ]


def _caps(
    intent: SendIntent, facts: Facts, rules: tuple[CapRule, ...], now: datetime
) -> CapHit | None:
    """The binding cap over every channel together (the business's and the customer's)."""
    overall = [
        r
        for r in applicable(rules, purpose=intent.purpose, category=intent.category, channel=None)
        if r.channel is None
    ]
    return check_caps(overall, _counted(facts.recent), now) if overall else None


# -- time --------------------------------------------------------------------------------


def quiet_until(now: datetime, zone: ZoneInfo, hours: tuple[time, time]) -> datetime | None:
    """When the quiet hours around `now` end (UTC), or None when `now` is outside them.

    Hours are local wall-clock times; an end before the start wraps past midnight
    (21:00-08:00). Equal start and end mean no quiet hours.
    """
    start, end = hours
    if start == end:
        return None
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    day = local.date()
    if start < end:
        if not start <= clock < end:
            return None
    elif clock >= start:
        day += timedelta(days=1)
    elif clock >= end:
        return None
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def zone_of(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone(facts: Facts) -> tuple[str, ZoneInfo]:
    for name in (facts.time_zone, facts.policy.time_zone):
        zone = zone_of(name)
        if zone is not None and name:
            return name, zone
    return "UTC", ZoneInfo("UTC")


@lru_cache(maxsize=4096)
def _quiet(
    now: datetime, zone_name: str, zone: ZoneInfo, hours: tuple[time, time]
) -> tuple[datetime, str, str] | None:
    """(when the quiet hours around `now` end, "quiet hours 21:00-08:00 <zone>", that end on
    the local clock), or None outside them. Cached: a batch decides at one instant for
    customers who share their zones and hours."""
    until = quiet_until(now, zone, hours)
    if until is None:
        return None
    start, end = hours
    return (
        until,
        f"quiet hours {start:%H:%M}-{end:%H:%M} {zone_name}",
        f"{until.astimezone(zone):%H:%M}",
    )


@lru_cache(maxsize=4096)
def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# -- what is kept ----------------------------------------------------------------------------

SendStatus = Literal[
    "deciding",
    "deferred",
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "skipped",
    "cancelled",
    "unknown",
]
"""A send's state:

    deciding ─► deferred ─► (decided again)
       │
       ├──────► skipped                          final
       └──────► queued ─► sending ─► sent ─► delivered
                  ▲          │         │
                  │          │         └─► (not delivered in time, or failed: the next
                  └──────────┤             channel, a new message of the same send)
                 retry,      ├─► failed          final, no channel left
                 failover    └─► unknown         handed over, the provider cannot be asked
    queued, deferred ─► cancelled                lost to a send of higher priority
"""

MessageStatus = Literal[
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "undelivered",
    "failed",
    "unknown",
    "cancelled",
]
"""One channel's message of a send; receipts move it forward only."""


@dataclass(frozen=True)
class SendRecord:
    id: str
    send_id: str
    customer_id: str
    intent: SendIntent
    status: SendStatus
    channel: str | None
    code: str
    tried: tuple[str, ...]
    wake_at: datetime | None
    wake: str | None
    """What happens at `wake_at`: "decide" (a deferral ends) or "fallback"."""
    broadcast_id: str | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MessageRecord:
    id: str
    send_ref: str
    customer_id: str
    seq: int
    channel: str
    provider: str
    """"primary", or "failover" once the channel's second provider took over."""
    to: tuple[str, str]
    status: MessageStatus
    provider_message_id: str | None
    attempt_id: str | None
    attempt_started_at: datetime | None
    attempts: int
    failures: int
    """Retryable failures in a row on the current provider."""
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    send_id: str
    customer_id: str
    outcome: Outcome
    channel: str | None
    code: str
    reason: str
    defer_until: datetime | None
    origin: str
    purpose: str
    at: datetime
    status: str
    """The send's state now (sent, delivered, failed…)."""
    delivery: str | None
    """The status of the message on the decision's channel, when one went out."""


@dataclass(frozen=True)
class TemplateVariant:
    """One variant of a named message template, for a channel and a language ("*": any).

    `provider_template` names a template approved by the provider (WhatsApp outside its
    24-hour window): {"name", "language", "params": [Jinja2 strings]}.
    """

    name: str
    channel: str
    language: str
    text: str | None = None
    subject: str | None = None
    html: str | None = None
    provider_template: Mapping[str, Any] | None = None
    updated_at: datetime | None = None

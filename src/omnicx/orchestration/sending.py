"""The gate wired to storage and the channels: submit an intent, dispatch what the gate let
through exactly once, fall back to the next channel, fail over to a second provider, and
follow the providers' receipts.

    submit        idempotent on send_id: the decision is recorded (append-only), and a "send"
                  writes the message row and its outbox row (`maestro.send`) in the caller's
                  transaction; a "defer" sets a wake time and the worker decides again then
    dispatch      the outbox handler: renders the content, marks the message "sending" with
                  an attempt id and commits before the provider is called, then records the
                  answer; a retryable failure comes back with backoff, and after two in a
                  row on one provider the channel's second provider (if any) takes over
    reconcile     a "sending" message whose attempt never recorded an answer (the worker was
                  killed) is checked before anything is sent again:
                    email     sent again with the same Message-ID, which receiving systems
                              recognise as the same message
                    SMS       looked up in Twilio's Messages list (recipient, sender, body,
                              created since the attempt began); found: recorded as sent,
                              not found: sent again
                    others    (WhatsApp, Telegram: no look-up exists) marked "unknown" with
                              the reason, never sent blindly a second time
    receipts      delivery status callbacks move a message forward; "failed" or
                  "undelivered" falls back to the next channel at once, "delivered" ends the
                  wait of `fallback_after_seconds`
    worker        `process()`: due deferrals and fallbacks, stale attempts, a page of a due
                  broadcast

A proactive message does not open a conversation: it goes on the customer's timeline as
`Message Sent` (source "maestro") with its origin, and an answer from the customer starts or
joins a conversation like any inbound message.
"""

import logging
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any, Protocol, runtime_checkable

from omnicx.config import Settings
from omnicx.consent import (
    ConsentRecord,
    ConsentRepository,
    ContactPermission,
    Preferences,
    Suppression,
)
from omnicx.consent import decide as consent_decide
from omnicx.conversations import (
    ChannelSender,
    DeliveryUpdate,
    OutboundMessage,
    SendContext,
    SendFailed,
    SendResult,
    Template,
    ThreadHeaders,
)
from omnicx.conversations.services import reachable
from omnicx.conversations.store import SqlConversationRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork, UnitOfWorkFactory, outbox
from omnicx.events.store import SqlEventRepository
from omnicx.kernel import Conflict, Invalid, MessageBus, NotFound, new_id
from omnicx.orchestration import templates, tracking
from omnicx.orchestration.broadcasts import (
    Broadcast,
    MemberSource,
    NoSegments,
    Throttle,
    check_broadcast,
    intent_for,
)
from omnicx.orchestration.caps import LONGEST, parse_caps
from omnicx.orchestration.gate import (
    ChannelFacts,
    Content,
    Decision,
    Facts,
    MessageRecord,
    PastSend,
    Policy,
    SendIntent,
    SendRecord,
    TemplateVariant,
    check_intent,
    decide,
    lost_to,
    outranked,
)
from omnicx.orchestration.messages import MessageDecided, SendDelivered, SendFailedFinally
from omnicx.orchestration.store.segments import SqlSegmentRepository
from omnicx.orchestration.store.sends import SqlSendRepository
from omnicx.privacy import (
    ApplyRetention,
    EraseSubject,
    ErasureReport,
    ExportSection,
    ExportSubject,
    RetentionReport,
)
from omnicx.profiles.store import SqlProfileRepository

log = logging.getLogger("omnicx.maestro")

SEND_TOPIC = "maestro.send"
"""Outbox topic of a message the gate let through, keyed by the message id."""

NOT_AUTO = frozenset({"web_chat"})
"""Channels "auto" never picks: a chat visitor is only reached when they are on the page."""

RECEIPT_CHANNELS = frozenset({"sms", "whatsapp", "viber", "in_app"})
"""Channels whose providers report delivery; on others "sent" is the last word, so there is
nothing to wait for before a fallback."""

RANK = {
    "queued": 0,
    "sending": 0,
    "sent": 1,
    "unknown": 1,
    "delivered": 2,
    "read": 3,
    "undelivered": 4,
    "failed": 4,
    "cancelled": 4,
}

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


# -- configuration and ports ----------------------------------------------------------------


@dataclass(frozen=True)
class SendingConfig:
    policy: Policy = field(default_factory=Policy)
    costs: Mapping[str, float] = field(default_factory=dict)
    default_language: str = "en"
    email_domain: str = "localhost"
    email_from: str | None = None
    max_attempts: int = 5
    retry_seconds: float = 5.0
    failover_after: int = 2
    """Retryable failures in a row on the primary provider before the second one is used."""
    reconcile_after: timedelta = timedelta(seconds=60)
    """How long an attempt may stay unanswered before it is taken for interrupted."""
    broadcast_page: int = 500
    email_tracking: bool = False
    """Sign the links of HTML emails and add an open pixel (`orchestration.tracking`)."""
    public_url: str = "http://127.0.0.1:8000"
    """Where the tracking links point."""


def sending_config(settings: Settings) -> SendingConfig:
    return SendingConfig(
        policy=Policy(
            caps=parse_caps(settings.frequency_caps),
            quiet_hours=settings.quiet_hours_window,
            time_zone=settings.default_time_zone,
            competition=timedelta(minutes=settings.send_competition_minutes),
        ),
        costs=dict(settings.channel_costs),
        default_language=settings.default_language,
        email_domain=settings.email_domain,
        email_from=settings.email_addresses[0] if settings.email_addresses else None,
        max_attempts=settings.send_max_attempts,
        retry_seconds=settings.send_retry_seconds,
        reconcile_after=timedelta(seconds=settings.send_reconcile_seconds),
        broadcast_page=settings.broadcast_page_size,
        email_tracking=settings.email_tracking,
        public_url=settings.public_base_url or f"http://{settings.host}:{settings.port}",
    )


@dataclass(frozen=True)
class CustomerPreferences:
    """What the gate reads of a customer's preferences."""

    channel_order: tuple[str, ...] = ()
    language: str | None = None
    time_zone: str | None = None
    quiet_hours: tuple[time, time] | None = None
    max_per_day: int | None = None
    max_per_week: int | None = None
    channel_limits: tuple[tuple[str, int | None, int | None], ...] = ()


class ContactRules(Protocol):
    """Consent as the gate asks it: may this customer get this purpose on this channel, what
    do they prefer, and is there a suppression that bars them whatever the channel."""

    def permission(
        self, uow: UnitOfWork, customer_id: str, purpose: str, channel: str
    ) -> tuple[bool, str]: ...

    def preferences(self, uow: UnitOfWork, customer_id: str) -> CustomerPreferences: ...

    def suppressed(self, uow: UnitOfWork, customer_id: str, purpose: str) -> str | None: ...


@dataclass(frozen=True)
class Contact:
    """One customer's `ContactRules` answers, read ahead for a batch."""

    preferences: CustomerPreferences
    permission: Callable[[str, str], tuple[bool, str]]
    """(purpose, channel) -> (allowed, why)."""
    suppressed: Callable[[str], str | None]
    """purpose -> why every channel is barred, if it is."""


class DefaultContactRules:
    """Without a consent record, transactional and service messages are allowed and every
    other purpose needs an opt-in (what the consent domain answers for a customer who said
    nothing)."""

    def permission(
        self, uow: UnitOfWork, customer_id: str, purpose: str, channel: str
    ) -> tuple[bool, str]:
        if purpose in ("transactional", "service"):
            return True, f"{purpose} is allowed unless refused"
        return False, f"{purpose} not granted on {channel}"

    def preferences(self, uow: UnitOfWork, customer_id: str) -> CustomerPreferences:
        return CustomerPreferences()

    def suppressed(self, uow: UnitOfWork, customer_id: str, purpose: str) -> str | None:
        return None


class ConsentRules:
    """The consent domain as the gate's `ContactRules`: `may_contact` answers per purpose
    and channel (suppressions included), the repository gives preferences and suppressions."""

    def __init__(
        self,
        may_contact: Callable[[UnitOfWork, str, str, str], ContactPermission],
        consent: Callable[[UnitOfWork], ConsentRepository],
    ) -> None:
        self._may_contact = may_contact
        self._consent = consent

    def permission(
        self, uow: UnitOfWork, customer_id: str, purpose: str, channel: str
    ) -> tuple[bool, str]:
        answer = self._may_contact(uow, customer_id, purpose, channel)
        return answer.allowed, answer.reason

    def preferences(self, uow: UnitOfWork, customer_id: str) -> CustomerPreferences:
        return _preferences(self._consent(uow).preferences(customer_id))

    def suppressed(self, uow: UnitOfWork, customer_id: str, purpose: str) -> str | None:
        """A suppression that bars the purpose on every channel (legal; a complaint or a
        manual one on every channel, but for transactional messages)."""
        return _barred(self._consent(uow).suppressions(customer_id), purpose)

    def contacts(
        self,
        uow: UnitOfWork,
        members: Mapping[str, Sequence[str]],
        identifiers: Mapping[str, Sequence[tuple[str, str]]],
        hashed: Mapping[str, Collection[tuple[str, str]]] | None = None,
    ) -> dict[str, Contact]:
        """The answers of `permission`, `preferences` and `suppressed` for many customers,
        read in a few statements: their consents, preferences and suppressions, judged by
        the consent domain's pure `decide` (what `may_contact` does for one). `hashed`, when
        given, holds the (kind, look-up hash) of each customer's identifiers: the
        suppressions are found by those instead of hashing `identifiers` again."""
        repo = self._consent(uow)
        now = uow.clock.now()
        records = repo.current_many(members)
        preferences = repo.preferences_many(members)
        suppressions = (
            repo.suppressions_many(identifiers)
            if hashed is None
            else repo.suppressions_hashed(hashed)
        )
        found: dict[str, Contact] = {}
        converted: dict[int, CustomerPreferences] = {}
        answers: dict[tuple[str, str], tuple[bool, str]] = {}

        def unsaid(purpose: str, channel: str) -> tuple[bool, str]:
            """The answer for a customer who said nothing and is suppressed nowhere: the
            same for all of them."""
            answer = answers.get((purpose, channel))
            if answer is None:
                decided = consent_decide((), (), purpose, channel, now)
                answer = answers[(purpose, channel)] = (decided.allowed, decided.reason)
            return answer

        for customer in members:
            held, barred = records[customer], suppressions[customer]
            said = preferences[customer]
            prefs = converted.get(id(said))
            if prefs is None:
                prefs = converted[id(said)] = _preferences(said)
            if not held and not barred:
                found[customer] = Contact(prefs, unsaid, partial(_barred, barred))
                continue

            def permission(
                purpose: str,
                channel: str,
                held: Sequence[ConsentRecord] = held,
                barred: Sequence[Suppression] = barred,
            ) -> tuple[bool, str]:
                answer = consent_decide(held, barred, purpose, channel, now)
                return answer.allowed, answer.reason

            found[customer] = Contact(prefs, permission, partial(_barred, barred))
        return found


def _preferences(p: Preferences) -> CustomerPreferences:
    return CustomerPreferences(
        channel_order=tuple(p.channel_order),
        language=p.language,
        time_zone=p.time_zone,
        quiet_hours=p.quiet_hours,
        max_per_day=p.max_per_day,
        max_per_week=p.max_per_week,
        channel_limits=tuple((c.channel, c.max_per_day, c.max_per_week) for c in p.channel_limits),
    )


def _barred(suppressions: Sequence[Suppression], purpose: str) -> str | None:
    for s in suppressions:
        everywhere = s.reason in ("legal", "complained") or s.channel == "*"
        if everywhere and (s.reason in ("legal", "bounced") or purpose != "transactional"):
            return (
                f"{s.kind} suppressed ({s.reason}) on every channel since "
                f"{s.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            )
    return None


@runtime_checkable
class BulkContactRules(Protocol):
    """`ContactRules` that can read many customers at once (`ConsentRules`); other rules
    are asked one customer at a time."""

    def contacts(
        self,
        uow: UnitOfWork,
        members: Mapping[str, Sequence[str]],
        identifiers: Mapping[str, Sequence[tuple[str, str]]],
        hashed: Mapping[str, Collection[tuple[str, str]]] | None = None,
    ) -> dict[str, Contact]: ...


def contacts_of(
    rules: ContactRules,
    uow: UnitOfWork,
    members: Mapping[str, Sequence[str]],
    identifiers: Mapping[str, Sequence[tuple[str, str]]],
    hashed: Mapping[str, Collection[tuple[str, str]]] | None = None,
) -> dict[str, Contact]:
    """Each customer's `Contact`: in one go when the rules can, else one by one (`hashed`
    as in `ConsentRules.contacts`)."""
    if isinstance(rules, BulkContactRules):
        return rules.contacts(uow, members, identifiers, hashed)
    return {
        customer: Contact(
            rules.preferences(uow, customer),
            partial(_ask_permission, rules, uow, customer),
            partial(rules.suppressed, uow, customer),
        )
        for customer in members
    }


def _ask_permission(
    rules: ContactRules, uow: UnitOfWork, customer: str, purpose: str, channel: str
) -> tuple[bool, str]:
    return rules.permission(uow, customer, purpose, channel)


@dataclass(slots=True)
class CustomerView:
    """What the gate reads of a customer before deciding, however it was read: one at a
    time (`submit`) or for a whole batch (`submit_many`)."""

    customer_id: str
    held: Sequence[tuple[str, str]]
    """(kind, value) of the identifiers the customer holds."""
    preferences: CustomerPreferences
    language: str
    time_zone: str | None
    engaged: Mapping[str, datetime]
    """Channel -> the latest engagement there."""
    last_inbound: Callable[[str], tuple[str | None, datetime] | None]
    """Channel -> (account, when) of the customer's latest inbound message there."""
    permission: Callable[[str, str], tuple[bool, str]]
    suppressed: Callable[[str], str | None]


class SegmentMembers:
    """Broadcast audiences: the segments' current members."""

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def exists(self, uow: object, segment_id: str) -> bool:
        assert isinstance(uow, UnitOfWork)
        return SqlSegmentRepository(uow.conn, self.cipher).get(segment_id) is not None

    def members(self, uow: object, segment_id: str, after: str | None, limit: int) -> list[str]:
        assert isinstance(uow, UnitOfWork)
        repo = SqlSegmentRepository(uow.conn, self.cipher)
        return repo.members_after(segment_id, after or "", limit)


@runtime_checkable
class SentLookup(Protocol):
    """A provider that can be asked whether it accepted a message (after a crash)."""

    def find_sent(self, out: OutboundMessage, since: datetime) -> SendResult | None: ...


def auto_channels(senders: Mapping[str, ChannelSender]) -> tuple[str, ...]:
    """The channels "auto" weighs: every one that can send but those it never picks."""
    return tuple(c for c in sorted(senders) if c not in NOT_AUTO)


# -- rendering --------------------------------------------------------------------------------
# Templates, their checks and the sandbox live in `orchestration.templates`.

Rendered = templates.Rendered
check_source = templates.check_source


def choose_variant(
    variants: Sequence[TemplateVariant], channel: str, language: str, default: str = "en"
) -> TemplateVariant | None:
    return templates.choose_variant(variants, channel, language, default)


def render(
    content: Content,
    variants: Sequence[TemplateVariant],
    channel: str,
    language: str,
    customer: Mapping[str, Any],
    *,
    origin: str = "",
    default_language: str = "en",
) -> Rendered:
    """The message for `channel`: the named template's variant (or the literal content) with
    the intent's variables, `customer` (id, name, first_name, last_name, email, phone), their
    `traits` and `time_zone` when `customer` holds them, and the journey of `origin`."""
    context = templates.context_for(
        customer=customer,
        traits=customer.get("traits"),
        variables=content.variables,
        origin=origin,
        language=language,
        time_zone=customer.get("time_zone"),
    )
    return templates.render(
        content, variants, channel, language, context, default_language=default_language
    )


# -- the service --------------------------------------------------------------------------------


class Sending:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cipher: FieldCipher,
        config: SendingConfig,
        senders: Mapping[str, ChannelSender],
        failover: Mapping[str, ChannelSender] | None = None,
        *,
        rules: ContactRules | None = None,
        members: MemberSource | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.uow = uow
        self.cipher = cipher
        self.config = config
        self.senders = senders
        self.failover = dict(failover or {})
        self.rules: ContactRules = rules or DefaultContactRules()
        self.members: MemberSource = members or NoSegments()
        self.throttle = throttle or Throttle({})

    def repo(self, uow: UnitOfWork) -> SqlSendRepository:
        return SqlSendRepository(uow.conn, self.cipher)

    # -- submit -------------------------------------------------------------------------------

    def submit(
        self, uow: UnitOfWork, intent: SendIntent, *, broadcast_id: str | None = None
    ) -> Decision:
        """Decide on `intent` and act on it in the caller's transaction; the same send_id
        again answers the decision already made, changing nothing."""
        check_intent(intent)
        repo = self.repo(uow)
        existing = repo.by_send_id(intent.send_id)
        if existing is not None:
            return self._latest(repo, existing)
        profile = SqlProfileRepository(uow.conn, self.cipher).get(intent.customer_id)
        if profile is None:
            raise NotFound("customer_not_found", f"no customer {intent.customer_id}", "customer_id")
        self.check_content(repo, intent.content)
        now = uow.clock.now()
        ref = new_id()
        if not repo.claim_send(ref, intent, profile.canonical_id, now, broadcast_id):
            taken = repo.by_send_id(intent.send_id)
            if taken is None:  # pragma: no cover - the conflicting row is committed
                raise Conflict("send_in_progress", f"send {intent.send_id} is being decided")
            return self._latest(repo, taken)
        send = repo.get(ref)
        assert send is not None
        return self._decide(uow, repo, send, now)

    def submit_many(
        self,
        uow: UnitOfWork,
        intents: Sequence[SendIntent],
        *,
        broadcast_id: str | None = None,
    ) -> list[Decision]:
        """`submit` for each intent in order, in the caller's transaction, with the facts
        read and the rows written for the whole batch at once (`orchestration.batch_sending`):
        the same decisions, rows and events. An intent `submit` would refuse (an unknown
        customer: `NotFound`; a bad field or template: `Invalid`) refuses the whole batch,
        and nothing is written."""
        from omnicx.orchestration.batch_sending import submit_many

        return submit_many(self, uow, intents, broadcast_id=broadcast_id)

    def check_content(self, repo: SqlSendRepository, content: Content) -> None:
        if content.template is not None and not repo.variants(content.template):
            raise Invalid(
                "unknown_template", f"no template named {content.template!r}", "content.template"
            )
        for name, source in (
            ("content.text", content.text),
            ("content.subject", content.subject),
            ("content.html", content.html),
        ):
            if source is not None:
                check_source(source, name)

    def _latest(self, repo: SqlSendRepository, send: SendRecord) -> Decision:
        found = repo.decisions((), limit=1, send_ref=send.id)
        if not found:
            raise Conflict("send_in_progress", f"send {send.send_id} is being decided")
        d = found[0]
        return Decision(send.send_id, d.outcome, d.channel, d.reason, d.defer_until, d.at, d.code)

    def _decide(
        self,
        uow: UnitOfWork,
        repo: SqlSendRepository,
        send: SendRecord,
        now: datetime,
        *,
        after: MessageRecord | None = None,
        why: str = "",
    ) -> Decision:
        """Ask the gate about `send` (again, after `after` went out on a channel: a fallback)
        and act on its answer."""
        intent = send.intent
        facts, addresses = self._facts(uow, repo, send, now)
        decision = decide(intent, facts, now)
        if why:
            decision = replace(decision, reason=f"{why}: {decision.reason}")
        self._record(uow, repo, send, decision)
        if decision.outcome == "send":
            assert decision.channel is not None
            self._queue(uow, repo, send, decision.channel, addresses[decision.channel], now)
            repo.update_send(
                send.id,
                status="queued",
                channel=decision.channel,
                code=decision.code,
                decided_at=now,
                tried=[*send.tried, decision.channel],
                wake_at=None,
                wake=None,
                updated_at=now,
            )
        elif decision.outcome == "defer":
            repo.update_send(
                send.id,
                status="deferred",
                channel=decision.channel,
                code=decision.code,
                decided_at=now,
                wake_at=decision.defer_until,
                wake="decide",
                updated_at=now,
            )
        else:
            finished = after is None or after.status in ("failed", "undelivered", "cancelled")
            if after is None:
                status = "skipped"
            elif finished:
                status = "failed"
            else:
                status = "delivered" if after.status in ("delivered", "read") else "sent"
            repo.update_send(
                send.id, status=status, code=decision.code, wake_at=None, wake=None, updated_at=now
            )
            if status == "failed":
                uow.raise_event(
                    SendFailedFinally(send.send_id, send.customer_id, decision.reason, now)
                )
        if decision.outcome != "skip":
            self._outrank(uow, repo, send, facts, now)
        return decision

    def _record(
        self, uow: UnitOfWork, repo: SqlSendRepository, send: SendRecord, decision: Decision
    ) -> None:
        repo.add_decision(
            send.id,
            send.send_id,
            send.customer_id,
            outcome=decision.outcome,
            channel=decision.channel,
            code=decision.code,
            reason=decision.reason,
            defer_until=decision.defer_until,
            origin=send.intent.origin,
            at=decision.at,
        )
        uow.raise_event(
            MessageDecided(
                send_id=send.send_id,
                customer_id=send.customer_id,
                outcome=decision.outcome,
                channel=decision.channel,
                reason=decision.reason,
                code=decision.code,
                defer_until=decision.defer_until,
                origin=send.intent.origin,
                at=decision.at,
            )
        )

    def _queue(
        self,
        uow: UnitOfWork,
        repo: SqlSendRepository,
        send: SendRecord,
        channel: str,
        to: tuple[str, str],
        now: datetime,
        delay: timedelta = timedelta(0),
    ) -> str:
        message_id = new_id()
        repo.add_message(message_id, send.id, send.customer_id, channel, to, now)
        self._enqueue(uow, message_id, now, delay)
        return message_id

    @staticmethod
    def _enqueue(uow: UnitOfWork, message_id: str, now: datetime, delay: timedelta) -> None:
        uow.conn.execute(
            outbox.insert().values(
                topic=SEND_TOPIC,
                key=message_id,
                payload={"message_id": message_id},
                status="pending",
                attempts=0,
                created_at=now,
                available_at=now + delay,
            )
        )

    def _outrank(
        self,
        uow: UnitOfWork,
        repo: SqlSendRepository,
        send: SendRecord,
        facts: Facts,
        now: datetime,
    ) -> None:
        """Cancel the waiting sends of lower priority this one replaces."""
        intent = send.intent
        for loser in outranked(intent, facts.recent, facts.policy, now):
            other = repo.by_send_id(loser.send_id)
            if other is None or not repo.update_send(
                other.id,
                only_if=("deferred", "queued"),
                status="cancelled",
                code="lost_priority",
                wake_at=None,
                wake=None,
                updated_at=now,
            ):
                continue
            for message in repo.messages_of(other.id):
                repo.update_message(
                    message.id, only_if=("queued",), status="cancelled", updated_at=now
                )
            winner = PastSend(
                intent.send_id, intent.purpose, intent.category, None, intent.priority, now, "going"
            )
            decision = Decision(
                other.send_id,
                "skip",
                other.channel,
                lost_to(winner, loser.priority),
                None,
                now,
                "lost_priority",
            )
            self._record(uow, repo, other, decision)

    # -- facts ----------------------------------------------------------------------------------

    def _facts(
        self, uow: UnitOfWork, repo: SqlSendRepository, send: SendRecord, now: datetime
    ) -> tuple[Facts, dict[str, tuple[str, str]]]:
        intent = send.intent
        customer = send.customer_id
        profiles = SqlProfileRepository(uow.conn, self.cipher)
        members = sorted(profiles.members(customer)) or [customer]
        held = [(i["kind"], i["value"]) for i in profiles.identifiers_of(customer)]
        traits = {k: t.value for k, t in profiles.traits_of(customer).items()}
        prefs = self.rules.preferences(uow, customer)
        conversations = SqlConversationRepository(uow.conn, self.cipher)

        def last_inbound(channel: str) -> tuple[str | None, datetime] | None:
            last = conversations.last_inbound(customer, channel)
            return (last.account, last.created_at) if last is not None else None

        view = CustomerView(
            customer_id=customer,
            held=held,
            preferences=prefs,
            language=self._language(prefs, traits),
            time_zone=self._zone(prefs, traits),
            engaged=repo.last_engagement(members),
            last_inbound=last_inbound,
            permission=partial(_ask_permission, self.rules, uow, customer),
            suppressed=partial(self.rules.suppressed, uow, customer),
        )
        variants = repo.variants(intent.content.template) if intent.content.template else []
        recent = tuple(repo.recent(members, now - LONGEST, exclude=send.id))
        return self.facts_for(view, intent, send.tried, recent, variants, now)

    def facts_for(
        self,
        view: CustomerView,
        intent: SendIntent,
        tried: tuple[str, ...],
        recent: tuple[PastSend, ...],
        variants: Sequence[TemplateVariant],
        now: datetime,
        senders: Mapping[str, ChannelSender] | None = None,
        auto: tuple[str, ...] | None = None,
    ) -> tuple[Facts, dict[str, tuple[str, str]]]:
        """The gate's facts about `intent` for the customer of `view`, and the address of each
        channel that may carry it; `senders` is `self.senders` as a batch saw it, `auto` its
        `auto_channels`."""
        customer = view.customer_id
        language = view.language
        prefs = view.preferences
        config = self.config
        costs = config.costs
        senders = self.senders if senders is None else senders
        names = intent.channels or (auto_channels(senders) if auto is None else auto)
        held = view.held
        engaged = view.engaged
        channels: list[ChannelFacts] = []
        addresses: dict[str, tuple[str, str]] = {}
        for name in dict.fromkeys(names) if len(names) > 1 else names:
            address = reachable(held, name)
            sender = senders.get(name)
            refusal: str | None = None
            if sender is None:
                refusal = f"no sender is configured for {name}"
            elif address is not None:
                last = view.last_inbound(name)
                variant = (
                    choose_variant(variants, name, language, config.default_language)
                    if variants
                    else None
                )
                hint = None
                if variant is not None and variant.provider_template:
                    spec = variant.provider_template
                    hint = Template(str(spec["name"]), str(spec.get("language") or language))
                refusal = sender.can_send(
                    SendContext(
                        customer_id=customer,
                        conversation_id="",
                        channel=name,
                        account=last[0] if last is not None else None,
                        to=address,
                        now=now,
                        last_inbound_at=last[1] if last is not None else None,
                        template=hint,
                    )
                )
            allowed, why = True, ""
            if address is not None and refusal is None:
                allowed, why = view.permission(intent.purpose, name)
                addresses[name] = address
            channels.append(
                ChannelFacts(
                    name,
                    address is not None,
                    allowed,
                    why,
                    refusal,
                    engaged.get(name),
                    float(costs.get(name, 0.0)),
                )
            )
        facts = Facts(
            customer_id=customer,
            channels=tuple(channels),
            policy=config.policy,
            suppressed=view.suppressed(intent.purpose),
            channel_order=prefs.channel_order,
            time_zone=view.time_zone,
            quiet_hours=prefs.quiet_hours,
            max_per_day=prefs.max_per_day,
            max_per_week=prefs.max_per_week,
            channel_limits=prefs.channel_limits,
            recent=recent,
            tried=tried,
        )
        return facts, addresses

    @staticmethod
    def _zone(prefs: CustomerPreferences, traits: Mapping[str, Any]) -> str | None:
        return prefs.time_zone or _text(traits.get("time_zone") or traits.get("timezone"))

    def _language(self, prefs: CustomerPreferences, traits: Mapping[str, Any]) -> str:
        for candidate in (prefs.language, traits.get("language"), traits.get("locale")):
            if isinstance(candidate, str) and _LANGUAGE.match(candidate):
                return candidate
        return self.config.default_language

    def template_customer(self, uow: UnitOfWork, customer_id: str) -> tuple[dict[str, Any], str]:
        """The customer as templates see them (their traits and time zone included), and
        their language: what a preview renders with."""
        return self._customer(uow, customer_id)

    def _customer(self, uow: UnitOfWork, customer_id: str) -> tuple[dict[str, Any], str]:
        """The customer as templates see them, and their language."""
        profiles = SqlProfileRepository(uow.conn, self.cipher)
        profile = profiles.get(customer_id)
        traits = {k: t.value for k, t in profiles.traits_of(customer_id).items()}
        first = _text(traits.get("first_name") or traits.get("firstName"))
        last = _text(traits.get("last_name") or traits.get("lastName"))
        name = _text(traits.get("name")) or (profile.display_name if profile else None)
        if name and not first:
            first = name.split()[0]
        values: dict[str, Any] = {
            "id": customer_id,
            "name": name or " ".join(p for p in (first, last) if p) or None,
            "first_name": first,
            "last_name": last,
            "email": profile.email if profile else None,
            "phone": profile.phone if profile else None,
        }
        prefs = self.rules.preferences(uow, customer_id)
        values["traits"] = traits
        values["time_zone"] = prefs.time_zone or _text(
            traits.get("time_zone") or traits.get("timezone")
        )
        return values, self._language(prefs, traits)

    # -- dispatch ---------------------------------------------------------------------------------

    def dispatch(self, message_id: str, payload: Mapping[str, Any] | None = None) -> None:
        """The `maestro.send` outbox handler: hand one message to its provider, once.

        The message is marked "sending" with a fresh attempt id and committed before the
        provider is called; the answer is recorded only under that attempt id, so a message
        is never handed over by two attempts. Anything not "queued" is left alone.
        """
        attempt = new_id()
        with self.uow() as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            message = repo.message(message_id)
            if message is None or message.status != "queued":
                return
            send = repo.get(message.send_ref, lock=True)
            if send is None or send.status != "queued":
                return
            intent = send.intent
            if intent.not_after is not None and intent.not_after <= now:
                repo.update_message(
                    message.id, only_if=("queued",), status="cancelled", updated_at=now
                )
                stale = Decision(
                    send.send_id,
                    "skip",
                    message.channel,
                    f"stale: not to be sent after {intent.not_after.isoformat()}; it was still "
                    "waiting for its provider",
                    None,
                    now,
                    "stale",
                )
                self._record(uow, repo, send, stale)
                repo.update_send(send.id, status="skipped", code="stale", updated_at=now)
                uow.commit()
                return
            customer, language = self._customer(uow, send.customer_id)
            variants = repo.variants(intent.content.template) if intent.content.template else []
            try:
                out = self._outbound(message, intent, variants, language, customer)
            except Invalid as error:
                repo.update_message(
                    message.id, status="failed", last_error=error.message, updated_at=now
                )
                failed = replace(message, status="failed")
                self._fallback(uow, repo, send, failed, now, f"{message.channel}: {error.message}")
                uow.commit()
                return
            if not repo.update_message(
                message.id,
                only_if=("queued",),
                status="sending",
                attempt_id=attempt,
                attempt_started_at=now,
                attempts=message.attempts + 1,
                updated_at=now,
            ):
                return
            repo.update_send(send.id, status="sending", updated_at=now)
            uow.commit()
        self._hand_over(replace(message, attempt_id=attempt, attempts=message.attempts + 1), out)

    def _hand_over(self, message: MessageRecord, out: OutboundMessage) -> None:
        sender = self.sender(message.channel, message.provider)
        if sender is None:
            self._failed(message, f"no sender is configured for {message.channel}", retry=False)
            return
        self.throttle.wait(message.channel, message.provider)
        try:
            result = sender.send(out)
        except SendFailed as error:
            self._failed(message, str(error), retry=error.retry)
            return
        except Exception as error:  # a broken adapter must not leave the message "sending"
            log.exception("sending %s through %s failed", message.id, message.channel)
            self._failed(message, f"{type(error).__name__}: {error}", retry=True)
            return
        self._sent(message, result)

    def sender(self, channel: str, provider: str) -> ChannelSender | None:
        if provider == "failover":
            return self.failover.get(channel)
        return self.senders.get(channel)

    def _outbound(
        self,
        message: MessageRecord,
        intent: SendIntent,
        variants: Sequence[TemplateVariant],
        language: str,
        customer: Mapping[str, Any],
    ) -> OutboundMessage:
        rendered = render(
            intent.content,
            variants,
            message.channel,
            language,
            customer,
            origin=intent.origin,
            default_language=self.config.default_language,
        )
        html = rendered.html
        if html and message.channel == "email" and self.config.email_tracking:
            key = tracking.tracking_key(self.cipher.keyring.index_key)
            html = tracking.tracked_email(html, key, message.id, self.config.public_url)
        thread = ThreadHeaders()
        if message.channel == "email":
            thread = ThreadHeaders(
                message_id=f"<maestro.{message.id}@{self.config.email_domain}>",
                reply_to=self.config.email_from,
                subject=rendered.subject or "",
            )
        if not (rendered.text or rendered.html or rendered.template):
            raise Invalid("empty_content", f"the content is empty on {message.channel}")
        return OutboundMessage(
            message_id=message.id,
            conversation_id="",
            channel=message.channel,
            account=None,
            to=message.to,
            text=rendered.text,
            html=html,
            thread=thread,
            template=rendered.template,
        )

    def _sent(self, message: MessageRecord, result: SendResult) -> None:
        with self.uow() as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            status = result.status if result.status in ("delivered", "read") else "sent"
            if not repo.update_message(
                message.id,
                only_if=("sending",),
                attempt=message.attempt_id,
                status=status,
                provider_message_id=result.provider_message_id,
                sent_at=now,
                failures=0,
                updated_at=now,
            ):
                return
            send = repo.get(message.send_ref, lock=True)
            assert send is not None
            self._settle_sent(uow, repo, send, replace(message, status=status), now)
            uow.commit()

    def _settle_sent(
        self,
        uow: UnitOfWork,
        repo: SqlSendRepository,
        send: SendRecord,
        message: MessageRecord,
        now: datetime,
    ) -> None:
        values: dict[str, Any] = {"status": "sent", "wake_at": None, "wake": None}
        seconds = send.intent.fallback_after_seconds
        if message.status in ("delivered", "read"):
            values["status"] = "delivered"
        elif seconds and message.channel in RECEIPT_CHANNELS:
            values.update(wake_at=now + timedelta(seconds=seconds), wake="fallback")
        repo.update_send(send.id, updated_at=now, **values)
        (event_id,) = SqlEventRepository(uow.conn, self.cipher).allocate_ids(1)
        repo.add_timeline(event_id, message, send, now)
        if values["status"] == "delivered":
            uow.raise_event(SendDelivered(send.send_id, send.customer_id, message.channel, now))

    def _failed(self, message: MessageRecord, error: str, *, retry: bool) -> None:
        with self.uow() as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            current = repo.message(message.id)
            if (
                current is None
                or current.status != "sending"
                or current.attempt_id != message.attempt_id
            ):
                return
            send = repo.get(current.send_ref, lock=True)
            assert send is not None
            if retry and current.attempts < self.config.max_attempts:
                failures = current.failures + 1
                provider = current.provider
                if (
                    failures >= self.config.failover_after
                    and provider == "primary"
                    and current.channel in self.failover
                ):
                    provider, failures = "failover", 0
                    log.warning("%s: failing over to the second provider", current.channel)
                repo.update_message(
                    current.id,
                    attempt=current.attempt_id,
                    status="queued",
                    provider=provider,
                    failures=failures,
                    last_error=error[:2000],
                    updated_at=now,
                )
                repo.update_send(send.id, status="queued", updated_at=now)
                delay = min(3600.0, self.config.retry_seconds * 2 ** (current.attempts - 1))
                self._enqueue(uow, current.id, now, timedelta(seconds=delay))
            else:
                repo.update_message(
                    current.id,
                    attempt=current.attempt_id,
                    status="failed",
                    last_error=error[:2000],
                    updated_at=now,
                )
                failed = replace(current, status="failed", last_error=error)
                how = "gave up after" if retry else "refused on"
                attempts = f"{current.attempts} attempts" if retry else "attempt"
                self._fallback(
                    uow, repo, send, failed, now, f"{current.channel} {how} {attempts}: {error}"
                )
            uow.commit()

    def _fallback(
        self,
        uow: UnitOfWork,
        repo: SqlSendRepository,
        send: SendRecord,
        after: MessageRecord,
        now: datetime,
        why: str,
    ) -> Decision:
        send = replace(send, tried=tuple(dict.fromkeys((*send.tried, after.channel))))
        return self._decide(uow, repo, send, now, after=after, why=why)

    # -- receipts ---------------------------------------------------------------------------------

    def record_receipt(self, update: DeliveryUpdate, ref: str | None = None) -> bool:
        """A provider's status for one of the gate's messages (found by the provider's id, or
        by `ref`, our message id carried in the status callback); False when it is none of
        ours."""
        with self.uow() as uow:
            ours = self.apply_receipt(uow, update, ref)
            uow.commit()
        return ours

    def apply_receipt(
        self, uow: UnitOfWork, update: DeliveryUpdate, ref: str | None = None
    ) -> bool:
        """`record_receipt` in the caller's transaction (email tracking records an open
        with its own receipt row and timeline entry)."""
        repo = self.repo(uow)
        now = uow.clock.now()
        message = repo.by_provider_id(update.channel, update.provider_message_id)
        if message is None and ref:
            found = repo.message(ref)
            if found is not None and found.channel == update.channel:
                message = found
        if message is None:
            return False
        send = repo.get(message.send_ref, lock=True)
        assert send is not None
        if message.provider_message_id is None and message.status in ("sending", "unknown"):
            # The attempt was interrupted; the callback tells what it could not.
            repo.update_message(
                message.id,
                provider_message_id=update.provider_message_id,
                status="sent",
                sent_at=now,
                updated_at=now,
            )
            message = replace(
                message, provider_message_id=update.provider_message_id, status="sent"
            )
            self._settle_sent(uow, repo, send, message, now)
            send = repo.get(send.id) or send
        latest = repo.messages_of(send.id)[-1].id == message.id
        state = update.status
        if RANK.get(state, 0) > RANK.get(message.status, 0):
            values: dict[str, Any] = {"status": state, "updated_at": now}
            if state in ("delivered", "read") and message.delivered_at is None:
                values["delivered_at"] = update.at
            if update.error:
                values["last_error"] = update.error
            repo.update_message(message.id, **values)
            message = replace(message, status=state)
        if latest and state in ("delivered", "read") and send.status in ("sent", "unknown"):
            repo.update_send(send.id, status="delivered", wake_at=None, wake=None, updated_at=now)
            uow.raise_event(SendDelivered(send.send_id, send.customer_id, message.channel, now))
        elif latest and state in ("failed", "undelivered") and send.status in ("sent", "unknown"):
            self._fallback(
                uow,
                repo,
                send,
                message,
                now,
                f"{message.channel} reported {state}"
                + (f" ({update.error})" if update.error else ""),
            )
        return True

    # -- the worker -------------------------------------------------------------------------------

    def process(self, limit: int = 100) -> int:
        """One pass of the gate's background work; returns how much was done."""
        done = 0
        with self.uow(write=False) as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            due = repo.due(now, limit)
            stale = repo.stale_attempts(now - self.config.reconcile_after, 1)
            broadcast = repo.due_broadcast(now)
        for send in due:
            done += self._wake(send.id)
        if stale:
            done += self._reconcile(limit)
        if broadcast is not None:
            done += self.expand_broadcast()
        return done

    def _wake(self, send_ref: str) -> int:
        with self.uow() as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            send = repo.get(send_ref, lock=True)
            if send is None or send.wake_at is None or send.wake_at > now:
                return 0
            if send.wake == "decide" and send.status == "deferred":
                messages = repo.messages_of(send.id)
                after = messages[-1] if messages else None
                self._decide(uow, repo, send, now, after=after)
            elif send.wake == "fallback" and send.status == "sent":
                message = repo.messages_of(send.id)[-1]
                seconds = send.intent.fallback_after_seconds
                self._fallback(
                    uow,
                    repo,
                    send,
                    message,
                    now,
                    f"not delivered on {message.channel} within {seconds} s",
                )
            else:
                repo.update_send(send.id, wake_at=None, wake=None, updated_at=now)
            uow.commit()
        return 1

    def _reconcile(self, limit: int) -> int:
        """Settle the attempts a killed worker left "sending" (see the module's table)."""
        with self.uow() as uow:
            now = uow.clock.now()
            stale = self.repo(uow).stale_attempts(now - self.config.reconcile_after, limit)
            for message in stale:
                # Claim it so that another worker does not check it at the same time.
                self.repo(uow).update_message(
                    message.id,
                    only_if=("sending",),
                    attempt=message.attempt_id,
                    attempt_started_at=now,
                )
            uow.commit()
        for message in stale:
            self._settle_interrupted(message)
        return len(stale)

    def _settle_interrupted(self, message: MessageRecord) -> None:
        sender = self.sender(message.channel, message.provider)
        with self.uow(write=False) as uow:
            repo = self.repo(uow)
            send = repo.get(message.send_ref)
            if send is None:
                return
            customer, language = self._customer(uow, send.customer_id)
            template = send.intent.content.template
            variants = repo.variants(template) if template else []
        if message.channel == "email":
            self._resend(
                message, "sent again with the same Message-ID after an interrupted attempt"
            )
            return
        if isinstance(sender, SentLookup):
            try:
                out = self._outbound(message, send.intent, variants, language, customer)
                since = (message.attempt_started_at or message.created_at) - timedelta(minutes=1)
                found = sender.find_sent(out, since)
            except (SendFailed, Invalid) as error:
                log.warning("could not check interrupted send %s: %s", message.id, error)
                return
            if found is not None:
                with self.uow() as uow:
                    taken = self.repo(uow).provider_id_taken(
                        message.channel, found.provider_message_id or ""
                    )
                if not taken:
                    self._sent(message, found)
                    return
            self._resend(message, "not found at the provider after an interrupted attempt")
            return
        with self.uow() as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            reason = (
                f"the worker stopped while handing the message to {message.channel}, which "
                "offers no way to ask whether it arrived: not sent again"
            )
            if repo.update_message(
                message.id,
                only_if=("sending",),
                attempt=message.attempt_id,
                status="unknown",
                last_error=reason,
                updated_at=now,
            ):
                repo.update_send(
                    message.send_ref, only_if=("sending",), status="unknown", updated_at=now
                )
            uow.commit()

    def _resend(self, message: MessageRecord, note: str) -> None:
        with self.uow() as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            if repo.update_message(
                message.id,
                only_if=("sending",),
                attempt=message.attempt_id,
                status="queued",
                last_error=note,
                updated_at=now,
            ):
                repo.update_send(
                    message.send_ref, only_if=("sending",), status="queued", updated_at=now
                )
                self._enqueue(uow, message.id, now, timedelta(0))
            uow.commit()

    # -- broadcasts ---------------------------------------------------------------------------

    def create_broadcast(self, uow: UnitOfWork, broadcast: Broadcast) -> Broadcast:
        check_broadcast(broadcast, uow.clock.now())
        repo = self.repo(uow)
        self.check_content(repo, broadcast.content)
        templates.check_provided(
            broadcast.content,
            repo.variants(broadcast.content.template) if broadcast.content.template else [],
            templates.for_send(broadcast.content.variables),
        )
        if not self.members.exists(uow, broadcast.segment_id):
            raise NotFound("segment_not_found", f"no segment {broadcast.segment_id}", "segment_id")
        repo.add_broadcast(broadcast)
        return broadcast

    def cancel_broadcast(self, uow: UnitOfWork, broadcast_id: str) -> Broadcast:
        repo = self.repo(uow)
        found = repo.broadcast(broadcast_id, lock=True)
        if found is None:
            raise NotFound("broadcast_not_found", f"no broadcast {broadcast_id}", "id")
        now = uow.clock.now()
        if not repo.update_broadcast(
            broadcast_id,
            only_if=("scheduled", "sending"),
            status="cancelled",
            finished_at=now,
            updated_at=now,
        ):
            raise Conflict("broadcast_finished", f"broadcast {broadcast_id} is {found.status}")
        return replace(found, status="cancelled", finished_at=now, updated_at=now)

    def expand_broadcast(self) -> int:
        """Expand one page of the oldest due broadcast through the gate; how many members."""
        with self.uow() as uow:
            repo = self.repo(uow)
            now = uow.clock.now()
            broadcast = repo.due_broadcast(now)
            if broadcast is None:
                return 0
            page = self.members.members(
                uow, broadcast.segment_id, broadcast.cursor, self.config.broadcast_page
            )
            known = SqlProfileRepository(uow.conn, self.cipher).canonical_ids(page)
            for customer_id in page:
                if customer_id not in known:
                    log.info("broadcast %s: customer %s is gone", broadcast.id, customer_id)
            self.submit_many(
                uow,
                [intent_for(broadcast, c) for c in page if c in known],
                broadcast_id=broadcast.id,
            )
            values: dict[str, Any] = {
                "status": "sending",
                "cursor": page[-1] if page else broadcast.cursor,
                "expanded": broadcast.expanded + len(page),
                "updated_at": now,
            }
            if broadcast.started_at is None:
                values["started_at"] = now
            if len(page) < self.config.broadcast_page:
                values.update(status="done", finished_at=now)
            repo.update_broadcast(broadcast.id, **values)
            uow.commit()
        return max(1, len(page))

    # -- templates ----------------------------------------------------------------------------

    def put_template(
        self, uow: UnitOfWork, name: str, variants: Sequence[TemplateVariant]
    ) -> list[TemplateVariant]:
        templates.check_variants(variants)
        now = uow.clock.now()
        clean = [
            replace(v, name=name, language=v.language.lower(), updated_at=now) for v in variants
        ]
        self.repo(uow).replace_template(name, clean, now)
        return clean


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


# -- privacy ------------------------------------------------------------------------------------


class SendsPrivacy:
    """The gate's answers to privacy: a customer's sends, their messages and the decisions
    are exported and erased with them (the timeline rows go with the events)."""

    DOMAIN = "maestro_sends"

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def _repo(self, uow: UnitOfWork) -> SqlSendRepository:
        return SqlSendRepository(uow.conn, self.cipher)

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        return ExportSection(self.DOMAIN, self._repo(uow).customer_rows(query.subject.profile_ids))

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        return ErasureReport(self.DOMAIN, self._repo(uow).erase_customer(query.subject.profile_ids))

    def apply_retention(self, query: ApplyRetention, uow: UnitOfWork) -> RetentionReport:
        """`gate_sends`: finished sends with their messages, decisions and receipts;
        `channel_sends`: the finished `maestro.send` rows of the outbox."""
        repo = self._repo(uow)
        counts: dict[str, int] = {}
        days = query.policies.get("gate_sends", 0)
        if days > 0:
            counts["gate_sends"] = repo.expire(
                query.now - timedelta(days=days), dry_run=query.dry_run, limit=query.limit
            )
        days = query.policies.get("channel_sends", 0)
        if days > 0:
            counts["channel_sends"] = repo.expire_outbox(
                SEND_TOPIC,
                query.now - timedelta(days=days),
                dry_run=query.dry_run,
                limit=query.limit,
            )
        return RetentionReport(self.DOMAIN, counts)

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)
        bus.answer(ApplyRetention, self.apply_retention)

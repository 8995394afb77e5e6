"""The composition root: `build(settings)` wires storage, the bus, domains and adapters.

Nothing here runs at import time; edges (API, worker, command line) call `build` once.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import exc

from omnicx.access import Argon2PasswordHasher, PasswordHasher, Throttle
from omnicx.access.store import SqlApiKeyRepository, SqlSessionRepository, SqlUserRepository
from omnicx.channels import email as email_channel
from omnicx.channels.providers import http_client
from omnicx.channels.telegram import TelegramBots
from omnicx.channels.twilio import TwilioSms
from omnicx.channels.webchat import (
    LocalBroadcaster,
    WebChatSender,
    build_broadcaster,
    relay_to_stream,
)
from omnicx.channels.whatsapp import WhatsAppCloud
from omnicx.config import Settings
from omnicx.conversations import (
    ChannelSender,
    DeliveryUpdate,
    InboundMessage,
    Message,
    Receipt,
    Reply,
    SendFailed,
)
from omnicx.conversations.batcher import InboundBatcher
from omnicx.conversations.inbox import Inbox
from omnicx.conversations.privacy import ConversationsPrivacy
from omnicx.conversations.services import ConversationPolicy
from omnicx.conversations.store import SEND, SqlConversationRepository
from omnicx.crypto import FieldCipher, KeyFileError, load_key_source
from omnicx.db import Engines, UnitOfWork, UnitOfWorkFactory, create_engines, outbox
from omnicx.desk import csat as desk_csat
from omnicx.desk.adapter import SqlConversationDesk
from omnicx.desk.privacy import DeskPrivacy
from omnicx.desk.reactions import DeskReactions
from omnicx.desk.services import Desk, DeskConfig
from omnicx.desk.store import SqlDeskRepository
from omnicx.events.messages import EventsStored
from omnicx.events.model import Source
from omnicx.events.parse import IdentityConfig, IngestLimits
from omnicx.events.privacy import EventsPrivacy
from omnicx.events.services import resolve_batches
from omnicx.events.store import SqlEventRepository, SqlIngestQueue
from omnicx.kernel import Clock, Event, MessageBus, SystemClock
from omnicx.privacy import (
    Actor,
    PrivacyRequest,
    SuppressionScreen,
    apply_retention,
    erase_subject,
    export_subject,
    read_archive,
)
from omnicx.privacy.store import SqlPrivacyRepository
from omnicx.profiles import (
    IdentityRules,
    ProfileCreated,
    ProfilesMerged,
    ProfileUnmerged,
    ProfileWriter,
    TraitsChanged,
)
from omnicx.profiles import privacy as profiles_privacy
from omnicx.profiles.store import SqlProfileRepository
from omnicx.webhooks import Subscription, deliver, fan_out
from omnicx.webhooks.http import HttpxWebhookSender
from omnicx.webhooks.ports import WebhookSender
from omnicx.webhooks.privacy import WebhooksPrivacy
from omnicx.webhooks.services import DeliveryFailed
from omnicx.webhooks.store import DELIVER, SqlSubscriptionRepository

log = logging.getLogger("omnicx")


class Signal(Protocol):
    """A threading or multiprocessing Event: how acknowledged work wakes the worker."""

    def set(self) -> None: ...
    def clear(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def is_set(self) -> bool: ...


PRIORITY = ("user_id", "email", "phone", "loyalty_id")


def identity_rules(settings: Settings) -> IdentityRules:
    custom = tuple(k for k in settings.all_identifier_kinds if k not in (*PRIORITY, "anonymous_id"))
    return IdentityRules(
        kinds=(*PRIORITY, *custom, "anonymous_id"),
        region=settings.default_region,
        limits=dict(settings.identity_limits),
        blocked={
            kind: frozenset(v.strip().lower() for v in values)
            for kind, values in settings.blocked_identifiers.items()
        },
    )


@dataclass
class Services:
    settings: Settings
    clock: Clock
    bus: MessageBus
    engines: Engines
    uow: UnitOfWorkFactory
    queue: SqlIngestQueue
    rules: IdentityRules
    limits: IngestLimits
    identity: IdentityConfig
    sender: WebhookSender
    cipher: FieldCipher
    wakeup: Signal = field(default_factory=threading.Event)
    passwords: PasswordHasher = field(default_factory=Argon2PasswordHasher)
    throttle: Throttle = field(default_factory=lambda: Throttle("memory://", {}))
    live: LocalBroadcaster = field(default_factory=LocalBroadcaster)
    channel_senders: dict[str, ChannelSender] = field(default_factory=dict)
    """The sender of each channel, by channel name; connectors register theirs in `build`."""
    inbox: Inbox | None = None
    """Committed conversation news for the agents' live stream and web-chat visitors."""
    twilio: TwilioSms = field(init=False)
    whatsapp: WhatsAppCloud = field(init=False)
    telegram: TelegramBots = field(init=False)
    desk_core: Desk = field(init=False)
    """The service desk's reactions (routing, assignment, SLA clocks, CSAT)."""
    """The messaging providers' adapters: their webhooks' checks and parsing, and senders."""
    _batcher: InboundBatcher | None = None
    _sources: dict[str, tuple[float, Source | None]] = field(default_factory=dict)
    _subscriptions: tuple[float, list[Subscription]] = (0.0, [])

    # -- repositories bound to a unit of work ----------------------------------------------

    def profiles(self, uow: UnitOfWork) -> SqlProfileRepository:
        return SqlProfileRepository(uow.conn, self.cipher)

    def events(self, uow: UnitOfWork) -> SqlEventRepository:
        return SqlEventRepository(uow.conn, self.cipher)

    def api_keys(self, uow: UnitOfWork) -> SqlApiKeyRepository:
        return SqlApiKeyRepository(uow.conn)

    def users(self, uow: UnitOfWork) -> SqlUserRepository:
        return SqlUserRepository(uow.conn)

    def sessions(self, uow: UnitOfWork) -> SqlSessionRepository:
        return SqlSessionRepository(uow.conn)

    def conversations(self, uow: UnitOfWork) -> SqlConversationRepository:
        return SqlConversationRepository(uow.conn, self.cipher)

    # -- conversations ---------------------------------------------------------------------

    def _inbox(self) -> Inbox:
        if self.inbox is None:
            self.inbox = Inbox(
                self.uow,
                self.cipher,
                self.rules,
                conversation_policy(self.settings),
                self.channel_senders,
            )
        return self.inbox

    def receive_inbound(self, inbound: InboundMessage) -> Receipt:
        """Store a customer's message, call or visit in their conversation (idempotent on
        channel and provider message id); messages arriving together share one commit."""
        if self._batcher is None:
            self._batcher = InboundBatcher(
                self._inbox().receive_many, max_batch=self.settings.inbound_batch_max
            )
        return self._batcher.receive(inbound)

    def reply(self, conversation_id: str, reply: Reply) -> Message:
        """Queue an agent's reply on the chosen channel (or add an internal note)."""
        return self._inbox().reply(conversation_id, reply)

    def record_delivery(self, update: DeliveryUpdate) -> Message:
        return self._inbox().record_delivery(update)

    # -- service desk ----------------------------------------------------------------------

    def desk(self, uow: UnitOfWork) -> SqlDeskRepository:
        return SqlDeskRepository(uow.conn, self.cipher)

    def desk_port(self, uow: UnitOfWork) -> SqlConversationDesk:
        """The conversations as the desk sees them, bound to `uow`."""
        return SqlConversationDesk(uow, self.cipher, self._inbox(), self.settings.contact_reasons)

    def csat_key(self) -> bytes:
        return desk_csat.csat_key(self.cipher.keyring.index_key)

    def check_sla(self, limit: int = 500) -> list[Event]:
        """Raise the SLA warnings and breaches now due, each once (recorded in
        desk_sla_events); passes of `limit` clocks until none is left."""
        raised: list[Event] = []
        for _ in range(100):
            with self.uow() as uow:
                repo = self.desk(uow)
                now = uow.clock.now()
                due = len(repo.due_clocks(now, limit))
                events = self.desk_core.check_sla(repo, now, limit)
                port = self.desk_port(uow)
                for conversation_id in dict.fromkeys(
                    getattr(e, "conversation_id", "") for e in events
                ):
                    if conversation_id:
                        self.desk_core.summarize(repo, port, conversation_id)
                for event in events:
                    uow.raise_event(event)
                uow.commit()
            raised.extend(events)
            if due < limit:
                break
        return raised

    def webhooks(self, uow: UnitOfWork) -> SqlSubscriptionRepository:
        return SqlSubscriptionRepository(uow.conn, uow.clock.now(), self.cipher)

    def privacy(self, uow: UnitOfWork) -> SqlPrivacyRepository:
        return SqlPrivacyRepository(uow.conn)

    def audit(self, uow: UnitOfWork) -> SqlPrivacyRepository:
        """The append-only audit log (kept with privacy's other records)."""
        return SqlPrivacyRepository(uow.conn)

    # -- privacy ---------------------------------------------------------------------------

    def export_customer(self, customer_id: str, actor: Actor, reason: str) -> PrivacyRequest:
        """A subject-access export of everything every domain holds, kept as a sealed archive."""
        with self.uow() as uow:
            request = export_subject(
                self.bus,
                uow,
                self.privacy(uow),
                self.cipher,
                customer_id=customer_id,
                actor=actor,
                reason=reason,
                now=uow.clock.now(),
                keep_days=self.settings.retention_export_archives_days,
            )
            uow.commit()
        return request

    def erase_customer(self, customer_id: str, actor: Actor, reason: str) -> PrivacyRequest:
        """Erase the person from every domain in one transaction; on SQLite the deleted pages
        are zeroed (secure_delete) and the WAL is checkpointed and truncated afterwards."""
        with self.uow() as uow:
            request = erase_subject(
                self.bus,
                uow,
                self.privacy(uow),
                self.cipher,
                customer_id=customer_id,
                actor=actor,
                reason=reason,
                now=uow.clock.now(),
            )
            uow.commit()
        self.forget_subscriptions()
        if self.engines.is_sqlite:
            raw = self.engines.main.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
        return request

    def archive(self, request_id: str) -> bytes:
        with self.uow(write=False) as uow:
            return read_archive(self.privacy(uow), self.cipher, request_id, uow.clock.now())

    def apply_retention(self, *, dry_run: bool = False, limit: int = 10_000) -> dict[str, int]:
        """Apply every retention policy: passes of at most `limit` rows per kind, each in its
        own transaction, until nothing is due (a dry run only counts)."""
        total: dict[str, int] = {}
        while True:
            with self.uow() as uow:
                counts = apply_retention(
                    self.bus,
                    uow,
                    self.privacy(uow),
                    now=uow.clock.now(),
                    policies=self.settings.retention_policies,
                    dry_run=dry_run,
                    limit=limit,
                )
                if not dry_run:
                    uow.commit()
            for kind, count in counts.items():
                total[kind] = total.get(kind, 0) + count
            if dry_run or not any(count >= limit for count in counts.values()):
                return total

    # -- caches ----------------------------------------------------------------------------

    def source_for_key(self, write_key: str) -> Source | None:
        """Sources by write key, cached for a few seconds (a miss is looked up again soon)."""
        now = time.monotonic()
        hit = self._sources.get(write_key)
        if hit is not None and now - hit[0] < (5.0 if hit[1] else 2.0):
            return hit[1]
        with self.uow(write=False) as uow:
            source = self.events(uow).source_by_key(write_key)
        if len(self._sources) > 10_000:
            self._sources.clear()
        self._sources[write_key] = (now, source)
        return source

    def forget_sources(self) -> None:
        """Drop this process's cached sources (after a write key changes); other processes
        drop theirs within the cache's few seconds."""
        self._sources.clear()

    def subscriptions(self, uow: UnitOfWork) -> list[Subscription]:
        stamp, cached = self._subscriptions
        if time.monotonic() - stamp > 2.0:
            cached = self.webhooks(uow).active()
            self._subscriptions = (time.monotonic(), cached)
        return cached

    def forget_subscriptions(self) -> None:
        self._subscriptions = (0.0, [])

    # -- background work -------------------------------------------------------------------

    def wake(self) -> None:
        self.wakeup.set()

    def process_ingest(self, max_events: int | None = None) -> int:
        """Resolve one claim of acknowledged batches; returns how many events it stored.

        A database that does not answer leaves the claim in the queue for the next pass. A
        batch that fails on its own for any other reason is set aside as a dead letter
        (kept whole, with the error, listed by the admin API) so it cannot block the queue.
        """
        limit = max_events or self.settings.ingest_chunk_events
        with self.queue.claim(limit) as claim:
            if not claim.batches:
                return 0
            try:
                stored = self._resolve(claim.batches)
            except exc.OperationalError:
                raise
            except Exception:
                stored = 0
                for batch in claim.batches:
                    try:
                        stored += self._resolve([batch])
                    except exc.OperationalError:
                        raise
                    except Exception as error:
                        log.exception("ingest batch %s set aside as a dead letter", batch[0])
                        self._set_aside(batch, error)
            claim.ack()
        return stored

    def _resolve(self, batches: list[tuple[int, str, list[dict[str, Any]]]]) -> int:
        for attempt in range(1, 6):
            try:
                with self.uow() as uow:
                    writer = ProfileWriter(
                        self.profiles(uow), self.rules, uow.clock.now(), uow.raise_event
                    )
                    screen = SuppressionScreen(self.privacy(uow), self.cipher, uow.clock.now())
                    stored = resolve_batches(
                        batches,
                        events=self.events(uow),
                        writer=writer,
                        screen=screen,
                        raise_event=uow.raise_event if self.bus.subscribed(EventsStored) else None,
                    )
                    uow.commit()
                return stored
            except (exc.IntegrityError, exc.OperationalError) as error:
                # Another worker created the same identifier first (PostgreSQL), or a
                # deadlock: the chunk is recomputed from fresh facts.
                if attempt == 5:
                    raise
                log.info("ingest chunk retried after %s", type(error).__name__)
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    def _set_aside(self, batch: tuple[int, str, list[dict[str, Any]]], error: Exception) -> None:
        with self.uow() as uow:
            self.events(uow).add_dead_letter(
                batch[1], batch[2], f"{type(error).__name__}: {error}"[:2000], uow.clock.now()
            )
            uow.commit()

    def process_outbox(self, limit: int = 50) -> int:
        """Deliver due outbox rows; failures come back later with exponential backoff."""
        lease = timedelta(seconds=self.settings.webhook_timeout_seconds * 3)
        with self.uow() as uow:
            now = uow.clock.now()
            query = (
                sa.select(
                    outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload, outbox.c.attempts
                )
                .where(outbox.c.status == "pending", outbox.c.available_at <= now)
                .order_by(outbox.c.available_at, outbox.c.id)
                .limit(limit)
            )
            if uow.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            due = list(uow.conn.execute(query))
            if not due:
                return 0
            uow.conn.execute(
                outbox.update()
                .where(outbox.c.id.in_([r.id for r in due]))
                .values(available_at=now + lease)
            )
            uow.commit()
        for row in due:
            error = self._handle(row.topic, row.key, self.cipher.reveal(row.payload))
            if self._settle(row.id, row.attempts + 1, error) and row.topic == SEND:
                self._inbox().give_up(row.key, error or "")
        return len(due)

    def _handle(self, topic: str, key: str, payload: dict[str, Any]) -> str | None:
        handler = self.outbox_handlers().get(topic)
        if handler is None:
            return f"no handler for topic {topic}"
        try:
            handler(key, payload)
        except (DeliveryFailed, SendFailed) as error:
            return str(error)
        except Exception as error:  # a broken handler must not stop the worker
            log.exception("outbox handler %s failed", topic)
            return f"{type(error).__name__}: {error}"
        return None

    def _settle(self, row_id: int, attempts: int, error: str | None) -> bool:
        """Record one attempt's outcome; True when the row ran out of attempts (dead)."""
        with self.uow() as uow:
            now = uow.clock.now()
            if error is None:
                values: dict[str, Any] = {
                    "status": "done",
                    "done_at": now,
                    "attempts": attempts,
                    "last_error": None,
                }
            elif attempts >= self.settings.webhook_max_attempts:
                values = {"status": "dead", "attempts": attempts, "last_error": error[:2000]}
            else:
                delay = self.settings.webhook_backoff_seconds * 2 ** (attempts - 1)
                values = {
                    "attempts": attempts,
                    "last_error": error[:2000],
                    "available_at": now + timedelta(seconds=min(delay, 3600)),
                }
            uow.conn.execute(outbox.update().where(outbox.c.id == row_id).values(**values))
            uow.commit()
        return values.get("status") == "dead"

    def outbox_handlers(self) -> dict[str, Callable[[str, dict[str, Any]], None]]:
        return {DELIVER: self._deliver_webhook, SEND: self._inbox().send}

    def _deliver_webhook(self, subscription_id: str, payload: dict[str, Any]) -> None:
        with self.uow(write=False) as uow:
            subscription = self.webhooks(uow).get(subscription_id)
        if subscription is None:
            raise DeliveryFailed(f"webhook {subscription_id} was deleted")
        deliver(self.sender, subscription, payload, self.clock.now())

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
        self.live.close()
        self.twilio.client.close()
        self.engines.dispose()


def conversation_policy(settings: Settings) -> ConversationPolicy:
    return ConversationPolicy(
        reopen_days=settings.conversation_reopen_days,
        contact_reasons=tuple(settings.contact_reasons),
        max_attachment_bytes=settings.attachment_max_bytes,
        max_message_bytes=settings.message_attachments_max_bytes,
        max_text_chars=settings.message_max_chars,
        email_domain=settings.email_domain,
    )


class StartupError(Exception):
    """A setting the process cannot start with; the message names it."""


def build_cipher(settings: Settings) -> FieldCipher:
    try:
        source = load_key_source(
            settings.data_key_list(), settings.index_key_bytes(), settings.data_dir
        )
    except (KeyFileError, ValueError) as error:
        raise StartupError(f"data keys: {error}") from None
    return FieldCipher(
        source.keyring(),
        frozenset(settings.sensitive_fields),
        source=source,
        refresh_seconds=settings.key_refresh_seconds,
    )


def build(
    settings: Settings, *, clock: Clock | None = None, sender: WebhookSender | None = None
) -> Services:
    clock = clock or SystemClock()
    cipher = build_cipher(settings)
    bus = MessageBus()
    engines = create_engines(
        settings.resolved_database_url, synchronous=settings.sqlite_synchronous
    )
    services = Services(
        settings=settings,
        clock=clock,
        bus=bus,
        engines=engines,
        uow=UnitOfWorkFactory(engines.main, bus, clock),
        queue=SqlIngestQueue(engines.queue, cipher),
        rules=identity_rules(settings),
        limits=IngestLimits(settings.max_event_bytes, settings.max_body_bytes),
        identity=IdentityConfig(
            kinds=settings.all_identifier_kinds, region=settings.default_region
        ),
        sender=sender or HttpxWebhookSender(settings.webhook_timeout_seconds),
        cipher=cipher,
    )
    services.uow.after_commit = services.wake
    services.throttle = Throttle(
        settings.rate_limit_storage,
        {
            "tracking_key": settings.rate_limit_tracking_key,
            "tracking_address": settings.rate_limit_tracking_address,
            "login_address": settings.rate_limit_login_address,
            "login_email": settings.rate_limit_login_email,
            "api": settings.rate_limit_api,
        },
    )

    def to_webhooks(event: Event, uow: UnitOfWork) -> None:
        subscriptions = services.subscriptions(uow)
        if subscriptions:
            fan_out(event, subscriptions, services.webhooks(uow), uow.clock.now())

    for event_type in (ProfileCreated, ProfilesMerged, ProfileUnmerged, TraitsChanged):
        bus.subscribe(event_type, to_webhooks)
    _register_privacy(services)
    _connect_desk(services)
    _connect_providers(services)
    services.live = build_broadcaster(settings.live_broker_url)
    relay_to_stream(bus, services.live)
    services.channel_senders["web_chat"] = WebChatSender(services.live, settings.chat_away_minutes)
    services.channel_senders["email"] = email_channel.build_sender(settings, cipher, clock)
    return services


def _connect_providers(services: Services) -> None:
    """Twilio, WhatsApp and Telegram share one HTTP client; each configured one sends."""
    client = http_client(services.settings.provider_timeout_seconds)
    services.twilio = TwilioSms(services.settings, client)
    services.whatsapp = WhatsAppCloud(services.settings, client)
    services.telegram = TelegramBots(services.settings, client)
    if services.twilio.configured:
        services.channel_senders["sms"] = services.twilio
    if services.whatsapp.numbers:
        services.channel_senders["whatsapp"] = services.whatsapp
    if services.telegram.configured:
        services.channel_senders["telegram"] = services.telegram


def _connect_desk(services: Services) -> None:
    settings = services.settings
    services.desk_core = Desk(
        DeskConfig(
            weights=dict(settings.desk_channel_weights),
            csat_ask=settings.desk_csat_ask,
            csat_expiry_hours=settings.desk_csat_link_hours,
            public_url=settings.public_base_url or f"http://{settings.host}:{settings.port}",
        )
    )
    DeskReactions(
        services.desk_core, services.desk, services.desk_port, services.csat_key
    ).register(services.bus)


def _register_privacy(services: Services) -> None:
    """Each domain answers privacy's queries for the data it keeps (docs/architecture.md)."""
    profiles_privacy.register(services.bus)
    EventsPrivacy(services.cipher).register(services.bus)
    WebhooksPrivacy(services.cipher).register(services.bus)
    DeskPrivacy(services.cipher).register(services.bus)
    ConversationsPrivacy(services.cipher).register(services.bus)

"""The composition root: `build(settings)` wires storage, the bus, domains and adapters.

Nothing here runs at import time; edges (API, worker, command line) call `build` once.
"""

import asyncio
import logging
import threading
import time
from collections import ChainMap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

import anyio
import sqlalchemy as sa
from babel.numbers import get_currency_precision
from sqlalchemy import exc

from omnicx.access import Argon2PasswordHasher, PasswordHasher, Throttle
from omnicx.access.store import SqlApiKeyRepository, SqlSessionRepository, SqlUserRepository
from omnicx.analytics import Analytics, AnalyticsConfig
from omnicx.analytics.qr import uid_key as qr_uid_key
from omnicx.analytics.store.service import ServiceAnalytics, ServiceAnalyticsConfig
from omnicx.channels import email as email_channel
from omnicx.channels.email import Bounce
from omnicx.channels.fcm import AccessTokens, FcmSender, load_service_account
from omnicx.channels.inapp import InApp
from omnicx.channels.privacy import ChannelsPrivacy
from omnicx.channels.providers import http_client
from omnicx.channels.push import (
    DeviceSender,
    PushDevices,
    PushSender,
    customer_for,
    receipt_key,
)
from omnicx.channels.receipts import DeliveryReceipt, Receipts
from omnicx.channels.store import SqlInAppRepository, SqlPushRepository
from omnicx.channels.telegram import TelegramBots
from omnicx.channels.twilio import TwilioSms
from omnicx.channels.viber import ViberBot, ViberCallback, record_subscription
from omnicx.channels.webchat import (
    LocalBroadcaster,
    WebChatSender,
    build_broadcaster,
    relay_to_stream,
)
from omnicx.channels.webpush import WebPushSender, load_vapid, public_key
from omnicx.channels.whatsapp import WhatsAppCloud
from omnicx.commerce import catalog as commerce_catalog
from omnicx.commerce import inventory as commerce_inventory
from omnicx.commerce import loyalty as commerce_loyalty
from omnicx.commerce import sourcing as commerce_sourcing
from omnicx.commerce.aftersales import (
    Aftersales,
    AftersalesPolicy,
    CounterSeller,
    OrderBook,
    Wiring,
)
from omnicx.commerce.batcher import Hold, ReservationBatcher, reserve_many
from omnicx.commerce.catalog import BusStockView, CatalogConfig
from omnicx.commerce.inventory import (
    Difference,
    LeasePolicy,
    Line,
    Movement,
    Reservation,
    Transfer,
)
from omnicx.commerce.locations import Location
from omnicx.commerce.messages import RecordDemand
from omnicx.commerce.model import Quote
from omnicx.commerce.orders import Order
from omnicx.commerce.privacy import CommercePrivacy
from omnicx.commerce.returns import Exchange, ExchangeRequest, Return, ReturnRequest
from omnicx.commerce.selling import Selling, SellingConfig
from omnicx.commerce.store.catalog import SqlCatalogRepository
from omnicx.commerce.store.inventory import SqlInventoryRepository
from omnicx.commerce.store.loyalty import SqlLoyaltyRepository
from omnicx.commerce.store.orders import SqlOrderRepository as _AftersalesOrders
from omnicx.commerce.store.returns import SqlReturnsRepository
from omnicx.config import Settings
from omnicx.consent import ContactPermission, Mailer, check_purposes, consent_key
from omnicx.consent import services as consent_services
from omnicx.consent.center import CONFIRM as CONSENT_CONFIRM
from omnicx.consent.center import ConsentCenter
from omnicx.consent.model import ConsentPolicy
from omnicx.consent.store import SqlConsentRepository
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
from omnicx.conversations.messages import MessageReceived
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
from omnicx.kernel import Clock, Conflict, Event, Invalid, MessageBus, SystemClock
from omnicx.orchestration.broadcasts import Throttle as SendThrottle
from omnicx.orchestration.conductor import WEBHOOK as JOURNEY_WEBHOOK
from omnicx.orchestration.conductor import Conductor, GateSender, webhook_request
from omnicx.orchestration.gate import Decision, SendIntent
from omnicx.orchestration.segmenter import Segmenter
from omnicx.orchestration.sending import (
    SEND_TOPIC,
    ConsentRules,
    SegmentMembers,
    Sending,
    SendsPrivacy,
    sending_config,
)
from omnicx.orchestration.store.sends import SqlSendRepository
from omnicx.orchestration.store.templates import SqlReceiptRepository
from omnicx.orchestration.templates import journey_problems
from omnicx.orchestration.tracking import ReceiptsPrivacy, Tracker, tracking_key
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
    viber: ViberBot = field(init=False)
    receipts: Receipts = field(init=False)
    """Delivery receipts of every channel, normalised, on the message and the timeline."""
    push_devices: PushDevices = field(init=False)
    """The browsers and app installs customers registered for push."""
    push: PushSender | None = None
    """The `push` channel (web push and FCM), when either is configured."""
    vapid_public_key: str | None = None
    """The key browsers subscribe to web push with (`applicationServerKey`)."""
    inapp: InApp = field(init=False)
    """The in-app inbox; a channel only with OMNICX_INAPP_ENABLED."""
    whatsapp: WhatsAppCloud = field(init=False)
    telegram: TelegramBots = field(init=False)
    desk_core: Desk = field(init=False)
    """The service desk's reactions (routing, assignment, SLA clocks, CSAT)."""
    consent_center: ConsentCenter = field(init=False)
    """Consent wired to storage: recording, keywords heard, signed links, double opt-in."""
    mailer: Mailer | None = None
    """Email outside conversations (double opt-in confirmations): the SMTP relay's sender."""
    segmenter: Segmenter = field(init=False)
    """Segment definitions, the reactions that note who to evaluate again, and the pass."""
    aftersales: Aftersales = field(init=False)
    selling: Selling = field(init=False)
    """Carts, orders from any channel, fulfilment and sourcing, over the catalog and stock."""
    """Returns and exchanges at any location, loyalty, and their story on the timeline."""
    """The messaging providers' adapters: their webhooks' checks and parsing, and senders."""
    sending: Sending = field(init=False)
    tracker: Tracker = field(init=False)
    """Email open and click tracking: verifies the tokens of /t/ and records receipts."""
    conductor: Conductor = field(init=False)
    """Journeys wired: authoring, publishing with migration, triggers and the pass."""
    analytics: Analytics = field(init=False)
    """Channel usage, paths, conversions, economics and CLV: read models and reports."""
    service_analytics: ServiceAnalytics = field(init=False)
    """Service, campaign and availability reports over their read models, and QR codes."""
    """The policy gate wired: submit, dispatch, fallback, failover, receipts, broadcasts."""
    _batcher: InboundBatcher | None = None
    _holds: ReservationBatcher | None = None
    _holds_lock: threading.Lock = field(default_factory=threading.Lock)
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

    # -- consent ---------------------------------------------------------------------------

    def consent(self, uow: UnitOfWork) -> SqlConsentRepository:
        """Consents (`current`, `history`), `preferences` and `suppressions` of customers."""
        return SqlConsentRepository(uow.conn, self.cipher)

    def may_contact(
        self, uow: UnitOfWork, customer_id: str, purpose: str, channel: str
    ) -> ContactPermission:
        """Whether a message of `purpose` may reach the customer on `channel` now, and why."""
        return self.consent_center.may_contact(uow, customer_id, purpose, channel)

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

    def _inbound_batcher(self) -> InboundBatcher:
        if self._batcher is None:
            self._batcher = InboundBatcher(
                self._inbox().receive_many, max_batch=self.settings.inbound_batch_max
            )
        return self._batcher

    def receive_inbound(self, inbound: InboundMessage) -> Receipt:
        """Store a customer's message, call or visit in their conversation (idempotent on
        channel and provider message id); messages arriving together share one commit."""
        return self._inbound_batcher().receive(inbound)

    async def receive_inbound_async(self, inbound: InboundMessage) -> Receipt:
        """`receive_inbound` for the event loop: it waits for the message's commit without
        holding a thread."""
        future = self._inbound_batcher().hand_over(inbound)
        if future is None:
            return await anyio.to_thread.run_sync(self.receive_inbound, inbound)
        return await asyncio.wrap_future(future)

    def reply(self, conversation_id: str, reply: Reply) -> Message:
        """Queue an agent's reply on the chosen channel (or add an internal note)."""
        return self._inbox().reply(conversation_id, reply)

    def reply_channels(self, uow: UnitOfWork, conversation_id: str) -> list[tuple[str, str | None]]:
        """Each channel a reply to the conversation could take, in the order `auto` tries
        them, with None when it can be used now, else why not (reachability, consent and the
        channel's own rules, such as WhatsApp's 24-hour window)."""
        return self._inbox().reply_channels(uow, conversation_id)

    def record_receipt(self, receipt: DeliveryReceipt, ref: str | None = None) -> bool:
        """A provider's delivery receipt, normalised: the gate's message or the
        conversation's moves forward and the customer's timeline shows it; False when the
        message is none of ours."""
        return self.receipts.record(receipt, ref)

    def record_viber_subscription(self, callback: ViberCallback) -> bool:
        """A Viber (un)subscription on the timeline of the customer holding the Viber id."""
        with self.uow() as uow:
            recorded = record_subscription(uow, self.cipher, callback)
            uow.commit()
        return recorded

    def push_registrations(self, uow: UnitOfWork) -> SqlPushRepository:
        return SqlPushRepository(uow.conn, self.cipher)

    def inapp_messages(self, uow: UnitOfWork) -> SqlInAppRepository:
        return SqlInAppRepository(uow.conn, self.cipher)

    def record_delivery(self, update: DeliveryUpdate) -> Message:
        return self._inbox().record_delivery(update)

    def record_bounce(self, bounce: Bounce) -> str:
        """A bounce is a receipt for the message that did not arrive (a conversation's reply
        or a proactive send: it fails, and the timeline shows it), and puts each address that
        failed for good on the suppression list (its email only); a delay changes nothing.
        Returns what was done, for the log."""
        if bounce.action != "failed":
            return "delayed; nothing changed"
        done: list[str] = []
        if bounce.original_message_id:
            found = self.record_receipt(
                DeliveryReceipt(
                    "email",
                    bounce.original_message_id,
                    "bounced",
                    self.clock.now(),
                    error=bounce.diagnostic,
                    provider_status="bounced",
                )
            )
            done.append(
                f"message {bounce.original_message_id} " + ("bounced" if found else "is not ours")
            )
        with self.uow() as uow:
            now = uow.clock.now()
            for address in bounce.recipients:
                try:
                    consent_services.suppress(
                        self.consent(uow),
                        "email",
                        address,
                        "bounced",
                        channel=None,
                        note=bounce.diagnostic[:200],
                        region=self.settings.default_region,
                        now=now,
                        by="system:bounce",
                    )
                    done.append("address suppressed")
                except Conflict:
                    done.append("address already suppressed")
                except Invalid:
                    done.append("recipient is not an address")
            uow.commit()
        return "; ".join(done) or "no message or recipient named"

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

    # -- commerce: catalog and prices ------------------------------------------------------

    def catalog(self, uow: UnitOfWork) -> SqlCatalogRepository:
        """Products, variants, listings, the price book and demand counts."""
        return SqlCatalogRepository(uow.conn, self.cipher)

    def catalog_config(self) -> CatalogConfig:
        return CatalogConfig(
            channels=tuple(self.settings.commerce_channels),
            walk_in=frozenset(self.settings.commerce_walk_in_channels),
            currency=self.settings.currency,
        )

    def stock_view(self, uow: UnitOfWork) -> BusStockView:
        """Locations and sellable stock as inventory answers them on the bus."""
        return BusStockView(self.bus, uow)

    def quote(
        self,
        uow: UnitOfWork,
        sku: str,
        channel: str,
        at: datetime | None = None,
        *,
        code: str | None = None,
    ) -> Quote:
        """The price of `sku` on `channel` now, or at a past `at` from the price history.
        NotFound for an unknown sku; Invalid when it cannot be bought on the channel now."""
        now = uow.clock.now()
        return commerce_catalog.quote(
            self.catalog(uow),
            self.catalog_config(),
            sku,
            channel,
            at or now,
            code=code,
            check_listing=at is None or at >= now,
        )

    def record_demand(self, uow: UnitOfWork, command: RecordDemand) -> RecordDemand:
        """Count a request for an item that could not be had, in the caller's unit of work."""
        counted, events = commerce_catalog.record_demand(
            self.catalog(uow), self.stock_view(uow), self.catalog_config(), command, uow.clock.now()
        )
        for event in events:
            uow.raise_event(event)
        return counted

    # -- commerce: inventory ---------------------------------------------------------------
    # Each runs in the caller's unit of work; `actor` names who acts in the ledger.

    def stock(self, uow: UnitOfWork) -> SqlInventoryRepository:
        """Locations, balances, the movement ledger, reservations and transfers."""
        return SqlInventoryRepository(uow.conn)

    def stock_context(self, uow: UnitOfWork, actor: str = "system") -> commerce_inventory.Context:
        policy = LeasePolicy(
            self.settings.stock_lease_seconds, self.settings.stock_lease_max_seconds
        )
        return commerce_inventory.Context(actor, uow.clock.now(), uow.raise_event, policy)

    def locations(self, uow: UnitOfWork, capability: str | None = None) -> list[Location]:
        """Active locations, by priority, with their capabilities, hours and safety stock."""
        return self.stock(uow).locations(capability=capability, active=True)

    def reserve(
        self,
        uow: UnitOfWork,
        *,
        location_id: str,
        sku: str,
        qty: int,
        lease_seconds: int | None = None,
        key: str | None = None,
        ref: str | None = None,
        remote: bool = False,
        actor: str = "system",
    ) -> Reservation:
        """Hold stock under a lease, atomically; idempotent on `key`. Conflict
        insufficient_stock, with nothing written, when it is not there. `remote`: a sale for
        another channel, which leaves the location's safety stock alone."""
        return commerce_inventory.reserve(
            self.stock(uow),
            self.stock_context(uow, actor),
            location_id,
            sku,
            qty,
            lease_seconds=lease_seconds,
            key=key,
            ref=ref,
            remote=remote,
        )

    def hold_stock(
        self,
        *,
        location_id: str,
        sku: str,
        qty: int,
        lease_seconds: int | None = None,
        key: str | None = None,
        ref: str | None = None,
        remote: bool = False,
        actor: str = "system",
    ) -> Reservation:
        """`reserve` in a transaction of its own, committed when it returns. Holds asked for
        at the same time share one commit, each granted or refused on its own (a refusal
        writes nothing); see decision 0027."""
        if self._holds is None:
            with self._holds_lock:
                if self._holds is None:
                    self._holds = ReservationBatcher(
                        partial(reserve_many, self.uow, self.stock, self.stock_context)
                    )
        hold = Hold(location_id, sku, qty, lease_seconds, key, ref, remote, actor)
        return self._holds.reserve(hold)

    def reserve_lines(
        self,
        uow: UnitOfWork,
        lines: list[Line],
        *,
        key: str,
        ref: str | None = None,
        lease_seconds: int | None = None,
        remote: bool = False,
        actor: str = "system",
    ) -> list[Reservation]:
        """Several lines at once, same-SKU demand added up, balances taken in a fixed order."""
        return commerce_inventory.reserve_lines(
            self.stock(uow),
            self.stock_context(uow, actor),
            lines,
            key=key,
            ref=ref,
            lease_seconds=lease_seconds,
            remote=remote,
        )

    def release(self, uow: UnitOfWork, reservation_id: str) -> Reservation:
        return commerce_inventory.release(self.stock(uow), self.stock_context(uow), reservation_id)

    def extend(
        self, uow: UnitOfWork, reservation_id: str, *, lease_seconds: int | None = None
    ) -> Reservation:
        """A live lease now ends `lease_seconds` from now."""
        return commerce_inventory.extend(
            self.stock(uow), self.stock_context(uow), reservation_id, lease_seconds=lease_seconds
        )

    def commit_reservation(
        self,
        uow: UnitOfWork,
        reservation_id: str,
        *,
        reason: str = "sale",
        ref: str | None = None,
        actor: str = "system",
    ) -> Movement:
        """The reserved stock leaves (reason sale or ship); committing again returns it."""
        return commerce_inventory.commit_reservation(
            self.stock(uow), self.stock_context(uow, actor), reservation_id, reason=reason, ref=ref
        )

    def receive(
        self,
        uow: UnitOfWork,
        *,
        location_id: str,
        sku: str,
        qty: int,
        bucket: str = "sellable",
        reason: str = "receipt",
        ref: str | None = None,
        note: str | None = None,
        actor: str = "system",
    ) -> Movement:
        """Stock arriving from outside (reason receipt, return or adjustment) into a bucket."""
        return commerce_inventory.receive(
            self.stock(uow),
            self.stock_context(uow, actor),
            location_id,
            sku,
            qty,
            bucket=bucket,
            reason=reason,
            ref=ref,
            note=note,
        )

    def move(
        self,
        uow: UnitOfWork,
        *,
        from_location: str,
        to_location: str,
        sku: str,
        qty: int,
        ref: str | None = None,
        actor: str = "system",
    ) -> Transfer:
        """Send sellable stock to another location; it waits in_transit there until received."""
        return commerce_inventory.move(
            self.stock(uow),
            self.stock_context(uow, actor),
            from_location,
            to_location,
            sku,
            qty,
            ref=ref,
        )

    def available(
        self, uow: UnitOfWork, location_id: str, sku: str, *, remote: bool = False
    ) -> int:
        return commerce_inventory.available(
            self.stock(uow), location_id, sku, now=uow.clock.now(), remote=remote
        )

    def availability(self, uow: UnitOfWork, sku: str, *, remote: bool = False) -> dict[str, int]:
        """Available units of `sku` per active location holding it."""
        return commerce_inventory.availability(
            self.stock(uow), sku, now=uow.clock.now(), remote=remote
        )

    def expire_reservations(self, limit: int = 500) -> int:
        """Free the stock of leases whose time is up, in passes of `limit`; how many."""
        freed = 0
        while True:
            with self.uow(write=False) as uow:
                if not self.stock(uow).due_reservations(uow.clock.now(), limit=1):
                    return freed
            with self.uow() as uow:
                count = commerce_inventory.expire(
                    self.stock(uow), uow.clock.now(), uow.raise_event, limit=limit
                )
                uow.commit()
            freed += count
            if count < limit:
                return freed

    def reconcile_stock(self, *, fix: bool = False) -> list[Difference]:
        """Balances that differ from the ledger (and reserved from the leases); `fix` sets
        them to what the ledger says."""
        with self.uow(write=fix) as uow:
            found = commerce_inventory.reconcile(self.stock(uow), uow.clock.now(), fix=fix)
            if fix:
                uow.commit()
        return found

    # -- commerce: carts and orders --------------------------------------------------------
    # Each runs in the caller's unit of work; `selling` has the rest (carts, order events).

    def orders(self, uow: UnitOfWork) -> _AftersalesOrders:
        """Carts and orders with their groups, lines, allocations and history."""
        return _AftersalesOrders(uow.conn, self.cipher)

    def orders_of(self, uow: UnitOfWork, customer_id: str, *, limit: int = 100) -> list[Order]:
        """The customer's orders, newest first, whichever of their merged profiles placed them."""
        return self.selling.orders_of(uow, customer_id, limit=limit)

    def expire_carts(self, limit: int = 500) -> int:
        """Drop carts untouched for OMNICX_CART_IDLE_DAYS, in passes of `limit`; how many."""
        dropped = 0
        while True:
            with self.uow() as uow:
                count = self.selling.expire_carts(uow, limit=limit)
                uow.commit()
            dropped += count
            if count < limit:
                return dropped

    # -- commerce: returns, exchanges and loyalty ------------------------------------------
    # Each runs in the caller's unit of work; the caller commits.

    def returns(self, uow: UnitOfWork) -> SqlReturnsRepository:
        """Returns with their lines, exchanges and refunds."""
        return SqlReturnsRepository(uow.conn, self.cipher)

    def loyalty(self, uow: UnitOfWork) -> SqlLoyaltyRepository:
        """Loyalty accounts (points, store credit, tier) and their ledger."""
        return SqlLoyaltyRepository(uow.conn, self.cipher)

    def loyalty_context(self, uow: UnitOfWork, actor: str = "system") -> commerce_loyalty.Context:
        return self.aftersales.loyalty_context(uow, actor)

    def accept_return(
        self, uow: UnitOfWork, request: ReturnRequest, *, key: str | None, actor: str
    ) -> tuple[Return, bool]:
        """Take lines of any order back at a location that accepts returns; idempotent on
        `key` (True: it was recorded before)."""
        return self.aftersales.accept_return(uow, request, key=key, actor=actor)

    def exchange(
        self, uow: UnitOfWork, request: ExchangeRequest, *, key: str | None, actor: str
    ) -> tuple[Exchange, bool]:
        """A return and a new sale at one location, the difference charged or refunded."""
        return self.aftersales.exchange(uow, request, key=key, actor=actor)

    # -- segments --------------------------------------------------------------------------

    def evaluate_segments(self) -> int:
        """One pass of segment evaluation (noted customers, a pass's batch, due refreshes);
        how many customers it evaluated, 0 when idle."""
        return self.segmenter.evaluate(self.uow)

    # -- maestro: the policy gate ----------------------------------------------------------

    def sends(self, uow: UnitOfWork) -> SqlSendRepository:
        """Sends, their messages, the gate's decisions, broadcasts and message templates."""
        return SqlSendRepository(uow.conn, self.cipher)

    def send_receipts(self, uow: UnitOfWork) -> SqlReceiptRepository:
        """The opens and clicks email tracking recorded."""
        return SqlReceiptRepository(uow.conn, self.cipher)

    def submit_send(self, uow: UnitOfWork, intent: SendIntent) -> Decision:
        """Ask the policy gate about `intent` and act on it in the caller's transaction
        (idempotent on `send_id`): the decision is recorded, a send is queued through the
        outbox, a deferral wakes later."""
        return self.sending.submit(uow, intent)

    def submit_sends(self, uow: UnitOfWork, intents: Sequence[SendIntent]) -> list[Decision]:
        """`submit_send` for each intent in order, with the facts read and the rows written
        for the whole batch at once; an unknown customer or a bad intent refuses the whole
        batch (nothing is written)."""
        return self.sending.submit_many(uow, intents)

    def run_journeys(self, limit: int | None = None) -> int:
        """The journeys' worker pass: due schedules, events and segment changes journeys
        listen for, then due instances; how much was done."""
        return self.conductor.run(self.uow, limit or self.settings.journey_batch)

    def _journey_webhook(self, key: str, payload: dict[str, Any]) -> None:
        url, body, headers = webhook_request(payload)
        status = self.sender.post(url, body, headers)
        if not 200 <= status < 300:
            raise DeliveryFailed(f"the journey webhook answered {status}")

    def process_sends(self) -> int:
        """The gate's worker pass: due deferrals and fallbacks, interrupted attempts, and a
        page of a due broadcast; how much was done."""
        return self.sending.process()

    def record_send_receipt(self, update: DeliveryUpdate, ref: str | None = None) -> bool:
        """A delivery status for one of the gate's messages; False when it is not one."""
        return self.sending.record_receipt(update, ref)

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
        return {
            DELIVER: self._deliver_webhook,
            SEND: self._inbox().send,
            CONSENT_CONFIRM: self.consent_center.send_confirmation,
            SEND_TOPIC: self.sending.dispatch,
            JOURNEY_WEBHOOK: self._journey_webhook,
        }

    def _deliver_webhook(self, subscription_id: str, payload: dict[str, Any]) -> None:
        with self.uow(write=False) as uow:
            subscription = self.webhooks(uow).get(subscription_id)
        if subscription is None:
            raise DeliveryFailed(f"webhook {subscription_id} was deleted")
        deliver(self.sender, subscription, payload, self.clock.now())

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
        if self._holds is not None:
            self._holds.close()
        self.live.close()
        self.twilio.client.close()
        if self.push is not None:
            self.push.close()
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
            "qr_address": settings.rate_limit_qr_address,
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
    commerce_inventory.register_answers(bus, services.stock)
    _connect_selling(services)
    _connect_aftersales(services)
    _connect_segments(services)
    _connect_analytics(services)
    _connect_providers(services)
    services.live = build_broadcaster(settings.live_broker_url)
    relay_to_stream(bus, services.live)
    services.channel_senders["web_chat"] = WebChatSender(services.live, settings.chat_away_minutes)
    email_sender = email_channel.build_sender(settings, cipher, clock)
    services.channel_senders["email"] = services.mailer = email_sender
    _connect_consent(services)
    _connect_maestro(services)
    _connect_journeys(services)
    _connect_push(services)
    _connect_service_analytics(services)
    return services


def _connect_analytics(services: Services) -> None:
    """The channel reports' read models, kept in the transactions of the facts they count."""
    settings = services.settings

    def message_details(uow: UnitOfWork, message_id: str) -> tuple[datetime, Any] | None:
        message = services.conversations(uow).message(message_id)
        return None if message is None else (message.created_at, message.metadata)

    services.analytics = Analytics(
        AnalyticsConfig(
            purchase_events=frozenset(settings.analytics_purchase_events),
            contact_events=frozenset(settings.analytics_contact_events),
            online=frozenset(settings.analytics_online_channels),
            offline=frozenset(settings.analytics_offline_channels),
            conversion_days=settings.analytics_conversion_days,
            path_days=settings.analytics_path_days,
            currency=settings.currency,
            minor_units=10 ** get_currency_precision(settings.currency),
            message_costs=dict(settings.analytics_message_costs),
            agent_minute_cost=Decimal(str(settings.analytics_agent_minute_cost)),
            reply_seconds=round(settings.analytics_reply_minutes * 60),
        ),
        message_details,
    )
    if settings.analytics_enabled:
        services.analytics.register(services.bus)


def _connect_service_analytics(services: Services) -> None:
    """The service desk's, the campaigns' and the QR codes' read models and reports."""
    settings = services.settings
    scale = Decimal(10) ** get_currency_precision(settings.currency)
    services.service_analytics = ServiceAnalytics(
        services.cipher,
        ServiceAnalyticsConfig(
            currency=settings.currency,
            message_costs={
                channel: cost * scale for channel, cost in settings.analytics_message_costs.items()
            },
            attribution_days=settings.analytics_attribution_days,
            public_url=settings.public_base_url or f"http://{settings.host}:{settings.port}",
            uid_key=qr_uid_key(services.cipher.keyring.index_key),
        ),
        services.catalog_config,
    )
    services.service_analytics.register(services.bus)


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


def _connect_push(services: Services) -> None:
    """Receipts; web push and FCM behind one `push` channel; the in-app inbox; Viber. Each
    is a channel only when configured."""
    settings = services.settings
    cipher = services.cipher

    def gate(update: DeliveryUpdate, ref: str | None) -> bool:
        return services.record_send_receipt(update, ref)

    def pushes(uow: UnitOfWork) -> SqlPushRepository:
        return SqlPushRepository(uow.conn, cipher)

    def inbox(uow: UnitOfWork) -> SqlInAppRepository:
        return SqlInAppRepository(uow.conn, cipher)

    services.receipts = Receipts(services.uow, cipher, gate)
    services.push_devices = PushDevices(services.uow, pushes, cipher, services.rules)
    devices: dict[str, DeviceSender] = {}
    timeout = settings.provider_timeout_seconds
    try:
        if settings.webpush_vapid_private_key is not None:
            vapid = load_vapid(settings.webpush_vapid_private_key.get_secret_value())
            services.vapid_public_key = public_key(vapid)
            devices["webpush"] = WebPushSender(
                vapid,
                settings.webpush_vapid_subject,
                ttl=settings.push_ttl_seconds,
                timeout=timeout,
            )
        if settings.fcm_service_account is not None:
            info = load_service_account(
                settings.fcm_service_account.get_secret_value(), settings.fcm_token_url
            )
            project = settings.fcm_project_id or str(info.get("project_id") or "")
            if not project:
                raise ValueError("set OMNICX_FCM_PROJECT_ID: the service account names none")
            devices["fcm"] = FcmSender(
                services.twilio.client,
                settings.fcm_api_base_url,
                project,
                AccessTokens(info, timeout),
            )
    except ValueError as error:
        raise StartupError(f"push: {error}") from None
    public = (settings.public_base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    if devices:
        services.push = PushSender(
            services.uow,
            pushes,
            cipher.blind,
            devices,
            receipt_key=receipt_key(cipher.keyring.index_key),
            receipt_url=f"{public}/push/receipts",
            default_title=settings.push_title,
        )
        services.channel_senders["push"] = services.push
    services.inapp = InApp(
        services.uow,
        inbox,
        cipher.blind,
        lambda uow, address: customer_for(uow, cipher, services.rules, address),
        services.receipts.record,
    )
    if settings.inapp_enabled:
        services.channel_senders["in_app"] = services.inapp
    services.viber = ViberBot(settings, services.twilio.client)
    if services.viber.configured:
        services.channel_senders["viber"] = services.viber
    ChannelsPrivacy(cipher).register(services.bus)


def _connect_maestro(services: Services) -> None:
    """The policy gate. Its Twilio sender tags status callbacks with our message id; a
    second SMS provider (OMNICX_SMS_FAILOVER_*) takes over after repeated failures."""
    settings = services.settings
    own: dict[str, ChannelSender] = {}
    failover: dict[str, ChannelSender] = {}
    if services.twilio.configured:
        own["sms"] = TwilioSms(settings, services.twilio.client, tag_callbacks=True)
    if settings.sms_failover_accounts and settings.sms_failover_api_base_url:
        failover["sms"] = TwilioSms(
            settings,
            services.twilio.client,
            accounts=settings.sms_failover_accounts,
            base_url=settings.sms_failover_api_base_url,
            tag_callbacks=True,
        )
    services.sending = Sending(
        services.uow,
        services.cipher,
        sending_config(settings),
        ChainMap(own, services.channel_senders),
        failover,
        rules=ConsentRules(services.may_contact, services.consent),
        members=SegmentMembers(services.cipher),
        throttle=SendThrottle(settings.channel_rates),
    )
    SendsPrivacy(services.cipher).register(services.bus)
    services.tracker = Tracker(
        services.uow,
        services.cipher,
        tracking_key(services.cipher.keyring.index_key),
        services.sending.apply_receipt,
    )
    ReceiptsPrivacy(services.cipher).register(services.bus)


def _connect_journeys(services: Services) -> None:
    services.conductor = Conductor(
        services.cipher,
        services.rules,
        GateSender(
            services.submit_send,
            check=lambda uow, definition: journey_problems(
                definition, services.sends(uow).variants
            ),
        ),
        default_zone=services.settings.journey_time_zone,
        members=lambda uow, segment, after, limit: services.segmenter.repo(uow).members_after(
            segment, after, limit
        ),
        customer_zone=lambda uow, customer: services.consent(uow).preferences(customer).time_zone,
    )
    services.conductor.register(services.bus)


def _connect_segments(services: Services) -> None:
    settings = services.settings
    services.segmenter = Segmenter(
        services.cipher,
        consent=lambda uow, customer_id, purpose, channel: (
            services.may_contact(uow, customer_id, purpose, channel).allowed
        ),
        refresh_seconds=settings.segment_refresh_seconds,
        batch=settings.segment_batch,
        scan_batch=settings.segment_scan_batch,
    )
    services.segmenter.register(services.bus)


def consent_policy(settings: Settings) -> ConsentPolicy:
    return ConsentPolicy(
        purposes=check_purposes(settings.consent_purposes),
        opt_out_keywords=tuple(settings.opt_out_keywords),
        opt_in_keywords=tuple(settings.opt_in_keywords),
        double_opt_in=settings.consent_double_opt_in,
        confirm_hours=settings.consent_confirm_hours,
        preference_link_days=settings.preference_link_days,
        base_url=settings.public_base_url or f"http://{settings.host}:{settings.port}",
    )


def _connect_consent(services: Services) -> None:
    """Consent answers which channels a reply may use, answers privacy, and hears opt-out
    keywords in every inbound message, in the message's own transaction."""
    center = ConsentCenter(
        services.uow,
        services.cipher,
        consent_policy(services.settings),
        consent_key(services.cipher.keyring.index_key),
        services.settings.default_region,
        lambda: services.mailer,
        mailto=email_channel.default_address(services.settings),
    )
    services.consent_center = center
    center.register(services.bus)

    def heard(event: MessageReceived, uow: UnitOfWork) -> None:
        if event.kind != "message":
            return
        message = services.conversations(uow).message(event.message_id)
        if message is None:
            return
        center.heard(
            uow,
            event.customer_id,
            event.channel,
            text=message.text,
            subject=message.subject,
            message_id=message.id,
            provider_message_id=message.provider_message_id,
            at=message.created_at,
        )

    services.bus.subscribe(MessageReceived, heard)


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
    CommercePrivacy(services.cipher).register(services.bus)


def _connect_selling(services: Services) -> None:
    """Carts and orders: prices from the catalog's quote, holds from inventory, sourcing by
    OMNICX_SOURCING_STRATEGY; carts follow profile merges."""
    settings = services.settings
    try:
        strategy = commerce_sourcing.strategy(settings.sourcing_strategy)
    except ValueError as error:
        raise StartupError(f"OMNICX_SOURCING_STRATEGY: {error}") from None
    config = SellingConfig(
        channels=tuple(settings.commerce_channels),
        walk_in=frozenset(settings.commerce_walk_in_channels),
        currency=settings.currency,
        lease_seconds=min(settings.order_lease_seconds, settings.stock_lease_max_seconds),
        pickup_hold_seconds=min(
            settings.pickup_hold_hours * 3600, settings.stock_lease_max_seconds
        ),
        areas=commerce_sourcing.areas(settings.sourcing_areas),
        cart_idle_days=settings.cart_idle_days,
    )
    services.selling = Selling(
        services.cipher, services.rules, config, strategy, pricer=services, stock=services
    )
    services.selling.register(services.bus)


def _connect_aftersales(services: Services) -> None:
    """Returns and exchanges over orders, stock, prices and loyalty; earning on orders that
    reached their customer, accounts joined on merges, the story on the timeline."""
    settings = services.settings

    def canonical(uow: UnitOfWork, customer_id: str) -> str | None:
        profile = services.profiles(uow).get(customer_id)
        return None if profile is None else profile.canonical_id

    wiring = Wiring(
        orders=lambda uow: OrderBook(services.orders(uow)),
        returns=services.returns,
        loyalty=services.loyalty,
        stock=services.stock,
        stock_context=services.stock_context,
        quote=lambda uow, sku, channel: services.quote(uow, sku, channel),
        canonical=canonical,
        timeline=services.events,
        history=services.orders,
    )
    policy = AftersalesPolicy(
        window_days=settings.return_window_days,
        walk_in_channel=(settings.commerce_walk_in_channels or ["store"])[0],
        loyalty=commerce_loyalty.LoyaltyPolicy(
            points_per_unit=Decimal(str(settings.loyalty_points_per_unit)),
            multipliers={
                channel: Decimal(str(value))
                for channel, value in settings.loyalty_channel_multipliers.items()
            },
            tiers=commerce_loyalty.check_tiers(settings.loyalty_tiers),
            window_days=settings.loyalty_tier_window_days,
            currency=settings.currency,
        ),
    )
    # New items a store lacks are placed as endless-aisle orders by the selling service.
    seller = CounterSeller(wiring, place=lambda *a, **kw: services.selling.place_order(*a, **kw))
    services.aftersales = Aftersales(wiring, policy, seller)
    services.aftersales.register(services.bus)

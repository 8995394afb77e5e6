"""Selling wired to storage: carts, placing orders, moving their groups, and the answers to
privacy. Every call runs in the caller's unit of work, so an order, its reservations, its
rows, its events and its timeline entries commit together or not at all.

Placing an order: the request is checked; a replayed `Idempotency-Key` answers with the order
it placed (or 409 when the request differs); the customer is found (or made, from
identifiers, by the profiles writer); each line is priced by the catalog's quote for the
order's channel; the sourcing strategy plans where each line is held; the holds are reserved
in (location, SKU) order; the order is written; `OrderPlaced` is raised and the customer's
timeline gets "Order Completed".

The catalog and inventory are reached through two small ports (`Pricer`, `Stock`), which
`Services` implements with the catalog's quote and inventory's reservations.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import exc

from omnicx.commerce import carts, fulfilment, orders, sourcing
from omnicx.commerce.carts import Cart, PriceChange
from omnicx.commerce.inventory import Movement, Reservation
from omnicx.commerce.locations import Location
from omnicx.commerce.messages import (
    OrderCancelled,
    OrderCollected,
    OrderDelivered,
    OrderPlaced,
    OrderReadyForPickup,
    OrderShipped,
)
from omnicx.commerce.model import Quote
from omnicx.commerce.orders import (
    Address,
    Allocated,
    Change,
    CustomerIn,
    Group,
    GroupIn,
    HistoryEntry,
    LineIn,
    Order,
    OrderLine,
    Payment,
    PlaceOrder,
)
from omnicx.commerce.sourcing import Point, SourcingStrategy
from omnicx.commerce.store.orders import SqlOrderRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork, UnitOfWorkFactory
from omnicx.events.store import SqlEventRepository
from omnicx.kernel import Conflict, Event, Invalid, MessageBus, NotFound, new_id
from omnicx.kernel.moments import micros
from omnicx.profiles import IdentityRules, ProfilesMerged, ProfileWriter
from omnicx.profiles.identifiers import normalize
from omnicx.profiles.model import Identifier
from omnicx.profiles.store import SqlProfileRepository

TIMELINE_SOURCE = "commerce"
TIMELINE_NAMES: dict[str, str] = {
    "placed": "Order Completed",
    "ready_for_pickup": "Order Ready For Pickup",
    "collected": "Order Collected",
    "shipped": "Order Shipped",
    "delivered": "Order Delivered",
    "cancelled": "Order Cancelled",
}
"""Timeline event names (Segment's e-commerce spec where it has one)."""
KEY_LIMIT = 200
PLAN_ATTEMPTS = 5
"""Plans made for one order when concurrent sales keep taking the stock a plan chose."""


class Pricer(Protocol):
    def quote(self, uow: UnitOfWork, sku: str, channel: str) -> Quote: ...


class Stock(Protocol):
    """Inventory as selling uses it, inside the caller's unit of work."""

    def locations(self, uow: UnitOfWork, capability: str | None = None) -> list[Location]: ...

    def availability(self, uow: UnitOfWork, sku: str, *, remote: bool = False) -> dict[str, int]:
        """Unreserved sellable units per active location (remote: safety stock kept back)."""
        ...

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
    ) -> Reservation: ...

    def release(self, uow: UnitOfWork, reservation_id: str) -> Reservation: ...

    def extend(
        self, uow: UnitOfWork, reservation_id: str, *, lease_seconds: int | None = None
    ) -> Reservation: ...

    def commit_reservation(
        self,
        uow: UnitOfWork,
        reservation_id: str,
        *,
        reason: str = "sale",
        ref: str | None = None,
        actor: str = "system",
    ) -> Movement: ...


@dataclass(frozen=True)
class SellingConfig:
    channels: tuple[str, ...]
    walk_in: frozenset[str]
    currency: str
    lease_seconds: int
    """How long an order's holds last before they must be renewed (shipping groups)."""
    pickup_hold_seconds: int
    """How long a click-and-collect order waits at the store: its pickup deadline."""
    areas: Mapping[str, Point] = field(default_factory=dict)
    """Postcode prefixes (upper-case letters and digits) and where they are."""
    cart_idle_days: int = 30


@dataclass(frozen=True)
class CheckoutGroup:
    type: str
    location_id: str | None = None
    address: Address | None = None
    skus: tuple[str, ...] | None = None
    """The cart's lines this group takes; None: every line no other group names."""


@dataclass(frozen=True)
class Checkout:
    groups: tuple[CheckoutGroup, ...]
    channel: str | None = None
    """The channel the order is placed on; the cart's own when None."""
    location_id: str | None = None
    customer: CustomerIn | None = None
    payment: Payment | None = None
    note: str | None = None
    expected_total: int | None = None
    """When given, the checkout is refused if the prices quoted now add up to another total."""


def check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise Invalid(
            "idempotency_key_required",
            "send an Idempotency-Key header: the same key places the same order once",
            "Idempotency-Key",
        )
    clean = key.strip()
    if len(clean) > KEY_LIMIT or any(ord(ch) < 32 or ord(ch) == 127 for ch in clean):
        raise Invalid(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {KEY_LIMIT} printable characters",
            "Idempotency-Key",
        )
    return clean


class Selling:
    def __init__(
        self,
        cipher: FieldCipher,
        rules: IdentityRules,
        config: SellingConfig,
        strategy: SourcingStrategy,
        pricer: Pricer,
        stock: Stock,
    ) -> None:
        self.cipher = cipher
        self.rules = rules
        self.config = config
        self.strategy = strategy
        self.pricer = pricer
        self.stock = stock

    def repo(self, uow: UnitOfWork) -> SqlOrderRepository:
        return SqlOrderRepository(uow.conn, self.cipher)

    def _profiles(self, uow: UnitOfWork) -> SqlProfileRepository:
        return SqlProfileRepository(uow.conn, self.cipher)

    def register(self, bus: MessageBus) -> None:
        """Carts follow merges. (Privacy's answers for carts and orders are commerce's own,
        in `commerce.privacy`, over this repository.)"""
        bus.subscribe(ProfilesMerged, self.on_profiles_merged)

    # -- shared checks ------------------------------------------------------------------------

    def _channel(self, channel: str, name: str = "channel") -> str:
        if channel not in self.config.channels:
            raise Invalid(
                "invalid_channel", f"{name} must be one of {', '.join(self.config.channels)}", name
            )
        return channel

    def _quote(self, uow: UnitOfWork, sku: str, channel: str, where: str) -> Quote:
        """The catalog's price, with any refusal naming the line's sku."""
        try:
            return self.pricer.quote(uow, sku, channel)
        except (NotFound, Invalid) as error:
            raise type(error)(error.code, f"{where}: {error.message}", where) from None

    def _live_customer(self, uow: UnitOfWork, customer_id: str, name: str) -> str:
        profile = self._profiles(uow).get(customer_id)
        if profile is None:
            raise NotFound("customer_not_found", f"no customer {customer_id}", name)
        return profile.canonical_id

    def _resolve(self, uow: UnitOfWork, customer: CustomerIn, channel: str) -> str:
        observed: list[Identifier] = []
        for kind, value in customer.identifiers:
            try:
                identifier = normalize(kind, value, self.rules.region)
            except Invalid as error:
                raise Invalid(error.code, error.message, f"customer.{kind}") from None
            if identifier not in observed:
                observed.append(identifier)
        writer = ProfileWriter(self._profiles(uow), self.rules, uow.clock.now(), uow.raise_event)
        customer_id = writer.resolve(observed, event_id=None, channel=channel, source_id=None)
        if customer_id is None:
            raise Invalid(
                "customer_blocked", "the customer's identifiers are on the blocked list", "customer"
            )
        writer.flush()
        return customer_id

    # -- orders -------------------------------------------------------------------------------

    def place_order(
        self,
        uow: UnitOfWork,
        command: PlaceOrder,
        *,
        key: str | None,
        actor: str,
        quotes: Mapping[str, Quote] | None = None,
    ) -> tuple[Order, bool]:
        """The order placed, and whether this call placed it (False: the key's replay).
        `quotes`: prices per SKU already quoted on the order's channel in this unit of work
        (a checkout's), used instead of asking the catalog again."""
        key = check_key(key)
        config = self.config
        command = orders.check_place(
            command, channels=config.channels, walk_in=config.walk_in, currency=config.currency
        )
        print_ = orders.fingerprint(command)
        repo = self.repo(uow)
        found = repo.order_by_key(key)
        if found is not None:
            return orders.same_request(found, print_, key), False
        now = uow.clock.now()
        customer_id = command.customer_id
        if customer_id is not None:
            customer_id = self._live_customer(uow, customer_id, "customer_id")
        elif command.customer is not None:
            customer_id = self._resolve(uow, command.customer, command.channel)
        places = {place.id: place for place in self.stock.locations(uow)}
        selling = self._selling_place(command, places)
        for g, group in enumerate(command.groups):
            if group.location_id is not None:
                fulfilment.check_location(
                    group.type, group.location_id, places, f"groups[{g}].location_id"
                )
        lines, wants = self._price(uow, command, quotes or {})
        plans = {
            g: fulfilment.GroupPlan(
                group.type, group.location_id, self._origin(group, selling, places)
            )
            for g, group in enumerate(command.groups)
        }
        order_id = new_id()
        allocations = self._hold(
            uow, command, order_id, lines, wants, plans, list(places.values()), actor
        )
        name = command.customer.name if command.customer else None
        groups = tuple(
            Group(
                position=g,
                type=group.type,
                status="allocated",
                location_id=group.location_id or self._held_at(g, lines, allocations, group.type),
                address=group.address,
                pickup_by=now + timedelta(seconds=config.pickup_hold_seconds)
                if group.type == "pickup"
                else None,
                updated_at=now,
            )
            for g, group in enumerate(command.groups)
        )
        subtotal = orders.totals(lines, config.currency)
        order = Order(
            id=order_id,
            key=key,
            fingerprint=print_,
            channel=command.channel,
            status="allocated",
            currency=config.currency,
            subtotal=subtotal,
            total=subtotal,
            actor=actor,
            created_at=now,
            updated_at=now,
            location_id=command.location_id,
            customer_id=customer_id,
            customer_name=name or next((g.address.name for g in groups if g.address), None),
            payment=command.payment,
            external_ref=command.external_ref,
            note=command.note,
            cart_id=command.cart_id,
            groups=groups,
            lines=tuple(lines),
            allocations=tuple(sorted(allocations, key=lambda a: (a.line_no, a.location_id))),
            history=(
                HistoryEntry(None, None, "placed", actor, now),
                HistoryEntry(None, "placed", "allocated", actor, now),
            ),
        )
        repo.add_order(order)
        uow.raise_event(
            OrderPlaced(
                order.id,
                customer_id,
                order.channel,
                order.location_id,
                order.total.amount,
                order.currency,
                tuple(dict.fromkeys(g.type for g in groups)),
                now,
            )
        )
        self._timeline(
            uow,
            order,
            "placed",
            order.location_id,
            {
                "total": order.total.amount,
                "currency": order.currency,
                "fulfilments": [g.type for g in groups],
                "products": [
                    {"sku": x.sku, "quantity": x.qty, "price": x.unit_price.amount}
                    for x in order.lines
                ],
            },
        )
        return order, True

    def _hold(
        self,
        uow: UnitOfWork,
        command: PlaceOrder,
        order_id: str,
        lines: Sequence[OrderLine],
        wants: Sequence[fulfilment.Want],
        plans: Mapping[int, fulfilment.GroupPlan],
        places: Sequence[Location],
        actor: str,
    ) -> list[Allocated]:
        """Plan where each line is held and reserve it, in (location, SKU) order. When another
        sale took the planned stock between the plan and the reservation, the plan is made
        again from what is left (a real shortage is refused by the plan itself)."""
        fields = {want.line_no: want.field for want in wants}
        kinds = {line.line_no: command.groups[line.group].type for line in lines}
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            holds = fulfilment.plan(
                wants,
                plans,
                places,
                lambda sku: self.stock.availability(uow, sku),
                self.strategy,
                selling=command.location_id,
                counter_sale=command.channel in self.config.walk_in,
            )
            allocations: list[Allocated] = []
            try:
                with uow.savepoint():
                    for hold in sorted(holds, key=lambda h: (h.location_id, h.sku, h.line_no)):
                        try:
                            lease = self.stock.reserve(
                                uow,
                                location_id=hold.location_id,
                                sku=hold.sku,
                                qty=hold.qty,
                                lease_seconds=self._lease(kinds[hold.line_no]),
                                key=f"order:{order_id}:{hold.line_no}:{hold.location_id}",
                                ref=f"order {order_id}",
                                remote=hold.remote,
                                actor=actor,
                            )
                        except Conflict as error:
                            field_name = f"{fields[hold.line_no]}.qty"
                            raise Conflict(error.code, error.message, field_name) from None
                        allocations.append(
                            Allocated(hold.line_no, hold.location_id, hold.qty, lease.id)
                        )
                return allocations
            except Conflict as error:
                if error.code != "insufficient_stock" or attempt == PLAN_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _selling_place(
        self, command: PlaceOrder, places: Mapping[str, Location]
    ) -> Location | None:
        if command.location_id is None:
            return None
        place = places.get(command.location_id)
        if place is None:
            raise NotFound(
                "location_not_found", f"no active location {command.location_id!r}", "location_id"
            )
        if command.channel in self.config.walk_in and place.kind != "store":
            raise Invalid(
                "not_a_store", f"{place.name} is not a store: it has no counter", "location_id"
            )
        return place

    def _price(
        self, uow: UnitOfWork, command: PlaceOrder, quoted: Mapping[str, Quote]
    ) -> tuple[list[OrderLine], list[fulfilment.Want]]:
        lines: list[OrderLine] = []
        wants: list[fulfilment.Want] = []
        for g, group in enumerate(command.groups):
            for i, line in enumerate(group.lines):
                where = f"groups[{g}].lines[{i}]"
                quote = quoted.get(line.sku) or self._quote(
                    uow, line.sku, command.channel, f"{where}.sku"
                )
                if quote.price.currency != self.config.currency:
                    raise Invalid(
                        "currency_mismatch",
                        f"{where}.sku is priced in {quote.price.currency}",
                        f"{where}.sku",
                    )
                number = len(lines) + 1
                if line.price is not None:
                    priced = OrderLine(
                        number, g, line.sku, line.qty, line.price, quote.base,
                        line.price_reason, None, "marketplace",
                    )  # fmt: skip
                else:
                    priced = OrderLine(
                        number, g, line.sku, line.qty, quote.price, quote.base,
                        quote.reason, quote.promotion, "catalog",
                    )  # fmt: skip
                lines.append(priced)
                wants.append(fulfilment.Want(number, g, line.sku, line.qty, where))
        return lines, wants

    def _origin(
        self, group: GroupIn, selling: Location | None, places: Mapping[str, Location]
    ) -> Point | None:
        def point(place: Location | None) -> Point | None:
            if place is None or place.latitude is None or place.longitude is None:
                return None
            return (place.latitude, place.longitude)

        if group.type == "pickup":
            return point(places.get(group.location_id or ""))
        address = group.address
        if address is None:
            return point(selling)
        return sourcing.origin_of(
            address.latitude, address.longitude, address.postal_code, self.config.areas,
            point(selling),
        )  # fmt: skip

    @staticmethod
    def _held_at(
        position: int, lines: Sequence[OrderLine], allocations: Sequence[Allocated], kind: str
    ) -> str | None:
        """A ship-from-store group's store: where its first line is held."""
        if kind != "ship_from_store":
            return None
        numbers = {line.line_no for line in lines if line.group == position}
        held = sorted((a.line_no, a.location_id) for a in allocations if a.line_no in numbers)
        return held[0][1] if held else None

    def _lease(self, kind: str) -> int:
        if kind == "pickup":
            return self.config.pickup_hold_seconds
        return self.config.lease_seconds

    def get_order(self, uow: UnitOfWork, order_id: str) -> Order:
        found = self.repo(uow).order(order_id)
        if found is None:
            raise NotFound("order_not_found", f"no order {order_id}", "order_id")
        return found

    def orders_of(self, uow: UnitOfWork, customer_id: str, *, limit: int = 100) -> list[Order]:
        """The customer's orders, newest first, whichever of their merged profiles placed them."""
        profiles = self._profiles(uow)
        profile = profiles.get(customer_id)
        if profile is None:
            return []
        members = profiles.members(profile.canonical_id) or {profile.canonical_id: None}
        return self.repo(uow).orders(customer_ids=list(members), limit=limit)

    def record_event(
        self,
        uow: UnitOfWork,
        order_id: str,
        event: str,
        *,
        group: int | None = None,
        tracking: str | None = None,
        actor: str,
    ) -> Order:
        """Move the order's group (every group that can move, when None) by `event`, with its
        stock: collected and shipped commit the holds (the stock leaves), cancel releases
        them, picked and ready_for_pickup renew their leases."""
        order = self.get_order(uow, order_id)
        now = uow.clock.now()
        pickup_by = now + timedelta(seconds=self.config.pickup_hold_seconds)
        moved, changes = orders.apply_event(
            order, event, group=group, now=now, actor=actor, tracking=tracking,
            pickup_by=pickup_by if event == "ready_for_pickup" else None,
        )  # fmt: skip
        allocations = list(moved.allocations)
        for change in changes:
            action, reason = fulfilment.stock_action(change.to_status)
            kind = moved.group(change.group).type
            numbers = {line.line_no for line in moved.lines_of(change.group)}
            for index, held in enumerate(allocations):
                if held.line_no not in numbers or held.status != "reserved":
                    continue
                if action == "commit":
                    allocations[index] = self._commit(uow, moved, held, reason or "sale", actor)
                elif action == "release":
                    self.stock.release(uow, held.reservation_id)
                    allocations[index] = replace(held, status="released")
                elif action == "renew":
                    allocations[index] = self._renew(uow, moved, held, self._lease(kind), actor)
        moved = replace(moved, allocations=tuple(allocations))
        self.repo(uow).save_progress(
            moved, {c.group for c in changes}, moved.history[len(order.history) :]
        )
        for change in changes:
            self._announce(uow, moved, change, now)
        return moved

    def _sku(self, order: Order, line_no: int) -> str:
        return next(line.sku for line in order.lines if line.line_no == line_no)

    def _hold_again(
        self, uow: UnitOfWork, order: Order, held: Allocated, lease: int, actor: str
    ) -> Allocated:
        """A hold whose lease ended (or was let go) is taken again, if the stock is there."""
        remote = not (
            order.channel in self.config.walk_in and held.location_id == order.location_id
        )
        sku = self._sku(order, held.line_no)
        try:
            again = self.stock.reserve(
                uow,
                location_id=held.location_id,
                sku=sku,
                qty=held.qty,
                lease_seconds=lease,
                key=f"order:{order.id}:{held.line_no}:{held.location_id}:{new_id()}",
                ref=f"order {order.id}",
                remote=remote,
                actor=actor,
            )
        except Conflict as error:
            raise Conflict(
                error.code,
                f"the hold on {sku} at {held.location_id} ended and the stock is gone: "
                f"{error.message}",
                "type",
            ) from None
        return replace(held, reservation_id=again.id)

    def _commit(
        self, uow: UnitOfWork, order: Order, held: Allocated, reason: str, actor: str
    ) -> Allocated:
        try:
            self.stock.commit_reservation(
                uow, held.reservation_id, reason=reason, ref=f"order {order.id}", actor=actor
            )
        except Conflict as error:
            if error.code not in ("reservation_expired", "reservation_released"):
                raise
            held = self._hold_again(uow, order, held, self.config.lease_seconds, actor)
            self.stock.commit_reservation(
                uow, held.reservation_id, reason=reason, ref=f"order {order.id}", actor=actor
            )
        return replace(held, status="committed")

    def _renew(
        self, uow: UnitOfWork, order: Order, held: Allocated, lease: int, actor: str
    ) -> Allocated:
        try:
            self.stock.extend(uow, held.reservation_id, lease_seconds=lease)
        except Conflict as error:
            if error.code not in ("reservation_expired", "reservation_released"):
                raise
            return self._hold_again(uow, order, held, lease, actor)
        return held

    def _announce(self, uow: UnitOfWork, order: Order, change: Change, now: datetime) -> None:
        group = order.group(change.group)
        held = [a.location_id for a in order.allocations_of(group.position)]
        where = group.location_id or (held[0] if held else None)
        common = (order.id, group.position, order.customer_id, order.channel, where)
        event: Event | None = None
        if change.to_status == "ready_for_pickup":
            event = OrderReadyForPickup(*common, group.pickup_by, now)
        elif change.to_status == "collected":
            event = OrderCollected(*common, now)
        elif change.to_status == "shipped":
            event = OrderShipped(*common, group.tracking, now)
        elif change.to_status == "delivered":
            event = OrderDelivered(*common, now)
        elif change.to_status == "cancelled":
            event = OrderCancelled(*common, now)
        if event is None:
            return
        uow.raise_event(event)
        properties: dict[str, Any] = {"group": group.position, "fulfilment": group.type}
        if group.pickup_by is not None and change.to_status == "ready_for_pickup":
            properties["pickup_by"] = group.pickup_by.isoformat()
        if group.tracking and change.to_status == "shipped":
            properties["tracking"] = group.tracking
        self._timeline(uow, order, change.to_status, where, properties, group=group.position)

    # -- the timeline ---------------------------------------------------------------------------

    def _timeline(
        self,
        uow: UnitOfWork,
        order: Order,
        status: str,
        location_id: str | None,
        properties: dict[str, Any],
        *,
        group: int | None = None,
    ) -> None:
        """The step on the customer's timeline, with the channel and location in context.
        Collecting happens at the store's counter, so it is a store event."""
        if order.customer_id is None:
            return
        events = SqlEventRepository(uow.conn, self.cipher)
        # Allocated right before the insert: on SQLite the next id is max(id) + 1, and
        # reactions published in between (a savepoint publishes) may write events too.
        (event_id,) = events.allocate_ids(1)
        channel = order.channel
        if status == "collected" and "store" in self.config.channels:
            channel = "store"
        at = micros(uow.clock.now())
        suffix = "" if group is None else f":{group}"
        events.insert_events(
            [
                {
                    "id": event_id,
                    "source_id": TIMELINE_SOURCE,
                    "message_id": f"order:{order.id}:{status}{suffix}",
                    "profile_id": order.customer_id,
                    "type": "track",
                    "event": TIMELINE_NAMES[status],
                    "name": None,
                    "channel": channel,
                    "ts": at,
                    "received_at": at,
                    "user_id": None,
                    "anonymous_id": None,
                    "properties": {"order_id": order.id, "status": status, **properties},
                    "context": {
                        "channel": channel,
                        "order_channel": order.channel,
                        "location_id": location_id,
                    },
                    "traits": None,
                }
            ]
        )

    # -- carts ----------------------------------------------------------------------------------

    def cart_for(
        self,
        uow: UnitOfWork,
        *,
        customer_id: str | None = None,
        anonymous_id: str | None = None,
        channel: str,
    ) -> Cart:
        """The owner's one open cart (made when there is none). An anonymous id that belongs
        to a customer leads to the customer's cart; the carts of a customer's anonymous ids
        join it."""
        self._channel(channel)
        if (customer_id is None) == (anonymous_id is None):
            raise Invalid(
                "cart_owner_required",
                "give customer_id or anonymous_id (one of them)",
                "customer_id",
            )
        if customer_id is not None:
            return self._customer_cart(
                uow, self._live_customer(uow, customer_id, "customer_id"), channel
            )
        try:
            identifier = normalize("anonymous_id", anonymous_id, self.rules.region)
        except Invalid as error:
            raise Invalid(error.code, error.message, "anonymous_id") from None
        owner = self._profiles(uow).owners([identifier]).get(identifier)
        if owner is not None:
            return self._customer_cart(
                uow, self._live_customer(uow, owner, "anonymous_id"), channel
            )
        repo = self.repo(uow)
        hashed = repo.blind_anonymous(identifier.value)
        found = repo.cart_of(carts.owner_key(None, hashed))
        if found is not None:
            return found
        cart = carts.new_cart(
            new_id(), channel=channel, currency=self.config.currency, now=uow.clock.now(),
            anonymous_hash=hashed,
        )  # fmt: skip
        repo.add_cart(cart)
        return cart

    def _customer_cart(self, uow: UnitOfWork, customer_id: str, channel: str) -> Cart:
        repo = self.repo(uow)
        now = uow.clock.now()
        cart = repo.cart_of(carts.owner_key(customer_id, None))
        anonymous = [
            i["value"]
            for i in self._profiles(uow).identifiers_of(customer_id)
            if i["kind"] == "anonymous_id"
        ]
        strays = repo.open_carts_of_anonymous({repo.blind_anonymous(v) for v in anonymous})
        if cart is None and not strays:
            cart = carts.new_cart(
                new_id(), channel=channel, currency=self.config.currency, now=now,
                customer_id=customer_id,
            )  # fmt: skip
            repo.add_cart(cart)
            return cart
        if cart is None:
            first, strays = strays[0], strays[1:]
            cart = replace(first, customer_id=customer_id, anonymous_hash=None, updated_at=now)
            repo.save_cart(cart)
        for stray in strays:
            repo.save_cart(carts.absorbed(stray, cart, now))
            cart = carts.merge(cart, stray, now)
        if strays:
            repo.save_cart(cart)
        return cart

    def get_cart(self, uow: UnitOfWork, cart_id: str) -> Cart:
        """The cart, or the one it joined."""
        repo = self.repo(uow)
        for _ in range(20):
            cart = repo.cart(cart_id)
            if cart is None:
                raise NotFound("cart_not_found", f"no cart {cart_id}", "cart_id")
            if cart.merged_into is None:
                return cart
            cart_id = cart.merged_into
        raise NotFound("cart_not_found", f"no cart {cart_id}", "cart_id")

    def add_to_cart(
        self, uow: UnitOfWork, cart_id: str, sku: str, qty: int, *, channel: str | None = None
    ) -> Cart:
        """Add units of a SKU, priced for `channel` (the cart's when None) now."""
        cart = carts.check_open(self.get_cart(uow, cart_id))
        channel = self._channel(channel or cart.channel)
        carts.check_qty(qty)
        quote = self._quote(uow, sku, channel, "sku")
        cart = carts.add_line(cart, quote, qty, channel, uow.clock.now())
        self.repo(uow).save_cart(cart)
        return cart

    def set_cart_qty(self, uow: UnitOfWork, cart_id: str, sku: str, qty: int) -> Cart:
        cart = carts.set_qty(self.get_cart(uow, cart_id), sku, qty, uow.clock.now())
        self.repo(uow).save_cart(cart)
        return cart

    def remove_from_cart(self, uow: UnitOfWork, cart_id: str, sku: str) -> Cart:
        cart = carts.remove_line(self.get_cart(uow, cart_id), sku, uow.clock.now())
        self.repo(uow).save_cart(cart)
        return cart

    def checkout(
        self, uow: UnitOfWork, cart_id: str, request: Checkout, *, key: str | None, actor: str
    ) -> tuple[Order, list[PriceChange], bool]:
        """Place the cart as an order at the prices quoted now; each line whose price moved
        since it was added is listed. The same key again answers with the same order."""
        key = check_key(key)
        cart = self.get_cart(uow, cart_id)
        channel = self._channel(request.channel or cart.channel)
        command = PlaceOrder(
            channel=channel,
            groups=self._checkout_groups(cart, request.groups),
            location_id=request.location_id,
            customer_id=cart.customer_id,
            customer=request.customer,
            payment=request.payment,
            note=request.note,
            cart_id=cart.id,
        )
        found = self.repo(uow).order_by_key(key)
        if found is not None:
            checked = orders.check_place(
                command,
                channels=self.config.channels,
                walk_in=self.config.walk_in,
                currency=self.config.currency,
            )
            return orders.same_request(found, orders.fingerprint(checked), key), [], False
        carts.check_open(cart)
        quotes = {
            line.sku: self._quote(uow, line.sku, channel, f"lines.{line.sku}")
            for line in cart.lines
        }
        priced, changes = carts.reprice(cart, quotes)
        if request.expected_total is not None and priced.total.amount != request.expected_total:
            moved = (
                "; ".join(f"{c.sku} {c.was.amount} → {c.now.amount}" for c in changes)
                or "no line changed"
            )
            raise Conflict(
                "prices_changed",
                f"the cart comes to {priced.total.amount} {priced.currency} now, not "
                f"{request.expected_total} ({moved})",
                "expected_total",
            )
        order, _ = self.place_order(uow, command, key=key, actor=actor, quotes=quotes)
        now = uow.clock.now()
        self.repo(uow).save_cart(
            replace(
                priced, status="checked_out", order_id=order.id, channel=channel, updated_at=now
            )
        )
        return order, changes, True

    @staticmethod
    def _checkout_groups(cart: Cart, groups: Sequence[CheckoutGroup]) -> tuple[GroupIn, ...]:
        if not cart.lines:
            raise Invalid("cart_empty", "the cart has no lines to check out", "cart_id")
        if not groups:
            raise Invalid("groups_required", "say how the cart is fulfilled", "groups")
        taken: dict[str, int] = {}
        for g, group in enumerate(groups):
            for i, sku in enumerate(group.skus or ()):
                if cart.line(sku) is None:
                    raise Invalid(
                        "line_not_in_cart", f"the cart has no {sku}", f"groups[{g}].skus[{i}]"
                    )
                if sku in taken:
                    raise Invalid(
                        "line_in_two_groups",
                        f"{sku} is in groups {taken[sku]} and {g}",
                        f"groups[{g}].skus[{i}]",
                    )
                taken[sku] = g
        rest = [g for g, group in enumerate(groups) if group.skus is None]
        if len(rest) > 1:
            raise Invalid(
                "skus_required", "only one group may take the lines no group names", "groups"
            )
        for line in cart.lines:
            if line.sku not in taken:
                if not rest:
                    raise Invalid("line_unassigned", f"no group takes {line.sku}", "groups")
                taken[line.sku] = rest[0]
        built: list[GroupIn] = []
        for g, group in enumerate(groups):
            lines = tuple(LineIn(x.sku, x.qty) for x in cart.lines if taken[x.sku] == g)
            if not lines:
                raise Invalid("lines_required", f"groups[{g}] takes no line", f"groups[{g}]")
            built.append(GroupIn(group.type, lines, group.location_id, group.address))
        return tuple(built)

    def expire_carts(self, uow: UnitOfWork, *, limit: int = 500) -> int:
        """Delete carts left untouched for `cart_idle_days`; how many."""
        before = uow.clock.now() - timedelta(days=self.config.cart_idle_days)
        repo = self.repo(uow)
        return repo.delete_carts(repo.idle_carts(before, limit))

    # -- reactions --------------------------------------------------------------------------------

    def on_profiles_merged(self, event: ProfilesMerged, uow: UnitOfWork) -> None:
        """The merged profile's cart joins the survivor's (or becomes it)."""
        repo = self.repo(uow)
        loser = repo.cart_of(carts.owner_key(event.loser_id, None))
        if loser is None:
            return
        now = uow.clock.now()
        survivor = repo.cart_of(carts.owner_key(event.survivor_id, None))
        if survivor is None:
            repo.save_cart(replace(loser, customer_id=event.survivor_id, updated_at=now))
            return
        repo.save_cart(carts.absorbed(loser, survivor, now))
        repo.save_cart(carts.merge(survivor, loser, now))


T = TypeVar("T")


def retrying(uows: UnitOfWorkFactory, work: Callable[[UnitOfWork], T], attempts: int = 5) -> T:
    """Run `work` in a fresh unit of work and commit; again when a concurrent writer won a
    race (the same Idempotency-Key placed at once: a unique key) or the database saw a
    deadlock. The replay then finds what the winner wrote."""
    for attempt in range(1, attempts + 1):
        try:
            with uows() as uow:
                result = work(uow)
                uow.commit()
            return result
        except (exc.IntegrityError, exc.OperationalError):
            if attempt == attempts:
                raise
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")

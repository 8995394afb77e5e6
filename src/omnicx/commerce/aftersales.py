"""After-sales, wired: returns and exchanges taken at any location, each in the caller's one
unit of work; the loyalty that follows orders, returns and merges; and the customer's
commerce story on the timeline.

    accept_return   the order is read → its lines checked (received, in the window, not more
                    than bought minus returned) → the units counted as returned (one
                    conditional write per SKU) → received into sellable or damaged at the
                    location → the refund recorded (the order's tender, or store credit on the
                    loyalty account) → earned points reversed pro rata → ReturnAccepted,
                    RefundIssued
    exchange        the same return, its value going to the new items → the new items sold at
                    the location (reserved and committed there) → the difference charged or
                    refunded → points for the new items → ExchangeCompleted
    earn            OrderDelivered, OrderCollected: points for the group that reached the
                    customer, once (key order:<id>:<group>)
    merge           ProfilesMerged: the merged profile's loyalty account joins the survivor's
    story           each of those events is written on the customer's timeline with its
                    channel and location, and handed on as an ingested event is
                    (EventsStored), so journeys can start or wait on it

Both requests are idempotent on their key: the same key and the same request answer with
what was done; the same key with another request is a Conflict. Any refusal raises before
the caller commits, so nothing is written.
"""

import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from omnicx.commerce import inventory, loyalty, returns
from omnicx.commerce.carts import Cart
from omnicx.commerce.inventory import InventoryRepository
from omnicx.commerce.locations import Location, get_location
from omnicx.commerce.loyalty import Account, Entry, LoyaltyPolicy, LoyaltyRepository
from omnicx.commerce.messages import (
    ExchangeCompleted,
    LoyaltyChanged,
    OrderCollected,
    OrderDelivered,
    PointsAdjusted,
    PointsBurned,
    PointsEarned,
    PointsExpired,
    PointsReversed,
    RefundIssued,
    ReturnAccepted,
    StoreCreditIssued,
    StoreCreditSpent,
    TierChanged,
)
from omnicx.commerce.model import Money, Quote
from omnicx.commerce.orders import Address, Group, GroupIn, LineIn, Order, Payment, PlaceOrder
from omnicx.commerce.returns import (
    Exchange,
    ExchangeRequest,
    OrderSource,
    Refund,
    Return,
    ReturnRequest,
    ReturnsRepository,
    Sale,
    SaleLine,
    SoldLine,
    SoldOrder,
)
from omnicx.db import UnitOfWork
from omnicx.events.messages import EventsStored
from omnicx.kernel import Conflict, DomainError, Event, Invalid, MessageBus, NotFound, new_id
from omnicx.kernel.moments import micros
from omnicx.profiles import ProfilesMerged

TIMELINE_SOURCE = "aftersales"
"""`source_id` of the timeline events after-sales writes (returns, exchanges, loyalty)."""
CHANNEL = returns.REASON


class TimelineStore(Protocol):
    def allocate_ids(self, count: int) -> list[int]: ...

    def insert_events(self, rows: Sequence[dict[str, Any]]) -> None: ...


class OrderReader(Protocol):
    def order(self, order_id: str) -> Order | None: ...


class CustomerOrders(Protocol):
    """A customer's orders and carts, for their commerce context."""

    def orders(
        self, *, customer_ids: Collection[str] | None = None, limit: int = 50
    ) -> list[Order]: ...

    def cart_of(self, owner_key: str) -> Cart | None: ...


class Seller(Protocol):
    def sell(
        self,
        uow: UnitOfWork,
        *,
        order: SoldOrder,
        customer_id: str | None,
        location: Location,
        channel: str,
        lines: Mapping[str, int],
        fields: Mapping[str, str],
        key: str,
        actor: str,
        address: Address | None = None,
    ) -> Sale:
        """Sell `lines` (SKU → units) at `location` for an exchange; refusals name the field
        `fields[sku]` stands for (`new_lines[0]`)."""


class PlaceOrderFn(Protocol):
    def __call__(
        self, uow: UnitOfWork, command: PlaceOrder, *, key: str | None, actor: str
    ) -> tuple[Order, bool]: ...


@dataclass(frozen=True)
class AftersalesPolicy:
    window_days: int = 30
    walk_in_channel: str = "store"
    """The channel a return or exchange taken at a store counter is recorded on."""
    loyalty: LoyaltyPolicy = field(default_factory=LoyaltyPolicy)


@dataclass
class Wiring:
    """Where after-sales finds the rest of commerce, each bound to the caller's unit of work."""

    orders: Callable[[UnitOfWork], OrderSource]
    returns: Callable[[UnitOfWork], ReturnsRepository]
    loyalty: Callable[[UnitOfWork], LoyaltyRepository]
    stock: Callable[[UnitOfWork], InventoryRepository]
    stock_context: Callable[[UnitOfWork, str], inventory.Context]
    quote: Callable[[UnitOfWork, str, str], Quote]
    canonical: Callable[[UnitOfWork, str], str | None]
    """The surviving profile id of a customer id, None when unknown or erased."""
    timeline: Callable[[UnitOfWork], TimelineStore]
    history: Callable[[UnitOfWork], CustomerOrders]


@dataclass(frozen=True)
class LoyaltyView:
    """A customer's loyalty account as the API shows it (no account yet: zeros at the lowest
    tier), the rolling points its tier stands on, and the latest entries."""

    customer_id: str
    account: Account | None
    points: int
    credit: Money
    tier: str
    tier_points: int
    next_tier: tuple[str, int] | None
    """The next tier and the rolling points it needs, if any is above."""
    entries: tuple[Entry, ...]


PENDING_PICKUP = frozenset({"placed", "allocated", "picked", "ready_for_pickup"})


@dataclass(frozen=True)
class CommerceSummary:
    """What the customer context shows of commerce."""

    open_carts: tuple[Cart, ...]
    recent_orders: tuple[Order, ...]
    pending_pickups: tuple[tuple[Order, Group], ...]
    returns: tuple[Return, ...]
    exchanges: tuple[Exchange, ...]
    loyalty: LoyaltyView


# -- orders as after-sales reads them ------------------------------------------------------------


def _shares(amounts: Sequence[int], total: int) -> list[int]:
    """`total` split in proportion to `amounts`, in whole units adding up exactly (largest
    remainder first): an order discount spread over its lines."""
    whole = sum(amounts)
    if whole <= 0:
        return [0 for _ in amounts]
    exact = [amount * total for amount in amounts]
    parts = [value // whole for value in exact]
    order = sorted(range(len(amounts)), key=lambda i: (-(exact[i] % whole), i))
    for index in order[: total - sum(parts)]:
        parts[index] += 1
    return parts


def sold_order(order: Order) -> SoldOrder:
    """An order as returns see it: what was paid per line (the order's total spread over the
    lines when it differs from their sum) and where each line's group stands."""
    status = {group.position: group.status for group in order.groups}
    paid = _shares([line.total.amount for line in order.lines], order.total.amount)
    received = [h.at for h in order.history if h.to_status in returns.RECEIVED]
    return SoldOrder(
        id=order.id,
        customer_id=order.customer_id,
        channel=order.channel,
        location_id=order.location_id,
        status=order.status,
        currency=order.currency,
        placed_at=order.created_at,
        received_at=max(received) if received else None,
        payment_method=order.payment.method if order.payment else None,
        lines=tuple(
            SoldLine(
                line.sku,
                line.qty,
                Money(amount, order.currency),
                status.get(line.group, order.status),
                line.group,
            )
            for line, amount in zip(order.lines, paid, strict=True)
        ),
    )


class OrderBook:
    """`OrderSource` over the orders' repository."""

    def __init__(self, reader: OrderReader) -> None:
        self.reader = reader

    def sold_order(self, order_id: str) -> SoldOrder | None:
        found = self.reader.order(order_id)
        return None if found is None else sold_order(found)


# -- the counter sale of an exchange -------------------------------------------------------------


def _refield(error: DomainError, field: str) -> DomainError:
    return type(error)(error.code, f"{field}: {error.message}", field)


ORDER_FIELD = re.compile(r"^groups\[0\]\.lines\[(\d+)\]\.(\w+)$")


class CounterSeller:
    """Sells an exchange's new items at the location's own counter: each is priced for the
    channel, reserved there and committed at once (the stock leaves as a sale). Items the
    store has too few of, when the exchange gives an address and orders can be placed, are
    sold as one endless-aisle order instead: held elsewhere in the network and shipped."""

    def __init__(self, wiring: Wiring, place: PlaceOrderFn | None = None) -> None:
        self.wiring = wiring
        self.place = place

    def sell(
        self,
        uow: UnitOfWork,
        *,
        order: SoldOrder,
        customer_id: str | None,
        location: Location,
        channel: str,
        lines: Mapping[str, int],
        fields: Mapping[str, str],
        key: str,
        actor: str,
        address: Address | None = None,
    ) -> Sale:
        repo = self.wiring.stock(uow)
        ctx = self.wiring.stock_context(uow, actor)
        sold: list[SaleLine] = []
        elsewhere: dict[str, int] = {}
        for sku, qty in sorted(lines.items()):
            where = fields[sku]
            try:
                quote = self.wiring.quote(uow, sku, channel)
            except DomainError as error:
                raise _refield(error, f"{where}.sku") from None
            if quote.price.currency != order.currency:
                raise Invalid(
                    "currency_mismatch",
                    f"{where}.sku: {sku} is priced in {quote.price.currency}, the order was "
                    f"paid in {order.currency}",
                    f"{where}.sku",
                )
            shortage = inventory.available(repo, location.id, sku, now=ctx.now) < qty
            if shortage and address is not None and self.place is not None:
                elsewhere[sku] = qty
                continue
            try:
                lease = inventory.reserve(
                    repo, ctx, location.id, sku, qty, key=f"{key}/{sku}", ref=key
                )
                inventory.commit_reservation(repo, ctx, lease.id, reason="sale", ref=key)
            except DomainError as error:
                raise _refield(error, f"{where}.qty") from None
            sold.append(
                SaleLine(
                    sku, qty, quote.price, quote.price.times(qty), location.id, "in_store", lease.id
                )
            )
        order_id = None
        if elsewhere and address is not None and self.place is not None:
            placed = self._endless_aisle(
                uow, order, customer_id, location, channel, elsewhere, fields, key, actor, address
            )
            order_id = placed.id
            sold.extend(placed_lines(placed))
        total = Money(sum(line.total.amount for line in sold), order.currency)
        return Sale(tuple(sold), total, order_id)

    def _endless_aisle(
        self,
        uow: UnitOfWork,
        order: SoldOrder,
        customer_id: str | None,
        location: Location,
        channel: str,
        wanted: Mapping[str, int],
        fields: Mapping[str, str],
        key: str,
        actor: str,
        address: Address,
    ) -> Order:
        skus = sorted(wanted)
        value = sum(self.wiring.quote(uow, sku, channel).price.amount * wanted[sku] for sku in skus)
        assert self.place is not None
        try:
            placed, _ = self.place(
                uow,
                PlaceOrder(
                    channel=channel,
                    location_id=location.id,
                    customer_id=customer_id,
                    groups=(
                        GroupIn(
                            "endless_aisle",
                            tuple(LineIn(sku, wanted[sku]) for sku in skus),
                            address=address,
                        ),
                    ),
                    payment=Payment("exchange", Money(value, order.currency)),
                    external_ref=f"exchange of {order.id}"[:100],
                ),
                key=f"{key}/endless_aisle",
                actor=actor,
            )
        except DomainError as error:
            found = ORDER_FIELD.match(error.field or "")
            if found is None:
                raise
            field = f"{fields[skus[int(found.group(1))]]}.{found.group(2)}"
            raise type(error)(error.code, f"{field}: {error.message}", field) from None
        return placed


def placed_lines(placed: Order) -> list[SaleLine]:
    """An endless-aisle order's lines as sale lines, each from where it is held."""
    held = {a.line_no: a.location_id for a in placed.allocations}
    return [
        SaleLine(
            line.sku,
            line.qty,
            line.unit_price,
            line.total,
            held.get(line.line_no, ""),
            "endless_aisle",
        )
        for line in placed.lines
    ]


# -- after-sales ---------------------------------------------------------------------------------


def fingerprint(request: ReturnRequest | ExchangeRequest) -> str:
    text = json.dumps(asdict(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(found: Return | Exchange, print_: str, key: str) -> None:
    if found.fingerprint != print_:
        kind = "return" if isinstance(found, Return) else "exchange"
        raise Conflict(
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} recorded {kind} {found.id} for another request; use a new "
            "key for a new one",
            "Idempotency-Key",
        )


def _channel(value: str | None, location: Location, order: SoldOrder, walk_in: str) -> str:
    if value is not None:
        if not CHANNEL.match(value):
            raise Invalid("invalid_channel", "channel must be a lower-case name", "channel")
        return value
    return walk_in if location.kind == "store" else order.channel


class Aftersales:
    def __init__(
        self, wiring: Wiring, policy: AftersalesPolicy, seller: Seller | None = None
    ) -> None:
        self.wiring = wiring
        self.policy = policy
        self.seller: Seller = seller or CounterSeller(wiring)

    def loyalty_context(self, uow: UnitOfWork, actor: str) -> loyalty.Context:
        return loyalty.Context(actor, uow.clock.now(), uow.raise_event, self.policy.loyalty)

    # -- returns ---------------------------------------------------------------------------

    def _order(self, uow: UnitOfWork, order_id: str) -> SoldOrder:
        found = self.wiring.orders(uow).sold_order(order_id)
        if found is None:
            raise NotFound("order_not_found", f"no order {order_id}", "order_id")
        return found

    def _location(self, uow: UnitOfWork, location_id: str) -> Location:
        place = get_location(self.wiring.stock(uow), location_id)
        if not place.active:
            raise Conflict(
                "location_inactive", f"location {location_id!r} is not active", "location_id"
            )
        if not place.can("accept_returns"):
            raise Conflict(
                "returns_not_accepted",
                f"{place.name} does not accept returns (no accept_returns capability)",
                "location_id",
            )
        return place

    def accept_return(
        self, uow: UnitOfWork, request: ReturnRequest, *, key: str | None, actor: str
    ) -> tuple[Return, bool]:
        """Take lines of an order back at a location; (the return, True when it was already
        recorded under `key`)."""
        key = returns.check_key(key) or new_id()
        print_ = fingerprint(request)
        repo = self.wiring.returns(uow)
        repo.lock_key(f"return:{key}")
        found = repo.return_by_key(key)
        if found is not None:
            _replay(found, print_, key)
            return found, True
        returns.check_refund_to(request.refund_to)
        made = self._take_back(
            uow, request, key=key, print_=print_, actor=actor, refund_to=request.refund_to
        )
        return made, False

    def _take_back(
        self,
        uow: UnitOfWork,
        request: ReturnRequest,
        *,
        key: str,
        print_: str,
        actor: str,
        refund_to: str,
        exchange_id: str | None = None,
        field: str = "lines",
    ) -> Return:
        now = uow.clock.now()
        repo = self.wiring.returns(uow)
        order = self._order(uow, request.order_id)
        location = self._location(uow, request.location_id)
        channel = _channel(request.channel, location, order, self.policy.walk_in_channel)
        staff = returns.check_text(request.staff, "staff", returns.STAFF_MAX)
        note = returns.check_text(request.note, "note", returns.NOTE_MAX)
        lines = returns.plan_return(
            order,
            request.lines,
            repo.returned(order.id),
            now=now,
            window_days=self.policy.window_days,
            field=field,
        )
        customer_id = self._customer(uow, order)
        if refund_to == "store_credit" and customer_id is None:
            raise Invalid(
                "customer_required", "store credit needs an order with a customer", "refund_to"
            )
        bought = order.bought()
        return_id = new_id()
        # Rows are taken in SKU order, so two returns (or exchanges) never wait on each other
        # in opposite orders: the stock balances first, then what came back of each SKU.
        stock, ctx = self.wiring.stock(uow), self.wiring.stock_context(uow, actor)
        units: dict[str, tuple[int, int]] = {}
        for index, line in enumerate(lines):
            units[line.sku] = (units.get(line.sku, (0, 0))[0] + line.qty, index)
        for sku in sorted(units):
            stock.lock_level(location.id, sku)
        for sku, (qty, index) in sorted(units.items()):
            if not repo.count_returned(order.id, sku, qty, bought[sku], now):
                left = bought[sku] - repo.returned(order.id).get(sku, 0)
                raise Conflict(
                    "over_return",
                    f"{field}[{index}].qty: only {max(left, 0)} of {sku} may still be returned",
                    f"{field}[{index}].qty",
                )
        moved: dict[int, int] = {}
        for index in sorted(range(len(lines)), key=lambda i: (lines[i].sku, i)):
            line = lines[index]
            moved[index] = inventory.receive(
                stock, ctx, location.id, line.sku, line.qty,
                bucket=returns.BUCKET_OF[line.condition], reason="return", ref=return_id,
            ).id  # fmt: skip
        received = [replace(line, movement_id=moved[i]) for i, line in enumerate(lines)]
        value = returns.refund_total(received, order.currency)
        points = self._points_due(uow, order, customer_id, value)
        made = Return(
            id=return_id,
            key=key,
            fingerprint=print_,
            order_id=order.id,
            customer_id=customer_id,
            order_channel=order.channel,
            channel=channel,
            location_id=location.id,
            refund_to=refund_to,
            refund=value,
            tender=order.payment_method if refund_to == "original" else None,
            points_reversed=points,
            lines=tuple(received),
            actor=actor,
            created_at=now,
            exchange_id=exchange_id,
            staff=staff,
            note=note,
        )
        repo.add_return(made)
        uow.raise_event(
            ReturnAccepted(
                made.id, order.id, customer_id, order.channel, channel, location.id,
                sum(line.qty for line in received), value.amount, value.currency, refund_to, now,
                exchange_id,
            )
        )  # fmt: skip
        if points > 0 and customer_id is not None:
            loyalty.reverse(
                self.wiring.loyalty(uow), self.loyalty_context(uow, actor), customer_id, points,
                key=f"return:{return_id}", channel=channel, order_id=order.id,
                return_id=return_id, location_id=location.id,
            )  # fmt: skip
        if refund_to in returns.REFUND_TO and value.amount > 0:
            self._refund(uow, made, order, value, refund_to, actor, return_id=made.id)
        return made

    def _customer(self, uow: UnitOfWork, order: SoldOrder) -> str | None:
        if order.customer_id is None:
            return None
        return self.wiring.canonical(uow, order.customer_id)

    def _points_due(
        self, uow: UnitOfWork, order: SoldOrder, customer_id: str | None, value: Money
    ) -> int:
        """The points a return refunding `value` takes back: pro rata of what the order
        earned, the running total recomputed each time so the parts add up to the whole."""
        if customer_id is None or value.amount <= 0:
            return 0
        repo = self.wiring.loyalty(uow)
        account = repo.account_of(customer_id)
        if account is None:
            return 0
        by_kind = repo.order_points(repo.members(account.id), order.id)
        earned, reversed_ = by_kind.get("earn", 0), -by_kind.get("reverse", 0)
        refunded = sum(r.refund.amount for r in self.wiring.returns(uow).returns(order_id=order.id))
        basis = order.received_total.amount
        return max(0, loyalty.reversal(earned, basis, 0, refunded + value.amount) - reversed_)

    def _refund(
        self,
        uow: UnitOfWork,
        made: Return,
        order: SoldOrder,
        amount: Money,
        method: str,
        actor: str,
        *,
        return_id: str | None = None,
        exchange_id: str | None = None,
    ) -> Refund:
        refund = Refund(
            new_id(),
            order.id,
            made.customer_id,
            amount,
            method,
            order.payment_method if method == "original" else None,
            uow.clock.now(),
            return_id,
            exchange_id,
        )
        if method == "store_credit":
            if made.customer_id is None:
                raise Invalid(
                    "customer_required", "store credit needs an order with a customer", "refund_to"
                )
            loyalty.issue_credit(
                self.wiring.loyalty(uow), self.loyalty_context(uow, actor), made.customer_id,
                amount, key=f"refund:{refund.id}", channel=made.channel,
                location_id=made.location_id, order_id=order.id, return_id=return_id,
                exchange_id=exchange_id,
            )  # fmt: skip
        self.wiring.returns(uow).add_refund(refund)
        uow.raise_event(
            RefundIssued(
                refund.id, order.id, made.customer_id, amount.amount, amount.currency, method,
                made.channel, made.location_id, refund.created_at, return_id, exchange_id,
            )
        )  # fmt: skip
        return refund

    # -- exchanges -------------------------------------------------------------------------

    def exchange(
        self, uow: UnitOfWork, request: ExchangeRequest, *, key: str | None, actor: str
    ) -> tuple[Exchange, bool]:
        """Take lines back and sell others at the same location, in this unit of work; (the
        exchange, True when it was already recorded under `key`)."""
        key = returns.check_key(key) or new_id()
        print_ = fingerprint(request)
        repo = self.wiring.returns(uow)
        repo.lock_key(f"exchange:{key}")
        found = repo.exchange_by_key(key)
        if found is not None:
            _replay(found, print_, key)
            return found, True
        refund_to = returns.check_refund_to(request.refund_to)
        wanted = returns.check_new_lines(request.new_lines)
        fields: dict[str, str] = {}
        for index, line in enumerate(request.new_lines):
            fields.setdefault(line.sku, f"new_lines[{index}]")
        payment = returns.check_text(request.payment_method, "payment_method", 40)
        exchange_id = new_id()
        stock = self.wiring.stock(uow)
        for sku in sorted({line.sku for line in request.lines} | set(wanted)):
            # Both sides' balances at the store, in SKU order: an exchange of M for L and
            # another of L for M never wait on each other.
            stock.lock_level(request.location_id, sku)
        back = self._take_back(
            uow,
            ReturnRequest(
                request.order_id, request.location_id, request.lines, "exchange",
                request.channel, request.staff, request.note,
            ),
            key=f"exchange:{key}", print_=print_, actor=actor, refund_to="exchange",
            exchange_id=exchange_id,
        )  # fmt: skip
        order = self._order(uow, request.order_id)
        location = self._location(uow, request.location_id)
        sale = self.seller.sell(
            uow, order=order, customer_id=back.customer_id, location=location,
            channel=back.channel, lines=wanted, fields=fields, key=f"exchange:{exchange_id}",
            actor=actor, address=request.address,
        )  # fmt: skip
        difference, settlement = returns.settle(back.refund, sale.total)
        if settlement == "refunded":
            self._refund(
                uow, back, order, Money(-difference.amount, difference.currency), refund_to,
                actor, exchange_id=exchange_id,
            )  # fmt: skip
        # Items shipped from elsewhere earn with their order, when it is delivered.
        counter = Money(
            sum(line.total.amount for line in sale.lines if line.fulfilment == "in_store"),
            sale.total.currency,
        )
        points = 0
        if back.customer_id is not None:
            points = loyalty.points_for(counter, back.channel, self.policy.loyalty)
            if points > 0:
                loyalty.earn(
                    self.wiring.loyalty(uow), self.loyalty_context(uow, actor), back.customer_id,
                    points, key=f"exchange:{exchange_id}", channel=back.channel,
                    location_id=location.id, exchange_id=exchange_id,
                )  # fmt: skip
        made = Exchange(
            id=exchange_id,
            key=key,
            fingerprint=print_,
            order_id=order.id,
            return_id=back.id,
            customer_id=back.customer_id,
            channel=back.channel,
            location_id=location.id,
            returned_value=back.refund,
            new_value=sale.total,
            difference=difference,
            settlement=settlement,
            refund_to=refund_to,
            lines=sale.lines,
            points_earned=points,
            actor=actor,
            created_at=uow.clock.now(),
            new_order_id=sale.order_id,
            payment_method=payment if settlement == "charged" else None,
            staff=back.staff,
        )
        repo.add_exchange(made)
        uow.raise_event(
            ExchangeCompleted(
                made.id, back.id, order.id, made.customer_id, made.channel, location.id,
                back.refund.amount, sale.total.amount, difference.amount, difference.currency,
                settlement, made.created_at, sale.order_id,
            )
        )  # fmt: skip
        return made, False

    # -- reading ---------------------------------------------------------------------------

    def loyalty_of(
        self, uow: UnitOfWork, customer_id: str, *, limit: int = 50, before: str | None = None
    ) -> LoyaltyView:
        repo = self.wiring.loyalty(uow)
        policy = self.policy.loyalty
        account = repo.account_of(customer_id)
        if account is None:
            return LoyaltyView(
                customer_id, None, 0, Money(0, policy.currency), policy.base_tier, 0,
                _next_tier(0, policy), (),
            )  # fmt: skip
        members = repo.members(account.id)
        since = uow.clock.now() - timedelta(days=policy.window_days)
        rolling = repo.tier_points(members, since)
        return LoyaltyView(
            customer_id, account, account.points, account.credit, account.tier, rolling,
            _next_tier(rolling, policy),
            tuple(repo.entries(members, limit=limit, before=before)),
        )  # fmt: skip

    def customer_commerce(
        self, uow: UnitOfWork, customer_id: str, members: Collection[str], *, recent: int = 5
    ) -> CommerceSummary:
        """Open carts, recent orders, pickups waiting, returns, exchanges and loyalty of the
        customer `customer_id` and the profiles merged into it (`members`)."""
        history = self.wiring.history(uow)
        ids = sorted({customer_id, *members})
        carts = [history.cart_of(f"c:{member}") for member in ids]
        orders = history.orders(customer_ids=ids, limit=50)
        pickups = tuple(
            (order, group)
            for order in orders
            for group in order.groups
            if group.type == "pickup" and group.status in PENDING_PICKUP
        )
        repo = self.wiring.returns(uow)
        return CommerceSummary(
            open_carts=tuple(c for c in carts if c is not None and c.status == "open"),
            recent_orders=tuple(orders[:recent]),
            pending_pickups=pickups,
            returns=tuple(repo.returns(customer_ids=ids, limit=recent)),
            exchanges=tuple(repo.exchanges(customer_ids=ids, limit=recent)),
            loyalty=self.loyalty_of(uow, customer_id, limit=recent),
        )

    # -- reactions -------------------------------------------------------------------------

    def register(self, bus: MessageBus) -> None:
        bus.subscribe(OrderDelivered, self.on_received)
        bus.subscribe(OrderCollected, self.on_received)
        bus.subscribe(ProfilesMerged, self.on_merged)
        story = CustomerStory(self.wiring.timeline)
        for event_type in STORY:
            bus.subscribe(event_type, story.tell)

    def on_received(self, event: OrderDelivered | OrderCollected, uow: UnitOfWork) -> None:
        """Points for a group of an order that reached its customer, once."""
        if event.customer_id is None:
            return
        order = self.wiring.orders(uow).sold_order(event.order_id)
        customer_id = self.wiring.canonical(uow, event.customer_id)
        if order is None or customer_id is None:
            return
        paid = sum(line.paid.amount for line in order.lines if line.group == event.group)
        points = loyalty.points_for(Money(paid, order.currency), order.channel, self.policy.loyalty)
        if points <= 0:
            return
        loyalty.earn(
            self.wiring.loyalty(uow), self.loyalty_context(uow, "system"), customer_id, points,
            key=f"order:{order.id}:{event.group}", channel=order.channel,
            location_id=event.location_id, order_id=order.id,
        )  # fmt: skip

    def on_merged(self, event: ProfilesMerged, uow: UnitOfWork) -> None:
        loyalty.merge_accounts(
            self.wiring.loyalty(uow),
            self.loyalty_context(uow, "system"),
            event.loser_id,
            event.survivor_id,
            event.merge_id,
        )


def _next_tier(points: int, policy: LoyaltyPolicy) -> tuple[str, int] | None:
    for name, threshold in policy.tiers:
        if threshold > points:
            return name, threshold
    return None


# -- the customer's story ------------------------------------------------------------------------

STORY: dict[type[Event], str] = {
    ReturnAccepted: "Return Accepted",
    RefundIssued: "Refund Issued",
    ExchangeCompleted: "Exchange Completed",
    PointsEarned: "Points Earned",
    PointsBurned: "Points Burned",
    PointsReversed: "Points Reversed",
    PointsAdjusted: "Points Adjusted",
    PointsExpired: "Points Expired",
    StoreCreditIssued: "Store Credit Issued",
    StoreCreditSpent: "Store Credit Spent",
    TierChanged: "Loyalty Tier Changed",
}
"""Each after-sales event and the name it has on the timeline (and for journeys)."""


def _story(event: Event) -> tuple[str, str, str | None, dict[str, Any], datetime]:
    """(message id, channel, location, properties, time) of an event on the timeline."""
    if isinstance(event, ReturnAccepted):
        props: dict[str, Any] = {
            "return_id": event.return_id,
            "order_id": event.order_id,
            "order_channel": event.order_channel,
            "units": event.units,
            "refund": event.refund,
            "currency": event.currency,
            "refund_to": event.refund_to,
            "exchange_id": event.exchange_id,
        }
        return f"return:{event.return_id}", event.channel, event.location_id, props, event.at
    if isinstance(event, RefundIssued):
        props = {
            "refund_id": event.refund_id,
            "order_id": event.order_id,
            "amount": event.amount,
            "currency": event.currency,
            "method": event.method,
            "return_id": event.return_id,
            "exchange_id": event.exchange_id,
        }
        return f"refund:{event.refund_id}", event.channel, event.location_id, props, event.at
    if isinstance(event, ExchangeCompleted):
        props = {
            "exchange_id": event.exchange_id,
            "return_id": event.return_id,
            "order_id": event.order_id,
            "new_order_id": event.new_order_id,
            "returned_value": event.returned_value,
            "new_value": event.new_value,
            "difference": event.difference,
            "currency": event.currency,
            "settlement": event.settlement,
        }
        return f"exchange:{event.exchange_id}", event.channel, event.location_id, props, event.at
    if isinstance(event, LoyaltyChanged):
        props = {
            "entry_id": event.entry_id,
            "points": event.points,
            "credit": event.credit,
            "currency": event.currency,
            "balance": event.balance,
            "credit_balance": event.credit_balance,
            "order_id": event.order_id,
            "return_id": event.return_id,
            "exchange_id": event.exchange_id,
        }
        return f"loyalty:{event.entry_id}", event.channel, event.location_id, props, event.at
    assert isinstance(event, TierChanged)
    props = {"old": event.old, "new": event.new, "points": event.points}
    return f"tier:{event.account_id}:{micros(event.at)}", event.channel, None, props, event.at


class CustomerStory:
    """Writes after-sales events on the customer's timeline, in the event's transaction."""

    def __init__(self, timeline: Callable[[UnitOfWork], TimelineStore]) -> None:
        self.timeline = timeline

    def tell(self, event: Event, uow: UnitOfWork) -> None:
        customer_id = getattr(event, "customer_id", None)
        if not customer_id:
            return
        name = STORY[type(event)]
        message_id, channel, location_id, properties, when = _story(event)
        store = self.timeline(uow)
        (event_id,) = store.allocate_ids(1)
        at = micros(when)
        context = {"channel": channel, "location_id": location_id}
        row = {
            "id": event_id,
            "source_id": TIMELINE_SOURCE,
            "message_id": message_id,
            "profile_id": customer_id,
            "type": "track",
            "event": name,
            "name": None,
            "channel": channel,
            "ts": at,
            "received_at": at,
            "user_id": None,
            "anonymous_id": None,
            "properties": {**properties, "location_id": location_id},
            "context": context,
            "traits": None,
        }
        store.insert_events([row])
        uow.raise_event(EventsStored((row,)))

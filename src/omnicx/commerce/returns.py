"""Returns and exchanges: what may come back, what it refunds, and how an exchange settles.
Pure rules (facts in, decisions out) and the ports the wired after-sales service needs; no
SQL here.

    return      lines of one order come back at any location that accepts returns, whatever
                channel sold them; each unit is resellable (received into sellable at that
                location) or damaged (into its damaged bucket)
    window      OMNICX_RETURN_WINDOW_DAYS from when the order reached the customer (delivered
                or collected); only lines the customer has (their group delivered or
                collected) come back
    refund      what was paid for the units, pro rata of the line's paid amount (promotions
                included); the rounding is carried so that returning every unit of a line, in
                any number of returns, refunds exactly what was paid for it
    refund_to   original (the order's tender) | store_credit (a balance on the customer's
                loyalty account) | exchange (the value went towards an exchange's new items)
    exchange    a return and a new sale at one location in one unit of work; the difference
                (new value - returned value) is charged when above zero, refunded to
                `refund_to` when below, and nothing when even; new items the store lacks are
                sold as an endless-aisle order shipped from the network to `address`
"""

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from omnicx.commerce.model import Money
from omnicx.commerce.orders import Address
from omnicx.kernel import Conflict, Invalid

CONDITIONS: tuple[str, ...] = ("resellable", "damaged")
BUCKET_OF: dict[str, str] = {"resellable": "sellable", "damaged": "damaged"}
"""The inventory bucket a returned unit goes into, by its condition."""
REFUND_TO: tuple[str, ...] = ("original", "store_credit")
SETTLEMENTS: tuple[str, ...] = ("charged", "refunded", "even")
RECEIVED: frozenset[str] = frozenset({"delivered", "collected"})
"""Where a line must be to come back: with the customer (a parcel still on its way is the
carrier's to bring back)."""
CANCELLED = "cancelled"

REASON = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_LINES = 100
MAX_QTY = 10_000
NOTE_MAX = 1000
STAFF_MAX = 200


# -- what was sold (as the orders' side tells it) ------------------------------------------------


@dataclass(frozen=True)
class SoldLine:
    """A line of an order: `qty` units of `sku`, what was paid for all of them after every
    promotion and order discount, and where its fulfilment group stands."""

    sku: str
    qty: int
    paid: Money
    status: str = "delivered"
    group: int = 0


@dataclass(frozen=True)
class SoldOrder:
    id: str
    customer_id: str | None
    channel: str
    location_id: str | None
    """Where it was sold (a store order) or fulfilled from, when known."""
    status: str
    currency: str
    placed_at: datetime
    received_at: datetime | None
    """When the customer last got goods of it: delivered or collected."""
    payment_method: str | None
    lines: tuple[SoldLine, ...]

    def bought(self) -> dict[str, int]:
        """Units of each SKU the customer received."""
        found: dict[str, int] = {}
        for line in self.lines:
            if line.status in RECEIVED:
                found[line.sku] = found.get(line.sku, 0) + line.qty
        return found

    def paid(self) -> dict[str, int]:
        """What was paid for the units of each SKU the customer received."""
        found: dict[str, int] = {}
        for line in self.lines:
            if line.status in RECEIVED:
                found[line.sku] = found.get(line.sku, 0) + line.paid.amount
        return found

    @property
    def received_total(self) -> Money:
        return Money(sum(self.paid().values()), self.currency)

    @property
    def total(self) -> Money:
        return Money(sum(line.paid.amount for line in self.lines), self.currency)


class OrderSource(Protocol):
    """The orders as after-sales reads them."""

    def sold_order(self, order_id: str) -> SoldOrder | None: ...


# -- returns -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRequest:
    sku: str
    qty: int
    reason: str
    condition: str


@dataclass(frozen=True)
class ReturnRequest:
    order_id: str
    location_id: str
    lines: tuple[LineRequest, ...]
    refund_to: str = "original"
    channel: str | None = None
    """Where the return was taken: the location's own channel when None."""
    staff: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ReturnLine:
    sku: str
    qty: int
    reason: str
    condition: str
    refund: Money
    movement_id: int | None = None


@dataclass(frozen=True)
class Return:
    id: str
    key: str
    fingerprint: str
    order_id: str
    customer_id: str | None
    order_channel: str
    channel: str
    location_id: str
    refund_to: str
    """original, store_credit, or exchange."""
    refund: Money
    tender: str | None
    """The order's payment method a refund to the original goes back to."""
    points_reversed: int
    lines: tuple[ReturnLine, ...]
    actor: str
    created_at: datetime
    exchange_id: str | None = None
    staff: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Refund:
    """Money going back to the customer: for a return, or for an exchange that cost less."""

    id: str
    order_id: str
    customer_id: str | None
    amount: Money
    method: str
    """original or store_credit."""
    tender: str | None
    created_at: datetime
    return_id: str | None = None
    exchange_id: str | None = None


# -- exchanges -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewLine:
    sku: str
    qty: int


@dataclass(frozen=True)
class ExchangeRequest:
    """Take `lines` of an order back at `location_id` and sell `new_lines` there instead."""

    order_id: str
    location_id: str
    lines: tuple[LineRequest, ...]
    new_lines: tuple[NewLine, ...]
    refund_to: str = "original"
    """Where the difference goes when the new items cost less."""
    payment_method: str | None = None
    """How a difference the customer owes is paid (recorded, not processed)."""
    channel: str | None = None
    staff: str | None = None
    note: str | None = None
    address: Address | None = None
    """Where new items the store does not have go (endless aisle); without one, the store
    must have every new item."""


@dataclass(frozen=True)
class SaleLine:
    """One line of an exchange's new sale: its price at the location's channel, and where the
    units left from (`fulfilment` in_store, or endless_aisle when they ship from elsewhere)."""

    sku: str
    qty: int
    unit_price: Money
    total: Money
    location_id: str
    fulfilment: str = "in_store"
    reservation_id: str | None = None


@dataclass(frozen=True)
class Sale:
    lines: tuple[SaleLine, ...]
    total: Money
    order_id: str | None = None
    """The order the new sale was placed as, when the orders' selling service made one."""


@dataclass(frozen=True)
class Exchange:
    id: str
    key: str
    fingerprint: str
    order_id: str
    return_id: str
    customer_id: str | None
    channel: str
    location_id: str
    returned_value: Money
    new_value: Money
    difference: Money
    """new - returned: above zero charged, below zero refunded."""
    settlement: str
    refund_to: str
    lines: tuple[SaleLine, ...]
    points_earned: int
    actor: str
    created_at: datetime
    new_order_id: str | None = None
    payment_method: str | None = None
    staff: str | None = None


class ReturnsRepository(Protocol):
    def lock_key(self, key: str) -> None:
        """Hold other requests with the same key off until this transaction ends, so a replay
        finds what the first one wrote (PostgreSQL; SQLite has one writer)."""

    def return_by_key(self, key: str) -> Return | None: ...

    def get_return(self, return_id: str) -> Return | None: ...

    def returns(
        self,
        *,
        customer_ids: Collection[str] | None = None,
        order_id: str | None = None,
        location_id: str | None = None,
        limit: int = 100,
    ) -> list[Return]:
        """Newest first."""

    def returned(self, order_id: str) -> dict[str, int]:
        """Units of each SKU of the order returned so far."""

    def count_returned(self, order_id: str, sku: str, qty: int, bought: int, now: datetime) -> bool:
        """Add `qty` to what was returned of `sku` in one conditional write; False, with
        nothing changed, when that would be more than `bought`."""

    def add_return(self, item: Return) -> None: ...

    def set_movement(self, return_id: str, index: int, movement_id: int) -> None: ...

    def add_refund(self, refund: Refund) -> None: ...

    def refunds(
        self, *, return_id: str | None = None, exchange_id: str | None = None
    ) -> list[Refund]: ...

    def exchange_by_key(self, key: str) -> Exchange | None: ...

    def get_exchange(self, exchange_id: str) -> Exchange | None: ...

    def exchanges(
        self, *, customer_ids: Collection[str] | None = None, limit: int = 100
    ) -> list[Exchange]: ...

    def add_exchange(self, item: Exchange) -> None: ...


# -- rules ---------------------------------------------------------------------------------------


def share(paid: int, bought: int, before: int, qty: int) -> int:
    """What `qty` more units of a line refund when `before` came back already: the cumulative
    pro rata amount after, less the one before, so the parts always add up to `paid`."""
    return paid * (before + qty) // bought - paid * before // bought


def check_key(key: str | None, field: str = "Idempotency-Key") -> str | None:
    if key is None:
        return None
    clean = key.strip()
    if not clean or len(clean) > 200:
        raise Invalid("invalid_idempotency_key", f"{field} must be 1 to 200 characters", field)
    return clean


def check_text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    clean = value.strip()
    if not clean:
        return None
    if len(clean) > limit:
        raise Invalid(f"invalid_{field}", f"{field} must be at most {limit} characters", field)
    return clean


def check_refund_to(value: str, field: str = "refund_to") -> str:
    if value not in REFUND_TO:
        raise Invalid("invalid_refund_to", f"{field} must be one of {', '.join(REFUND_TO)}", field)
    return value


def _qty(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QTY:
        raise Invalid("invalid_qty", f"{field} must be a whole number from 1 to {MAX_QTY}", field)
    return value


def received_at(order: SoldOrder) -> datetime:
    return order.received_at or order.placed_at


def check_returnable(order: SoldOrder, now: datetime, window_days: int) -> None:
    """Whether the order may take a return now: with the customer, and inside the window."""
    if order.status == CANCELLED:
        raise Conflict("order_cancelled", f"order {order.id} was cancelled", "order_id")
    if not any(line.status in RECEIVED for line in order.lines):
        raise Conflict(
            "order_not_received",
            f"order {order.id} is {order.status}: it has not reached the customer yet",
            "order_id",
        )
    closes = received_at(order) + timedelta(days=window_days)
    if window_days > 0 and now > closes:
        raise Conflict(
            "return_window_closed",
            f"returns of order {order.id} closed on {closes.date().isoformat()} "
            f"({window_days} days after it was received)",
            "order_id",
        )


def plan_return(
    order: SoldOrder,
    lines: Sequence[LineRequest],
    returned: Mapping[str, int],
    *,
    now: datetime,
    window_days: int,
    field: str = "lines",
) -> tuple[ReturnLine, ...]:
    """The lines of a return of `order`, each with its refund; every refusal names the field
    (`lines[1].qty`). `returned` holds the units of each SKU returned so far."""
    check_returnable(order, now, window_days)
    if not lines:
        raise Invalid("invalid_lines", f"{field}: return at least one line", field)
    if len(lines) > MAX_LINES:
        raise Invalid("invalid_lines", f"{field}: at most {MAX_LINES} lines", field)
    bought, paid = order.bought(), order.paid()
    on_order = {line.sku: line.status for line in order.lines}
    taken = dict(returned)
    planned: list[ReturnLine] = []
    for index, line in enumerate(lines):
        where = f"{field}[{index}]"
        if line.sku not in on_order:
            raise Invalid(
                "not_on_order",
                f"{where}.sku: {line.sku!r} is not on order {order.id}",
                f"{where}.sku",
            )
        if line.sku not in bought:
            raise Conflict(
                "line_not_received",
                f"{where}.sku: {line.sku} is {on_order[line.sku]}, not with the customer",
                f"{where}.sku",
            )
        qty = _qty(line.qty, f"{where}.qty")
        if line.condition not in CONDITIONS:
            raise Invalid(
                "invalid_condition",
                f"{where}.condition must be one of {', '.join(CONDITIONS)}",
                f"{where}.condition",
            )
        if not isinstance(line.reason, str) or not REASON.match(line.reason):
            raise Invalid(
                "invalid_reason",
                f"{where}.reason must be a lower-case code such as wrong_size",
                f"{where}.reason",
            )
        before = taken.get(line.sku, 0)
        left = bought[line.sku] - before
        if qty > left:
            raise Conflict(
                "over_return",
                f"{where}.qty: only {left} of {line.sku} may still be returned "
                f"(bought {bought[line.sku]}, returned {before})",
                f"{where}.qty",
            )
        refund = share(paid[line.sku], bought[line.sku], before, qty)
        taken[line.sku] = before + qty
        planned.append(
            ReturnLine(line.sku, qty, line.reason, line.condition, Money(refund, order.currency))
        )
    return tuple(planned)


def refund_total(lines: Sequence[ReturnLine], currency: str) -> Money:
    return Money(sum(line.refund.amount for line in lines), currency)


def check_new_lines(lines: Sequence[NewLine], field: str = "new_lines") -> dict[str, int]:
    """The new items of an exchange, same-SKU lines added up."""
    if not lines:
        raise Invalid("invalid_lines", f"{field}: give at least one new line", field)
    if len(lines) > MAX_LINES:
        raise Invalid("invalid_lines", f"{field}: at most {MAX_LINES} lines", field)
    wanted: dict[str, int] = {}
    for index, line in enumerate(lines):
        qty = _qty(line.qty, f"{field}[{index}].qty")
        if not isinstance(line.sku, str) or not line.sku.strip() or len(line.sku) > 64:
            path = f"{field}[{index}].sku"
            raise Invalid("invalid_sku", f"{path} must be 1 to 64 characters", path)
        wanted[line.sku] = wanted.get(line.sku, 0) + qty
    return wanted


def settle(returned: Money, new: Money) -> tuple[Money, str]:
    """The difference of an exchange (new - returned) and how it is settled."""
    difference = new - returned
    if difference.amount > 0:
        return difference, "charged"
    if difference.amount < 0:
        return difference, "refunded"
    return difference, "even"

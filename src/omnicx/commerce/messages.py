"""Commerce messages: events (past tense), commands (imperative) and the queries commerce
asks on the bus.

Catalog and prices:
    ProductCreated, ProductChanged       a product's details, variants or status changed
    ListingChanged                       a product's listing on a channel changed
    PriceChanged                         a base price, override or promotion changed the
                                         book (`kind` says which); stores refresh from it
    DemandRecorded                       a request for an item was counted

Inventory:
    StockReserved                        a lease on stock was taken
    ReservationReleased                  a lease ended unsold (released or expired)
    StockMoved                           one movement of the stock ledger

Orders (each with the customer, the order's channel and the location):
    OrderPlaced                          an order was placed and its stock held
    OrderReadyForPickup                  a click-and-collect group waits at its store
    OrderCollected, OrderShipped         a group's stock left (collected, or shipped)
    OrderDelivered, OrderCancelled       a shipped group arrived; a group was cancelled

Asked by the catalog, answered by inventory when it is wired (no answer: no locations and
no stock known):
    ListLocations       -> list[LocationView]
    CountAvailable      -> dict[(location_id, sku), int]  sellable now
"""

from dataclasses import dataclass
from datetime import datetime

from omnicx.kernel import Command, Event, Query

# -- catalog and prices ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductCreated(Event):
    product_id: str
    handle: str
    kind: str


@dataclass(frozen=True)
class ProductChanged(Event):
    product_id: str
    handle: str
    status: str


@dataclass(frozen=True)
class ListingChanged(Event):
    product_id: str
    channel: str
    published: bool
    purchasable: bool


@dataclass(frozen=True)
class PriceChanged(Event):
    """`kind` is base, override, override_withdrawn, promotion or promotion_ended; `sku` is
    None for a promotion over several items."""

    kind: str
    sku: str | None
    channel: str | None
    ref: str


@dataclass(frozen=True)
class RecordDemand(Command):
    """Count one request for an item that could not be had: a search (`query` when it named
    no SKU), an agent asked, a store associate asked. Carries no customer data."""

    channel: str
    source: str
    sku: str | None = None
    query: str | None = None
    location_id: str | None = None


@dataclass(frozen=True)
class DemandRecorded(Event):
    sku: str | None
    channel: str
    location_id: str | None
    source: str


# -- asked of inventory ------------------------------------------------------------------------


@dataclass(frozen=True)
class ListLocations(Query):
    """Every location, as `LocationView`s."""


@dataclass(frozen=True)
class CountAvailable(Query):
    """Sellable stock now of each SKU, per location: {(location_id, sku): quantity}; a pair
    left out holds none."""

    skus: tuple[str, ...]


# -- inventory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockReserved(Event):
    reservation_id: str
    location_id: str
    sku: str
    qty: int
    expires_at: datetime
    ref: str | None


@dataclass(frozen=True)
class ReservationReleased(Event):
    """A lease ended without a sale: `status` released (by the caller) or expired."""

    reservation_id: str
    location_id: str
    sku: str
    qty: int
    status: str


@dataclass(frozen=True)
class StockMoved(Event):
    """One ledger movement (None bucket: in from, or out to, the outside world); a committed
    reservation's sale or shipment names it."""

    movement_id: int
    location_id: str
    sku: str
    from_bucket: str | None
    to_bucket: str | None
    qty: int
    reason: str
    ref: str | None
    reservation_id: str | None = None


# -- orders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderPlaced(Event):
    """An order was placed on `channel` (at `location_id` for a store sale) and its stock held."""

    order_id: str
    customer_id: str | None
    channel: str
    location_id: str | None
    total: int
    currency: str
    fulfilments: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class OrderReadyForPickup(Event):
    """A click-and-collect group waits at the store `location_id` until `pickup_by`."""

    order_id: str
    group: int
    customer_id: str | None
    channel: str
    location_id: str | None
    pickup_by: datetime | None
    at: datetime


@dataclass(frozen=True)
class OrderCollected(Event):
    order_id: str
    group: int
    customer_id: str | None
    channel: str
    location_id: str | None
    at: datetime


@dataclass(frozen=True)
class OrderShipped(Event):
    """A group left `location_id` (the first location it was held at) for the customer."""

    order_id: str
    group: int
    customer_id: str | None
    channel: str
    location_id: str | None
    tracking: str | None
    at: datetime


@dataclass(frozen=True)
class OrderDelivered(Event):
    order_id: str
    group: int
    customer_id: str | None
    channel: str
    location_id: str | None
    at: datetime


@dataclass(frozen=True)
class OrderCancelled(Event):
    """A group was cancelled and its stock released."""

    order_id: str
    group: int
    customer_id: str | None
    channel: str
    location_id: str | None
    at: datetime


# -- returns, exchanges and loyalty --------------------------------------------------------------


@dataclass(frozen=True)
class ReturnAccepted(Event):
    """Units of an order came back at `location_id` (taken on `channel`, whatever channel sold
    them); `refund` minor units went back by `refund_to` (original, store_credit, exchange)."""

    return_id: str
    order_id: str
    customer_id: str | None
    order_channel: str
    channel: str
    location_id: str
    units: int
    refund: int
    currency: str
    refund_to: str
    at: datetime
    exchange_id: str | None = None


@dataclass(frozen=True)
class RefundIssued(Event):
    """Money recorded as going back to the customer: to the order's tender or store credit."""

    refund_id: str
    order_id: str
    customer_id: str | None
    amount: int
    currency: str
    method: str
    channel: str
    location_id: str
    at: datetime
    return_id: str | None = None
    exchange_id: str | None = None


@dataclass(frozen=True)
class ExchangeCompleted(Event):
    """A return and a new sale at one location; `difference` (new - returned) was charged
    above zero, refunded below."""

    exchange_id: str
    return_id: str
    order_id: str
    customer_id: str | None
    channel: str
    location_id: str
    returned_value: int
    new_value: int
    difference: int
    currency: str
    settlement: str
    at: datetime
    new_order_id: str | None = None


@dataclass(frozen=True)
class LoyaltyChanged(Event):
    """One ledger entry of a loyalty account; `points` and `credit` are signed, the balances
    are after it."""

    customer_id: str
    account_id: str
    entry_id: str
    points: int
    credit: int
    currency: str
    balance: int
    credit_balance: int
    channel: str
    at: datetime
    location_id: str | None = None
    order_id: str | None = None
    return_id: str | None = None
    exchange_id: str | None = None


@dataclass(frozen=True)
class PointsEarned(LoyaltyChanged):
    pass


@dataclass(frozen=True)
class PointsBurned(LoyaltyChanged):
    pass


@dataclass(frozen=True)
class PointsReversed(LoyaltyChanged):
    """A return took back points its order had earned."""


@dataclass(frozen=True)
class PointsAdjusted(LoyaltyChanged):
    pass


@dataclass(frozen=True)
class PointsExpired(LoyaltyChanged):
    pass


@dataclass(frozen=True)
class StoreCreditIssued(LoyaltyChanged):
    pass


@dataclass(frozen=True)
class StoreCreditSpent(LoyaltyChanged):
    pass


@dataclass(frozen=True)
class TierChanged(Event):
    customer_id: str
    account_id: str
    old: str
    new: str
    points: int
    """The rolling points the new tier was reached (or lost) with."""
    channel: str
    """The channel of the entry that moved it."""
    at: datetime

"""Commerce records: money, the catalog (products, variants, services, channel listings),
the price book (base prices, channel overrides, promotions) and what is asked of them.

    Product kind      product (has variants, each a SKU) | service (codes, a duration, and
                      the capability a location needs to serve it: fitting, installation…)
    Product status    draft → active → archived (archived SKUs stay known to orders)
    Listing           one per product x channel: published, purchasable, in-store-only with
                      the reason shown online, an optional title for that channel
    Price             base (one per SKU and currency) → channel override (with a reason and
                      an optional window) → best promotion for the channel

Money is always integer minor units of an ISO 4217 currency, never a float.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

# -- money -------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Money:
    """An amount in minor units (centavos, cents) of `currency`."""

    amount: int
    currency: str

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, count: int) -> "Money":
        return Money(self.amount * count, self.currency)

    def _same(self, other: "Money") -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def as_json(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}


# -- catalog -----------------------------------------------------------------------------------

Kind = Literal["product", "service"]
KINDS: tuple[str, ...] = ("product", "service")

STATUSES: tuple[str, ...] = ("draft", "active", "archived")


@dataclass(frozen=True)
class ServiceTerms:
    """What serving a service takes: how long, and which location capability."""

    duration_minutes: int
    capability: str | None = None


@dataclass(frozen=True)
class Variant:
    """A sellable unit of a product: its SKU, option values (size, colour) and barcode. A
    service's variants are its codes."""

    sku: str
    product_id: str
    options: dict[str, str] = field(default_factory=dict)
    barcode: str | None = None
    position: int = 0


@dataclass(frozen=True)
class Listing:
    """A product on one channel. `reason` says why it is not purchasable there (required for
    in-store-only, and shown online)."""

    product_id: str
    channel: str
    published: bool
    purchasable: bool
    in_store_only: bool = False
    reason: str | None = None
    title: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class Product:
    id: str
    handle: str
    title: str
    description: str
    kind: str
    status: str
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    service: ServiceTerms | None = None
    variants: tuple[Variant, ...] = ()
    listings: tuple[Listing, ...] = ()

    def listing(self, channel: str) -> Listing | None:
        for listing in self.listings:
            if listing.channel == channel:
                return listing
        return None

    def variant(self, sku: str) -> Variant | None:
        for variant in self.variants:
            if variant.sku == sku:
                return variant
        return None


@dataclass(frozen=True)
class Item:
    """What a SKU names: a product's variant or a service's code, with what selling it needs."""

    sku: str
    product_id: str
    handle: str
    title: str
    kind: str
    status: str
    options: dict[str, str]
    service: ServiceTerms | None = None


@dataclass(frozen=True)
class LocationView:
    """A location as the catalog sees it (inventory keeps the rest): its kind
    (distribution_centre, store, dark_store) and capabilities (ship, pickup, fitting…)."""

    id: str
    name: str
    kind: str
    capabilities: frozenset[str] = frozenset()


# -- the price book ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BasePrice:
    """One version of a SKU's base price; the latest effective one is in force."""

    id: str
    sku: str
    price: Money
    effective_at: datetime
    actor: str


@dataclass(frozen=True)
class PriceOverride:
    """A deliberate channel price, with why; `valid_from`/`valid_to` None are open-ended.
    A withdrawn override keeps its row (price history) and stops applying at `withdrawn_at`."""

    id: str
    sku: str
    channel: str
    price: Money
    reason: str
    valid_from: datetime | None
    valid_to: datetime | None
    created_at: datetime
    created_by: str
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None

    def in_window(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )

    def live_at(self, at: datetime) -> bool:
        """Recorded by `at` and not withdrawn then (whether its window holds is apart)."""
        return self.created_at <= at and (self.withdrawn_at is None or at < self.withdrawn_at)


PromotionKind = Literal["percent", "amount"]
PROMOTION_KINDS: tuple[str, ...] = ("percent", "amount")


@dataclass(frozen=True)
class Promotion:
    """Percent or amount off, for the channels named and the SKUs or products named (none
    named: every item), inside an optional window; with a code it applies only when the code
    is given. Ending one stamps `ended_at`; the row stays."""

    id: str
    name: str
    kind: str
    value: int
    """Percent (1 to 100) or minor units off, by kind."""
    currency: str | None
    """The currency of an amount off; None for a percentage."""
    channels: tuple[str, ...]
    skus: tuple[str, ...]
    product_ids: tuple[str, ...]
    code: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    created_at: datetime
    created_by: str
    ended_at: datetime | None = None
    ended_by: str | None = None

    def in_window(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )

    def live_at(self, at: datetime) -> bool:
        return self.created_at <= at and (self.ended_at is None or at < self.ended_at)

    def covers(self, sku: str, product_id: str | None) -> bool:
        if not self.skus and not self.product_ids:
            return True
        return sku in self.skus or (product_id is not None and product_id in self.product_ids)


@dataclass(frozen=True)
class Quote:
    """The price of one SKU on one channel at one moment, and why it is not the base."""

    sku: str
    channel: str
    base: Money
    price: Money
    reason: str | None
    """The override's reason, else `promotion <name>`; None when the price is the base."""
    promotion: str | None
    """The id of the promotion applied, if any."""
    override: str | None = None
    """The id of the override applied, if any."""
    promotion_name: str | None = None
    at: datetime | None = None


# -- availability and demand -------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """Can `sku` be bought (or served) on `channel` at `location_id`? None location: the
    channel as a whole (its listing). `reason` is a code and `detail` says it in words."""

    sku: str
    channel: str
    location_id: str | None
    available: bool
    reason: str | None = None
    detail: str | None = None
    stock: int | None = None


DemandSource = Literal["search", "agent", "store"]
DEMAND_SOURCES: tuple[str, ...] = ("search", "agent", "store")


@dataclass(frozen=True)
class DemandCount:
    """Requests counted for one day: for a SKU, or a search that named none (`query`)."""

    day: date
    sku: str | None
    query: str | None
    channel: str
    location_id: str | None
    source: str
    count: int


@dataclass(frozen=True)
class Gap:
    """An item not available on a channel (or at a location serving it) while it is
    available elsewhere, with the demand that gap lost."""

    sku: str
    product_id: str
    title: str
    channel: str
    location_id: str | None
    reason: str
    detail: str
    available_elsewhere: tuple[str, ...]
    """Where it is available: channels for a channel gap, locations for a location gap."""
    demand: int = 0
    lost_value: Money | None = None

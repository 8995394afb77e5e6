"""The catalog's rules: products with variants, services, listings per channel, the
availability matrix with its gaps report, demand for what could not be had, and the quote.

    availability cell   item x channel              the listing: inactive | not_listed |
                                                    not_published | in_store_only |
                                                    not_purchasable, or available
                        item x channel x location   no_capability (a service the location
                                                    cannot serve) | out_of_stock, or available

Which locations serve a channel: on a walk-in channel (the store) the store locations; on
the others, locations that ship, ship from store or hand over pickups; a service is served by
stores and by any location holding its capability. Stock comes from inventory through the
bus (`ListLocations`, `CountAvailable`); with no inventory wired only the listings count.
"""

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from omnicx.commerce import pricing
from omnicx.commerce.messages import (
    CountAvailable,
    DemandRecorded,
    ListingChanged,
    ListLocations,
    ProductChanged,
    ProductCreated,
    RecordDemand,
)
from omnicx.commerce.model import (
    DEMAND_SOURCES,
    KINDS,
    STATUSES,
    Cell,
    DemandCount,
    Gap,
    Item,
    Listing,
    LocationView,
    Money,
    Product,
    Quote,
    ServiceTerms,
    Variant,
)
from omnicx.kernel import Conflict, Event, Invalid, MessageBus, NotFound, new_id

HANDLE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
BARCODE = re.compile(r"^[A-Za-z0-9-]{4,48}$")
LOCATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FULFILS = frozenset({"ship", "ship_from_store", "pickup"})
"""Capabilities that let a location serve a channel that is not walk-in."""


class CatalogRepository(pricing.PriceRepository, Protocol):
    def add_product(self, product: Product) -> None: ...

    def update_product(self, product: Product) -> None:
        """Store the product's own fields (not its variants or listings)."""

    def product(self, product_id: str) -> Product | None: ...

    def product_by_handle(self, handle: str) -> Product | None: ...

    def products(
        self,
        *,
        q: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Product]: ...

    def add_variant(self, variant: Variant, now: datetime) -> None: ...

    def update_variant(self, variant: Variant, now: datetime) -> None: ...

    def variant(self, sku: str) -> Variant | None: ...

    def barcode_owner(self, barcode: str) -> str | None:
        """The SKU carrying `barcode`, if any."""

    def item(self, sku: str) -> Item | None: ...

    def items(self, skus: Collection[str] | None = None) -> list[Item]:
        """Items of active products (every item when `skus` is None), by SKU."""

    def put_listing(self, listing: Listing) -> None: ...

    def listings(self, product_ids: Collection[str] | None = None) -> dict[str, list[Listing]]: ...

    def count_demand(self, day: date, command: RecordDemand, now: datetime) -> None:
        """Add one to the day's count of that (sku or query, channel, location, source)."""

    def demand(self, since: date) -> list[DemandCount]: ...


class StockView(Protocol):
    def locations(self) -> list[LocationView]: ...

    def available(self, skus: Sequence[str]) -> Mapping[tuple[str, str], int] | None:
        """Sellable stock per (location_id, sku); None when no inventory answers."""


class BusStockView:
    """Locations and stock asked of inventory on the bus, within the caller's unit of work."""

    def __init__(self, bus: MessageBus, uow: object) -> None:
        self.bus = bus
        self.uow = uow

    def locations(self) -> list[LocationView]:
        found: list[LocationView] = []
        for answer in self.bus.ask(ListLocations(), self.uow):
            found.extend(answer)
        return sorted(found, key=lambda location: location.id)

    def available(self, skus: Sequence[str]) -> Mapping[tuple[str, str], int] | None:
        answers = self.bus.ask(CountAvailable(tuple(skus)), self.uow)
        if not answers:
            return None
        merged: dict[tuple[str, str], int] = {}
        for answer in answers:
            merged.update(answer)
        return merged


@dataclass(frozen=True)
class CatalogConfig:
    channels: tuple[str, ...]
    """The sales channels, in report order."""
    walk_in: frozenset[str]
    """Channels sold at a store's counter."""
    currency: str


# -- products ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantDraft:
    sku: str
    options: dict[str, str] = field(default_factory=dict)
    barcode: str | None = None


@dataclass(frozen=True)
class ProductDraft:
    handle: str
    title: str
    kind: str = "product"
    description: str = ""
    status: str = "active"
    attributes: dict[str, Any] = field(default_factory=dict)
    service: ServiceTerms | None = None
    variants: tuple[VariantDraft, ...] = ()


def _text(value: str, name: str, limit: int, *, required: bool = True) -> str:
    clean = value.strip()
    if (required and not clean) or len(clean) > limit:
        low = 1 if required else 0
        raise Invalid(f"invalid_{name}", f"{name} must be {low} to {limit} characters", name)
    return clean


def _pattern(value: str, pattern: re.Pattern[str], name: str, rule: str) -> str:
    clean = value.strip()
    if not pattern.match(clean):
        raise Invalid(f"invalid_{name}", f"{name} {clean!r} must be {rule}", name)
    return clean


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    if len(values) > 50:
        raise Invalid("invalid_attributes", "at most 50 attributes", "attributes")
    for key, value in values.items():
        if not 1 <= len(key) <= 64:
            raise Invalid(
                "invalid_attributes", "attribute names are 1 to 64 characters", "attributes"
            )
        scalar = isinstance(value, str | int | float | bool) and len(str(value)) <= 1000
        listed = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not (scalar or listed):
            raise Invalid(
                "invalid_attributes",
                f"attribute {key!r} must be text, a number, true/false or a list of text",
                f"attributes.{key}",
            )
    return dict(values)


def _service(kind: str, terms: ServiceTerms | None) -> ServiceTerms | None:
    if kind == "product":
        if terms is not None:
            raise Invalid(
                "not_a_service", "only a service has a duration and capability", "service"
            )
        return None
    if terms is None:
        raise Invalid("service_required", "a service needs its duration_minutes", "service")
    if isinstance(terms.duration_minutes, bool) or not 1 <= terms.duration_minutes <= 10_080:
        raise Invalid(
            "invalid_duration", "duration_minutes must be 1 to 10080", "service.duration_minutes"
        )
    capability = terms.capability
    if capability is not None:
        capability = _pattern(capability, NAME, "capability", "a lower-case name like fitting")
    return ServiceTerms(terms.duration_minutes, capability)


def gtin_valid(code: str) -> bool:
    """The GS1 check digit of an all-digit 8, 12, 13 or 14 digit barcode."""
    body, check = code[:-1], int(code[-1])
    weighted = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - weighted % 10) % 10 == check


def _variant(repo: CatalogRepository, product_id: str, draft: VariantDraft, pos: int) -> Variant:
    sku = _pattern(draft.sku, SKU, "sku", "1 to 64 of letters, digits, . _ -")
    if len(draft.options) > 10:
        raise Invalid("invalid_options", "at most 10 options", "options")
    options: dict[str, str] = {}
    for name, value in draft.options.items():
        key, text = name.strip().lower(), str(value).strip()
        if not 1 <= len(key) <= 40 or not 1 <= len(text) <= 100:
            raise Invalid(
                "invalid_options",
                "option names are 1-40 and values 1-100 characters",
                f"options.{name}",
            )
        options[key] = text
    barcode = None
    if draft.barcode is not None and draft.barcode.strip():
        barcode = _pattern(draft.barcode, BARCODE, "barcode", "4 to 48 letters, digits or -")
        if barcode.isdigit() and len(barcode) in (8, 12, 13, 14) and not gtin_valid(barcode):
            raise Invalid("invalid_barcode", f"barcode {barcode} fails its check digit", "barcode")
        owner = repo.barcode_owner(barcode)
        if owner is not None and owner != sku:
            raise Conflict("barcode_in_use", f"barcode {barcode} is on {owner}", "barcode")
    return Variant(sku, product_id, options, barcode, pos)


def create_product(
    repo: CatalogRepository, draft: ProductDraft, now: datetime
) -> tuple[Product, list[Event]]:
    handle = _pattern(draft.handle, HANDLE, "handle", "lower-case words joined by -")
    if len(handle) > 120:
        raise Invalid("invalid_handle", "handle must be at most 120 characters", "handle")
    if draft.kind not in KINDS:
        raise Invalid("invalid_kind", f"kind must be one of {', '.join(KINDS)}", "kind")
    if draft.status not in STATUSES:
        raise Invalid("invalid_status", f"status must be one of {', '.join(STATUSES)}", "status")
    if not draft.variants:
        word = "code" if draft.kind == "service" else "variant"
        raise Invalid(
            "variants_required", f"a {draft.kind} needs at least one {word} (sku)", "variants"
        )
    if len(draft.variants) > 500:
        raise Invalid("invalid_variants", "at most 500 variants", "variants")
    product_id = new_id()
    variants = _new_variants(repo, product_id, draft.variants, ())
    if repo.product_by_handle(handle) is not None:
        raise Conflict("handle_in_use", f"a product has the handle {handle}", "handle")
    product = Product(
        id=product_id,
        handle=handle,
        title=_text(draft.title, "title", 200),
        description=_text(draft.description, "description", 10_000, required=False),
        kind=draft.kind,
        status=draft.status,
        attributes=_attributes(draft.attributes),
        created_at=now,
        updated_at=now,
        service=_service(draft.kind, draft.service),
        variants=tuple(variants),
    )
    repo.add_product(product)
    for variant in variants:
        repo.add_variant(variant, now)
    return product, [ProductCreated(product.id, handle, product.kind)]


def _new_variants(
    repo: CatalogRepository,
    product_id: str,
    drafts: Sequence[VariantDraft],
    existing: Sequence[Variant],
) -> list[Variant]:
    variants: list[Variant] = []
    skus = {v.sku for v in existing}
    combos = {tuple(sorted(v.options.items())) for v in existing}
    barcodes = {v.barcode for v in existing if v.barcode}
    for position, draft in enumerate(drafts, start=len(existing)):
        variant = _variant(repo, product_id, draft, position)
        combo = tuple(sorted(variant.options.items()))
        if variant.sku in skus or repo.variant(variant.sku) is not None:
            raise Conflict("sku_in_use", f"sku {variant.sku} exists already", "sku")
        if combo in combos:
            raise Invalid(
                "duplicate_options", f"another variant has the options {dict(combo)}", "options"
            )
        if variant.barcode and variant.barcode in barcodes:
            raise Conflict("barcode_in_use", f"barcode {variant.barcode} is used twice", "barcode")
        skus.add(variant.sku)
        combos.add(combo)
        if variant.barcode:
            barcodes.add(variant.barcode)
        variants.append(variant)
    return variants


def get_product(repo: CatalogRepository, product_id: str) -> Product:
    product = repo.product(product_id)
    if product is None:
        raise NotFound("product_not_found", f"no product {product_id}", "product_id")
    return product


def change_product(
    repo: CatalogRepository,
    product_id: str,
    now: datetime,
    *,
    title: str | None = None,
    description: str | None = None,
    status: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    service: ServiceTerms | None = None,
) -> tuple[Product, list[Event]]:
    product = get_product(repo, product_id)
    if status is not None and status not in STATUSES:
        raise Invalid("invalid_status", f"status must be one of {', '.join(STATUSES)}", "status")
    changed = replace(
        product,
        title=product.title if title is None else _text(title, "title", 200),
        description=product.description
        if description is None
        else _text(description, "description", 10_000, required=False),
        status=status or product.status,
        attributes=product.attributes if attributes is None else _attributes(attributes),
        service=product.service if service is None else _service(product.kind, service),
        updated_at=now,
    )
    repo.update_product(changed)
    return changed, [ProductChanged(product.id, product.handle, changed.status)]


def add_variant(
    repo: CatalogRepository, product_id: str, draft: VariantDraft, now: datetime
) -> tuple[Variant, list[Event]]:
    product = get_product(repo, product_id)
    (variant,) = _new_variants(repo, product_id, [draft], product.variants)
    repo.add_variant(variant, now)
    return variant, [ProductChanged(product.id, product.handle, product.status)]


def change_variant(
    repo: CatalogRepository,
    sku: str,
    now: datetime,
    *,
    options: Mapping[str, str] | None = None,
    barcode: str | None = None,
) -> tuple[Variant, list[Event]]:
    current = repo.variant(sku)
    if current is None:
        raise NotFound("sku_not_found", f"no sku {sku}", "sku")
    product = get_product(repo, current.product_id)
    draft = VariantDraft(
        sku,
        dict(current.options if options is None else options),
        current.barcode if barcode is None else barcode,
    )
    variant = _variant(repo, product.id, draft, current.position)
    combo = sorted(variant.options.items())
    for other in product.variants:
        if other.sku != sku and sorted(other.options.items()) == combo:
            raise Invalid(
                "duplicate_options", f"{other.sku} has the options {dict(combo)}", "options"
            )
    repo.update_variant(variant, now)
    return variant, [ProductChanged(product.id, product.handle, product.status)]


# -- listings ----------------------------------------------------------------------------------


def put_listing(
    repo: CatalogRepository,
    config: CatalogConfig,
    product_id: str,
    channel: str,
    *,
    published: bool,
    purchasable: bool,
    in_store_only: bool = False,
    reason: str | None = None,
    title: str | None = None,
    actor: str,
    now: datetime,
) -> tuple[Listing, list[Event]]:
    """A product on one channel. In-store-only is for channels other than the store's: the
    product is shown there, not sold, and the reason tells the customer why."""
    product = get_product(repo, product_id)
    pricing.channel_name(channel, config.channels)
    clean_reason = " ".join(reason.split()) if reason else None
    if clean_reason is not None and len(clean_reason) > pricing.REASON_MAX:
        raise Invalid("invalid_reason", "reason must be at most 500 characters", "reason")
    if in_store_only:
        if channel in config.walk_in:
            raise Invalid(
                "in_store_only_in_store",
                f"{channel} is sold at the counter: in-store-only is for the others",
                "in_store_only",
            )
        if purchasable:
            raise Invalid(
                "in_store_only_purchasable",
                "an in-store-only listing cannot be purchasable on the channel",
                "purchasable",
            )
        if not published:
            raise Invalid(
                "in_store_only_unpublished",
                "an in-store-only listing is published, to show its reason",
                "published",
            )
        if not clean_reason:
            raise Invalid(
                "reason_required",
                "say why it is in store only (shown online, e.g. 'Try-on needed')",
                "reason",
            )
    listing = Listing(
        product_id=product.id,
        channel=channel,
        published=published,
        purchasable=purchasable,
        in_store_only=in_store_only,
        reason=clean_reason,
        title=_text(title, "title", 200) if title else None,
        updated_at=now,
        updated_by=actor,
    )
    repo.put_listing(listing)
    return listing, [ListingChanged(product.id, channel, published, purchasable)]


def listing_state(status: str, listing: Listing | None, channel: str) -> tuple[str, str] | None:
    """Why the product cannot be bought on the channel (code, words), or None when it can."""
    if status != "active":
        return "inactive", f"the product is {status}"
    if listing is None:
        return "not_listed", f"not listed on {channel}"
    if listing.in_store_only:
        return "in_store_only", listing.reason or "buy in store"
    if not listing.purchasable:
        code = "not_purchasable" if listing.published else "not_published"
        return code, listing.reason or f"not sold on {channel}"
    return None


# -- availability and gaps ---------------------------------------------------------------------


def serves(location: LocationView, item: Item, channel: str, walk_in: frozenset[str]) -> bool:
    if channel in walk_in:
        return location.kind == "store"
    if item.service is not None:
        return location.kind == "store" or (
            item.service.capability is not None and item.service.capability in location.capabilities
        )
    return bool(location.capabilities & FULFILS)


def matrix(
    items: Sequence[Item],
    listings: Mapping[str, Sequence[Listing]],
    config: CatalogConfig,
    locations: Sequence[LocationView],
    stock: Mapping[tuple[str, str], int] | None,
) -> list[Cell]:
    """Every cell of item x channel, and item x channel x location where the channel sells it."""
    cells: list[Cell] = []
    for item in items:
        by_channel = {listing.channel: listing for listing in listings.get(item.product_id, ())}
        for channel in config.channels:
            state = listing_state(item.status, by_channel.get(channel), channel)
            if state is not None:
                cells.append(Cell(item.sku, channel, None, False, state[0], state[1]))
                continue
            cells.append(Cell(item.sku, channel, None, True))
            for location in locations:
                if serves(location, item, channel, config.walk_in):
                    cells.append(_at(item, channel, location, stock))
    return cells


def _at(
    item: Item, channel: str, location: LocationView, stock: Mapping[tuple[str, str], int] | None
) -> Cell:
    if item.service is not None:
        needed = item.service.capability
        if needed is not None and needed not in location.capabilities:
            return Cell(
                item.sku,
                channel,
                location.id,
                False,
                "no_capability",
                f"{location.name} has no {needed}",
            )
        return Cell(item.sku, channel, location.id, True)
    if stock is None:
        return Cell(item.sku, channel, location.id, True)
    count = stock.get((location.id, item.sku), 0)
    if count <= 0:
        return Cell(
            item.sku,
            channel,
            location.id,
            False,
            "out_of_stock",
            f"none in stock at {location.name}",
            stock=count,
        )
    return Cell(item.sku, channel, location.id, True, stock=count)


def find_gaps(
    items: Sequence[Item],
    cells: Sequence[Cell],
    demand: Sequence[DemandCount],
    prices: Mapping[tuple[str, str], Money],
) -> list[Gap]:
    """Cells where an item cannot be had while it can elsewhere (another channel, or another
    location serving the same channel), or where it was asked for; each with the demand it
    lost and, when priced, that demand's value. Most demand first."""
    wanted_on: dict[tuple[str, str], int] = {}
    wanted_at: dict[tuple[str, str, str], int] = {}
    for count in demand:
        if count.sku is None:
            continue
        key = (count.sku, count.channel)
        wanted_on[key] = wanted_on.get(key, 0) + count.count
        if count.location_id:
            spot = (count.sku, count.channel, count.location_id)
            wanted_at[spot] = wanted_at.get(spot, 0) + count.count
    by_sku: dict[str, list[Cell]] = {}
    for cell in cells:
        by_sku.setdefault(cell.sku, []).append(cell)
    gaps: list[Gap] = []
    for item in items:
        mine = by_sku.get(item.sku, [])
        channel_cells = [c for c in mine if c.location_id is None]
        listed = tuple(c.channel for c in channel_cells if c.available)
        spots_of = {
            channel: [c for c in mine if c.location_id is not None and c.channel == channel]
            for channel in listed
        }
        # A channel has the item when it is listed there and, where locations serve the
        # channel, at least one of them has it.
        open_channels = tuple(
            ch for ch in listed if not spots_of[ch] or any(c.available for c in spots_of[ch])
        )
        for cell in channel_cells:
            lost = wanted_on.get((item.sku, cell.channel), 0)
            if not cell.available and (open_channels or lost):
                gaps.append(_gap(item, cell, open_channels, lost, prices))
        for channel in listed:
            spots = spots_of[channel]
            open_spots = tuple(c.location_id for c in spots if c.available and c.location_id)
            for cell in spots:
                lost = wanted_at.get((item.sku, channel, cell.location_id or ""), 0)
                if not cell.available and (open_spots or lost):
                    gaps.append(_gap(item, cell, open_spots, lost, prices))
    return sorted(
        gaps,
        key=lambda g: (
            -g.demand,
            -(g.lost_value.amount if g.lost_value else 0),
            g.sku,
            g.channel,
            g.location_id or "",
        ),
    )


def _gap(
    item: Item,
    cell: Cell,
    elsewhere: tuple[str, ...],
    lost: int,
    prices: Mapping[tuple[str, str], Money],
) -> Gap:
    price = prices.get((item.sku, cell.channel))
    return Gap(
        sku=item.sku,
        product_id=item.product_id,
        title=item.title,
        channel=cell.channel,
        location_id=cell.location_id,
        reason=cell.reason or "unavailable",
        detail=cell.detail or "",
        available_elsewhere=elsewhere,
        demand=lost,
        lost_value=price.times(lost) if price is not None and lost else None,
    )


@dataclass(frozen=True)
class Search:
    """Searches that named no SKU, counted per query and channel."""

    query: str
    channel: str
    count: int


@dataclass(frozen=True)
class GapsReport:
    at: datetime
    since: date
    gaps: list[Gap]
    searches: list[Search]


def gaps_report(
    repo: CatalogRepository,
    stock: StockView,
    config: CatalogConfig,
    now: datetime,
    *,
    days: int = 30,
    channel: str | None = None,
) -> GapsReport:
    if not 1 <= days <= 366:
        raise Invalid("invalid_days", "days must be 1 to 366", "days")
    if channel is not None:
        pricing.channel_name(channel, config.channels)
    items = repo.items()
    locations = stock.locations()
    levels = stock.available([i.sku for i in items if i.service is None]) if locations else None
    cells = matrix(items, repo.listings(), config, locations, levels)
    since = now.date() - timedelta(days=days - 1)
    demand = repo.demand(since)
    needed = {(c.sku, c.channel) for c in cells if not c.available}
    prices = _prices(repo, items, needed, config.currency, now)
    gaps = [g for g in find_gaps(items, cells, demand, prices) if channel in (None, g.channel)]
    searched: dict[tuple[str, str], int] = {}
    for count in demand:
        if count.sku is None and count.query and channel in (None, count.channel):
            key = (count.query, count.channel)
            searched[key] = searched.get(key, 0) + count.count
    searches = [Search(q, ch, n) for (q, ch), n in searched.items()]
    searches.sort(key=lambda s: (-s.count, s.query, s.channel))
    return GapsReport(now, since, gaps, searches)


def _prices(
    repo: CatalogRepository,
    items: Sequence[Item],
    pairs: Collection[tuple[str, str]],
    currency: str,
    now: datetime,
) -> dict[tuple[str, str], Money]:
    skus = sorted({sku for sku, _ in pairs})
    if not skus:
        return {}
    bases = repo.base_prices(skus, currency, now)
    book = pricing.PriceBook(
        {s: b.price for s, b in bases.items()}, {i.sku: i.product_id for i in items}
    )
    overrides, promotions = repo.overrides(skus), repo.promotions()
    return {
        (sku, channel): pricing.price_for(book, overrides, promotions, sku, channel, now).price
        for sku, channel in pairs
        if sku in book.prices
    }


def availability(
    repo: CatalogRepository, stock: StockView, config: CatalogConfig, sku: str
) -> list[Cell]:
    item = repo.item(sku)
    if item is None:
        raise NotFound("sku_not_found", f"no sku {sku}", "sku")
    product = get_product(repo, item.product_id)
    locations = stock.locations()
    levels = stock.available([sku]) if locations and item.service is None else None
    return matrix(
        [replace(item, status=product.status)],
        {product.id: product.listings},
        config,
        locations,
        levels,
    )


# -- demand ------------------------------------------------------------------------------------


def record_demand(
    repo: CatalogRepository,
    stock: StockView,
    config: CatalogConfig,
    command: RecordDemand,
    now: datetime,
) -> tuple[RecordDemand, list[Event]]:
    """Count one request for an item that could not be had (by SKU, or by the search's words
    when it named none). Only counts are kept, never who asked."""
    pricing.channel_name(command.channel, config.channels)
    if command.source not in DEMAND_SOURCES:
        raise Invalid(
            "invalid_source", f"source must be one of {', '.join(DEMAND_SOURCES)}", "source"
        )
    sku = command.sku.strip() if command.sku else None
    query = " ".join(command.query.lower().split()) if command.query else None
    if sku is None and not query:
        raise Invalid(
            "sku_or_query_required", "give the sku asked for, or the search's query", "sku"
        )
    if sku is not None:
        if repo.item(sku) is None:
            raise NotFound("sku_not_found", f"no sku {sku}; send the words as query", "sku")
        query = None
    elif query is not None and len(query) > 200:
        raise Invalid("invalid_query", "query must be at most 200 characters", "query")
    location = command.location_id.strip() if command.location_id else None
    if location is not None:
        _pattern(location, LOCATION, "location_id", "a location id")
        known = stock.locations()
        if known and location not in {loc.id for loc in known}:
            raise NotFound("location_not_found", f"no location {location}", "location_id")
    counted = RecordDemand(command.channel, command.source, sku, query, location)
    repo.count_demand(now.date(), counted, now)
    return counted, [DemandRecorded(sku, command.channel, location, command.source)]


def price_consistency(
    repo: CatalogRepository, config: CatalogConfig, at: datetime
) -> pricing.PriceReport:
    """The consistency report over every active item, on the channels it is listed on."""
    items = repo.items()
    listings = repo.listings()
    sold_on: dict[str, list[str]] = {}
    for item in items:
        listed = {
            listing.channel
            for listing in listings.get(item.product_id, ())
            if listing.published or listing.purchasable
        }
        sold_on[item.sku] = [channel for channel in config.channels if channel in listed]
    bases = repo.base_prices(list(sold_on), config.currency, at)
    book = pricing.PriceBook(
        {sku: b.price for sku, b in bases.items()}, {i.sku: i.product_id for i in items}
    )
    overrides = repo.overrides(list(bases))
    return pricing.price_report(book, overrides, repo.promotions(), sold_on, config.currency, at)


# -- the quote ---------------------------------------------------------------------------------


def quote(
    repo: CatalogRepository,
    config: CatalogConfig,
    sku: str,
    channel: str,
    at: datetime,
    *,
    currency: str | None = None,
    code: str | None = None,
    check_listing: bool = True,
) -> Quote:
    """The price of `sku` on `channel` at `at`. With `check_listing` (a sale now), an item
    that cannot be bought on the channel is refused, naming why."""
    pricing.channel_name(channel, config.channels)
    item = repo.item(sku)
    if item is None:
        raise NotFound("sku_not_found", f"no sku {sku}", "sku")
    if check_listing:
        listed = repo.listings([item.product_id]).get(item.product_id, [])
        listing = next((x for x in listed if x.channel == channel), None)
        state = listing_state(item.status, listing, channel)
        if state is not None:
            raise Invalid("not_purchasable", f"{state[0]}: {state[1]}", "channel")
    money_in = pricing.currency_code(currency, config.currency)
    bases = repo.base_prices([sku], money_in, at)
    book = pricing.PriceBook({s: b.price for s, b in bases.items()}, {sku: item.product_id})
    return pricing.price_for(
        book, repo.overrides([sku]), repo.promotions(), sku, channel, at, code=code
    )

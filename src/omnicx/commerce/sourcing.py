"""Sourcing: which locations fill a line of an order. Pure: facts in, allocations out.

A strategy orders the candidate locations its own way; the fill is shared:

    1. the first candidate, in the strategy's order, that can fill the whole line does
       (one parcel beats several);
    2. failing that, the line is split over the candidates in that order, each giving what
       it can;
    3. what no candidate has is left out: the caller sees the shortfall and refuses.

Built-in strategies (`OMNICX_SOURCING_STRATEGY`):

    nearest_with_stock    by distance from the customer (the address's coordinates, its
                          postcode's area) or the selling store; then priority
    priority              by the locations' configured priority (lower first), then id
    protect_store_stock   distribution centres and dark stores first, stores last; within
                          each, by priority then distance

Every strategy keeps a store's safety stock back from any sale but the store's own counter
(inventory refuses such a reservation anyway): `Candidate.usable` is what a sale may take.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

Point = tuple[float, float]
"""(latitude, longitude) in degrees."""


@dataclass(frozen=True)
class Need:
    """One line to source: `qty` units of `sku`."""

    sku: str
    qty: int


@dataclass(frozen=True)
class Candidate:
    """A location that could fill the line, with what it holds free now."""

    location_id: str
    kind: str
    priority: int
    free: int
    """Sellable and not reserved, now."""
    safety_stock: int = 0
    latitude: float | None = None
    longitude: float | None = None
    own_counter: bool = False
    """The sale is made at this location's own counter, which may sell its safety stock."""

    @property
    def usable(self) -> int:
        return max(0, self.free - (0 if self.own_counter else self.safety_stock))

    @property
    def point(self) -> Point | None:
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


@dataclass(frozen=True)
class SourcingContext:
    origin: Point | None = None
    """Where the goods go, or where the sale is made; None when unknown."""
    fulfilment: str = "ship"
    split: bool = True
    """Whether a line may come from several locations."""


@dataclass(frozen=True)
class Allocation:
    location_id: str
    qty: int


class SourcingStrategy(Protocol):
    def choose(
        self, line: Need, candidates: Sequence[Candidate], ctx: SourcingContext
    ) -> list[Allocation]:
        """Where the line comes from; units no candidate has are left out."""
        ...


EARTH_RADIUS_KM = 6371.0088


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def _distance(candidate: Candidate, origin: Point | None) -> float:
    point = candidate.point
    if origin is None or point is None:
        return math.inf
    return distance_km(origin, point)


def fill(line: Need, ordered: Sequence[Candidate], *, split: bool = True) -> list[Allocation]:
    """The shared fill over candidates already in the strategy's order."""
    for candidate in ordered:
        if candidate.usable >= line.qty:
            return [Allocation(candidate.location_id, line.qty)]
    if not split:
        return []
    taken: list[Allocation] = []
    wanted = line.qty
    for candidate in ordered:
        if wanted == 0:
            break
        take = min(candidate.usable, wanted)
        if take > 0:
            taken.append(Allocation(candidate.location_id, take))
            wanted -= take
    return taken


class NearestWithStock:
    name = "nearest_with_stock"

    def choose(
        self, line: Need, candidates: Sequence[Candidate], ctx: SourcingContext
    ) -> list[Allocation]:
        ordered = sorted(
            candidates, key=lambda c: (_distance(c, ctx.origin), c.priority, c.location_id)
        )
        return fill(line, ordered, split=ctx.split)


class ByPriority:
    name = "priority"

    def choose(
        self, line: Need, candidates: Sequence[Candidate], ctx: SourcingContext
    ) -> list[Allocation]:
        ordered = sorted(candidates, key=lambda c: (c.priority, c.location_id))
        return fill(line, ordered, split=ctx.split)


class ProtectStoreStock:
    name = "protect_store_stock"

    def choose(
        self, line: Need, candidates: Sequence[Candidate], ctx: SourcingContext
    ) -> list[Allocation]:
        ordered = sorted(
            candidates,
            key=lambda c: (
                c.kind == "store",
                c.priority,
                _distance(c, ctx.origin),
                c.location_id,
            ),
        )
        return fill(line, ordered, split=ctx.split)


STRATEGIES: dict[str, Callable[[], SourcingStrategy]] = {
    NearestWithStock.name: NearestWithStock,
    ByPriority.name: ByPriority,
    ProtectStoreStock.name: ProtectStoreStock,
}
"""Strategies by setting name; add one here (or pass an instance to `Selling`) to plug in."""


def strategy(name: str) -> SourcingStrategy:
    factory = STRATEGIES.get(name)
    if factory is None:
        raise ValueError(
            f"unknown sourcing strategy {name!r}: one of {', '.join(sorted(STRATEGIES))}"
        )
    return factory()


def origin_of(
    latitude: float | None,
    longitude: float | None,
    postal_code: str | None,
    areas: Mapping[str, Point],
    fallback: Point | None,
) -> Point | None:
    """Where distance is measured from: the address's coordinates, else the area of the
    longest postcode prefix known (`OMNICX_SOURCING_AREAS`), else `fallback` (the selling
    store)."""
    if latitude is not None and longitude is not None:
        return (latitude, longitude)
    if postal_code:
        digits = postcode_key(postal_code)
        for end in range(len(digits), 0, -1):
            found = areas.get(digits[:end])
            if found is not None:
                return found
    return fallback


def postcode_key(postal_code: str) -> str:
    return "".join(ch for ch in postal_code if ch.isalnum()).upper()


def areas(raw: Mapping[str, tuple[float, float]]) -> dict[str, Point]:
    """Postcode prefixes as `origin_of` matches them (letters and digits, upper-case)."""
    return {postcode_key(prefix): (float(lat), float(lon)) for prefix, (lat, lon) in raw.items()}

"""Fulfilment: the ways an order's group of lines reaches the customer, which locations may
serve each, what each event does to a group and to its stock, and the plan of where every
line is held. Pure.

    ship              to an address, from any location that ships (a distribution centre, a
                      dark store, or a store that ships from store), chosen by the sourcing
                      strategy
    pickup            click and collect: held at the chosen store, which must hand over
                      pickups; the lease lasts until the pickup deadline
    ship_from_store   to an address, from a store that ships (the one named, or the
                      strategy's choice among them)
    endless_aisle     sold in a store that has none: sourced from the rest of the network
                      and shipped to the customer's address

    event             pickup                          the others                stock
    picked            allocated → picked              allocated → picked        lease renewed
    ready_for_pickup  allocated | picked → ready      —                         lease renewed
    collected         ready_for_pickup → collected    —                         leaves (sale)
    shipped           —                               allocated | picked → …    leaves (ship)
    delivered         —                               shipped → delivered       —
    cancel            until ready_for_pickup          until picked              released
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from omnicx.commerce.locations import Location
from omnicx.commerce.sourcing import (
    Candidate,
    Need,
    Point,
    SourcingContext,
    SourcingStrategy,
)
from omnicx.kernel import Conflict, Invalid, NotFound

FULFILMENTS: tuple[str, ...] = ("ship", "pickup", "ship_from_store", "endless_aisle")
STATUSES: tuple[str, ...] = (
    "placed",
    "allocated",
    "picked",
    "ready_for_pickup",
    "shipped",
    "collected",
    "delivered",
    "cancelled",
)
STATUS_RANK: dict[str, int] = {
    "placed": 0,
    "allocated": 1,
    "picked": 2,
    "ready_for_pickup": 3,
    "shipped": 3,
    "collected": 4,
    "delivered": 4,
    "cancelled": 5,
}
EVENTS: tuple[str, ...] = (
    "picked",
    "ready_for_pickup",
    "collected",
    "shipped",
    "delivered",
    "cancel",
)
SHIPPED = frozenset({"shipped"})

Moves = dict[str, tuple[frozenset[str], str]]

_PICKUP: Moves = {
    "picked": (frozenset({"allocated"}), "picked"),
    "ready_for_pickup": (frozenset({"allocated", "picked"}), "ready_for_pickup"),
    "collected": (frozenset({"ready_for_pickup"}), "collected"),
    "cancel": (frozenset({"placed", "allocated", "picked", "ready_for_pickup"}), "cancelled"),
}
_SHIP: Moves = {
    "picked": (frozenset({"allocated"}), "picked"),
    "shipped": (frozenset({"allocated", "picked"}), "shipped"),
    "delivered": (frozenset({"shipped"}), "delivered"),
    "cancel": (frozenset({"placed", "allocated", "picked"}), "cancelled"),
}
TRANSITIONS: dict[str, Moves] = {
    "pickup": _PICKUP,
    "ship": _SHIP,
    "ship_from_store": _SHIP,
    "endless_aisle": _SHIP,
}

COMMIT_REASON: dict[str, str] = {"collected": "sale", "shipped": "ship"}
"""Statuses at which the held stock leaves, and the ledger reason it leaves with."""
RENEW = frozenset({"picked", "ready_for_pickup"})
"""Statuses at which the holds' leases are renewed."""


def transition(kind: str, status: str, event: str) -> str | None:
    """The status `event` moves a `kind` group to from `status`, or None when it may not."""
    found = TRANSITIONS.get(kind, {}).get(event)
    if found is None or status not in found[0]:
        return None
    return found[1]


def needs_address(kind: str) -> bool:
    return kind != "pickup"


def stock_action(to_status: str) -> tuple[str, str | None]:
    """What reaching `to_status` does to the group's holds: ("commit", reason), ("release",
    None), ("renew", None) or ("none", None)."""
    if to_status in COMMIT_REASON:
        return "commit", COMMIT_REASON[to_status]
    if to_status == "cancelled":
        return "release", None
    if to_status in RENEW:
        return "renew", None
    return "none", None


# -- which locations serve a group ----------------------------------------------------------------


def _ships(location: Location) -> bool:
    return location.can("ship") or (location.kind == "store" and location.can("ship_from_store"))


def check_location(
    kind: str, location_id: str, places: Mapping[str, Location], field: str
) -> Location:
    """The location a group names, if it can serve that kind of group."""
    place = places.get(location_id)
    if place is None:
        raise NotFound("location_not_found", f"no active location {location_id!r}", field)
    if kind == "pickup" and not place.can("pickup"):
        raise Invalid("cannot_pickup", f"{place.name} does not hand over pickups", field)
    if kind == "ship_from_store" and not (place.kind == "store" and place.can("ship_from_store")):
        raise Invalid("cannot_ship_from_store", f"{place.name} does not ship from store", field)
    return place


def serving(
    kind: str, places: Sequence[Location], *, selling: str | None, chosen: str | None
) -> list[Location]:
    """The active locations that may fill a group of this kind."""
    active = [p for p in places if p.active]
    if kind == "pickup":
        return [p for p in active if p.id == chosen]
    if kind == "ship_from_store":
        stores = [p for p in active if p.kind == "store" and p.can("ship_from_store")]
        return [p for p in stores if p.id == chosen] if chosen else stores
    shipping = [p for p in active if _ships(p)]
    if kind == "endless_aisle":
        return [p for p in shipping if p.id != selling]
    return shipping


# -- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Want:
    """One line to hold: which group it is in and the field that names it."""

    line_no: int
    group: int
    sku: str
    qty: int
    field: str


@dataclass(frozen=True)
class GroupPlan:
    kind: str
    location_id: str | None
    origin: Point | None


@dataclass(frozen=True)
class Hold:
    """Units of a line to reserve at one location; `remote` unless it is sold at that
    location's own counter (which may sell its safety stock)."""

    line_no: int
    location_id: str
    sku: str
    qty: int
    remote: bool


def _where(kind: str, location_id: str | None) -> str:
    if kind == "pickup":
        return f"pickup at {location_id}"
    if kind == "ship_from_store":
        return f"shipping from {location_id}" if location_id else "shipping from a store"
    if kind == "endless_aisle":
        return "the rest of the network"
    return "shipping"


def plan(
    wants: Sequence[Want],
    groups: Mapping[int, GroupPlan],
    places: Sequence[Location],
    free: Callable[[str], Mapping[str, int]],
    strategy: SourcingStrategy,
    *,
    selling: str | None,
    counter_sale: bool,
) -> list[Hold]:
    """Where each line is held, or Conflict insufficient_stock naming the first line no
    location can fill. `free(sku)` is the unreserved sellable stock per location; what one
    line takes is not there for the next. `counter_sale`: sold at `selling`'s own counter."""
    left: dict[tuple[str, str], int] = {}
    fetched: set[str] = set()
    holds: list[Hold] = []
    for want in wants:
        group = groups[want.group]
        serve = serving(group.kind, places, selling=selling, chosen=group.location_id)
        if want.sku not in fetched:
            fetched.add(want.sku)
            for location_id, count in free(want.sku).items():
                left[(location_id, want.sku)] = count
        candidates = [
            Candidate(
                location_id=place.id,
                kind=place.kind,
                priority=place.priority,
                free=left.get((place.id, want.sku), 0),
                safety_stock=place.safety_stock,
                latitude=place.latitude,
                longitude=place.longitude,
                own_counter=counter_sale and place.id == selling,
            )
            for place in serve
        ]
        ctx = SourcingContext(group.origin, group.kind, split=group.kind != "pickup")
        chosen = strategy.choose(Need(want.sku, want.qty), candidates, ctx)
        usable = {c.location_id: c.usable for c in candidates}
        taken = 0
        for allocation in chosen:
            if allocation.qty <= 0 or allocation.qty > usable.get(allocation.location_id, 0):
                raise RuntimeError(f"sourcing chose more than {allocation.location_id} has")
            taken += allocation.qty
        if taken < want.qty:
            found = (
                sum(usable.values()) if group.kind != "pickup" else max(usable.values(), default=0)
            )
            raise Conflict(
                "insufficient_stock",
                f"only {min(found, want.qty - 1)} of {want.sku} can be had for "
                f"{_where(group.kind, group.location_id)}",
                f"{want.field}.qty",
            )
        for allocation in chosen:
            pair = (allocation.location_id, want.sku)
            left[pair] = left.get(pair, 0) - allocation.qty
            holds.append(
                Hold(
                    want.line_no,
                    allocation.location_id,
                    want.sku,
                    allocation.qty,
                    remote=not (counter_sale and allocation.location_id == selling),
                )
            )
    return holds

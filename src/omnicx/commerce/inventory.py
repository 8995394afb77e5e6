"""Stock: balances per (location, SKU) in buckets, the append-only movement ledger they are
derived from, reservations (leases) and transfers. Pure rules and the actions on an
`InventoryRepository`; no SQL here.

    buckets       sellable | display | damaged | in_transit, plus `reserved`: the part of
                  sellable under an active lease
    available     sellable - reserved, less the location's safety stock for a remote sale
    reservation   active ─┬→ committed   stock leaves (a sale or ship movement)
                          ├→ released    the caller let go
                          └→ expired     the lease ended; the worker, or the next reservation
                                         of that item at that location, frees it; until then
                                         `available` already counts it free
    transfer      in_transit → received  (each partial receipt is a transfer_in movement)

Every change of a balance is one conditional UPDATE of its row (`sellable - reserved >= q`,
no bucket below zero) whose row count says whether it happened, written in the same
transaction as its ledger movement; nothing is read, changed and written back. Work on one
(location, SKU) takes that balance row first, so paths never wait on each other in two orders.

    reason        from → to
    receipt       outside → sellable | display | damaged
    return        outside → sellable | display | damaged
    adjustment    outside ⇄ sellable | display | damaged (a count found more, or less)
    damage        sellable | display → damaged
    display       sellable → display
    restock       display | damaged → sellable
    write_off     sellable | display | damaged → outside
    sale, ship    sellable → outside (a committed reservation, or a direct sale)
    transfer_out  sellable → outside at the source, outside → in_transit at the destination
    transfer_in   in_transit → sellable | damaged at the destination
"""

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from omnicx.commerce.locations import Location, LocationRepository, check_location_id, get_location
from omnicx.commerce.messages import (
    CountAvailable,
    ListLocations,
    ReservationReleased,
    StockMoved,
    StockReserved,
)
from omnicx.commerce.model import LocationView
from omnicx.kernel import Conflict, Event, Invalid, MessageBus, NotFound, new_id

BUCKETS: tuple[str, ...] = ("sellable", "display", "damaged", "in_transit")
ON_HAND: tuple[str, ...] = ("sellable", "display", "damaged")
STATUSES: tuple[str, ...] = ("active", "committed", "released", "expired")
LEAVING: tuple[str, ...] = ("sale", "ship")
"""Reasons a committed reservation takes its stock away with."""

_ON_HAND = frozenset(ON_HAND)
_OUT: frozenset[str | None] = frozenset({None})
REASONS: dict[str, tuple[frozenset[str | None], frozenset[str | None]]] = {
    "receipt": (_OUT, frozenset(ON_HAND)),
    "return": (_OUT, frozenset(ON_HAND)),
    "adjustment": (frozenset({None, *ON_HAND}), frozenset({None, *ON_HAND})),
    "damage": (frozenset({"sellable", "display"}), frozenset({"damaged"})),
    "display": (frozenset({"sellable"}), frozenset({"display"})),
    "restock": (frozenset({"display", "damaged"}), frozenset({"sellable"})),
    "write_off": (frozenset(ON_HAND), _OUT),
    "sale": (frozenset({"sellable"}), _OUT),
    "ship": (frozenset({"sellable"}), _OUT),
    "transfer_out": (frozenset({"sellable", None}), frozenset({None, "in_transit"})),
    "transfer_in": (frozenset({"in_transit"}), frozenset({"sellable", "damaged"})),
}
"""Which buckets each reason may take stock from and put it in (None: outside)."""

MAX_QTY = 1_000_000
SKU = re.compile(r"^[^\s\x00-\x1f\x7f]{1,64}$")


@dataclass(frozen=True)
class StockLevel:
    location_id: str
    sku: str
    sellable: int = 0
    display: int = 0
    damaged: int = 0
    in_transit: int = 0
    reserved: int = 0
    updated_at: datetime | None = None

    def bucket(self, name: str) -> int:
        value: int = getattr(self, name)
        return value

    @property
    def available(self) -> int:
        return self.sellable - self.reserved


@dataclass(frozen=True)
class Movement:
    """One line of the ledger: `qty` units of `sku` at `location_id` went from `from_bucket`
    to `to_bucket` (None: in from, or out to, the outside world)."""

    id: int
    location_id: str
    sku: str
    from_bucket: str | None
    to_bucket: str | None
    qty: int
    reason: str
    ref: str | None
    actor: str
    at: datetime
    reservation_id: str | None = None
    note: str | None = None

    def delta(self, bucket: str) -> int:
        return (self.qty if self.to_bucket == bucket else 0) - (
            self.qty if self.from_bucket == bucket else 0
        )


@dataclass(frozen=True)
class Reservation:
    id: str
    key: str
    location_id: str
    sku: str
    qty: int
    status: str
    ref: str | None
    actor: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.status == "active" and self.expires_at > now


@dataclass(frozen=True)
class Transfer:
    id: str
    from_location: str
    to_location: str
    sku: str
    qty: int
    received: int
    status: str
    """in_transit until every unit is received, then received."""
    ref: str | None
    actor: str
    created_at: datetime
    updated_at: datetime

    @property
    def remaining(self) -> int:
        return self.qty - self.received


@dataclass(frozen=True)
class Difference:
    """A balance that does not match the ledger (`bucket` reserved: the active leases)."""

    location_id: str
    sku: str
    bucket: str
    recorded: int
    derived: int


@dataclass(frozen=True)
class LeasePolicy:
    default_seconds: int = 900
    max_seconds: int = 7 * 86_400


@dataclass(frozen=True)
class Line:
    """One line of a multi-line reservation."""

    location_id: str
    sku: str
    qty: int


RaiseEvent = Callable[[Event], None]


@dataclass(frozen=True)
class Context:
    """Who acts, at what moment, where the events raised go, and the lease bounds."""

    actor: str
    now: datetime
    raise_event: RaiseEvent
    policy: LeasePolicy = LeasePolicy()


class InventoryRepository(LocationRepository, Protocol):
    def lock_level(self, location_id: str, sku: str) -> None:
        """Take the balance row for the rest of the transaction (PostgreSQL); on SQLite the
        one writer already has it."""

    def ensure_level(self, location_id: str, sku: str, now: datetime) -> None: ...

    def level(self, location_id: str, sku: str) -> StockLevel | None: ...

    def levels(
        self, *, location_id: str | None = None, skus: Collection[str] | None = None
    ) -> list[StockLevel]: ...

    def shift(
        self,
        location_id: str,
        sku: str,
        deltas: Mapping[str, int],
        now: datetime,
        *,
        reserve: int = 0,
        remote: bool = False,
    ) -> bool:
        """Add `deltas` to buckets and `reserve` to reserved in one conditional UPDATE; False,
        and nothing changed, when a bucket would fall below zero or sellable below reserved
        (plus the location's safety stock when `remote`)."""

    def set_level(self, level: StockLevel, now: datetime) -> None: ...

    def add_movement(self, movement: Movement) -> Movement:
        """Append it; returns it with its id."""

    def movements(
        self,
        *,
        location_id: str | None = None,
        sku: str | None = None,
        ref: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Movement]: ...

    def movement_for(self, reservation_id: str) -> Movement | None: ...

    def ledger_nets(self) -> list[tuple[str, str, str, int]]:
        """(location_id, sku, bucket, net quantity) summed over the whole ledger."""

    def add_reservation(self, reservation: Reservation) -> bool:
        """False, and nothing written, when its key is taken or its location is not active
        (or unknown)."""

    def holding_terms(self, location_id: str) -> tuple[bool, int] | None:
        """(active, safety_stock) of a location, or None when there is none: all a
        reservation needs to know of it."""

    def drop_reservation(self, reservation_id: str) -> None:
        """Take back a lease just added in this transaction (its hold was refused)."""

    def add_reservations(self, reservations: Sequence[Reservation]) -> list[str]:
        """Add leases in one statement, skipping those whose key is taken; the ids added.
        The caller has checked their location is active."""

    def drop_reservations(self, reservation_ids: Collection[str]) -> None:
        """Take back leases just added in this transaction."""

    def reservation(self, reservation_id: str) -> Reservation | None: ...

    def reservation_by_key(self, key: str) -> Reservation | None: ...

    def end_reservation(
        self, reservation_id: str, status: str, now: datetime, *, live_at: datetime | None = None
    ) -> bool:
        """Active → `status`, only if still active (and unexpired at `live_at` when given)."""

    def extend_reservation(self, reservation_id: str, expires_at: datetime, now: datetime) -> bool:
        """Only an active, unexpired lease."""

    def due_reservations(
        self,
        now: datetime,
        *,
        location_id: str | None = None,
        sku: str | None = None,
        limit: int = 500,
    ) -> list[Reservation]:
        """Active leases whose time is up, by location, SKU and id."""

    def expired_holds(
        self, now: datetime, *, skus: Collection[str], location_id: str | None = None
    ) -> dict[tuple[str, str], int]:
        """Units still counted reserved under leases whose time is up, per (location, SKU)."""

    def active_totals(self) -> dict[tuple[str, str], int]: ...

    def add_transfer(self, transfer: Transfer) -> None: ...

    def transfer(self, transfer_id: str) -> Transfer | None: ...

    def transfers(
        self, *, location_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Transfer]: ...

    def take_delivery(self, transfer_id: str, qty: int, now: datetime) -> bool:
        """Count `qty` more received, only while no more than sent would be."""

    def quiesce(self, *, write: bool) -> None:
        """Wait for balance writers in flight and hold new ones off until the transaction
        ends, so the balances and the ledger are read at one moment (PostgreSQL)."""


# -- pure rules ----------------------------------------------------------------------------------


def check_qty(qty: int, field: str = "qty") -> int:
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
        raise Invalid("invalid_qty", f"{field} must be a whole number from 1 to {MAX_QTY}", field)
    return qty


def check_sku(sku: str, field: str = "sku") -> str:
    if not isinstance(sku, str) or not SKU.match(sku):
        raise Invalid("invalid_sku", f"{field} must be 1 to 64 characters without spaces", field)
    return sku


def check_text(value: str | None, field: str, limit: int = 100) -> str | None:
    if value is None:
        return None
    clean = value.strip()
    if not clean or len(clean) > limit:
        raise Invalid(f"invalid_{field}", f"{field} must be 1 to {limit} characters", field)
    return clean


def check_bucket(bucket: str | None, field: str) -> str | None:
    if bucket is not None and bucket not in BUCKETS:
        raise Invalid("invalid_bucket", f"{field} must be one of {', '.join(BUCKETS)}", field)
    return bucket


def check_movement(reason: str, from_bucket: str | None, to_bucket: str | None) -> None:
    """Whether `reason` may move stock from `from_bucket` to `to_bucket`."""
    if reason not in REASONS:
        raise Invalid("invalid_reason", f"reason must be one of {', '.join(REASONS)}", "reason")
    check_bucket(from_bucket, "from_bucket")
    check_bucket(to_bucket, "to_bucket")
    if from_bucket == to_bucket:
        raise Invalid("invalid_movement", "a movement goes from one bucket to another", "to_bucket")
    sources, targets = REASONS[reason]
    if from_bucket not in sources:
        raise Invalid(
            "invalid_movement",
            f"{reason} cannot take stock from {from_bucket or 'outside'}",
            "from_bucket",
        )
    if to_bucket not in targets:
        raise Invalid(
            "invalid_movement",
            f"{reason} cannot put stock in {to_bucket or 'outside'}",
            "to_bucket",
        )
    if None in sources and None in targets and None not in (from_bucket, to_bucket):
        raise Invalid(
            "invalid_movement",
            f"{reason} brings stock in, or takes it out, of one bucket",
            "to_bucket",
        )


def deltas(from_bucket: str | None, to_bucket: str | None, qty: int) -> dict[str, int]:
    changes: dict[str, int] = {}
    if from_bucket is not None:
        changes[from_bucket] = -qty
    if to_bucket is not None:
        changes[to_bucket] = changes.get(to_bucket, 0) + qty
    return changes


def lease_until(now: datetime, seconds: int | None, policy: LeasePolicy) -> datetime:
    seconds = policy.default_seconds if seconds is None else seconds
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not 1 <= seconds <= policy.max_seconds
    ):
        raise Invalid(
            "invalid_lease",
            f"lease_seconds must be a whole number from 1 to {policy.max_seconds}",
            "lease_seconds",
        )
    return now + timedelta(seconds=seconds)


def nets_of(movements: Iterable[Movement]) -> list[tuple[str, str, str, int]]:
    """What the store sums in SQL, from movements in memory."""
    totals: dict[tuple[str, str, str], int] = {}
    for m in movements:
        for bucket, change in deltas(m.from_bucket, m.to_bucket, m.qty).items():
            key = (m.location_id, m.sku, bucket)
            totals[key] = totals.get(key, 0) + change
    return [(*key, value) for key, value in sorted(totals.items())]


def derive(nets: Iterable[tuple[str, str, str, int]]) -> dict[tuple[str, str], dict[str, int]]:
    """Each (location, SKU)'s buckets as the ledger has them."""
    derived: dict[tuple[str, str], dict[str, int]] = {}
    for location_id, sku, bucket, net in nets:
        buckets = derived.setdefault((location_id, sku), dict.fromkeys(BUCKETS, 0))
        buckets[bucket] += net
    return derived


def differences(
    levels: Iterable[StockLevel],
    derived: Mapping[tuple[str, str], Mapping[str, int]],
    held: Mapping[tuple[str, str], int],
) -> list[Difference]:
    """Every balance that is not what the ledger (buckets) or the active leases (reserved)
    say, in (location, SKU, bucket) order; a missing row counts as zeros."""
    recorded = {(level.location_id, level.sku): level for level in levels}
    found: list[Difference] = []
    for key in sorted(set(recorded) | set(derived) | set(held)):
        level = recorded.get(key) or StockLevel(*key)
        want = derived.get(key, {})
        for bucket in BUCKETS:
            if level.bucket(bucket) != want.get(bucket, 0):
                found.append(Difference(*key, bucket, level.bucket(bucket), want.get(bucket, 0)))
        if level.reserved != held.get(key, 0):
            found.append(Difference(*key, "reserved", level.reserved, held.get(key, 0)))
    return found


def count_change(current: int, target: int) -> int:
    """The signed adjustment that brings a bucket from `current` to a counted `target`."""
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target <= MAX_QTY:
        raise Invalid("invalid_qty", f"a count must be a whole number from 0 to {MAX_QTY}", "qty")
    return target - current


# -- reading -------------------------------------------------------------------------------------


def _holdback(location: Location | None, remote: bool) -> int:
    return location.safety_stock if remote and location is not None else 0


def available(
    repo: InventoryRepository, location_id: str, sku: str, *, now: datetime, remote: bool = False
) -> int:
    """Units one more reservation could take now; leases whose time is up count as free."""
    level = repo.level(location_id, sku)
    if level is None:
        return 0
    freed = repo.expired_holds(now, skus=[sku], location_id=location_id)
    holdback = _holdback(repo.location(location_id), remote)
    return max(0, level.available + freed.get((location_id, sku), 0) - holdback)


def stock_by_sku(
    repo: InventoryRepository, skus: Collection[str], *, now: datetime, remote: bool = False
) -> dict[tuple[str, str], int]:
    """Available units per (location, SKU), at the active locations holding a balance."""
    freed = repo.expired_holds(now, skus=skus)
    places = {location.id: location for location in repo.locations(active=True)}
    found: dict[tuple[str, str], int] = {}
    for level in repo.levels(skus=skus):
        place = places.get(level.location_id)
        if place is not None:
            pair = (place.id, level.sku)
            found[pair] = max(0, level.available + freed.get(pair, 0) - _holdback(place, remote))
    return found


def availability(
    repo: InventoryRepository, sku: str, *, now: datetime, remote: bool = False
) -> dict[str, int]:
    """Available units of `sku` at each active location that holds a balance of it."""
    found = stock_by_sku(repo, [sku], now=now, remote=remote)
    return {location_id: count for (location_id, _), count in found.items()}


def register_answers(bus: MessageBus, repo_for: Callable[[Any], InventoryRepository]) -> None:
    """Answer the catalog's questions on the bus, in the asker's unit of work: the active
    locations, and the stock available now (pairs holding none left out)."""

    def list_locations(query: ListLocations, uow: Any) -> list[LocationView]:
        return [
            LocationView(place.id, place.name, place.kind, place.capabilities)
            for place in repo_for(uow).locations(active=True)
        ]

    def count_available(query: CountAvailable, uow: Any) -> dict[tuple[str, str], int]:
        found = stock_by_sku(repo_for(uow), sorted(set(query.skus)), now=uow.clock.now())
        return {pair: count for pair, count in found.items() if count > 0}

    bus.answer(ListLocations, list_locations)
    bus.answer(CountAvailable, count_available)


# -- movements -----------------------------------------------------------------------------------


def _short(repo: InventoryRepository, location_id: str, sku: str, bucket: str) -> Conflict:
    level = repo.level(location_id, sku) or StockLevel(location_id, sku)
    have = level.available if bucket == "sellable" else level.bucket(bucket)
    what = "available" if bucket == "sellable" else bucket
    return Conflict(
        "insufficient_stock", f"only {max(have, 0)} of {sku} {what} at {location_id}", "qty"
    )


def record(
    repo: InventoryRepository,
    ctx: Context,
    location_id: str,
    sku: str,
    qty: int,
    from_bucket: str | None,
    to_bucket: str | None,
    reason: str,
    *,
    ref: str | None = None,
    note: str | None = None,
    reservation_id: str | None = None,
    release: int = 0,
) -> Movement:
    """Move stock and append its movement; Conflict insufficient_stock, with nothing written,
    when the bucket does not hold enough (sellable: enough unreserved)."""
    check_qty(qty)
    check_sku(sku)
    check_movement(reason, from_bucket, to_bucket)
    ref, note = check_text(ref, "ref"), check_text(note, "note", 500)
    get_location(repo, location_id)
    repo.lock_level(location_id, sku)
    if to_bucket is not None:
        repo.ensure_level(location_id, sku, ctx.now)
    change = deltas(from_bucket, to_bucket, qty)
    if not repo.shift(location_id, sku, change, ctx.now, reserve=-release):
        raise _short(repo, location_id, sku, from_bucket or "sellable")
    movement = repo.add_movement(
        Movement(
            0, location_id, sku, from_bucket, to_bucket, qty, reason, ref, ctx.actor, ctx.now,
            reservation_id, note,
        )
    )  # fmt: skip
    ctx.raise_event(
        StockMoved(
            movement.id, location_id, sku, from_bucket, to_bucket, qty, reason, ref, reservation_id
        )
    )
    return movement


def receive(
    repo: InventoryRepository,
    ctx: Context,
    location_id: str,
    sku: str,
    qty: int,
    *,
    bucket: str = "sellable",
    reason: str = "receipt",
    ref: str | None = None,
    note: str | None = None,
) -> Movement:
    """Stock arriving from outside: a delivery, a customer return, a count that found more."""
    return record(repo, ctx, location_id, sku, qty, None, bucket, reason, ref=ref, note=note)


def adjust(
    repo: InventoryRepository,
    ctx: Context,
    location_id: str,
    sku: str,
    change: int,
    *,
    bucket: str = "sellable",
    ref: str | None = None,
    note: str | None = None,
) -> Movement:
    """A signed correction of one bucket: a count found more, or fewer."""
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise Invalid("invalid_qty", "qty of an adjustment must be a non-zero whole number", "qty")
    source, target = (None, bucket) if change > 0 else (bucket, None)
    return record(
        repo, ctx, location_id, sku, abs(change), source, target, "adjustment", ref=ref, note=note
    )


def set_count(
    repo: InventoryRepository,
    ctx: Context,
    location_id: str,
    sku: str,
    count: int,
    *,
    bucket: str = "sellable",
    ref: str | None = None,
) -> Movement | None:
    """Bring a bucket to a counted quantity: a receipt when it held none, else an adjustment
    by the difference; None when it holds that many already."""
    check_sku(sku)
    if check_bucket(bucket, "bucket") == "in_transit":
        raise Invalid("invalid_bucket", "in_transit is counted by its transfers", "bucket")
    get_location(repo, location_id)
    repo.lock_level(location_id, sku)
    level = repo.level(location_id, sku) or StockLevel(location_id, sku)
    change = count_change(level.bucket(bucket), count)
    if change == 0:
        return None
    if bucket == "sellable" and count < level.reserved:
        raise Conflict(
            "reserved_stock",
            f"{level.reserved} of {sku} are reserved at {location_id}: more than {count}",
            "qty",
        )
    if level.bucket(bucket) == 0:
        return receive(repo, ctx, location_id, sku, change, bucket=bucket, ref=ref)
    return adjust(repo, ctx, location_id, sku, change, bucket=bucket, ref=ref)


def move(
    repo: InventoryRepository,
    ctx: Context,
    from_location: str,
    to_location: str,
    sku: str,
    qty: int,
    *,
    ref: str | None = None,
) -> Transfer:
    """Send sellable stock to another location: it leaves the source at once and waits in
    the destination's in_transit bucket until `receive_transfer`."""
    check_qty(qty)
    check_sku(sku)
    check_location_id(to_location, "to_location")
    if from_location == to_location:
        raise Invalid("same_location", "a transfer goes to another location", "to_location")
    get_location(repo, from_location)
    get_location(repo, to_location, "to_location")
    transfer = Transfer(
        new_id(), from_location, to_location, sku, qty, 0, "in_transit",
        check_text(ref, "ref"), ctx.actor, ctx.now, ctx.now,
    )  # fmt: skip
    # Locations in id order: two opposite transfers never wait on each other.
    legs = sorted([(from_location, "sellable", None), (to_location, None, "in_transit")])
    for location_id, source, target in legs:
        record(repo, ctx, location_id, sku, qty, source, target, "transfer_out", ref=transfer.id)
    repo.add_transfer(transfer)
    return transfer


def get_transfer(repo: InventoryRepository, transfer_id: str) -> Transfer:
    transfer = repo.transfer(transfer_id)
    if transfer is None:
        raise NotFound("transfer_not_found", f"no transfer {transfer_id}", "transfer_id")
    return transfer


def receive_transfer(
    repo: InventoryRepository,
    ctx: Context,
    transfer_id: str,
    *,
    qty: int | None = None,
    bucket: str = "sellable",
) -> Transfer:
    """The destination takes delivery of `qty` units (all still on their way when None), into
    sellable or, when they arrived damaged, damaged."""
    transfer = get_transfer(repo, transfer_id)
    qty = transfer.remaining if qty is None else check_qty(qty)
    check_movement("transfer_in", "in_transit", bucket)
    if qty == 0 or not repo.take_delivery(transfer_id, qty, ctx.now):
        remaining = get_transfer(repo, transfer_id).remaining
        raise Conflict(
            "transfer_received",
            f"{remaining} unit(s) of transfer {transfer_id} are still on their way",
            "qty",
        )
    record(
        repo, ctx, transfer.to_location, transfer.sku, qty, "in_transit", bucket, "transfer_in",
        ref=transfer_id,
    )  # fmt: skip
    return get_transfer(repo, transfer_id)


# -- reservations --------------------------------------------------------------------------------


def get_reservation(repo: InventoryRepository, reservation_id: str) -> Reservation:
    found = repo.reservation(reservation_id)
    if found is None:
        raise NotFound(
            "reservation_not_found", f"no reservation {reservation_id}", "reservation_id"
        )
    return found


def _unreserve(repo: InventoryRepository, lease: Reservation, now: datetime) -> None:
    if not repo.shift(lease.location_id, lease.sku, {}, now, reserve=-lease.qty):
        raise RuntimeError(f"reserved of {lease.location_id}/{lease.sku} is below its leases")


def _expire(
    repo: InventoryRepository, leases: Sequence[Reservation], now: datetime, raise_event: RaiseEvent
) -> int:
    """Expire leases whose time is up (their balance row already taken); returns how many."""
    freed = 0
    for lease in leases:
        if repo.end_reservation(lease.id, "expired", now):
            _unreserve(repo, lease, now)
            raise_event(
                ReservationReleased(lease.id, lease.location_id, lease.sku, lease.qty, "expired")
            )
            freed += 1
    return freed


def _same(found: Reservation, location_id: str, sku: str, qty: int) -> Reservation:
    if (found.location_id, found.sku, found.qty) != (location_id, sku, qty):
        raise Conflict(
            "key_reused",
            f"key {found.key!r} reserved {found.qty} of {found.sku} at {found.location_id}",
            "key",
        )
    return found


def reserve(
    repo: InventoryRepository,
    ctx: Context,
    location_id: str,
    sku: str,
    qty: int,
    *,
    lease_seconds: int | None = None,
    key: str | None = None,
    ref: str | None = None,
    remote: bool = False,
) -> Reservation:
    """Hold `qty` units under a lease; the same `key` again returns the same reservation.

    The hold is one conditional UPDATE (`sellable - reserved - holdback >= qty`, the holdback
    read from the location in the same statement); when no row
    matches, leases whose time is up are expired and it is tried once more; then Conflict
    insufficient_stock, and nothing is written. `remote` (a sale for another channel than the
    location's own counter) keeps the location's safety stock back.

    The lease row goes in first, so the balance row, which every buyer of the item there
    waits for, is held only from that UPDATE to the commit.
    """
    lease = new_lease(ctx, location_id, sku, qty, lease_seconds=lease_seconds, key=key, ref=ref)
    lease_id, expires_at = lease.id, lease.expires_at
    if not repo.add_reservation(lease):
        # The key is taken (now, or by a call that committed while this one waited on it),
        # or the location is inactive or unknown.
        if (found := repo.reservation_by_key(lease.key)) is not None:
            return _same(found, location_id, sku, qty)
        get_location(repo, location_id)
        raise Conflict(
            "location_inactive", f"location {location_id!r} is not active", "location_id"
        )
    if not repo.shift(location_id, sku, {}, ctx.now, reserve=qty, remote=remote):
        repo.lock_level(location_id, sku)
        due = repo.due_reservations(ctx.now, location_id=location_id, sku=sku)
        freed = _expire(repo, due, ctx.now, ctx.raise_event)
        if not freed or not repo.shift(location_id, sku, {}, ctx.now, reserve=qty, remote=remote):
            repo.drop_reservation(lease_id)
            level = repo.level(location_id, sku) or StockLevel(location_id, sku)
            terms = repo.holding_terms(location_id)
            free = level.available - (terms[1] if remote and terms else 0)
            raise Conflict(
                "insufficient_stock",
                f"only {max(free, 0)} of {sku} available at {location_id}",
                "qty",
            )
    ctx.raise_event(StockReserved(lease.id, location_id, sku, qty, expires_at, lease.ref))
    return lease


def new_lease(
    ctx: Context,
    location_id: str,
    sku: str,
    qty: int,
    *,
    lease_seconds: int | None = None,
    key: str | None = None,
    ref: str | None = None,
) -> Reservation:
    """The lease a reservation would add, checked; Invalid names the field that is wrong."""
    check_qty(qty)
    check_sku(sku)
    key, ref = check_text(key, "key", 200), check_text(ref, "ref")
    expires_at = lease_until(ctx.now, lease_seconds, ctx.policy)
    lease_id = new_id()
    return Reservation(
        lease_id, key or lease_id, location_id, sku, qty, "active", ref, ctx.actor, ctx.now,
        expires_at,
    )  # fmt: skip


def reserve_together(
    repo: InventoryRepository, ctx: Context, leases: Sequence[Reservation], *, remote: bool
) -> bool:
    """Add `leases` (from `new_lease`: one location and SKU, keys distinct) and hold all
    their units with one conditional UPDATE of that balance. False, and nothing written, when
    they do not all fit, a key is taken or the location is not active: each is then reserved
    on its own with `reserve`, which says why it is refused."""
    (location_id, sku), *others = {(lease.location_id, lease.sku) for lease in leases}
    if others:
        raise ValueError("leases held together share one location and SKU")
    terms = repo.holding_terms(location_id)
    if terms is None or not terms[0]:
        return False
    added = repo.add_reservations(leases)
    total = sum(lease.qty for lease in leases)
    if len(added) != len(leases) or not repo.shift(
        location_id, sku, {}, ctx.now, reserve=total, remote=remote
    ):
        repo.drop_reservations(added)
        return False
    for lease in leases:
        ctx.raise_event(
            StockReserved(lease.id, location_id, sku, lease.qty, lease.expires_at, lease.ref)
        )
    return True


def get_reservation_by_key(repo: InventoryRepository, key: str) -> Reservation:
    found = repo.reservation_by_key(key)
    if found is None:
        raise NotFound("reservation_not_found", f"no reservation with key {key!r}", "key")
    return found


def reserve_lines(
    repo: InventoryRepository,
    ctx: Context,
    lines: Sequence[Line],
    *,
    key: str,
    lease_seconds: int | None = None,
    ref: str | None = None,
    remote: bool = False,
) -> list[Reservation]:
    """Reserve several lines: demand for one (location, SKU) is added up first and balances
    are taken in (location, SKU) order, so two carts never wait on each other in opposite
    orders. Each lease's key is `key/location/sku`. On Conflict the caller rolls the unit of
    work back (earlier lines were held in it)."""
    if not lines:
        raise Invalid("invalid_lines", "reserve at least one line", "lines")
    wanted: dict[tuple[str, str], int] = {}
    for index, line in enumerate(lines):
        check_qty(line.qty, f"lines[{index}].qty")
        check_sku(line.sku, f"lines[{index}].sku")
        pair = (line.location_id, line.sku)
        wanted[pair] = wanted.get(pair, 0) + line.qty
    return [
        reserve(
            repo, ctx, location_id, sku, qty, lease_seconds=lease_seconds,
            key=f"{key}/{location_id}/{sku}", ref=ref, remote=remote,
        )
        for (location_id, sku), qty in sorted(wanted.items())
    ]  # fmt: skip


def release(repo: InventoryRepository, ctx: Context, reservation_id: str) -> Reservation:
    """Let a lease go; releasing one already released or expired changes nothing."""
    lease = get_reservation(repo, reservation_id)
    if lease.status == "committed":
        raise Conflict("reservation_committed", "the reservation was committed", "reservation_id")
    if lease.status != "active":
        return lease
    repo.lock_level(lease.location_id, lease.sku)
    if not repo.end_reservation(reservation_id, "released", ctx.now):
        return release(repo, ctx, reservation_id)  # it ended meanwhile: answer with how
    _unreserve(repo, lease, ctx.now)
    ctx.raise_event(
        ReservationReleased(lease.id, lease.location_id, lease.sku, lease.qty, "released")
    )
    return get_reservation(repo, reservation_id)


def extend(
    repo: InventoryRepository,
    ctx: Context,
    reservation_id: str,
    *,
    lease_seconds: int | None = None,
) -> Reservation:
    """Renew a live lease: it now ends `lease_seconds` from now."""
    expires_at = lease_until(ctx.now, lease_seconds, ctx.policy)
    get_reservation(repo, reservation_id)
    if not repo.extend_reservation(reservation_id, expires_at, ctx.now):
        lease = get_reservation(repo, reservation_id)
        status = "expired" if lease.status == "active" else lease.status
        raise Conflict(f"reservation_{status}", f"the reservation is {status}", "reservation_id")
    return get_reservation(repo, reservation_id)


def commit_reservation(
    repo: InventoryRepository,
    ctx: Context,
    reservation_id: str,
    *,
    reason: str = "sale",
    ref: str | None = None,
) -> Movement:
    """The reserved units leave (a sale or a shipment) as one ledger movement; committing the
    same reservation again returns that movement."""
    if reason not in LEAVING:
        raise Invalid("invalid_reason", f"reason must be one of {', '.join(LEAVING)}", "reason")
    lease = get_reservation(repo, reservation_id)
    if lease.status == "committed":
        done = repo.movement_for(reservation_id)
        if done is None:
            raise RuntimeError(f"committed reservation {reservation_id} has no movement")
        return done
    if not lease.live(ctx.now):
        status = "expired" if lease.status == "active" else lease.status
        raise Conflict(
            f"reservation_{status}", f"the reservation is {status}; reserve again", "reservation_id"
        )
    repo.lock_level(lease.location_id, lease.sku)
    if not repo.end_reservation(reservation_id, "committed", ctx.now, live_at=ctx.now):
        return commit_reservation(repo, ctx, reservation_id, reason=reason, ref=ref)
    return record(
        repo, ctx, lease.location_id, lease.sku, lease.qty, "sellable", None, reason,
        ref=lease.ref if ref is None else ref, reservation_id=reservation_id, release=lease.qty,
    )  # fmt: skip


def expire(
    repo: InventoryRepository, now: datetime, raise_event: RaiseEvent, *, limit: int = 500
) -> int:
    """Expire up to `limit` leases whose time is up, balance by balance in (location, SKU)
    order; returns how many."""
    groups: dict[tuple[str, str], list[Reservation]] = {}
    for lease in repo.due_reservations(now, limit=limit):
        groups.setdefault((lease.location_id, lease.sku), []).append(lease)
    freed = 0
    for (location_id, sku), leases in sorted(groups.items()):
        repo.lock_level(location_id, sku)
        freed += _expire(repo, leases, now, raise_event)
    return freed


# -- reconciliation ------------------------------------------------------------------------------


def reconcile(repo: InventoryRepository, now: datetime, *, fix: bool = False) -> list[Difference]:
    """Re-derive every balance from the ledger (reserved: from the active leases) and list
    what differs; `fix` sets the balances to what was derived. It must be the transaction's
    first work: balance writers are held off while it reads."""
    repo.quiesce(write=fix)
    held = repo.active_totals()
    derived = derive(repo.ledger_nets())
    found = differences(repo.levels(), derived, held)
    if not fix:
        return found
    for pair in sorted({(d.location_id, d.sku) for d in found}):
        buckets = derived.get(pair, {})
        sellable, display, damaged, in_transit = (buckets.get(b, 0) for b in BUCKETS)
        level = StockLevel(*pair, sellable, display, damaged, in_transit, held.get(pair, 0))
        if min(buckets.values(), default=0) < 0 or level.reserved > level.sellable:
            raise Conflict(
                "unfixable",
                f"the ledger of {pair[1]} at {pair[0]} does not add up to a valid balance "
                f"({', '.join(f'{b} {level.bucket(b)}' for b in (*BUCKETS, 'reserved'))}); "
                "correct it with an adjustment",
                "sku",
            )
        repo.set_level(level, now)
    return found

"""Orders: what a customer bought on one channel, in fulfilment groups, and where each group
stands. Pure: the model, the checks of a `PlaceOrder`, and the guarded transitions.

An order has one or more fulfilment groups; each group has its own status and its own way
(`fulfilment.FULFILMENTS`): ship, pickup, ship_from_store, endless_aisle. A group moves
through

    placed → allocated ─┬→ picked ─┬→ ready_for_pickup → collected     (pickup)
                        │          └→ shipped → delivered               (the others)
                        └→ … → cancelled        (until collected or shipped)

and `fulfilment.TRANSITIONS` says which event may move which kind of group from where. The
order's status is its groups': the one they share, else the least advanced of the groups
still live (all cancelled: cancelled).

Money is integer minor units; a line's price comes from the catalog quote for the order's
channel, except on the marketplace channel, where the marketplace's own price may be given
with a reason.
"""

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from omnicx.commerce.fulfilment import (
    EVENTS,
    FULFILMENTS,
    SHIPPED,
    STATUS_RANK,
    needs_address,
    transition,
)
from omnicx.commerce.model import Money
from omnicx.kernel import Command, Conflict, Invalid

MAX_GROUPS = 20
MAX_LINES = 200
MAX_LINE_QTY = 10_000
MAX_AMOUNT = 10**13
IDENTIFIER_KINDS: tuple[str, ...] = ("email", "phone", "loyalty_id", "user_id")
SKU = re.compile(r"^[^\s\x00-\x1f\x7f]{1,64}$")
LOCATION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
MARKETPLACE = "marketplace"

# -- what is asked --------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """Where a parcel goes: personal data, sealed at rest."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""
    district: str = ""
    region: str = ""
    phone: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class LineIn:
    sku: str
    qty: int
    price: Money | None = None
    """A marketplace's own price for the line (marketplace orders only)."""
    price_reason: str | None = None


@dataclass(frozen=True)
class GroupIn:
    type: str
    lines: tuple[LineIn, ...]
    location_id: str | None = None
    """pickup: the store; ship_from_store: the store that ships (None: sourced)."""
    address: Address | None = None


@dataclass(frozen=True)
class CustomerIn:
    """Identifiers that find the customer, or make a new one."""

    identifiers: tuple[tuple[str, str], ...]
    name: str | None = None


@dataclass(frozen=True)
class Payment:
    """Recorded, not processed: how it was (or will be) paid."""

    method: str
    amount: Money
    reference: str | None = None


@dataclass(frozen=True)
class PlaceOrder(Command):
    channel: str
    groups: tuple[GroupIn, ...]
    location_id: str | None = None
    """Where the sale is made (the store of a store sale)."""
    customer_id: str | None = None
    customer: CustomerIn | None = None
    payment: Payment | None = None
    external_ref: str | None = None
    """The marketplace's or POS's own order number."""
    note: str | None = None
    cart_id: str | None = None


# -- what is kept ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLine:
    line_no: int
    group: int
    sku: str
    qty: int
    unit_price: Money
    base_price: Money
    price_reason: str | None = None
    promotion_id: str | None = None
    price_source: str = "catalog"
    """catalog (the quote for the order's channel) or marketplace (the marketplace's price)."""

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.qty)


@dataclass(frozen=True)
class Allocated:
    """Units of a line held at one location by one reservation."""

    line_no: int
    location_id: str
    qty: int
    reservation_id: str
    status: str = "reserved"
    """reserved, committed (the stock left) or released."""


@dataclass(frozen=True)
class Group:
    position: int
    type: str
    status: str
    location_id: str | None = None
    address: Address | None = None
    pickup_by: datetime | None = None
    tracking: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Change:
    """One group moved from one status to another."""

    group: int
    event: str
    from_status: str
    to_status: str


@dataclass(frozen=True)
class HistoryEntry:
    group: int | None
    from_status: str | None
    to_status: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class Order:
    id: str
    key: str
    fingerprint: str
    channel: str
    status: str
    currency: str
    subtotal: Money
    total: Money
    actor: str
    created_at: datetime
    updated_at: datetime
    location_id: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    payment: Payment | None = None
    external_ref: str | None = None
    note: str | None = None
    cart_id: str | None = None
    groups: tuple[Group, ...] = ()
    lines: tuple[OrderLine, ...] = ()
    allocations: tuple[Allocated, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    @property
    def paid(self) -> Money:
        if self.payment is None:
            return Money(0, self.currency)
        return self.payment.amount

    @property
    def balance_due(self) -> Money:
        return self.total - self.paid

    def group(self, position: int) -> Group:
        for group in self.groups:
            if group.position == position:
                return group
        raise Invalid("unknown_group", f"the order has no group {position}", "group")

    def lines_of(self, position: int) -> list[OrderLine]:
        return [line for line in self.lines if line.group == position]

    def allocations_of(self, position: int) -> list[Allocated]:
        numbers = {line.line_no for line in self.lines_of(position)}
        return [a for a in self.allocations if a.line_no in numbers]


# -- checks ---------------------------------------------------------------------------------


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise Invalid(f"{field.rsplit('.', 1)[-1]}_required", f"{field} is required", field)
        return None
    clean = " ".join(value.split())
    if not clean:
        if required:
            raise Invalid(f"{field.rsplit('.', 1)[-1]}_required", f"{field} is required", field)
        return None
    if len(clean) > limit or "\x00" in clean:
        raise Invalid("invalid_text", f"{field} must be at most {limit} characters", field)
    return clean


def check_money(value: Money, field: str, currency: str | None = None) -> Money:
    if not CURRENCY.match(value.currency):
        raise Invalid("invalid_currency", f"{field}.currency must be an ISO 4217 code", field)
    if currency is not None and value.currency != currency:
        raise Invalid(
            "currency_mismatch",
            f"{field} is in {value.currency}; the order is in {currency}",
            field,
        )
    amount = value.amount
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
        raise Invalid(
            "invalid_amount",
            f"{field}.amount must be whole minor units from 0 to {MAX_AMOUNT}",
            field,
        )
    return value


def check_address(address: Address, field: str) -> Address:
    if not COUNTRY.match(address.country or ""):
        raise Invalid(
            "invalid_address",
            f"{field}.country must be an ISO 3166 code such as BR",
            f"{field}.country",
        )
    values: dict[str, Any] = {}
    for name, limit, required in (
        ("name", 200, True),
        ("line1", 200, True),
        ("line2", 200, False),
        ("district", 200, False),
        ("city", 200, True),
        ("region", 200, False),
        ("postal_code", 20, True),
    ):
        values[name] = _text(getattr(address, name), f"{field}.{name}", limit, required=required)
        values[name] = values[name] or ""
    values["phone"] = _text(address.phone, f"{field}.phone", 40)
    lat, lon = address.latitude, address.longitude
    if (lat is None) != (lon is None):
        raise Invalid(
            "invalid_coordinates", "give latitude and longitude together", f"{field}.latitude"
        )
    if lat is not None and not -90 <= lat <= 90:
        raise Invalid("invalid_coordinates", "latitude must be -90 to 90", f"{field}.latitude")
    if lon is not None and not -180 <= lon <= 180:
        raise Invalid("invalid_coordinates", "longitude must be -180 to 180", f"{field}.longitude")
    return replace(address, **values)


def check_location_id(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not LOCATION.match(value):
        raise Invalid("invalid_location_id", f"{field} is not a location id", field)
    return value


def check_line(line: LineIn, field: str, channel: str, currency: str) -> LineIn:
    if not isinstance(line.sku, str) or not SKU.match(line.sku):
        raise Invalid(
            "invalid_sku", f"{field}.sku must be 1 to 64 characters without spaces", f"{field}.sku"
        )
    qty = line.qty
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_LINE_QTY:
        raise Invalid(
            "invalid_qty",
            f"{field}.qty must be a whole number from 1 to {MAX_LINE_QTY}",
            f"{field}.qty",
        )
    reason = _text(line.price_reason, f"{field}.price_reason", 500)
    if line.price is None:
        if reason is not None:
            raise Invalid(
                "price_required", f"{field}.price_reason goes with a price", f"{field}.price"
            )
        return line
    if channel != MARKETPLACE:
        raise Invalid(
            "price_not_allowed",
            f"{field}.price: prices come from the catalog; only a marketplace order carries "
            "its own",
            f"{field}.price",
        )
    if reason is None:
        raise Invalid(
            "price_reason_required",
            f"{field}.price_reason must say why the marketplace's price applies",
            f"{field}.price_reason",
        )
    return replace(
        line, price=check_money(line.price, f"{field}.price", currency), price_reason=reason
    )


def check_place(
    command: PlaceOrder, *, channels: tuple[str, ...], walk_in: frozenset[str], currency: str
) -> PlaceOrder:
    """The command with its text cleaned, or Invalid naming the first field at fault."""
    if command.channel not in channels:
        raise Invalid("invalid_channel", f"channel must be one of {', '.join(channels)}", "channel")
    location_id = check_location_id(command.location_id, "location_id")
    if command.channel in walk_in and location_id is None:
        raise Invalid(
            "location_required", f"a {command.channel} sale names its location_id", "location_id"
        )
    if command.customer_id is not None and command.customer is not None:
        raise Invalid(
            "customer_ambiguous", "give customer_id or customer identifiers, not both", "customer"
        )
    customer = command.customer
    if customer is not None:
        if not customer.identifiers:
            raise Invalid(
                "customer_required",
                f"customer names at least one of {', '.join(IDENTIFIER_KINDS)}",
                "customer",
            )
        for kind, _ in customer.identifiers:
            if kind not in IDENTIFIER_KINDS:
                raise Invalid(
                    "unknown_identifier_kind",
                    f"customer.{kind}: one of {', '.join(IDENTIFIER_KINDS)}",
                    f"customer.{kind}",
                )
        customer = replace(customer, name=_text(customer.name, "customer.name", 200))
    if not command.groups:
        raise Invalid("groups_required", "an order has at least one group of lines", "groups")
    if len(command.groups) > MAX_GROUPS:
        raise Invalid("invalid_groups", f"at most {MAX_GROUPS} groups", "groups")
    groups: list[GroupIn] = []
    count = 0
    for g, group in enumerate(command.groups):
        where = f"groups[{g}]"
        if group.type not in FULFILMENTS:
            raise Invalid(
                "invalid_fulfilment",
                f"{where}.type must be one of {', '.join(FULFILMENTS)}",
                f"{where}.type",
            )
        if not group.lines:
            raise Invalid("lines_required", f"{where} has no lines", f"{where}.lines")
        count += len(group.lines)
        if count > MAX_LINES:
            raise Invalid(
                "invalid_lines", f"at most {MAX_LINES} lines in an order", f"{where}.lines"
            )
        lines = tuple(
            check_line(line, f"{where}.lines[{i}]", command.channel, currency)
            for i, line in enumerate(group.lines)
        )
        group_location = check_location_id(group.location_id, f"{where}.location_id")
        if group.type == "pickup" and group_location is None:
            raise Invalid(
                "location_required", f"{where}: a pickup names its store", f"{where}.location_id"
            )
        if group.type == "endless_aisle" and location_id is None:
            raise Invalid(
                "location_required",
                "an endless aisle sale names the store it is made in (location_id)",
                "location_id",
            )
        if group.type in ("ship", "endless_aisle") and group_location is not None:
            raise Invalid(
                "location_not_allowed",
                f"{where}: a {group.type} group is sourced from the network; it names no location",
                f"{where}.location_id",
            )
        address = group.address
        if needs_address(group.type):
            if address is None:
                raise Invalid(
                    "address_required",
                    f"{where}: a {group.type} group needs an address",
                    f"{where}.address",
                )
            address = check_address(address, f"{where}.address")
        elif address is not None:
            raise Invalid(
                "address_not_allowed", f"{where}: a pickup needs no address", f"{where}.address"
            )
        groups.append(replace(group, lines=lines, location_id=group_location, address=address))
    payment = command.payment
    if payment is not None:
        method = _text(payment.method, "payment.method", 40, required=True)
        payment = Payment(
            method=method or "",
            amount=check_money(payment.amount, "payment.amount", currency),
            reference=_text(payment.reference, "payment.reference", 200),
        )
    return replace(
        command,
        location_id=location_id,
        customer=customer,
        groups=tuple(groups),
        payment=payment,
        external_ref=_text(command.external_ref, "external_ref", 100),
        note=_text(command.note, "note", 1000),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def fingerprint(command: PlaceOrder) -> str:
    """What makes two requests the same order: the checked command, field by field."""
    text = json.dumps(_plain(asdict(command)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def same_request(order: Order, print_: str, key: str) -> Order:
    """The order a replayed key names, if the request is the same; Conflict if it is not."""
    if order.fingerprint != print_:
        raise Conflict(
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} placed order {order.id} with another request; use a new "
            "key for a new order",
            "Idempotency-Key",
        )
    return order


# -- statuses and transitions -----------------------------------------------------------------


def order_status(groups: tuple[Group, ...] | list[Group]) -> str:
    """The order's status from its groups' (see the module docstring)."""
    live = [g for g in groups if g.status != "cancelled"]
    if not live:
        return "cancelled"
    statuses = {g.status for g in live}
    if len(statuses) == 1:
        return live[0].status
    return min(live, key=lambda g: (STATUS_RANK[g.status], g.position)).status


def apply_event(
    order: Order,
    event: str,
    *,
    group: int | None,
    now: datetime,
    actor: str,
    tracking: str | None = None,
    pickup_by: datetime | None = None,
) -> tuple[Order, list[Change]]:
    """The order after `event` (picked, ready_for_pickup, collected, shipped, delivered,
    cancel) on one group, or on every group it can move when `group` is None; Conflict
    invalid_transition, naming where the groups stand, when none can."""
    if event not in EVENTS:
        raise Invalid("invalid_event", f"type must be one of {', '.join(EVENTS)}", "type")
    tracking = _text(tracking, "tracking", 200)
    if group is not None:
        targets = [order.group(group)]
    else:
        targets = [g for g in order.groups if g.status != "cancelled"] or list(order.groups)
    changes: list[Change] = []
    for target in targets:
        to = transition(target.type, target.status, event)
        if to is not None:
            changes.append(Change(target.position, event, target.status, to))
    if not changes or (group is None and event == "cancel" and len(changes) < len(targets)):
        raise Conflict("invalid_transition", _refusal(targets, event), "type")
    moved = {c.group: c for c in changes}
    groups = tuple(
        replace(
            g,
            status=moved[g.position].to_status,
            updated_at=now,
            tracking=tracking
            if tracking and moved[g.position].to_status in SHIPPED
            else g.tracking,
            pickup_by=pickup_by if pickup_by and g.type == "pickup" else g.pickup_by,
        )
        if g.position in moved
        else g
        for g in order.groups
    )
    history = order.history + tuple(
        HistoryEntry(c.group, c.from_status, c.to_status, actor, now) for c in changes
    )
    return (
        replace(order, groups=groups, status=order_status(groups), updated_at=now, history=history),
        changes,
    )


def _refusal(targets: list[Group], event: str) -> str:
    where = ", ".join(f"group {g.position} ({g.type}) is {g.status}" for g in targets)
    action = "cancelled" if event == "cancel" else f"marked {event}"
    return f"the order cannot be {action}: {where}"


def totals(lines: list[OrderLine], currency: str) -> Money:
    total = Money(0, currency)
    for line in lines:
        total = total + line.total
    return total

"""Orders, pure: the checks of a PlaceOrder, the fingerprint that makes a replay the same
request, and the guarded moves of an order's groups."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from omnicx.commerce import orders
from omnicx.commerce.model import Money
from omnicx.commerce.orders import (
    Address,
    CustomerIn,
    Group,
    GroupIn,
    LineIn,
    Order,
    Payment,
    PlaceOrder,
)
from omnicx.kernel import Conflict, Invalid

T = datetime(2026, 3, 2, tzinfo=UTC)
CHANNELS = ("web", "app", "store", "call_center", "marketplace")
HOME = Address("Ana", "Rua A, 1", "São Paulo", "01000-000", "BR")


def check(command: PlaceOrder) -> PlaceOrder:
    return orders.check_place(
        command, channels=CHANNELS, walk_in=frozenset({"store"}), currency="BRL"
    )


def ship(*lines: LineIn, channel: str = "web", **extra: object) -> PlaceOrder:
    return PlaceOrder(
        channel=channel, groups=(GroupIn("ship", lines or (LineIn("S", 1),), address=HOME),),
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def refused(command: PlaceOrder) -> tuple[str, str | None]:
    with pytest.raises(Invalid) as error:
        check(command)
    return error.value.code, error.value.field


def test_a_good_order_is_cleaned() -> None:
    command = ship(
        customer=CustomerIn((("email", "a@x.io"),), "  Ana   Lima "),
        note="  leave at the door ",
        payment=Payment("card", Money(100, "BRL"), " psp-1 "),
    )
    checked = check(command)
    assert checked.customer == CustomerIn((("email", "a@x.io"),), "Ana Lima")
    assert checked.note == "leave at the door"
    assert checked.payment == Payment("card", Money(100, "BRL"), "psp-1")


@pytest.mark.parametrize(
    ("command", "code", "field"),
    [
        (ship(channel="fax"), "invalid_channel", "channel"),
        (ship(channel="store"), "location_required", "location_id"),
        (ship(LineIn("S", 0)), "invalid_qty", "groups[0].lines[0].qty"),
        (ship(LineIn("has space", 1)), "invalid_sku", "groups[0].lines[0].sku"),
        (
            ship(LineIn("S", 1, Money(10, "BRL"), "why")),
            "price_not_allowed",
            "groups[0].lines[0].price",
        ),
        (
            ship(LineIn("S", 1, Money(10, "BRL")), channel="marketplace"),
            "price_reason_required",
            "groups[0].lines[0].price_reason",
        ),
        (
            ship(LineIn("S", 1, Money(10, "USD"), "why"), channel="marketplace"),
            "currency_mismatch",
            "groups[0].lines[0].price",
        ),
        (
            ship(customer_id="c", customer=CustomerIn((("email", "a@x.io"),))),
            "customer_ambiguous",
            "customer",
        ),
        (ship(customer=CustomerIn(())), "customer_required", "customer"),
        (ship(customer=CustomerIn((("fax", "1"),))), "unknown_identifier_kind", "customer.fax"),
        (ship(payment=Payment("card", Money(-1, "BRL"))), "invalid_amount", "payment.amount"),
        (ship(payment=Payment(" ", Money(1, "BRL"))), "method_required", "payment.method"),
        (PlaceOrder("web", ()), "groups_required", "groups"),
        (
            PlaceOrder("web", (GroupIn("teleport", (LineIn("S", 1),)),)),
            "invalid_fulfilment",
            "groups[0].type",
        ),
        (PlaceOrder("web", (GroupIn("ship", ()),)), "lines_required", "groups[0].lines"),
        (
            PlaceOrder("web", (GroupIn("ship", (LineIn("S", 1),)),)),
            "address_required",
            "groups[0].address",
        ),
        (
            PlaceOrder("web", (GroupIn("pickup", (LineIn("S", 1),)),)),
            "location_required",
            "groups[0].location_id",
        ),
        (
            PlaceOrder("web", (GroupIn("pickup", (LineIn("S", 1),), "store-a", HOME),)),
            "address_not_allowed",
            "groups[0].address",
        ),
        (
            PlaceOrder("web", (GroupIn("endless_aisle", (LineIn("S", 1),), address=HOME),)),
            "location_required",
            "location_id",
        ),
        (
            PlaceOrder("web", (GroupIn("ship", (LineIn("S", 1),), "dc", HOME),)),
            "location_not_allowed",
            "groups[0].location_id",
        ),
        (
            PlaceOrder(
                "web", (GroupIn("ship", (LineIn("S", 1),), address=replace(HOME, city=" ")),)
            ),
            "city_required",
            "groups[0].address.city",
        ),
        (
            PlaceOrder(
                "web", (GroupIn("ship", (LineIn("S", 1),), address=replace(HOME, latitude=1.0)),)
            ),
            "invalid_coordinates",
            "groups[0].address.latitude",
        ),
    ],
)
def test_bad_orders_name_their_field(command: PlaceOrder, code: str, field: str) -> None:
    assert refused(command) == (code, field)


def test_a_marketplace_order_may_carry_its_own_price() -> None:
    checked = check(ship(LineIn("S", 1, Money(10, "BRL"), " promo "), channel="marketplace"))
    assert checked.groups[0].lines[0].price_reason == "promo"


def test_the_fingerprint_is_the_request() -> None:
    a = check(ship(note="x"))
    assert orders.fingerprint(a) == orders.fingerprint(check(ship(note=" x ")))
    assert orders.fingerprint(a) != orders.fingerprint(check(ship(LineIn("S", 2), note="x")))


def order(*groups: Group) -> Order:
    return Order(
        id="o", key="k", fingerprint="f", channel="web", status=orders.order_status(groups),
        currency="BRL", subtotal=Money(0, "BRL"), total=Money(0, "BRL"), actor="t",
        created_at=T, updated_at=T, groups=groups,
    )  # fmt: skip


def test_the_order_status_is_its_groups() -> None:
    assert (
        orders.order_status([Group(0, "ship", "shipped"), Group(1, "ship", "shipped")]) == "shipped"
    )
    assert (
        orders.order_status([Group(0, "ship", "shipped"), Group(1, "pickup", "picked")]) == "picked"
    )
    assert (
        orders.order_status([Group(0, "ship", "cancelled"), Group(1, "pickup", "collected")])
        == "collected"
    )
    assert orders.order_status([Group(0, "ship", "cancelled")]) == "cancelled"


def test_an_event_moves_every_group_it_can_and_records_each_step() -> None:
    start = order(Group(0, "ship", "allocated"), Group(1, "pickup", "allocated"))
    later = T + timedelta(hours=1)
    moved, changes = orders.apply_event(
        start, "shipped", group=None, now=later, actor="clerk", tracking=" BR1 "
    )
    assert [(c.group, c.from_status, c.to_status) for c in changes] == [(0, "allocated", "shipped")]
    assert [g.status for g in moved.groups] == ["shipped", "allocated"]
    assert moved.groups[0].tracking == "BR1"
    assert moved.status == "allocated"
    assert moved.history[-1] == orders.HistoryEntry(0, "allocated", "shipped", "clerk", later)
    ready, _ = orders.apply_event(
        moved, "ready_for_pickup", group=1, now=later, actor="c", pickup_by=later
    )
    assert ready.groups[1].pickup_by == later


def test_a_move_no_group_may_make_is_a_conflict() -> None:
    start = order(Group(0, "ship", "shipped"), Group(1, "pickup", "allocated"))
    with pytest.raises(Conflict) as error:
        orders.apply_event(start, "cancel", group=None, now=T, actor="c")
    assert error.value.message == (
        "the order cannot be cancelled: group 0 (ship) is shipped, group 1 (pickup) is allocated"
    )
    cancelled, _ = orders.apply_event(start, "cancel", group=1, now=T, actor="c")
    assert [g.status for g in cancelled.groups] == ["shipped", "cancelled"]
    with pytest.raises(Invalid, match="no group 4"):
        orders.apply_event(start, "cancel", group=4, now=T, actor="c")
    with pytest.raises(Invalid):
        orders.apply_event(start, "teleport", group=None, now=T, actor="c")


def test_a_replay_with_another_request_names_the_order() -> None:
    placed = order(Group(0, "ship", "allocated"))
    assert orders.same_request(placed, "f", "k") is placed
    with pytest.raises(Conflict, match="placed order o with another request"):
        orders.same_request(placed, "g", "k")

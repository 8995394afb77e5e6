"""Fulfilment rules, pure: who may serve each kind of group, what each event does, and the
plan of holds."""

from datetime import UTC, datetime

import pytest

from omnicx.commerce import fulfilment
from omnicx.commerce.fulfilment import GroupPlan, Hold, Want
from omnicx.commerce.locations import Address, Location, OpeningHours
from omnicx.commerce.sourcing import ProtectStoreStock
from omnicx.kernel import Conflict, Invalid, NotFound

T = datetime(2026, 3, 2, tzinfo=UTC)


def location(
    location_id: str, kind: str, *capabilities: str, safety: int = 0, priority: int = 50
) -> Location:
    return Location(
        location_id, location_id.title(), kind, frozenset(capabilities), Address("BR"),
        OpeningHours(), safety, priority, True, T, T,
    )  # fmt: skip


DC = location("dc", "distribution_centre", "ship", priority=10)
DARK = location("dark", "dark_store", "ship", priority=20)
PAULISTA = location("paulista", "store", "pickup", "ship_from_store", safety=1)
CAMPINAS = location("campinas", "store", "pickup", safety=1, priority=60)
PLACES = [DC, DARK, PAULISTA, CAMPINAS]


def ids(found: list[Location]) -> list[str]:
    return [p.id for p in found]


def test_who_serves_each_kind_of_group() -> None:
    assert ids(fulfilment.serving("ship", PLACES, selling=None, chosen=None)) == [
        "dc",
        "dark",
        "paulista",
    ]
    assert ids(fulfilment.serving("pickup", PLACES, selling=None, chosen="campinas")) == [
        "campinas"
    ]
    assert ids(fulfilment.serving("ship_from_store", PLACES, selling=None, chosen=None)) == [
        "paulista"
    ]
    assert ids(fulfilment.serving("endless_aisle", PLACES, selling="paulista", chosen=None)) == [
        "dc",
        "dark",
    ]


def test_a_named_location_must_be_able_to_serve() -> None:
    places = {p.id: p for p in PLACES}
    assert fulfilment.check_location("pickup", "campinas", places, "f") is CAMPINAS
    with pytest.raises(Invalid) as error:
        fulfilment.check_location("pickup", "dc", places, "groups[0].location_id")
    assert (error.value.code, error.value.field) == ("cannot_pickup", "groups[0].location_id")
    with pytest.raises(Invalid, match="does not ship from store"):
        fulfilment.check_location("ship_from_store", "campinas", places, "f")
    with pytest.raises(NotFound):
        fulfilment.check_location("pickup", "nowhere", places, "f")


@pytest.mark.parametrize(
    ("kind", "status", "event", "to"),
    [
        ("pickup", "allocated", "picked", "picked"),
        ("pickup", "allocated", "ready_for_pickup", "ready_for_pickup"),
        ("pickup", "picked", "ready_for_pickup", "ready_for_pickup"),
        ("pickup", "ready_for_pickup", "collected", "collected"),
        ("pickup", "ready_for_pickup", "cancel", "cancelled"),
        ("pickup", "allocated", "collected", None),
        ("pickup", "allocated", "shipped", None),
        ("pickup", "collected", "cancel", None),
        ("ship", "allocated", "shipped", "shipped"),
        ("ship", "picked", "shipped", "shipped"),
        ("ship", "shipped", "delivered", "delivered"),
        ("ship", "shipped", "cancel", None),
        ("ship", "allocated", "ready_for_pickup", None),
        ("endless_aisle", "allocated", "delivered", None),
        ("ship_from_store", "cancelled", "shipped", None),
    ],
)
def test_guarded_transitions(kind: str, status: str, event: str, to: str | None) -> None:
    assert fulfilment.transition(kind, status, event) == to


def test_what_each_status_does_to_the_stock() -> None:
    assert fulfilment.stock_action("collected") == ("commit", "sale")
    assert fulfilment.stock_action("shipped") == ("commit", "ship")
    assert fulfilment.stock_action("cancelled") == ("release", None)
    assert fulfilment.stock_action("picked") == ("renew", None)
    assert fulfilment.stock_action("ready_for_pickup") == ("renew", None)
    assert fulfilment.stock_action("delivered") == ("none", None)


def test_the_plan_counts_what_earlier_lines_took() -> None:
    free = {"S": {"dc": 3, "paulista": 3}}  # paulista keeps one back
    holds = fulfilment.plan(
        [Want(1, 0, "S", 2, "a"), Want(2, 0, "S", 3, "b")],
        {0: GroupPlan("ship", None, None)},
        PLACES,
        lambda sku: free.get(sku, {}),
        ProtectStoreStock(),
        selling=None,
        counter_sale=False,
    )
    assert holds == [
        Hold(1, "dc", "S", 2, remote=True),
        Hold(2, "dc", "S", 1, remote=True),
        Hold(2, "paulista", "S", 2, remote=True),
    ]


def test_the_plan_names_the_line_it_cannot_fill() -> None:
    with pytest.raises(Conflict) as error:
        fulfilment.plan(
            [Want(1, 0, "S", 4, "groups[0].lines[0]")],
            {0: GroupPlan("pickup", "paulista", None)},
            PLACES,
            lambda sku: {"paulista": 4},
            ProtectStoreStock(),
            selling=None,
            counter_sale=False,
        )
    assert error.value.code == "insufficient_stock"
    assert error.value.field == "groups[0].lines[0].qty"
    assert error.value.message == "only 3 of S can be had for pickup at paulista"


def test_a_counter_sale_may_sell_the_stores_safety_stock() -> None:
    holds = fulfilment.plan(
        [Want(1, 0, "S", 4, "l")],
        {0: GroupPlan("pickup", "paulista", None)},
        PLACES,
        lambda sku: {"paulista": 4},
        ProtectStoreStock(),
        selling="paulista",
        counter_sale=True,
    )
    assert holds == [Hold(1, "paulista", "S", 4, remote=False)]

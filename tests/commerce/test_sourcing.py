"""Sourcing strategies, pure: where a line comes from under each built-in strategy."""

import math

import pytest

from omnicx.commerce import sourcing
from omnicx.commerce.sourcing import (
    Allocation,
    ByPriority,
    Candidate,
    NearestWithStock,
    Need,
    ProtectStoreStock,
    SourcingContext,
)

PAULISTA = (-23.565, -46.652)
CAMPINAS = (-22.894, -47.027)


def place(
    location_id: str,
    free: int,
    *,
    kind: str = "store",
    priority: int = 50,
    safety: int = 0,
    at: tuple[float, float] | None = None,
    own: bool = False,
) -> Candidate:
    lat, lon = at if at else (None, None)
    return Candidate(location_id, kind, priority, free, safety, lat, lon, own)


DC = place("dc", 50, kind="distribution_centre", priority=10, at=(-23.356, -46.877))
NEAR = place("near", 3, safety=1, at=(-23.566, -46.684))
FAR = place("far", 9, at=CAMPINAS, priority=60)


def test_nearest_takes_the_nearest_location_that_has_it_all() -> None:
    ctx = SourcingContext(origin=(-23.567, -46.690))
    assert NearestWithStock().choose(Need("S", 2), [DC, FAR, NEAR], ctx) == [Allocation("near", 2)]
    # Near keeps one back (safety stock): three are more than it may give.
    assert NearestWithStock().choose(Need("S", 3), [DC, FAR, NEAR], ctx) == [Allocation("dc", 3)]


def test_without_an_origin_nearest_falls_back_to_priority() -> None:
    assert NearestWithStock().choose(Need("S", 1), [FAR, NEAR, DC], SourcingContext()) == [
        Allocation("dc", 1)
    ]


def test_a_line_no_location_can_fill_is_split_in_the_strategys_order() -> None:
    found = ByPriority().choose(
        Need("S", 12), [FAR, NEAR, place("dc", 5, priority=10)], SourcingContext()
    )
    assert found == [Allocation("dc", 5), Allocation("near", 2), Allocation("far", 5)]


def test_what_nobody_has_is_left_out_and_a_pickup_is_never_split() -> None:
    found = ByPriority().choose(Need("S", 20), [NEAR, FAR], SourcingContext())
    assert sum(a.qty for a in found) == 11
    assert ByPriority().choose(Need("S", 20), [NEAR, FAR], SourcingContext(split=False)) == []


def test_protect_store_stock_draws_from_distribution_centres_first_even_when_farther() -> None:
    ctx = SourcingContext(origin=PAULISTA)
    dark = place("dark", 2, kind="dark_store", priority=20, at=PAULISTA)
    assert ProtectStoreStock().choose(Need("S", 2), [NEAR, dark, DC], ctx) == [Allocation("dc", 2)]
    empty_dc = place("dc", 0, kind="distribution_centre", priority=10)
    assert ProtectStoreStock().choose(Need("S", 2), [NEAR, dark, empty_dc], ctx) == [
        Allocation("dark", 2)
    ]


def test_stores_keep_their_safety_stock_except_at_their_own_counter() -> None:
    store = place("store", 2, safety=2)
    assert store.usable == 0
    assert ProtectStoreStock().choose(Need("S", 1), [store], SourcingContext()) == []
    counter = place("store", 2, safety=2, own=True)
    assert ProtectStoreStock().choose(Need("S", 1), [counter], SourcingContext()) == [
        Allocation("store", 1)
    ]


def test_strategies_by_name() -> None:
    assert isinstance(sourcing.strategy("priority"), ByPriority)
    assert isinstance(sourcing.strategy("nearest_with_stock"), NearestWithStock)
    assert isinstance(sourcing.strategy("protect_store_stock"), ProtectStoreStock)
    with pytest.raises(ValueError, match="unknown sourcing strategy 'cheapest'"):
        sourcing.strategy("cheapest")


def test_distance_and_origin() -> None:
    assert math.isclose(sourcing.distance_km(PAULISTA, CAMPINAS), 84.0, abs_tol=2.0)
    areas = sourcing.areas({"01": (1.0, 1.0), "01310": (2.0, 2.0), "13": (3.0, 3.0)})
    assert sourcing.origin_of(5.0, 6.0, "01310-100", areas, None) == (5.0, 6.0)
    assert sourcing.origin_of(None, None, "01310-100", areas, None) == (2.0, 2.0)
    assert sourcing.origin_of(None, None, "01999-000", areas, None) == (1.0, 1.0)
    assert sourcing.origin_of(None, None, "99999", areas, PAULISTA) == PAULISTA
    assert sourcing.origin_of(None, None, None, areas, None) is None

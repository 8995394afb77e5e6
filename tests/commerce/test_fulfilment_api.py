"""Each way of fulfilling an order, end to end over HTTP on SQLite and PostgreSQL: shipped
from the network, shipped from a store, an order with a pickup and a parcel moving group by
group, a hold whose lease ran out taken again at shipping, and the sourcing setting."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from omnicx.config import Settings
from tests.commerce.test_orders_api import ADDRESS, DRESS, TEE, Shop, open_shop, web_ship

NEAR_PINHEIROS = {**ADDRESS, "latitude": -23.567, "longitude": -46.690}


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    yield from open_shop(make_settings(rate_limit_api="100000/second"))


def test_ship_to_home_from_the_distribution_centre(shop: Shop) -> None:
    order = shop.order(web_ship(TEE, 2))
    assert order["groups"][0]["allocations"][0]["location_id"] == "dc-sp"

    assert shop.event(order["id"], "picked").json()["status"] == "picked"
    shipped = shop.event(order["id"], "shipped", tracking="PX1")
    assert shipped.json()["groups"][0]["status"] == "shipped"
    assert shop.sellable("dc-sp", TEE) == 8
    assert shop.movements(TEE) == [("dc-sp", "ship", 2)]
    assert shop.event(order["id"], "delivered").json()["status"] == "delivered"
    history = [(h["from_status"], h["to_status"]) for h in shop.get(
        f"/api/commerce/orders/{order['id']}"
    ).json()["history"]]  # fmt: skip
    assert history == [
        (None, "placed"),
        ("placed", "allocated"),
        ("allocated", "picked"),
        ("picked", "shipped"),
        ("shipped", "delivered"),
    ]


def test_ship_from_a_named_store(shop: Shop) -> None:
    body = web_ship(DRESS, 1)
    body["groups"][0].update(type="ship_from_store", location_id="store-pinheiros")
    order = shop.order(body)
    (group,) = order["groups"]
    assert group["location_id"] == "store-pinheiros"
    assert [a["location_id"] for a in group["allocations"]] == ["store-pinheiros"]

    shop.event(order["id"], "shipped")
    assert shop.sellable("store-pinheiros", DRESS) == 1
    assert shop.sellable("dc-sp", DRESS) == 5
    assert shop.movements(DRESS) == [("store-pinheiros", "ship", 1)]


def test_ship_from_store_picks_a_store_that_ships_when_none_is_named(shop: Shop) -> None:
    body = web_ship(DRESS, 1)
    body["groups"][0]["type"] = "ship_from_store"
    order = shop.order(body)
    assert order["groups"][0]["location_id"] == "store-pinheiros"
    # A store's safety stock stays: Pinheiros holds 2, keeps 1, so a second is not to be had.
    again = shop.post("/api/commerce/orders", body, "k-2")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        f"only 0 of {DRESS} can be had for shipping from a store"
    )


def test_a_pickup_and_a_parcel_in_one_order_move_group_by_group(shop: Shop) -> None:
    body = web_ship(TEE, 1)
    body["groups"].append(
        {"type": "pickup", "location_id": "store-pinheiros", "lines": [{"sku": DRESS, "qty": 1}]}
    )
    body["payment"]["amount"] = 7990 + 24990
    order = shop.order(body)
    assert [g["status"] for g in order["groups"]] == ["allocated", "allocated"]

    shipped = shop.event(order["id"], "shipped")  # only the parcel can ship
    assert [g["status"] for g in shipped.json()["groups"]] == ["shipped", "allocated"]
    assert shipped.json()["status"] == "allocated"  # the least advanced live group
    ready = shop.event(order["id"], "ready_for_pickup", group=1).json()
    assert ready["status"] == "shipped"
    assert shop.event(order["id"], "collected", group=1).json()["status"] == "shipped"
    done = shop.event(order["id"], "delivered").json()
    assert [g["status"] for g in done["groups"]] == ["delivered", "collected"]
    assert done["status"] == "delivered"
    assert shop.event(order["id"], "cancel").status_code == 409
    assert shop.event(order["id"], "shipped", group=5).json()["error"]["code"] == "unknown_group"


def test_cancelling_one_group_keeps_the_other(shop: Shop) -> None:
    body = web_ship(TEE, 1)
    body["groups"].append(
        {"type": "pickup", "location_id": "store-pinheiros", "lines": [{"sku": DRESS, "qty": 1}]}
    )
    order = shop.order(body)
    cancelled = shop.event(order["id"], "cancel", group=1).json()
    assert [g["status"] for g in cancelled["groups"]] == ["allocated", "cancelled"]
    assert cancelled["status"] == "allocated"
    assert shop.available("store-pinheiros", DRESS) == 2  # released
    assert shop.available("dc-sp", TEE) == 9  # still held for the parcel


def test_a_hold_whose_lease_ran_out_is_taken_again_when_it_ships(shop: Shop) -> None:
    order = shop.order(web_ship(TEE, 1))
    shop.clock.advance(timedelta(days=8))  # past the 7-day order lease
    assert shop.services.expire_reservations() == 1
    assert shop.available("dc-sp", TEE) == 10

    shipped = shop.event(order["id"], "shipped")

    assert shipped.status_code == 200, shipped.text
    (held,) = shipped.json()["groups"][0]["allocations"]
    assert held["status"] == "committed"
    assert held["reservation_id"] != order["groups"][0]["allocations"][0]["reservation_id"]
    assert shop.sellable("dc-sp", TEE) == 9
    assert [r["status"] for r in shop.reservations()] == ["expired", "committed"]


def test_picking_renews_the_lease(shop: Shop) -> None:
    order = shop.order(web_ship(TEE, 1))
    shop.clock.advance(timedelta(days=6))
    shop.event(order["id"], "picked")
    shop.clock.advance(timedelta(days=6))
    assert shop.services.expire_reservations() == 0
    assert shop.event(order["id"], "shipped").status_code == 200
    assert [r["status"] for r in shop.reservations()] == ["committed"]


@pytest.fixture
def nearest(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    yield from open_shop(
        make_settings(
            rate_limit_api="100000/second",
            sourcing_strategy="nearest_with_stock",
            sourcing_areas={"13": (-22.894, -47.027)},
        )
    )


def test_nearest_with_stock_ships_from_the_store_nearest_the_address(nearest: Shop) -> None:
    body: dict[str, Any] = web_ship(TEE, 1)
    body["groups"][0]["address"] = NEAR_PINHEIROS
    order = nearest.order(body)
    assert order["groups"][0]["allocations"][0]["location_id"] == "store-pinheiros"
    # Without coordinates the postcode's area places the address: Campinas holds no TEE and
    # does not ship, so the DC is nearer than the São Paulo stores.
    far = web_ship(TEE, 1)
    far["groups"][0]["address"] = {**ADDRESS, "postal_code": "13015-000", "city": "Campinas"}
    order = nearest.order(far, key="k-2")
    assert order["groups"][0]["allocations"][0]["location_id"] == "dc-sp"


def test_an_unknown_sourcing_strategy_stops_the_start(
    make_settings: Callable[..., Settings],
) -> None:
    from omnicx.bootstrap import StartupError, build

    with pytest.raises(StartupError, match="OMNICX_SOURCING_STRATEGY"):
        build(make_settings(sourcing_strategy="cheapest"))

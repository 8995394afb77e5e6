"""Scenarios from the field, end to end over HTTP on SQLite and PostgreSQL.

1. A store with no stock sells, and the item ships from the distribution centre (endless
   aisle): the sale is not lost.
2. Click and collect: held at the chosen store until the pickup deadline, ready for pickup on
   the customer's timeline, collected, and the stock left that store.
"""

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from omnicx.commerce.messages import OrderCollected, OrderReadyForPickup, OrderShipped
from omnicx.config import Settings
from tests.commerce.test_orders_api import ADDRESS, AT, DRESS, TEE, Shop, open_shop


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    yield from open_shop(make_settings(rate_limit_api="100000/second", pickup_hold_hours=48))


def test_a_store_with_no_stock_sells_and_the_item_ships_from_the_distribution_centre(
    shop: Shop,
) -> None:
    assert shop.available("store-campinas", DRESS) == 0
    dc_before = shop.sellable("dc-sp", DRESS)

    order = shop.order(
        {
            "channel": "store",
            "location_id": "store-campinas",
            "customer": {"phone": "+55 19 99876-5432", "name": "Beatriz Lima"},
            "groups": [
                {
                    "type": "endless_aisle",
                    "address": {**ADDRESS, "name": "Beatriz Lima", "city": "Campinas"},
                    "lines": [{"sku": DRESS, "qty": 1}],
                }
            ],
            "payment": {"method": "card", "amount": 24990, "currency": "BRL"},
        }
    )

    (group,) = order["groups"]
    assert group["type"] == "endless_aisle"
    assert [(a["location_id"], a["qty"]) for a in group["allocations"]] == [("dc-sp", 1)]
    assert order["location_id"] == "store-campinas"
    assert order["lines"][0]["unit_price"]["amount"] == 24990
    assert shop.reservations() == [
        {"location_id": "dc-sp", "sku": DRESS, "qty": 1, "status": "active"}
    ]

    shipped = shop.event(order["id"], "shipped", tracking="BR-99")
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"
    assert shipped.json()["groups"][0]["tracking"] == "BR-99"
    assert shop.sellable("dc-sp", DRESS) == dc_before - 1
    assert shop.sellable("store-campinas", DRESS) == 0
    assert shop.movements(DRESS) == [("dc-sp", "ship", 1)]
    assert [r["status"] for r in shop.reservations()] == ["committed"]
    (event,) = [e for e in shop.raised if isinstance(e, OrderShipped)]
    assert (event.location_id, event.channel, event.tracking) == ("dc-sp", "store", "BR-99")

    delivered = shop.event(order["id"], "delivered")
    assert delivered.json()["status"] == "delivered"
    steps = shop.timeline(order["customer_id"])
    assert [(s["event"], s["channel"], s["context"]["location_id"]) for s in steps] == [
        ("Order Delivered", "store", "dc-sp"),
        ("Order Shipped", "store", "dc-sp"),
        ("Order Completed", "store", "store-campinas"),
    ]


def test_click_and_collect_end_to_end(shop: Shop) -> None:
    before = shop.sellable("store-paulista", TEE)

    order = shop.order(
        {
            "channel": "web",
            "customer": {"email": "joana@example.com", "name": "Joana Reis"},
            "groups": [
                {
                    "type": "pickup",
                    "location_id": "store-paulista",
                    "lines": [{"sku": TEE, "qty": 2}],
                }
            ],
            "payment": {"method": "pay_on_pickup", "amount": 0, "currency": "BRL"},
        }
    )

    (group,) = order["groups"]
    assert group["location_id"] == "store-paulista"
    assert [(a["location_id"], a["qty"]) for a in group["allocations"]] == [("store-paulista", 2)]
    assert group["pickup_by"] == (AT + timedelta(hours=48)).isoformat().replace("+00:00", "Z")
    assert order["balance_due"]["amount"] == 2 * 7990
    with shop.services.uow(write=False) as uow:
        (lease,) = shop.services.stock(uow).due_reservations(AT + timedelta(hours=49))
    assert lease.expires_at == AT + timedelta(hours=48)
    assert shop.available("store-paulista", TEE) == 1  # the web may not take the safety unit

    shop.clock.advance(timedelta(hours=20))
    ready = shop.event(order["id"], "ready_for_pickup")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready_for_pickup"
    deadline = AT + timedelta(hours=68)
    (event,) = [e for e in shop.raised if isinstance(e, OrderReadyForPickup)]
    assert (event.location_id, event.pickup_by, event.customer_id) == (
        "store-paulista",
        deadline,
        order["customer_id"],
    )
    with shop.services.uow(write=False) as uow:
        (lease,) = shop.services.stock(uow).due_reservations(AT + timedelta(hours=69))
    assert lease.expires_at == deadline
    waiting = shop.timeline(order["customer_id"])[0]
    assert waiting["event"] == "Order Ready For Pickup"
    assert waiting["context"] == {
        "channel": "web",
        "order_channel": "web",
        "location_id": "store-paulista",
    }

    shop.clock.advance(timedelta(hours=3))
    collected = shop.event(order["id"], "collected")
    assert collected.json()["status"] == "collected"
    assert shop.sellable("store-paulista", TEE) == before - 2
    assert shop.movements(TEE) == [("store-paulista", "sale", 2)]
    assert [r["status"] for r in shop.reservations()] == ["committed"]
    assert [type(e) for e in shop.raised][-1] is OrderCollected
    steps = shop.timeline(order["customer_id"])
    assert [(s["event"], s["channel"]) for s in steps] == [
        ("Order Collected", "store"),
        ("Order Ready For Pickup", "web"),
        ("Order Completed", "web"),
    ]


def test_click_and_collect_is_held_at_the_chosen_store_only(shop: Shop) -> None:
    before = shop.counts()
    response = shop.post(
        "/api/commerce/orders",
        {
            "channel": "app",
            "customer": {"email": "joana@example.com"},
            "groups": [
                {
                    "type": "pickup",
                    "location_id": "store-campinas",
                    "lines": [{"sku": TEE, "qty": 1}],
                }
            ],
        },
        "c-1",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_stock"
    assert error["message"] == f"only 0 of {TEE} can be had for pickup at store-campinas"
    assert shop.counts() == before

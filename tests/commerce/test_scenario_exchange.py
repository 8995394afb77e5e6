"""From the field: bought online, the tee does not fit; the customer walks into a store and
exchanges size M for size L. Everything goes through the HTTP API."""

from collections.abc import Iterator
from typing import Any

import pytest

from omnicx.config import Settings
from tests.commerce.test_returns_shop import (
    ADDRESS,
    DC,
    EMAIL,
    PRICE,
    STORE,
    TEE_L,
    TEE_M,
    Shop,
    open_shop,
)


@pytest.fixture
def shop(settings: Settings) -> Iterator[Shop]:
    yield from open_shop(settings)


def _customer(shop: Shop) -> str:
    found = shop.ok("GET", f"/api/customers/lookup?kind=email&value={EMAIL}")
    customer_id: str = found["id"]
    return customer_id


def _exchange(shop: Shop, order_id: str, **extra: Any) -> Any:
    return shop.call(
        "POST",
        "/api/commerce/exchanges",
        {
            "order_id": order_id,
            "location_id": STORE,
            "lines": [{"sku": TEE_M, "qty": 1, "reason": "wrong_size", "condition": "resellable"}],
            "new_lines": [{"sku": TEE_L, "qty": 1}],
            "staff": "Bruno (till 2)",
            **extra,
        },
        key="exchange-1",
    )


def test_bought_online_exchanged_in_a_store_for_another_size(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    customer_id = _customer(shop)
    assert shop.ok("GET", f"/api/customers/{customer_id}/loyalty")["points"] == 99

    response = _exchange(shop, order_id)

    assert response.status_code == 201, response.json()
    exchange = response.json()
    assert exchange["order_id"] == order_id
    assert (exchange["channel"], exchange["location_id"]) == ("store", STORE)
    assert exchange["returned_value"]["amount"] == PRICE
    assert exchange["new_value"]["amount"] == PRICE
    assert (exchange["difference"]["amount"], exchange["settlement"]) == (0, "even")
    assert exchange["refunds"] == []
    assert [(x["sku"], x["qty"], x["location_id"]) for x in exchange["lines"]] == [
        (TEE_L, 1, STORE)
    ]
    returned = exchange["returned"]
    assert (returned["order_channel"], returned["channel"]) == ("web", "store")
    assert returned["refund_to"] == "exchange"
    assert returned["exchange_id"] == exchange["id"]
    assert returned["points_reversed"] == 99
    # M is back on the store's shelf; L left the store; the DC is as the web order left it.
    assert shop.stock(STORE, TEE_M) == {"sellable": 1, "damaged": 0, "reserved": 0}
    assert shop.stock(STORE, TEE_L) == {"sellable": 2, "damaged": 0, "reserved": 0}
    assert shop.stock(DC, TEE_M) == {"sellable": 9, "damaged": 0, "reserved": 0}
    movements = shop.ok("GET", f"/api/commerce/stock/movements?location_id={STORE}")["items"]
    assert [(m["sku"], m["reason"], m["from_bucket"], m["to_bucket"]) for m in movements[:2]] == [
        (TEE_L, "sale", "sellable", None),
        (TEE_M, "return", None, "sellable"),
    ]
    # Loyalty: earned on delivery, reversed for M, earned for L at the store.
    loyalty = shop.ok("GET", f"/api/customers/{customer_id}/loyalty")
    assert loyalty["points"] == 99
    assert [(e["kind"], e["points"], e["channel"]) for e in reversed(loyalty["entries"])] == [
        ("earn", 99, "web"),
        ("reverse", -99, "store"),
        ("earn", 99, "store"),
    ]
    # The timeline tells it in order, each step with its channel and the store.
    story = [
        (e["event"], e["channel"], e["context"].get("location_id"))
        for e in shop.timeline(customer_id)
        if e["source_id"] in ("commerce", "aftersales")
    ]
    assert story == [
        ("Order Completed", "web", None),
        ("Order Shipped", "web", DC),
        ("Order Delivered", "web", DC),
        ("Points Earned", "web", DC),
        ("Return Accepted", "store", STORE),
        ("Points Reversed", "store", STORE),
        ("Points Earned", "store", STORE),
        ("Exchange Completed", "store", STORE),
    ]
    # And the customer context shows it.
    context = shop.ok("GET", f"/api/customers/{customer_id}/context")["commerce"]
    assert [(o["id"], o["channel"], o["status"]) for o in context["recent_orders"]] == [
        (order_id, "web", "delivered")
    ]
    assert [(r["channel"], r["location_id"], r["exchange_id"]) for r in context["returns"]] == [
        ("store", STORE, exchange["id"])
    ]
    assert [(e["id"], e["settlement"]) for e in context["exchanges"]] == [(exchange["id"], "even")]
    assert context["loyalty"]["points"] == 99


def test_a_bigger_size_that_costs_more_charges_the_difference(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    customer_id = _customer(shop)
    shop.ok("PUT", f"/api/commerce/prices/{TEE_L}", {"amount": 12990})

    response = _exchange(shop, order_id, payment_method="card")

    assert response.status_code == 201, response.json()
    exchange = response.json()
    assert exchange["returned_value"]["amount"] == PRICE
    assert exchange["new_value"]["amount"] == 12990
    assert exchange["difference"] == {"amount": 3000, "currency": "BRL", "formatted": "30.00"}
    assert (exchange["settlement"], exchange["payment_method"]) == ("charged", "card")
    assert exchange["refunds"] == []
    assert shop.stock(STORE, TEE_M)["sellable"] == 1
    assert shop.stock(STORE, TEE_L)["sellable"] == 2
    loyalty = shop.ok("GET", f"/api/customers/{customer_id}/loyalty")
    assert [(e["kind"], e["points"]) for e in reversed(loyalty["entries"])] == [
        ("earn", 99),
        ("reverse", -99),
        ("earn", 129),
    ]
    assert loyalty["points"] == 129


def test_a_cheaper_item_refunds_the_difference_to_store_credit(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    customer_id = _customer(shop)
    shop.ok("PUT", f"/api/commerce/prices/{TEE_L}", {"amount": 7990})

    response = _exchange(shop, order_id, refund_to="store_credit")

    exchange = response.json()
    assert (exchange["difference"]["amount"], exchange["settlement"]) == (-2000, "refunded")
    assert [(r["amount"]["amount"], r["method"]) for r in exchange["refunds"]] == [
        (2000, "store_credit")
    ]
    loyalty = shop.ok("GET", f"/api/customers/{customer_id}/loyalty")
    assert loyalty["credit"]["amount"] == 2000
    events = [e["event"] for e in shop.timeline(customer_id) if e["source_id"] == "aftersales"]
    assert events == [
        "Points Earned",
        "Return Accepted",
        "Points Reversed",
        "Store Credit Issued",
        "Refund Issued",
        "Points Earned",
        "Exchange Completed",
    ]


def test_an_exchange_the_store_cannot_fill_writes_nothing(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    before = shop.counts()
    store_m = shop.stock(STORE, TEE_M)

    response = shop.call(
        "POST",
        "/api/commerce/exchanges",
        {
            "order_id": order_id,
            "location_id": STORE,
            "lines": [{"sku": TEE_M, "qty": 1, "reason": "wrong_size", "condition": "resellable"}],
            "new_lines": [{"sku": TEE_L, "qty": 4}],
        },
        key="too-many",
    )

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "insufficient_stock",
        "message": f"new_lines[0].qty: only 3 of {TEE_L} available at {STORE}",
        "field": "new_lines[0].qty",
    }
    assert shop.counts() == before
    assert shop.stock(STORE, TEE_M) == store_m


def test_the_same_exchange_twice_is_one_exchange(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    first = _exchange(shop, order_id)
    counts = shop.counts()

    again = _exchange(shop, order_id)
    other = _exchange(shop, order_id, staff="someone else")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert shop.counts() == counts


def test_when_the_store_has_no_l_it_ships_from_the_dc(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    customer_id = _customer(shop)
    shop.ok(
        "POST",
        "/api/commerce/stock/movements",
        {"kind": "damage", "location_id": STORE, "sku": TEE_L, "qty": 3},
    )

    response = _exchange(shop, order_id, address=ADDRESS)

    assert response.status_code == 201, response.json()
    exchange = response.json()
    assert exchange["new_order_id"] is not None
    assert [(x["sku"], x["location_id"], x["fulfilment"]) for x in exchange["lines"]] == [
        (TEE_L, DC, "endless_aisle")
    ]
    assert (exchange["difference"]["amount"], exchange["points_earned"]) == (0, 0)
    assert shop.stock(STORE, TEE_M)["sellable"] == 1
    assert shop.stock(DC, TEE_L) == {"sellable": 10, "damaged": 0, "reserved": 1}
    placed = shop.ok("GET", f"/api/commerce/orders/{exchange['new_order_id']}")
    assert (placed["channel"], placed["location_id"], placed["status"]) == (
        "store",
        STORE,
        "allocated",
    )
    # The new size earns when it reaches the customer.
    shop.move(placed["id"], "shipped", "delivered")
    assert shop.stock(DC, TEE_L) == {"sellable": 9, "damaged": 0, "reserved": 0}
    loyalty = shop.ok("GET", f"/api/customers/{customer_id}/loyalty")
    assert [(e["kind"], e["points"], e["channel"]) for e in reversed(loyalty["entries"])] == [
        ("earn", 99, "web"),
        ("reverse", -99, "store"),
        ("earn", 99, "store"),
    ]

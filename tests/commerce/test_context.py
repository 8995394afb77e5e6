"""The customer context's commerce section: the one call a till, an agent or the app makes
shows the open cart, recent orders with their channel, location and status, pickups waiting,
returns, exchanges and loyalty."""

from collections.abc import Iterator

import pytest

from omnicx.config import Settings
from tests.commerce.test_returns_shop import EMAIL, PRICE, STORE, TEE_L, TEE_M, Shop, open_shop


@pytest.fixture
def shop(settings: Settings) -> Iterator[Shop]:
    yield from open_shop(settings)


def test_the_context_shows_the_customers_commerce(shop: Shop) -> None:
    delivered = shop.delivered_web_order(qty=2)
    customer = shop.ok("GET", f"/api/customers/lookup?kind=email&value={EMAIL}")["id"]
    pickup = shop.order(
        "app",
        {"type": "pickup", "location_id": STORE, "lines": [{"sku": TEE_L, "qty": 1}]},
        key="pickup-1",
        customer_id=customer,
    )
    shop.move(pickup["id"], "ready_for_pickup")
    cart = shop.ok("GET", f"/api/commerce/carts?customer_id={customer}&channel=web")
    shop.ok("POST", f"/api/commerce/carts/{cart['id']}/lines", {"sku": TEE_L, "qty": 2})
    returned = shop.ok(
        "POST",
        "/api/commerce/returns",
        {
            "order_id": delivered,
            "location_id": STORE,
            "lines": [{"sku": TEE_M, "qty": 1, "reason": "wrong_size", "condition": "resellable"}],
        },
        key="ret-ctx",
    )

    commerce = shop.ok("GET", f"/api/customers/{customer}/context")["commerce"]

    assert [(c["id"], c["channel"], c["items"]) for c in commerce["open_carts"]] == [
        (cart["id"], "web", 2)
    ]
    assert commerce["open_carts"][0]["total"]["amount"] == 2 * PRICE
    orders = [
        (
            o["id"],
            o["channel"],
            o["status"],
            [(f["type"], f["location_id"]) for f in o["fulfilments"]],
        )
        for o in commerce["recent_orders"]
    ]
    assert orders == [
        (pickup["id"], "app", "ready_for_pickup", [("pickup", STORE)]),
        (delivered, "web", "delivered", [("ship", None)]),
    ]
    assert [
        (p["order_id"], p["location_id"], p["status"]) for p in commerce["pending_pickups"]
    ] == [(pickup["id"], STORE, "ready_for_pickup")]
    assert commerce["pending_pickups"][0]["pickup_by"] is not None
    assert [(r["id"], r["channel"], r["refund"]["amount"]) for r in commerce["returns"]] == [
        (returned["id"], "store", PRICE)
    ]
    assert commerce["exchanges"] == []
    # Earned 199 on delivery, half taken back by the return.
    assert commerce["loyalty"] == {
        "points": 100,
        "credit": {"amount": 0, "currency": "BRL", "formatted": "0.00"},
        "tier": "member",
        "tier_points": 100,
    }


def test_a_customer_without_commerce_has_an_empty_section(shop: Shop) -> None:
    shop.ok(
        "POST",
        "/api/commerce/orders",
        {
            "channel": "store",
            "location_id": STORE,
            "customer": {"email": "bea@example.org"},
            "groups": [
                {"type": "pickup", "location_id": STORE, "lines": [{"sku": TEE_L, "qty": 1}]}
            ],
        },
        key="bea-1",
    )
    other = shop.ok("GET", "/api/customers/lookup?kind=email&value=bea%40example.org")["id"]
    shop.delivered_web_order()
    ana = shop.ok("GET", f"/api/customers/lookup?kind=email&value={EMAIL}")["id"]
    assert other != ana
    bea = shop.ok("GET", f"/api/customers/{other}/context")["commerce"]
    assert [o["channel"] for o in bea["recent_orders"]] == ["store"]
    assert (bea["returns"], bea["exchanges"], bea["open_carts"]) == ([], [], [])
    assert bea["loyalty"]["points"] == 0

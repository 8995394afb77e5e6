"""A shop set up through the HTTP API for the after-sales tests: a distribution centre and
two stores (one takes returns), a tee in sizes M and L priced for every channel, stock, and
a customer who orders on any channel. Other after-sales tests build theirs with `open_shop`.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock
from omnicx.webhooks.http import FakeWebhookSender
from tests.conftest import table_counts

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 12:00 in São Paulo
DC, STORE, KIOSK = "dc-sp", "store-paulista", "kiosk-rio"
TEE_M, TEE_L = "TEE-AUR-M", "TEE-AUR-L"
PRICE = 9990
EMAIL = "ana.lima@example.org"
ADDRESS = {
    "name": "Ana Lima",
    "line1": "Rua Augusta, 500",
    "city": "São Paulo",
    "postal_code": "01305-000",
    "country": "BR",
}
LOCATIONS = (
    {
        "id": DC,
        "name": "DC São Paulo",
        "kind": "distribution_centre",
        "capabilities": ["ship", "accept_returns"],
        "address": {"country": "BR", "city": "Cajamar"},
        "priority": 10,
    },
    {
        "id": STORE,
        "name": "Store Paulista",
        "kind": "store",
        "capabilities": ["pickup", "ship_from_store", "accept_returns"],
        "address": {"country": "BR", "line1": "Av. Paulista, 1000", "city": "São Paulo"},
        "priority": 50,
    },
    {
        "id": KIOSK,
        "name": "Kiosk Rio",
        "kind": "store",
        "capabilities": ["pickup"],
        "address": {"country": "BR", "city": "Rio de Janeiro"},
        "priority": 90,
    },
)
AFTERSALES_TABLES = (
    "commerce_returns",
    "commerce_return_lines",
    "commerce_returned_units",
    "commerce_refunds",
    "commerce_exchanges",
    "commerce_loyalty_accounts",
    "commerce_loyalty_entries",
    "commerce_stock_movements",
    "commerce_reservations",
    "events",
)


@dataclass
class Shop:
    client: TestClient
    services: Services
    clock: FixedClock
    auth: dict[str, str]

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        key: str | None = None,
    ) -> Response:
        headers = dict(self.auth)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.request(method, path, json=body, headers=headers)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        response = self.call(method, path, body, **kw)
        assert response.status_code in (200, 201), (path, response.json())
        return response.json()

    def stock(self, location_id: str, sku: str) -> dict[str, int]:
        with self.services.uow(write=False) as uow:
            level = self.services.stock(uow).level(location_id, sku)
        if level is None:
            return {"sellable": 0, "damaged": 0, "reserved": 0}
        return {"sellable": level.sellable, "damaged": level.damaged, "reserved": level.reserved}

    def order(
        self,
        channel: str,
        group: dict[str, Any],
        *,
        key: str,
        location_id: str | None = None,
        customer: dict[str, Any] | None = None,
        customer_id: str | None = None,
        method: str = "card",
    ) -> dict[str, Any]:
        lines = group["lines"]
        total = sum(PRICE * line["qty"] for line in lines)
        body: dict[str, Any] = {
            "channel": channel,
            "groups": [group],
            "payment": {"method": method, "amount": total, "currency": "BRL"},
        }
        if location_id is not None:
            body["location_id"] = location_id
        if customer_id is not None:
            body["customer_id"] = customer_id
        else:
            body["customer"] = customer or {"email": EMAIL, "name": "Ana Lima"}
        placed: dict[str, Any] = self.ok("POST", "/api/commerce/orders", body, key=key)
        return placed

    def move(self, order_id: str, *events: str) -> dict[str, Any]:
        moved: dict[str, Any] = {}
        for event in events:
            self.clock.advance(timedelta(hours=6))
            moved = self.ok("POST", f"/api/commerce/orders/{order_id}/events", {"type": event})
        return moved

    def delivered_web_order(self, qty: int = 1, sku: str = TEE_M, key: str = "web-1") -> str:
        """The customer buys online; it ships from the DC and is delivered."""
        placed = self.order(
            "web",
            {"type": "ship", "lines": [{"sku": sku, "qty": qty}], "address": ADDRESS},
            key=key,
        )
        self.move(placed["id"], "shipped", "delivered")
        order_id: str = placed["id"]
        return order_id

    def counts(self) -> dict[str, int]:
        return table_counts(self.services, *AFTERSALES_TABLES)

    def timeline(self, customer_id: str) -> list[dict[str, Any]]:
        found = self.ok("GET", f"/api/customers/{customer_id}/timeline?order=asc&limit=200")
        items: list[dict[str, Any]] = found["items"]
        return items


def _set_up(shop: Shop) -> None:
    for location in LOCATIONS:
        shop.ok("POST", "/api/commerce/locations", location)
    product = shop.ok(
        "POST",
        "/api/commerce/products",
        {
            "handle": "camiseta-aurora",
            "title": "Camiseta Aurora",
            "variants": [
                {"sku": TEE_M, "options": {"size": "M"}},
                {"sku": TEE_L, "options": {"size": "L"}},
            ],
        },
    )
    for channel in ("web", "app", "store"):
        shop.ok(
            "PUT",
            f"/api/commerce/products/{product['id']}/listings/{channel}",
            {"published": True, "purchasable": True},
        )
    for sku in (TEE_M, TEE_L):
        shop.ok("PUT", f"/api/commerce/prices/{sku}", {"amount": PRICE})
    for location_id, sku, qty in ((DC, TEE_M, 10), (DC, TEE_L, 10), (STORE, TEE_L, 3)):
        shop.ok(
            "POST",
            "/api/commerce/stock/movements",
            {"kind": "receipt", "location_id": location_id, "sku": sku, "qty": qty},
        )


def open_shop(settings: Settings) -> Iterator[Shop]:
    clock = FixedClock(AT)
    services = build(settings, clock=clock, sender=FakeWebhookSender())
    upgrade(services.engines)
    with services.uow() as uow:
        _, secret = create_api_key(services.api_keys(uow), "till", "admin", uow.clock.now())
        uow.commit()
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            shop = Shop(client, services, clock, {"Authorization": f"Bearer {secret}"})
            _set_up(shop)
            yield shop
    finally:
        services.close()


@pytest.fixture
def shop(settings: Settings) -> Iterator[Shop]:
    yield from open_shop(settings)


def test_the_shop_sells_online_and_delivers(shop: Shop) -> None:
    order_id = shop.delivered_web_order(qty=2)
    order = shop.ok("GET", f"/api/commerce/orders/{order_id}")
    assert (order["channel"], order["status"]) == ("web", "delivered")
    assert shop.stock(DC, TEE_M) == {"sellable": 8, "damaged": 0, "reserved": 0}
    with shop.services.engines.main.connect() as conn:
        points = conn.execute(
            sa.text("SELECT kind, points, order_id FROM commerce_loyalty_entries")
        ).all()
    # Delivered: 2 x 99.90 earns 199 points, once, for that order.
    assert [tuple(row) for row in points] == [("earn", 199, order_id)]

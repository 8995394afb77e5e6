"""Orders over HTTP, on SQLite and PostgreSQL: placing from any channel with an Idempotency-Key,
prices from the catalog (a marketplace's own with a reason), the customer found or made from
identifiers, the timeline, guarded moves, listing, and erasure keeping the books.

`Shop` and `open_shop` are the commerce world the other order, cart and scenario tests share:
a distribution centre, two stores that ship and hand over pickups, a third that only hands
over pickups, three products priced and listed, and stock.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.commerce import catalog, locations, pricing
from omnicx.commerce.messages import (
    OrderCancelled,
    OrderCollected,
    OrderDelivered,
    OrderPlaced,
    OrderReadyForPickup,
    OrderShipped,
)
from omnicx.commerce.model import Money
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import Event, FixedClock
from omnicx.privacy import Actor
from tests.conftest import table_counts

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TEE, DRESS, SUIT = "TEE-M", "DRESS-M", "SUIT-50"
PRICES = {TEE: 7990, DRESS: 24990, SUIT: 129990}
ORDER_EVENTS = (
    OrderPlaced,
    OrderReadyForPickup,
    OrderCollected,
    OrderShipped,
    OrderDelivered,
    OrderCancelled,
)
WRITTEN = (
    "commerce_orders",
    "commerce_order_groups",
    "commerce_order_lines",
    "commerce_order_allocations",
    "commerce_order_history",
    "commerce_reservations",
    "commerce_stock_movements",
    "events",
    "profiles",
)
PLACES: tuple[dict[str, Any], ...] = (
    {
        "location_id": "dc-sp",
        "name": "DC São Paulo",
        "kind": "distribution_centre",
        "capabilities": ("ship",),
        "priority": 10,
        "latitude": -23.356,
        "longitude": -46.877,
    },
    {
        "location_id": "store-paulista",
        "name": "Store Paulista",
        "kind": "store",
        "capabilities": ("pickup", "ship_from_store", "accept_returns"),
        "priority": 50,
        "safety_stock": 1,
        "latitude": -23.565,
        "longitude": -46.652,
    },
    {
        "location_id": "store-pinheiros",
        "name": "Store Pinheiros",
        "kind": "store",
        "capabilities": ("pickup", "ship_from_store", "fitting"),
        "priority": 50,
        "safety_stock": 1,
        "latitude": -23.566,
        "longitude": -46.684,
    },
    {
        "location_id": "store-campinas",
        "name": "Store Campinas",
        "kind": "store",
        "capabilities": ("pickup",),
        "priority": 60,
        "safety_stock": 1,
        "latitude": -22.894,
        "longitude": -47.027,
    },
)
STOCK = {
    ("dc-sp", TEE): 10,
    ("store-paulista", TEE): 3,
    ("store-pinheiros", TEE): 2,
    ("dc-sp", DRESS): 5,
    ("store-pinheiros", DRESS): 2,
    ("store-pinheiros", SUIT): 2,
}
ADDRESS = {
    "name": "Marina Souza",
    "line1": "Rua Augusta, 1500",
    "city": "São Paulo",
    "postal_code": "01304-001",
    "country": "BR",
}


@dataclass
class Shop:
    client: TestClient
    services: Services
    clock: FixedClock
    auth: dict[str, str]
    raised: list[Event] = field(default_factory=list)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth)

    def post(self, path: str, body: Any, key: str | None = None) -> Any:
        headers = {**self.auth, **({"Idempotency-Key": key} if key else {})}
        return self.client.post(path, json=body, headers=headers)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(path, json=body, headers=self.auth)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.auth)

    def order(self, body: dict[str, Any], key: str = "k-1") -> dict[str, Any]:
        response = self.post("/api/commerce/orders", body, key)
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found

    def event(self, order_id: str, kind: str, **extra: Any) -> Any:
        return self.post(f"/api/commerce/orders/{order_id}/events", {"type": kind, **extra})

    def counts(self, *tables: str) -> dict[str, int]:
        return table_counts(self.services, *(tables or WRITTEN))

    def available(self, location_id: str, sku: str) -> int:
        with self.services.uow(write=False) as uow:
            return self.services.available(uow, location_id, sku)

    def sellable(self, location_id: str, sku: str) -> int:
        with self.services.uow(write=False) as uow:
            level = self.services.stock(uow).level(location_id, sku)
        return level.sellable if level else 0

    def reservations(self) -> list[dict[str, Any]]:
        with self.services.engines.main.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT location_id, sku, qty, status FROM commerce_reservations "
                    "ORDER BY location_id, sku, created_at"
                )
            )
            return [dict(row._mapping) for row in rows]

    def movements(self, sku: str) -> list[tuple[str, str, int]]:
        with self.services.engines.main.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT location_id, reason, qty FROM commerce_stock_movements "
                    "WHERE sku = :sku AND reason IN ('sale', 'ship') ORDER BY id"
                ),
                {"sku": sku},
            )
            return [(r.location_id, r.reason, r.qty) for r in rows]

    def timeline(self, customer_id: str) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/api/customers/{customer_id}/timeline", params={"limit": 50}, headers=self.auth
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return [i for i in items if i["event"] and i["event"].startswith("Order")]

    def customer(self, email: str) -> str:
        response = self.client.get(
            "/api/customers/lookup", params={"kind": "email", "value": email}, headers=self.auth
        )
        assert response.status_code == 200, response.text
        found: str = response.json()["id"]
        return found


def stock_the_shop(services: Services) -> None:
    with services.uow() as uow:
        now = uow.clock.now()
        repo, config = services.catalog(uow), services.catalog_config()
        for handle, sku, channels, store_only in (
            ("camiseta", TEE, ("web", "app", "store", "call_center", "marketplace"), ()),
            ("vestido", DRESS, ("web", "app", "store", "call_center"), ()),
            ("terno", SUIT, ("store",), ("web",)),
        ):
            product, _ = catalog.create_product(
                repo,
                catalog.ProductDraft(
                    handle=handle, title=handle.title(), variants=(catalog.VariantDraft(sku),)
                ),
                now,
            )
            for channel in channels:
                catalog.put_listing(
                    repo, config, product.id, channel, published=True, purchasable=True,
                    actor="test", now=now,
                )  # fmt: skip
            for channel in store_only:
                catalog.put_listing(
                    repo, config, product.id, channel, published=True, purchasable=False,
                    in_store_only=True, reason="needs fitting", actor="test", now=now,
                )  # fmt: skip
            pricing.set_base_price(repo, sku, Money(PRICES[sku], "BRL"), "test", now)
        stock = services.stock(uow)
        for place in PLACES:
            locations.create_location(
                stock,
                address=locations.Address("BR", city="São Paulo"),
                hours=locations.OpeningHours(),
                now=now,
                **place,
            )
        for (location_id, sku), qty in STOCK.items():
            services.receive(uow, location_id=location_id, sku=sku, qty=qty, ref="opening")
        uow.commit()


def open_shop(settings: Settings) -> Iterator[Shop]:
    clock = FixedClock(AT)
    services = build(settings, clock=clock)
    upgrade(services.engines)
    stock_the_shop(services)
    with services.uow() as uow:
        _, secret = create_api_key(services.api_keys(uow), "till", "admin", uow.clock.now())
        uow.commit()
    shop = Shop(
        TestClient(app_for(services, run_worker=False)),
        services,
        clock,
        {"Authorization": f"Bearer {secret}"},
    )
    for kind in ORDER_EVENTS:
        services.bus.subscribe(kind, lambda event, uow: shop.raised.append(event))
    with shop.client:
        yield shop
    services.close()


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    yield from open_shop(make_settings(rate_limit_api="100000/second"))


def web_ship(sku: str = TEE, qty: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "channel": "web",
        "customer": {"email": "marina@example.com", "name": "Marina Souza"},
        "groups": [{"type": "ship", "address": ADDRESS, "lines": [{"sku": sku, "qty": qty}]}],
        "payment": {
            "method": "card",
            "amount": PRICES[sku] * qty,
            "currency": "BRL",
            "reference": "psp-1",
        },
        **extra,
    }


# -- idempotency --------------------------------------------------------------------------------


def test_the_same_key_and_body_place_one_order_with_one_reservation(shop: Shop) -> None:
    first = shop.post("/api/commerce/orders", web_ship(), "key-1")
    assert first.status_code == 201, first.text
    before = shop.counts()

    again = shop.post("/api/commerce/orders", web_ship(), "key-1")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert shop.counts() == before
    assert shop.reservations() == [
        {"location_id": "dc-sp", "sku": TEE, "qty": 1, "status": "active"}
    ]
    assert [type(e).__name__ for e in shop.raised] == ["OrderPlaced"]


def test_the_same_key_with_another_body_is_a_conflict_and_writes_nothing(shop: Shop) -> None:
    placed = shop.order(web_ship(), key="key-1")
    before = shop.counts()

    other = shop.post("/api/commerce/orders", web_ship(qty=2), "key-1")

    assert other.status_code == 409
    error = other.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["field"] == "Idempotency-Key"
    assert placed["id"] in error["message"]
    assert shop.counts() == before


def test_an_order_needs_an_idempotency_key(shop: Shop) -> None:
    before = shop.counts()
    response = shop.post("/api/commerce/orders", web_ship())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert shop.counts() == before


# -- placing --------------------------------------------------------------------------------------


def test_a_web_order_is_priced_by_the_catalog_and_held_and_on_the_timeline(shop: Shop) -> None:
    order = shop.order(web_ship(qty=2))

    assert order["status"] == "allocated"
    assert order["channel"] == "web"
    assert order["total"] == {"amount": 2 * 7990, "currency": "BRL"}
    assert order["balance_due"] == {"amount": 0, "currency": "BRL"}
    assert order["payment"] == {
        "method": "card",
        "amount": {"amount": 15980, "currency": "BRL"},
        "reference": "psp-1",
    }
    assert order["lines"][0]["unit_price"] == {"amount": 7990, "currency": "BRL"}
    assert order["lines"][0]["price_source"] == "catalog"
    (group,) = order["groups"]
    assert group["address"]["name"] == "Marina Souza"
    assert group["allocations"][0]["location_id"] == "dc-sp"
    assert [h["to_status"] for h in order["history"]] == ["placed", "allocated"]
    assert shop.available("dc-sp", TEE) == 8
    customer = shop.customer("marina@example.com")
    assert order["customer_id"] == customer
    (placed,) = shop.timeline(customer)
    assert placed["event"] == "Order Completed"
    assert placed["channel"] == "web"
    assert placed["properties"]["order_id"] == order["id"]
    assert placed["properties"]["total"] == 15980
    assert placed["context"]["location_id"] is None
    (event,) = shop.raised
    assert isinstance(event, OrderPlaced)
    assert (event.order_id, event.customer_id, event.channel) == (order["id"], customer, "web")


def test_a_known_customer_id_is_used_and_an_unknown_one_refused(shop: Shop) -> None:
    first = shop.order(web_ship(), key="a")
    customer = first["customer_id"]
    second = shop.order({**web_ship(), "customer": None, "customer_id": customer}, key="b")
    assert second["customer_id"] == customer
    missing = shop.post(
        "/api/commerce/orders", {**web_ship(), "customer": None, "customer_id": "nobody"}, "c"
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "customer_id"


def test_a_marketplace_order_carries_its_price_with_a_reason(shop: Shop) -> None:
    body = web_ship(channel="marketplace", external_ref="MKT-77")
    body["payment"]["amount"] = 7490
    body["groups"][0]["lines"] = [
        {
            "sku": TEE,
            "qty": 1,
            "price": {"amount": 7490, "currency": "BRL"},
            "price_reason": "marketplace campaign",
        },
    ]
    order = shop.order(body)
    line = order["lines"][0]
    assert line["unit_price"]["amount"] == 7490
    assert line["base_price"]["amount"] == 7990
    assert (line["price_source"], line["price_reason"]) == ("marketplace", "marketplace campaign")
    assert order["external_ref"] == "MKT-77"
    assert order["total"]["amount"] == 7490
    assert order["balance_due"]["amount"] == 0


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (
            {
                "lines": [
                    {
                        "sku": TEE,
                        "qty": 1,
                        "price": {"amount": 1, "currency": "BRL"},
                        "price_reason": "cheap",
                    }
                ]
            },
            "price_not_allowed",
            "groups[0].lines[0].price",
        ),
        ({"lines": [{"sku": "NOPE", "qty": 1}]}, "sku_not_found", "groups[0].lines[0].sku"),
        ({"lines": [{"sku": SUIT, "qty": 1}]}, "not_purchasable", "groups[0].lines[0].sku"),
        ({"lines": [{"sku": TEE, "qty": 0}]}, "invalid_qty", "groups[0].lines[0].qty"),
        ({"address": None}, "address_required", "groups[0].address"),
        ({"type": "pickup", "address": None}, "location_required", "groups[0].location_id"),
        (
            {"type": "pickup", "address": None, "location_id": "dc-sp"},
            "cannot_pickup",
            "groups[0].location_id",
        ),
        (
            {"type": "ship_from_store", "location_id": "store-campinas"},
            "cannot_ship_from_store",
            "groups[0].location_id",
        ),
        (
            {"address": {**ADDRESS, "country": "br"}},
            "invalid_address",
            "groups[0].address.country",
        ),
    ],
)
def test_bad_orders_name_the_field_and_write_nothing(
    shop: Shop, change: dict[str, Any], code: str, field: str
) -> None:
    body = web_ship()
    body["groups"][0].update(change)
    before = shop.counts()
    response = shop.post("/api/commerce/orders", body, "bad")
    assert response.status_code in (400, 404, 422), response.text
    error = response.json()["error"]
    assert (error["code"], error.get("field")) == (code, field), error
    assert shop.counts() == before


def test_a_store_sale_names_its_store_and_a_walk_in_counter_is_a_store(shop: Shop) -> None:
    body = web_ship(channel="store")
    response = shop.post("/api/commerce/orders", body, "s1")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "location_id"
    response = shop.post("/api/commerce/orders", {**body, "location_id": "dc-sp"}, "s2")
    assert response.json()["error"]["code"] == "not_a_store"


def test_insufficient_stock_anywhere_is_a_conflict_and_writes_nothing(shop: Shop) -> None:
    shop.order(web_ship(DRESS, 1), key="first")
    before = shop.counts()
    # 5 in the DC less the one held, 2 in Pinheiros less its safety stock of 1: 5 to be had.
    response = shop.post("/api/commerce/orders", web_ship(DRESS, 6), "big")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_stock"
    assert error["field"] == "groups[0].lines[0].qty"
    assert error["message"] == f"only 5 of {DRESS} can be had for shipping"
    assert shop.counts() == before
    assert shop.customer("marina@example.com")


def test_a_line_split_over_locations_when_none_has_it_all(shop: Shop) -> None:
    order = shop.order(web_ship(TEE, 12))
    held = {a["location_id"]: a["qty"] for a in order["groups"][0]["allocations"]}
    # DC first (10), then the stores by priority, each keeping its safety stock.
    assert held == {"dc-sp": 10, "store-paulista": 2}
    assert shop.available("store-paulista", TEE) == 1


# -- moving -------------------------------------------------------------------------------------


def test_cancel_releases_the_stock(shop: Shop) -> None:
    order = shop.order(web_ship(TEE, 3))
    assert shop.available("dc-sp", TEE) == 7

    cancelled = shop.event(order["id"], "cancel")

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["groups"][0]["allocations"][0]["status"] == "released"
    assert shop.available("dc-sp", TEE) == 10
    assert [r["status"] for r in shop.reservations()] == ["released"]
    assert [e["event"] for e in shop.timeline(order["customer_id"])] == [
        "Order Cancelled",
        "Order Completed",
    ]


def test_moves_are_guarded_and_a_refused_move_writes_nothing(shop: Shop) -> None:
    order = shop.order(web_ship())
    before = shop.counts()
    for kind, code in (
        ("collected", "invalid_transition"),
        ("ready_for_pickup", "invalid_transition"),
        ("delivered", "invalid_transition"),
    ):
        response = shop.event(order["id"], kind)
        assert response.status_code == 409, kind
        assert response.json()["error"]["code"] == code
        assert "group 0 (ship) is allocated" in response.json()["error"]["message"]
    assert shop.counts() == before
    assert shop.event(order["id"], "shipped", tracking="BR123").status_code == 200
    refused = shop.event(order["id"], "cancel")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "the order cannot be cancelled: group 0 (ship) is shipped"
    )
    assert shop.event(order["id"], "nonsense").status_code == 422
    assert shop.event("missing", "cancel").status_code == 404


def test_orders_are_listed_newest_first_by_customer_and_paged(shop: Shop) -> None:
    placed = []
    for n in range(3):
        placed.append(shop.order(web_ship(), key=f"o{n}")["id"])
        shop.clock.advance(timedelta(minutes=1))
    customer = shop.customer("marina@example.com")
    page = shop.get("/api/commerce/orders", customer_id=customer, limit=2).json()
    assert [o["id"] for o in page["items"]] == placed[::-1][:2]
    rest = shop.get("/api/commerce/orders", customer_id=customer, after=page["next"]).json()
    assert [o["id"] for o in rest["items"]] == [placed[0]]
    assert rest["next"] is None
    assert shop.get("/api/commerce/orders", location_id="dc-sp").json()["items"]
    assert shop.get("/api/commerce/orders", channel="app").json()["items"] == []
    assert shop.get(f"/api/commerce/orders/{placed[0]}").json()["id"] == placed[0]
    with shop.services.uow(write=False) as uow:
        assert [o.id for o in shop.services.orders_of(uow, customer)] == placed[::-1]


def test_erasure_keeps_the_order_for_the_books_without_the_person(shop: Shop) -> None:
    order = shop.order(web_ship())
    customer = order["customer_id"]
    shop.services.erase_customer(
        customer, Actor("api_key", "k", "admin", "admin"), "the customer asked"
    )
    with shop.services.engines.main.connect() as conn:
        row = conn.execute(
            sa.text("SELECT customer_id, customer_name, total, erasure_ref FROM commerce_orders")
        ).one()
        address = conn.execute(sa.text("SELECT address FROM commerce_order_groups")).scalar()
    assert row.customer_id is None
    assert row.customer_name is None
    assert row.total == 7990
    assert row.erasure_ref
    assert address is None

"""Carts over HTTP on SQLite and PostgreSQL: one cart per customer on every device and
channel, anonymous carts joining the customer's on identify (and on a profile merge), lines
priced at add time and quoted again at checkout, and idle carts dropped."""

import base64
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from omnicx.commerce import pricing
from omnicx.commerce.model import Money
from omnicx.config import Settings
from omnicx.events import create_source
from omnicx.workers import Worker
from tests.commerce.test_orders_api import ADDRESS, DRESS, SUIT, TEE, Shop, open_shop

CARTS = ("commerce_carts", "commerce_cart_lines", "commerce_orders", "commerce_reservations")


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    yield from open_shop(make_settings(rate_limit_api="100000/second"))


def identify(shop: Shop, user_id: str, anonymous_id: str, email: str) -> None:
    with shop.services.uow() as uow:
        source = create_source(
            shop.services.events(uow), f"web {anonymous_id}", "web", uow.clock.now()
        )
        uow.commit()
    token = base64.b64encode(f"{source.write_key}:".encode()).decode()
    response = shop.client.post(
        "/v1/identify",
        json={"userId": user_id, "anonymousId": anonymous_id, "traits": {"email": email}},
        headers={"Authorization": f"Basic {token}"},
    )
    assert response.status_code == 200, response.text
    Worker(shop.services).drain()


def cart(shop: Shop, **owner: str) -> dict[str, Any]:
    response = shop.get("/api/commerce/carts", **owner)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def add(shop: Shop, cart_id: str, sku: str, qty: int = 1, **extra: Any) -> dict[str, Any]:
    response = shop.post(f"/api/commerce/carts/{cart_id}/lines", {"sku": sku, "qty": qty, **extra})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_two_anonymous_sessions_become_one_cart_when_the_person_identifies(shop: Shop) -> None:
    phone = cart(shop, anonymous_id="anon-phone", channel="app")
    laptop = cart(shop, anonymous_id="anon-laptop", channel="web")
    assert phone["id"] != laptop["id"]
    assert phone["anonymous"] is True
    add(shop, phone["id"], TEE, 1)
    shop.clock.advance(timedelta(minutes=5))
    add(shop, laptop["id"], TEE, 2)
    add(shop, laptop["id"], DRESS, 1)
    assert cart(shop, anonymous_id="anon-phone")["id"] == phone["id"]

    identify(shop, "u-42", "anon-phone", "ana@example.com")
    identify(shop, "u-42", "anon-laptop", "ana@example.com")
    customer = shop.customer("ana@example.com")

    mine = cart(shop, customer_id=customer)
    assert mine["customer_id"] == customer
    assert mine["anonymous"] is False
    assert {line["sku"]: line["qty"] for line in mine["lines"]} == {TEE: 3, DRESS: 1}
    # Every device lands on it, whichever id it still holds.
    assert cart(shop, anonymous_id="anon-phone")["id"] == mine["id"]
    assert cart(shop, anonymous_id="anon-laptop", channel="app")["id"] == mine["id"]
    assert shop.get(f"/api/commerce/carts/{phone['id']}").json()["id"] == mine["id"]
    assert shop.get(f"/api/commerce/carts/{laptop['id']}").json()["id"] == mine["id"]
    assert shop.counts("commerce_carts") == {"commerce_carts": 2}  # one absorbed into the other


def test_the_newest_price_wins_when_carts_join(shop: Shop) -> None:
    phone = cart(shop, anonymous_id="anon-phone")
    add(shop, phone["id"], TEE)
    with shop.services.uow() as uow:
        shop.clock.advance(timedelta(hours=1))
        pricing.set_base_price(
            shop.services.catalog(uow), TEE, Money(6990, "BRL"), "t", uow.clock.now()
        )
        uow.commit()
    laptop = cart(shop, anonymous_id="anon-laptop")
    add(shop, laptop["id"], TEE)
    identify(shop, "u-7", "anon-phone", "bia@example.com")
    identify(shop, "u-7", "anon-laptop", "bia@example.com")
    (line,) = cart(shop, customer_id=shop.customer("bia@example.com"))["lines"]
    assert (line["qty"], line["unit_price"]["amount"]) == (2, 6990)


def test_a_customer_has_one_cart_on_every_channel(shop: Shop) -> None:
    order = shop.order(
        {
            "channel": "web",
            "customer": {"email": "caio@example.com"},
            "groups": [{"type": "ship", "address": ADDRESS, "lines": [{"sku": TEE, "qty": 1}]}],
        }
    )
    customer = order["customer_id"]
    web = cart(shop, customer_id=customer, channel="web")
    add(shop, web["id"], TEE, 2)
    app = cart(shop, customer_id=customer, channel="app")
    assert app["id"] == web["id"]
    assert app["lines"][0]["qty"] == 2
    # A store associate adds at the store's price (the same book) on the same cart.
    store = add(shop, web["id"], SUIT, 1, channel="store")
    assert store["channel"] == "store"
    assert {line["sku"]: line["channel"] for line in store["lines"]} == {TEE: "web", SUIT: "store"}


def test_lines_are_changed_and_removed_and_refusals_write_nothing(shop: Shop) -> None:
    mine = cart(shop, anonymous_id="anon-1")
    add(shop, mine["id"], TEE, 2)
    changed = shop.patch(f"/api/commerce/carts/{mine['id']}/lines/{TEE}", {"qty": 5}).json()
    assert changed["lines"][0]["qty"] == 5
    assert changed["total"] == {"amount": 5 * 7990, "currency": "BRL"}
    before = shop.counts(*CARTS)
    lines = f"/api/commerce/carts/{mine['id']}/lines"
    refusals = [
        (shop.post(lines, {"sku": "NOPE"}), 404, "sku_not_found"),
        (shop.post(lines, {"sku": SUIT}), 400, "not_purchasable"),
        (shop.post(lines, {"sku": TEE, "qty": 0}), 400, "invalid_qty"),
        (shop.post(lines, {"sku": TEE, "channel": "fax"}), 400, "invalid_channel"),
        (shop.patch(f"{lines}/{DRESS}", {"qty": 1}), 404, "line_not_found"),
        (shop.post("/api/commerce/carts/nope/lines", {"sku": TEE}), 404, "cart_not_found"),
        (shop.get("/api/commerce/carts"), 400, "cart_owner_required"),
        (shop.get("/api/commerce/carts", customer_id="nobody"), 404, "customer_not_found"),
    ]
    for response, status, code in refusals:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
    assert shop.counts(*CARTS) == before
    emptied = shop.delete(f"/api/commerce/carts/{mine['id']}/lines/{TEE}").json()
    assert emptied["lines"] == []


def test_checkout_quotes_again_and_shows_what_changed(shop: Shop) -> None:
    mine = cart(shop, anonymous_id="anon-1")
    add(shop, mine["id"], TEE, 2)
    add(shop, mine["id"], DRESS, 1)
    with shop.services.uow() as uow:
        pricing.set_base_price(
            shop.services.catalog(uow), TEE, Money(6990, "BRL"), "t", uow.clock.now()
        )
        uow.commit()
    body = {
        "customer": {"email": "dora@example.com", "name": "Dora"},
        "groups": [
            {"type": "pickup", "location_id": "store-pinheiros", "skus": [DRESS]},
            {"type": "ship", "address": ADDRESS},
        ],
        "expected_total": 2 * 7990 + 24990,
    }
    before = shop.counts(*CARTS)
    stale = shop.post(f"/api/commerce/carts/{mine['id']}/checkout", body, "chk-1")
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "prices_changed"
    assert f"{TEE} 7990 → 6990" in stale.json()["error"]["message"]
    assert shop.counts(*CARTS) == before

    body["expected_total"] = 2 * 6990 + 24990
    placed = shop.post(f"/api/commerce/carts/{mine['id']}/checkout", body, "chk-2")
    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["price_changes"] == [
        {
            "sku": TEE,
            "qty": 2,
            "was": {"amount": 7990, "currency": "BRL"},
            "now": {"amount": 6990, "currency": "BRL"},
            "difference": {"amount": -2000, "currency": "BRL"},
        }
    ]
    order = answer["order"]
    assert order["cart_id"] == mine["id"]
    assert order["total"]["amount"] == 2 * 6990 + 24990
    assert [(g["type"], [x["sku"] for x in order["lines"] if x["group"] == g["position"]])
            for g in order["groups"]] == [("pickup", [DRESS]), ("ship", [TEE])]  # fmt: skip
    assert order["customer_id"] == shop.customer("dora@example.com")
    closed = shop.get(f"/api/commerce/carts/{mine['id']}").json()
    assert (closed["status"], closed["order_id"]) == ("checked_out", order["id"])

    again = shop.post(f"/api/commerce/carts/{mine['id']}/checkout", body, "chk-2")
    assert again.status_code == 200
    assert again.json()["order"]["id"] == order["id"]
    other = shop.post(f"/api/commerce/carts/{mine['id']}/checkout", body, "chk-3")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "cart_checked_out"
    # The visitor's next visit starts a new cart.
    assert cart(shop, anonymous_id="anon-1")["id"] != mine["id"]


def test_checkout_refuses_groups_that_do_not_cover_the_cart(shop: Shop) -> None:
    mine = cart(shop, anonymous_id="anon-1")
    add(shop, mine["id"], TEE)
    add(shop, mine["id"], DRESS)
    path = f"/api/commerce/carts/{mine['id']}/checkout"
    for groups, code in (
        ([{"type": "ship", "address": ADDRESS, "skus": [TEE]}], "line_unassigned"),
        ([{"type": "ship", "address": ADDRESS, "skus": ["X"]}], "line_not_in_cart"),
        (
            [{"type": "ship", "address": ADDRESS}, {"type": "ship", "address": ADDRESS}],
            "skus_required",
        ),
    ):
        response = shop.post(path, {"groups": groups}, "k")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
    empty = cart(shop, anonymous_id="anon-2")
    response = shop.post(
        f"/api/commerce/carts/{empty['id']}/checkout",
        {"groups": [{"type": "ship", "address": ADDRESS}]},
        "k",
    )
    assert response.json()["error"]["code"] == "cart_empty"


def test_a_merged_profiles_cart_joins_the_survivors(shop: Shop) -> None:
    first = shop.order(
        {"channel": "web", "customer": {"email": "eva@example.com"},
         "groups": [{"type": "ship", "address": ADDRESS, "lines": [{"sku": TEE, "qty": 1}]}]},
        key="o1",
    )  # fmt: skip
    second = shop.order(
        {"channel": "app", "customer": {"phone": "+55 11 98888-1111"},
         "groups": [{"type": "ship", "address": ADDRESS, "lines": [{"sku": TEE, "qty": 1}]}]},
        key="o2",
    )  # fmt: skip
    by_email = cart(shop, customer_id=first["customer_id"])
    by_phone = cart(shop, customer_id=second["customer_id"])
    add(shop, by_email["id"], TEE)
    add(shop, by_phone["id"], DRESS)

    identify(shop, "u-eva", "anon-x", "eva@example.com")
    response = shop.client.post(
        "/v1/identify",
        json={"userId": "u-eva", "traits": {"phone": "+55 11 98888-1111"}},
        headers=_write_auth(shop),
    )
    assert response.status_code == 200
    Worker(shop.services).drain()

    survivor = shop.customer("eva@example.com")
    joined = cart(shop, customer_id=survivor)
    assert {line["sku"] for line in joined["lines"]} == {TEE, DRESS}
    assert cart(shop, customer_id=second["customer_id"])["id"] == joined["id"]


def _write_auth(shop: Shop) -> dict[str, str]:
    with shop.services.uow() as uow:
        source = create_source(shop.services.events(uow), "merge", "web", uow.clock.now())
        uow.commit()
    return {"Authorization": "Basic " + base64.b64encode(f"{source.write_key}:".encode()).decode()}


def test_idle_carts_are_dropped(shop: Shop) -> None:
    old = cart(shop, anonymous_id="anon-old")
    add(shop, old["id"], TEE)
    shop.clock.advance(timedelta(days=20))
    fresh = cart(shop, anonymous_id="anon-new")
    shop.clock.advance(timedelta(days=11))
    worker = Worker(shop.services)
    assert worker.expire_carts() == 1
    assert worker.expire_carts() is None  # not due again for an hour
    assert shop.get(f"/api/commerce/carts/{old['id']}").status_code == 404
    assert shop.get(f"/api/commerce/carts/{fresh['id']}").status_code == 200
    assert shop.counts("commerce_cart_lines") == {"commerce_cart_lines": 0}

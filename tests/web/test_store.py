"""The store associate's view: the customer at the counter by phone or loyalty card, their
online cart, orders and open conversations; recording the visit, click-and-collect and
endless-aisle orders, returns and exchanges of online orders; and who may use it."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.conftest import table_counts
from tests.web.test_customers import unlabelled

Console = Callable[..., tuple[TestClient, str]]

DC, STORE, KIOSK = "dc-sp", "store-paulista", "kiosk-rio"
TEE_M, TEE_L = "TEE-AUR-M", "TEE-AUR-L"
PRICE = 9990
ADDRESS = {
    "name": "Ana Lima",
    "line1": "Rua Augusta, 500",
    "city": "São Paulo",
    "postal_code": "01305-000",
    "country": "BR",
}
WRITES = (
    "commerce_orders",
    "commerce_reservations",
    "commerce_returns",
    "commerce_refunds",
    "commerce_exchanges",
    "commerce_stock_movements",
    "conversations",
    "messages",
    "events",
)


@dataclass
class Shop:
    client: TestClient
    services: Services
    auth: dict[str, str]
    customer_id: str = ""
    web_order: str = ""
    account_id: str = ""

    def ok(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = dict(self.auth)
        if key:
            headers["Idempotency-Key"] = key
        answer = self.client.request(method, path, json=body, headers=headers)
        assert answer.status_code in (200, 201), (path, answer.text)
        return answer.json()

    def stock(self, location_id: str, sku: str) -> tuple[int, int, int]:
        with self.services.uow(write=False) as uow:
            level = self.services.stock(uow).level(location_id, sku)
        return (level.sellable, level.damaged, level.reserved) if level else (0, 0, 0)

    def counts(self) -> dict[str, int]:
        return table_counts(self.services, *WRITES)


@pytest.fixture
def shop(client: TestClient, admin: dict[str, str], services: Services) -> Shop:
    """A DC, a store that takes returns and a kiosk; a tee in M and L; and Ana, who bought
    two tees online (delivered) and has a loyalty card."""
    shop = Shop(client, services, admin)
    for place in (
        {"id": DC, "name": "DC São Paulo", "kind": "distribution_centre",
         "capabilities": ["ship", "accept_returns"], "address": {"country": "BR"}, "priority": 10},
        {"id": STORE, "name": "Store Paulista", "kind": "store",
         "capabilities": ["pickup", "ship_from_store", "accept_returns"],
         "address": {"country": "BR"}, "priority": 50},
        {"id": KIOSK, "name": "Kiosk Rio", "kind": "store", "capabilities": ["pickup"],
         "address": {"country": "BR"}, "priority": 90},
    ):  # fmt: skip
        shop.ok("POST", "/api/commerce/locations", place)
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
    for channel in ("web", "store"):
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
    order = shop.ok(
        "POST",
        "/api/commerce/orders",
        {
            "channel": "web",
            "groups": [{"type": "ship", "lines": [{"sku": TEE_M, "qty": 2}], "address": ADDRESS}],
            "customer": {
                "email": "ana.lima@example.org",
                "phone": "(11) 98888-7777",
                "loyalty_id": "LC-7007",
                "name": "Ana Lima",
            },
            "payment": {"method": "card", "amount": 2 * PRICE, "currency": "BRL"},
        },
        key="web-1",
    )
    for event in ("shipped", "delivered"):
        shop.ok("POST", f"/api/commerce/orders/{order['id']}/events", {"type": event})
    shop.customer_id = order["customer_id"]
    shop.web_order = order["id"]
    loyalty = shop.ok("GET", f"/api/customers/{shop.customer_id}/loyalty")
    shop.account_id = loyalty["account_id"]
    return shop


def panel_of(client: TestClient, shop: Shop) -> str:
    page = client.get(f"/store/customers/{shop.customer_id}")
    assert page.status_code == 200, page.text
    return page.text


def test_the_counter_finds_the_customer_by_phone_or_loyalty_card(
    console: Console, shop: Shop
) -> None:
    client, _ = console("store_associate")
    home = client.get("/store")
    assert home.status_code == 200
    assert '<body class="touch">' in home.text
    assert '<label for="counter-q">Phone or loyalty card</label>' in home.text
    assert "data-search" in home.text
    for typed in ("(11) 98888-7777", "+55 11 98888 7777", "LC-7007", shop.account_id):
        found = client.get("/store", params={"q": typed}, follow_redirects=False)
        assert (typed, found.status_code) == (typed, 303)
        assert found.headers["location"] == f"/store/customers/{shop.customer_id}"
    for typed in ("(11) 97777-0000", "LC-0000", "ana.lima@example.org"):
        none = client.get("/store", params={"q": typed})
        assert none.status_code == 200
        assert f"No customer found for “{typed}”." in none.text


def test_the_panel_shows_the_online_cart_orders_and_open_conversations(
    console: Console, shop: Shop
) -> None:
    cart = shop.ok("GET", f"/api/commerce/carts?customer_id={shop.customer_id}&channel=web")
    shop.ok("POST", f"/api/commerce/carts/{cart['id']}/lines", {"sku": TEE_L, "qty": 2})
    call = shop.ok(
        "POST",
        "/api/calls",
        {"direction": "inbound", "number": "11988887777", "duration_seconds": 60,
         "outcome": "answered", "notes": "Where is my order?"},
    )  # fmt: skip
    client, _ = console("store_associate")
    page = panel_of(client, shop)
    assert '<h1 id="customer-name" data-customer-id="' in page
    assert ">ana.lima@example.org</h1>" in page
    assert "<dt>Loyalty card</dt><dd>LC-7007</dd>" in page
    assert '<dd id="points">199 · member</dd>' in page
    cart_html = page.split(f'data-cart-id="{cart["id"]}"')[1].split("</table>")[0]
    assert "<tr><td>TEE-AUR-L</td><td>2</td><td>199.80 BRL</td></tr>" in cart_html
    orders = page.split('id="store-orders"')[1].split("</ul>")[0]
    assert f'data-order-id="{shop.web_order}"' in orders
    assert "Shipping: delivered" in orders
    assert "2 \N{MULTIPLICATION SIGN} TEE-AUR-M" in orders
    assert f'<a href="/conversations/{call["conversation_id"]}">' in page
    assert f'data-live-src="/customers/{shop.customer_id}/conversations?open=1"' in page
    assert unlabelled(page) == []
    assert unlabelled(client.get("/store").text) == []
    fragment = client.get(f"/customers/{shop.customer_id}/conversations?open=1")
    assert f'data-conversation-id="{call["conversation_id"]}"' in fragment.text
    assert "<html" not in fragment.text


def test_recording_a_visit_writes_it_on_the_conversation_and_timeline(
    console: Console, shop: Shop, services: Services
) -> None:
    client, csrf = console("store_associate")
    before = shop.counts()
    path = f"/store/customers/{shop.customer_id}/visits"
    forged = client.post(path, data={"csrf": "nope", "store": STORE, "notes": "x"})
    assert forged.status_code == 403
    unknown = client.post(path, data={"csrf": csrf, "store": "nowhere", "notes": "Hi"})
    assert unknown.status_code == 400
    assert "Choose the store you are in." in unknown.text
    assert shop.counts() == before

    form = {"csrf": csrf, "store": STORE, "notes": "Tried the L size", "visit_id": "v-1"}
    answer = client.post(path, data=form, follow_redirects=False)
    assert answer.status_code == 303
    conversation_id = re.findall(r"ref=([^&]+)", answer.headers["location"])[0]
    assert client.post(path, data=form, follow_redirects=False).status_code == 303
    with services.uow(write=False) as uow:
        messages = services.conversations(uow).messages_of(conversation_id)
        timeline = uow.conn.exec_driver_sql(
            "SELECT event, channel FROM events WHERE profile_id = ? AND channel = 'store'",
            (shop.customer_id,),
        ).all()
    visits = [m for m in messages if m.kind == "visit"]
    assert [(m.channel, m.text, m.metadata["store"], m.metadata["associate"]) for m in visits] == [
        ("store", "Tried the L size", STORE, "Store Associate Person")
    ]
    assert [tuple(row) for row in timeline] == [("Store Visit", "store")]
    shown = client.get(answer.headers["location"])
    assert "Visit recorded on the customer&#39;s conversation." in shown.text
    assert shown.cookies.get("omnicx_store") is None
    assert client.cookies.get("omnicx_store") == STORE


def test_a_click_and_collect_order_is_placed_with_its_reservation(
    console: Console, shop: Shop, services: Services
) -> None:
    client, csrf = console("store_associate")
    path = f"/store/customers/{shop.customer_id}/orders"
    form = {
        "csrf": csrf,
        "order_key": "k-1",
        "fulfilment": "pickup",
        "store": STORE,
        "pickup_store": "",
        "sku": [TEE_L, "", "", ""],
        "qty": ["2", "1", "1", "1"],
    }
    answer = client.post(path, data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    order_id = re.findall(r"ref=([^&]+)", answer.headers["location"])[0]
    order = shop.ok("GET", f"/api/commerce/orders/{order_id}")
    assert (order["channel"], order["location_id"], order["customer_id"]) == (
        "store",
        STORE,
        shop.customer_id,
    )
    assert [(g["type"], g["location_id"], g["status"]) for g in order["groups"]] == [
        ("pickup", STORE, "allocated")
    ]
    with services.uow(write=False) as uow:
        held = uow.conn.exec_driver_sql(
            "SELECT location_id, sku, qty, status FROM commerce_reservations WHERE ref = ?",
            (f"order {order_id}",),
        ).all()
    assert [tuple(row) for row in held] == [(STORE, TEE_L, 2, "active")]
    assert shop.stock(STORE, TEE_L) == (3, 0, 2)
    page = client.get(answer.headers["location"])
    assert f"Order {order_id} placed." in page.text
    assert "Click and collect (store-paulista): allocated · collect by" in page.text
    counts = shop.counts()
    again = client.post(path, data=form, follow_redirects=False)
    assert again.headers["location"] == answer.headers["location"]
    assert shop.counts() == counts


def test_an_endless_aisle_order_ships_from_the_network(console: Console, shop: Shop) -> None:
    client, csrf = console("store_associate")
    answer = client.post(
        f"/store/customers/{shop.customer_id}/orders",
        data={"csrf": csrf, "order_key": "k-2", "fulfilment": "endless_aisle", "store": STORE,
              "sku": [TEE_M], "qty": ["1"], **ADDRESS},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    order_id = re.findall(r"ref=([^&]+)", answer.headers["location"])[0]
    order = shop.ok("GET", f"/api/commerce/orders/{order_id}")
    assert [(g["type"], g["address"]["city"]) for g in order["groups"]] == [
        ("endless_aisle", "São Paulo")
    ]
    assert [(a["location_id"], a["qty"]) for a in order["groups"][0]["allocations"]] == [(DC, 1)]


BAD_ORDERS: list[tuple[dict[str, Any], int, str]] = [
    ({"sku": ["", ""], "qty": ["1", "1"]}, 400, "Add at least one item: its SKU and how many."),
    ({"qty": ["two"]}, 400, "Quantities are whole numbers from 1 to 10,000."),
    ({"sku": ["NOPE-1"]}, 404, "The order was not placed: groups[0].lines[0].sku"),
    ({"qty": ["9"]}, 409, "The order was not placed: "),
    ({"fulfilment": "ship"}, 400, "Choose click and collect or endless aisle."),
    ({"fulfilment": "endless_aisle"}, 400, "The order was not placed: "),
    ({"store": "nowhere"}, 404, "The order was not placed: no active location"),
]


def test_a_bad_order_says_why_and_writes_nothing(console: Console, shop: Shop) -> None:
    client, csrf = console("store_associate")
    before = shop.counts()
    for fields, status, message in BAD_ORDERS:
        form = {"csrf": csrf, "order_key": "k-bad", "fulfilment": "pickup", "store": STORE,
                "sku": [TEE_L], "qty": ["1"], **fields}  # fmt: skip
        answer = client.post(f"/store/customers/{shop.customer_id}/orders", data=form)
        assert (fields, answer.status_code) == (fields, status)
        error = answer.text.split('id="new-order"')[1].split("</form>")[0]
        assert message in error.replace("&#39;", "'"), fields
        assert shop.counts() == before


def test_a_return_of_an_online_order_is_accepted_at_the_store(
    console: Console, shop: Shop, services: Services
) -> None:
    client, csrf = console("store_associate")
    page = panel_of(client, shop)
    assert f'<details class="return-order" data-order-id="{shop.web_order}"' in page
    path = f"/store/customers/{shop.customer_id}/returns"
    form = {
        "csrf": csrf,
        "return_key": "r-1",
        "order_id": shop.web_order,
        "location": STORE,
        "refund_to": "store_credit",
        "line_sku": [TEE_M],
        "line_qty": ["1"],
        "line_reason": ["wrong_size"],
        "line_condition": ["resellable"],
        "new_sku": ["", ""],
        "new_qty": ["1", "1"],
        "note": "too small",
    }
    before = shop.stock(STORE, TEE_M)
    answer = client.post(path, data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return_id = re.findall(r"ref=([^&]+)", answer.headers["location"])[0]
    assert before == (0, 0, 0)
    assert shop.stock(STORE, TEE_M) == (1, 0, 0)
    with services.uow(write=False) as uow:
        refunds = uow.conn.exec_driver_sql(
            "SELECT return_id, amount, method FROM commerce_refunds"
        ).all()
        taken = uow.conn.exec_driver_sql(
            "SELECT order_id, location_id, refund_to, staff FROM commerce_returns"
        ).all()
    assert [tuple(r) for r in refunds] == [(return_id, PRICE, "store_credit")]
    assert [tuple(t) for t in taken] == [
        (shop.web_order, STORE, "store_credit", "Store Associate Person")
    ]
    shown = client.get(answer.headers["location"])
    assert f"Return {return_id} accepted." in shown.text
    assert '<dd id="credit">99.90 BRL</dd>' in shown.text


def test_an_exchange_swaps_the_items_at_the_store(
    console: Console, shop: Shop, services: Services
) -> None:
    client, csrf = console("store_associate")
    answer = client.post(
        f"/store/customers/{shop.customer_id}/returns",
        data={"csrf": csrf, "return_key": "x-1", "order_id": shop.web_order, "location": STORE,
              "refund_to": "original", "line_sku": [TEE_M], "line_qty": ["1"],
              "line_reason": ["wrong_size"], "line_condition": ["resellable"],
              "new_sku": [TEE_L, ""], "new_qty": ["1", "1"]},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert "done=exchange" in answer.headers["location"]
    assert table_counts(services, "commerce_exchanges", "commerce_returns") == {
        "commerce_exchanges": 1,
        "commerce_returns": 1,
    }
    assert shop.stock(STORE, TEE_M) == (1, 0, 0)
    assert shop.stock(STORE, TEE_L)[0] == 2


BAD_RETURNS: list[tuple[dict[str, Any], int, str]] = [
    ({"line_qty": ["0"]}, 400, "Say how many of at least one item come back."),
    ({"line_qty": ["x"]}, 400, "Quantities are whole numbers from 1 to 10,000."),
    ({"line_qty": ["5"]}, 409, "Nothing was taken back: "),
    ({"location": KIOSK}, 409, "Kiosk Rio does not accept returns"),
    ({"line_condition": ["broken"]}, 400, "Choose a reason and a condition for each item."),
    ({"order_id": "someone-elses"}, 404, "Nothing was taken back: no order"),
]


def test_a_bad_return_says_why_and_writes_nothing(console: Console, shop: Shop) -> None:
    client, csrf = console("store_associate")
    before = shop.counts()
    for fields, status, message in BAD_RETURNS:
        form = {"csrf": csrf, "return_key": "r-bad", "order_id": shop.web_order,
                "location": STORE, "refund_to": "original", "line_sku": [TEE_M],
                "line_qty": ["1"], "line_reason": ["wrong_size"],
                "line_condition": ["resellable"], **fields}  # fmt: skip
        answer = client.post(f"/store/customers/{shop.customer_id}/returns", data=form)
        assert (fields, answer.status_code) == (fields, status)
        assert message in answer.text, fields
        assert shop.counts() == before
    forged = client.post(
        f"/store/customers/{shop.customer_id}/returns",
        data={"csrf": "forged", "order_id": shop.web_order, "location": STORE,
              "line_sku": [TEE_M], "line_qty": ["1"], "line_reason": ["wrong_size"],
              "line_condition": ["resellable"]},
    )  # fmt: skip
    assert forged.status_code == 403
    assert shop.counts() == before


def test_the_store_view_is_for_roles_that_sell(console: Console, shop: Shop) -> None:
    for role in ("analyst", "marketer"):
        client, csrf = console(role)
        for path in ("/store", f"/store/customers/{shop.customer_id}", "/store?q=LC-7007"):
            answer = client.get(path)
            assert (role, path, answer.status_code) == (role, path, 403)
        refused = client.post(
            f"/store/customers/{shop.customer_id}/visits", data={"csrf": csrf, "store": STORE}
        )
        assert refused.status_code == 403

"""Commerce under privacy: an export carries the customer's orders, carts, returns, exchanges,
refunds and loyalty in plain text; an erasure leaves the books (amounts, dates, SKUs, places)
under no name and no personal value anywhere, and deletes the loyalty account."""

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from omnicx.config import Settings
from tests.commerce.test_returns_shop import EMAIL, STORE, TEE_L, TEE_M, Shop, open_shop

PERSONAL = {EMAIL, "Ana Lima", "Rua Augusta, 500", "01305-000", "hem came undone", "birthday"}


@pytest.fixture(params=["sealed", "plain"])
def shop(request: pytest.FixtureRequest, make_settings: Any) -> Iterator[Shop]:
    """Each test twice: sealed at rest, and with sealing off, where anything left behind would
    show in plain text."""
    settings: Settings = make_settings(
        **({"sensitive_fields": []} if request.param == "plain" else {})
    )
    yield from open_shop(settings)


def _story(shop: Shop) -> tuple[str, str, dict[str, Any]]:
    order_id = shop.delivered_web_order(qty=2)
    customer = shop.ok("GET", f"/api/customers/lookup?kind=email&value={EMAIL}")["id"]
    returned = shop.ok(
        "POST",
        "/api/commerce/returns",
        {
            "order_id": order_id,
            "location_id": STORE,
            "lines": [{"sku": TEE_M, "qty": 1, "reason": "faulty", "condition": "damaged"}],
            "refund_to": "store_credit",
            "note": "hem came undone",
        },
        key="ret-1",
    )
    shop.ok(
        "POST",
        "/api/commerce/exchanges",
        {
            "order_id": order_id,
            "location_id": STORE,
            "lines": [{"sku": TEE_M, "qty": 1, "reason": "wrong_size", "condition": "resellable"}],
            "new_lines": [{"sku": TEE_L, "qty": 1}],
        },
        key="exc-1",
    )
    shop.ok(
        "POST",
        f"/api/loyalty/{customer}/earn",
        {"points": 50, "channel": "store", "reason": "birthday"},
        key="gift",
    )
    return customer, order_id, returned


def _scan(shop: Shop) -> dict[str, list[str]]:
    """Which commerce tables hold which personal values, as text."""
    hits: dict[str, list[str]] = {}
    reflected = sa.MetaData()
    with shop.services.engines.main.connect() as conn:
        reflected.reflect(conn)
        for table in reflected.sorted_tables:
            if not table.name.startswith("commerce_"):
                continue
            for row in conn.execute(sa.select(table)):
                text = " ".join(str(v) for v in row)
                found = sorted(value for value in PERSONAL if value in text)
                if found:
                    hits.setdefault(table.name, []).extend(found)
    return hits


def test_an_export_holds_the_customers_commerce(shop: Shop) -> None:
    customer, order_id, returned = _story(shop)

    made = shop.ok("POST", "/api/privacy/requests", {"kind": "export", "customer_id": customer})

    counts = made["counts"]["commerce"]
    assert counts["commerce_orders"] == 1
    assert counts["commerce_returns"] == 2
    assert counts["commerce_return_lines"] == 2
    assert counts["commerce_exchanges"] == 1
    assert counts["commerce_refunds"] == 1
    assert counts["commerce_loyalty_accounts"] == 1
    assert counts["commerce_loyalty_entries"] == 6
    archive = shop.client.get(made["archive_url"], headers=shop.auth)
    files = zipfile.ZipFile(io.BytesIO(archive.content))
    commerce = json.loads(files.read("commerce.json"))
    assert [o["id"] for o in commerce["commerce_orders"]] == [order_id]
    assert commerce["commerce_orders"][0]["customer_name"] == "Ana Lima"
    assert commerce["commerce_order_groups"][0]["address"]["line1"] == "Rua Augusta, 500"
    notes = {r["id"]: r["note"] for r in commerce["commerce_returns"]}
    assert notes[returned["id"]] == "hem came undone"
    reasons = [e["reason"] for e in commerce["commerce_loyalty_entries"]]
    assert "birthday" in reasons


def test_an_erasure_keeps_the_books_under_no_name(shop: Shop) -> None:
    customer, order_id, returned = _story(shop)
    if not shop.services.cipher.enabled:
        assert set(_scan(shop)) >= {
            "commerce_orders",
            "commerce_order_groups",
            "commerce_returns",
            "commerce_loyalty_entries",
        }

    made = shop.ok("POST", "/api/privacy/requests", {"kind": "erasure", "customer_id": customer})

    assert made["counts"]["commerce"] == {
        "commerce_orders": 1,
        "commerce_carts": 0,
        "commerce_returns": 2,
        "commerce_refunds": 1,
        "commerce_exchanges": 1,
        "commerce_loyalty_entries": 6,
        "commerce_loyalty_accounts": 1,
    }
    assert _scan(shop) == {}
    kept = shop.ok("GET", f"/api/commerce/returns/{returned['id']}")
    assert (kept["customer_id"], kept["note"]) == (None, None)
    assert (kept["refund"]["amount"], kept["order_id"]) == (9990, order_id)
    order = shop.ok("GET", f"/api/commerce/orders/{order_id}")
    assert (order["customer_id"], order["total"]["amount"]) == (None, 2 * 9990)
    gone = shop.call("GET", f"/api/customers/{customer}/loyalty")
    assert (gone.status_code, gone.json()["error"]["code"]) == (410, "customer_erased")
    earn = shop.call(
        "POST", f"/api/loyalty/{customer}/earn", {"points": 1, "channel": "web"}, key="late"
    )
    assert earn.status_code == 410
    assert shop.counts()["commerce_loyalty_accounts"] == 0

"""The demo's after-sales: loyalty accounts for demo customers, an exchange in store of an
online order and an app order returned damaged for store credit; loaded once."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.cli.commerce import load_demo_catalog
from omnicx.cli.demo_aftersales import WELCOME, load_demo_aftersales
from omnicx.cli.inventory import load_demo_stock
from tests.conftest import table_counts


def test_the_demo_tells_an_exchange_and_a_return(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    batch: list[dict[str, Any]] = [
        {"type": "identify", "messageId": f"d-{n}", "userId": f"demo-{n}",
         "traits": {"email": f"demo{n}@example.org"}}
        for n in range(3)
    ]  # fmt: skip
    assert client.post("/v1/batch", headers=write_auth, json={"batch": batch}).status_code == 200
    drain()
    load_demo_catalog(services)
    load_demo_stock(services)

    loaded = load_demo_aftersales(services)

    assert (loaded.accounts, loaded.skipped) == (3, False)
    exchange = client.get(f"/api/commerce/exchanges/{loaded.exchange}", headers=admin).json()
    # The web promotion made the dress cheaper online: the store charges the difference.
    assert (exchange["location_id"], exchange["settlement"]) == ("store-paulista", "charged")
    paid, new = exchange["returned_value"]["amount"], exchange["new_value"]["amount"]
    assert (new, exchange["difference"]["amount"]) == (24990, new - paid)
    assert 0 < paid < new
    assert exchange["returned"]["order_channel"] == "web"
    returned = client.get(f"/api/commerce/returns/{loaded.returned}", headers=admin).json()
    assert (returned["order_channel"], returned["refund_to"]) == ("app", "store_credit")
    assert [line["condition"] for line in returned["lines"]] == ["damaged"]
    customer = returned["customer_id"]
    account = client.get(f"/api/customers/{customer}/loyalty", headers=admin).json()
    refund = returned["refund"]["amount"]
    assert account["credit"]["amount"] == refund
    kinds = [(e["kind"], e["points"]) for e in reversed(account["entries"])]
    earned = kinds[1][1]
    assert kinds == [
        ("earn", WELCOME),
        ("earn", earned),
        ("reverse", -returned["points_reversed"]),
        ("credit", 0),
    ]
    assert earned == 2 * refund // 100
    assert account["points"] == WELCOME + earned - returned["points_reversed"]
    counts = table_counts(services, "commerce_returns", "commerce_loyalty_entries")
    assert load_demo_aftersales(services).skipped
    assert table_counts(services, "commerce_returns", "commerce_loyalty_entries") == counts

"""Orders placed at the same moment, on SQLite and PostgreSQL: the same Idempotency-Key sent
twice at once places one order, and many buyers of the last units never oversell."""

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from omnicx.commerce.orders import Address, CustomerIn, GroupIn, LineIn, PlaceOrder
from omnicx.commerce.selling import Selling, retrying
from omnicx.config import Settings
from omnicx.kernel import Conflict
from tests.commerce.test_orders_api import DRESS, Shop, open_shop

HOME = Address("Ana", "Rua A, 1", "São Paulo", "01000-000", "BR")


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    yield from open_shop(make_settings(rate_limit_api="100000/second"))


def command(email: str) -> PlaceOrder:
    return PlaceOrder(
        channel="web",
        customer=CustomerIn((("email", email),)),
        groups=(GroupIn("ship", (LineIn(DRESS, 1),), address=HOME),),
    )


def at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as error:  # collected and asserted on below
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def place(shop: Shop, key: str, email: str) -> Any:
    services = shop.services
    return retrying(
        services.uow,
        lambda uow: services.selling.place_order(uow, command(email), key=key, actor="test"),
    )


def test_the_same_key_sent_twice_at_once_places_one_order(shop: Shop) -> None:
    results = at_once(2, lambda _: place(shop, "same-key", "ana@example.com"))
    (first, _), (second, _) = results
    assert first.id == second.id
    assert sorted(created for _, created in results) == [False, True]
    assert shop.counts("commerce_orders", "commerce_reservations") == {
        "commerce_orders": 1,
        "commerce_reservations": 1,
    }


def test_many_buyers_at_once_never_oversell(shop: Shop) -> None:
    # 5 in the DC and 1 Pinheiros may give (it keeps one back): 6 can be sold.
    results = at_once(8, lambda i: place(shop, f"buyer-{i}", f"b{i}@example.com"))
    sold = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert 0 < len(sold) <= 6
    assert len(sold) + len(refused) == 8
    assert all(isinstance(r, Conflict) and r.code == "insufficient_stock" for r in refused)
    left = shop.available("dc-sp", DRESS) + shop.available("store-pinheiros", DRESS) - 1
    assert left == 6 - len(sold)
    assert shop.counts("commerce_orders")["commerce_orders"] == len(sold)


class Racing:
    """Inventory whose first answer is already stale: another sale takes the DC's stock just
    after it was read, before the order reserves it."""

    def __init__(self, shop: Shop) -> None:
        self.services = shop.services
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.services, name)

    def availability(self, uow: Any, sku: str, *, remote: bool = False) -> dict[str, int]:
        seen = self.services.availability(uow, sku, remote=remote)
        if not self.raced:
            self.raced = True
            self.services.reserve(uow, location_id="dc-sp", sku=sku, qty=seen["dc-sp"], key="rival")
        return seen


def test_stock_taken_between_plan_and_reservation_is_planned_again(shop: Shop) -> None:
    services = shop.services
    racing = Racing(shop)
    selling = Selling(
        services.cipher, services.rules, services.selling.config, services.selling.strategy,
        pricer=services, stock=racing,
    )  # fmt: skip
    order, created = retrying(
        services.uow,
        lambda uow: selling.place_order(uow, command("ana@example.com"), key="k", actor="t"),
    )
    assert created
    assert racing.raced
    assert [(a.location_id, a.qty) for a in order.allocations] == [("store-pinheiros", 1)]
    assert shop.available("dc-sp", DRESS) == 0  # the rival holds the DC's five

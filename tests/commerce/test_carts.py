"""Carts, pure: lines priced at add time, merges that add up and keep the newest price, and
what a checkout's new quotes change."""

from datetime import UTC, datetime, timedelta

import pytest

from omnicx.commerce import carts
from omnicx.commerce.model import Money, Quote
from omnicx.kernel import Conflict, Invalid, NotFound

T = datetime(2026, 3, 2, tzinfo=UTC)


def quote(sku: str, amount: int, reason: str | None = None) -> Quote:
    return Quote(sku, "web", Money(amount, "BRL"), Money(amount, "BRL"), reason, None)


def empty(cart_id: str = "c1", **owner: str) -> carts.Cart:
    return carts.new_cart(
        cart_id, channel="web", currency="BRL", now=T, **owner or {"customer_id": "p1"}
    )


def test_adding_again_adds_up_at_the_new_price() -> None:
    cart = carts.add_line(empty(), quote("A", 100), 2, "web", T)
    later = T + timedelta(minutes=1)
    cart = carts.add_line(cart, quote("A", 90, "promo"), 1, "app", later)
    (line,) = cart.lines
    assert (line.qty, line.unit_price.amount, line.channel, line.price_reason) == (
        3,
        90,
        "app",
        "promo",
    )
    assert (line.added_at, line.quoted_at) == (T, later)
    assert cart.total == Money(270, "BRL")
    assert cart.channel == "app"


def test_quantities_change_and_lines_go() -> None:
    cart = carts.add_line(empty(), quote("A", 100), 1, "web", T)
    cart = carts.set_qty(cart, "A", 4, T)
    assert cart.lines[0].qty == 4
    assert carts.remove_line(cart, "A", T).lines == ()
    with pytest.raises(NotFound):
        carts.set_qty(cart, "B", 1, T)
    with pytest.raises(Invalid):
        carts.set_qty(cart, "A", 0, T)
    with pytest.raises(Invalid, match="at most 999"):
        carts.add_line(cart, quote("A", 100), 996, "web", T)


def test_a_merge_adds_up_and_keeps_the_newest_quote() -> None:
    mine = carts.add_line(empty(), quote("A", 100), 1, "web", T)
    other = carts.add_line(
        empty("c2", anonymous_hash="h"), quote("A", 80), 2, "app", T + timedelta(hours=1)
    )
    other = carts.add_line(other, quote("B", 50), 1, "app", T + timedelta(hours=1))
    merged = carts.merge(mine, other, T + timedelta(hours=2))
    assert [(x.sku, x.qty, x.unit_price.amount, x.added_at) for x in merged.lines] == [
        ("A", 3, 80, T),
        ("B", 1, 50, T + timedelta(hours=1)),
    ]
    gone = carts.absorbed(other, merged, T)
    assert (gone.status, gone.merged_into, gone.lines, gone.owner_key) == ("merged", "c1", (), None)
    with pytest.raises(Conflict) as error:
        carts.check_open(gone)
    assert error.value.code == "cart_merged"


def test_reprice_lists_each_change_with_its_difference() -> None:
    cart = carts.add_line(empty(), quote("A", 100), 2, "web", T)
    cart = carts.add_line(cart, quote("B", 50), 1, "web", T)
    priced, changes = carts.reprice(cart, {"A": quote("A", 120), "B": quote("B", 50)})
    assert priced.total == Money(290, "BRL")
    (change,) = changes
    assert (change.sku, change.was.amount, change.now.amount, change.difference.amount) == (
        "A",
        100,
        120,
        40,
    )


def test_owners() -> None:
    assert empty().owner_key == "c:p1"
    assert empty(anonymous_hash="h").owner_key == "a:h"
    with pytest.raises(ValueError):
        carts.owner_key(None, None)

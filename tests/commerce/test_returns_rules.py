"""Return and exchange rules, pure: what may come back, what it refunds, how an exchange
settles, and an order as returns read it."""

from datetime import UTC, datetime, timedelta

import pytest

from omnicx.commerce.aftersales import _shares, sold_order
from omnicx.commerce.model import Money
from omnicx.commerce.orders import Group, HistoryEntry, Order, OrderLine, Payment
from omnicx.commerce.returns import (
    LineRequest,
    NewLine,
    SoldLine,
    SoldOrder,
    check_new_lines,
    plan_return,
    settle,
    share,
)
from omnicx.kernel import Conflict, DomainError, Invalid

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _order(
    *lines: SoldLine, status: str = "delivered", received: datetime | None = AT
) -> SoldOrder:
    return SoldOrder(
        id="o-1",
        customer_id="c-1",
        channel="web",
        location_id="dc-sp",
        status=status,
        currency="BRL",
        placed_at=AT - timedelta(days=3),
        received_at=received,
        payment_method="card",
        lines=lines,
    )


TEE = SoldLine("TEE-M", 3, Money(10000, "BRL"))
"""Three tees for 100.00: a promotion made them 33.33 and a bit each."""
CAP = SoldLine("CAP-1", 1, Money(4990, "BRL"))


def _refused(
    order: SoldOrder,
    lines: list[LineRequest],
    returned: dict[str, int] | None = None,
    *,
    now: datetime = AT + timedelta(days=1),
    window_days: int = 30,
) -> tuple[type[DomainError], str, str | None]:
    with pytest.raises(DomainError) as raised:
        plan_return(order, lines, returned or {}, now=now, window_days=window_days)
    return type(raised.value), raised.value.code, raised.value.field


def test_refunds_add_up_to_what_was_paid_however_the_units_come_back() -> None:
    assert [share(10000, 3, 0, 1), share(10000, 3, 1, 1), share(10000, 3, 2, 1)] == [
        3333,
        3333,
        3334,
    ]
    assert share(10000, 3, 0, 2) + share(10000, 3, 2, 1) == 10000
    assert share(10000, 3, 0, 3) == 10000
    assert share(0, 2, 0, 1) == 0


def test_a_return_is_planned_line_by_line_with_its_refund() -> None:
    lines = plan_return(
        _order(TEE, CAP),
        [
            LineRequest("TEE-M", 1, "wrong_size", "resellable"),
            LineRequest("CAP-1", 1, "faulty", "damaged"),
            LineRequest("TEE-M", 1, "wrong_size", "resellable"),
        ],
        {"TEE-M": 1},
        now=AT + timedelta(days=29),
        window_days=30,
    )
    assert [(x.sku, x.qty, x.condition, x.refund.amount) for x in lines] == [
        ("TEE-M", 1, "resellable", 3333),
        ("CAP-1", 1, "damaged", 4990),
        ("TEE-M", 1, "resellable", 3334),
    ]


def test_each_refusal_names_its_field() -> None:
    order = _order(TEE, CAP)
    unknown = [LineRequest("CAP-1", 1, "x", "damaged"), LineRequest("HAT", 1, "x", "damaged")]
    assert _refused(order, unknown) == (Invalid, "not_on_order", "lines[1].sku")
    two = LineRequest("TEE-M", 2, "wrong_size", "resellable")
    assert _refused(order, [two], {"TEE-M": 2}) == (Conflict, "over_return", "lines[0].qty")
    assert _refused(order, [two, two]) == (Conflict, "over_return", "lines[1].qty")
    none = LineRequest("TEE-M", 0, "wrong_size", "resellable")
    assert _refused(order, [none]) == (Invalid, "invalid_qty", "lines[0].qty")
    worn = LineRequest("TEE-M", 1, "wrong_size", "worn")
    assert _refused(order, [worn]) == (Invalid, "invalid_condition", "lines[0].condition")
    shouted = LineRequest("TEE-M", 1, "Too Small!", "resellable")
    assert _refused(order, [shouted]) == (Invalid, "invalid_reason", "lines[0].reason")
    assert _refused(order, []) == (Invalid, "invalid_lines", "lines")


def test_the_window_and_the_order_state_decide_whether_anything_comes_back() -> None:
    line = [LineRequest("TEE-M", 1, "wrong_size", "resellable")]
    late = AT + timedelta(days=30, seconds=1)
    closed = (Conflict, "return_window_closed", "order_id")
    assert _refused(_order(TEE), line, now=late) == closed
    assert plan_return(_order(TEE), line, {}, now=late, window_days=0)[0].refund.amount == 3333
    cancelled = _order(TEE, status="cancelled")
    assert _refused(cancelled, line) == (Conflict, "order_cancelled", "order_id")
    shipped = _order(SoldLine("TEE-M", 3, Money(10000, "BRL"), "shipped"), status="shipped")
    assert _refused(shipped, line) == (Conflict, "order_not_received", "order_id")
    mixed = _order(TEE, SoldLine("CAP-1", 1, Money(4990, "BRL"), "shipped", 1))
    cap = [LineRequest("CAP-1", 1, "faulty", "damaged")]
    assert _refused(mixed, cap) == (Conflict, "line_not_received", "lines[0].sku")


def test_an_exchange_settles_the_difference() -> None:
    assert settle(Money(100, "BRL"), Money(100, "BRL")) == (Money(0, "BRL"), "even")
    assert settle(Money(100, "BRL"), Money(150, "BRL")) == (Money(50, "BRL"), "charged")
    assert settle(Money(100, "BRL"), Money(60, "BRL")) == (Money(-40, "BRL"), "refunded")
    assert check_new_lines([NewLine("A", 1), NewLine("B", 2), NewLine("A", 1)]) == {"A": 2, "B": 2}
    with pytest.raises(Invalid) as raised:
        check_new_lines([NewLine("A", 1), NewLine("B", -1)])
    assert raised.value.field == "new_lines[1].qty"


def test_an_order_discount_is_spread_over_its_lines_to_the_unit() -> None:
    assert _shares([5000, 2500, 2500], 9000) == [4500, 2250, 2250]
    assert _shares([1, 1, 1], 100) == [34, 33, 33]
    assert sum(_shares([3333, 4444, 1], 7001)) == 7001
    assert _shares([0, 0], 0) == [0, 0]


def test_an_order_reads_as_lines_with_their_group_state_and_when_it_arrived() -> None:
    money = Money(0, "BRL")
    order = Order(
        id="o-9",
        key="k",
        fingerprint="f",
        channel="web",
        status="shipped",
        currency="BRL",
        subtotal=Money(15000, "BRL"),
        total=Money(12000, "BRL"),
        actor="api_key:test",
        created_at=AT,
        updated_at=AT,
        customer_id="c-1",
        payment=Payment("pix", Money(12000, "BRL")),
        groups=(Group(0, "ship", "delivered"), Group(1, "ship", "shipped")),
        lines=(
            OrderLine(1, 0, "TEE-M", 2, Money(5000, "BRL"), money),
            OrderLine(2, 1, "CAP-1", 1, Money(5000, "BRL"), money),
        ),
        history=(
            HistoryEntry(0, "shipped", "delivered", "x", AT + timedelta(days=2)),
            HistoryEntry(1, "allocated", "shipped", "x", AT + timedelta(days=3)),
        ),
    )
    sold = sold_order(order)
    assert sold.lines == (
        SoldLine("TEE-M", 2, Money(8000, "BRL"), "delivered", 0),
        SoldLine("CAP-1", 1, Money(4000, "BRL"), "shipped", 1),
    )
    assert sold.received_at == AT + timedelta(days=2)
    assert sold.payment_method == "pix"
    assert sold.bought() == {"TEE-M": 2}
    assert sold.received_total == Money(8000, "BRL")

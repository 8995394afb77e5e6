"""From timeline rows to facts, and facts to a customer's summary and the counters: exact
numbers from hand-made facts, no database."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from omnicx.analytics.model import (
    CONTACT,
    DAY,
    HOUR,
    INTERACTION,
    PURCHASE,
    SENT,
    AnalyticsConfig,
    Customer,
    Deltas,
    Fact,
    age_band,
    band_from_traits,
    day_of,
    month_of,
)
from omnicx.analytics.rollup import (
    advance,
    amount_of,
    count_sent,
    facts_from_rows,
    fold,
    path_of,
)
from omnicx.kernel.moments import micros

CONFIG = AnalyticsConfig()
MARCH_2 = day_of(date(2026, 3, 2))


def at(day: int, hour: int = 12, minute: int = 0) -> int:
    """Microseconds of 2026-03-(day) hour:minute UTC."""
    return micros(datetime(2026, 3, day, hour, minute, tzinfo=UTC))


def row(
    profile: str | None,
    channel: str,
    ts: int,
    *,
    kind: str = "track",
    event: str | None = "Product Viewed",
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    source: str = "0b7c4f52-source",
) -> dict[str, Any]:
    return {
        "profile_id": profile,
        "source_id": source,
        "type": kind,
        "event": event if kind == "track" else None,
        "channel": channel,
        "ts": ts,
        "properties": properties or {},
        "traits": traits,
    }


def test_rows_become_facts_only_when_they_are_the_customers_doing() -> None:
    rows = [
        row(None, "web", at(2)),
        row("p1", "web", at(2), kind="page"),
        row("p1", "web", at(2), kind="alias"),
        row("p1", "email", at(2), event="Message Sent", source="maestro"),
        row("p1", "store", at(2), event="Order Completed", source="commerce"),
        row("p1", "store", at(3), event="Return Accepted", source="aftersales"),
        row(
            "p1",
            "store",
            at(4),
            event="Order Completed",
            properties={"total": "120.50", "currency": "brl", "store_id": " SP-1 "},
        ),
        row(
            "p2",
            "call_center",
            at(4),
            event="Call Received",
            properties={"duration_seconds": 300},
        ),
        row("p3", "web", at(5), kind="identify", traits={"birthday": "1990-03-06"}),
    ]
    facts = facts_from_rows(rows, CONFIG, canon=lambda p: {"p3": "p9"}.get(p, p))
    assert facts == [
        Fact("p1", "web", at(2), INTERACTION),
        Fact("p1", "store", at(3), INTERACTION),
        Fact("p1", "store", at(4), INTERACTION | PURCHASE, amount=12050, store="SP-1"),
        Fact("p2", "call_center", at(4), INTERACTION | CONTACT, seconds=300),
        Fact("p9", "web", at(5), INTERACTION, band="35-44"),
    ]


def test_plain_interactions_in_a_row_within_an_hour_are_one_fact() -> None:
    rows = [
        row("p1", "web", at(2, 10, 1)),
        row("p2", "app", at(2, 10, 2)),
        row("p1", "web", at(2, 10, 30), kind="page"),
        row("p1", "web", at(2, 10, 59)),
        row("p1", "web", at(2, 11, 0)),
        row("p1", "app", at(2, 11, 1)),
        row("p1", "store", at(2, 11, 5), event="Order Completed", properties={"total": 1}),
        row("p1", "store", at(2, 11, 6)),
        row("p1", "store", at(2, 11, 7), kind="identify", traits={"age": 30}),
        row("p1", "store", at(2, 11, 8)),
        row("p1", "store", at(2, 11, 9)),
    ]
    facts = facts_from_rows(rows, CONFIG)
    assert facts == [
        Fact("p1", "web", at(2, 10, 1), INTERACTION, times=3),
        Fact("p2", "app", at(2, 10, 2), INTERACTION),
        Fact("p1", "web", at(2, 11, 0), INTERACTION),
        Fact("p1", "app", at(2, 11, 1), INTERACTION),
        Fact("p1", "store", at(2, 11, 5), INTERACTION | PURCHASE, amount=100),
        Fact("p1", "store", at(2, 11, 6), INTERACTION),
        Fact("p1", "store", at(2, 11, 7), INTERACTION, band="25-34"),
        Fact("p1", "store", at(2, 11, 8), INTERACTION, times=2),
    ]
    deltas = Deltas()
    advance(Customer("p1"), [f for f in facts if f.customer_id == "p1"], CONFIG, deltas)
    hour = at(2, 10) // HOUR
    assert deltas.hours == {
        (hour, "web"): 3,
        (hour + 1, "web"): 1,
        (hour + 1, "app"): 1,
        (hour + 1, "store"): 5,
    }
    assert deltas.days == {
        (MARCH_2, "web"): [4, 1, 1],
        (MARCH_2, "app"): [1, 0, 1],
        (MARCH_2, "store"): [5, 0, 1],
    }


@pytest.mark.parametrize(
    ("properties", "amount"),
    [
        ({"total": 10, "revenue": 8}, 1000),
        ({"revenue": "8.005"}, 800),
        ({"revenue": 8.015}, 802),
        ({"value": 3}, 300),
        ({"total": True, "value": 2}, 200),
        ({"total": "abc"}, 0),
        ({"total": "NaN"}, 0),
        ({"total": [1]}, 0),
        ({"total": 5, "currency": "USD"}, 0),
        ({}, 0),
    ],
)
def test_the_amount_of_a_purchase_in_minor_units(properties: dict[str, Any], amount: int) -> None:
    assert amount_of(properties, CONFIG) == amount


def test_a_customers_facts_move_their_summary_and_the_counters() -> None:
    customer = Customer("p1")
    deltas = Deltas()
    facts = [
        Fact("p1", "web", at(2, 10), INTERACTION),
        Fact("p1", "web", at(2, 10, 30), INTERACTION),
        Fact("p1", "app", at(3, 9), INTERACTION, band="25-34"),
        Fact("p1", "store", at(4, 15), INTERACTION | PURCHASE, amount=5000, store="SP-1"),
        Fact("p1", "email", at(5, 8), INTERACTION | CONTACT),
    ]
    advance(customer, facts, CONFIG, deltas)
    d = MARCH_2
    assert customer == Customer(
        id="p1",
        first_ts=at(2, 10),
        first_channel="web",
        channels={
            "web": [d, d],
            "app": [d + 1, d + 1],
            "store": [d + 2, d + 2],
            "email": [d + 3, d + 3],
        },
        age_band="25-34",
        orders=1,
        revenue=5000,
        browse_day=d + 1,
        visit_day=d + 2,
        touches=[["web", d], ["app", d + 1], ["store", d + 2], ["email", d + 3]],
    )
    assert deltas.days == {
        (d, "web"): [2, 1, 1],
        (d + 1, "app"): [1, 0, 1],
        (d + 2, "store"): [1, 0, 1],
        (d + 3, "email"): [1, 0, 1],
    }
    hour = at(2, 10) // HOUR
    assert deltas.hours == {
        (hour, "web"): 2,
        (hour + 23, "app"): 1,
        (hour + 53, "store"): 1,
        (hour + 70, "email"): 1,
    }
    assert deltas.months == {
        ("p1", "web", 202603),
        ("p1", "app", 202603),
        ("p1", "store", 202603),
        ("p1", "email", 202603),
    }
    assert deltas.paths == {
        (d + 2, "purchase", "web>app>store"): 1,
        (d + 3, "contact", "web>app>store>email"): 1,
    }
    assert deltas.conversions == {(d + 2, "online_to_offline", "store", "SP-1"): [1, 5000]}
    assert deltas.economics == {(d + 2, "store", "SP-1"): [1, 5000, 0, 0]}


def test_a_returning_customer_is_counted_again_only_in_a_new_month() -> None:
    d = MARCH_2
    customer = Customer("p1", first_ts=at(2), first_channel="web", channels={"web": [d - 10, d]})
    deltas = Deltas()
    advance(
        customer,
        [
            Fact("p1", "web", at(20), INTERACTION),
            Fact("p1", "web", micros(datetime(2026, 4, 1, tzinfo=UTC)), INTERACTION),
            Fact("p1", "web", micros(datetime(2026, 2, 1, tzinfo=UTC)), INTERACTION),
        ],
        CONFIG,
        deltas,
    )
    assert deltas.months == {("p1", "web", 202604), ("p1", "web", 202602)}
    assert customer.channels == {"web": [day_of(date(2026, 2, 1)), day_of(date(2026, 4, 1))]}
    assert customer.first_channel == "web"
    assert customer.first_ts == micros(datetime(2026, 2, 1, tzinfo=UTC))
    assert deltas.days[(d + 18, "web")] == [1, 0, 0]


@pytest.mark.parametrize(
    ("browsed", "bought", "converted"),
    [(2, 9, True), (2, 10, False), (9, 9, True)],
)
def test_online_to_offline_within_the_window(browsed: int, bought: int, converted: bool) -> None:
    deltas = Deltas()
    customer = Customer("p1")
    advance(
        customer,
        [
            Fact("p1", "web", at(browsed, 9), INTERACTION),
            Fact("p1", "store", at(bought, 18), INTERACTION | PURCHASE, amount=700),
        ],
        CONFIG,
        deltas,
    )
    expected = {(MARCH_2 + bought - 2, "online_to_offline", "store", ""): [1, 700]}
    assert deltas.conversions == (expected if converted else {})


def test_offline_to_online_and_purchases_that_are_not_browsing() -> None:
    deltas = Deltas()
    customer = Customer("p1")
    advance(
        customer,
        [
            Fact("p1", "web", at(2), INTERACTION | PURCHASE, amount=100),
            Fact("p1", "store", at(3), INTERACTION),
            Fact("p1", "app", at(4), INTERACTION | PURCHASE, amount=200),
            Fact("p1", "store", at(5), INTERACTION | PURCHASE, amount=300),
        ],
        CONFIG,
        deltas,
    )
    assert deltas.conversions == {(MARCH_2 + 2, "offline_to_online", "app", ""): [1, 200]}
    assert customer.browse_day is None
    assert (customer.orders, customer.revenue) == (3, 600)


def test_paths_keep_four_recent_distinct_channels() -> None:
    d = MARCH_2
    config = AnalyticsConfig(path_days=5)
    touches: list[list[Any]] = [
        ["sms", d - 6],
        ["web", d - 5],
        ["app", d],
        ["web", d],
        ["store", d],
    ]
    assert path_of(touches, d, config) == "web>app>web>store"
    assert path_of(touches, d + 1, config) == "app>web>store"
    deltas = Deltas()
    customer = Customer("p1")
    facts = [
        Fact("p1", channel, at(2, hour), INTERACTION)
        for hour, channel in enumerate(("web", "web", "app", "web", "sms", "whatsapp", "store"))
    ]
    advance(customer, facts, CONFIG, deltas)
    assert customer.touches == [["web", d], ["sms", d], ["whatsapp", d], ["store", d]]
    assert deltas.paths == {}


def test_a_late_fact_is_counted_but_leaves_the_path_alone() -> None:
    d = MARCH_2
    customer = Customer(
        "p1",
        first_ts=at(5),
        first_channel="web",
        channels={"web": [d + 3, d + 3]},
        touches=[["web", d + 3]],
    )
    deltas = Deltas()
    advance(customer, [Fact("p1", "app", at(2), INTERACTION)], CONFIG, deltas)
    assert customer.touches == [["web", d + 3]]
    assert customer.first_channel == "app"
    assert deltas.days == {(d, "app"): [1, 0, 1]}


def test_messages_we_send_count_as_cost_only() -> None:
    deltas = Deltas()
    count_sent(Fact("p1", "sms", at(2), SENT), deltas)
    count_sent(Fact("p1", "email", at(2), SENT, seconds=120), deltas)
    count_sent(Fact("p2", "sms", at(2), SENT), deltas)
    assert deltas.economics == {
        (MARCH_2, "sms", ""): [0, 0, 2, 0],
        (MARCH_2, "email", ""): [0, 0, 1, 120],
    }


def test_two_summaries_fold_into_one() -> None:
    d = MARCH_2
    survivor = Customer(
        "s",
        first_ts=at(4),
        first_channel="web",
        channels={"web": [d + 2, d + 5]},
        orders=1,
        revenue=100,
        browse_day=d + 5,
        touches=[["web", d + 5]],
    )
    loser = Customer(
        "l",
        first_ts=at(2),
        first_channel="store",
        channels={"store": [d, d + 6], "web": [d + 1, d + 1]},
        age_band="45-54",
        orders=2,
        revenue=900,
        visit_day=d + 6,
        touches=[["web", d + 1], ["store", d + 6]],
    )
    merged = fold(survivor, loser, "s", CONFIG)
    assert merged == Customer(
        "s",
        first_ts=at(2),
        first_channel="store",
        channels={"web": [d + 1, d + 5], "store": [d, d + 6]},
        age_band="45-54",
        orders=3,
        revenue=1000,
        browse_day=d + 5,
        visit_day=d + 6,
        touches=[["web", d + 5], ["store", d + 6]],
    )
    assert fold(None, Customer("l", orders=1), "s", CONFIG) == Customer("s", orders=1)
    assert fold(Customer("s"), None, "s", CONFIG) == Customer("s")


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(2008, 3, 3), "<18"),
        (date(2008, 3, 2), "18-24"),
        (date(2001, 3, 3), "18-24"),
        (date(2001, 3, 2), "25-34"),
        (date(1961, 3, 2), "65+"),
        (date(1961, 3, 3), "55-64"),
        (date(2027, 1, 1), "unknown"),
        (None, "unknown"),
    ],
)
def test_age_bands_at_a_day(born: date | None, band: str) -> None:
    assert age_band(born, date(2026, 3, 2)) == band


@pytest.mark.parametrize(
    ("traits", "band"),
    [
        ({"birthday": "1990-03-01T00:00:00Z"}, "35-44"),
        ({"birthday": "soon"}, "unknown"),
        ({"birthday": None}, "unknown"),
        ({"age": "41"}, "35-44"),
        ({"age": 17.9}, "<18"),
        ({"age": True}, "unknown"),
        ({"age": 200}, "unknown"),
        ({"firstName": "Ana"}, None),
    ],
)
def test_the_band_traits_tell(traits: dict[str, Any], band: str | None) -> None:
    assert band_from_traits(traits, date(2026, 3, 2)) == band


def test_day_and_month_numbers() -> None:
    assert day_of(date(1970, 1, 2)) == 1
    assert at(2) // DAY == MARCH_2
    assert month_of(MARCH_2) == 202603
    assert Decimal(CONFIG.minor_units) == 100

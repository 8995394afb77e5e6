"""The channel reports from the sums the read models hand them: parameters checked by name,
exact figures and CSV tables, no database."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from omnicx.analytics.model import AnalyticsConfig, day_of
from omnicx.analytics.reports import (
    Clv,
    ClvRow,
    Economics,
    EconomicsRow,
    HeatCell,
    UsageQuery,
    bucket_start,
    channel_usage,
    clv,
    conversions,
    economics,
    heatmap,
    paths,
    propensity,
    usage_query,
    zone_spans,
)
from omnicx.kernel import Invalid

TODAY = date(2026, 3, 10)
CONFIG = AnalyticsConfig(
    message_costs={"sms": Decimal("0.05"), "email": Decimal("0.001")},
    agent_minute_cost=Decimal("0.50"),
)


def query(report: str, **given: Any) -> UsageQuery:
    return usage_query(report, today=TODAY, **given)


def test_periods_default_to_the_last_thirty_days_and_cohorts_to_everyone() -> None:
    assert query("economics") == UsageQuery("economics", date(2026, 2, 9), date(2026, 3, 11))
    assert query("heatmap", start=date(2026, 3, 1)).end == date(2026, 3, 11)
    assert query("paths", end=date(2026, 3, 5)).start == date(2026, 2, 3)
    assert query("clv") == UsageQuery("clv", None, None)
    assert query("propensity", start=date(2020, 1, 1)).end is None


@pytest.mark.parametrize(
    ("report", "given", "code", "field"),
    [
        (
            "economics",
            {"start": date(2026, 3, 5), "end": date(2026, 3, 5)},
            "invalid_period",
            "from",
        ),
        ("clv", {"start": date(2026, 3, 6), "end": date(2026, 3, 5)}, "invalid_period", "from"),
        ("heatmap", {"start": date(2024, 1, 1), "end": date(2026, 1, 2)}, "invalid_period", "to"),
        ("channel-usage", {"segment": "s1"}, "unsupported_parameter", "segment"),
        ("propensity", {"channel": "web"}, "unsupported_parameter", "channel"),
        ("heatmap", {"store": "SP-1"}, "unsupported_parameter", "store"),
        ("economics", {"zone": "UTC"}, "unsupported_parameter", "tz"),
        ("economics", {"channel": "Web"}, "invalid_channel", "channel"),
        ("clv", {"segment": "a b"}, "invalid_segment", "segment"),
        ("economics", {"store": "SP 1"}, "invalid_store", "store"),
        ("channel-usage", {"bucket": "year"}, "invalid_bucket", "bucket"),
        ("paths", {"outcome": "visit"}, "invalid_outcome", "outcome"),
        ("paths", {"limit": 0}, "invalid_limit", "limit"),
        ("paths", {"limit": 101}, "invalid_limit", "limit"),
        ("heatmap", {"zone": "Mars/Olympus"}, "invalid_tz", "tz"),
        ("heatmap", {"zone": "../etc/passwd"}, "invalid_tz", "tz"),
    ],
)
def test_bad_parameters_are_named(
    report: str, given: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(Invalid) as raised:
        query(report, **given)
    assert (raised.value.code, raised.value.field) == (code, field)


def test_buckets_start_on_monday_and_the_first() -> None:
    assert bucket_start(date(2026, 3, 8), "week") == date(2026, 3, 2)
    assert bucket_start(date(2026, 3, 8), "month") == date(2026, 3, 1)
    assert bucket_start(date(2026, 3, 8), "day") == date(2026, 3, 8)


def test_channel_usage_by_week_and_by_month() -> None:
    d = day_of(date(2026, 3, 1))  # a Sunday
    days = [(d, "web", 5, 2, 2), (d + 1, "web", 3, 1, 1), (d + 2, "store", 4, 0, 1)]
    weekly = channel_usage(query("channel-usage", bucket="week"), days, [])
    assert weekly.table() == (
        ("bucket", "channel", "interactions", "new_customers", "new_to_channel", "customers"),
        [
            ("2026-02-23", "web", 5, 2, 2, ""),
            ("2026-03-02", "store", 4, 0, 1, ""),
            ("2026-03-02", "web", 3, 1, 1, ""),
        ],
    )
    assert [(t.channel, t.interactions) for t in weekly.totals] == [("web", 8), ("store", 4)]
    monthly = channel_usage(
        query("channel-usage", bucket="month"),
        days,
        [(202603, "web", 3), (202603, "store", 1), (202602, "sms", 2)],
    )
    assert monthly.table()[1] == [
        ("2026-02-01", "sms", 0, 0, 0, 2),
        ("2026-03-01", "store", 4, 0, 1, 1),
        ("2026-03-01", "web", 8, 3, 3, 3),
    ]


def test_propensity_overall_and_by_age_band() -> None:
    report = propensity(
        query("propensity"),
        [
            ("web", 1, "25-34", 4, 0, 0),
            ("store", 1, "25-34", 2, 0, 0),
            ("web", 2, "25-34", 2, 0, 0),
            ("app", 5, "25-34", 1, 0, 0),
            ("web", 4, "unknown", 1, 0, 0),
            ("web", 1, "18-24", 0, 0, 0),
        ],
    )
    assert report.customers == 10
    assert report.table() == (
        ("age_band", "channels", "customers", "share"),
        [
            ("all", "1", 6, 0.6),
            ("all", "2", 2, 0.2),
            ("all", "3", 0, 0.0),
            ("all", "4+", 2, 0.2),
            ("18-24", "1", 0, 0.0),
            ("18-24", "2", 0, 0.0),
            ("18-24", "3", 0, 0.0),
            ("18-24", "4+", 0, 0.0),
            ("25-34", "1", 6, 0.6667),
            ("25-34", "2", 2, 0.2222),
            ("25-34", "3", 0, 0.0),
            ("25-34", "4+", 1, 0.1111),
            ("unknown", "1", 0, 0.0),
            ("unknown", "2", 0, 0.0),
            ("unknown", "3", 0, 0.0),
            ("unknown", "4+", 1, 1.0),
        ],
    )


def test_top_paths_and_their_sankey() -> None:
    counted = [("web>store", 3), ("store", 2), ("app>web>store", 1), ("web>app", 4), ("web", 0)]
    report = paths(query("paths", channel="store", limit=2), counted)
    assert report.total == 6
    assert report.table() == (
        ("path", "times", "share"),
        [("web > store", 3, 0.5), ("store", 2, 0.3333)],
    )
    nodes = [(n.id, n.label, n.step) for n in report.sankey.nodes]
    assert nodes == [
        ("1:app", "app", 1),
        ("1:store", "store", 1),
        ("1:web", "web", 1),
        ("2:store", "store", 2),
        ("2:web", "web", 2),
        ("3:store", "store", 3),
        ("purchase", "purchase", 4),
    ]
    links = [(link.source, link.target, link.value) for link in report.sankey.links]
    assert links == [
        ("1:web", "2:store", 3),
        ("2:store", "purchase", 3),
        ("1:store", "purchase", 2),
        ("1:app", "2:web", 1),
        ("2:web", "3:store", 1),
        ("3:store", "purchase", 1),
    ]
    empty = paths(query("paths", outcome="contact"), [])
    assert (empty.total, empty.paths, empty.sankey.nodes, empty.sankey.links) == (0, [], [], [])


def test_conversions_against_every_purchase_on_the_channel() -> None:
    report = conversions(
        query("conversions"),
        CONFIG,
        [("online_to_offline", "store", 3, 45000), ("offline_to_online", "web", 1, 9990)],
        [("store", 12, 0, 0, 0), ("web", 4, 0, 0, 0), ("app", 2, 0, 0, 0), ("sms", 0, 0, 5, 0)],
    )
    assert report.table() == (
        ("direction", "channel", "conversions", "revenue", "purchases", "rate"),
        [
            ("online_to_offline", "store", 3, 45000, 12, 0.25),
            ("offline_to_online", "app", 0, 0, 2, 0.0),
            ("offline_to_online", "web", 1, 9990, 4, 0.25),
        ],
    )
    assert [
        (t.direction, t.conversions, t.revenue, t.purchases, t.rate) for t in report.totals
    ] == [
        ("online_to_offline", 3, 45000, 12, 0.25),
        ("offline_to_online", 1, 9990, 6, 0.1667),
    ]
    assert report.days == 7


def test_economics_cost_to_serve_from_messages_and_agent_minutes() -> None:
    report = economics(
        query("economics"),
        CONFIG,
        [("store", 3, 30000, 0, 0), ("sms", 0, 0, 1000, 0), ("call_center", 1, 1000, 0, 1830)],
    )
    assert report == Economics(
        report="economics",
        start=date(2026, 2, 9),
        end=date(2026, 3, 11),
        currency="BRL",
        channels=[
            EconomicsRow("call_center", 1, 1000, 0, 30.5, 0, 1525, 1525, 1000),
            EconomicsRow("sms", 0, 0, 1000, 0.0, 5000, 0, 5000, 0),
            EconomicsRow("store", 3, 30000, 0, 0.0, 0, 0, 0, 10000),
        ],
        total=EconomicsRow("all", 4, 31000, 1000, 30.5, 5000, 1525, 6525, 7750),
    )
    header, rows = report.table()
    assert header[0] == "channel"
    assert rows[-1] == ("all", 4, 31000, 1000, 30.5, 5000, 1525, 6525, 7750)


def test_clv_by_first_channel_and_channels_used() -> None:
    report = clv(
        query("clv"),
        CONFIG,
        [
            ("web", 1, "25-34", 2, 1, 1000),
            ("web", 2, "unknown", 1, 2, 2000),
            ("store", 2, "unknown", 1, 1, 5000),
            ("store", 4, "25-34", 1, 0, 0),
            ("app", 0, "unknown", 5, 0, 0),
        ],
    )
    assert report == Clv(
        report="clv",
        start=None,
        end=None,
        segment=None,
        currency="BRL",
        by_first_channel=[
            ClvRow("store", 2, 1, 5000, 2500, 0.5),
            ClvRow("web", 3, 3, 3000, 1000, 1.0),
        ],
        by_channels_used=[
            ClvRow("1", 2, 1, 1000, 500, 0.5),
            ClvRow("2", 2, 3, 7000, 3500, 1.5),
            ClvRow("4+", 1, 0, 0, 0, 0.0),
        ],
    )
    assert report.table()[1][0] == ("first_channel", "store", 2, 1, 5000, 2500)


def test_time_zones_cut_into_spans_of_one_offset() -> None:
    march = day_of(date(2026, 3, 1)) * 24
    assert zone_spans("UTC", march, march + 48) == [(march, march + 48, 0)]
    assert zone_spans("America/Sao_Paulo", march, march + 24 * 60) == [(march, march + 24 * 60, -3)]
    # Lisbon moves to summer time on 2026-03-29 at 01:00 UTC.
    change = day_of(date(2026, 3, 29)) * 24 + 1
    assert zone_spans("Europe/Lisbon", march, march + 24 * 40) == [
        (march, change, 0),
        (change, march + 24 * 40, 1),
    ]
    assert zone_spans("Asia/Kolkata", march, march + 1) == [(march, march + 1, 5)]
    assert zone_spans("America/St_Johns", march, march + 1) == [(march, march + 1, -4)]


def test_the_heatmap_adds_up_slots_and_finds_the_busiest() -> None:
    report = heatmap(
        query("heatmap", zone="America/Sao_Paulo"),
        [("web", 7, 23, 4), ("store", 7, 23, 2), ("web", 1, 0, 1), ("web", 7, 23, 1)],
    )
    assert report.tz == "America/Sao_Paulo"
    assert report.table() == (
        ("channel", "weekday", "hour", "interactions"),
        [("store", 7, 23, 2), ("web", 1, 0, 1), ("web", 7, 23, 5)],
    )
    assert report.busiest == [HeatCell("store", 7, 23, 2), HeatCell("web", 7, 23, 5)]

"""The pure rules behind the service and campaign reports: report parameters, a
conversation's cell and how it moves, repeat contacts, friction, campaign rows."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from omnicx.analytics.campaigns import CampaignCounts, campaign_of, campaign_rows, held_out
from omnicx.analytics.service import (
    ConversationFacts,
    Counts,
    ReportQuery,
    cell_deltas,
    channel_reasons,
    friction,
    repeats,
    report_query,
    resolved,
)
from omnicx.kernel import Invalid

T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)
TODAY = date(2026, 5, 10)


def conv(
    ident: str,
    opened: datetime,
    reason: str | None = "delivery",
    *,
    ended_at: datetime | None = None,
    merged: bool = False,
) -> ConversationFacts:
    return ConversationFacts(
        id=ident,
        customer_id="c1",
        opened_at=opened,
        channel="email",
        reason=reason,
        ended_at=ended_at,
        merged=merged,
    )


# -- parameters ----------------------------------------------------------------------------------


def test_report_query_defaults_to_the_last_30_days_with_today() -> None:
    assert report_query(None, None, today=TODAY, report="friction") == ReportQuery(
        date(2026, 4, 11), date(2026, 5, 11)
    )
    assert report_query(
        date(2026, 5, 1), None, today=TODAY, report="friction", channel="sms"
    ) == ReportQuery(date(2026, 5, 1), date(2026, 5, 11), channel="sms")


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"start": date(2026, 5, 2), "end": date(2026, 5, 2)}, "invalid_period", "from"),
        ({"start": date(2020, 1, 1), "end": date(2026, 5, 2)}, "invalid_period", "to"),
        ({"channel": "SMS"}, "invalid_channel", "channel"),
        ({"segment": "a b"}, "invalid_segment", "segment"),
        ({"store": "../x"}, "unsupported_parameter", "store"),
    ],
)
def test_report_query_names_the_bad_parameter(
    kwargs: dict[str, object], code: str, field: str
) -> None:
    start = kwargs.pop("start", None)
    end = kwargs.pop("end", None)
    with pytest.raises(Invalid) as raised:
        report_query(
            start,  # type: ignore[arg-type]
            end,  # type: ignore[arg-type]
            today=TODAY,
            report="friction",
            supports=("channel", "segment"),
            **kwargs,  # type: ignore[arg-type]
        )
    assert (raised.value.code, raised.value.field) == (code, field)


def test_an_unsupported_filter_is_refused_by_name() -> None:
    with pytest.raises(Invalid) as raised:
        report_query(None, None, today=TODAY, report="campaigns", supports=(), segment="s1")
    assert raised.value.message == "the campaigns report does not take segment"
    assert raised.value.field == "segment"


# -- a conversation's cell -----------------------------------------------------------------------


def test_resolution_counts_from_opening_to_the_latest_resolution() -> None:
    opened = conv("a", T0)
    done = resolved(opened, "resolved", T0 + timedelta(minutes=30))
    assert (done.ended_at, done.resolution_seconds) == (T0 + timedelta(minutes=30), 1800)
    # Closing a resolved conversation keeps its resolution time.
    assert resolved(done, "closed", T0 + timedelta(hours=5)) == done
    # Reopened, it is unresolved until resolved again.
    again = resolved(done, "open", T0 + timedelta(hours=1))
    assert again.resolution_seconds is None
    later = resolved(again, "resolved", T0 + timedelta(hours=2))
    assert later.resolution_seconds == 7200
    # Closed without a resolution, the closing ends it.
    assert resolved(opened, "closed", T0 + timedelta(seconds=90)).resolution_seconds == 90


def test_a_change_moves_the_conversation_between_cells() -> None:
    before = conv("a", T0, reason=None)
    after = replace(before, reason="payment", resolution_seconds=600, csat=4)
    deltas = cell_deltas([(None, before), (before, after)])
    assert deltas == {
        (date(2026, 5, 4), "email", "payment"): Counts(
            conversations=1, resolved=1, resolution_seconds=600, csat_count=1, csat_sum=4
        )
    }
    # The cell of no reason netted to nothing and is left out; a merged one counts nowhere.
    merged = replace(after, merged=True)
    assert cell_deltas([(after, merged)]) == {
        (date(2026, 5, 4), "email", "payment"): Counts(
            conversations=-1, resolved=-1, resolution_seconds=-600, csat_count=-1, csat_sum=-4
        )
    }


# -- repeat contacts -----------------------------------------------------------------------------


def test_repeats_on_the_same_reason_within_seven_days_of_an_opening_or_an_end() -> None:
    a = conv("a", T0, ended_at=T0 + timedelta(days=9))
    b = conv("b", T0 + timedelta(days=6, hours=23))  # 7 days of a's opening: repeat
    c = conv("c", T0 + timedelta(days=15))  # 6 days after a ended: repeat
    d = conv("d", T0 + timedelta(days=40))  # long after everything: not
    e = conv("e", T0 + timedelta(days=1), reason="payment")  # another reason: not
    f = conv("f", T0 + timedelta(days=2), reason=None)  # no reason: not
    g = conv("g", T0 + timedelta(days=3), merged=True)  # merged away: not, and not earlier
    assert repeats([d, c, b, a, e, f, g]) == {"b", "c"}
    # Opened more than 7 days after an earlier one that has not ended: not a repeat.
    assert repeats([conv("x", T0), conv("y", T0 + timedelta(days=8))]) == set()


# -- reports -------------------------------------------------------------------------------------


def test_channel_reasons_rows_and_means() -> None:
    cells = {
        ("email", "delivery"): Counts(3, 2, 5400, 2, 9, 1),
        ("email", ""): Counts(1, 0, 0, 0, 0, 0),
        ("sms", "payment"): Counts(2, 1, 100, 0, 0, 0),
        ("web_chat", "payment"): Counts(),
    }
    rows = channel_reasons(cells)
    assert [(r.channel, r.reason, r.conversations) for r in rows] == [
        ("email", "delivery", 3),
        ("email", None, 1),
        ("sms", "payment", 2),
    ]
    assert (rows[0].mean_resolution_seconds, rows[0].csat_mean, rows[0].csat_count) == (
        2700.0,
        4.5,
        2,
    )
    assert (rows[1].mean_resolution_seconds, rows[1].csat_mean) == (None, None)


def test_friction_by_channel_with_switch_pairs_and_breaches() -> None:
    found = friction(
        {"email": Counts(conversations=4, repeats=1), "sms": Counts(conversations=1)},
        {("email", "sms"): 2, ("sms", "whatsapp"): 1},
        {("email", "first_response"): 3, ("email", "resolution"): 1},
    )
    assert [
        (r.channel, r.conversations, r.repeat_contacts, r.repeat_rate, r.switches_out)
        for r in found.rows
    ] == [("email", 4, 1, 0.25, 2), ("sms", 1, 0, 0.0, 1), ("whatsapp", 0, 0, None, 0)]
    assert [(r.switches_in, r.sla_breaches) for r in found.rows] == [(0, 4), (2, 0), (1, 0)]
    assert [(s.from_channel, s.to_channel, s.count) for s in found.switches] == [
        ("email", "sms", 2),
        ("sms", "whatsapp", 1),
    ]
    only_sms = friction({}, {("email", "sms"): 2, ("web", "app"): 5}, {}, channel="sms")
    assert [r.channel for r in only_sms.rows] == ["sms"]
    assert [(s.from_channel, s.to_channel) for s in only_sms.switches] == [("email", "sms")]


# -- campaigns -----------------------------------------------------------------------------------


def test_campaign_of_a_send_origin() -> None:
    assert campaign_of("journey:j-1:v3:send_2") == ("journey:j-1", 3)
    assert campaign_of("broadcast:b-9") == ("broadcast:b-9", 0)
    assert campaign_of("agent:u-1") is None
    assert campaign_of("system:csat") is None


def test_held_out_reads_the_split_groups() -> None:
    assert held_out({"groups": {"split_1": "holdout"}})
    assert not held_out({"groups": {"split_1": "a"}})
    assert not held_out({})


def test_campaign_rows_uplift_and_roi() -> None:
    rows = campaign_rows(
        {
            ("journey:j1", 2): CampaignCounts(
                sends=10,
                delivered=8,
                orders=2,
                revenue=30000,
                entered=12,
                treated=10,
                treated_converted=4,
                holdout=5,
                holdout_converted=1,
            ),
            ("broadcast:b1", 0): CampaignCounts(sends=4, delivered=4, orders=1, revenue=5000),
        },
        {
            ("journey:j1", 2, "sms"): 6,
            ("journey:j1", 2, "email"): 4,
            ("broadcast:b1", 0, "email"): 4,
        },
        {"sms": Decimal("12.5"), "email": Decimal("0.5")},
        {"journey:j1": "Welcome", "broadcast:b1": "Sale"},
        "BRL",
    )
    journey, broadcast = rows
    assert (journey.kind, journey.id, journey.name, journey.version) == (
        "journey",
        "j1",
        "Welcome",
        2,
    )
    assert (journey.conversions, journey.conversion_rate, journey.holdout_rate) == (4, 0.4, 0.2)
    assert journey.uplift == 0.2
    assert (journey.cost, journey.roi) == (77, 389.6104)
    assert (broadcast.kind, broadcast.version, broadcast.conversions) == ("broadcast", None, 1)
    assert (broadcast.conversion_rate, broadcast.uplift, broadcast.cost) == (0.25, None, 2)
    assert broadcast.roi == 2500.0

"""Inventory's pure rules and locations' opening hours: no database."""

from datetime import UTC, date, datetime, timedelta

import pytest

from omnicx.commerce import inventory
from omnicx.commerce.inventory import (
    Difference,
    LeasePolicy,
    Movement,
    Reservation,
    StockLevel,
    check_movement,
    count_change,
    deltas,
    derive,
    differences,
    lease_until,
    nets_of,
)
from omnicx.commerce.locations import (
    OpeningHours,
    hours_json,
    hours_on,
    is_open,
    parse_hours,
)
from omnicx.kernel import Invalid

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def movement(
    location_id: str, source: str | None, target: str | None, qty: int, sku: str = "A"
) -> Movement:
    return Movement(0, location_id, sku, source, target, qty, "adjustment", None, "t", AT)


@pytest.mark.parametrize(
    ("reason", "source", "target"),
    [
        ("receipt", None, "sellable"),
        ("receipt", None, "damaged"),
        ("return", None, "damaged"),
        ("adjustment", None, "display"),
        ("adjustment", "sellable", None),
        ("damage", "display", "damaged"),
        ("display", "sellable", "display"),
        ("restock", "damaged", "sellable"),
        ("write_off", "damaged", None),
        ("sale", "sellable", None),
        ("ship", "sellable", None),
        ("transfer_out", "sellable", None),
        ("transfer_out", None, "in_transit"),
        ("transfer_in", "in_transit", "damaged"),
    ],
)
def test_movements_each_reason_allows(reason: str, source: str | None, target: str | None) -> None:
    check_movement(reason, source, target)


@pytest.mark.parametrize(
    ("reason", "source", "target", "field"),
    [
        ("receipt", "sellable", "display", "from_bucket"),
        ("receipt", None, "in_transit", "to_bucket"),
        ("adjustment", "sellable", "damaged", "to_bucket"),
        ("adjustment", None, None, "to_bucket"),
        ("damage", "damaged", "damaged", "to_bucket"),
        ("sale", "display", None, "from_bucket"),
        ("transfer_out", "sellable", "in_transit", "to_bucket"),
        ("transfer_in", "sellable", "in_transit", "from_bucket"),
        ("theft", "sellable", None, "reason"),
        ("receipt", None, "shelf", "to_bucket"),
    ],
)
def test_movements_each_reason_refuses(
    reason: str, source: str | None, target: str | None, field: str
) -> None:
    with pytest.raises(Invalid) as refused:
        check_movement(reason, source, target)
    assert refused.value.field == field


def test_deltas_of_a_movement() -> None:
    assert deltas(None, "sellable", 3) == {"sellable": 3}
    assert deltas("sellable", "damaged", 2) == {"sellable": -2, "damaged": 2}
    assert deltas("display", None, 1) == {"display": -1}
    m = movement("x", "sellable", "damaged", 2)
    assert (m.delta("sellable"), m.delta("damaged"), m.delta("display")) == (-2, 2, 0)


def test_the_ledger_derives_balances_and_differences_name_each_bucket() -> None:
    ledger = [
        movement("dc", None, "sellable", 10),
        movement("dc", "sellable", "damaged", 2),
        movement("dc", "sellable", None, 3),
        movement("store", None, "in_transit", 4),
        movement("store", "in_transit", "sellable", 4),
        movement("store", None, "sellable", 1, sku="B"),
    ]
    derived = derive(nets_of(ledger))
    assert derived == {
        ("dc", "A"): {"sellable": 5, "display": 0, "damaged": 2, "in_transit": 0},
        ("store", "A"): {"sellable": 4, "display": 0, "damaged": 0, "in_transit": 0},
        ("store", "B"): {"sellable": 1, "display": 0, "damaged": 0, "in_transit": 0},
    }
    levels = [
        StockLevel("dc", "A", 5, 0, 2, 0, 1),
        StockLevel("store", "A", 6, 0, 0, 0, 0),
        StockLevel("gone", "A", 0, 1, 0, 0, 0),
    ]
    held = {("dc", "A"): 1, ("store", "B"): 1}
    assert differences(levels, derived, held) == [
        Difference("gone", "A", "display", 1, 0),
        Difference("store", "A", "sellable", 6, 4),
        Difference("store", "B", "sellable", 0, 1),
        Difference("store", "B", "reserved", 0, 1),
    ]


def test_leases_are_bounded() -> None:
    policy = LeasePolicy(default_seconds=900, max_seconds=3600)
    assert lease_until(AT, None, policy) == AT + timedelta(minutes=15)
    assert lease_until(AT, 3600, policy) == AT + timedelta(hours=1)
    for bad in (0, 3601, -5):
        with pytest.raises(Invalid) as refused:
            lease_until(AT, bad, policy)
        assert refused.value.field == "lease_seconds"


def test_a_reservation_is_live_until_its_lease_ends() -> None:
    lease = Reservation("r", "k", "s", "A", 1, "active", None, "t", AT, AT + timedelta(seconds=60))
    assert lease.live(AT + timedelta(seconds=59))
    assert not lease.live(AT + timedelta(seconds=60))


def test_quantities_skus_and_counts() -> None:
    assert inventory.check_qty(1) == 1
    for bad in (0, -1, 1_000_001, True):
        with pytest.raises(Invalid):
            inventory.check_qty(bad)
    assert inventory.check_sku("AUR-VES-0201-M") == "AUR-VES-0201-M"
    for bad_sku in ("", "with space", "x" * 65, "tab\there"):
        with pytest.raises(Invalid):
            inventory.check_sku(bad_sku)
    assert count_change(5, 3) == -2
    assert count_change(0, 7) == 7
    with pytest.raises(Invalid):
        count_change(1, -1)


# -- opening hours -------------------------------------------------------------------------------

PAULISTA = parse_hours(
    "America/Sao_Paulo",
    {"mon": [["10:00", "14:00"], ["15:00", "22:00"]], "sun": [["14:00", "20:00"]]},
    {"2026-03-09": [], "2026-03-15": [["10:00", "12:00"]]},
)


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (datetime(2026, 3, 2, 12, 59, tzinfo=UTC), False),  # Monday 09:59 local
        (datetime(2026, 3, 2, 13, 0, tzinfo=UTC), True),  # 10:00
        (datetime(2026, 3, 2, 17, 30, tzinfo=UTC), False),  # the lunch break, 14:30
        (datetime(2026, 3, 3, 0, 59, tzinfo=UTC), True),  # 21:59 Monday, Tuesday in UTC
        (datetime(2026, 3, 3, 1, 0, tzinfo=UTC), False),  # 22:00 closes
        (datetime(2026, 3, 3, 15, 0, tzinfo=UTC), False),  # Tuesday: no hours
        (datetime(2026, 3, 9, 15, 0, tzinfo=UTC), False),  # a Monday closed by exception
        (datetime(2026, 3, 15, 14, 0, tzinfo=UTC), True),  # Sunday 11:00, special hours
        (datetime(2026, 3, 15, 18, 0, tzinfo=UTC), False),  # Sunday 15:00, not that Sunday
        (datetime(2026, 3, 8, 18, 0, tzinfo=UTC), True),  # an ordinary Sunday 15:00
    ],
)
def test_open_now_on_the_locations_clock(moment: datetime, open_: bool) -> None:
    assert is_open(PAULISTA, moment) is open_


def test_no_hours_at_all_is_always_open_and_the_json_round_trips() -> None:
    assert OpeningHours().always_open
    assert is_open(OpeningHours(), AT)
    assert hours_on(PAULISTA, date(2026, 3, 9)) == ()
    assert hours_on(PAULISTA, date(2026, 3, 16)) == ((600, 840), (900, 1320))
    assert hours_json(PAULISTA) == {
        "timezone": "America/Sao_Paulo",
        "week": {"mon": [["10:00", "14:00"], ["15:00", "22:00"]], "sun": [["14:00", "20:00"]]},
        "exceptions": {"2026-03-09": [], "2026-03-15": [["10:00", "12:00"]]},
    }
    again = hours_json(PAULISTA)
    assert parse_hours(again["timezone"], again["week"], again["exceptions"]) == PAULISTA
    until_midnight = parse_hours("UTC", {"fri": [["18:00", "24:00"]]})
    assert is_open(until_midnight, datetime(2026, 3, 6, 23, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    ("week", "exceptions", "field"),
    [
        ({"monday": []}, {}, "hours.week.monday"),
        ({"mon": [["9:00", "18:00"]]}, {}, "hours.week.mon[0]"),
        ({"mon": [["09:00", "25:00"]]}, {}, "hours.week.mon[0]"),
        ({"mon": [["12:00", "10:00"]]}, {}, "hours.week.mon[0]"),
        ({"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}, {}, "hours.week.mon[1]"),
        ({"mon": "09:00-18:00"}, {}, "hours.week.mon"),
        ({}, {"25/12/2026": []}, "hours.exceptions.25/12/2026"),
        ({}, {"2026-12-25": [["10:00"]]}, "hours.exceptions.2026-12-25[0]"),
    ],
)
def test_bad_hours_name_their_path(
    week: dict[str, object], exceptions: dict[str, object], field: str
) -> None:
    with pytest.raises(Invalid) as refused:
        parse_hours("UTC", week, exceptions)
    assert (refused.value.code, refused.value.field) == ("invalid_hours", field)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(Invalid) as refused:
        parse_hours("Mars/Olympus", {})
    assert (refused.value.code, refused.value.field) == ("unknown_timezone", "hours.timezone")

"""Business-minute arithmetic and SLA clocks: nights, weekends, holidays, time zones."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from omnicx.desk import sla
from omnicx.desk.model import ALWAYS_OPEN, BusinessHours, SlaClock, SlaPolicy
from omnicx.kernel import Invalid

SP = "America/Sao_Paulo"  # UTC-3, no daylight saving since 2019
WEEKDAYS_9_18 = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def office(holidays: tuple[str, ...] = ()) -> BusinessHours:
    return sla.parse_hours(SP, WEEKDAYS_9_18, holidays)


def test_minutes_inside_one_day() -> None:
    # 2026-03-02 is a Monday; 12:00 UTC is 09:00 in São Paulo.
    assert sla.business_minutes(office(), utc(2026, 3, 2, 12), utc(2026, 3, 2, 13, 30)) == 90.0


def test_minutes_skip_the_night() -> None:
    # Monday 17:30 local to Tuesday 09:30 local: 30 + 30 minutes.
    start, end = utc(2026, 3, 2, 20, 30), utc(2026, 3, 3, 12, 30)
    assert sla.business_minutes(office(), start, end) == 60.0
    assert sla.add_business_minutes(office(), start, 60) == end


def test_minutes_skip_the_weekend() -> None:
    friday_1750 = utc(2026, 3, 6, 20, 50)
    assert sla.add_business_minutes(office(), friday_1750, 60) == utc(2026, 3, 9, 12, 50)
    assert sla.business_minutes(office(), friday_1750, utc(2026, 3, 9, 12, 50)) == 60.0


def test_minutes_skip_holidays() -> None:
    friday_1750 = utc(2026, 3, 6, 20, 50)
    hours = office(("2026-03-09",))
    assert sla.add_business_minutes(hours, friday_1750, 60) == utc(2026, 3, 10, 12, 50)


def test_start_before_opening_counts_from_opening() -> None:
    assert sla.add_business_minutes(office(), utc(2026, 3, 2, 3), 60) == utc(2026, 3, 2, 13)
    assert sla.business_minutes(office(), utc(2026, 3, 2, 3), utc(2026, 3, 2, 11)) == 0.0


def test_daylight_saving_zone() -> None:
    hours = sla.parse_hours("Europe/Lisbon", {"sun": [["00:00", "24:00"]]}, ())
    # 2026-03-29: clocks go from 01:00 to 02:00, so the local Sunday has 23 hours.
    day = sla.business_minutes(hours, utc(2026, 3, 28), utc(2026, 3, 30))
    assert day == 23 * 60


def test_always_open_is_wall_clock() -> None:
    start = utc(2026, 3, 7, 22)
    assert sla.add_business_minutes(ALWAYS_OPEN, start, 90) == start + timedelta(minutes=90)
    assert sla.business_minutes(ALWAYS_OPEN, start, start + timedelta(hours=2)) == 120.0


@pytest.mark.parametrize(
    ("week", "holidays", "field"),
    [
        ({"mon": [["9:00", "18:00"]]}, (), "hours.mon[0][0]"),
        ({"mon": [["18:00", "09:00"]]}, (), "hours.mon[0]"),
        ({"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, (), "hours.mon[1]"),
        ({"funday": [["09:00", "12:00"]]}, (), "hours.funday"),
        ({"mon": [["09:00", "25:00"]]}, (), "hours.mon[0][1]"),
        ({}, ("2026-02-30",), "holidays[0]"),
    ],
)
def test_bad_hours_name_their_path(
    week: dict[str, list[list[str]]], holidays: tuple[str, ...], field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        sla.parse_hours(SP, week, holidays)
    assert (caught.value.code, caught.value.field) == ("invalid_hours", field)


def test_unknown_timezone() -> None:
    with pytest.raises(Invalid) as caught:
        sla.parse_hours("Mars/Olympus", {}, ())
    assert (caught.value.code, caught.value.field) == ("unknown_timezone", "timezone")


def test_closed_calendar_is_refused() -> None:
    hours = sla.parse_hours("UTC", {"mon": [["09:00", "10:00"]]}, ())
    hours = BusinessHours(
        "UTC",
        hours.week,
        frozenset(date(2026, 1, 1) + timedelta(days=i) for i in range(sla.MAX_DAYS + 10)),
    )
    with pytest.raises(Invalid) as caught:
        sla.add_business_minutes(hours, utc(2026, 1, 1), 10)
    assert caught.value.code == "calendar_closed"


def _policy(id: str, channel: str | None, priority: str | None, created: int = 0) -> SlaPolicy:
    at = utc(2026, 1, 1) + timedelta(minutes=created)
    return SlaPolicy(id, id, channel, priority, 60, 120, 480, 80, True, at, at)


def test_most_specific_policy_wins() -> None:
    policies = [
        _policy("any", None, None),
        _policy("social", "whatsapp", None),
        _policy("urgent", None, "urgent"),
        _policy("social-urgent", "whatsapp", "urgent"),
    ]
    assert sla.pick_policy(policies, "whatsapp", "urgent").id == "social-urgent"  # type: ignore[union-attr]
    assert sla.pick_policy(policies, "whatsapp", "normal").id == "social"  # type: ignore[union-attr]
    assert sla.pick_policy(policies, "email", "urgent").id == "urgent"  # type: ignore[union-attr]
    assert sla.pick_policy(policies, "email", "low").id == "any"  # type: ignore[union-attr]
    assert sla.pick_policy(policies[1:2], "email", "low") is None


def _clock(started: datetime, target: int = 60) -> SlaClock:
    return SlaClock("k1", "c1", "p1", "first_response", "pol", None, target, 80, started, "running")


def test_clock_warns_then_breaches_once_each() -> None:
    hours = office()
    clock = sla.schedule(_clock(utc(2026, 3, 6, 20, 30)), hours)  # Friday 17:30 local
    assert clock.warn_at == utc(2026, 3, 9, 12, 18)  # Monday 09:18 local
    assert clock.due_at == utc(2026, 3, 9, 12, 30)
    assert sla.due_events(clock, utc(2026, 3, 8, 12)) == []
    assert sla.due_events(clock, utc(2026, 3, 9, 12, 20)) == ["warning"]
    warned = replace(clock, warned_at=utc(2026, 3, 9, 12, 20))
    assert sla.due_events(warned, utc(2026, 3, 9, 12, 30)) == ["breached"]
    done = replace(warned, breached_at=utc(2026, 3, 9, 12, 30))
    assert sla.due_events(done, utc(2026, 3, 10)) == []


def test_pause_moves_the_deadline_by_the_paused_business_minutes() -> None:
    hours = office()
    clock = sla.schedule(_clock(utc(2026, 3, 2, 12)), hours)  # Monday 09:00 local
    paused = sla.pause(clock, utc(2026, 3, 2, 12, 30))
    assert (paused.status, paused.due_at) == ("paused", None)
    assert sla.due_events(paused, utc(2026, 3, 5)) == []
    resumed = sla.resume(paused, utc(2026, 3, 2, 14, 30), hours)
    assert resumed.paused_minutes == 120.0
    assert resumed.due_at == utc(2026, 3, 2, 15, 0)
    assert sla.elapsed(resumed, utc(2026, 3, 2, 15, 0), hours) == 60.0


def test_fold_keeps_the_earliest_running_clock() -> None:
    early = _clock(utc(2026, 3, 2, 12))
    late = replace(_clock(utc(2026, 3, 2, 13)), id="k2")
    kept, retired = sla.fold(late, early)
    assert (kept.id, retired.id, retired.status) == ("k1", "k2", "merged")
    met = sla.stop(early, utc(2026, 3, 2, 12, 10))
    kept, retired = sla.fold(met, late)
    assert (kept.id, retired.id) == ("k2", "k1")

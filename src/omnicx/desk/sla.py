"""Business hours and SLA clocks: pure arithmetic, facts in, times out.

Business minutes are counted only inside a team's opening hours, in its time zone, skipping
its holidays; daylight-saving changes are handled by converting each local opening interval
to UTC with zoneinfo. A clock's deadline is the moment its elapsed business minutes, less the
business minutes it spent paused, reach the policy's target.
"""

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnicx.desk.model import WEEKDAYS, BusinessHours, SlaClock, SlaPolicy
from omnicx.kernel import Invalid

MAX_DAYS = 3 * 366
"""How far the arithmetic looks for open hours before it declares a calendar always shut."""


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("unknown_timezone", f"unknown time zone {name!r}", field) from None


def _minutes(text: Any, path: str) -> int:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        raise Invalid("invalid_hours", f"{path}: a time must be HH:MM, got {text!r}", path)
    hours, minutes = text[:2], text[3:]
    if not (hours.isdigit() and minutes.isdigit()):
        raise Invalid("invalid_hours", f"{path}: a time must be HH:MM, got {text!r}", path)
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 1440:
        raise Invalid("invalid_hours", f"{path}: {text!r} is not a time of day", path)
    return value


def parse_hours(timezone: str, week: dict[str, Any], holidays: Sequence[str]) -> BusinessHours:
    """Opening hours from their JSON form: `{"mon": [["09:00", "18:00"]], ...}` and ISO
    holiday dates; every error names its path."""
    zone(timezone)
    days: list[tuple[tuple[int, int], ...]] = []
    unknown = sorted(set(week) - set(WEEKDAYS))
    if unknown:
        raise Invalid(
            "invalid_hours",
            f"hours.{unknown[0]}: not a weekday (use {', '.join(WEEKDAYS)})",
            f"hours.{unknown[0]}",
        )
    for name in WEEKDAYS:
        intervals = week.get(name) or []
        if not isinstance(intervals, list):
            raise Invalid("invalid_hours", f"hours.{name}: must be a list", f"hours.{name}")
        parsed: list[tuple[int, int]] = []
        for index, pair in enumerate(intervals):
            path = f"hours.{name}[{index}]"
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise Invalid("invalid_hours", f"{path}: must be [start, end]", path)
            start, end = _minutes(pair[0], f"{path}[0]"), _minutes(pair[1], f"{path}[1]")
            if end <= start:
                raise Invalid("invalid_hours", f"{path}: ends before it starts", path)
            if parsed and start < parsed[-1][1]:
                raise Invalid("invalid_hours", f"{path}: overlaps the interval before", path)
            parsed.append((start, end))
        days.append(tuple(parsed))
    dates: set[date] = set()
    for index, text in enumerate(holidays):
        try:
            dates.add(date.fromisoformat(text))
        except (TypeError, ValueError):
            path = f"holidays[{index}]"
            raise Invalid("invalid_hours", f"{path}: not an ISO date: {text!r}", path) from None
    return BusinessHours(timezone, tuple(days), frozenset(dates))


def hours_json(hours: BusinessHours) -> dict[str, list[list[str]]]:
    def text(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return {
        WEEKDAYS[i]: [[text(a), text(b)] for a, b in day] for i, day in enumerate(hours.week) if day
    }


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    # Added in local wall time (so 24:00 is the next midnight), then resolved to UTC.
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=tz).astimezone(UTC)


def _intervals(hours: BusinessHours, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals in UTC, in order, from the local day holding `start` onwards."""
    tz = zone(hours.timezone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    for _ in range(MAX_DAYS):
        if day not in hours.holidays:
            for begin, end in hours.week[day.weekday()]:
                opened, closed = _local(day, begin, tz), _local(day, end, tz)
                if closed > opened:
                    yield opened, closed
        day += timedelta(days=1)


def business_minutes(hours: BusinessHours, start: datetime, end: datetime) -> float:
    """Business minutes between two moments (0 when `end` is not after `start`)."""
    if end <= start:
        return 0.0
    if hours.always_open:
        return (end - start).total_seconds() / 60
    total = 0.0
    for opened, closed in _intervals(hours, start):
        if opened >= end:
            break
        lo, hi = max(opened, start), min(closed, end)
        if hi > lo:
            total += (hi - lo).total_seconds() / 60
    return total


def add_business_minutes(hours: BusinessHours, start: datetime, minutes: float) -> datetime:
    """The moment `minutes` business minutes after `start`."""
    if hours.always_open:
        return start + timedelta(minutes=minutes)
    left = timedelta(minutes=minutes)
    for opened, closed in _intervals(hours, start):
        if closed <= start:
            continue
        lo = max(opened, start)
        span = closed - lo
        if left <= span:
            return lo + left
        left -= span
    raise Invalid(
        "calendar_closed",
        f"the business hours have no opening within {MAX_DAYS} days",
        "hours",
    )


# -- policies -------------------------------------------------------------------------------


def pick_policy(
    policies: Sequence[SlaPolicy], channel: str, priority: str | None
) -> SlaPolicy | None:
    """The most specific policy: channel and priority, then channel, then priority, then one
    for any; among equals the oldest."""

    def score(policy: SlaPolicy) -> int | None:
        if policy.channel is not None and policy.channel != channel:
            return None
        if policy.priority is not None and policy.priority != priority:
            return None
        return (2 if policy.channel else 0) + (1 if policy.priority else 0)

    best: tuple[int, SlaPolicy] | None = None
    for policy in sorted(policies, key=lambda p: (p.created_at, p.id)):
        value = score(policy)
        if value is not None and (best is None or value > best[0]):
            best = (value, policy)
    return best[1] if best else None


# -- clocks ---------------------------------------------------------------------------------


def schedule(clock: SlaClock, hours: BusinessHours) -> SlaClock:
    """Work out when a running clock warns and breaches."""
    if clock.status != "running":
        return replace(clock, warn_at=None, due_at=None)
    warn = clock.target_minutes * clock.warning_percent / 100
    return replace(
        clock,
        warn_at=add_business_minutes(hours, clock.started_at, warn + clock.paused_minutes),
        due_at=add_business_minutes(
            hours, clock.started_at, clock.target_minutes + clock.paused_minutes
        ),
    )


def pause(clock: SlaClock, now: datetime) -> SlaClock:
    if clock.status != "running":
        return clock
    return replace(clock, status="paused", paused_at=now, warn_at=None, due_at=None)


def resume(clock: SlaClock, now: datetime, hours: BusinessHours) -> SlaClock:
    if clock.status != "paused" or clock.paused_at is None:
        return clock
    paused = clock.paused_minutes + business_minutes(hours, clock.paused_at, now)
    return schedule(replace(clock, status="running", paused_at=None, paused_minutes=paused), hours)


def stop(clock: SlaClock, now: datetime) -> SlaClock:
    if clock.status not in ("running", "paused"):
        return clock
    return replace(clock, status="stopped", stopped_at=now, warn_at=None, due_at=None)


def elapsed(clock: SlaClock, now: datetime, hours: BusinessHours) -> float:
    """Business minutes the clock has counted by `now`."""
    end = clock.stopped_at or clock.paused_at or now
    return max(0.0, business_minutes(hours, clock.started_at, min(end, now)) - clock.paused_minutes)


def due_events(clock: SlaClock, now: datetime) -> list[str]:
    """The events a running clock owes at `now`, each at most once: warning, then breached."""
    if clock.status != "running":
        return []
    owed = []
    if clock.warn_at is not None and clock.warned_at is None and clock.warn_at <= now:
        owed.append("warning")
    if clock.due_at is not None and clock.breached_at is None and clock.due_at <= now:
        owed.append("breached")
    return owed


def fold(kept: SlaClock, other: SlaClock) -> tuple[SlaClock, SlaClock]:
    """Two clocks of one metric when their conversations merge: the one that started first
    keeps counting (a running one is preferred over one already met); the other is retired
    as `merged`. Returns (kept, retired)."""
    candidates = sorted(
        (kept, other), key=lambda c: (c.status not in ("running", "paused"), c.started_at)
    )
    winner, loser = candidates
    retired = replace(loser, status="merged", warn_at=None, due_at=None)
    return winner, retired


def summary(clocks: Sequence[SlaClock]) -> dict[str, Any]:
    """What a conversation shows of its SLA clocks (the inbox filters on `state`).

    `state` is "breached" when any clock missed its target, "warning" when a live clock passed
    its warning point, "running" or "paused" while clocks count, "met" when every clock stopped
    in time; `due_at` is the nearest deadline of a running clock. Clocks folded into another by a
    merge are left out; no clocks, no summary.
    """
    clocks = [c for c in clocks if c.status != "merged"]
    if not clocks:
        return {}
    live = [c for c in clocks if c.status in ("running", "paused")]
    running = [c for c in live if c.status == "running" and c.due_at is not None]
    if any(c.breached_at is not None for c in clocks):
        state = "breached"
    elif any(c.warned_at is not None for c in live):
        state = "warning"
    elif running:
        state = "running"
    elif live:
        state = "paused"
    else:
        state = "met"
    due = min((c.due_at for c in running if c.due_at is not None), default=None)
    return {
        "state": state,
        "due_at": due.isoformat() if due else None,
        "clocks": {
            c.metric: {
                "status": c.status,
                "due_at": c.due_at.isoformat() if c.due_at else None,
                "warned": c.warned_at is not None,
                "breached": c.breached_at is not None,
            }
            for c in sorted(clocks, key=lambda c: c.started_at)
        },
    }

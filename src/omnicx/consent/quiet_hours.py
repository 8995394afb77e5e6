"""Quiet hours in the customer's own time zone: is a moment inside them, and when do they end.

A window is local (start, end); one whose start is after its end runs over midnight
(21:00-08:00). Local times are taken in the customer's IANA zone (UTC when unknown), so
daylight-saving changes move the window with the clock on the wall.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _zone(time_zone: str | None) -> ZoneInfo:
    return ZoneInfo(time_zone or "UTC")


def in_quiet_hours(window: tuple[time, time] | None, time_zone: str | None, at: datetime) -> bool:
    if window is None:
        return False
    start, end = window
    local = at.astimezone(_zone(time_zone)).time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(
    window: tuple[time, time] | None, time_zone: str | None, at: datetime
) -> datetime | None:
    """When the quiet hours around `at` end (UTC), or None when `at` is outside them."""
    if window is None or not in_quiet_hours(window, time_zone, at):
        return None
    zone = _zone(time_zone)
    local = at.astimezone(zone)
    start, end = window
    day = local.date()
    if start > end and local.time().replace(tzinfo=None) >= start:
        day += timedelta(days=1)
    ends = datetime.combine(day, end, tzinfo=zone)
    return ends.astimezone(UTC)

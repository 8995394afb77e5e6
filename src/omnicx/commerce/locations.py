"""Locations: distribution centres, stores and dark stores, what each can do, and when it is
open. Pure rules (facts in, decisions out) and the actions on a `LocationRepository`.

    kind            distribution_centre | store | dark_store
    capabilities    ship, pickup, ship_from_store, accept_returns, fitting, installation, or
                    any other lower-case name a service asks for
    opening hours   per weekday intervals of local minutes in the location's time zone, and
                    exceptions by local date (closed, or other hours); no weekday and no
                    exception at all means always open (a distribution centre)
    safety stock    units of each SKU held back from other channels' reservations
                    ("protect store stock"); the location's own sales may use them
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnicx.kernel import Conflict, Invalid, NotFound

KINDS: tuple[str, ...] = ("distribution_centre", "store", "dark_store")
CAPABILITIES: tuple[str, ...] = (
    "ship",
    "pickup",
    "ship_from_store",
    "accept_returns",
    "fitting",
    "installation",
)
"""The capabilities omnicx itself reasons about; services may name others."""
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ADDRESS_FIELDS: tuple[str, ...] = ("line1", "line2", "district", "city", "region", "postal_code")

LOCATION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CAPABILITY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_SAFETY_STOCK = 1_000_000

Interval = tuple[int, int]
"""Minutes of the local day: [start, end), end at most 1440 (midnight)."""
Day = tuple[Interval, ...]


@dataclass(frozen=True)
class OpeningHours:
    timezone: str = "UTC"
    week: tuple[Day, ...] = ((), (), (), (), (), (), ())
    """Per weekday, Monday first."""
    exceptions: Mapping[date, Day] = field(default_factory=dict)
    """Local dates with other hours than their weekday's; an empty day is closed."""

    @property
    def always_open(self) -> bool:
        return not any(self.week) and not self.exceptions


@dataclass(frozen=True)
class Address:
    """A business address: not personal data, kept in clear."""

    country: str
    line1: str = ""
    line2: str = ""
    district: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    kind: str
    capabilities: frozenset[str]
    address: Address
    hours: OpeningHours
    safety_stock: int
    priority: int
    """Lower is tried first when several locations could serve."""
    active: bool
    created_at: datetime
    updated_at: datetime
    latitude: float | None = None
    longitude: float | None = None

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


class LocationRepository(Protocol):
    def add_location(self, location: Location) -> None: ...

    def save_location(self, location: Location) -> None: ...

    def location(self, location_id: str) -> Location | None: ...

    def locations(
        self, *, kind: str | None = None, capability: str | None = None, active: bool | None = None
    ) -> list[Location]: ...

    def location_in_use(self, location_id: str) -> bool:
        """Whether any stock, movement, reservation or transfer names the location."""

    def delete_location(self, location_id: str) -> None: ...


# -- opening hours -----------------------------------------------------------------------------


def zone(name: str, field: str = "hours.timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("unknown_timezone", f"{field}: unknown time zone {name!r}", field) from None


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


def _day(intervals: Any, path: str) -> Day:
    if not isinstance(intervals, list):
        raise Invalid("invalid_hours", f"{path}: must be a list of [open, close]", path)
    day: list[Interval] = []
    for index, pair in enumerate(intervals):
        where = f"{path}[{index}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise Invalid("invalid_hours", f"{where}: must be [open, close]", where)
        start, end = _minutes(pair[0], where), _minutes(pair[1], where)
        if end <= start:
            raise Invalid("invalid_hours", f"{where}: closes before it opens", where)
        if day and start < day[-1][1]:
            raise Invalid("invalid_hours", f"{where}: overlaps or precedes the one before", where)
        day.append((start, end))
    return tuple(day)


def parse_hours(
    timezone: str, week: Mapping[str, Any], exceptions: Mapping[str, Any] | None = None
) -> OpeningHours:
    """Opening hours from their JSON form: `{"mon": [["09:00", "18:00"]], ...}` and
    `{"2026-12-25": [], "2026-12-24": [["09:00", "14:00"]]}`; every error names its path."""
    zone(timezone)
    unknown = sorted(set(week) - set(WEEKDAYS))
    if unknown:
        path = f"hours.week.{unknown[0]}"
        raise Invalid("invalid_hours", f"{path}: not a weekday ({', '.join(WEEKDAYS)})", path)
    days = tuple(_day(week.get(name, []), f"hours.week.{name}") for name in WEEKDAYS)
    special: dict[date, Day] = {}
    for text, intervals in (exceptions or {}).items():
        path = f"hours.exceptions.{text}"
        try:
            day = date.fromisoformat(text)
        except (TypeError, ValueError):
            raise Invalid("invalid_hours", f"{path}: not an ISO date", path) from None
        special[day] = _day(intervals, path)
    return OpeningHours(timezone, days, special)


def _text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day_json(day: Day) -> list[list[str]]:
    return [[_text(a), _text(b)] for a, b in day]


def hours_json(hours: OpeningHours) -> dict[str, Any]:
    """The JSON form `parse_hours` reads back."""
    return {
        "timezone": hours.timezone,
        "week": {WEEKDAYS[i]: _day_json(day) for i, day in enumerate(hours.week) if day},
        "exceptions": {
            d.isoformat(): _day_json(hours.exceptions[d]) for d in sorted(hours.exceptions)
        },
    }


def hours_on(hours: OpeningHours, day: date) -> Day:
    """The intervals a local date is open (an exception wins over its weekday)."""
    if day in hours.exceptions:
        return hours.exceptions[day]
    return hours.week[day.weekday()]


def is_open(hours: OpeningHours, at: datetime) -> bool:
    """Whether the location is open at the instant `at`, read on its own local clock."""
    if hours.always_open:
        return True
    local = at.astimezone(zone(hours.timezone))
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in hours_on(hours, local.date()))


# -- validation ----------------------------------------------------------------------------------


def _name(value: str) -> str:
    clean = value.strip()
    if not clean or len(clean) > 200:
        raise Invalid("invalid_name", "name must be 1 to 200 characters", "name")
    return clean


def _kind(value: str) -> str:
    if value not in KINDS:
        raise Invalid("invalid_kind", f"kind must be one of {', '.join(KINDS)}", "kind")
    return value


def _capabilities(values: Iterable[str]) -> frozenset[str]:
    found = set()
    for index, value in enumerate(values):
        if not isinstance(value, str) or not CAPABILITY.match(value):
            path = f"capabilities[{index}]"
            raise Invalid("invalid_capability", f"{path}: {value!r} is not a lower-case name", path)
        found.add(value)
    if len(found) > 50:
        raise Invalid("invalid_capability", "at most 50 capabilities", "capabilities")
    return frozenset(found)


def _address(address: Address) -> Address:
    if not COUNTRY.match(address.country):
        raise Invalid(
            "invalid_address",
            "address.country must be an ISO 3166 code such as BR",
            "address.country",
        )
    for name in ADDRESS_FIELDS:
        value = getattr(address, name)
        if len(value) > 200:
            raise Invalid(
                "invalid_address", f"address.{name}: at most 200 characters", f"address.{name}"
            )
    return replace(address, **{name: getattr(address, name).strip() for name in ADDRESS_FIELDS})


def _safety(value: int) -> int:
    if not 0 <= value <= MAX_SAFETY_STOCK:
        raise Invalid(
            "invalid_safety_stock", f"safety_stock must be 0 to {MAX_SAFETY_STOCK}", "safety_stock"
        )
    return value


def _priority(value: int) -> int:
    if not 0 <= value <= 1_000_000:
        raise Invalid("invalid_priority", "priority must be 0 to 1000000", "priority")
    return value


def _coordinates(
    latitude: float | None, longitude: float | None
) -> tuple[float | None, float | None]:
    if (latitude is None) != (longitude is None):
        field_name = "longitude" if longitude is None else "latitude"
        raise Invalid("invalid_coordinates", "give latitude and longitude together", field_name)
    if latitude is not None and not -90 <= latitude <= 90:
        raise Invalid("invalid_coordinates", "latitude must be -90 to 90", "latitude")
    if longitude is not None and not -180 <= longitude <= 180:
        raise Invalid("invalid_coordinates", "longitude must be -180 to 180", "longitude")
    return latitude, longitude


def check_location_id(location_id: str, field_name: str = "id") -> str:
    if not LOCATION_ID.match(location_id):
        raise Invalid(
            "invalid_location_id",
            f"{field_name} must be 1 to 64 of a-z 0-9 - _, starting with a letter or digit",
            field_name,
        )
    return location_id


# -- actions -------------------------------------------------------------------------------------


def get_location(
    repo: LocationRepository, location_id: str, field_name: str = "location_id"
) -> Location:
    location = repo.location(location_id)
    if location is None:
        raise NotFound("location_not_found", f"no location {location_id!r}", field_name)
    return location


def create_location(
    repo: LocationRepository,
    *,
    location_id: str,
    name: str,
    kind: str,
    capabilities: Sequence[str],
    address: Address,
    hours: OpeningHours,
    now: datetime,
    safety_stock: int = 0,
    priority: int = 100,
    latitude: float | None = None,
    longitude: float | None = None,
    active: bool = True,
) -> Location:
    check_location_id(location_id)
    latitude, longitude = _coordinates(latitude, longitude)
    location = Location(
        id=location_id,
        name=_name(name),
        kind=_kind(kind),
        capabilities=_capabilities(capabilities),
        address=_address(address),
        hours=hours,
        safety_stock=_safety(safety_stock),
        priority=_priority(priority),
        active=active,
        created_at=now,
        updated_at=now,
        latitude=latitude,
        longitude=longitude,
    )
    if repo.location(location_id) is not None:
        raise Conflict("location_exists", f"a location {location_id!r} exists", "id")
    repo.add_location(location)
    return location


def update_location(
    repo: LocationRepository,
    location_id: str,
    now: datetime,
    *,
    name: str | None = None,
    kind: str | None = None,
    capabilities: Sequence[str] | None = None,
    address: Address | None = None,
    hours: OpeningHours | None = None,
    safety_stock: int | None = None,
    priority: int | None = None,
    active: bool | None = None,
    coordinates: tuple[float | None, float | None] | None = None,
) -> Location:
    """Change what is given; `coordinates=(None, None)` clears them."""
    location = get_location(repo, location_id)
    changes: dict[str, Any] = {"updated_at": now}
    if name is not None:
        changes["name"] = _name(name)
    if kind is not None:
        changes["kind"] = _kind(kind)
    if capabilities is not None:
        changes["capabilities"] = _capabilities(capabilities)
    if address is not None:
        changes["address"] = _address(address)
    if hours is not None:
        changes["hours"] = hours
    if safety_stock is not None:
        changes["safety_stock"] = _safety(safety_stock)
    if priority is not None:
        changes["priority"] = _priority(priority)
    if active is not None:
        changes["active"] = active
    if coordinates is not None:
        changes["latitude"], changes["longitude"] = _coordinates(*coordinates)
    changed = replace(location, **changes)
    repo.save_location(changed)
    return changed


def delete_location(repo: LocationRepository, location_id: str) -> None:
    """Only a location nothing names yet; one with a history is deactivated instead."""
    get_location(repo, location_id)
    if repo.location_in_use(location_id):
        raise Conflict(
            "location_in_use",
            f"location {location_id!r} has stock history; set active to false instead",
            "location_id",
        )
    repo.delete_location(location_id)

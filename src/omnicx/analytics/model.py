"""Journey analytics' vocabulary: facts, a customer's running summary, what the read models
count, and the settings that say which events are purchases, contacts and visits.

Times are integer microseconds since the epoch (decision 0001); read models bucket them in UTC
days (`day`: days since 1970-01-01), hours (`hour`: hours since the epoch) and months
(`month`: YYYYMM).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

DAY = 86_400_000_000
HOUR = 3_600_000_000
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

INTERACTION = 1
"""Something the customer did on a channel: a page, a tracked event, a message, a visit."""
PURCHASE = 2
CONTACT = 4
"""The customer got in touch: a conversation opened (or reopened), or a contact event."""
SENT = 8
"""A message we sent them (cost to serve); never an interaction."""

UNKNOWN = "unknown"
AGE_BANDS = ("<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+", UNKNOWN)
BIRTHDAY_TRAITS = ("birthday", "birthdate", "birth_date", "date_of_birth", "dateOfBirth")
AGE_TRAITS = ("age",)
OUTCOMES = ("purchase", "contact")
ONLINE_TO_OFFLINE = "online_to_offline"
OFFLINE_TO_ONLINE = "offline_to_online"
DIRECTIONS = (ONLINE_TO_OFFLINE, OFFLINE_TO_ONLINE)
PATH_SEPARATOR = ">"

INTERNAL_SOURCES = frozenset(
    {
        "aftersales",
        "commerce",
        "consent",
        "conversations",
        "journeys",
        "maestro",
        "receipts",
        "segments",
        "tracking",
    }
)
"""`source_id` of the rows other domains write on the timeline themselves. Their facts reach
analytics through those domains' own events (orders placed, messages received, sends), so a
row of theirs counts only when its name is in `INTERNAL_INTERACTIONS`."""
INTERNAL_INTERACTIONS = frozenset({"Return Accepted", "Exchange Completed"})
"""Timeline rows of other domains that are the customer's doing (returns at a counter)."""
SKIPPED_TYPES = frozenset({"alias", "group"})


@dataclass(frozen=True)
class AnalyticsConfig:
    purchase_events: frozenset[str] = frozenset({"Order Completed"})
    contact_events: frozenset[str] = frozenset({"Call Received"})
    online: frozenset[str] = frozenset({"web", "app"})
    """Channels where a customer browses online."""
    offline: frozenset[str] = frozenset({"store"})
    """Channels a customer visits in person."""
    conversion_days: int = 7
    path_days: int = 30
    """Touches older than this many days before a purchase or contact leave its path."""
    path_steps: int = 4
    currency: str = "BRL"
    minor_units: int = 100
    """Minor units in one unit of `currency` (100 for 2 decimals)."""
    message_costs: dict[str, Decimal] = field(default_factory=dict)
    agent_minute_cost: Decimal = Decimal(0)
    reply_seconds: int = 120
    """Agent time counted for each reply an agent sends."""
    store_properties: tuple[str, ...] = ("store_id", "location_id", "store")
    """Event properties that name the store of a purchase or visit, first found wins."""


class Fact(NamedTuple):
    """One thing that happened to a customer, as the read models see it."""

    customer_id: str
    channel: str
    ts: int
    flags: int
    amount: int = 0
    """Revenue of a purchase, in minor units."""
    store: str = ""
    seconds: int = 0
    """Agent time spent (a call's duration, a reply)."""
    band: str | None = None
    """A newly learnt age band."""
    times: int = 1
    """Interactions it stands for: a customer's plain interactions in a row on one channel
    within one hour are one fact."""


@dataclass(slots=True)
class Customer:
    """A customer's running summary: the one row per customer the reports join and the
    counters are moved by."""

    id: str
    first_ts: int | None = None
    first_channel: str | None = None
    channels: dict[str, list[int]] = field(default_factory=dict)
    """channel -> [first day, last day] seen on it."""
    age_band: str = UNKNOWN
    orders: int = 0
    revenue: int = 0
    browse_day: int | None = None
    """The last day they browsed on an online channel."""
    visit_day: int | None = None
    """The last day they were at a store (an offline channel)."""
    touches: list[list[Any]] = field(default_factory=list)
    """The last few distinct consecutive channels they used: [channel, last day on it]."""

    @property
    def first_day(self) -> int | None:
        return None if self.first_ts is None else self.first_ts // DAY


@dataclass
class Deltas:
    """What one transaction adds to the counter tables, aggregated by key."""

    days: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    """(day, channel) -> [interactions, new customers, new to the channel]"""
    hours: dict[tuple[int, str], int] = field(default_factory=dict)
    months: set[tuple[str, str, int]] = field(default_factory=set)
    """(customer, channel, month) that may be new: the dedupe table decides."""
    paths: dict[tuple[int, str, str], int] = field(default_factory=dict)
    conversions: dict[tuple[int, str, str, str], list[int]] = field(default_factory=dict)
    """(day, direction, channel, store) -> [conversions, revenue]"""
    economics: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)
    """(day, channel, store) -> [orders, revenue, messages sent, agent seconds]"""
    cohorts: dict[tuple[int, str, int, str], list[int]] = field(default_factory=dict)
    """(first day, first channel, channels used, age band) -> [customers, orders, revenue]"""

    def day(self, day: int, channel: str) -> list[int]:
        row = self.days.get((day, channel))
        if row is None:
            row = self.days[(day, channel)] = [0, 0, 0]
        return row

    def economy(self, day: int, channel: str, store: str) -> list[int]:
        row = self.economics.get((day, channel, store))
        if row is None:
            row = self.economics[(day, channel, store)] = [0, 0, 0, 0]
        return row


def day_of(moment: date) -> int:
    return moment.toordinal() - EPOCH_ORDINAL


def date_of(day: int) -> date:
    return date.fromordinal(day + EPOCH_ORDINAL)


_months: dict[int, int] = {}


def month_of(day: int) -> int:
    """YYYYMM of a day number."""
    month = _months.get(day)
    if month is None:
        moment = date_of(day)
        month = _months[day] = moment.year * 100 + moment.month
        if len(_months) > 100_000:
            _months.clear()
    return month


def age_band(born: date | None, at: date) -> str:
    if born is None or born > at:
        return UNKNOWN
    years = at.year - born.year - ((at.month, at.day) < (born.month, born.day))
    return band_of_age(years)


def band_of_age(years: int) -> str:
    if years < 0 or years > 130:
        return UNKNOWN
    for limit, band in ((18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44")):
        if years < limit:
            return band
    for limit, band in ((55, "45-54"), (65, "55-64")):
        if years < limit:
            return band
    return "65+"


def band_from_traits(traits: Mapping[str, Any], at: date) -> str | None:
    """The age band a set of traits tells (a birthday, else an age); None when they name
    neither, `unknown` when the value cannot be read."""
    for key in BIRTHDAY_TRAITS:
        if key in traits:
            return age_band(_born(traits[key]), at)
    for key in AGE_TRAITS:
        if key in traits:
            value = traits[key]
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                return UNKNOWN
            try:
                return band_of_age(int(float(value)))
            except ValueError:
                return UNKNOWN
    return None


def _born(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def channels_bucket(count: int) -> str:
    """1, 2, 3 or 4+."""
    return "4+" if count >= 4 else str(count)

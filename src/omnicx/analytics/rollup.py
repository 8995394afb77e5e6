"""From timeline rows to facts, and from facts to the read models' changes: a customer's
summary moves forward and the counters of one transaction add up in `Deltas`.

Everything here is pure and runs once per fact on the ingestion path, so it stays small:
plain dictionaries, no per-fact allocation beyond the fact itself.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from omnicx.analytics.model import (
    CONTACT,
    DAY,
    HOUR,
    INTERACTION,
    INTERNAL_INTERACTIONS,
    INTERNAL_SOURCES,
    OFFLINE_TO_ONLINE,
    ONLINE_TO_OFFLINE,
    PATH_SEPARATOR,
    PURCHASE,
    SKIPPED_TYPES,
    UNKNOWN,
    AnalyticsConfig,
    Customer,
    Deltas,
    Fact,
    band_from_traits,
    date_of,
    month_of,
)

AMOUNT_PROPERTIES = ("total", "revenue", "value")
"""The properties of a purchase event read as its amount, first found wins."""


def facts_from_rows(
    rows: Iterable[Mapping[str, Any]],
    config: AnalyticsConfig,
    canon: Callable[[str], str] = str,
) -> list[Fact]:
    """The facts in newly stored timeline rows: every customer's event from a source is an
    interaction; purchases and contacts are named by the settings; rows other domains wrote
    themselves count only when they are the customer's doing (`INTERNAL_INTERACTIONS`)."""
    purchases = config.purchase_events
    contacts = config.contact_events
    facts: list[Fact] = []
    append = facts.append
    new = tuple.__new__  # skips the named tuple's Python-level constructor: this runs per event
    plain: dict[str, int] = {}
    """Each customer's last fact, when it is a plain interaction: its index in `facts`."""
    more: dict[int, int] = {}
    """Interactions folded into the plain fact at an index, beyond its first."""
    for row in rows:
        profile_id = row["profile_id"]
        if profile_id is None:
            continue
        name = row["event"]
        if row["source_id"] in INTERNAL_SOURCES:
            if name not in INTERNAL_INTERACTIONS:
                continue
        elif row["type"] in SKIPPED_TYPES:
            continue
        traits = row["traits"]
        band = band_from_traits(traits, date_of(row["ts"] // DAY)) if traits else None
        customer_id = canon(profile_id)
        if band is None and (name is None or (name not in purchases and name not in contacts)):
            channel = row["channel"]
            ts = row["ts"]
            index = plain.get(customer_id)
            if index is not None:
                last = facts[index]
                if last[1] == channel and last[2] <= ts and last[2] // HOUR == ts // HOUR:
                    more[index] = more.get(index, 0) + 1
                    continue
            plain[customer_id] = len(facts)
            append(new(Fact, (customer_id, channel, ts, INTERACTION, 0, "", 0, None, 1)))
            continue
        plain.pop(customer_id, None)
        flags = INTERACTION
        amount = seconds = 0
        store = ""
        properties = row["properties"] or {}
        if name in purchases:
            flags |= PURCHASE
            amount = amount_of(properties, config)
            store = store_of(properties, config)
        if name in contacts:
            flags |= CONTACT
            seconds = seconds_of(properties)
        append(Fact(customer_id, row["channel"], row["ts"], flags, amount, store, seconds, band))
    for index, extra in more.items():
        facts[index] = facts[index]._replace(times=1 + extra)
    return facts


def amount_of(properties: Mapping[str, Any], config: AnalyticsConfig) -> int:
    """A purchase's amount in minor units of the configured currency (0 when the event names
    another currency or no readable amount)."""
    currency = properties.get("currency")
    if isinstance(currency, str) and currency.strip().upper() != config.currency:
        return 0
    for key in AMOUNT_PROPERTIES:
        value = properties.get(key)
        if value is None or isinstance(value, bool):
            continue
        if not isinstance(value, int | float | str):
            return 0
        try:
            units = Decimal(str(value)) * config.minor_units
        except InvalidOperation:
            return 0
        if not units.is_finite():
            return 0
        return int(units.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return 0


def store_of(properties: Mapping[str, Any], config: AnalyticsConfig) -> str:
    for key in config.store_properties:
        value = properties.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:100]
    return ""


def seconds_of(properties: Mapping[str, Any]) -> int:
    value = properties.get("duration_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 86_400:
        return int(value)
    return 0


def count_sent(fact: Fact, deltas: Deltas) -> None:
    """A message we sent: its channel's cost to serve, never the customer's summary."""
    row = deltas.economy(fact.ts // DAY, fact.channel, "")
    row[2] += 1
    row[3] += fact.seconds


def advance(
    customer: Customer, facts: Sequence[Fact], config: AnalyticsConfig, deltas: Deltas
) -> bool:
    """Apply a customer's facts (in time order) to their summary and to `deltas`; whether
    the summary changed (a repeat visit on the same channel and day changes nothing)."""
    channels = customer.channels
    touches = customer.touches
    days = deltas.days
    hours = deltas.hours
    months = deltas.months
    online = config.online
    offline = config.offline
    changed = False
    for fact in facts:
        if fact.band is not None and fact.band != customer.age_band:
            customer.age_band = fact.band
            changed = True
        flags = fact.flags
        if not flags & INTERACTION:
            continue
        ts = fact.ts
        day = ts // DAY
        channel = fact.channel
        times = fact.times
        counts = days.get((day, channel))
        if counts is None:
            counts = days[(day, channel)] = [times, 0, 0]
        else:
            counts[0] += times
        if customer.first_ts is None:
            customer.first_ts = ts
            customer.first_channel = channel
            counts[1] += 1
            changed = True
        elif ts < customer.first_ts:
            customer.first_ts = ts
            customer.first_channel = channel
            changed = True
        key = (ts // HOUR, channel)
        hours[key] = hours.get(key, 0) + times
        span = channels.get(channel)
        if span is None:
            channels[channel] = [day, day]
            counts[2] += 1
            months.add((customer.id, channel, month_of(day)))
            changed = True
        elif day != span[1]:
            last = span[1]
            if day > last:
                span[1] = day
                changed = True
            elif day < span[0]:
                span[0] = day
                changed = True
            if month_of(day) != month_of(last):
                months.add((customer.id, channel, month_of(day)))
        if touches and touches[-1][0] == channel:
            if day > touches[-1][1]:
                touches[-1][1] = day
                changed = True
        elif not touches or day >= touches[-1][1]:
            touches.append([channel, day])
            if len(touches) > config.path_steps:
                del touches[0]
            changed = True
        if flags & PURCHASE:
            _purchase(customer, fact, day, config, deltas)
            changed = True
        if flags & CONTACT:
            _count_path(deltas, day, "contact", touches, config)
        if fact.seconds:
            deltas.economy(day, channel, fact.store)[3] += fact.seconds
        if (
            channel in online
            and not flags & PURCHASE
            and (customer.browse_day is None or day > customer.browse_day)
        ):
            customer.browse_day = day
            changed = True
        if channel in offline and (customer.visit_day is None or day > customer.visit_day):
            customer.visit_day = day
            changed = True
    return changed


def _purchase(
    customer: Customer, fact: Fact, day: int, config: AnalyticsConfig, deltas: Deltas
) -> None:
    channel = fact.channel
    direction = None
    if channel in config.offline:
        seen = customer.browse_day
        if seen is not None and 0 <= day - seen <= config.conversion_days:
            direction = ONLINE_TO_OFFLINE
    elif channel in config.online:
        seen = customer.visit_day
        if seen is not None and 0 <= day - seen <= config.conversion_days:
            direction = OFFLINE_TO_ONLINE
    if direction is not None:
        key = (day, direction, channel, fact.store)
        row = deltas.conversions.get(key)
        if row is None:
            row = deltas.conversions[key] = [0, 0]
        row[0] += 1
        row[1] += fact.amount
    customer.orders += 1
    customer.revenue += fact.amount
    economy = deltas.economy(day, channel, fact.store)
    economy[0] += 1
    economy[1] += fact.amount
    _count_path(deltas, day, "purchase", customer.touches, config)


def path_of(touches: Sequence[Sequence[Any]], day: int, config: AnalyticsConfig) -> str:
    """The distinct consecutive channels used within `path_days` before `day`, oldest first."""
    steps = [str(channel) for channel, last in touches if day - int(last) <= config.path_days]
    return PATH_SEPARATOR.join(steps[-config.path_steps :])


def _count_path(
    deltas: Deltas, day: int, outcome: str, touches: list[list[Any]], config: AnalyticsConfig
) -> None:
    path = path_of(touches, day, config)
    if path:
        key = (day, outcome, path)
        deltas.paths[key] = deltas.paths.get(key, 0) + 1


def fold(
    survivor: Customer | None, loser: Customer | None, survivor_id: str, config: AnalyticsConfig
) -> Customer | None:
    """One summary for two profiles that turned out to be one customer."""
    if loser is None:
        return survivor
    if survivor is None:
        loser.id = survivor_id
        return loser
    if loser.first_ts is not None and (
        survivor.first_ts is None or loser.first_ts < survivor.first_ts
    ):
        survivor.first_ts = loser.first_ts
        survivor.first_channel = loser.first_channel
    for channel, (first, last) in loser.channels.items():
        span = survivor.channels.get(channel)
        if span is None:
            survivor.channels[channel] = [first, last]
        else:
            span[0] = min(span[0], first)
            span[1] = max(span[1], last)
    if survivor.age_band == UNKNOWN:
        survivor.age_band = loser.age_band
    survivor.orders += loser.orders
    survivor.revenue += loser.revenue
    survivor.browse_day = _later(survivor.browse_day, loser.browse_day)
    survivor.visit_day = _later(survivor.visit_day, loser.visit_day)
    both = sorted([*loser.touches, *survivor.touches], key=lambda touch: int(touch[1]))
    touches: list[list[Any]] = []
    for channel, last in both:
        if touches and touches[-1][0] == channel:
            touches[-1][1] = max(int(touches[-1][1]), int(last))
        else:
            touches.append([channel, last])
    survivor.touches = touches[-config.path_steps :]
    return survivor


def _later(one: int | None, other: int | None) -> int | None:
    if one is None:
        return other
    if other is None:
        return one
    return max(one, other)

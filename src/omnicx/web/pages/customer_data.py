"""What the customer pages and the store view share: finding a customer by what a person
types, the customer's timeline narrowed by channel, type, event and period, and the audit
entry each page that shows or changes a customer leaves (as `/api` requests do)."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import Request

from omnicx.api.audit import record_request
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.events import EVENT_TYPES, TimelineItem, encode_cursor, timeline_page
from omnicx.kernel import Invalid
from omnicx.kernel.moments import micros
from omnicx.profiles import Profile, normalize, search_profiles
from omnicx.profiles.model import Identifier
from omnicx.web.auth import Staff
from omnicx.web.i18n import N_

SEARCH_LIMIT = 50
TIMELINE_PAGE = 50
SCAN_LIMIT = 2000
"""Timeline events one page looks through for an event-name filter before it stops and
offers the next page from where it got to."""
LOYALTY_CARD = "loyalty_id"

ORDER_STATUS_NAMES = {
    "placed": N_("placed"),
    "allocated": N_("allocated"),
    "picked": N_("picked"),
    "ready_for_pickup": N_("ready for pickup"),
    "shipped": N_("shipped"),
    "collected": N_("collected"),
    "delivered": N_("delivered"),
    "cancelled": N_("cancelled"),
}
FULFILMENT_NAMES = {
    "ship": N_("Shipping"),
    "pickup": N_("Click and collect"),
    "ship_from_store": N_("Ship from store"),
    "endless_aisle": N_("Endless aisle"),
}


def commerce_names() -> dict[str, Any]:
    """Template helpers naming order statuses and ways of fulfilment (translated where shown)."""
    return {
        "order_status": lambda status: ORDER_STATUS_NAMES.get(status, status),
        "fulfilment_name": lambda kind: FULFILMENT_NAMES.get(kind, kind),
    }


def audit(
    services: Services,
    request: Request,
    staff: Staff,
    customers: Iterable[str],
    *,
    action: str | None = None,
    status: int = 200,
) -> None:
    """One audit entry per customer the page showed or changed, written as the API writes
    its own: who, what (the route template, never the query's values), whom, from where."""
    request.state.principal = staff.principal
    request.state.audit_customers = list(customers)
    if action is not None:
        request.state.audit_action = action
    record_request(services, request.scope, status)


# -- finding customers ------------------------------------------------------------------------


def _surviving(services: Services, uow: UnitOfWork, ids: Iterable[str]) -> list[Profile]:
    """The live profiles of `ids` (a merged one counts as its survivor), each once, in order."""
    repo = services.profiles(uow)
    found: dict[str, Profile] = {}
    for profile_id in ids:
        profile = repo.get(profile_id)
        if profile is not None and profile.is_merged:
            profile = repo.get(profile.canonical_id)
        if profile is not None and profile.id not in found:
            found[profile.id] = profile
    return list(found.values())


def loyalty_holders(services: Services, uow: UnitOfWork, text: str) -> list[str]:
    """Customers whose loyalty card is `text`: the card number given as the customer's
    `loyalty_id` identifier, or the id of their loyalty account."""
    value = text.strip()
    if not value or len(value) > 320:
        return []
    found: list[str] = []
    card = Identifier(LOYALTY_CARD, value)
    owner = services.profiles(uow).owners([card]).get(card)
    if owner is not None:
        found.append(owner)
    account = services.loyalty(uow).account(value)
    if account is not None and account.customer_id:
        found.append(account.customer_id)
    return found


def phone_holders(services: Services, uow: UnitOfWork, text: str) -> list[str]:
    """The customer whose phone is `text`, typed any usual way (none if it is no phone)."""
    try:
        phone = normalize("phone", text, services.settings.default_region)
    except Invalid:
        return []
    owner = services.profiles(uow).owners([phone]).get(phone)
    return [owner] if owner is not None else []


def search_customers(services: Services, uow: UnitOfWork, text: str) -> list[Profile]:
    """Customers by part of their name, or exactly by email, phone or loyalty card."""
    if not text.strip():
        return []
    found = search_profiles(
        services.profiles(uow), text, services.settings.default_region, SEARCH_LIMIT
    )
    ids = [p.id for p in found] + loyalty_holders(services, uow, text)
    return _surviving(services, uow, ids)[:SEARCH_LIMIT]


def counter_search(services: Services, uow: UnitOfWork, text: str) -> list[Profile]:
    """The customer at the counter, by phone or loyalty card."""
    if not text.strip():
        return []
    ids = phone_holders(services, uow, text) + loyalty_holders(services, uow, text)
    return _surviving(services, uow, ids)


# -- the timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineFilter:
    """What the timeline is narrowed to; empty strings mean "any"."""

    channel: str = ""
    type: str = ""
    event: str = ""
    since: date | None = None
    until: date | None = None
    cursor: str = ""

    @property
    def active(self) -> bool:
        return bool(self.channel or self.type or self.event or self.since or self.until)

    def query(self, **change: str) -> dict[str, str]:
        """The filter as query parameters (for links to other pages of it)."""
        values = {
            "channel": self.channel,
            "type": self.type,
            "event": self.event,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "cursor": self.cursor,
            **change,
        }
        return {k: v for k, v in values.items() if v}


class BadFilter(Exception):
    """A filter value that cannot be used; `field` names it."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def parse_filter(
    channel: str, kind: str, event: str, since: str, until: str, cursor: str
) -> TimelineFilter:
    def day(value: str, field: str) -> date | None:
        if not value.strip():
            return None
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise BadFilter(field) from None

    if kind and kind not in EVENT_TYPES:
        raise BadFilter("type")
    first, last = day(since, "since"), day(until, "until")
    if first and last and first > last:
        raise BadFilter("until")
    return TimelineFilter(channel.strip(), kind, event.strip(), first, last, cursor.strip())


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def timeline(
    services: Services,
    uow: UnitOfWork,
    members: Collection[str],
    wanted: TimelineFilter,
    limit: int = TIMELINE_PAGE,
) -> tuple[list[TimelineItem], str | None]:
    """A page of the customer's timeline, newest first, as the API builds it (channel and
    type asked of the store); the period and the event name narrow it further here. The
    second value is the cursor of the next (older) page, if there may be one."""
    cursor: str | None = wanted.cursor or None
    if cursor is None and wanted.until is not None:
        cursor = f"{micros(_start(wanted.until + timedelta(days=1)))}.0"
    since = _start(wanted.since) if wanted.since else None
    needle = wanted.event.lower()
    found: list[TimelineItem] = []
    scanned = 0
    while True:
        items, following = timeline_page(
            services.events(uow),
            list(members),
            cursor=cursor,
            limit=min(200, max(limit, 1) * (4 if needle else 1)),
            newest_first=True,
            channels=[wanted.channel] if wanted.channel else (),
            types=[wanted.type] if wanted.type else (),
        )
        for item in items:
            if since is not None and item.timestamp < since:
                return found, None
            scanned += 1
            if needle and needle not in (item.event or item.name or item.type).lower():
                if scanned >= SCAN_LIMIT:
                    return found, encode_cursor(item)
                continue
            found.append(item)
            if len(found) == limit:
                more = following is not None or item is not items[-1]
                return found, encode_cursor(item) if more else None
            if scanned >= SCAN_LIMIT:
                return found, encode_cursor(item)
        if following is None:
            return found, None
        cursor = following


def describe(item: TimelineItem) -> str:
    """What happened, in the event's own words (empty: only its type says)."""
    return item.event or item.name or ""


def facts(item: TimelineItem, limit: int = 4) -> list[tuple[str, str]]:
    """A few of the event's properties worth showing, as text."""
    shown: list[tuple[str, str]] = []
    for key, value in item.properties.items():
        if value is None or isinstance(value, dict | list) or key.endswith("_id"):
            continue
        text = str(value)
        shown.append((key, text if len(text) <= 80 else text[:79] + "…"))
        if len(shown) == limit:
            break
    return shown

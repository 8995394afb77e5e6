"""The agents' inbox: queues (mine, my teams, unassigned, all), filters, and the list of
conversations, newest activity first, whose rows refresh live (`/inbox/rows`).

"Mine" is what the desk assigned to the signed-in staff user (desk agents are staff users,
keyed by the user's id); "my teams" is what waits in or was handed out by the teams that
user is a member of.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from omnicx.api.deps import ServicesDep
from omnicx.bootstrap import Services
from omnicx.conversations import Conversation
from omnicx.conversations.model import STATUSES
from omnicx.db import UnitOfWork
from omnicx.kernel import Invalid
from omnicx.kernel.moments import from_micros, micros
from omnicx.web.auth import Staff, page
from omnicx.web.i18n import N_
from omnicx.web.pages.conversation_common import (
    SLA_NAMES,
    audit,
    customer_label,
    known_channels,
    namer,
    sla_due,
    staff_names,
    team_names,
)
from omnicx.web.render import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Reader = Annotated[Staff, page("conversations.read")]

QUEUES = (
    ("mine", N_("Mine")),
    ("teams", N_("My teams")),
    ("unassigned", N_("Unassigned")),
    ("all", N_("All")),
)
PAGE_SIZE = 50
SNIPPET = 120
LIVE_TYPES = (
    "message.received,message.sent,conversation.opened,conversation.status_changed,"
    "conversation.assigned,conversations.merged,conversation.split"
)


@dataclass(frozen=True)
class Filters:
    """What the inbox shows: a queue and the filters, as the query string carries them."""

    queue: str = "all"
    channel: str = ""
    status: str = ""
    sla: str = ""
    reason: str = ""

    def query(self, **changes: str) -> str:
        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True)
class Row:
    """One conversation as the inbox lists it."""

    id: str
    customer_id: str
    customer_name: str | None
    subject: str | None
    snippet: str | None
    snippet_direction: str | None
    channels: tuple[str, ...]
    status: str
    priority: str
    sla_state: str | None
    sla_due: datetime | None
    assignee: str | None
    team: str | None
    last_activity: datetime


@dataclass(frozen=True)
class Listing:
    rows: list[Row]
    next_cursor: str | None
    note: str | None
    """Why the queue is empty for this user (not an agent, in no team), if that is why."""


def _choice(value: str | None, allowed: list[str] | tuple[str, ...], field: str) -> str:
    if not value:
        return ""
    if value not in allowed:
        raise Invalid(f"invalid_{field}", f"{field} must be one of: {', '.join(allowed)}", field)
    return value


def _cursor(raw: str | None) -> tuple[datetime, str] | None:
    if not raw:
        return None
    at, _, last_id = raw.partition(".")
    if at.isascii() and at.isdigit() and len(at) <= 17 and last_id and len(last_id) <= 64:
        return from_micros(int(at)), last_id
    raise Invalid("invalid_cursor", "cursor must be the value of an 'Older' link", "cursor")


def _snippet(text: str | None) -> str | None:
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1].rstrip() + "…"


def _rows(services: Services, uow: UnitOfWork, found: list[Conversation]) -> list[Row]:
    profiles = services.profiles(uow)
    names: dict[str, str | None] = {}
    for conversation in found:
        if conversation.customer_id and conversation.customer_id not in names:
            profile = profiles.get(conversation.customer_id)
            names[conversation.customer_id] = customer_label(profile)
    latest = services.conversations(uow).latest_messages([c.id for c in found])
    people = staff_names(services, uow)
    teams = team_names(services, uow)
    rows = []
    for c in found:
        last = latest.get(c.id)
        rows.append(
            Row(
                id=c.id,
                customer_id=c.customer_id,
                customer_name=names.get(c.customer_id),
                subject=c.subject,
                snippet=_snippet(last.text) if last else None,
                snippet_direction=last.direction if last else None,
                channels=c.channels,
                status=c.status,
                priority=c.priority,
                sla_state=c.sla.get("state"),
                sla_due=sla_due(c),
                assignee=people.get(c.assignee_id, c.assignee_id) if c.assignee_id else None,
                team=teams.get(c.team_id, c.team_id) if c.team_id else None,
                last_activity=c.last_message_at or c.created_at,
            )
        )
    return rows


def listing(services: Services, staff: Staff, filters: Filters, cursor: str | None) -> Listing:
    """One page of the inbox for `staff`."""
    after = _cursor(cursor)
    limit = PAGE_SIZE
    with services.uow(write=False) as uow:
        assignee_id: str | None = None
        team_ids: list[str] | None = None
        note = None
        if filters.queue == "mine":
            assignee_id = staff.user.id
        elif filters.queue == "teams":
            agents = services.desk(uow).agents([staff.user.id])
            team_ids = list(agents[0].teams) if agents else []
            if not team_ids:
                note = N_("You are not a member of any team.")
        found = (
            services.conversations(uow).search(
                statuses=[filters.status] if filters.status else (),
                channel=filters.channel or None,
                assignee_id=assignee_id,
                team_id=None,
                canonical_id=None,
                label=None,
                after=after,
                limit=limit + 1,
                unassigned=filters.queue == "unassigned",
                team_ids=team_ids,
                contact_reason=filters.reason or None,
                sla_state=filters.sla or None,
            )
            if team_ids != []
            else []
        )
        page_of = found[:limit]
        rows = _rows(services, uow, page_of)
    next_cursor = None
    if len(found) > limit:
        last = page_of[-1]
        next_cursor = f"{micros(last.last_message_at or last.created_at)}.{last.id}"
    return Listing(rows, next_cursor, note)


def _filters(
    services: Services,
    queue: str | None,
    channel: str | None,
    status: str | None,
    sla: str | None,
    reason: str | None,
) -> Filters:
    return Filters(
        queue=_choice(queue, [q for q, _ in QUEUES], "queue") or "all",
        channel=_choice(channel, known_channels(services), "channel"),
        status=_choice(status, STATUSES, "status"),
        sla=_choice(sla, list(SLA_NAMES), "sla"),
        reason=_choice(reason, services.settings.contact_reasons, "reason"),
    )


Text = Annotated[str | None, Query(max_length=100)]


def _listed(
    request: Request,
    services: Services,
    staff: Staff,
    queue: str | None,
    channel: str | None,
    status: str | None,
    sla: str | None,
    reason: str | None,
    cursor: str | None,
) -> tuple[Filters, Listing]:
    """The filters asked for and the page of conversations they find, its reading audited."""
    filters = _filters(services, queue, channel, status, sla, reason)
    found = listing(services, staff, filters, cursor)
    audit(
        services,
        request,
        staff,
        action="read",
        customer_ids=[r.customer_id for r in found.rows],
    )
    return filters, found


@router.get("/inbox")
def inbox(
    request: Request,
    services: ServicesDep,
    staff: Reader,
    queue: Text = None,
    channel: Text = None,
    status: Text = None,
    sla: Text = None,
    reason: Text = None,
    cursor: Text = None,
) -> Response:
    filters, found = _listed(request, services, staff, queue, channel, status, sla, reason, cursor)
    return render(
        request,
        "inbox.html",
        staff,
        filters=filters,
        listing=found,
        queues=QUEUES,
        channels=known_channels(services),
        statuses=STATUSES,
        sla_names=SLA_NAMES,
        reasons=services.settings.contact_reasons,
        live_types=LIVE_TYPES,
        cursor=cursor or "",
        name=namer(staff),
    )


@router.get("/inbox/rows")
def inbox_rows(
    request: Request,
    services: ServicesDep,
    staff: Reader,
    queue: Text = None,
    channel: Text = None,
    status: Text = None,
    sla: Text = None,
    reason: Text = None,
    cursor: Text = None,
) -> Response:
    """The list alone, for the live region of the inbox."""
    filters, found = _listed(request, services, staff, queue, channel, status, sla, reason, cursor)
    return render(
        request, "_inbox_rows.html", staff, filters=filters, listing=found, name=namer(staff)
    )

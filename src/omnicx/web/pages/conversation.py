"""One conversation at the console: its thread across channels (live), the customer beside it,
and the forms that act on it (`conversation_actions`).

The page is assembled from the same services as the JSON API: the conversation and its
messages, the customer's context as `/api/customers/{id}/context` builds it, the desk's agents,
teams and canned responses, and the channels a reply could use now.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from omnicx.api.deps import ServicesDep
from omnicx.api.routes.conversations import find_conversation
from omnicx.api.routes.customers import customer_context, find_customer
from omnicx.api.schemas.conversations import ConversationSummary
from omnicx.api.schemas.customers import CustomerContext
from omnicx.bootstrap import Services
from omnicx.conversations import Conversation, Message
from omnicx.conversations.model import TRANSITIONS
from omnicx.db import UnitOfWork
from omnicx.desk import canned as canned_templates
from omnicx.desk import services as desk
from omnicx.kernel import DomainError
from omnicx.web.auth import Staff, page
from omnicx.web.pages.conversation_common import (
    audit,
    clear_flash,
    customer_label,
    namer,
    size,
    sla_due,
    staff_names,
    take_flash,
    team_names,
)
from omnicx.web.render import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Reader = Annotated[Staff, page("conversations.read")]

THREAD_LIMIT = 1000
"""Most messages the page shows (oldest first)."""
LIVE_TYPES = "message.received,message.sent,message.delivery"


@dataclass(frozen=True)
class Canned:
    id: str
    shortcut: str
    title: str
    text: str
    """Rendered for this conversation and the signed-in agent."""


@dataclass(frozen=True)
class View:
    """Everything the conversation page shows."""

    conversation: Conversation
    messages: list[Message]
    customer_name: str | None
    context: CustomerContext | None
    assignee: str | None
    team: str | None
    sla_due: datetime | None
    reply_channels: list[tuple[str, str | None]]
    agents: list[tuple[str, str]]
    teams: list[tuple[str, str]]
    canned: list[Canned]
    others: list[ConversationSummary]
    next_statuses: list[str]
    names: dict[str, str] = field(default_factory=dict)
    """Staff users' names by id (senders of replies and notes)."""

    @property
    def auto_channel(self) -> str | None:
        """The channel an automatic reply would take now."""
        return next((channel for channel, why in self.reply_channels if why is None), None)


@dataclass
class FormState:
    """What a refused form sent, shown again with why it was refused."""

    error: str | None = None
    form: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    def value(self, form: str, name: str, default: str = "") -> str:
        return self.values.get(name, default) if self.form == form else default


def thread(services: Services, uow: UnitOfWork, conversation_id: str) -> list[Message]:
    return services.conversations(uow).messages_of(conversation_id, limit=THREAD_LIMIT)


def _context(
    services: Services, uow: UnitOfWork, staff: Staff, customer_id: str
) -> CustomerContext | None:
    """The customer's context as the API assembles it, when the role may see customers."""
    if not customer_id or not staff.may("customers.read"):
        return None
    try:
        profile = find_customer(services, uow, customer_id)
    except DomainError:
        return None
    return customer_context(services, uow, profile, staff.principal)


def _canned(services: Services, uow: UnitOfWork, staff: Staff, c: Conversation) -> list[Canned]:
    port = services.desk_port(uow)
    traits = port.traits(c.customer_id) if c.customer_id else {}
    values = desk.template_values(c, traits, staff.user.id, staff.user.name, staff.user.email)
    out = []
    for item in services.desk(uow).canned_list(None):
        try:
            text = canned_templates.render(item.body, values)
        except DomainError:
            continue
        out.append(Canned(item.id, item.shortcut, item.title, text))
    return out


def view(services: Services, staff: Staff, conversation_id: str) -> View:
    with services.uow(write=False) as uow:
        c = find_conversation(services, uow, conversation_id)
        context = _context(services, uow, staff, c.customer_id)
        people = staff_names(services, uow)
        teams = team_names(services, uow)
        writer = staff.may("conversations.write")
        agents = services.desk(uow).agents() if writer else []
        others = [
            s for s in (context.conversations or [] if context is not None else []) if s.id != c.id
        ]
        return View(
            conversation=c,
            messages=thread(services, uow, c.id),
            customer_name=customer_label(services.profiles(uow).get(c.customer_id)),
            context=context,
            assignee=people.get(c.assignee_id, c.assignee_id) if c.assignee_id else None,
            team=teams.get(c.team_id, c.team_id) if c.team_id else None,
            sla_due=sla_due(c),
            reply_channels=services.reply_channels(uow, c.id) if writer else [],
            agents=sorted(
                ((a.user_id, people.get(a.user_id, a.user_id)) for a in agents),
                key=lambda pair: pair[1].lower(),
            ),
            teams=sorted(teams.items(), key=lambda pair: pair[1].lower()),
            canned=_canned(services, uow, staff, c) if writer else [],
            others=others,
            next_statuses=sorted(TRANSITIONS[c.status]) if c.merged_into is None else [],
            names=people,
        )


def conversation_page(
    request: Request,
    services: Services,
    staff: Staff,
    conversation_id: str,
    *,
    status_code: int = 200,
    state: FormState | None = None,
    canned_id: str | None = None,
) -> Response:
    """The page, first shown or shown again after a refused form (with `state`)."""
    shown = view(services, staff, conversation_id)
    audit(
        services,
        request,
        staff,
        action="read",
        customer_ids=[shown.conversation.customer_id],
    )
    state = state or FormState()
    prefill = next((c.text for c in shown.canned if c.id == canned_id), "")
    response = render(
        request,
        "conversation.html",
        staff,
        status_code=status_code,
        v=shown,
        c=shown.conversation,
        state=state,
        flash_text=take_flash(request) if state.error is None else None,
        messages=shown.messages,
        people=shown.names,
        customer_name=shown.customer_name,
        reasons=services.settings.contact_reasons,
        reply_text=state.value("reply", "text", prefill),
        reply_channel=state.value("reply", "channel", "auto"),
        note_text=state.value("note", "text"),
        live_types=LIVE_TYPES,
        name=namer(staff),
        size=size,
        may_write=staff.may("conversations.write"),
    )
    return clear_flash(request, response)


@router.get("/conversations/{conversation_id}")
def conversation(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    staff: Reader,
    canned: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return conversation_page(request, services, staff, conversation_id, canned_id=canned)


@router.get("/conversations/{conversation_id}/thread")
def conversation_thread(
    conversation_id: str, request: Request, services: ServicesDep, staff: Reader
) -> Response:
    """The thread alone, for the page's live region."""
    with services.uow(write=False) as uow:
        c = find_conversation(services, uow, conversation_id)
        messages = thread(services, uow, c.id)
        people = staff_names(services, uow)
        profile = services.profiles(uow).get(c.customer_id) if c.customer_id else None
    audit(services, request, staff, action="read", customer_ids=[c.customer_id])
    return render(
        request,
        "_thread.html",
        staff,
        c=c,
        messages=messages,
        people=people,
        customer_name=customer_label(profile),
        name=namer(staff),
        size=size,
    )

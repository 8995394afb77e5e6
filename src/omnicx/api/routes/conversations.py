"""The conversations API: the agents' inbox, one conversation with its first messages, status
and details, merge and split (its messages, replies and notes: `conversation_messages`).

    GET   /api/conversations                                  filter and page
    GET   /api/customers/{customer_id}/conversations          one customer's
    GET   /api/conversations/{id}                             with its first messages
    POST  /api/conversations/{id}/status                      guarded transitions
    PATCH /api/conversations/{id}                             priority, contact reason, labels
    POST  /api/conversations/{id}/merge                       another one into this one
    POST  /api/conversations/{id}/split                       from a message onward

Conversations name customers that are not in the path, so every route that returns one
tells the audit trail whose data left (`request.state.audit_customers`).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.conversations import (
    ConversationChange,
    ConversationDetail,
    ConversationPublic,
    ConversationsPublic,
    MergeCreate,
    MessagePublic,
    MessagesPublic,
    SplitCreate,
    StatusChange,
    StatusName,
)
from omnicx.bootstrap import Services
from omnicx.conversations import Conversation
from omnicx.conversations import services as conversations
from omnicx.db import UnitOfWork
from omnicx.kernel import Gone, Invalid, NotFound
from omnicx.kernel.moments import from_micros, micros
from omnicx.profiles import find_profile

router = APIRouter(prefix="/api", tags=["conversations"])

ConversationsRead = Annotated[Principal, Depends(require("conversations.read"))]
ConversationsWrite = Annotated[Principal, Depends(require("conversations.write"))]


def audit_customers(request: Request, customer_ids: Sequence[str]) -> None:
    request.state.audit_customers = sorted({c for c in customer_ids if c})


# -- reading ---------------------------------------------------------------------------------


def _cursor(raw: str | None) -> tuple[datetime, str] | None:
    if raw is None:
        return None
    at, _, last_id = raw.partition(".")
    if at.isascii() and at.isdigit() and len(at) <= 17 and last_id and len(last_id) <= 64:
        return from_micros(int(at)), last_id
    raise Invalid("invalid_cursor", "cursor must be the `next` value of a previous page", "cursor")


def _page(
    services: Services,
    uow: UnitOfWork,
    *,
    statuses: Sequence[str],
    channel: str | None,
    assignee_id: str | None,
    team_id: str | None,
    canonical_id: str | None,
    label: str | None,
    cursor: str | None,
    limit: int,
    unassigned: bool = False,
    contact_reason: str | None = None,
    sla_state: str | None = None,
) -> ConversationsPublic:
    after = _cursor(cursor)
    found = services.conversations(uow).search(
        statuses=statuses,
        channel=channel,
        assignee_id=assignee_id,
        team_id=team_id,
        canonical_id=canonical_id,
        label=label.strip().lower() if label is not None else None,
        after=after,
        limit=limit + 1,
        unassigned=unassigned,
        contact_reason=contact_reason,
        sla_state=sla_state,
    )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = f"{micros(last.last_message_at or last.created_at)}.{last.id}"
    return ConversationsPublic(items=[ConversationPublic.of(c) for c in page], next=next_cursor)


def _customer_root(services: Services, uow: UnitOfWork, customer_id: str, field: str) -> str:
    """The surviving customer a customer id stands for; an erased one answers 410."""
    try:
        return find_profile(services.profiles(uow), customer_id).canonical_id
    except NotFound:
        if services.privacy(uow).is_erased(customer_id):
            raise Gone("customer_erased", f"customer {customer_id} was erased", field) from None
        raise NotFound("customer_not_found", f"no customer {customer_id}", field) from None


Limit = Annotated[int, Query(ge=1, le=200)]
Statuses = Annotated[
    list[StatusName] | None,
    Query(description="Any of these statuses (repeat the parameter); all when absent."),
]
Channel = Annotated[
    str | None,
    Query(min_length=1, max_length=40, description="Conversations with a message on it."),
]
Cursor = Annotated[str | None, Query(max_length=100, description="`next` of the previous page.")]
SlaStateName = Literal["breached", "warning", "running", "paused", "met"]


@router.get(
    "/conversations",
    response_model=ConversationsPublic,
    summary="List conversations, latest activity first",
    description="The filters of the agents' inbox: status, channel, assignee or unassigned, "
    "team, customer, label, contact reason and SLA state; they combine.",
    responses=error_responses(400, 404, 410),
)
def list_conversations(
    request: Request,
    services: ServicesDep,
    _: ConversationsRead,
    status: Statuses = None,
    channel: Channel = None,
    assignee_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    team_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    label: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    unassigned: Annotated[
        bool, Query(description="Only the conversations no agent holds (not with assignee_id).")
    ] = False,
    contact_reason: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="One of the configured contact reasons."),
    ] = None,
    sla_state: Annotated[
        SlaStateName | None,
        Query(
            description="The state of the conversation's SLA clocks: breached, warning (due "
            "soon), running, paused or met."
        ),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ConversationsPublic:
    if unassigned and assignee_id is not None:
        raise Invalid(
            "conflicting_filters",
            "unassigned and assignee_id cannot be asked together",
            "unassigned",
        )
    if contact_reason is not None and contact_reason not in services.settings.contact_reasons:
        known = ", ".join(services.settings.contact_reasons)
        raise Invalid(
            "unknown_contact_reason",
            f"contact_reason {contact_reason!r} is not one of: {known}",
            "contact_reason",
        )
    with services.uow(write=False) as uow:
        root = (
            _customer_root(services, uow, customer_id, "customer_id")
            if customer_id is not None
            else None
        )
        page = _page(
            services,
            uow,
            statuses=status or (),
            channel=channel,
            assignee_id=assignee_id,
            team_id=team_id,
            canonical_id=root,
            label=label,
            cursor=cursor,
            limit=limit,
            unassigned=unassigned,
            contact_reason=contact_reason,
            sla_state=sla_state,
        )
    audit_customers(request, [c.customer_id or "" for c in page.items])
    return page


@router.get(
    "/customers/{customer_id}/conversations",
    response_model=ConversationsPublic,
    summary="A customer's conversations, latest activity first",
    description="A merged customer id lists the conversations of the customer it merged into.",
    responses=error_responses(410),
)
def customer_conversations(
    customer_id: str,
    request: Request,
    services: ServicesDep,
    _: ConversationsRead,
    status: Statuses = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ConversationsPublic:
    with services.uow(write=False) as uow:
        root = _customer_root(services, uow, customer_id, "customer_id")
        page = _page(
            services,
            uow,
            statuses=status or (),
            channel=None,
            assignee_id=None,
            team_id=None,
            canonical_id=root,
            label=None,
            cursor=cursor,
            limit=limit,
        )
    audit_customers(request, [root])
    return page


def find_conversation(services: Services, uow: UnitOfWork, conversation_id: str) -> Conversation:
    found = services.conversations(uow).get(conversation_id)
    if found is None:
        raise NotFound(
            "conversation_not_found", f"no conversation {conversation_id}", "conversation_id"
        )
    return found


def messages_page(
    services: Services, uow: UnitOfWork, conversation_id: str, after: int, limit: int
) -> MessagesPublic:
    found = services.conversations(uow).messages_of(
        conversation_id, after_seq=after, limit=limit + 1
    )
    page = found[:limit]
    return MessagesPublic(
        items=[MessagePublic.of(m) for m in page],
        next=page[-1].seq if len(found) > limit else None,
    )


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    summary="One conversation with its first messages, oldest first",
)
def get_conversation(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    _: ConversationsRead,
    limit: Annotated[int, Query(ge=1, le=200, description="How many messages.")] = 50,
) -> ConversationDetail:
    with services.uow(write=False) as uow:
        conversation = find_conversation(services, uow, conversation_id)
        messages = messages_page(services, uow, conversation.id, 0, limit)
    audit_customers(request, [conversation.customer_id])
    return ConversationDetail(conversation=ConversationPublic.of(conversation), messages=messages)


# -- changing --------------------------------------------------------------------------------


@router.post(
    "/conversations/{conversation_id}/status",
    response_model=ConversationPublic,
    summary="Change a conversation's status",
    description="open, pending, snoozed (with `snoozed_until`), resolved or closed; a change "
    "the state machine refuses answers 409 naming the transition.",
    responses=error_responses(409),
)
def change_status(
    conversation_id: str,
    body: StatusChange,
    request: Request,
    services: ServicesDep,
    _: ConversationsWrite,
) -> ConversationPublic:
    with services.uow() as uow:
        changed = conversations.change_status(
            services.conversations(uow),
            conversation_id,
            body.status,
            snoozed_until=body.snoozed_until,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    audit_customers(request, [changed.customer_id])
    return ConversationPublic.of(changed)


@router.patch(
    "/conversations/{conversation_id}",
    response_model=ConversationPublic,
    summary="Change a conversation's priority, contact reason or labels",
    responses=error_responses(409),
)
def change_conversation(
    conversation_id: str,
    body: ConversationChange,
    request: Request,
    services: ServicesDep,
    _: ConversationsWrite,
) -> ConversationPublic:
    sent = body.model_fields_set
    if not sent:
        raise Invalid(
            "nothing_to_change", "send priority, contact_reason or labels to change", "body"
        )
    for name in ("priority", "labels"):
        if name in sent and getattr(body, name) is None:
            raise Invalid(f"invalid_{name}", f"{name} cannot be null", name)
    with services.uow() as uow:
        changed = conversations.change_details(
            services.conversations(uow),
            conversation_id,
            priority=body.priority,
            contact_reason=body.contact_reason,
            clear_reason="contact_reason" in sent and body.contact_reason is None,
            labels=body.labels,
            reasons=services.settings.contact_reasons,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    audit_customers(request, [changed.customer_id])
    return ConversationPublic.of(changed)


@router.post(
    "/conversations/{conversation_id}/merge",
    response_model=ConversationPublic,
    summary="Merge another conversation of the same customer into this one",
    description="Every message moves here in time order; the other conversation is closed "
    "and points here (`merged_into`).",
    responses=error_responses(409),
)
def merge_conversations(
    conversation_id: str,
    body: MergeCreate,
    request: Request,
    services: ServicesDep,
    _: ConversationsWrite,
) -> ConversationPublic:
    with services.uow() as uow:
        merged = conversations.merge(
            services.conversations(uow),
            conversation_id,
            body.merged_id,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    audit_customers(request, [merged.customer_id])
    return ConversationPublic.of(merged)


@router.post(
    "/conversations/{conversation_id}/split",
    response_model=ConversationPublic,
    status_code=201,
    summary="Split a conversation: a message and every later one go to a new conversation",
    responses=error_responses(409),
)
def split_conversation(
    conversation_id: str,
    body: SplitCreate,
    request: Request,
    services: ServicesDep,
    _: ConversationsWrite,
) -> ConversationPublic:
    with services.uow() as uow:
        created = conversations.split(
            services.conversations(uow),
            conversation_id,
            body.message_id,
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    audit_customers(request, [created.customer_id])
    return ConversationPublic.of(created)

"""The call centre and the store as channels.

    POST /api/calls               a call record from a phone system or typed by an agent
    GET  /api/calls/screen-pop    who is calling: the customer, open conversations, last contacts
    POST /api/store-visits        a store associate records an in-person interaction

A call (channel `call_center`, kind `call`) and a visit (channel `store`, kind `visit`) enter
like any inbound message: they resolve the customer, join the open conversation (or the one
named) and land on the timeline. Both directions of a call are recorded on the conversation
as the customer's contact; `direction` says who dialled. `call_id` and `visit_id` make a
second post of the same record a no-op.
"""

from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Depends, Query, Request

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.voice_store import (
    CallCreate,
    InteractionRecorded,
    ScreenPop,
    ScreenPopConversation,
    ScreenPopCustomer,
    ScreenPopInteraction,
    StoreVisitCreate,
)
from omnicx.bootstrap import Services
from omnicx.conversations import InboundMessage, Receipt, ThreadHints
from omnicx.kernel import Invalid, NotFound
from omnicx.profiles.identifiers import normalize
from omnicx.profiles.model import Identifier

router = APIRouter(tags=["calls and store visits"])

ConversationsRead = Annotated[Principal, Depends(require("conversations.read"))]
ConversationsWrite = Annotated[Principal, Depends(require("conversations.write"))]

CALL_CENTER = "call_center"
STORE = "store"
SHOWN_METADATA = (
    "direction",
    "duration_seconds",
    "outcome",
    "recording_url",
    "agent",
    "store",
    "associate",
)
SENDER_ORDER = ("user_id", "email", "phone", "loyalty_id")
RECENT = 10


def _phone(services: Services, raw: str, field: str) -> str:
    try:
        return normalize("phone", raw, services.settings.default_region).value
    except Invalid as error:
        raise Invalid(error.code, error.message, field) from None


def _url(raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(
            "invalid_recording_url", "recording_url must be an http or https URL", "recording_url"
        )
    return raw.strip()


def _recorded(request: Request, receipt: Receipt) -> InteractionRecorded:
    request.state.audit_customers = [receipt.customer_id]
    return InteractionRecorded(
        customer_id=receipt.customer_id,
        conversation_id=receipt.conversation_id,
        message_id=receipt.message_id,
        created_conversation=receipt.created_conversation,
        duplicate=receipt.duplicate,
    )


@router.post(
    "/api/calls",
    status_code=201,
    summary="Record a call",
    responses=error_responses(404, 409),
)
async def record_call(
    body: CallCreate, request: Request, services: ServicesDep, caller: ConversationsWrite
) -> InteractionRecorded:
    number = _phone(services, body.number, "number")
    metadata: dict[str, Any] = {
        "direction": body.direction,
        "duration_seconds": body.duration_seconds,
        "outcome": body.outcome,
        "agent": body.agent or caller.name,
        "agent_id": caller.id if body.agent is None else None,
        "recorded_by": caller.actor,
    }
    recording = _url(body.recording_url)
    if recording is not None:
        metadata["recording_url"] = recording
    inbound = InboundMessage(
        channel=CALL_CENTER,
        account=body.line or CALL_CENTER,
        sender=(("phone", number),),
        received_at=body.started_at or services.clock.now(),
        provider_message_id=body.call_id,
        text=body.notes,
        thread=ThreadHints(conversation_id=body.conversation_id),
        metadata={k: v for k, v in metadata.items() if v is not None},
        kind="call",
    )
    receipt = await services.receive_inbound_async(inbound)
    return _recorded(request, receipt)


def _screen_pop(services: Services, number: str) -> tuple[ScreenPop, str | None]:
    with services.uow(write=False) as uow:
        profiles = services.profiles(uow)
        owner = profiles.owners({Identifier("phone", number)}).get(Identifier("phone", number))
        profile = profiles.get(owner) if owner is not None else None
        if profile is not None and profile.canonical_id != profile.id:
            profile = profiles.get(profile.canonical_id)
        if profile is None:
            return ScreenPop(number=number, customer=None, open_conversations=[], recent=[]), None
        repo = services.conversations(uow)
        conversations = repo.of_customer(profile.id, limit=20)
        recent: list[ScreenPopInteraction] = []
        for conversation in conversations[:3]:
            messages = repo.messages_of(conversation.id)
            for message in messages[-RECENT:]:
                if message.direction == "note":
                    continue
                recent.append(
                    ScreenPopInteraction(
                        conversation_id=conversation.id,
                        message_id=message.id,
                        kind=message.kind,
                        direction=message.direction,
                        channel=message.channel,
                        at=message.created_at,
                        text=message.text[:200] if message.text else None,
                        metadata={k: v for k, v in message.metadata.items() if k in SHOWN_METADATA},
                    )
                )
    recent.sort(key=lambda i: i.at, reverse=True)
    pop = ScreenPop(
        number=number,
        customer=ScreenPopCustomer(
            id=profile.id, name=profile.display_name, email=profile.email, phone=profile.phone
        ),
        open_conversations=[
            ScreenPopConversation(
                id=c.id,
                status=c.status,
                priority=c.priority,
                channels=list(c.channels),
                last_inbound_channel=c.last_inbound_channel,
                last_message_at=c.last_message_at,
                assignee_id=c.assignee_id,
                team_id=c.team_id,
                subject=c.subject,
            )
            for c in conversations
            if c.is_active
        ],
        recent=recent[:RECENT],
    )
    return pop, profile.id


@router.get(
    "/api/calls/screen-pop",
    summary="Who is calling: the customer of a number, open conversations, last contacts",
)
async def screen_pop(
    request: Request,
    services: ServicesDep,
    _: ConversationsRead,
    number: Annotated[str, Query(min_length=1, max_length=40)],
) -> ScreenPop:
    normalized = _phone(services, number, "number")
    pop, customer_id = await anyio.to_thread.run_sync(_screen_pop, services, normalized)
    request.state.audit_customers = [customer_id] if customer_id else []
    return pop


def _visit_sender(services: Services, body: StoreVisitCreate) -> tuple[tuple[str, str], ...]:
    if body.customer_id is not None:
        with services.uow(write=False) as uow:
            profiles = services.profiles(uow)
            profile = profiles.get(body.customer_id)
            if profile is None:
                raise NotFound(
                    "customer_not_found", f"no customer {body.customer_id}", "customer_id"
                )
            held = [
                (i["kind"], str(i["value"])) for i in profiles.identifiers_of(profile.canonical_id)
            ]
        if not held:
            raise Invalid(
                "customer_unreachable", "the customer has no identifiers left", "customer_id"
            )
        rank = {kind: n for n, kind in enumerate(SENDER_ORDER)}
        held.sort(key=lambda i: rank.get(i[0], len(SENDER_ORDER)))
        return (held[0],)
    given = body.identifiers.model_dump(exclude_none=True) if body.identifiers else {}
    if not given:
        raise Invalid(
            "customer_required",
            "name the customer: customer_id, or identifiers (email, phone, loyalty_id, user_id)",
            "customer_id",
        )
    sender: list[tuple[str, str]] = []
    for kind, raw in given.items():
        try:
            sender.append(tuple(normalize(kind, raw, services.settings.default_region)))  # type: ignore[arg-type]
        except Invalid as error:
            raise Invalid(error.code, error.message, f"identifiers.{kind}") from None
    return tuple(sender)


@router.post(
    "/api/store-visits",
    status_code=201,
    summary="Record an in-person interaction in a store",
    responses=error_responses(404, 409),
)
async def record_store_visit(
    body: StoreVisitCreate, request: Request, services: ServicesDep, caller: ConversationsWrite
) -> InteractionRecorded:
    receipt = await anyio.to_thread.run_sync(store_visit, services, body, caller)
    return _recorded(request, receipt)


def store_visit(services: Services, body: StoreVisitCreate, caller: Principal) -> Receipt:
    """Record an in-person visit on the customer's conversation and timeline (the API's
    store visits and the console's store view)."""
    sender = _visit_sender(services, body)
    metadata: dict[str, Any] = {
        "store": body.store,
        "associate": body.associate or caller.name,
        "recorded_by": caller.actor,
    }
    inbound = InboundMessage(
        channel=STORE,
        account=body.store,
        sender=sender,
        received_at=body.visited_at or services.clock.now(),
        provider_message_id=f"{body.store}:{body.visit_id}" if body.visit_id else None,
        text=body.notes,
        thread=ThreadHints(conversation_id=body.conversation_id),
        metadata=metadata,
        kind="visit",
    )
    return services.receive_inbound(inbound)

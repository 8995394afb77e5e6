"""The customer API: search, look-up, profile, timeline, context (with the customer's
conversations), merges and conflicts."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from omnicx.access import Principal
from omnicx.api.deps import CustomersRead, CustomersWrite, ServicesDep
from omnicx.api.errors import error_responses
from omnicx.api.routes.commerce_returns import customer_commerce
from omnicx.api.routes.consent import customer_consents, customer_preferences
from omnicx.api.schemas.conversations import ConversationSummary
from omnicx.api.schemas.customers import (
    ConflictPublic,
    ConflictsPublic,
    CustomerContext,
    CustomerPublic,
    CustomersPublic,
    CustomerSummary,
    IdentifierPublic,
    MergePublic,
    MergesPublic,
    TimelineItemPublic,
    TimelinePublic,
    TraitPublic,
)
from omnicx.api.schemas.segments import CustomerSegment
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.events import TimelineItem, timeline_page
from omnicx.kernel import Gone, NotFound
from omnicx.kernel.moments import from_micros
from omnicx.profiles import Profile, find_profile, lookup_profile, search_profiles, undo_merge

router = APIRouter(prefix="/api", tags=["customers"])


def find_customer(services: Services, uow: UnitOfWork, customer_id: str) -> Profile:
    """The profile; an erased one answers 410 `customer_erased` instead of 404."""
    try:
        return find_profile(services.profiles(uow), customer_id)
    except NotFound:
        if services.privacy(uow).is_erased(customer_id):
            raise Gone("customer_erased", f"customer {customer_id} was erased", "id") from None
        raise


def _redirect(profile: Profile, suffix: str = "") -> RedirectResponse:
    # Temporary: an undone merge makes the old id live again.
    return RedirectResponse(f"/api/customers/{profile.canonical_id}{suffix}", status_code=307)


def _customer(services: Services, uow: UnitOfWork, profile: Profile) -> CustomerPublic:
    repo = services.profiles(uow)
    members = repo.members(profile.id)
    return CustomerPublic(
        id=profile.id,
        display_name=profile.display_name,
        email=profile.email,
        phone=profile.phone,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
        identifiers=[
            IdentifierPublic(
                kind=i["kind"], value=i["value"], channel=i["channel"], first_seen=i["created_at"]
            )
            for i in repo.identifiers_of(profile.id)
        ],
        traits={k: t.value for k, t in sorted(repo.traits_of(profile.id).items())},
        merged_ids=sorted(pid for pid in members if pid != profile.id),
    )


def _item(item: TimelineItem) -> TimelineItemPublic:
    data = asdict(item)
    data.pop("profile_id")
    return TimelineItemPublic(**data)


@router.get("/customers", response_model=CustomersPublic, summary="Search customers")
def search_customers(
    request: Request,
    services: ServicesDep,
    _: CustomersRead,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="A name, an email or a phone, typed any usual way",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CustomersPublic:
    with services.uow(write=False) as uow:
        found = search_profiles(services.profiles(uow), q, services.settings.default_region, limit)
    request.state.audit_customers = [p.id for p in found]
    return CustomersPublic(
        items=[
            CustomerSummary(
                id=p.id,
                display_name=p.display_name,
                email=p.email,
                phone=p.phone,
                updated_at=p.updated_at,
            )
            for p in found
        ]
    )


@router.get(
    "/customers/lookup",
    response_model=CustomerPublic,
    summary="Find a customer by one identifier",
    responses=error_responses(404),
)
def lookup_customer(
    request: Request,
    services: ServicesDep,
    _: CustomersRead,
    kind: Annotated[str, Query(description="email, phone, user_id, anonymous_id, loyalty_id…")],
    value: Annotated[str, Query(min_length=1, max_length=320)],
) -> CustomerPublic:
    with services.uow(write=False) as uow:
        profile = lookup_profile(
            services.profiles(uow),
            kind,
            value,
            services.settings.default_region,
            services.settings.all_identifier_kinds,
        )
        request.state.audit_customers = [profile.id]
        return _customer(services, uow, profile)


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerPublic,
    responses={
        307: {"description": "A merged id: follow to the surviving profile"},
        404: {"description": "No such customer"},
    },
)
def get_customer(
    customer_id: str, services: ServicesDep, _: CustomersRead
) -> CustomerPublic | RedirectResponse:
    with services.uow(write=False) as uow:
        profile = find_customer(services, uow, customer_id)
        if profile.is_merged:
            return _redirect(profile)
        return _customer(services, uow, profile)


@router.get(
    "/customers/{customer_id}/timeline",
    response_model=TimelinePublic,
    responses={307: {"description": "A merged id: follow to the surviving profile"}},
)
def get_timeline(
    customer_id: str,
    services: ServicesDep,
    _: CustomersRead,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    channel: Annotated[list[str] | None, Query()] = None,
    type: Annotated[list[str] | None, Query()] = None,
    order: Annotated[
        str, Query(pattern="^(asc|desc)$", description="desc: newest first (default)")
    ] = "desc",
) -> TimelinePublic | RedirectResponse:
    with services.uow(write=False) as uow:
        profile = find_customer(services, uow, customer_id)
        if profile.is_merged:
            return _redirect(profile, "/timeline")
        members = services.profiles(uow).members(profile.id)
        items, next_cursor = timeline_page(
            services.events(uow),
            list(members),
            cursor=cursor,
            limit=limit,
            newest_first=order == "desc",
            channels=channel or (),
            types=type or (),
        )
    return TimelinePublic(items=[_item(i) for i in items], next=next_cursor)


@router.get(
    "/customers/{customer_id}/context",
    response_model=CustomerContext,
    summary="The one call a touchpoint makes",
    responses={307: {"description": "A merged id: follow to the surviving profile"}},
)
def get_context(
    customer_id: str, services: ServicesDep, caller: CustomersRead
) -> CustomerContext | RedirectResponse:
    with services.uow(write=False) as uow:
        profile = find_customer(services, uow, customer_id)
        if profile.is_merged:
            return _redirect(profile, "/context")
        return customer_context(services, uow, profile, caller)


def customer_context(
    services: Services, uow: UnitOfWork, profile: Profile, caller: Principal
) -> CustomerContext:
    """Everything about one (surviving) customer a touchpoint shows, as far as the caller's
    role may see it: the API's context and the console's customer panels."""
    repo = services.profiles(uow)
    members = list(repo.members(profile.id))
    events = services.events(uow)
    recent, _next = timeline_page(
        events, members, cursor=None, limit=20, newest_first=True, channels=(), types=()
    )
    return CustomerContext(
        customer=_customer(services, uow, profile),
        traits={
            k: TraitPublic(value=t.value, channel=t.channel, updated_at=from_micros(t.ts))
            for k, t in sorted(repo.traits_of(profile.id).items())
        },
        channels=[
            {
                **c,
                "last_interaction": _item(c["last_interaction"]) if c["last_interaction"] else None,
            }
            for c in events.channel_summary(members)
        ],
        recent_events=[_item(i) for i in recent],
        event_count=events.count_for(members),
        merges=[MergePublic(**asdict(m)) for m in repo.merges_of(profile.id)],
        conflicts=[ConflictPublic(**asdict(c)) for c in repo.conflicts(profile.id, 50)],
        conversations=_conversations(services, uow, profile.id)
        if caller.may("conversations.read")
        else None,
        consents=customer_consents(services, uow, profile.id)
        if caller.may("consent.read")
        else None,
        preferences=customer_preferences(services, uow, profile.id)
        if caller.may("consent.read")
        else None,
        segments=[
            CustomerSegment(id=segment.id, name=segment.name, since=since)
            for segment, since in services.segmenter.memberships(uow, profile.id)
        ]
        if caller.may("segments.read")
        else None,
        commerce=customer_commerce(services, uow, profile.id)
        if caller.may("commerce.read")
        else None,
    )


RECENT_DONE = 5
"""Resolved or closed conversations the context lists after the active ones."""


def _conversations(
    services: Services, uow: UnitOfWork, customer_id: str
) -> list[ConversationSummary]:
    found = services.conversations(uow).of_customer(customer_id, limit=100)
    active = [c for c in found if c.is_active]
    done = [c for c in found if not c.is_active][:RECENT_DONE]
    return [ConversationSummary.of(c) for c in (*active, *done)]


@router.get("/customers/{customer_id}/merges", response_model=MergesPublic)
def list_merges(customer_id: str, services: ServicesDep, _: CustomersRead) -> MergesPublic:
    with services.uow(write=False) as uow:
        profile = find_customer(services, uow, customer_id)
        merges = services.profiles(uow).merges_of(profile.canonical_id)
    return MergesPublic(items=[MergePublic(**asdict(m)) for m in merges])


@router.post(
    "/merges/{merge_id}/undo",
    response_model=MergePublic,
    summary="Undo a merge: the merged profile comes back with what it brought",
)
def undo(merge_id: str, services: ServicesDep, caller: CustomersWrite) -> MergePublic:
    with services.uow() as uow:
        merge = undo_merge(
            services.profiles(uow),
            merge_id,
            actor=f"{caller.kind}:{caller.name}",
            now=uow.clock.now(),
            raise_event=uow.raise_event,
        )
        uow.commit()
    with services.uow(write=False) as uow:
        refreshed = services.profiles(uow).get_merge(merge.id)
    assert refreshed is not None
    return MergePublic(**asdict(refreshed))


@router.get(
    "/identity/conflicts",
    response_model=ConflictsPublic,
    summary="Merges refused by a rule, newest first",
)
def list_conflicts(
    services: ServicesDep,
    _: CustomersRead,
    customer_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ConflictsPublic:
    with services.uow(write=False) as uow:
        conflicts = services.profiles(uow).conflicts(customer_id, limit)
    return ConflictsPublic(items=[ConflictPublic(**asdict(c)) for c in conflicts])

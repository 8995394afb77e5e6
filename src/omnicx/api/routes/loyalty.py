"""The loyalty API: one account per customer, at every channel. Reading needs commerce.read;
earning, burning and adjusting need commerce.sell and an Idempotency-Key (the same key again
answers with the entry it made; the same key for something else is a 409).

    GET  /api/customers/{id}/loyalty          balance, store credit, tier and the ledger
    POST /api/loyalty/{customer_id}/earn      points, by hand (orders earn on their own)
    POST /api/loyalty/{customer_id}/burn      spend points, or store credit (`amount`)
    POST /api/loyalty/{customer_id}/adjust    a signed correction with a reason

A merged customer's id answers for the surviving customer.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import RedirectResponse

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.routes.commerce_catalog import money_public
from omnicx.api.routes.commerce_returns import actor_of
from omnicx.api.schemas.commerce_returns import (
    LoyaltyAdjust,
    LoyaltyBurn,
    LoyaltyEarn,
    LoyaltyEntryPublic,
    LoyaltyPosted,
    LoyaltyPublic,
    NextTier,
)
from omnicx.bootstrap import Services
from omnicx.commerce import loyalty
from omnicx.commerce.aftersales import LoyaltyView
from omnicx.commerce.loyalty import Entry
from omnicx.commerce.model import Money
from omnicx.commerce.returns import REASON as CHANNEL
from omnicx.db import UnitOfWork
from omnicx.kernel import Gone, Invalid, NotFound
from omnicx.profiles import Profile, find_profile

router = APIRouter(tags=["commerce: loyalty"])

CommerceRead = Annotated[Principal, Depends(require("commerce.read"))]
CommerceSell = Annotated[Principal, Depends(require("commerce.sell"))]
RequiredKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Required: the same key again answers with the entry it made.",
    ),
]


def _profile(services: Services, uow: UnitOfWork, customer_id: str) -> Profile:
    try:
        return find_profile(services.profiles(uow), customer_id)
    except NotFound:
        if services.privacy(uow).is_erased(customer_id):
            raise Gone("customer_erased", f"customer {customer_id} was erased", "id") from None
        raise


def entry_public(entry: Entry) -> LoyaltyEntryPublic:
    return LoyaltyEntryPublic(
        id=entry.id,
        kind=entry.kind,
        points=entry.points,
        credit=money_public(Money(entry.credit, entry.currency)),
        channel=entry.channel,
        location_id=entry.location_id,
        order_id=entry.order_id,
        return_id=entry.return_id,
        exchange_id=entry.exchange_id,
        reason=entry.reason,
        actor=entry.actor,
        created_at=entry.created_at,
    )


def loyalty_public(view: LoyaltyView, limit: int) -> LoyaltyPublic:
    return LoyaltyPublic(
        customer_id=view.customer_id,
        account_id=view.account.id if view.account else None,
        points=view.points,
        credit=money_public(view.credit),
        tier=view.tier,
        tier_points=view.tier_points,
        next_tier=NextTier(name=view.next_tier[0], points=view.next_tier[1])
        if view.next_tier
        else None,
        entries=[entry_public(e) for e in view.entries],
        next=view.entries[-1].id if len(view.entries) == limit else None,
    )


@router.get(
    "/api/customers/{customer_id}/loyalty",
    response_model=LoyaltyPublic,
    summary="A customer's points, store credit, tier and ledger",
    responses={
        307: {"description": "A merged id: follow to the surviving profile"},
        **error_responses(410),
    },
)
def get_loyalty(
    customer_id: str,
    services: ServicesDep,
    caller: CommerceRead,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(max_length=36, description="An entry id")] = None,
) -> LoyaltyPublic | RedirectResponse:
    with services.uow(write=False) as uow:
        profile = _profile(services, uow, customer_id)
        if profile.is_merged:
            return RedirectResponse(
                f"/api/customers/{profile.canonical_id}/loyalty", status_code=307
            )
        view = services.aftersales.loyalty_of(uow, profile.id, limit=limit, before=before)
    return loyalty_public(view, limit)


def _channel(value: str) -> str:
    if not CHANNEL.match(value):
        raise Invalid("invalid_channel", "channel must be a lower-case name", "channel")
    return value


def _post(
    services: Services,
    customer_id: str,
    caller: Principal,
    work: Callable[[UnitOfWork, loyalty.Context, str], Entry],
) -> LoyaltyPosted:
    with services.uow() as uow:
        profile = _profile(services, uow, customer_id)
        ctx = services.loyalty_context(uow, actor_of(caller))
        entry = work(uow, ctx, profile.canonical_id)
        view = services.aftersales.loyalty_of(uow, profile.canonical_id, limit=20)
        uow.commit()
    return LoyaltyPosted(entry=entry_public(entry), loyalty=loyalty_public(view, 20))


@router.post(
    "/api/loyalty/{customer_id}/earn",
    summary="Add points by hand (orders earn on their own when they reach the customer)",
    responses=error_responses(404, 409, 410),
)
def earn(
    customer_id: str,
    body: LoyaltyEarn,
    services: ServicesDep,
    caller: CommerceSell,
    key: RequiredKey,
) -> LoyaltyPosted:
    channel = _channel(body.channel)
    return _post(
        services,
        customer_id,
        caller,
        lambda uow, ctx, customer: loyalty.earn(
            services.loyalty(uow), ctx, customer, body.points,
            key=loyalty.check_key(key), channel=channel, location_id=body.location_id,
            order_id=body.order_id, reason=body.reason,
        ),
    )  # fmt: skip


@router.post(
    "/api/loyalty/{customer_id}/burn",
    summary="Spend points, or store credit, at any channel; never below zero",
    responses=error_responses(404, 409, 410),
)
def burn(
    customer_id: str,
    body: LoyaltyBurn,
    services: ServicesDep,
    caller: CommerceSell,
    key: RequiredKey,
) -> LoyaltyPosted:
    channel = _channel(body.channel)
    if (body.points is None) == (body.amount is None):
        raise Invalid(
            "invalid_burn", "give points, or a store credit amount: one of them", "points"
        )

    def work(uow: UnitOfWork, ctx: loyalty.Context, customer: str) -> Entry:
        repo = services.loyalty(uow)
        if body.amount is not None:
            return loyalty.spend_credit(
                repo, ctx, customer, Money(body.amount, ctx.policy.currency),
                key=loyalty.check_key(key), channel=channel, location_id=body.location_id,
                order_id=body.order_id, reason=body.reason,
            )  # fmt: skip
        assert body.points is not None
        return loyalty.burn(
            repo, ctx, customer, body.points, key=loyalty.check_key(key), channel=channel,
            location_id=body.location_id, order_id=body.order_id, reason=body.reason,
        )  # fmt: skip

    return _post(services, customer_id, caller, work)


@router.post(
    "/api/loyalty/{customer_id}/adjust",
    summary="Correct points or store credit, with a reason",
    responses=error_responses(404, 409, 410),
)
def adjust(
    customer_id: str,
    body: LoyaltyAdjust,
    services: ServicesDep,
    caller: CommerceSell,
    key: RequiredKey,
) -> LoyaltyPosted:
    channel = _channel(body.channel)
    return _post(
        services,
        customer_id,
        caller,
        lambda uow, ctx, customer: loyalty.adjust(
            services.loyalty(uow), ctx, customer, points=body.points, credit=body.credit,
            key=loyalty.check_key(key), channel=channel, reason=body.reason,
            location_id=body.location_id,
        ),
    )  # fmt: skip

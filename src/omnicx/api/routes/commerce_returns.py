"""The returns and exchanges API: any location that accepts returns takes back any order,
whatever channel sold it. Writes need commerce.sell, reads commerce.read.

    POST /api/commerce/returns              a return (Idempotency-Key: the same key and body
                                            answer 200 with the same return)
    GET  /api/commerce/returns[/{id}]       returns, by order, customer or location
    POST /api/commerce/exchanges            a return and a new sale at one store
    GET  /api/commerce/exchanges/{id}

`customer_commerce` builds the commerce section of the customer context.
"""

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.routes.commerce_catalog import money_public
from omnicx.api.schemas.commerce_returns import (
    CartSummary,
    CustomerCommerce,
    ExchangeCreate,
    ExchangePublic,
    ExchangeSummary,
    FulfilmentSummary,
    LoyaltySummary,
    OrderSummary,
    PickupSummary,
    RefundPublic,
    ReturnCreate,
    ReturnLinePublic,
    ReturnPublic,
    ReturnsPublic,
    ReturnSummary,
    SaleLinePublic,
)
from omnicx.bootstrap import Services
from omnicx.commerce.orders import Address
from omnicx.commerce.returns import (
    Exchange,
    ExchangeRequest,
    LineRequest,
    NewLine,
    Refund,
    Return,
    ReturnRequest,
)
from omnicx.db import UnitOfWork
from omnicx.kernel import NotFound

router = APIRouter(tags=["commerce: returns and exchanges"])

CommerceRead = Annotated[Principal, Depends(require("commerce.read"))]
CommerceSell = Annotated[Principal, Depends(require("commerce.sell"))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="The same key and body again answer with what was done, 200.",
    ),
]


def actor_of(caller: Principal) -> str:
    return f"{caller.kind}:{caller.name}"


def refund_public(refund: Refund) -> RefundPublic:
    return RefundPublic(
        id=refund.id,
        amount=money_public(refund.amount),
        method=refund.method,
        tender=refund.tender,
        created_at=refund.created_at,
    )


def return_public(item: Return, refunds: Sequence[Refund]) -> ReturnPublic:
    return ReturnPublic(
        id=item.id,
        order_id=item.order_id,
        customer_id=item.customer_id,
        order_channel=item.order_channel,
        channel=item.channel,
        location_id=item.location_id,
        refund_to=item.refund_to,
        refund=money_public(item.refund),
        tender=item.tender,
        points_reversed=item.points_reversed,
        exchange_id=item.exchange_id,
        staff=item.staff,
        note=item.note,
        actor=item.actor,
        created_at=item.created_at,
        lines=[
            ReturnLinePublic(
                sku=line.sku,
                qty=line.qty,
                reason=line.reason,
                condition=line.condition,
                refund=money_public(line.refund),
                movement_id=line.movement_id,
            )
            for line in item.lines
        ],
        refunds=[refund_public(r) for r in refunds],
    )


def _return_public(services: Services, uow: UnitOfWork, item: Return) -> ReturnPublic:
    return return_public(item, services.returns(uow).refunds(return_id=item.id))


def exchange_public(services: Services, uow: UnitOfWork, item: Exchange) -> ExchangePublic:
    repo = services.returns(uow)
    returned = repo.get_return(item.return_id)
    if returned is None:
        raise NotFound("return_not_found", f"no return {item.return_id}", "return_id")
    return ExchangePublic(
        id=item.id,
        order_id=item.order_id,
        new_order_id=item.new_order_id,
        customer_id=item.customer_id,
        channel=item.channel,
        location_id=item.location_id,
        returned_value=money_public(item.returned_value),
        new_value=money_public(item.new_value),
        difference=money_public(item.difference),
        settlement=item.settlement,
        refund_to=item.refund_to,
        payment_method=item.payment_method,
        points_earned=item.points_earned,
        staff=item.staff,
        actor=item.actor,
        created_at=item.created_at,
        lines=[
            SaleLinePublic(
                sku=line.sku,
                qty=line.qty,
                unit_price=money_public(line.unit_price),
                total=money_public(line.total),
                location_id=line.location_id,
                fulfilment=line.fulfilment,
            )
            for line in item.lines
        ],
        refunds=[refund_public(r) for r in repo.refunds(exchange_id=item.id)],
        returned=_return_public(services, uow, returned),
    )


def _lines(body: ReturnCreate | ExchangeCreate) -> tuple[LineRequest, ...]:
    return tuple(LineRequest(x.sku, x.qty, x.reason, x.condition) for x in body.lines)


def _audit(request: Request, customer_id: str | None) -> None:
    request.state.audit_customers = [customer_id] if customer_id else []


# -- returns ---------------------------------------------------------------------------------


@router.post(
    "/api/commerce/returns",
    status_code=201,
    summary="Take lines of any order back at a location",
    responses={
        200: {"description": "The same Idempotency-Key and body: the return made before."},
        **error_responses(404, 409),
    },
)
def create_return(
    body: ReturnCreate,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: CommerceSell,
    key: IdempotencyKey = None,
) -> ReturnPublic:
    command = ReturnRequest(
        order_id=body.order_id,
        location_id=body.location_id,
        lines=_lines(body),
        refund_to=body.refund_to,
        channel=body.channel,
        staff=body.staff,
        note=body.note,
    )
    with services.uow() as uow:
        made, replayed = services.accept_return(uow, command, key=key, actor=actor_of(caller))
        answer = _return_public(services, uow, made)
        uow.commit()
    if replayed:
        response.status_code = 200
    _audit(request, made.customer_id)
    return answer


@router.get("/api/commerce/returns", summary="Returns, newest first")
def list_returns(
    request: Request,
    services: ServicesDep,
    caller: CommerceRead,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
    customer_id: Annotated[str | None, Query(max_length=36)] = None,
    location_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReturnsPublic:
    with services.uow(write=False) as uow:
        customers = None
        if customer_id is not None:
            customers = list(services.profiles(uow).members(customer_id)) or [customer_id]
        found = services.returns(uow).returns(
            customer_ids=customers, order_id=order_id, location_id=location_id, limit=limit
        )
        items = [_return_public(services, uow, item) for item in found]
    request.state.audit_customers = sorted({i.customer_id for i in found if i.customer_id})
    return ReturnsPublic(items=items)


@router.get(
    "/api/commerce/returns/{return_id}", summary="One return", responses=error_responses(404)
)
def get_return(
    return_id: str, request: Request, services: ServicesDep, caller: CommerceRead
) -> ReturnPublic:
    with services.uow(write=False) as uow:
        found = services.returns(uow).get_return(return_id)
        if found is None:
            raise NotFound("return_not_found", f"no return {return_id}", "return_id")
        answer = _return_public(services, uow, found)
    _audit(request, found.customer_id)
    return answer


# -- exchanges -------------------------------------------------------------------------------


@router.post(
    "/api/commerce/exchanges",
    status_code=201,
    summary="Take lines back and sell others at the same store",
    responses={
        200: {"description": "The same Idempotency-Key and body: the exchange made before."},
        **error_responses(404, 409),
    },
)
def create_exchange(
    body: ExchangeCreate,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: CommerceSell,
    key: IdempotencyKey = None,
) -> ExchangePublic:
    command = ExchangeRequest(
        order_id=body.order_id,
        location_id=body.location_id,
        lines=_lines(body),
        new_lines=tuple(NewLine(x.sku, x.qty) for x in body.new_lines),
        refund_to=body.refund_to,
        payment_method=body.payment_method,
        channel=body.channel,
        staff=body.staff,
        note=body.note,
        address=Address(**body.address.model_dump()) if body.address else None,
    )
    with services.uow() as uow:
        made, replayed = services.exchange(uow, command, key=key, actor=actor_of(caller))
        answer = exchange_public(services, uow, made)
        uow.commit()
    if replayed:
        response.status_code = 200
    _audit(request, made.customer_id)
    return answer


@router.get(
    "/api/commerce/exchanges/{exchange_id}",
    summary="One exchange, with its return",
    responses=error_responses(404),
)
def get_exchange(
    exchange_id: str, request: Request, services: ServicesDep, caller: CommerceRead
) -> ExchangePublic:
    with services.uow(write=False) as uow:
        found = services.returns(uow).get_exchange(exchange_id)
        if found is None:
            raise NotFound("exchange_not_found", f"no exchange {exchange_id}", "exchange_id")
        answer = exchange_public(services, uow, found)
    _audit(request, found.customer_id)
    return answer


# -- the customer context --------------------------------------------------------------------


def customer_commerce(services: Services, uow: UnitOfWork, customer_id: str) -> CustomerCommerce:
    """The commerce section of a customer's context: open carts, recent orders with their
    channel, location and status, pickups waiting, returns, exchanges and loyalty."""
    members = services.profiles(uow).members(customer_id)
    found = services.aftersales.customer_commerce(uow, customer_id, members)
    view = found.loyalty
    return CustomerCommerce(
        open_carts=[
            CartSummary(
                id=cart.id,
                channel=cart.channel,
                items=sum(line.qty for line in cart.lines),
                total=money_public(cart.total),
                updated_at=cart.updated_at,
            )
            for cart in found.open_carts
        ],
        recent_orders=[
            OrderSummary(
                id=order.id,
                channel=order.channel,
                location_id=order.location_id,
                status=order.status,
                total=money_public(order.total),
                created_at=order.created_at,
                fulfilments=[
                    FulfilmentSummary(type=g.type, status=g.status, location_id=g.location_id)
                    for g in order.groups
                ],
            )
            for order in found.recent_orders
        ],
        pending_pickups=[
            PickupSummary(
                order_id=order.id,
                location_id=group.location_id,
                status=group.status,
                pickup_by=group.pickup_by,
            )
            for order, group in found.pending_pickups
        ],
        returns=[
            ReturnSummary(
                id=r.id,
                order_id=r.order_id,
                channel=r.channel,
                location_id=r.location_id,
                refund=money_public(r.refund),
                refund_to=r.refund_to,
                exchange_id=r.exchange_id,
                created_at=r.created_at,
            )
            for r in found.returns
        ],
        exchanges=[
            ExchangeSummary(
                id=e.id,
                order_id=e.order_id,
                channel=e.channel,
                location_id=e.location_id,
                difference=money_public(e.difference),
                settlement=e.settlement,
                created_at=e.created_at,
            )
            for e in found.exchanges
        ],
        loyalty=LoyaltySummary(
            points=view.points,
            credit=money_public(view.credit),
            tier=view.tier,
            tier_points=view.tier_points,
        ),
    )

"""The carts and orders API. Reads need commerce.read; carts, placing orders and moving them
need commerce.sell.

    GET    /api/commerce/carts?customer_id=|anonymous_id=   the owner's one cart (made when
                                                            there is none; anonymous carts
                                                            join the customer's on identify)
    GET    /api/commerce/carts/{id}                         a cart (or the one it joined)
    POST   /api/commerce/carts/{id}/lines                   add a SKU, priced now
    PATCH  /api/commerce/carts/{id}/lines/{sku}             change its quantity
    DELETE /api/commerce/carts/{id}/lines/{sku}             take it out
    POST   /api/commerce/carts/{id}/checkout                the cart as an order (Idempotency-Key)
    POST   /api/commerce/orders                             an order from any channel
                                                            (Idempotency-Key)
    GET    /api/commerce/orders?customer_id=&channel=&status=&location_id=
    GET    /api/commerce/orders/{id}
    POST   /api/commerce/orders/{id}/events                 picked, ready_for_pickup, collected,
                                                            shipped, delivered, cancel

A replayed Idempotency-Key with the same body answers 200 with the order it placed; with
another body, 409 idempotency_key_reused.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.commerce_orders import (
    AddressIn,
    AddressPublic,
    AllocationPublic,
    CartLineChange,
    CartLineIn,
    CartLinePublic,
    CartPublic,
    CheckoutIn,
    CheckoutPublic,
    CustomerIn,
    GroupPublic,
    HistoryPublic,
    MoneyPublic,
    OrderCreate,
    OrderEventIn,
    OrderLinePublic,
    OrderPublic,
    OrdersPublic,
    PaymentIn,
    PaymentPublic,
    PriceChangePublic,
)
from omnicx.bootstrap import Services
from omnicx.commerce import orders
from omnicx.commerce.carts import Cart, PriceChange
from omnicx.commerce.model import Money
from omnicx.commerce.orders import Order
from omnicx.commerce.selling import Checkout, CheckoutGroup, retrying
from omnicx.db import UnitOfWork
from omnicx.kernel import Invalid
from omnicx.kernel.moments import from_micros, micros

router = APIRouter(tags=["commerce: carts and orders"])

CommerceRead = Annotated[Principal, Depends(require("commerce.read"))]
CommerceSell = Annotated[Principal, Depends(require("commerce.sell"))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Required: the same key and body place the order once.",
    ),
]

T = TypeVar("T")


def _replayed(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": "The key was used before with this body."}}


def _write(services: Services, work: Callable[[UnitOfWork], T]) -> T:
    return retrying(services.uow, work)


def _read(services: Services, work: Callable[[UnitOfWork], T]) -> T:
    with services.uow(write=False) as uow:
        return work(uow)


# -- shaping ----------------------------------------------------------------------------------


def money(value: Money) -> MoneyPublic:
    return MoneyPublic(amount=value.amount, currency=value.currency)


def order_public(order: Order) -> OrderPublic:
    return OrderPublic(
        id=order.id,
        status=order.status,
        channel=order.channel,
        location_id=order.location_id,
        customer_id=order.customer_id,
        customer_name=order.customer_name,
        subtotal=money(order.subtotal),
        total=money(order.total),
        paid=money(order.paid),
        balance_due=money(order.balance_due),
        payment=PaymentPublic(
            method=order.payment.method,
            amount=money(order.payment.amount),
            reference=order.payment.reference,
        )
        if order.payment
        else None,
        external_ref=order.external_ref,
        note=order.note,
        cart_id=order.cart_id,
        created_at=order.created_at,
        updated_at=order.updated_at,
        groups=[
            GroupPublic(
                position=g.position,
                type=g.type,
                status=g.status,
                location_id=g.location_id,
                address=AddressPublic(**g.address.__dict__) if g.address else None,
                pickup_by=g.pickup_by,
                tracking=g.tracking,
                allocations=[
                    AllocationPublic(**a.__dict__) for a in order.allocations_of(g.position)
                ],
            )
            for g in order.groups
        ],
        lines=[
            OrderLinePublic(
                line_no=x.line_no,
                group=x.group,
                sku=x.sku,
                qty=x.qty,
                unit_price=money(x.unit_price),
                base_price=money(x.base_price),
                total=money(x.total),
                price_reason=x.price_reason,
                promotion_id=x.promotion_id,
                price_source=x.price_source,
            )
            for x in order.lines
        ],
        history=[HistoryPublic(**h.__dict__) for h in order.history],
    )


def cart_public(cart: Cart) -> CartPublic:
    return CartPublic(
        id=cart.id,
        customer_id=cart.customer_id,
        anonymous=cart.customer_id is None,
        channel=cart.channel,
        status=cart.status,
        order_id=cart.order_id,
        total=money(cart.total),
        lines=[
            CartLinePublic(
                sku=x.sku,
                qty=x.qty,
                unit_price=money(x.unit_price),
                total=money(x.total),
                channel=x.channel,
                price_reason=x.price_reason,
                quoted_at=x.quoted_at,
                added_at=x.added_at,
            )
            for x in cart.lines
        ],
        created_at=cart.created_at,
        updated_at=cart.updated_at,
    )


def _audit(request: Request, *customers: str | None) -> None:
    request.state.audit_customers = sorted({c for c in customers if c})


# -- reading bodies ---------------------------------------------------------------------------


def _address(body: AddressIn | None) -> orders.Address | None:
    return orders.Address(**body.model_dump()) if body is not None else None


def _customer(body: CustomerIn | None) -> orders.CustomerIn | None:
    if body is None:
        return None
    given = body.model_dump(exclude_none=True)
    name = given.pop("name", None)
    return orders.CustomerIn(
        tuple((kind, given[kind]) for kind in orders.IDENTIFIER_KINDS if kind in given), name
    )


def _payment(body: PaymentIn | None) -> orders.Payment | None:
    if body is None:
        return None
    return orders.Payment(body.method, Money(body.amount, body.currency), body.reference)


def _command(body: OrderCreate) -> orders.PlaceOrder:
    return orders.PlaceOrder(
        channel=body.channel,
        location_id=body.location_id,
        customer_id=body.customer_id,
        customer=_customer(body.customer),
        groups=tuple(
            orders.GroupIn(
                type=g.type,
                location_id=g.location_id,
                address=_address(g.address),
                lines=tuple(
                    orders.LineIn(
                        sku=x.sku,
                        qty=x.qty,
                        price=Money(x.price.amount, x.price.currency) if x.price else None,
                        price_reason=x.price_reason,
                    )
                    for x in g.lines
                ),
            )
            for g in body.groups
        ),
        payment=_payment(body.payment),
        external_ref=body.external_ref,
        note=body.note,
    )


def _checkout(body: CheckoutIn) -> Checkout:
    return Checkout(
        groups=tuple(
            CheckoutGroup(
                g.type, g.location_id, _address(g.address), tuple(g.skus) if g.skus else None
            )
            for g in body.groups
        ),
        channel=body.channel,
        location_id=body.location_id,
        customer=_customer(body.customer),
        payment=_payment(body.payment),
        note=body.note,
        expected_total=body.expected_total,
    )


def _change(change: PriceChange) -> PriceChangePublic:
    return PriceChangePublic(
        sku=change.sku,
        qty=change.qty,
        was=money(change.was),
        now=money(change.now),
        difference=money(change.difference),
    )


# -- carts ------------------------------------------------------------------------------------


@router.get(
    "/api/commerce/carts",
    summary="The customer's (or anonymous visitor's) one cart, on any device or channel",
    responses=error_responses(404),
)
def cart_for(
    request: Request,
    services: ServicesDep,
    caller: CommerceSell,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    anonymous_id: Annotated[str | None, Query(max_length=320)] = None,
    channel: Annotated[str | None, Query(max_length=40)] = None,
) -> CartPublic:
    chosen = channel or services.settings.commerce_channels[0]
    cart = _write(
        services,
        lambda uow: services.selling.cart_for(
            uow, customer_id=customer_id, anonymous_id=anonymous_id, channel=chosen
        ),
    )
    _audit(request, cart.customer_id)
    return cart_public(cart)


@router.get("/api/commerce/carts/{cart_id}", summary="A cart (or the cart it joined)")
def get_cart(
    cart_id: str, request: Request, services: ServicesDep, caller: CommerceRead
) -> CartPublic:
    cart = _read(services, lambda uow: services.selling.get_cart(uow, cart_id))
    _audit(request, cart.customer_id)
    return cart_public(cart)


@router.post(
    "/api/commerce/carts/{cart_id}/lines",
    summary="Add a SKU to the cart, priced for the channel now",
    responses=error_responses(409),
)
def add_line(
    cart_id: str, body: CartLineIn, request: Request, services: ServicesDep, caller: CommerceSell
) -> CartPublic:
    cart = _write(
        services,
        lambda uow: services.selling.add_to_cart(
            uow, cart_id, body.sku, body.qty, channel=body.channel
        ),
    )
    _audit(request, cart.customer_id)
    return cart_public(cart)


@router.patch(
    "/api/commerce/carts/{cart_id}/lines/{sku}",
    summary="Change how many of a SKU the cart holds",
    responses=error_responses(409),
)
def change_line(
    cart_id: str,
    sku: str,
    body: CartLineChange,
    request: Request,
    services: ServicesDep,
    caller: CommerceSell,
) -> CartPublic:
    cart = _write(services, lambda uow: services.selling.set_cart_qty(uow, cart_id, sku, body.qty))
    _audit(request, cart.customer_id)
    return cart_public(cart)


@router.delete(
    "/api/commerce/carts/{cart_id}/lines/{sku}",
    summary="Take a SKU out of the cart",
    responses=error_responses(409),
)
def remove_line(
    cart_id: str, sku: str, request: Request, services: ServicesDep, caller: CommerceSell
) -> CartPublic:
    cart = _write(services, lambda uow: services.selling.remove_from_cart(uow, cart_id, sku))
    _audit(request, cart.customer_id)
    return cart_public(cart)


@router.post(
    "/api/commerce/carts/{cart_id}/checkout",
    status_code=201,
    summary="Place the cart as an order at today's prices, showing what changed",
    responses={**_replayed(CheckoutPublic), **error_responses(409)},
)
def checkout(
    cart_id: str,
    body: CheckoutIn,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: CommerceSell,
    idempotency_key: IdempotencyKey = None,
) -> CheckoutPublic:
    order, changes, created = _write(
        services,
        lambda uow: services.selling.checkout(
            uow, cart_id, _checkout(body), key=idempotency_key, actor=caller.actor
        ),
    )
    if not created:
        response.status_code = 200
    _audit(request, order.customer_id)
    return CheckoutPublic(order=order_public(order), price_changes=[_change(c) for c in changes])


# -- orders -----------------------------------------------------------------------------------


@router.post(
    "/api/commerce/orders",
    status_code=201,
    summary="Place an order from any channel (Idempotency-Key required)",
    responses={**_replayed(OrderPublic), **error_responses(404, 409)},
)
def place_order(
    body: OrderCreate,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: CommerceSell,
    idempotency_key: IdempotencyKey = None,
) -> OrderPublic:
    command = _command(body)
    order, created = _write(
        services,
        lambda uow: services.selling.place_order(
            uow, command, key=idempotency_key, actor=caller.actor
        ),
    )
    if not created:
        response.status_code = 200
    _audit(request, order.customer_id)
    return order_public(order)


def _cursor(after: str | None) -> tuple[datetime, str] | None:
    if after is None:
        return None
    stamp, _, order_id = after.partition(".")
    if not stamp.isdigit() or not order_id:
        raise Invalid("invalid_cursor", "after must be a `next` from an earlier page", "after")
    return from_micros(int(stamp)), order_id


@router.get("/api/commerce/orders", summary="Orders, newest first")
def list_orders(
    request: Request,
    services: ServicesDep,
    caller: CommerceRead,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    location_id: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=120)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrdersPublic:
    before = _cursor(after)

    def work(uow: UnitOfWork) -> list[Order]:
        customers = None
        if customer_id is not None:
            profile = services.profiles(uow).get(customer_id)
            root = profile.canonical_id if profile else customer_id
            customers = list(services.profiles(uow).members(root)) or [customer_id]
        return services.orders(uow).orders(
            customer_ids=customers,
            channel=channel,
            status=status,
            location_id=location_id,
            before=before,
            limit=limit + 1,
        )

    found = _read(services, work)
    page = found[:limit]
    _audit(request, *(o.customer_id for o in page))
    last = page[-1] if len(found) > limit else None
    return OrdersPublic(
        items=[order_public(o) for o in page],
        next=f"{micros(last.created_at)}.{last.id}" if last else None,
    )


@router.get("/api/commerce/orders/{order_id}", summary="One order: groups, lines, holds, history")
def get_order(
    order_id: str, request: Request, services: ServicesDep, caller: CommerceRead
) -> OrderPublic:
    order = _read(services, lambda uow: services.selling.get_order(uow, order_id))
    _audit(request, order.customer_id)
    return order_public(order)


@router.post(
    "/api/commerce/orders/{order_id}/events",
    summary="Move an order's group: picked, ready_for_pickup, collected, shipped, delivered, "
    "cancel",
    responses=error_responses(409),
)
def order_event(
    order_id: str,
    body: OrderEventIn,
    request: Request,
    services: ServicesDep,
    caller: CommerceSell,
) -> OrderPublic:
    order = _write(
        services,
        lambda uow: services.selling.record_event(
            uow, order_id, body.type, group=body.group, tracking=body.tracking, actor=caller.actor
        ),
    )
    _audit(request, order.customer_id)
    return order_public(order)

"""Selling and taking back at the store's counter: an endless-aisle or click-and-collect order
for the customer, and the return or exchange of an order bought on any channel. Both go
through the same services as the API's orders, returns and exchanges."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from omnicx.api.deps import ServicesDep
from omnicx.api.routes.customers import find_customer
from omnicx.commerce.orders import Address, GroupIn, LineIn, PlaceOrder
from omnicx.commerce.returns import (
    CONDITIONS,
    REFUND_TO,
    ExchangeRequest,
    LineRequest,
    NewLine,
    ReturnRequest,
)
from omnicx.commerce.selling import retrying
from omnicx.kernel import DomainError, NotFound
from omnicx.web.auth import Staff, check_csrf
from omnicx.web.pages.customer_data import audit
from omnicx.web.pages.store import RETURN_REASONS, Seller, done, panel
from omnicx.web.render import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FULFILMENTS = ("pickup", "endless_aisle")
Short = Annotated[str, Form(max_length=200)]
Many = Annotated[list[str] | None, Form()]


class Refused(Exception):
    """A form the page turns down before anything is written; the message is shown."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _quantity(staff: Staff, raw: str, *, allow_zero: bool = False) -> int:
    text = raw.strip() or "0"
    least = 0 if allow_zero else 1
    if not text.isdigit() or not least <= int(text) <= 10_000:
        raise Refused(staff.gettext("Quantities are whole numbers from 1 to 10,000."))
    return int(text)


def _lines(staff: Staff, skus: list[str], quantities: list[str]) -> tuple[LineIn, ...]:
    lines = []
    for position, sku in enumerate(skus):
        if not sku.strip():
            continue
        raw = quantities[position] if position < len(quantities) else ""
        lines.append(LineIn(sku.strip(), _quantity(staff, raw or "1")))
    if not lines:
        raise Refused(staff.gettext("Add at least one item: its SKU and how many."))
    return tuple(lines)


def _walk_in_channel(services: ServicesDep) -> str:
    settings = services.settings
    counters = [c for c in settings.commerce_walk_in_channels if c in settings.commerce_channels]
    return counters[0] if counters else "store"


@router.post("/store/customers/{customer_id}/orders")
def place_order(
    request: Request,
    customer_id: str,
    services: ServicesDep,
    staff: Seller,
    csrf: Short = "",
    order_key: Short = "",
    fulfilment: Short = "",
    store: Short = "",
    pickup_store: Short = "",
    sku: Many = None,
    qty: Many = None,
    name: Short = "",
    line1: Short = "",
    city: Short = "",
    postal_code: Short = "",
    country: Short = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """An order for the customer at the counter: collected at a store (click and collect), or
    sold here from the rest of the network and shipped to them (endless aisle)."""
    check_csrf(staff, csrf)
    form = {
        "fulfilment": fulfilment,
        "store": store,
        "pickup_store": pickup_store,
        "lines": list(zip(sku or [], qty or [], strict=False)),
        "address": {
            "name": name,
            "line1": line1,
            "city": city,
            "postal_code": postal_code,
            "country": country,
        },
        "note": note,
    }
    with services.uow(write=False) as uow:
        live = find_customer(services, uow, customer_id).canonical_id
    try:
        if fulfilment not in FULFILMENTS:
            raise Refused(staff.gettext("Choose click and collect or endless aisle."))
        if not store:
            raise Refused(staff.gettext("Choose the store you are in."))
        lines = _lines(staff, sku or [], qty or [])
        endless = fulfilment == "endless_aisle"
        group = GroupIn(
            type=fulfilment,
            lines=lines,
            location_id=None if endless else (pickup_store or store),
            address=Address(
                name=name.strip(),
                line1=line1.strip(),
                city=city.strip(),
                postal_code=postal_code.strip(),
                country=country.strip().upper(),
            )
            if endless
            else None,
        )
        command = PlaceOrder(
            channel=_walk_in_channel(services),
            groups=(group,),
            location_id=store,
            customer_id=live,
            note=note.strip() or None,
        )
        order, _created = retrying(
            services.uow,
            lambda uow: services.selling.place_order(
                uow, command, key=order_key, actor=staff.principal.actor
            ),
        )
    except Refused as refused:
        return panel(
            request, services, staff, live, errors={"order": refused.message}, form=form,
            status_code=400,
        )  # fmt: skip
    except DomainError as refused:
        message = staff.gettext("The order was not placed: %(reason)s", reason=refused.message)
        return panel(
            request, services, staff, live, errors={"order": message}, form=form,
            status_code=refused.status,
        )  # fmt: skip
    audit(services, request, staff, [live], status=201)
    return done(live, "order", order.id, store)


@router.post("/store/customers/{customer_id}/returns")
def take_back(
    request: Request,
    customer_id: str,
    services: ServicesDep,
    staff: Seller,
    csrf: Short = "",
    return_key: Short = "",
    order_id: Short = "",
    location: Short = "",
    refund_to: Short = "original",
    line_sku: Many = None,
    line_qty: Many = None,
    line_reason: Many = None,
    line_condition: Many = None,
    new_sku: Many = None,
    new_qty: Many = None,
    payment_method: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Items of an order bought on any channel come back here: refunded (a return), or
    swapped for others sold at this store (an exchange) when new items are named."""
    check_csrf(staff, csrf)
    caller = staff.principal
    form = {"order_id": order_id, "location": location, "refund_to": refund_to, "note": note}
    with services.uow(write=False) as uow:
        live = find_customer(services, uow, customer_id).canonical_id
        members = set(services.profiles(uow).members(live)) | {live}
    try:
        with services.uow(write=False) as uow:
            order = services.selling.get_order(uow, order_id) if order_id else None
        if order is None or order.customer_id not in members:
            raise NotFound("order_not_found", f"no order {order_id} of this customer", "order_id")
        if not location:
            raise Refused(staff.gettext("Choose where the items are received."))
        if refund_to not in REFUND_TO:
            raise Refused(staff.gettext("Choose how the refund is paid."))
        lines = _taken_back(staff, line_sku, line_qty, line_reason, line_condition)
        new_lines = tuple(
            NewLine(x.sku, x.qty) for x in _lines(staff, new_sku or [], new_qty or [])
        ) if any(s.strip() for s in new_sku or []) else ()  # fmt: skip
        with services.uow() as uow:
            if new_lines:
                swap = ExchangeRequest(
                    order_id=order.id, location_id=location, lines=lines, new_lines=new_lines,
                    refund_to=refund_to, payment_method=payment_method.strip() or None,
                    staff=staff.user.name, note=note.strip() or None,
                )  # fmt: skip
                made_id = services.exchange(
                    uow, swap, key=return_key or None, actor=f"{caller.kind}:{caller.name}"
                )[0].id
            else:
                back = ReturnRequest(
                    order_id=order.id, location_id=location, lines=lines, refund_to=refund_to,
                    staff=staff.user.name, note=note.strip() or None,
                )  # fmt: skip
                made_id = services.accept_return(
                    uow, back, key=return_key or None, actor=f"{caller.kind}:{caller.name}"
                )[0].id
            uow.commit()
    except Refused as refused:
        errors = {f"return:{order_id}": refused.message}
        return panel(request, services, staff, live, errors=errors, form=form, status_code=400)
    except DomainError as refused:
        message = staff.gettext("Nothing was taken back: %(reason)s", reason=refused.message)
        return panel(
            request, services, staff, live, errors={f"return:{order_id}": message}, form=form,
            status_code=refused.status,
        )  # fmt: skip
    audit(services, request, staff, [live], status=201)
    return done(live, "exchange" if new_lines else "return", made_id, location)


def _taken_back(
    staff: Staff,
    skus: list[str] | None,
    quantities: list[str] | None,
    reasons: list[str] | None,
    conditions: list[str] | None,
) -> tuple[LineRequest, ...]:
    skus, quantities = skus or [], quantities or []
    reasons, conditions = reasons or [], conditions or []
    if not len(skus) == len(quantities) == len(reasons) == len(conditions):
        raise Refused(staff.gettext("The form is incomplete. Reload the page and try again."))
    lines = []
    for sku, raw, reason, condition in zip(skus, quantities, reasons, conditions, strict=True):
        count = _quantity(staff, raw, allow_zero=True)
        if count == 0:
            continue
        if reason not in RETURN_REASONS or condition not in CONDITIONS:
            raise Refused(staff.gettext("Choose a reason and a condition for each item."))
        lines.append(LineRequest(sku, count, reason, condition))
    if not lines:
        raise Refused(staff.gettext("Say how many of at least one item come back."))
    return tuple(lines)

"""The store associate's view, made for a tablet at the counter: find the customer by phone or
loyalty card, see their online cart, orders and open conversations, and record the visit.
Selling and returns at the counter are in `store_sales`."""

import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from omnicx.api.deps import ServicesDep
from omnicx.api.routes.customers import customer_context, find_customer
from omnicx.api.routes.voice_store import store_visit
from omnicx.api.schemas.commerce_catalog import MoneyPublic
from omnicx.api.schemas.voice_store import StoreVisitCreate
from omnicx.commerce.carts import Cart
from omnicx.commerce.locations import Location
from omnicx.commerce.model import Money
from omnicx.commerce.orders import Order, OrderLine
from omnicx.commerce.pricing import format_amount
from omnicx.commerce.returns import CONDITIONS, RECEIVED, REFUND_TO
from omnicx.conversations.model import ACTIVE
from omnicx.kernel import DomainError
from omnicx.web.auth import ROLE_NAMES, PageForbidden, Staff, check_csrf, page
from omnicx.web.i18n import N_
from omnicx.web.pages.customer_data import audit, commerce_names, counter_search
from omnicx.web.render import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Seller = Annotated[Staff, page("commerce.sell")]
STORE_COOKIE = "omnicx_store"
"""Remembers the store an associate works at, to choose it first in every form."""
RETURN_REASONS = {
    "wrong_size": N_("Wrong size"),
    "faulty": N_("Faulty"),
    "not_as_described": N_("Not as described"),
    "changed_mind": N_("Changed their mind"),
    "other": N_("Other reason"),
}
CONDITION_NAMES = {"resellable": N_("Resellable"), "damaged": N_("Damaged")}
REFUND_NAMES = {"original": N_("To the original payment"), "store_credit": N_("As store credit")}
DONE = {
    "visit": N_("Visit recorded on the customer's conversation."),
    "order": N_("Order %(ref)s placed."),
    "return": N_("Return %(ref)s accepted."),
    "exchange": N_("Exchange %(ref)s done."),
}


def _readable(staff: Staff) -> None:
    if not staff.may("customers.read"):
        raise PageForbidden(
            staff.gettext(
                "Your role (%(role)s) cannot open this page.",
                role=staff.gettext(ROLE_NAMES[staff.principal.role]),
            )
        )


@router.get("/store")
def store_home(
    request: Request,
    services: ServicesDep,
    staff: Seller,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    _readable(staff)
    text = q.strip()
    results = None
    if text:
        with services.uow(write=False) as uow:
            results = counter_search(services, uow, text)
        audit(services, request, staff, [p.id for p in results], action="search")
        if len(results) == 1:
            return RedirectResponse(f"/store/customers/{results[0].id}", status_code=303)
    return render(request, "store.html", staff, q=text, results=results)


@dataclass(frozen=True)
class Returnable:
    """An order the customer has items of, and the lines that may come back."""

    order: Order
    lines: tuple[OrderLine, ...]


def _returnable(order: Order) -> Returnable | None:
    status = {g.position: g.status for g in order.groups}
    lines = tuple(x for x in order.lines if status.get(x.group) in RECEIVED)
    return Returnable(order, lines) if lines else None


def _stores(places: list[Location]) -> list[Location]:
    return [p for p in places if p.kind == "store"]


def panel(
    request: Request,
    services: ServicesDep,
    staff: Staff,
    customer_id: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The customer at the counter: what they have online and in the stores, and the forms
    to act on it; `errors` shows a refused form's message beside it, `form` what was typed."""
    _readable(staff)
    with services.uow(write=False) as uow:
        profile = find_customer(services, uow, customer_id)
        if profile.is_merged:
            return RedirectResponse(f"/store/customers/{profile.canonical_id}", status_code=303)
        context = customer_context(services, uow, profile, staff.principal)
        shop = context.commerce
        carts: list[Cart] = (
            [services.selling.get_cart(uow, c.id) for c in shop.open_carts] if shop else []
        )
        orders = services.orders_of(uow, profile.id, limit=20)
        places = services.locations(uow)
    audit(services, request, staff, [profile.id], status=status_code)
    returnable = [r for r in map(_returnable, orders) if r is not None]
    shown = {f"return:{r.order.id}" for r in returnable}
    errors = {
        ("return" if key.startswith("return:") and key not in shown else key): message
        for key, message in (errors or {}).items()
    }
    chosen = request.cookies.get(STORE_COOKIE, "")
    conversations = [c for c in context.conversations or [] if c.status in ACTIVE]
    done = request.query_params.get("done", "")
    notice = (
        staff.gettext(DONE[done], ref=request.query_params.get("ref", "")) if done in DONE else None
    )
    return render(
        request,
        "store_customer.html",
        staff,
        status_code=status_code,
        customer=context.customer,
        name=profile.display_name
        or profile.email
        or profile.phone
        or staff.gettext("Unnamed customer"),
        recipient=profile.display_name or "",
        cards=[i.value for i in context.customer.identifiers if i.kind == "loyalty_id"],
        loyalty=shop.loyalty if shop else None,
        carts=carts,
        orders=orders,
        returnable=returnable,
        conversations=conversations,
        can_visit=staff.may("conversations.write"),
        stores=_stores(places),
        pickup_places=[p for p in places if p.can("pickup")],
        return_places=[p for p in places if p.can("accept_returns")],
        chosen=chosen,
        reasons=RETURN_REASONS,
        conditions={c: CONDITION_NAMES[c] for c in CONDITIONS},
        refunds={r: REFUND_NAMES[r] for r in REFUND_TO},
        errors=errors,
        form=form or {},
        notice=notice,
        new_key=secrets.token_urlsafe(16),
        money=money,
        **commerce_names(),
    )


def money(value: Money | MoneyPublic) -> str:
    """An amount as the console shows it: 99.90 BRL."""
    if isinstance(value, MoneyPublic):
        return f"{value.formatted} {value.currency}"
    return f"{format_amount(value)} {value.currency}"


@router.get("/store/customers/{customer_id}")
def store_customer(
    request: Request, customer_id: str, services: ServicesDep, staff: Seller
) -> Response:
    return panel(request, services, staff, customer_id)


def done(customer_id: str, what: str, ref: str, store: str | None) -> RedirectResponse:
    """Back to the customer's panel with what was done; remembers the store chosen."""
    query = urlencode({"done": what, "ref": ref})
    answer = RedirectResponse(f"/store/customers/{customer_id}?{query}", status_code=303)
    if store:
        answer.set_cookie(
            STORE_COOKIE, store, max_age=180 * 86400, httponly=True, samesite="lax", path="/store"
        )
    return answer


@router.post("/store/customers/{customer_id}/visits")
def record_visit(
    request: Request,
    customer_id: str,
    services: ServicesDep,
    staff: Seller,
    csrf: Annotated[str, Form(max_length=200)] = "",
    store: Annotated[str, Form(max_length=200)] = "",
    notes: Annotated[str, Form(max_length=20_000)] = "",
    visit_id: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(staff, csrf)
    _readable(staff)
    if not staff.may("conversations.write"):
        raise PageForbidden(staff.gettext("Your role cannot record visits."))
    form = {"store": store, "notes": notes}

    def refuse(message: str, status_code: int = 400) -> Response:
        return panel(
            request,
            services,
            staff,
            customer_id,
            errors={"visit": message},
            form=form,
            status_code=status_code,
        )

    with services.uow(write=False) as uow:
        live = find_customer(services, uow, customer_id).canonical_id
        stores = {p.id for p in _stores(services.locations(uow))}
    if store not in stores:
        return refuse(staff.gettext("Choose the store you are in."))
    try:
        body = StoreVisitCreate(
            store=store,
            customer_id=live,
            notes=notes.strip() or None,
            associate=staff.user.name,
            visit_id=visit_id.strip() or None,
        )
    except ValidationError:
        return refuse(staff.gettext("The notes are too long: at most 10,000 characters."))
    try:
        receipt = store_visit(services, body, staff.principal)
    except DomainError as refused:
        return refuse(
            staff.gettext("The visit was not recorded: %(reason)s", reason=refused.message),
            refused.status,
        )
    audit(services, request, staff, [receipt.customer_id], status=201)
    return done(live, "visit", receipt.conversation_id, store)

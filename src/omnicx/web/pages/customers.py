"""Customer 360: search by name, email, phone or loyalty card; one customer's identifiers,
traits, cross-channel timeline with filters, merges (and their undo), consents with their
history, segments, orders, loyalty and conversations."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from omnicx.api.deps import ServicesDep
from omnicx.api.routes.customers import RECENT_DONE, customer_context, find_customer
from omnicx.api.schemas.conversations import ConversationSummary
from omnicx.conversations import Conversation
from omnicx.kernel import DomainError, NotFound
from omnicx.profiles import undo_merge
from omnicx.web.auth import Staff, check_csrf, page
from omnicx.web.i18n import N_
from omnicx.web.pages.customer_data import (
    BadFilter,
    TimelineFilter,
    audit,
    commerce_names,
    describe,
    facts,
    parse_filter,
    search_customers,
    timeline,
)
from omnicx.web.render import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Reader = Annotated[Staff, page("customers.read")]
Writer = Annotated[Staff, page("customers.write")]
Text = Annotated[str, Query(max_length=200)]

EVENT_TYPE_NAMES = {
    "identify": N_("Identify"),
    "track": N_("Action"),
    "page": N_("Page view"),
    "screen": N_("Screen view"),
    "group": N_("Group"),
    "alias": N_("Alias"),
}
"""How the timeline's event types are offered in its filter."""
CONSENT_STATES = {"granted": N_("granted"), "denied": N_("denied"), "revoked": N_("revoked")}
FILTER_ERRORS = {
    "type": N_("Choose an event type from the list."),
    "since": N_("Check the period: dates as YYYY-MM-DD, the first no later than the last."),
    "until": N_("Check the period: dates as YYYY-MM-DD, the first no later than the last."),
}


def customer_name(staff: Staff, name: str | None, email: str | None, phone: str | None) -> str:
    return name or email or phone or staff.gettext("Unnamed customer")


@router.get("/customers")
def customers(request: Request, services: ServicesDep, staff: Reader, q: Text = "") -> Response:
    text = q.strip()
    results = None
    if text:
        with services.uow(write=False) as uow:
            results = search_customers(services, uow, text)
        audit(services, request, staff, [p.id for p in results], action="search")
    return render(request, "customers.html", staff, q=text, results=results)


def _show(
    request: Request,
    services: ServicesDep,
    staff: Staff,
    customer_id: str,
    wanted: TimelineFilter,
    *,
    notice: str | None = None,
    error: str | None = None,
    bad_field: str | None = None,
    status_code: int = 200,
) -> Response:
    with services.uow(write=False) as uow:
        profile = find_customer(services, uow, customer_id)
        if profile.is_merged:
            query = dict(request.query_params) | {"from": profile.id}
            return RedirectResponse(
                f"/customers/{profile.canonical_id}?{urlencode(query)}", status_code=303
            )
        context = customer_context(services, uow, profile, staff.principal)
        members = list(services.profiles(uow).members(profile.id))
        items, older = timeline(services, uow, members, wanted)
        history = (
            services.consent(uow).history(profile.id, 200) if staff.may("consent.read") else None
        )
    audit(services, request, staff, [profile.id], status=status_code)
    merged_from = request.query_params.get("from")
    if notice is None and merged_from:
        notice = staff.gettext("%(id)s was merged into this customer.", id=merged_from)
    return render(
        request,
        "customer.html",
        staff,
        status_code=status_code,
        customer=context.customer,
        name=customer_name(
            staff, profile.display_name, context.customer.email, context.customer.phone
        ),
        context=context,
        items=items,
        describe=describe,
        facts=facts,
        wanted=wanted,
        older=f"/customers/{profile.id}?{urlencode(wanted.query(cursor=older))}#timeline"
        if older
        else None,
        channels=sorted({c.channel for c in context.channels} | {wanted.channel} - {""}),
        event_types=EVENT_TYPE_NAMES,
        consent_states=CONSENT_STATES,
        history=history,
        can_undo=staff.may("customers.write"),
        notice=notice,
        error=error,
        bad_field=bad_field,
        **commerce_names(),
    )


@router.get("/customers/{customer_id}")
def customer(
    request: Request,
    customer_id: str,
    services: ServicesDep,
    staff: Reader,
    channel: Text = "",
    type: Text = "",
    event: Text = "",
    since: Text = "",
    until: Text = "",
    cursor: Text = "",
    done: Text = "",
    other: Text = "",
) -> Response:
    notice = (
        staff.gettext("Merge undone: %(id)s is a separate customer again.", id=other)
        if done == "unmerged" and other
        else None
    )
    try:
        wanted = parse_filter(channel, type, event, since, until, cursor)
    except BadFilter as bad:
        return _show(
            request,
            services,
            staff,
            customer_id,
            TimelineFilter(),
            error=staff.gettext(FILTER_ERRORS[bad.field]),
            bad_field=bad.field,
            status_code=400,
        )
    return _show(request, services, staff, customer_id, wanted, notice=notice)


@router.get("/customers/{customer_id}/conversations")
def conversations_fragment(
    request: Request,
    customer_id: str,
    services: ServicesDep,
    staff: Reader,
    open: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    """The customer's conversations alone (`open`: only those still active): the live region
    of the customer pages."""
    if not staff.may("conversations.read"):
        return HTMLResponse("", status_code=403)
    with services.uow(write=False) as uow:
        profile = find_customer(services, uow, customer_id)
        found = services.conversations(uow).of_customer(profile.canonical_id, limit=100)
    audit(services, request, staff, [profile.canonical_id])
    shown = [c for c in found if c.is_active] if open else _with_recent_done(found)
    return render(
        request,
        "_customer_conversations.html",
        staff,
        conversations=[ConversationSummary.of(c) for c in shown],
    )


def _with_recent_done(found: list[Conversation]) -> list[Conversation]:
    """Every active conversation, then the latest finished ones (as the context lists them)."""
    active = [c for c in found if c.is_active]
    return active + [c for c in found if not c.is_active][:RECENT_DONE]


@router.post("/customers/{customer_id}/merges/{merge_id}/undo")
def undo(
    request: Request,
    customer_id: str,
    merge_id: str,
    services: ServicesDep,
    staff: Writer,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(staff, csrf)
    caller = staff.principal
    try:
        with services.uow() as uow:
            repo = services.profiles(uow)
            root = find_customer(services, uow, customer_id).canonical_id
            merge = repo.get_merge(merge_id)
            if merge is None or not {merge.survivor_id, merge.loser_id} & set(repo.members(root)):
                raise NotFound("merge_not_found", f"no merge {merge_id}", "merge_id")
            undo_merge(
                repo,
                merge_id,
                actor=f"{caller.kind}:{caller.name}",
                now=uow.clock.now(),
                raise_event=uow.raise_event,
            )
            uow.commit()
    except DomainError as refused:
        return _show(
            request,
            services,
            staff,
            customer_id,
            TimelineFilter(),
            error=staff.gettext("The merge was not undone: %(reason)s", reason=refused.message),
            status_code=refused.status,
        )
    audit(services, request, staff, [root, merge.loser_id])
    query = urlencode({"done": "unmerged", "other": merge.loser_id})
    return RedirectResponse(f"/customers/{root}?{query}#merges", status_code=303)

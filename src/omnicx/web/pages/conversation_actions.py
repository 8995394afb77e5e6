"""The forms of the conversation page: reply, internal note, status, assignment, contact
reason and merge.

Each one checks the session's CSRF token, makes the same service call as the JSON API, leaves
an audit entry as the API does, and goes back to the conversation with a one-line message; a
refusal (a channel that cannot be used now, a transition the state machine refuses) shows the
page again with the API's reason and what was typed.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.api.deps import ServicesDep
from omnicx.api.routes.conversations import find_conversation
from omnicx.bootstrap import Services
from omnicx.conversations import Reply
from omnicx.conversations import services as conversations
from omnicx.kernel import DomainError, Invalid
from omnicx.web.auth import Staff, check_csrf, page
from omnicx.web.pages.conversation import FormState, conversation_page
from omnicx.web.pages.conversation_common import audit, namer, set_flash
from omnicx.web.render import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Writer = Annotated[Staff, page("conversations.write")]
Csrf = Annotated[str, Form(max_length=200)]
Field = Annotated[str, Form(max_length=200)]
Body = Annotated[str, Form(max_length=200_000)]

Done = tuple[str, str, str]
"""What an action did: the customer it touched, the message to show, the page to go to."""


def _customer_of(services: Services, conversation_id: str) -> str:
    with services.uow(write=False) as uow:
        found = services.conversations(uow).get(conversation_id)
    return found.customer_id if found is not None else ""


def _act(
    request: Request,
    services: Services,
    staff: Staff,
    conversation_id: str,
    *,
    form: str,
    action: str,
    values: dict[str, str],
    work: Callable[[], Done],
) -> Response:
    try:
        customer_id, message, target = work()
    except DomainError as error:
        audit(
            services,
            request,
            staff,
            action=action,
            customer_ids=[_customer_of(services, conversation_id)],
            status=error.status,
            detail={"error": error.code},
        )
        state = FormState(
            error=staff.gettext("Not done: %(reason)s", reason=error.message),
            form=form,
            values=values,
        )
        return conversation_page(
            request, services, staff, conversation_id, status_code=error.status, state=state
        )
    audit(services, request, staff, action=action, customer_ids=[customer_id], status=303)
    return set_flash(RedirectResponse(target, status_code=303), message)


def _back(conversation_id: str, anchor: str = "") -> str:
    return f"/conversations/{conversation_id}{anchor}"


@router.post("/conversations/{conversation_id}/reply")
def reply(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    staff: Writer,
    csrf: Csrf = "",
    channel: Field = "auto",
    text: Body = "",
) -> Response:
    check_csrf(staff, csrf)

    def work() -> Done:
        sent = services.reply(
            conversation_id,
            Reply(author=staff.principal, channel=channel or "auto", text=text.strip() or None),
        )
        shown = namer(staff)("channel", sent.channel)
        return (
            sent.customer_id,
            staff.gettext("Reply queued on %(channel)s.", channel=shown),
            _back(conversation_id, "#thread"),
        )

    return _act(
        request,
        services,
        staff,
        conversation_id,
        form="reply",
        action="create",
        values={"text": text, "channel": channel},
        work=work,
    )


@router.post("/conversations/{conversation_id}/note")
def note(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    staff: Writer,
    csrf: Csrf = "",
    text: Body = "",
) -> Response:
    check_csrf(staff, csrf)

    def work() -> Done:
        added = services.reply(
            conversation_id, Reply(author=staff.principal, text=text.strip() or None, note=True)
        )
        return added.customer_id, staff.gettext("Note added."), _back(conversation_id, "#thread")

    return _act(
        request,
        services,
        staff,
        conversation_id,
        form="note",
        action="create",
        values={"text": text},
        work=work,
    )


def _moment(raw: str) -> datetime | None:
    """A `datetime-local` field's value, read as UTC."""
    if not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Invalid(
            "invalid_snoozed_until", "snooze until must be a date and time", "snoozed_until"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@router.post("/conversations/{conversation_id}/status")
def change_status(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    staff: Writer,
    csrf: Csrf = "",
    status: Field = "",
    snoozed_until: Field = "",
) -> Response:
    check_csrf(staff, csrf)

    def work() -> Done:
        until = _moment(snoozed_until)
        with services.uow() as uow:
            changed = conversations.change_status(
                services.conversations(uow),
                conversation_id,
                status,
                snoozed_until=until,
                now=uow.clock.now(),
                raise_event=uow.raise_event,
            )
            uow.commit()
        shown = namer(staff)("status", changed.status)
        return (
            changed.customer_id,
            staff.gettext("Status changed to %(status)s.", status=shown),
            _back(conversation_id),
        )

    return _act(
        request,
        services,
        staff,
        conversation_id,
        form="status",
        action="create",
        values={"status": status, "snoozed_until": snoozed_until},
        work=work,
    )


@router.post("/conversations/{conversation_id}/assignment")
def assign(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    staff: Writer,
    csrf: Csrf = "",
    assignee: Field = "",
    team: Field = "",
) -> Response:
    check_csrf(staff, csrf)

    def work() -> Done:
        with services.uow() as uow:
            changed = services.desk_core.assign_manually(
                services.desk(uow),
                services.desk_port(uow),
                conversation_id,
                assignee or None,
                team or None,
                staff.principal.actor,
                uow.clock.now(),
            )
            uow.commit()
        return changed.customer_id, staff.gettext("Assignment saved."), _back(conversation_id)

    return _act(
        request,
        services,
        staff,
        conversation_id,
        form="assignment",
        action="update",
        values={"assignee": assignee, "team": team},
        work=work,
    )


@router.post("/conversations/{conversation_id}/reason")
def change_reason(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    staff: Writer,
    csrf: Csrf = "",
    reason: Field = "",
) -> Response:
    check_csrf(staff, csrf)

    def work() -> Done:
        with services.uow() as uow:
            changed = conversations.change_details(
                services.conversations(uow),
                conversation_id,
                contact_reason=reason or None,
                clear_reason=not reason,
                reasons=services.settings.contact_reasons,
                now=uow.clock.now(),
                raise_event=uow.raise_event,
            )
            uow.commit()
        return changed.customer_id, staff.gettext("Contact reason saved."), _back(conversation_id)

    return _act(
        request,
        services,
        staff,
        conversation_id,
        form="reason",
        action="update",
        values={"reason": reason},
        work=work,
    )


@router.post("/conversations/{conversation_id}/merge")
def merge(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    staff: Writer,
    csrf: Csrf = "",
    into: Field = "",
) -> Response:
    """Merge this conversation into another one of the same customer (`into`)."""
    check_csrf(staff, csrf)
    target = into.strip()

    def work() -> Done:
        if not target:
            raise Invalid("merge_target_required", "name the conversation to merge into", "into")
        with services.uow() as uow:
            find_conversation(services, uow, conversation_id)
            merged = conversations.merge(
                services.conversations(uow),
                target,
                conversation_id,
                now=uow.clock.now(),
                raise_event=uow.raise_event,
            )
            uow.commit()
        return (
            merged.customer_id,
            staff.gettext("A conversation was merged into this one."),
            _back(merged.id),
        )

    return _act(
        request,
        services,
        staff,
        conversation_id,
        form="merge",
        action="create",
        values={"into": into},
        work=work,
    )

"""What the inbox and the conversation page share: how conversations' facts are named, who
the agents and teams are, the audit entry of a console page, and the one-shot flash message."""

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request, Response

from omnicx.api import security
from omnicx.api.audit import actor_of
from omnicx.bootstrap import Services
from omnicx.conversations.model import REACH, Conversation
from omnicx.db import UnitOfWork
from omnicx.privacy import record_access
from omnicx.profiles import Profile
from omnicx.web.auth import Staff
from omnicx.web.i18n import N_

STATUS_NAMES = {
    "open": N_("open"),
    "pending": N_("pending"),
    "snoozed": N_("snoozed"),
    "resolved": N_("resolved"),
    "closed": N_("closed"),
}
PRIORITY_NAMES = {
    "low": N_("low"),
    "normal": N_("normal"),
    "high": N_("high"),
    "urgent": N_("urgent"),
}
SLA_NAMES = {
    "breached": N_("breached"),
    "warning": N_("due soon"),
    "running": N_("on time"),
    "paused": N_("paused"),
    "met": N_("met"),
}
"""The `state` of a conversation's SLA summary, as the console names it."""
DELIVERY_NAMES = {
    "queued": N_("queued"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "read": N_("read"),
    "undelivered": N_("undelivered"),
    "failed": N_("failed"),
}
CHANNEL_NAMES = {
    "email": N_("Email"),
    "sms": N_("SMS"),
    "whatsapp": N_("WhatsApp"),
    "telegram": N_("Telegram"),
    "web_chat": N_("Web chat"),
    "call_center": N_("Call centre"),
    "viber": N_("Viber"),
    "push": N_("Push"),
    "in_app": N_("In-app"),
    "store": N_("Store"),
    "note": N_("Note"),
}
"""How the console names each channel; a channel not listed shows its own name."""
REASON_NAMES = {
    "order_status": N_("Order status"),
    "delivery": N_("Delivery"),
    "returns_exchanges": N_("Returns and exchanges"),
    "payment": N_("Payment"),
    "product_question": N_("Product question"),
    "store_experience": N_("Store experience"),
    "loyalty": N_("Loyalty"),
    "complaint": N_("Complaint"),
    "account": N_("Account"),
    "other": N_("Other"),
}
"""The default contact reasons' names; a reason set up otherwise shows its own name."""

NAMES = {
    "status": STATUS_NAMES,
    "priority": PRIORITY_NAMES,
    "sla": SLA_NAMES,
    "delivery": DELIVERY_NAMES,
    "channel": CHANNEL_NAMES,
    "reason": REASON_NAMES,
}


def namer(staff: Staff) -> Callable[[str, str | None], str]:
    """`name(kind, key)` for templates: a status, priority, SLA state, delivery status,
    channel or contact reason as the console shows it in the user's language."""

    def name(kind: str, key: str | None) -> str:
        if not key:
            return ""
        known = NAMES[kind].get(key)
        return staff.gettext(known) if known else key.replace("_", " ")

    return name


FLASH_COOKIE = "omnicx_flash"


def known_channels(services: Services) -> list[str]:
    """The channels a conversation's messages can use: those that send replies, those that
    reach customers through an identifier, and the store."""
    return sorted(set(services.channel_senders) | set(REACH) | {"store"})


def staff_names(services: Services, uow: UnitOfWork) -> dict[str, str]:
    """Staff users' names by id."""
    return {user.id: user.name for user in services.users(uow).all()}


def team_names(services: Services, uow: UnitOfWork) -> dict[str, str]:
    return {team.id: team.name for team in services.desk(uow).teams()}


def size(n: int) -> str:
    """A byte count as people read it: 512 B, 12.5 KB, 3.1 MB."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def customer_label(profile: Profile | None) -> str | None:
    """What the console calls a customer: their name, else their email, else their phone."""
    if profile is None:
        return None
    return profile.display_name or profile.email or profile.phone


def sla_due(conversation: Conversation) -> datetime | None:
    """The nearest deadline of a running SLA clock, if any."""
    due = conversation.sla.get("due_at")
    return datetime.fromisoformat(due) if isinstance(due, str) else None


def audit(
    services: Services,
    request: Request,
    staff: Staff,
    *,
    action: str,
    customer_ids: Iterable[str],
    status: int = 200,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One audit entry for a console page, as the API writes one for each of its calls: who,
    what, which customers, from where, and how it ended."""
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    params = dict(request.path_params)
    resource = ",".join(f"{k}:{v}" for k, v in sorted(params.items())) or None
    with services.uow() as uow:
        record_access(
            services.audit(uow),
            actor=actor_of(staff.principal),
            action=action,
            method=request.method,
            route=str(route),
            resource=resource,
            customer_ids=[c for c in customer_ids if c],
            client_address=security.client_address(services, request.scope),
            user_agent=request.headers.get("user-agent"),
            status=status,
            detail={"console": True, "params": sorted(request.query_params), **(detail or {})},
            now=uow.clock.now(),
        )
        uow.commit()


def set_flash(response: Response, text: str) -> Response:
    """Show `text` once, on the next page this browser opens."""
    response.set_cookie(
        FLASH_COOKIE, quote(text), max_age=60, httponly=True, samesite="strict", path="/"
    )
    return response


def take_flash(request: Request) -> str | None:
    """The flash message waiting for this page, if any (the caller clears the cookie)."""
    raw = request.cookies.get(FLASH_COOKIE)
    return unquote(raw)[:500] if raw else None


def clear_flash(request: Request, response: Response) -> Response:
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response

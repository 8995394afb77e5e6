"""Who is at the console: the staff session held in a cookie, checked on every page.

A page names the permission it needs (`page(...)`); someone not signed in is sent to the sign-in
page, someone whose role lacks the permission gets a 403 page. Every form that changes
something carries the session's CSRF token, and the console's scripts send it in
`X-CSRF-Token` when they call `/api`.
"""

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from omnicx.access import PERMISSIONS, Principal, StaffUser
from omnicx.api.deps import SESSION_COOKIE, ServicesDep, signed_in_session
from omnicx.bootstrap import Services
from omnicx.web.i18n import N_, Translator


@dataclass(frozen=True)
class Staff:
    """A signed-in staff user at the console, with their session's CSRF token."""

    user: StaffUser
    principal: Principal
    csrf: str

    @property
    def language(self) -> str:
        return self.user.language

    def may(self, permission: str) -> bool:
        return self.principal.may(permission)

    @property
    def translator(self) -> Translator:
        return Translator(self.language)

    def gettext(self, message: str, **values: Any) -> str:
        """`message` in the user's language, with `%(name)s` placeholders filled."""
        return self.translator.gettext(message, **values)

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self.translator.ngettext(singular, plural, n, **values)


class LoginRequired(Exception):
    """Not signed in (or the session ended): the page answers with the sign-in page."""


class PageForbidden(Exception):
    """Signed in, but the role lacks what the page needs."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def current_staff(request: Request, services: Services) -> Staff | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = signed_in_session(services, token)
    if found is None:
        return None
    session, user = found
    staff = Staff(user, user.principal(session.id), session.csrf_secret)
    request.state.principal = staff.principal
    request.state.staff = staff
    return staff


def page(permission: str | None = None) -> Any:
    """A dependency: the signed-in staff user, allowed `permission` (None: any signed-in user)."""
    if permission is not None and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def check(request: Request, services: ServicesDep) -> Staff:
        staff = current_staff(request, services)
        if staff is None:
            raise LoginRequired
        if permission is not None and not staff.may(permission):
            raise PageForbidden(
                staff.gettext(
                    "Your role (%(role)s) cannot open this page.",
                    role=staff.gettext(ROLE_NAMES[staff.principal.role]),
                )
            )
        return staff

    return Depends(check)


def check_csrf(staff: Staff, token: str | None) -> None:
    """Refuse a form that did not come from this session's console page."""
    if token is None or not hmac.compare_digest(staff.csrf.encode(), token.encode()):
        raise PageForbidden(
            staff.gettext(
                "This form has expired or did not come from the console. Reload and try again."
            )
        )


ROLE_NAMES = {
    "admin": N_("Admin"),
    "agent": N_("Agent"),
    "store_associate": N_("Store associate"),
    "marketer": N_("Marketer"),
    "analyst": N_("Analyst"),
}
"""How the console names each role (translated where shown)."""

AnyStaff = Annotated[Staff, page()]

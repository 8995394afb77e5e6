"""The customer's own pages, reached by signed links without signing in.

    GET  /preferences/{token}        the preference centre (HTML, works without JavaScript)
    POST /preferences/{token}        its form: consents per purpose and channel, preferences
    GET  /u/{token}                  asks to confirm an unsubscribe (a button, no change)
    POST /u/{token}                  RFC 8058 one-click: body `List-Unsubscribe=One-Click`
    GET  /consent/confirm/{token}    confirms a double opt-in

A forged or altered token is refused with 403 and nothing is stored; an expired one is 410
(JSON errors, as everywhere). A preference form that breaks a rule comes back as the page with
the error shown and nothing saved. The form carries an anti-forgery field bound to its link
(`csrf`), and the pages' Content-Security-Policy lets forms post only to this origin.
"""

from typing import Annotated, Any
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from omnicx.api import security
from omnicx.api.deps import ServicesDep
from omnicx.api.errors import error_responses
from omnicx.bootstrap import Services
from omnicx.consent import pages
from omnicx.consent.links import MAX_TOKEN
from omnicx.kernel import Invalid

router = APIRouter(tags=["public"])

Token = Annotated[str, Path(max_length=MAX_TOKEN)]

_HTML: dict[int | str, dict[str, Any]] = {
    200: {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}
}
_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
    }
}


def _proof(services: Services, request: Request) -> dict[str, Any]:
    return {
        "ip": security.client_address(services, request.scope),
        "user_agent": (request.headers.get("user-agent") or "")[:500],
    }


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise Invalid(
            "malformed_body", "the body is not a UTF-8 form (x-www-form-urlencoded)", "body"
        ) from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


@router.get(
    "/preferences/{token}",
    response_class=HTMLResponse,
    summary="The customer's preference centre",
    responses={**_HTML, **error_responses(403, 404, 410)},
)
def preference_centre(token: Token, services: ServicesDep) -> HTMLResponse:
    with services.uow(write=False) as uow:
        return HTMLResponse(services.consent_center.preference_page(uow, token).html())


@router.post(
    "/preferences/{token}",
    response_class=HTMLResponse,
    summary="Save the preference centre's form",
    responses={**_HTML, **error_responses(400, 403, 404, 410)},
    openapi_extra=_FORM,
)
async def save_preferences(token: Token, request: Request, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    proof = _proof(services, request)
    center = services.consent_center

    def work() -> HTMLResponse:
        with services.uow() as uow:
            try:
                page = center.save_preferences(uow, token, form, proof)
            except Invalid as error:
                uow.rollback()
                return HTMLResponse(center.page_with_error(uow, token, error, form).html())
            uow.commit()
        return HTMLResponse(page.html())

    return await anyio.to_thread.run_sync(work)


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="Asks the customer to confirm an unsubscribe (nothing changes on GET)",
    responses={**_HTML, **error_responses(403, 404, 410)},
)
def unsubscribe_page(token: Token, services: ServicesDep) -> HTMLResponse:
    center = services.consent_center
    with services.uow(write=False) as uow:
        now = uow.clock.now()
        claims = center.unsubscribe_claims(token, now)
        customer_id = center.customer_of(uow, claims.subject)
        language = center.language_of(uow, customer_id)
    manage = center.preferences_url(customer_id, now)
    purpose = claims.purpose or "marketing"
    return HTMLResponse(pages.unsubscribe_page(token, purpose, language, manage))


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="One-click unsubscribe (RFC 8058): the purpose is revoked on every channel",
    responses={**_HTML, **error_responses(400, 403, 404, 410)},
    openapi_extra=_FORM,
)
async def one_click(token: Token, request: Request, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    if form.get("List-Unsubscribe") != ["One-Click"]:
        raise Invalid(
            "one_click_required",
            "the body must be List-Unsubscribe=One-Click",
            "List-Unsubscribe",
        )
    proof = {**_proof(services, request), "link": "List-Unsubscribe"}
    center = services.consent_center

    def work() -> HTMLResponse:
        with services.uow() as uow:
            customer_id = center.unsubscribe(uow, token, proof)
            language = center.language_of(uow, customer_id)
            purpose = center.unsubscribe_claims(token, uow.clock.now()).purpose or "marketing"
            uow.commit()
        texts = pages.strings(language)
        return HTMLResponse(
            pages.message_page(
                texts["unsubscribe_title"],
                texts["unsubscribed"].format(purpose=pages.purpose_word(language, purpose)),
                language,
                center.preferences_url(customer_id, services.clock.now()),
            )
        )

    return await anyio.to_thread.run_sync(work)


@router.get(
    "/consent/confirm/{token}",
    response_class=HTMLResponse,
    summary="Confirm a double opt-in: the pending grant is recorded with its proof",
    responses={**_HTML, **error_responses(403, 404, 409, 410)},
)
def confirm(token: Token, request: Request, services: ServicesDep) -> HTMLResponse:
    proof = _proof(services, request)
    with services.uow() as uow:
        purpose, new, language = services.consent_center.confirm(uow, token, proof)
        uow.commit()
    texts = pages.strings(language)
    message = (
        texts["confirmed"].format(purpose=pages.purpose_word(language, purpose))
        if new
        else texts["already_confirmed"]
    )
    return HTMLResponse(pages.message_page(texts["confirm_title"], message, language))

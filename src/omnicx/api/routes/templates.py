"""Message templates' previews, email tracking's receipts, and the public tracking routes.

    POST /api/templates/{name}/preview     a saved template rendered for a channel (or every
                                           variant), a customer or sample variables, with the
                                           SMS segments and the variables left without a
                                           value (journeys.read)
    POST /api/templates/preview            the same for variants not saved yet
    GET  /api/sends/{send_id}/receipts     the opens ("read") and clicks ("clicked") of a
                                           send's messages (journeys.read)
    GET  /t/o/{token}.gif                  the open pixel (no sign-in)
    GET  /t/c/{token}                      a tracked link: 302 to its signed destination

A template's variants are read and written at `/api/templates[/{name}]` (routes/broadcasts.py).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.templates import (
    PreviewIn,
    PreviewPublic,
    ProviderTemplatePublic,
    ReceiptPublic,
    ReceiptsPublic,
    RenderedPublic,
    SmsPublic,
    UnsavedPreviewIn,
)
from omnicx.bootstrap import Services
from omnicx.kernel import Gone, Invalid, NotFound
from omnicx.orchestration import templates
from omnicx.orchestration.gate import TEMPLATE_NAME, TemplateVariant
from omnicx.orchestration.tracking import MAX_TOKEN, PIXEL
from omnicx.profiles import find_profile

router = APIRouter(prefix="/api", tags=["templates"])
public = APIRouter(tags=["public"])

JourneysRead = Annotated[Principal, Depends(require("journeys.read"))]

NO_STORE = {"Cache-Control": "no-store, private", "Pragma": "no-cache"}


def _name(name: str) -> str:
    if not TEMPLATE_NAME.match(name):
        raise Invalid(
            "invalid_template_name", "a template name is 1 to 100 of a-z 0-9 _ - .", "name"
        )
    return name


def _preview(
    services: Services,
    request: Request,
    name: str | None,
    variants: list[TemplateVariant],
    body: PreviewIn,
) -> PreviewPublic:
    customer: dict[str, object] = {}
    language = body.language
    if body.customer_id is not None:
        with services.uow(write=False) as uow:
            try:
                profile = find_profile(services.profiles(uow), body.customer_id)
            except NotFound:
                if services.privacy(uow).is_erased(body.customer_id):
                    raise Gone(
                        "customer_erased", f"customer {body.customer_id} was erased", "customer_id"
                    ) from None
                raise NotFound(
                    "customer_not_found", f"no customer {body.customer_id}", "customer_id"
                ) from None
            customer, own_language = services.sending.template_customer(uow, profile.canonical_id)
        request.state.audit_customers = [profile.canonical_id]
        language = language or own_language
    default = services.settings.default_language
    traits = customer.pop("traits", None)
    zone = customer.pop("time_zone", None)
    context = templates.context_for(
        customer=customer,
        traits=traits if isinstance(traits, dict) else {},
        variables=body.variables,
        language=language or default,
        time_zone=zone if isinstance(zone, str) else None,
        preview=True,
    )
    shown = templates.preview(
        name,
        variants,
        context,
        channel=body.channel,
        language=language or default,
        default_language=default,
    )
    return PreviewPublic(
        template=name,
        language=shown.language,
        items=[
            RenderedPublic(
                channel=item.channel,
                variant_channel=item.variant.channel,
                variant_language=item.variant.language,
                subject=item.rendered.subject,
                text=item.rendered.text,
                html=item.rendered.html,
                provider_template=ProviderTemplatePublic(
                    name=item.rendered.template.name,
                    language=item.rendered.template.language,
                    params=list(item.rendered.template.params),
                )
                if item.rendered.template is not None
                else None,
                sms=SmsPublic(
                    encoding=item.sms.encoding,
                    characters=item.sms.characters,
                    units=item.sms.units,
                    segments=item.sms.segments,
                    per_segment=item.sms.per_segment,
                )
                if item.sms is not None
                else None,
            )
            for item in shown.items
        ],
        uses=list(shown.uses),
        missing=list(shown.missing),
    )


@router.post(
    "/templates/preview",
    summary="Preview variants not saved yet",
    responses=error_responses(400, 404, 410),
)
def preview_unsaved(
    body: UnsavedPreviewIn, request: Request, services: ServicesDep, _: JourneysRead
) -> PreviewPublic:
    variants = [
        TemplateVariant(
            name="",
            channel=v.channel,
            language=v.language,
            text=v.text,
            subject=v.subject,
            html=v.html,
            provider_template=v.provider_template.model_dump(exclude_none=True)
            if v.provider_template
            else None,
        )
        for v in body.variants
    ]
    templates.check_variants(variants)
    return _preview(services, request, None, variants, body)


@router.post(
    "/templates/{name}/preview",
    summary="Preview a template for a channel, a language and a customer",
    responses=error_responses(400, 404, 410),
)
def preview_template(
    name: str, body: PreviewIn, request: Request, services: ServicesDep, _: JourneysRead
) -> PreviewPublic:
    with services.uow(write=False) as uow:
        variants = services.sends(uow).variants(_name(name))
    if not variants:
        raise NotFound("template_not_found", f"no template named {name!r}", "name")
    return _preview(services, request, name, variants, body)


@router.get(
    "/sends/{send_id}/receipts",
    summary="The opens and clicks of a send's messages",
    responses=error_responses(404),
)
def send_receipts(
    send_id: str, request: Request, services: ServicesDep, _: JourneysRead
) -> ReceiptsPublic:
    with services.uow(write=False) as uow:
        send = services.sends(uow).by_send_id(send_id)
        if send is None:
            raise NotFound("send_not_found", f"no send {send_id!r}", "send_id")
        found = services.send_receipts(uow).of_send(send.id)
    request.state.audit_customers = [send.customer_id]
    return ReceiptsPublic(
        send_id=send.send_id,
        customer_id=send.customer_id,
        items=[
            ReceiptPublic(
                id=r.id,
                message_id=r.message_id,
                channel=r.channel,
                kind=r.kind,
                link=r.link,
                at=r.at,
            )
            for r in found
        ],
    )


# -- public: the pixel and the links ------------------------------------------------------------

Token = Annotated[str, Path(max_length=MAX_TOKEN)]


@public.get(
    "/t/o/{token}.gif",
    response_class=Response,
    summary="The open pixel of a tracked email",
    responses={
        200: {"description": "A transparent 1x1 GIF.", "content": {"image/gif": {}}},
        **error_responses(403),
    },
)
def open_pixel(token: Token, services: ServicesDep) -> Response:
    services.tracker.opened(token)
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@public.get(
    "/t/c/{token}",
    response_class=RedirectResponse,
    status_code=302,
    summary="A tracked link of an email: on to where it points",
    responses={
        302: {
            "description": "To the link's signed destination.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **error_responses(403),
    },
)
def click(token: Token, services: ServicesDep) -> RedirectResponse:
    return RedirectResponse(services.tracker.clicked(token), status_code=302, headers=NO_STORE)

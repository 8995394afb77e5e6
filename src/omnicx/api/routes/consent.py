"""The consent API: a customer's consents with their history, grants and refusals recorded
with source and proof, a staff member's "not interested", preferences, the suppression list.

    GET|PUT /api/customers/{id}/consents        current, effective, pending, history / record
    POST    /api/customers/{id}/opt-outs        an opt-out said to an agent or in a store
    GET|PUT /api/customers/{id}/preferences     channel order, language, zone, quiet hours, caps
    POST    /api/customers/{id}/preference-link the customer's signed preference-centre link
    GET|POST /api/suppressions, DELETE /api/suppressions/{id}
"""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.consent import (
    ConfirmationPublic,
    ConsentChangePublic,
    ConsentPublic,
    ConsentsChange,
    ConsentsPublic,
    ConsentsRecorded,
    CustomerConsents,
    OptOutCreate,
    PermissionPublic,
    PreferenceLink,
    PreferencesIn,
    PreferencesPublic,
    SourceIn,
    SuppressionCreate,
    SuppressionPublic,
    SuppressionsPublic,
    channel_limit,
)
from omnicx.bootstrap import Services
from omnicx.consent import (
    CHANNELS,
    ConsentSource,
    Preferences,
    Wish,
    parse_quiet_hours,
)
from omnicx.consent import services as consent
from omnicx.db import UnitOfWork
from omnicx.kernel import Gone, Invalid, NotFound
from omnicx.profiles import Profile, find_profile
from omnicx.profiles.identifiers import normalize

router = APIRouter(prefix="/api", tags=["consent"])

ConsentRead = Annotated[Principal, Depends(require("consent.read"))]
ConsentWrite = Annotated[Principal, Depends(require("consent.write"))]

_MERGED: dict[int | str, dict[str, Any]] = {
    307: {"description": "A merged id: follow to the surviving profile"}
}


def _profile(services: Services, uow: UnitOfWork, customer_id: str) -> Profile:
    try:
        return find_profile(services.profiles(uow), customer_id)
    except NotFound:
        if services.privacy(uow).is_erased(customer_id):
            raise Gone("customer_erased", f"customer {customer_id} was erased", "id") from None
        raise


def _redirect(profile: Profile, suffix: str) -> RedirectResponse:
    return RedirectResponse(f"/api/customers/{profile.canonical_id}{suffix}", status_code=307)


def _actor(caller: Principal) -> tuple[str, str]:
    if caller.kind == "user":
        return ("store" if caller.role == "store_associate" else "agent"), caller.id
    return "system", caller.id


def _source(body: SourceIn, caller: Principal, customer_id: str) -> ConsentSource:
    kind, actor = _actor(caller)
    if body.actor_kind is not None:
        kind = body.actor_kind
        actor = body.actor_id or (customer_id if kind == "customer" else actor)
    return ConsentSource(
        channel=body.channel,
        actor_kind=kind,  # type: ignore[arg-type]  # checked by the service
        method=body.method,
        actor_id=body.actor_id or actor,
        store_id=body.store_id,
    )


def customer_consents(services: Services, uow: UnitOfWork, customer_id: str) -> CustomerConsents:
    """The customer's consents for the context and the consents answer."""
    repo = services.consent(uow)
    now = uow.clock.now()
    center = services.consent_center
    return CustomerConsents(
        customer_id=customer_id,
        current=[ConsentPublic.of(r) for r in repo.current(customer_id)],
        effective=[
            PermissionPublic.of(p, c, answer)
            for p, c, answer in consent.effective(
                repo, customer_id, center.policy.purposes, now, CHANNELS
            )
        ],
        pending=[ConfirmationPublic.of(c, now) for c in repo.pending(customer_id, now)],
        suppressions=[SuppressionPublic.of(s) for s in repo.suppressions(customer_id)],
    )


def customer_preferences(
    services: Services, uow: UnitOfWork, customer_id: str
) -> PreferencesPublic:
    return PreferencesPublic.of(customer_id, services.consent(uow).preferences(customer_id))


@router.get(
    "/customers/{customer_id}/consents",
    response_model=ConsentsPublic,
    summary="A customer's consents: current, effective per purpose and channel, history",
    responses={**_MERGED, **error_responses(410)},
)
def get_consents(
    customer_id: str,
    request: Request,
    services: ServicesDep,
    _: ConsentRead,
    history: Annotated[int, Query(ge=0, le=1000, description="Most history entries")] = 200,
) -> ConsentsPublic | RedirectResponse:
    with services.uow(write=False) as uow:
        profile = _profile(services, uow, customer_id)
        if profile.is_merged:
            return _redirect(profile, "/consents")
        request.state.audit_customers = [profile.id]
        summary = customer_consents(services, uow, profile.id)
        changes = services.consent(uow).history(profile.id, history) if history else []
    return ConsentsPublic(
        **summary.model_dump(), history=[ConsentChangePublic.of(c) for c in changes]
    )


@router.put(
    "/customers/{customer_id}/consents",
    response_model=ConsentsRecorded,
    summary="Record what the customer said: grants, refusals, revocations, with source and proof",
    responses=error_responses(410),
)
def put_consents(
    customer_id: str,
    body: ConsentsChange,
    request: Request,
    services: ServicesDep,
    caller: ConsentWrite,
) -> ConsentsRecorded:
    with services.uow() as uow:
        profile = _profile(services, uow, customer_id)
        live = profile.canonical_id
        request.state.audit_customers = [live]
        recorded = services.consent_center.record(
            uow,
            live,
            [Wish(i.purpose, i.channel, i.state) for i in body.items],  # type: ignore[arg-type]
            _source(body.source, caller, live),
            proof=body.proof,
            note=body.note,
            at=body.at,
            recorded_by=caller.actor,
        )
        now = uow.clock.now()
        answer = ConsentsRecorded(
            changes=[ConsentChangePublic.of(c) for c in recorded.changes],
            pending=[ConfirmationPublic.of(c, now) for c in recorded.pending],
            consents=customer_consents(services, uow, live),
        )
        uow.commit()
    return answer


@router.post(
    "/customers/{customer_id}/opt-outs",
    response_model=ConsentsRecorded,
    status_code=201,
    summary='The customer said "not interested" to an agent or a store associate',
    responses=error_responses(410),
)
def post_opt_out(
    customer_id: str,
    body: OptOutCreate,
    request: Request,
    services: ServicesDep,
    caller: ConsentWrite,
) -> ConsentsRecorded:
    kind, actor = _actor(caller)
    if body.store_id and kind == "agent":
        kind = "store"
    in_store = kind == "store"
    source = ConsentSource(
        channel=body.said_on or ("store" if in_store else "call_center"),
        actor_kind=kind,  # type: ignore[arg-type]
        method="store" if in_store else ("agent" if caller.kind == "user" else "api"),
        actor_id=actor,
        store_id=body.store_id,
    )
    with services.uow() as uow:
        live = _profile(services, uow, customer_id).canonical_id
        request.state.audit_customers = [live]
        recorded = services.consent_center.opt_out(
            uow,
            live,
            body.purpose,
            body.channel,
            source,
            note=body.note,
            recorded_by=caller.actor,
        )
        now = uow.clock.now()
        answer = ConsentsRecorded(
            changes=[ConsentChangePublic.of(c) for c in recorded.changes],
            pending=[ConfirmationPublic.of(c, now) for c in recorded.pending],
            consents=customer_consents(services, uow, live),
        )
        uow.commit()
    return answer


@router.get(
    "/customers/{customer_id}/preferences",
    response_model=PreferencesPublic,
    responses={**_MERGED, **error_responses(410)},
)
def get_preferences(
    customer_id: str, request: Request, services: ServicesDep, _: ConsentRead
) -> PreferencesPublic | RedirectResponse:
    with services.uow(write=False) as uow:
        profile = _profile(services, uow, customer_id)
        if profile.is_merged:
            return _redirect(profile, "/preferences")
        request.state.audit_customers = [profile.id]
        return customer_preferences(services, uow, profile.id)


@router.put(
    "/customers/{customer_id}/preferences",
    response_model=PreferencesPublic,
    summary="Replace the customer's contact preferences",
    responses=error_responses(410),
)
def put_preferences(
    customer_id: str,
    body: PreferencesIn,
    request: Request,
    services: ServicesDep,
    caller: ConsentWrite,
) -> PreferencesPublic:
    wanted = Preferences(
        channel_order=tuple(body.channel_order),
        language=body.language or None,
        time_zone=body.time_zone or None,
        quiet_hours=parse_quiet_hours(body.quiet_hours) if body.quiet_hours else None,
        max_per_day=body.max_per_day,
        max_per_week=body.max_per_week,
        channel_limits=tuple(channel_limit(c) for c in body.channel_limits),
    )
    with services.uow() as uow:
        live = _profile(services, uow, customer_id).canonical_id
        request.state.audit_customers = [live]
        saved = consent.change_preferences(
            services.consent(uow), live, wanted, now=uow.clock.now(), by=caller.actor
        )
        uow.commit()
    return PreferencesPublic.of(live, saved)


@router.post(
    "/customers/{customer_id}/preference-link",
    response_model=PreferenceLink,
    summary="A signed link to the customer's preference centre, to send them",
    responses=error_responses(410),
)
def preference_link(
    customer_id: str, request: Request, services: ServicesDep, _: ConsentWrite
) -> PreferenceLink:
    with services.uow(write=False) as uow:
        live = _profile(services, uow, customer_id).canonical_id
    request.state.audit_customers = [live]
    now = services.clock.now()
    center = services.consent_center
    return PreferenceLink(
        url=center.preferences_url(live, now),
        expires_at=now + timedelta(days=center.policy.preference_link_days),
    )


# -- the suppression list --------------------------------------------------------------------


@router.get(
    "/suppressions",
    response_model=SuppressionsPublic,
    summary="The suppression list, newest first; kind and value find one identifier",
)
def list_suppressions(
    services: ServicesDep,
    _: ConsentRead,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    value: Annotated[str | None, Query(min_length=1, max_length=320)] = None,
    reason: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SuppressionsPublic:
    if value is not None and kind is None:
        raise Invalid("kind_required", "looking up a value needs its kind", "kind")
    with services.uow(write=False) as uow:
        repo = services.consent(uow)
        hashed = None
        if kind is not None and value is not None:
            try:
                identifier = normalize(kind, value, services.settings.default_region)
            except Invalid as error:
                raise Invalid(error.code, error.message, "value") from None
            hashed = repo.blind(kind, identifier.value)
        found = repo.list_suppressions(kind=kind, value_hash=hashed, reason=reason, limit=limit)
    return SuppressionsPublic(items=[SuppressionPublic.of(s) for s in found])


@router.post(
    "/suppressions",
    response_model=SuppressionPublic,
    status_code=201,
    summary="Suppress an identifier: bounced, complained, legal or manual",
    responses=error_responses(409),
)
def add_suppression(
    body: SuppressionCreate, services: ServicesDep, caller: ConsentWrite
) -> SuppressionPublic:
    with services.uow() as uow:
        created = consent.suppress(
            services.consent(uow),
            body.kind,
            body.value,
            body.reason,
            channel=body.channel,
            note=body.note,
            region=services.settings.default_region,
            now=uow.clock.now(),
            by=caller.actor,
        )
        uow.commit()
    return SuppressionPublic.of(created)


@router.delete(
    "/suppressions/{suppression_id}",
    response_model=SuppressionPublic,
    summary="Lift a suppression",
)
def delete_suppression(
    suppression_id: str, services: ServicesDep, _: ConsentWrite
) -> SuppressionPublic:
    with services.uow() as uow:
        lifted = consent.lift(services.consent(uow), suppression_id)
        uow.commit()
    return SuppressionPublic.of(lifted)

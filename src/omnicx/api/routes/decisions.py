"""Why a customer did or did not get a message: the policy gate's decisions about them.

GET /api/customers/{id}/decisions     newest first, with the reason, the origin (journey,
                                      broadcast, agent), the channel and where the send
                                      stands now (consent.read)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.sends import DecisionPublic, DecisionsPublic
from omnicx.kernel import Gone, NotFound
from omnicx.orchestration.gate import DecisionRecord
from omnicx.profiles import find_profile

router = APIRouter(prefix="/api", tags=["policy gate"])

ConsentRead = Annotated[Principal, Depends(require("consent.read"))]


def decision_public(d: DecisionRecord) -> DecisionPublic:
    return DecisionPublic(
        id=d.id,
        send_id=d.send_id,
        outcome=d.outcome,
        channel=d.channel,
        reason=d.reason,
        code=d.code,
        defer_until=d.defer_until,
        origin=d.origin,
        purpose=d.purpose,
        at=d.at,
        status=d.status,
        delivery=d.delivery,
    )


@router.get(
    "/customers/{customer_id}/decisions",
    response_model=DecisionsPublic,
    summary="The policy gate's decisions about a customer",
    responses={
        307: {"description": "A merged id: follow to the surviving profile"},
        **error_responses(404, 410),
    },
)
def list_decisions(
    customer_id: str,
    request: Request,
    services: ServicesDep,
    _: ConsentRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, description="`next_before` of the last page")] = None,
) -> DecisionsPublic | RedirectResponse:
    with services.uow(write=False) as uow:
        try:
            profile = find_profile(services.profiles(uow), customer_id)
        except NotFound:
            if services.privacy(uow).is_erased(customer_id):
                raise Gone("customer_erased", f"customer {customer_id} was erased", "id") from None
            raise
        if profile.is_merged:
            return RedirectResponse(
                f"/api/customers/{profile.canonical_id}/decisions", status_code=307
            )
        members = list(services.profiles(uow).members(profile.id)) or [profile.id]
        found = services.sends(uow).decisions(members, limit=limit + 1, before=before)
    request.state.audit_customers = [profile.id]
    page = found[:limit]
    return DecisionsPublic(
        items=[decision_public(d) for d in page],
        next_before=page[-1].id if len(found) > limit else None,
    )

"""The service desk API: configuration (desk.manage), the agents' own availability, manual
assignment and CSAT (conversations.write), and what the desk keeps about a conversation.

    /api/desk/teams[/{id}]                 teams; PUT …/hours business hours; …/members
    /api/desk/agents                       agents with their load; PUT …/{user_id} profile
    PUT /api/desk/me/availability          an agent goes online, away or offline
    /api/desk/rules[/{id}]                 routing rules; PUT /api/desk/rules uploads a set
    /api/desk/sla-policies[/{id}]          SLA policies per channel and priority
    /api/desk/canned[/{id}]                canned responses; POST …/render previews one
    /api/desk/queue                        conversations waiting for an agent
    /api/desk/conversations/{id}           SLA clocks and events, assignments, CSAT surveys
    PUT|DELETE …/{id}/assignment           manual assign / unassign
    POST …/{id}/csat                       CSAT an agent took down
    GET|POST /csat/{token}                 the customer's signed rating link (no sign-in)
"""

import html
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.desk import (
    AgentChange,
    AgentPublic,
    AgentsPublic,
    AssignmentChange,
    AssignmentPublic,
    AssignmentRecord,
    AvailabilityChange,
    BusinessHoursIn,
    BusinessHoursPublic,
    CannedChange,
    CannedCreate,
    CannedListPublic,
    CannedPublic,
    CannedRender,
    CannedRendered,
    CsatCreate,
    CsatSurveyPublic,
    DeskConversation,
    MemberAdd,
    PoliciesPublic,
    PolicyIn,
    PolicyPublic,
    QueueItemPublic,
    QueuePublic,
    RuleChange,
    RuleCreate,
    RulePublic,
    RulesPublic,
    RulesUpload,
    SlaClockPublic,
    SlaEventPublic,
    TeamChange,
    TeamCreate,
    TeamPublic,
    TeamsPublic,
)
from omnicx.bootstrap import Services
from omnicx.db import UnitOfWork
from omnicx.desk import canned, csat, sla
from omnicx.desk import services as desk
from omnicx.desk.model import Agent, BusinessHours, CannedResponse, CsatSurvey, RoutingRule, Team
from omnicx.desk.model import SlaPolicy as Policy
from omnicx.kernel import Forbidden, NotFound

router = APIRouter(tags=["service desk"])

DeskManage = Annotated[Principal, Depends(require("desk.manage"))]
ConversationsRead = Annotated[Principal, Depends(require("conversations.read"))]
ConversationsWrite = Annotated[Principal, Depends(require("conversations.write"))]

T = TypeVar("T")


def _write(services: Services, work: Callable[[UnitOfWork], T]) -> T:
    with services.uow() as uow:
        result = work(uow)
        uow.commit()
    return result


def _read(services: Services, work: Callable[[UnitOfWork], T]) -> T:
    with services.uow(write=False) as uow:
        return work(uow)


# -- shaping answers -------------------------------------------------------------------------


def hours_public(hours: BusinessHours) -> BusinessHoursPublic:
    return BusinessHoursPublic(
        timezone=hours.timezone,
        week=sla.hours_json(hours),
        holidays=sorted(hours.holidays),
        always_open=hours.always_open,
    )


def team_public(team: Team) -> TeamPublic:
    return TeamPublic(
        id=team.id,
        name=team.name,
        description=team.description,
        assignment=team.assignment,
        hours=hours_public(team.hours),
        members=list(team.members),
        created_at=team.created_at,
        updated_at=team.updated_at,
    )


def agent_public(agent: Agent, name: str) -> AgentPublic:
    return AgentPublic(
        user_id=agent.user_id,
        name=name,
        availability=agent.availability,
        capacity=agent.capacity,
        load=agent.load,
        skills=list(agent.skills),
        languages=list(agent.languages),
        teams=list(agent.teams),
        last_assigned_at=agent.last_assigned_at,
    )


def rule_public(rule: RoutingRule) -> RulePublic:
    return RulePublic(**rule.__dict__)


def policy_public(policy: Policy) -> PolicyPublic:
    return PolicyPublic(**policy.__dict__)


def canned_public(item: CannedResponse) -> CannedPublic:
    return CannedPublic(**item.__dict__)


def survey_public(survey: CsatSurvey) -> CsatSurveyPublic:
    values = dict(survey.__dict__)
    values.pop("customer_id")
    return CsatSurveyPublic(**values)


def _hours(body: BusinessHoursIn | None) -> BusinessHours | None:
    if body is None:
        return None
    return sla.parse_hours(body.timezone, dict(body.week), body.holidays)


# -- teams -----------------------------------------------------------------------------------


@router.get("/api/desk/teams", summary="List teams")
def list_teams(services: ServicesDep, caller: ConversationsRead) -> TeamsPublic:
    teams = _read(services, lambda uow: services.desk(uow).teams())
    return TeamsPublic(items=[team_public(t) for t in teams])


@router.post(
    "/api/desk/teams", status_code=201, summary="Create a team", responses=error_responses(409)
)
def create_team(body: TeamCreate, services: ServicesDep, caller: DeskManage) -> TeamPublic:
    hours = _hours(body.hours)
    team = _write(
        services,
        lambda uow: desk.create_team(
            services.desk(uow),
            body.name,
            body.description,
            body.assignment or services.settings.desk_default_assignment,
            hours or BusinessHours(),
            uow.clock.now(),
        ),
    )
    return team_public(team)


@router.get("/api/desk/teams/{team_id}", summary="One team")
def get_team(team_id: str, services: ServicesDep, caller: ConversationsRead) -> TeamPublic:
    return team_public(_read(services, lambda uow: desk.get_team(services.desk(uow), team_id)))


@router.patch(
    "/api/desk/teams/{team_id}",
    summary="Rename a team or change how it hands out conversations",
    responses=error_responses(409),
)
def change_team(
    team_id: str, body: TeamChange, services: ServicesDep, caller: DeskManage
) -> TeamPublic:
    team = _write(
        services,
        lambda uow: desk.update_team(
            services.desk(uow),
            team_id,
            uow.clock.now(),
            name=body.name,
            description=body.description,
            strategy=body.assignment,
        ),
    )
    return team_public(team)


@router.put("/api/desk/teams/{team_id}/hours", summary="Set a team's business hours")
def set_hours(
    team_id: str, body: BusinessHoursIn, services: ServicesDep, caller: DeskManage
) -> TeamPublic:
    hours = _hours(body)
    team = _write(
        services,
        lambda uow: desk.update_team(services.desk(uow), team_id, uow.clock.now(), hours=hours),
    )
    return team_public(team)


@router.delete(
    "/api/desk/teams/{team_id}",
    status_code=204,
    summary="Delete a team (refused while conversations wait for it or a rule names it)",
    responses=error_responses(409),
)
def delete_team(team_id: str, services: ServicesDep, caller: DeskManage) -> Response:
    _write(services, lambda uow: desk.delete_team(services.desk(uow), team_id))
    return Response(status_code=204)


@router.post(
    "/api/desk/teams/{team_id}/members",
    status_code=201,
    summary="Add an agent to a team",
    responses=error_responses(409),
)
def add_member(
    team_id: str, body: MemberAdd, services: ServicesDep, caller: DeskManage
) -> TeamPublic:
    team = _write(
        services,
        lambda uow: desk.add_member(
            services.desk(uow), services.desk_port(uow), team_id, body.user_id, uow.clock.now()
        ),
    )
    return team_public(team)


@router.delete("/api/desk/teams/{team_id}/members/{user_id}", summary="Remove an agent")
def remove_member(
    team_id: str, user_id: str, services: ServicesDep, caller: DeskManage
) -> TeamPublic:
    team = _write(services, lambda uow: desk.remove_member(services.desk(uow), team_id, user_id))
    return team_public(team)


# -- agents ----------------------------------------------------------------------------------


def _named(services: Services, uow: UnitOfWork, agents: list[Agent]) -> list[AgentPublic]:
    port = services.desk_port(uow)
    out = []
    for agent in agents:
        user = port.staff(agent.user_id)
        out.append(agent_public(agent, user.name if user else ""))
    return out


@router.get("/api/desk/agents", summary="Agents with their availability and load")
def list_agents(services: ServicesDep, caller: ConversationsRead) -> AgentsPublic:
    return AgentsPublic(
        items=_read(services, lambda uow: _named(services, uow, services.desk(uow).agents()))
    )


@router.put("/api/desk/agents/{user_id}", summary="Make a staff user an agent, or change them")
def set_agent(
    user_id: str, body: AgentChange, services: ServicesDep, caller: DeskManage
) -> AgentPublic:
    def work(uow: UnitOfWork) -> AgentPublic:
        repo, port, now = services.desk(uow), services.desk_port(uow), uow.clock.now()
        desk.set_agent(
            repo,
            port,
            user_id,
            now,
            capacity=body.capacity,
            skills=body.skills,
            languages=body.languages,
        )
        if body.availability is not None:
            services.desk_core.set_availability(repo, port, user_id, body.availability, now)
        return _named(services, uow, repo.agents([user_id]))[0]

    return _write(services, work)


@router.put(
    "/api/desk/me/availability",
    summary="Go online, away or offline (online hands you waiting conversations)",
    responses=error_responses(403),
)
def set_my_availability(
    body: AvailabilityChange, services: ServicesDep, caller: ConversationsWrite
) -> AgentPublic:
    if caller.kind != "user":
        raise Forbidden("not_a_user", "only a signed-in staff user has an availability")

    def work(uow: UnitOfWork) -> AgentPublic:
        repo, port = services.desk(uow), services.desk_port(uow)
        services.desk_core.set_availability(
            repo, port, caller.id, body.availability, uow.clock.now()
        )
        return _named(services, uow, repo.agents([caller.id]))[0]

    return _write(services, work)


# -- routing rules ---------------------------------------------------------------------------


@router.get("/api/desk/rules", summary="Routing rules, in the order they are tried")
def list_rules(services: ServicesDep, caller: DeskManage) -> RulesPublic:
    rules = _read(services, lambda uow: services.desk(uow).rules())
    return RulesPublic(items=[rule_public(r) for r in rules])


@router.put(
    "/api/desk/rules",
    summary="Upload the whole rule set (checked first; an error names its path)",
)
def upload_rules(body: RulesUpload, services: ServicesDep, caller: DeskManage) -> RulesPublic:
    items = [r.model_dump() for r in body.rules]
    rules = _write(
        services, lambda uow: desk.replace_rules(services.desk(uow), items, uow.clock.now())
    )
    return RulesPublic(items=[rule_public(r) for r in rules])


@router.post("/api/desk/rules", status_code=201, summary="Add a routing rule")
def create_rule(body: RuleCreate, services: ServicesDep, caller: DeskManage) -> RulePublic:
    rule = _write(
        services,
        lambda uow: desk.create_rule(
            services.desk(uow),
            body.name,
            body.position,
            body.conditions,
            body.actions,
            body.enabled,
            uow.clock.now(),
        ),
    )
    return rule_public(rule)


@router.get("/api/desk/rules/{rule_id}", summary="One routing rule")
def get_rule(rule_id: str, services: ServicesDep, caller: DeskManage) -> RulePublic:
    return rule_public(_read(services, lambda uow: desk.get_rule(services.desk(uow), rule_id)))


@router.patch("/api/desk/rules/{rule_id}", summary="Change a routing rule")
def change_rule(
    rule_id: str, body: RuleChange, services: ServicesDep, caller: DeskManage
) -> RulePublic:
    rule = _write(
        services,
        lambda uow: desk.update_rule(
            services.desk(uow),
            rule_id,
            uow.clock.now(),
            name=body.name,
            position=body.position,
            conditions=body.conditions,
            actions=body.actions,
            enabled=body.enabled,
        ),
    )
    return rule_public(rule)


@router.delete("/api/desk/rules/{rule_id}", status_code=204, summary="Delete a routing rule")
def delete_rule(rule_id: str, services: ServicesDep, caller: DeskManage) -> Response:
    _write(services, lambda uow: desk.delete_rule(services.desk(uow), rule_id))
    return Response(status_code=204)


# -- SLA policies ----------------------------------------------------------------------------


@router.get("/api/desk/sla-policies", summary="SLA policies")
def list_policies(services: ServicesDep, caller: DeskManage) -> PoliciesPublic:
    policies = _read(services, lambda uow: services.desk(uow).policies())
    return PoliciesPublic(items=[policy_public(p) for p in policies])


def _policy_args(body: PolicyIn) -> dict[str, Any]:
    return body.model_dump()


@router.post(
    "/api/desk/sla-policies",
    status_code=201,
    summary="Add an SLA policy for a channel and priority",
    responses=error_responses(409),
)
def create_policy(body: PolicyIn, services: ServicesDep, caller: DeskManage) -> PolicyPublic:
    policy = _write(
        services,
        lambda uow: desk.create_policy(
            services.desk(uow), now=uow.clock.now(), **_policy_args(body)
        ),
    )
    return policy_public(policy)


@router.get("/api/desk/sla-policies/{policy_id}", summary="One SLA policy")
def get_policy(policy_id: str, services: ServicesDep, caller: DeskManage) -> PolicyPublic:
    return policy_public(
        _read(services, lambda uow: desk.get_policy(services.desk(uow), policy_id))
    )


@router.put(
    "/api/desk/sla-policies/{policy_id}",
    summary="Replace an SLA policy's targets (running clocks keep theirs)",
    responses=error_responses(409),
)
def replace_policy(
    policy_id: str, body: PolicyIn, services: ServicesDep, caller: DeskManage
) -> PolicyPublic:
    policy = _write(
        services,
        lambda uow: desk.replace_policy(
            services.desk(uow), policy_id, now=uow.clock.now(), **_policy_args(body)
        ),
    )
    return policy_public(policy)


@router.delete("/api/desk/sla-policies/{policy_id}", status_code=204, summary="Delete a policy")
def delete_policy(policy_id: str, services: ServicesDep, caller: DeskManage) -> Response:
    _write(services, lambda uow: desk.delete_policy(services.desk(uow), policy_id))
    return Response(status_code=204)


# -- canned responses ------------------------------------------------------------------------


@router.get("/api/desk/canned", summary="Canned responses, by shortcut")
def list_canned(
    services: ServicesDep,
    caller: ConversationsRead,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> CannedListPublic:
    items = _read(services, lambda uow: services.desk(uow).canned_list(q))
    return CannedListPublic(items=[canned_public(i) for i in items])


@router.post(
    "/api/desk/canned",
    status_code=201,
    summary="Add a canned response (unknown variables are refused)",
    responses=error_responses(409),
)
def create_canned(body: CannedCreate, services: ServicesDep, caller: DeskManage) -> CannedPublic:
    item = _write(
        services,
        lambda uow: desk.create_canned(
            services.desk(uow), body.shortcut, body.title, body.body, body.language, uow.clock.now()
        ),
    )
    return canned_public(item)


@router.get("/api/desk/canned/{canned_id}", summary="One canned response")
def get_canned(canned_id: str, services: ServicesDep, caller: ConversationsRead) -> CannedPublic:
    return canned_public(
        _read(services, lambda uow: desk.get_canned(services.desk(uow), canned_id))
    )


@router.patch(
    "/api/desk/canned/{canned_id}",
    summary="Change a canned response",
    responses=error_responses(409),
)
def change_canned(
    canned_id: str, body: CannedChange, services: ServicesDep, caller: DeskManage
) -> CannedPublic:
    item = _write(
        services,
        lambda uow: desk.update_canned(
            services.desk(uow),
            canned_id,
            uow.clock.now(),
            shortcut=body.shortcut,
            title=body.title,
            body=body.body,
            language=body.language,
        ),
    )
    return canned_public(item)


@router.delete("/api/desk/canned/{canned_id}", status_code=204, summary="Delete one")
def delete_canned(canned_id: str, services: ServicesDep, caller: DeskManage) -> Response:
    _write(services, lambda uow: desk.delete_canned(services.desk(uow), canned_id))
    return Response(status_code=204)


@router.post(
    "/api/desk/canned/{canned_id}/render",
    summary="Render a canned response for a conversation (a preview; nothing is sent)",
)
def render_canned(
    canned_id: str,
    body: CannedRender,
    request: Request,
    services: ServicesDep,
    caller: ConversationsRead,
) -> CannedRendered:
    def work(uow: UnitOfWork) -> CannedRendered:
        item = desk.get_canned(services.desk(uow), canned_id)
        port = services.desk_port(uow)
        conversation = None
        traits: dict[str, Any] = {}
        if body.conversation_id is not None:
            conversation = port.conversation(body.conversation_id)
            if conversation is None:
                raise NotFound(
                    "conversation_not_found",
                    f"no conversation {body.conversation_id}",
                    "conversation_id",
                )
            traits = port.traits(conversation.customer_id)
            request.state.audit_customers = [conversation.customer_id]
        user = port.staff(caller.id) if caller.kind == "user" else None
        values = desk.template_values(
            conversation, traits, caller.id, caller.name, user.email if user else None
        )
        return CannedRendered(text=canned.render(item.body, values))

    return _read(services, work)


# -- conversations ---------------------------------------------------------------------------


@router.get("/api/desk/queue", summary="Conversations waiting for an agent, by team")
def queue(
    services: ServicesDep,
    request: Request,
    caller: ConversationsRead,
    team_id: Annotated[str | None, Query(max_length=64)] = None,
) -> QueuePublic:
    items = _read(
        services,
        lambda uow: services.desk(uow).queue([team_id] if team_id is not None else None),
    )
    request.state.audit_customers = sorted({i.customer_id for i in items})
    return QueuePublic(items=[QueueItemPublic(**i.__dict__) for i in items])


@router.get(
    "/api/desk/conversations/{conversation_id}",
    summary="What the desk keeps about a conversation: SLA clocks, assignments, CSAT",
)
def desk_conversation(
    conversation_id: str, request: Request, services: ServicesDep, caller: ConversationsRead
) -> DeskConversation:
    def work(uow: UnitOfWork) -> DeskConversation:
        conversation = services.desk_port(uow).conversation(conversation_id)
        if conversation is None:
            raise NotFound(
                "conversation_not_found", f"no conversation {conversation_id}", "conversation_id"
            )
        repo = services.desk(uow)
        request.state.audit_customers = [conversation.customer_id]
        return DeskConversation(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            team_id=conversation.team_id,
            assignee_id=conversation.assignee_id,
            queued=repo.queued(conversation.id),
            clocks=[
                SlaClockPublic(**{k: getattr(c, k) for k in SlaClockPublic.model_fields})
                for c in repo.clocks(conversation.id)
            ],
            sla_events=[
                SlaEventPublic(metric=e.metric, kind=e.kind, due_at=e.due_at, raised_at=e.raised_at)
                for e in repo.sla_events(conversation.id)
            ],
            assignments=[
                AssignmentRecord(**{k: a[k] for k in AssignmentRecord.model_fields})
                for a in repo.assignments(conversation.id)
            ],
            surveys=[survey_public(s) for s in repo.surveys(conversation.id)],
        )

    return _read(services, work)


def _assignment(services: Services, uow: UnitOfWork, conversation_id: str) -> AssignmentPublic:
    conversation = services.desk_port(uow).conversation(conversation_id)
    assert conversation is not None
    return AssignmentPublic(
        conversation_id=conversation.id,
        team_id=conversation.team_id,
        assignee_id=conversation.assignee_id,
        queued=services.desk(uow).queued(conversation.id),
    )


@router.put(
    "/api/desk/conversations/{conversation_id}/assignment",
    summary="Assign a conversation to an agent or a team (manual assignment)",
    responses=error_responses(409),
)
def assign(
    conversation_id: str,
    body: AssignmentChange,
    request: Request,
    services: ServicesDep,
    caller: ConversationsWrite,
) -> AssignmentPublic:
    def work(uow: UnitOfWork) -> AssignmentPublic:
        services.desk_core.assign_manually(
            services.desk(uow),
            services.desk_port(uow),
            conversation_id,
            body.assignee_id,
            body.team_id,
            caller.actor,
            uow.clock.now(),
        )
        return _assignment(services, uow, conversation_id)

    return _write(services, work)


@router.delete(
    "/api/desk/conversations/{conversation_id}/assignment",
    summary="Unassign a conversation (its team hands it out again)",
    responses=error_responses(409),
)
def unassign(
    conversation_id: str, services: ServicesDep, caller: ConversationsWrite
) -> AssignmentPublic:
    def work(uow: UnitOfWork) -> AssignmentPublic:
        services.desk_core.assign_manually(
            services.desk(uow),
            services.desk_port(uow),
            conversation_id,
            None,
            None,
            caller.actor,
            uow.clock.now(),
        )
        return _assignment(services, uow, conversation_id)

    return _write(services, work)


@router.post(
    "/api/desk/conversations/{conversation_id}/csat",
    status_code=201,
    summary="Record CSAT the customer gave an agent (on a call, at the till)",
    responses=error_responses(409),
)
def record_csat(
    conversation_id: str,
    body: CsatCreate,
    request: Request,
    services: ServicesDep,
    caller: ConversationsWrite,
) -> CsatSurveyPublic:
    survey = _write(
        services,
        lambda uow: services.desk_core.record_by_agent(
            services.desk(uow),
            services.desk_port(uow),
            conversation_id,
            body.score,
            body.comment,
            uow.clock.now(),
        ),
    )
    request.state.audit_customers = [survey.customer_id]
    return survey_public(survey)


# -- the customer's rating link --------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>How did we do?</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 2rem auto">{body}</body></html>
"""

_HTML: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A small HTML page.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


def _form(token: str) -> str:
    buttons = "".join(
        f'<button name="score" value="{n}" style="font-size: 1.5rem">{n}</button> '
        for n in range(1, 6)
    )
    return _PAGE.format(
        body=f"<h1>How did we do?</h1><p>1 is poor, 5 is excellent.</p>"
        f'<form method="post" action="/csat/{html.escape(token, quote=True)}">'
        f'<p><textarea name="comment" rows="4" cols="40" maxlength="2000" '
        f'placeholder="Anything to add? (optional)"></textarea></p><p>{buttons}</p></form>'
    )


def _thanks(score: int) -> str:
    return _PAGE.format(body=f"<h1>Thank you!</h1><p>You rated us {score} out of 5.</p>")


def _answer(services: Services, token: str, score: int, comment: str | None) -> None:
    survey_id = csat.verify(services.csat_key(), token, services.clock.now())
    _write(
        services,
        lambda uow: services.desk_core.answer_link(
            services.desk(uow),
            services.desk_port(uow),
            survey_id,
            score,
            comment or None,
            uow.clock.now(),
        ),
    )


@router.get(
    "/csat/{token}",
    response_class=HTMLResponse,
    summary="The customer's rating page; with `score` it records the rating at once",
    responses={**_HTML, **error_responses(409, 410)},
    tags=["public"],
)
def csat_page(
    token: Annotated[str, Path(max_length=csat.MAX_TOKEN)],
    services: ServicesDep,
    score: Annotated[int | None, Query(description="1 to 5: records it")] = None,
    comment: Annotated[str | None, Query(max_length=2000)] = None,
) -> HTMLResponse:
    if score is None:
        csat.verify(services.csat_key(), token, services.clock.now())
        return HTMLResponse(_form(token))
    _answer(services, token, score, comment)
    return HTMLResponse(_thanks(score))


@router.post(
    "/csat/{token}",
    response_class=HTMLResponse,
    summary="Record the customer's rating from the page's form",
    responses={**_HTML, **error_responses(409, 410)},
    tags=["public"],
)
def csat_answer(
    token: Annotated[str, Path(max_length=csat.MAX_TOKEN)],
    score: Annotated[int, Form(description="1 to 5")],
    services: ServicesDep,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> HTMLResponse:
    _answer(services, token, score, comment)
    return HTMLResponse(_thanks(score))

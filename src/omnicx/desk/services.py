"""The desk's actions: configuration (teams, agents, rules, policies, canned responses) and its
reactions to conversations (route, assign, run SLA clocks, ask and record CSAT).

Configuration functions take the desk repository; reactions take a `ConversationDesk` bound
to the same unit of work, so everything a message causes commits with it.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from omnicx.conversations import Conversation
from omnicx.desk import assignment, canned, routing, sla
from omnicx.desk.messages import SlaBreached, SlaWarning
from omnicx.desk.model import (
    ALWAYS_OPEN,
    AVAILABILITIES,
    PRIORITIES,
    STRATEGIES,
    Agent,
    BusinessHours,
    CannedResponse,
    CsatSurvey,
    QueueItem,
    RoutingFacts,
    RoutingRule,
    SlaClock,
    SlaEventRecord,
    SlaPolicy,
    Team,
)
from omnicx.desk.ports import ConversationDesk, DeskRepository
from omnicx.kernel import Conflict, Event, Gone, Invalid, NotFound, new_id

AGENT_ROLES = ("agent", "admin", "store_associate")
"""Staff roles that can take conversations."""

_DIGIT = re.compile(r"^\s*([1-5])(?:\s*[.,:;!)/-]?\s*(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class DeskConfig:
    weights: Mapping[str, int]
    csat_ask: bool = True
    csat_expiry_hours: float = 72.0
    public_url: str = "http://127.0.0.1:8000"


# -- configuration ----------------------------------------------------------------------------


def _name(value: str, field: str, limit: int = 200) -> str:
    clean = value.strip()
    if not clean or len(clean) > limit:
        raise Invalid(f"invalid_{field}", f"{field} must be 1 to {limit} characters", field)
    return clean


def _strategy(value: str) -> str:
    if value not in STRATEGIES:
        raise Invalid(
            "invalid_assignment", f"assignment must be one of {', '.join(STRATEGIES)}", "assignment"
        )
    return value


def get_team(repo: DeskRepository, team_id: str) -> Team:
    team = repo.team(team_id)
    if team is None:
        raise NotFound("team_not_found", f"no team {team_id}", "team_id")
    return team


def create_team(
    repo: DeskRepository,
    name: str,
    description: str,
    strategy: str,
    hours: BusinessHours,
    now: datetime,
) -> Team:
    name = _name(name, "name")
    if repo.team_by_name(name) is not None:
        raise Conflict("team_exists", f"a team named {name!r} exists", "name")
    team = Team(new_id(), name, description, _strategy(strategy), hours, now, now)
    repo.add_team(team)
    return team


def update_team(
    repo: DeskRepository,
    team_id: str,
    now: datetime,
    *,
    name: str | None = None,
    description: str | None = None,
    strategy: str | None = None,
    hours: BusinessHours | None = None,
) -> Team:
    team = get_team(repo, team_id)
    if name is not None:
        name = _name(name, "name")
        other = repo.team_by_name(name)
        if other is not None and other.id != team_id:
            raise Conflict("team_exists", f"a team named {name!r} exists", "name")
    changed = replace(
        team,
        name=name or team.name,
        description=team.description if description is None else description,
        assignment=team.assignment if strategy is None else _strategy(strategy),
        hours=hours or team.hours,
        updated_at=now,
    )
    repo.update_team(changed)
    return changed


def delete_team(repo: DeskRepository, team_id: str) -> None:
    get_team(repo, team_id)
    if repo.queue([team_id], limit=1):
        raise Conflict("team_has_queue", "conversations are waiting for this team", "team_id")
    for rule in repo.rules():
        if rule.actions.get("team_id") == team_id:
            raise Conflict(
                "team_in_rule", f"routing rule {rule.id} sends conversations to this team"
            )
    repo.delete_team(team_id)


def _staff(desk: ConversationDesk, user_id: str) -> str:
    user = desk.staff(user_id)
    if user is None or not user.active:
        raise NotFound("user_not_found", f"no active staff user {user_id}", "user_id")
    if user.role not in AGENT_ROLES:
        raise Invalid(
            "not_an_agent",
            f"a {user.role} cannot take conversations (roles: {', '.join(AGENT_ROLES)})",
            "user_id",
        )
    return user.name


def _clean_list(values: Sequence[str], field: str) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for value in values:
        clean = value.strip()
        if not clean or len(clean) > 40:
            raise Invalid(f"invalid_{field}", f"each of {field} is 1 to 40 characters", field)
        out.setdefault(clean, None)
    if len(out) > 50:
        raise Invalid(f"invalid_{field}", f"at most 50 {field}", field)
    return tuple(out)


def set_agent(
    repo: DeskRepository,
    desk: ConversationDesk,
    user_id: str,
    now: datetime,
    *,
    capacity: int | None = None,
    skills: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    availability: str | None = None,
) -> Agent:
    """Make a staff user an agent, or change their profile; availability online frees the
    queue for them."""
    name = _staff(desk, user_id)
    found = repo.agents([user_id])
    current = found[0] if found else Agent(user_id, name, "offline", 10, (), (), now, now)
    if capacity is not None and not 1 <= capacity <= 1000:
        raise Invalid("invalid_capacity", "capacity must be 1 to 1000 points", "capacity")
    if availability is not None and availability not in AVAILABILITIES:
        raise Invalid(
            "invalid_availability",
            f"availability must be one of {', '.join(AVAILABILITIES)}",
            "availability",
        )
    agent = replace(
        current,
        name=name,
        capacity=current.capacity if capacity is None else capacity,
        skills=current.skills if skills is None else _clean_list(skills, "skills"),
        languages=current.languages if languages is None else _clean_list(languages, "languages"),
        availability=availability or current.availability,
        updated_at=now,
    )
    repo.upsert_agent(agent)
    return replace(agent, name=name)


def add_member(
    repo: DeskRepository, desk: ConversationDesk, team_id: str, user_id: str, now: datetime
) -> Team:
    get_team(repo, team_id)
    _staff(desk, user_id)
    if not repo.agents([user_id]):
        set_agent(repo, desk, user_id, now)
    if not repo.add_member(team_id, user_id, now):
        raise Conflict("already_member", f"{user_id} is already in the team", "user_id")
    return get_team(repo, team_id)


def remove_member(repo: DeskRepository, team_id: str, user_id: str) -> Team:
    get_team(repo, team_id)
    if not repo.remove_member(team_id, user_id):
        raise NotFound("not_member", f"{user_id} is not in the team", "user_id")
    return get_team(repo, team_id)


def _rule_parts(
    repo: DeskRepository, conditions: Any, actions: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    routing.validate_conditions(conditions)
    clean = routing.validate_actions(actions)
    team_id = clean.get("team_id")
    if team_id is not None and repo.team(team_id) is None:
        raise Invalid("unknown_team", f"actions.team_id: no team {team_id}", "actions.team_id")
    return conditions, clean


def create_rule(
    repo: DeskRepository,
    name: str,
    position: int,
    conditions: Any,
    actions: Any,
    enabled: bool,
    now: datetime,
) -> RoutingRule:
    conditions, actions = _rule_parts(repo, conditions, actions)
    rule = RoutingRule(
        new_id(), _name(name, "name"), position, conditions, actions, enabled, now, now
    )
    repo.add_rule(rule)
    return rule


def get_rule(repo: DeskRepository, rule_id: str) -> RoutingRule:
    rule = repo.rule(rule_id)
    if rule is None:
        raise NotFound("rule_not_found", f"no routing rule {rule_id}", "rule_id")
    return rule


def update_rule(
    repo: DeskRepository,
    rule_id: str,
    now: datetime,
    *,
    name: str | None = None,
    position: int | None = None,
    conditions: Any = None,
    actions: Any = None,
    enabled: bool | None = None,
) -> RoutingRule:
    rule = get_rule(repo, rule_id)
    new_conditions, new_actions = _rule_parts(
        repo,
        rule.conditions if conditions is None else conditions,
        rule.actions if actions is None else actions,
    )
    changed = replace(
        rule,
        name=rule.name if name is None else _name(name, "name"),
        position=rule.position if position is None else position,
        conditions=new_conditions,
        actions=new_actions,
        enabled=rule.enabled if enabled is None else enabled,
        updated_at=now,
    )
    repo.update_rule(changed)
    return changed


def _policy_values(
    channel: str | None,
    priority: str | None,
    first: int | None,
    next_: int | None,
    resolution: int | None,
    warning_percent: int,
) -> None:
    if priority is not None and priority not in PRIORITIES:
        raise Invalid(
            "invalid_priority", f"priority must be one of {', '.join(PRIORITIES)}", "priority"
        )
    if channel is not None and not channel.strip():
        raise Invalid("invalid_channel", "channel must not be empty", "channel")
    if first is None and next_ is None and resolution is None:
        raise Invalid(
            "policy_without_targets",
            "give at least one of first_response_minutes, next_response_minutes and "
            "resolution_minutes",
            "first_response_minutes",
        )
    for field, value in (
        ("first_response_minutes", first),
        ("next_response_minutes", next_),
        ("resolution_minutes", resolution),
    ):
        if value is not None and not 1 <= value <= 525_600:
            raise Invalid("invalid_target", f"{field} must be 1 to 525600 minutes", field)
    if not 1 <= warning_percent <= 99:
        raise Invalid("invalid_warning", "warning_percent must be 1 to 99", "warning_percent")


def create_policy(
    repo: DeskRepository,
    *,
    name: str,
    channel: str | None,
    priority: str | None,
    first_response_minutes: int | None,
    next_response_minutes: int | None,
    resolution_minutes: int | None,
    warning_percent: int,
    pause_when_waiting: bool,
    now: datetime,
) -> SlaPolicy:
    _policy_values(
        channel,
        priority,
        first_response_minutes,
        next_response_minutes,
        resolution_minutes,
        warning_percent,
    )
    for other in repo.policies():
        if other.channel == channel and other.priority == priority:
            raise Conflict(
                "policy_exists",
                f"policy {other.id} already covers channel {channel or 'any'} and priority "
                f"{priority or 'any'}",
                "channel",
            )
    policy = SlaPolicy(
        new_id(),
        _name(name, "name"),
        channel,
        priority,
        first_response_minutes,
        next_response_minutes,
        resolution_minutes,
        warning_percent,
        pause_when_waiting,
        now,
        now,
    )
    repo.add_policy(policy)
    return policy


def get_policy(repo: DeskRepository, policy_id: str) -> SlaPolicy:
    policy = repo.policy(policy_id)
    if policy is None:
        raise NotFound("policy_not_found", f"no SLA policy {policy_id}", "policy_id")
    return policy


def replace_policy(
    repo: DeskRepository,
    policy_id: str,
    *,
    name: str,
    channel: str | None,
    priority: str | None,
    first_response_minutes: int | None,
    next_response_minutes: int | None,
    resolution_minutes: int | None,
    warning_percent: int,
    pause_when_waiting: bool,
    now: datetime,
) -> SlaPolicy:
    """Change every target of a policy; clocks already running keep the targets they started
    with."""
    policy = get_policy(repo, policy_id)
    _policy_values(
        channel,
        priority,
        first_response_minutes,
        next_response_minutes,
        resolution_minutes,
        warning_percent,
    )
    for other in repo.policies():
        if other.id != policy_id and other.channel == channel and other.priority == priority:
            raise Conflict(
                "policy_exists",
                f"policy {other.id} already covers channel {channel or 'any'} and priority "
                f"{priority or 'any'}",
                "channel",
            )
    changed = replace(
        policy,
        name=_name(name, "name"),
        channel=channel,
        priority=priority,
        first_response_minutes=first_response_minutes,
        next_response_minutes=next_response_minutes,
        resolution_minutes=resolution_minutes,
        warning_percent=warning_percent,
        pause_when_waiting=pause_when_waiting,
        updated_at=now,
    )
    repo.update_policy(changed)
    return changed


def delete_policy(repo: DeskRepository, policy_id: str) -> None:
    if not repo.delete_policy(policy_id):
        raise NotFound("policy_not_found", f"no SLA policy {policy_id}", "policy_id")


def delete_rule(repo: DeskRepository, rule_id: str) -> None:
    if not repo.delete_rule(rule_id):
        raise NotFound("rule_not_found", f"no routing rule {rule_id}", "rule_id")


def replace_rules(
    repo: DeskRepository, rules: Sequence[Mapping[str, Any]], now: datetime
) -> list[RoutingRule]:
    """Replace the whole rule set at once (an upload): every rule is checked first, and an
    error names its path (`rules[2].conditions.all[0].op`), so a bad upload changes nothing."""
    if len(rules) > 500:
        raise Invalid("too_many_rules", "at most 500 routing rules", "rules")
    checked: list[RoutingRule] = []
    for index, item in enumerate(rules):
        prefix = f"rules[{index}]"
        try:
            conditions, actions = _rule_parts(repo, item.get("conditions", {}), item.get("actions"))
            name = _name(str(item.get("name", "")), "name")
        except Invalid as error:
            field = f"{prefix}.{error.field}" if error.field else prefix
            raise Invalid(error.code, f"{prefix}.{error.message}", field) from None
        position = item.get("position")
        checked.append(
            RoutingRule(
                new_id(),
                name,
                position if isinstance(position, int) else (index + 1) * 10,
                conditions,
                actions,
                bool(item.get("enabled", True)),
                now,
                now,
            )
        )
    for old in repo.rules():
        repo.delete_rule(old.id)
    for rule in checked:
        repo.add_rule(rule)
    return repo.rules()


def delete_canned(repo: DeskRepository, canned_id: str) -> None:
    if not repo.delete_canned(canned_id):
        raise NotFound("canned_not_found", f"no canned response {canned_id}", "canned_id")


def _shortcut(value: str) -> str:
    clean = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", clean):
        raise Invalid(
            "invalid_shortcut", "shortcut is 1 to 64 letters, digits, _ . or -", "shortcut"
        )
    return clean


def create_canned(
    repo: DeskRepository,
    shortcut: str,
    title: str,
    body: str,
    language: str | None,
    now: datetime,
) -> CannedResponse:
    shortcut = _shortcut(shortcut)
    canned.check_template(body)
    if repo.canned_by_shortcut(shortcut) is not None:
        raise Conflict("shortcut_exists", f"a canned response /{shortcut} exists", "shortcut")
    item = CannedResponse(new_id(), shortcut, _name(title, "title"), body, language, now, now)
    repo.add_canned(item)
    return item


def get_canned(repo: DeskRepository, canned_id: str) -> CannedResponse:
    item = repo.canned(canned_id)
    if item is None:
        raise NotFound("canned_not_found", f"no canned response {canned_id}", "canned_id")
    return item


def update_canned(
    repo: DeskRepository,
    canned_id: str,
    now: datetime,
    *,
    shortcut: str | None = None,
    title: str | None = None,
    body: str | None = None,
    language: str | None = None,
) -> CannedResponse:
    item = get_canned(repo, canned_id)
    if shortcut is not None:
        shortcut = _shortcut(shortcut)
        other = repo.canned_by_shortcut(shortcut)
        if other is not None and other.id != canned_id:
            raise Conflict("shortcut_exists", f"a canned response /{shortcut} exists", "shortcut")
    if body is not None:
        canned.check_template(body)
    changed = replace(
        item,
        shortcut=shortcut or item.shortcut,
        title=item.title if title is None else _name(title, "title"),
        body=item.body if body is None else body,
        language=item.language if language is None else language,
        updated_at=now,
    )
    repo.update_canned(changed)
    return changed


def template_values(
    conversation: Conversation | None,
    traits: Mapping[str, Any],
    agent_id: str | None,
    agent_name: str | None,
    agent_email: str | None,
) -> dict[str, dict[str, Any]]:
    first = traits.get("first_name") or traits.get("firstName")
    last = traits.get("last_name") or traits.get("lastName")
    name = traits.get("name") or " ".join(str(p) for p in (first, last) if p) or None
    if first is None and isinstance(name, str) and name.strip():
        first = name.split()[0]
    return {
        "customer": {
            "id": conversation.customer_id if conversation else None,
            "name": name,
            "first_name": first,
            "last_name": last,
            "email": traits.get("email"),
            "phone": traits.get("phone"),
        },
        "agent": {
            "id": agent_id,
            "name": agent_name,
            "first_name": agent_name.split()[0] if agent_name else None,
            "email": agent_email,
        },
        "conversation": {
            "id": conversation.id if conversation else None,
            "channel": conversation.last_inbound_channel if conversation else None,
            "contact_reason": conversation.contact_reason if conversation else None,
            "priority": conversation.priority if conversation else None,
            "subject": conversation.subject if conversation else None,
        },
    }


# -- reactions ----------------------------------------------------------------------------------


def _clock_for(
    conversation: Conversation,
    metric: str,
    policy: SlaPolicy,
    started_at: datetime,
    hours: BusinessHours,
) -> SlaClock | None:
    target = policy.target(metric)
    if target is None:
        return None
    clock = SlaClock(
        id=new_id(),
        conversation_id=conversation.id,
        customer_id=conversation.customer_id,
        metric=metric,
        policy_id=policy.id,
        team_id=conversation.team_id,
        target_minutes=target,
        warning_percent=policy.warning_percent,
        started_at=started_at,
        status="running",
    )
    return sla.schedule(clock, hours)


class Desk:
    """The desk's reactions, wired to the bus by the composition root."""

    def __init__(self, config: DeskConfig) -> None:
        self.config = config

    def _hours(self, repo: DeskRepository, team_id: str | None) -> BusinessHours:
        team = repo.team(team_id) if team_id else None
        return team.hours if team else ALWAYS_OPEN

    # routing and assignment

    def route(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation: Conversation,
        now: datetime,
    ) -> Conversation:
        traits = desk.traits(conversation.customer_id)
        language = traits.get("language") or traits.get("locale")
        facts = RoutingFacts(
            channel=conversation.last_inbound_channel or "",
            contact_reason=conversation.contact_reason,
            language=language if isinstance(language, str) else None,
            labels=conversation.labels,
            priority=conversation.priority,
            traits=traits,
            today=now.date(),
        )
        decision = routing.route(repo.rules(), facts)
        if decision.rule_id is None:
            return conversation
        if decision.priority is not None or decision.labels:
            desk.classify(conversation.id, decision.priority, decision.labels)
        if decision.team_id is not None and conversation.team_id is None:
            desk.assign(conversation.id, decision.team_id, None, "desk:routing")
        return desk.conversation(conversation.id) or conversation

    def place(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation: Conversation,
        now: datetime,
        language: str | None,
    ) -> str | None:
        """Give an unassigned conversation with a team to an agent, or queue it."""
        if conversation.team_id is None or conversation.assignee_id is not None:
            return None
        team = repo.team(conversation.team_id)
        if team is None:
            return None
        channel = conversation.last_inbound_channel or "email"
        weight = assignment.weight_of(channel, self.config.weights)
        members = repo.agents(team.members)
        sticky = repo.last_agent([conversation.customer_id])
        picked = assignment.choose(
            team.assignment,
            members,
            team_id=team.id,
            weight=weight,
            language=language,
            sticky=sticky,
        )
        if picked is None:
            repo.enqueue(
                QueueItem(
                    conversation.id,
                    conversation.customer_id,
                    team.id,
                    channel,
                    conversation.priority,
                    language,
                    now,
                )
            )
            return None
        agent, reason = picked
        self._give(repo, desk, conversation, agent.user_id, reason, "desk", now)
        return agent.user_id

    def _give(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation: Conversation,
        agent_id: str,
        reason: str,
        actor: str,
        now: datetime,
    ) -> None:
        repo.release(conversation.id, now)
        channel = conversation.last_inbound_channel or "email"
        repo.add_assignment(
            {
                "id": new_id(),
                "conversation_id": conversation.id,
                "customer_id": conversation.customer_id,
                "agent_id": agent_id,
                "team_id": conversation.team_id,
                "channel": channel,
                "weight": assignment.weight_of(channel, self.config.weights),
                "reason": reason,
                "assigned_by": actor,
                "assigned_at": now,
                "released_at": None,
            }
        )
        repo.touch_agent(agent_id, now)
        repo.dequeue(conversation.id)
        desk.assign(conversation.id, conversation.team_id, agent_id, actor)

    def assign_manually(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation_id: str,
        agent_id: str | None,
        team_id: str | None,
        actor: str,
        now: datetime,
    ) -> Conversation:
        conversation = desk.conversation(conversation_id)
        if conversation is None:
            raise NotFound("conversation_not_found", f"no conversation {conversation_id}")
        if not conversation.is_active:
            raise Conflict(
                "conversation_done", f"a {conversation.status} conversation cannot be assigned"
            )
        if team_id is not None and team_id != conversation.team_id:
            get_team(repo, team_id)
            desk.assign(conversation.id, team_id, conversation.assignee_id, actor)
            conversation = desk.conversation(conversation_id) or conversation
        if agent_id is None:
            freed = repo.release(conversation.id, now)
            desk.assign(conversation.id, conversation.team_id, None, actor)
            conversation = desk.conversation(conversation_id) or conversation
            if conversation.team_id is not None:
                self.place(repo, desk, conversation, now, None)
            self.backfill(repo, desk, now, freed)
            return desk.conversation(conversation_id) or conversation
        _staff(desk, agent_id)
        if not repo.agents([agent_id]):
            raise Invalid("not_an_agent", f"{agent_id} has no agent profile yet", "assignee_id")
        held = repo.open_assignment(conversation.id)
        previous = [held["agent_id"]] if held else []
        self._give(repo, desk, conversation, agent_id, "manual", actor, now)
        self.backfill(repo, desk, now, [p for p in previous if p != agent_id])
        return desk.conversation(conversation_id) or conversation

    def backfill(
        self, repo: DeskRepository, desk: ConversationDesk, now: datetime, agent_ids: Sequence[str]
    ) -> int:
        """Hand waiting conversations to agents who have room (after one freed up, came
        online, or joined a team); returns how many were handed out."""
        if not agent_ids:
            return 0
        agents = repo.agents(agent_ids)
        team_ids = sorted({t for a in agents for t in a.teams})
        if not team_ids:
            return 0
        waiting = repo.queue(team_ids)
        if not waiting:
            return 0
        teams = {t: repo.team(t) for t in team_ids}
        everyone = repo.agents(sorted({m for t in teams.values() if t for m in t.members}))
        sticky = {
            item.customer_id: owner
            for item in waiting
            if (owner := repo.last_agent([item.customer_id])) is not None
        }
        handouts = assignment.backfill(
            waiting,
            everyone,
            {t: team.assignment for t, team in teams.items() if team},
            self.config.weights,
            now,
            sticky,
        )
        given = 0
        for handout in handouts:
            conversation = desk.conversation(handout.conversation_id)
            if conversation is None or not conversation.is_active:
                repo.dequeue(handout.conversation_id)
                continue
            self._give(repo, desk, conversation, handout.agent_id, handout.reason, "desk", now)
            given += 1
        return given

    # SLA clocks

    def start_clocks(
        self, repo: DeskRepository, conversation: Conversation, channel: str, now: datetime
    ) -> list[SlaClock]:
        """Start (or resume) the clocks a customer's message starts; the conversation's clocks
        afterwards, as `repo.clocks` would give them."""
        existing = repo.clocks(conversation.id)
        hours = self._hours(repo, conversation.team_id)
        after = {c.id: c for c in existing}
        if not existing:
            policy = sla.pick_policy(repo.policies(), channel, conversation.priority)
            if policy is None:
                return []
            for metric in ("first_response", "resolution"):
                clock = _clock_for(conversation, metric, policy, now, hours)
                if clock is not None:
                    repo.add_clock(clock)
                    after[clock.id] = clock
            return _in_order(after)
        live = {c.metric: c for c in existing if c.status in ("running", "paused")}
        for clock in live.values():
            if clock.status == "paused":
                resumed = sla.resume(clock, now, hours)
                repo.save_clock(resumed)
                after[clock.id] = resumed
        policy = repo.policy(existing[0].policy_id)
        if policy is None:
            return _in_order(after)
        answered = any(c.metric == "first_response" and c.status == "stopped" for c in existing)
        if answered and "next_response" not in live and "first_response" not in live:
            clock = _clock_for(conversation, "next_response", policy, now, hours)
            if clock is not None:
                repo.add_clock(clock)
                after[clock.id] = clock
        if "resolution" not in live:
            clock = _clock_for(conversation, "resolution", policy, now, hours)
            if clock is not None:
                repo.add_clock(clock)
                after[clock.id] = clock
        return _in_order(after)

    def responded(self, repo: DeskRepository, conversation_id: str, now: datetime) -> None:
        for clock in repo.clocks(conversation_id, live=True):
            if clock.metric in ("first_response", "next_response"):
                repo.save_clock(sla.stop(clock, now))

    def status_changed(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation_id: str,
        new_status: str,
        now: datetime,
    ) -> CsatSurvey | None:
        """Pause, resume or stop the clocks; a resolution frees the agent and returns the
        CSAT survey to ask, if any (the caller sends it)."""
        conversation = desk.conversation(conversation_id)
        if conversation is None:
            return None
        if conversation.merged_into is not None:
            # Its clocks move to the survivor (`merged`); only its agent is freed here.
            repo.dequeue(conversation_id)
            self.backfill(repo, desk, now, repo.release(conversation_id, now))
            return None
        hours = self._hours(repo, conversation.team_id)
        clocks = repo.clocks(conversation_id, live=True)
        if new_status in ("pending", "snoozed"):
            for clock in clocks:
                policy = repo.policy(clock.policy_id)
                if policy is not None and policy.pause_when_waiting:
                    repo.save_clock(sla.pause(clock, now))
        elif new_status == "open":
            for clock in clocks:
                repo.save_clock(sla.resume(clock, now, hours))
        elif new_status in ("resolved", "closed"):
            for clock in clocks:
                repo.save_clock(sla.stop(clock, now))
            repo.dequeue(conversation_id)
            freed = repo.release(conversation_id, now)
            self.backfill(repo, desk, now, freed)
            if new_status == "resolved":
                return self.ask_csat(repo, desk, conversation, now)
        return None

    def merged(self, repo: DeskRepository, survivor_id: str, merged_id: str) -> None:
        """Fold the merged conversation's records into the survivor's: per metric the clock
        that started first keeps counting, so a merge never restarts an SLA."""
        repo.dequeue(merged_id)
        survivor = {c.metric: c for c in repo.clocks(survivor_id, live=True)}
        others = repo.clocks(merged_id, live=True)
        repo.move_conversation(merged_id, survivor_id)
        for clock in others:
            mine = survivor.get(clock.metric)
            moved = replace(clock, conversation_id=survivor_id)
            if mine is None:
                continue
            kept, retired = sla.fold(mine, moved)
            repo.save_clock(kept)
            repo.save_clock(retired)

    def summarize(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation_id: str,
        clocks: Sequence[SlaClock] | None = None,
    ) -> None:
        """Write the conversation's SLA summary from its clocks (after any clock changed);
        `clocks`: them, when the caller has them already."""
        if clocks is None:
            clocks = repo.clocks(conversation_id)
        desk.set_sla(conversation_id, sla.summary(clocks))

    def check_sla(self, repo: DeskRepository, now: datetime, limit: int = 500) -> list[Event]:
        """Warnings and breaches now due, each recorded once; returns the events to raise."""
        raised: list[Event] = []
        for clock in repo.due_clocks(now, limit):
            updated = clock
            for kind in sla.due_events(clock, now):
                due = clock.warn_at if kind == "warning" else clock.due_at
                assert due is not None
                record = SlaEventRecord(
                    new_id(),
                    clock.id,
                    clock.conversation_id,
                    clock.customer_id,
                    clock.metric,
                    kind,
                    due,
                    now,
                )
                fresh = repo.add_sla_event(record)
                if kind == "warning":
                    updated = replace(updated, warned_at=now)
                else:
                    updated = replace(updated, breached_at=now)
                if fresh:
                    event_type = SlaWarning if kind == "warning" else SlaBreached
                    raised.append(
                        event_type(
                            customer_id=clock.customer_id,
                            conversation_id=clock.conversation_id,
                            metric=clock.metric,
                            policy_id=clock.policy_id,
                            due_at=due,
                        )
                    )
            repo.save_clock(updated)
        return raised

    # CSAT

    def ask_csat(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation: Conversation,
        now: datetime,
    ) -> CsatSurvey | None:
        if (
            not self.config.csat_ask
            or conversation.last_inbound_channel is None
            or conversation.csat is not None
        ):
            return None
        last = desk.last_inbound(conversation.id)
        previous = repo.surveys(conversation.id)
        if previous:
            latest = previous[-1]
            if latest.answered_at is None and latest.not_asked is None and latest.expires_at > now:
                return None
            if latest.answered_at is not None and (
                last is None or last.created_at <= latest.answered_at
            ):
                return None
        channel = last.channel if last is not None else conversation.last_inbound_channel
        survey = CsatSurvey(
            new_id(),
            conversation.id,
            conversation.customer_id,
            channel,
            now,
            now + timedelta(hours=self.config.csat_expiry_hours),
        )
        repo.add_survey(survey)
        return survey

    def csat_text(self, survey: CsatSurvey, token: str) -> str:
        link = f"{self.config.public_url.rstrip('/')}/csat/{token}"
        return (
            "How did we do? Reply with a number from 1 (poor) to 5 (excellent), "
            f"optionally followed by a comment, or rate us here: {link}"
        )

    def answer_from_reply(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation_id: str,
        text: str | None,
        now: datetime,
    ) -> bool:
        """Record a digit reply to an open survey; True when the message was the answer."""
        if not text:
            return False
        found = _DIGIT.match(text)
        if found is None:
            return False
        survey = repo.open_survey(conversation_id, now)
        if survey is None:
            return False
        comment = (found.group(2) or "").strip() or None
        self.record(repo, desk, survey, int(found.group(1)), comment, "reply", now)
        return True

    def set_availability(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        user_id: str,
        availability: str,
        now: datetime,
    ) -> Agent:
        """An agent goes online, away or offline; coming online hands them waiting work."""
        agent = set_agent(repo, desk, user_id, now, availability=availability)
        if availability == "online":
            self.backfill(repo, desk, now, [user_id])
        return agent

    def record_by_agent(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        conversation_id: str,
        score: int,
        comment: str | None,
        now: datetime,
    ) -> CsatSurvey:
        """CSAT an agent took down (on a call, at the till): it answers the open survey, or
        one made for it."""
        conversation = desk.conversation(conversation_id)
        if conversation is None:
            raise NotFound(
                "conversation_not_found", f"no conversation {conversation_id}", "conversation_id"
            )
        if conversation.csat is not None:
            raise Conflict("csat_recorded", "this conversation's CSAT was recorded already")
        survey = repo.open_survey(conversation_id, now)
        if survey is None:
            survey = CsatSurvey(
                new_id(),
                conversation.id,
                conversation.customer_id,
                conversation.last_inbound_channel or "agent",
                now,
                now + timedelta(hours=self.config.csat_expiry_hours),
            )
            _check_answer(score, comment)
            repo.add_survey(survey)
        self.record(repo, desk, survey, score, comment, "agent", now)
        return repo.survey(survey.id) or survey

    def answer_link(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        survey_id: str,
        score: int,
        comment: str | None,
        now: datetime,
    ) -> CsatSurvey:
        """A customer's answer through the signed link."""
        survey = repo.survey(survey_id)
        if survey is None:
            raise Gone("csat_gone", "this survey no longer exists", "token")
        self.record(repo, desk, survey, score, comment, "link", now)
        return repo.survey(survey.id) or survey

    def record(
        self,
        repo: DeskRepository,
        desk: ConversationDesk,
        survey: CsatSurvey,
        score: int,
        comment: str | None,
        via: str,
        now: datetime,
    ) -> None:
        _check_answer(score, comment)
        if survey.answered_at is not None:
            raise Conflict("csat_answered", "this survey was already answered")
        if survey.not_asked is not None:
            raise Conflict("csat_not_asked", f"this survey was never sent: {survey.not_asked}")
        if survey.expires_at <= now:
            raise Conflict("csat_expired", "this survey has expired")
        repo.answer_survey(survey.id, score, comment, via, now)
        desk.record_csat(survey.conversation_id, score, comment, now)


def _check_answer(score: int, comment: str | None) -> None:
    if not 1 <= score <= 5:
        raise Invalid("invalid_csat_score", "score must be 1 to 5", "score")
    if comment is not None and len(comment) > 2000:
        raise Invalid("csat_comment_too_long", "comment is at most 2000 characters", "comment")


def _in_order(clocks: dict[str, SlaClock]) -> list[SlaClock]:
    """Clocks in the order the repository gives them (by start, then id)."""
    return sorted(clocks.values(), key=lambda c: (c.started_at, c.id))

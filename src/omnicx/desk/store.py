"""SQL storage of the service desk: teams and agents, routing rules, SLA policies, clocks and
their events, canned responses, assignments, the waiting queue and CSAT surveys.

Rows that name a customer (`customer_id`) are the customer's data for privacy; CSAT comments
are free text and sealed.
"""

import weakref
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata
from omnicx.db.bulk import Prepared
from omnicx.desk.model import (
    Agent,
    BusinessHours,
    CannedResponse,
    CsatSurvey,
    QueueItem,
    RoutingRule,
    SlaClock,
    SlaEventRecord,
    SlaPolicy,
    Team,
)

ID = 36

desk_teams = sa.Table(
    "desk_teams",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.String(1000), nullable=False),
    sa.Column("assignment", sa.String(20), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("hours", JsonValue, nullable=False),
    sa.Column("holidays", JsonValue, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

desk_agents = sa.Table(
    "desk_agents",
    metadata,
    sa.Column("user_id", sa.String(ID), primary_key=True),
    sa.Column("availability", sa.String(10), nullable=False),
    sa.Column("capacity", sa.Integer(), nullable=False),
    sa.Column("skills", JsonValue, nullable=False),
    sa.Column("languages", JsonValue, nullable=False),
    sa.Column("last_assigned_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

desk_team_members = sa.Table(
    "desk_team_members",
    metadata,
    sa.Column("team_id", sa.String(ID), primary_key=True),
    sa.Column("user_id", sa.String(ID), primary_key=True, index=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

desk_routing_rules = sa.Table(
    "desk_routing_rules",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("conditions", JsonValue, nullable=False),
    sa.Column("actions", JsonValue, nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

desk_sla_policies = sa.Table(
    "desk_sla_policies",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(40), nullable=True),
    sa.Column("priority", sa.String(10), nullable=True),
    sa.Column("first_response_minutes", sa.Integer(), nullable=True),
    sa.Column("next_response_minutes", sa.Integer(), nullable=True),
    sa.Column("resolution_minutes", sa.Integer(), nullable=True),
    sa.Column("warning_percent", sa.Integer(), nullable=False),
    sa.Column("pause_when_waiting", sa.Boolean(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

desk_sla_clocks = sa.Table(
    "desk_sla_clocks",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("conversation_id", sa.String(ID), nullable=False, index=True),
    sa.Column("customer_id", sa.String(ID), nullable=False, index=True),
    sa.Column("metric", sa.String(20), nullable=False),
    sa.Column("policy_id", sa.String(ID), nullable=False),
    sa.Column("team_id", sa.String(ID), nullable=True),
    sa.Column("target_minutes", sa.Integer(), nullable=False),
    sa.Column("warning_percent", sa.Integer(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("paused_at", UtcDateTime(), nullable=True),
    sa.Column("paused_minutes", sa.Float(), nullable=False),
    sa.Column("stopped_at", UtcDateTime(), nullable=True),
    sa.Column("warn_at", UtcDateTime(), nullable=True),
    sa.Column("due_at", UtcDateTime(), nullable=True),
    sa.Column("warned_at", UtcDateTime(), nullable=True),
    sa.Column("breached_at", UtcDateTime(), nullable=True),
    sa.Index("ix_desk_sla_clocks_status_warn_at", "status", "warn_at"),
)

desk_sla_events = sa.Table(
    "desk_sla_events",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("clock_id", sa.String(ID), nullable=False),
    sa.Column("conversation_id", sa.String(ID), nullable=False, index=True),
    sa.Column("customer_id", sa.String(ID), nullable=False, index=True),
    sa.Column("metric", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("due_at", UtcDateTime(), nullable=False),
    sa.Column("raised_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("clock_id", "kind"),
)
"""One row per warning or breach: the unique (clock, kind) makes each happen once."""

desk_canned_responses = sa.Table(
    "desk_canned_responses",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("shortcut", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("language", sa.String(10), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

desk_assignments = sa.Table(
    "desk_assignments",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("conversation_id", sa.String(ID), nullable=False, index=True),
    sa.Column("customer_id", sa.String(ID), nullable=False, index=True),
    sa.Column("agent_id", sa.String(ID), nullable=False, index=True),
    sa.Column("team_id", sa.String(ID), nullable=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("weight", sa.Integer(), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("assigned_by", sa.String(100), nullable=False),
    sa.Column("assigned_at", UtcDateTime(), nullable=False),
    sa.Column("released_at", UtcDateTime(), nullable=True),
)
"""Who held which conversation when; open rows (no `released_at`) are each agent's load."""

desk_queue = sa.Table(
    "desk_queue",
    metadata,
    sa.Column("conversation_id", sa.String(ID), primary_key=True),
    sa.Column("customer_id", sa.String(ID), nullable=False, index=True),
    sa.Column("team_id", sa.String(ID), nullable=False, index=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("priority", sa.String(10), nullable=False),
    sa.Column("language", sa.String(20), nullable=True),
    sa.Column("enqueued_at", UtcDateTime(), nullable=False),
)

desk_csat_surveys = sa.Table(
    "desk_csat_surveys",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("conversation_id", sa.String(ID), nullable=False, index=True),
    sa.Column("customer_id", sa.String(ID), nullable=False, index=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("asked_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("score", sa.Integer(), nullable=True),
    sa.Column("comment", sa.Text(), nullable=True),
    sa.Column("answered_at", UtcDateTime(), nullable=True),
    sa.Column("answered_via", sa.String(10), nullable=True),
    sa.Column("not_asked", sa.String(1000), nullable=True),
)
"""A survey whose ask could not be sent keeps why in `not_asked` and takes no answer."""

CUSTOMER_TABLES = (
    desk_sla_clocks,
    desk_sla_events,
    desk_assignments,
    desk_queue,
    desk_csat_surveys,
)
"""The desk's tables holding a customer's data, by `customer_id`."""


def _team(row: Any, members: Sequence[str]) -> Team:
    week = tuple(tuple((int(a), int(b)) for a, b in day) for day in row.hours)
    hours = BusinessHours(
        row.timezone, week, frozenset(date.fromisoformat(d) for d in row.holidays)
    )
    return Team(
        row.id,
        row.name,
        row.description,
        row.assignment,
        hours,
        row.created_at,
        row.updated_at,
        tuple(members),
    )


def _clock(row: Any) -> SlaClock:
    m = row._mapping
    return SlaClock(**{c.name: m[c.name] for c in desk_sla_clocks.c})


# Statements every inbound message runs, built once (SQLAlchemy reuses their cache keys).
_RULES = sa.select(desk_routing_rules).order_by(
    desk_routing_rules.c.position, desk_routing_rules.c.created_at, desk_routing_rules.c.id
)
_POLICY = sa.select(desk_sla_policies).where(desk_sla_policies.c.id == sa.bindparam("policy_id"))
_POLICIES = sa.select(desk_sla_policies).order_by(
    desk_sla_policies.c.created_at, desk_sla_policies.c.id
)
_SAVE_CLOCK = desk_sla_clocks.update().where(desk_sla_clocks.c.id == sa.bindparam("where_id"))
_CLOCKS = (
    sa.select(desk_sla_clocks)
    .where(desk_sla_clocks.c.conversation_id == sa.bindparam("conversation_id"))
    .order_by(desk_sla_clocks.c.started_at, desk_sla_clocks.c.id)
)
_LIVE_CLOCKS = _CLOCKS.where(desk_sla_clocks.c.status.in_(("running", "paused")))
_CLOCKS_AT_DRIVER = Prepared(_CLOCKS)


_SETUP: weakref.WeakKeyDictionary[sa.Connection, dict[str, list[Any]]] = weakref.WeakKeyDictionary()
"""Routing rules and SLA policies as read on a connection: every inbound message of a batch
(one transaction) asks for them. Writing either through this repository forgets them."""


class SqlDeskRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def _setup(self, name: str, load: Callable[[], list[Any]]) -> list[Any]:
        kept = _SETUP.setdefault(self.conn, {})
        if name not in kept:
            kept[name] = load()
        return list(kept[name])

    def _changed_setup(self) -> None:
        _SETUP.pop(self.conn, None)

    # -- teams ---------------------------------------------------------------------------

    def add_team(self, team: Team) -> None:
        self.conn.execute(desk_teams.insert().values(**self._team_values(team)))

    def _team_values(self, team: Team) -> dict[str, Any]:
        return {
            "id": team.id,
            "name": team.name,
            "description": team.description,
            "assignment": team.assignment,
            "timezone": team.hours.timezone,
            "hours": [[list(pair) for pair in day] for day in team.hours.week],
            "holidays": sorted(d.isoformat() for d in team.hours.holidays),
            "created_at": team.created_at,
            "updated_at": team.updated_at,
        }

    def update_team(self, team: Team) -> None:
        values = self._team_values(team)
        values.pop("id")
        values.pop("created_at")
        self.conn.execute(desk_teams.update().where(desk_teams.c.id == team.id).values(**values))

    def team_by_name(self, name: str) -> Team | None:
        row = self.conn.execute(sa.select(desk_teams).where(desk_teams.c.name == name)).first()
        return None if row is None else _team(row, self._members([row.id]).get(row.id, []))

    def team(self, team_id: str) -> Team | None:
        row = self.conn.execute(sa.select(desk_teams).where(desk_teams.c.id == team_id)).first()
        return None if row is None else _team(row, self._members([team_id]).get(team_id, []))

    def teams(self) -> list[Team]:
        rows = list(self.conn.execute(sa.select(desk_teams).order_by(desk_teams.c.name)))
        members = self._members([r.id for r in rows])
        return [_team(r, members.get(r.id, [])) for r in rows]

    def delete_team(self, team_id: str) -> None:
        m = desk_team_members
        self.conn.execute(m.delete().where(m.c.team_id == team_id))
        self.conn.execute(desk_teams.delete().where(desk_teams.c.id == team_id))

    def _members(self, team_ids: Collection[str]) -> dict[str, list[str]]:
        m = desk_team_members
        found: dict[str, list[str]] = {}
        if not team_ids:
            return found
        rows = self.conn.execute(
            sa.select(m.c.team_id, m.c.user_id)
            .where(m.c.team_id.in_(list(team_ids)))
            .order_by(m.c.created_at, m.c.user_id)
        )
        for team_id, user_id in rows:
            found.setdefault(team_id, []).append(user_id)
        return found

    def add_member(self, team_id: str, user_id: str, now: datetime) -> bool:
        m = desk_team_members
        exists = self.conn.execute(
            sa.select(m.c.user_id).where(m.c.team_id == team_id, m.c.user_id == user_id)
        ).first()
        if exists:
            return False
        self.conn.execute(m.insert().values(team_id=team_id, user_id=user_id, created_at=now))
        return True

    def remove_member(self, team_id: str, user_id: str) -> bool:
        m = desk_team_members
        return bool(
            self.conn.execute(
                m.delete().where(m.c.team_id == team_id, m.c.user_id == user_id)
            ).rowcount
        )

    # -- agents --------------------------------------------------------------------------

    def upsert_agent(self, agent: Agent) -> None:
        values = {
            "availability": agent.availability,
            "capacity": agent.capacity,
            "skills": list(agent.skills),
            "languages": list(agent.languages),
            "updated_at": agent.updated_at,
        }
        a = desk_agents
        if self.conn.execute(sa.select(a.c.user_id).where(a.c.user_id == agent.user_id)).first():
            self.conn.execute(a.update().where(a.c.user_id == agent.user_id).values(**values))
        else:
            self.conn.execute(
                a.insert().values(
                    user_id=agent.user_id,
                    created_at=agent.created_at,
                    last_assigned_at=None,
                    **values,
                )
            )

    def agents(self, user_ids: Collection[str] | None = None) -> list[Agent]:
        """Agents with their team memberships and current load; names come from the caller."""
        a = desk_agents
        query = sa.select(a).order_by(a.c.user_id)
        if user_ids is not None:
            if not user_ids:
                return []
            query = query.where(a.c.user_id.in_(list(user_ids)))
        rows = list(self.conn.execute(query))
        ids = [r.user_id for r in rows]
        loads = self.loads(ids)
        m = desk_team_members
        teams: dict[str, list[str]] = {}
        if ids:
            for team_id, user_id in self.conn.execute(
                sa.select(m.c.team_id, m.c.user_id).where(m.c.user_id.in_(ids))
            ):
                teams.setdefault(user_id, []).append(team_id)
        return [
            Agent(
                user_id=r.user_id,
                name="",
                availability=r.availability,
                capacity=r.capacity,
                skills=tuple(r.skills),
                languages=tuple(r.languages),
                created_at=r.created_at,
                updated_at=r.updated_at,
                last_assigned_at=r.last_assigned_at,
                load=loads.get(r.user_id, 0),
                teams=tuple(sorted(teams.get(r.user_id, []))),
            )
            for r in rows
        ]

    def loads(self, user_ids: Collection[str]) -> dict[str, int]:
        s = desk_assignments
        if not user_ids:
            return {}
        rows = self.conn.execute(
            sa.select(s.c.agent_id, sa.func.sum(s.c.weight))
            .where(s.c.agent_id.in_(list(user_ids)), s.c.released_at.is_(None))
            .group_by(s.c.agent_id)
        )
        return {agent_id: int(total or 0) for agent_id, total in rows}

    def touch_agent(self, user_id: str, now: datetime) -> None:
        a = desk_agents
        self.conn.execute(a.update().where(a.c.user_id == user_id).values(last_assigned_at=now))

    # -- routing rules -------------------------------------------------------------------

    def add_rule(self, rule: RoutingRule) -> None:
        self._changed_setup()
        self.conn.execute(desk_routing_rules.insert().values(**rule.__dict__))

    def update_rule(self, rule: RoutingRule) -> None:
        self._changed_setup()
        r = desk_routing_rules
        values = {k: v for k, v in rule.__dict__.items() if k not in ("id", "created_at")}
        self.conn.execute(r.update().where(r.c.id == rule.id).values(**values))

    def rule(self, rule_id: str) -> RoutingRule | None:
        r = desk_routing_rules
        row = self.conn.execute(sa.select(r).where(r.c.id == rule_id)).first()
        return None if row is None else RoutingRule(**row._mapping)

    def rules(self) -> list[RoutingRule]:
        def load() -> list[Any]:
            return [RoutingRule(**row._mapping) for row in self.conn.execute(_RULES)]

        return self._setup("rules", load)

    def delete_rule(self, rule_id: str) -> bool:
        self._changed_setup()
        r = desk_routing_rules
        return bool(self.conn.execute(r.delete().where(r.c.id == rule_id)).rowcount)

    # -- SLA policies ---------------------------------------------------------------------

    def add_policy(self, policy: SlaPolicy) -> None:
        self._changed_setup()
        self.conn.execute(desk_sla_policies.insert().values(**policy.__dict__))

    def update_policy(self, policy: SlaPolicy) -> None:
        self._changed_setup()
        p = desk_sla_policies
        values = {k: v for k, v in policy.__dict__.items() if k not in ("id", "created_at")}
        self.conn.execute(p.update().where(p.c.id == policy.id).values(**values))

    def policy(self, policy_id: str) -> SlaPolicy | None:
        row = self.conn.execute(_POLICY, {"policy_id": policy_id}).first()
        return None if row is None else SlaPolicy(**row._mapping)

    def policies(self) -> list[SlaPolicy]:
        def load() -> list[Any]:
            return [SlaPolicy(**row._mapping) for row in self.conn.execute(_POLICIES)]

        return self._setup("policies", load)

    def delete_policy(self, policy_id: str) -> bool:
        self._changed_setup()
        p = desk_sla_policies
        return bool(self.conn.execute(p.delete().where(p.c.id == policy_id)).rowcount)

    # -- SLA clocks and events ------------------------------------------------------------

    def add_clock(self, clock: SlaClock) -> None:
        self.conn.execute(desk_sla_clocks.insert(), clock.__dict__)

    def save_clock(self, clock: SlaClock) -> None:
        values = {k: v for k, v in clock.__dict__.items() if k != "id"}
        self.conn.execute(_SAVE_CLOCK, {**values, "where_id": clock.id})

    def clocks(self, conversation_id: str, *, live: bool = False) -> list[SlaClock]:
        params = {"conversation_id": conversation_id}
        if live:
            return [_clock(r) for r in self.conn.execute(_LIVE_CLOCKS, params)]
        return [_clock(r) for r in _CLOCKS_AT_DRIVER.rows(self.conn, params)]

    def due_clocks(self, now: datetime, limit: int) -> list[SlaClock]:
        c = desk_sla_clocks
        rows = self.conn.execute(
            sa.select(c)
            .where(
                c.c.status == "running",
                sa.or_(
                    sa.and_(c.c.warn_at <= now, c.c.warned_at.is_(None)),
                    sa.and_(c.c.due_at <= now, c.c.breached_at.is_(None)),
                ),
            )
            .order_by(c.c.warn_at, c.c.id)
            .limit(limit)
        )
        return [_clock(r) for r in rows]

    def add_sla_event(self, record: SlaEventRecord) -> bool:
        """Record a warning or breach; False when that clock already had one of that kind."""
        e = desk_sla_events
        exists = self.conn.execute(
            sa.select(e.c.id).where(e.c.clock_id == record.clock_id, e.c.kind == record.kind)
        ).first()
        if exists:
            return False
        self.conn.execute(e.insert().values(**record.__dict__))
        return True

    def sla_events(self, conversation_id: str) -> list[SlaEventRecord]:
        e = desk_sla_events
        rows = self.conn.execute(
            sa.select(e).where(e.c.conversation_id == conversation_id).order_by(e.c.raised_at)
        )
        return [SlaEventRecord(**r._mapping) for r in rows]

    def move_conversation(self, source_id: str, target_id: str) -> None:
        """Point the desk's records of a merged conversation at the one it was merged into."""
        for table in (desk_sla_clocks, desk_sla_events, desk_assignments, desk_csat_surveys):
            self.conn.execute(
                table.update()
                .where(table.c.conversation_id == source_id)
                .values(conversation_id=target_id)
            )

    # -- canned responses -----------------------------------------------------------------

    def add_canned(self, canned: CannedResponse) -> None:
        self.conn.execute(desk_canned_responses.insert().values(**canned.__dict__))

    def update_canned(self, canned: CannedResponse) -> None:
        t = desk_canned_responses
        values = {k: v for k, v in canned.__dict__.items() if k not in ("id", "created_at")}
        self.conn.execute(t.update().where(t.c.id == canned.id).values(**values))

    def canned(self, canned_id: str) -> CannedResponse | None:
        t = desk_canned_responses
        row = self.conn.execute(sa.select(t).where(t.c.id == canned_id)).first()
        return None if row is None else CannedResponse(**row._mapping)

    def canned_by_shortcut(self, shortcut: str) -> CannedResponse | None:
        t = desk_canned_responses
        row = self.conn.execute(sa.select(t).where(t.c.shortcut == shortcut)).first()
        return None if row is None else CannedResponse(**row._mapping)

    def canned_list(self, q: str | None) -> list[CannedResponse]:
        t = desk_canned_responses
        query = sa.select(t).order_by(t.c.shortcut)
        if q:
            like = f"%{q.replace('%', '').replace('_', '')}%"
            query = query.where(sa.or_(t.c.shortcut.ilike(like), t.c.title.ilike(like)))
        return [CannedResponse(**r._mapping) for r in self.conn.execute(query)]

    def delete_canned(self, canned_id: str) -> bool:
        t = desk_canned_responses
        return bool(self.conn.execute(t.delete().where(t.c.id == canned_id)).rowcount)

    # -- assignments and the queue ---------------------------------------------------------

    def open_assignment(self, conversation_id: str) -> dict[str, Any] | None:
        s = desk_assignments
        row = self.conn.execute(
            sa.select(s)
            .where(s.c.conversation_id == conversation_id, s.c.released_at.is_(None))
            .order_by(s.c.assigned_at.desc())
        ).first()
        return None if row is None else dict(row._mapping)

    def add_assignment(self, values: dict[str, Any]) -> None:
        self.conn.execute(desk_assignments.insert().values(**values))

    def release(self, conversation_id: str, now: datetime) -> list[str]:
        """Close the conversation's open assignments; returns the agents they freed."""
        s = desk_assignments
        agents = [
            r.agent_id
            for r in self.conn.execute(
                sa.select(s.c.agent_id).where(
                    s.c.conversation_id == conversation_id, s.c.released_at.is_(None)
                )
            )
        ]
        if agents:
            self.conn.execute(
                s.update()
                .where(s.c.conversation_id == conversation_id, s.c.released_at.is_(None))
                .values(released_at=now)
            )
        return agents

    def last_agent(self, customer_ids: Collection[str]) -> str | None:
        s = desk_assignments
        if not customer_ids:
            return None
        row = self.conn.execute(
            sa.select(s.c.agent_id)
            .where(s.c.customer_id.in_(list(customer_ids)))
            .order_by(s.c.assigned_at.desc(), s.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else str(row.agent_id)

    def assignments(self, conversation_id: str) -> list[dict[str, Any]]:
        s = desk_assignments
        rows = self.conn.execute(
            sa.select(s).where(s.c.conversation_id == conversation_id).order_by(s.c.assigned_at)
        )
        return [dict(r._mapping) for r in rows]

    def enqueue(self, item: QueueItem) -> None:
        q = desk_queue
        self.conn.execute(q.delete().where(q.c.conversation_id == item.conversation_id))
        self.conn.execute(q.insert().values(**item.__dict__))

    def queued(self, conversation_id: str) -> bool:
        q = desk_queue
        found = self.conn.execute(
            sa.select(q.c.conversation_id).where(q.c.conversation_id == conversation_id)
        ).first()
        return found is not None

    def dequeue(self, conversation_id: str) -> bool:
        q = desk_queue
        return bool(
            self.conn.execute(q.delete().where(q.c.conversation_id == conversation_id)).rowcount
        )

    def queue(self, team_ids: Iterable[str] | None = None, limit: int = 500) -> list[QueueItem]:
        q = desk_queue
        query = sa.select(q).order_by(q.c.enqueued_at, q.c.conversation_id).limit(limit)
        if team_ids is not None:
            query = query.where(q.c.team_id.in_(list(team_ids)))
        return [QueueItem(**r._mapping) for r in self.conn.execute(query)]

    # -- CSAT ----------------------------------------------------------------------------

    def add_survey(self, survey: CsatSurvey) -> None:
        values = dict(survey.__dict__)
        values["comment"] = self._seal(survey.comment)
        self.conn.execute(desk_csat_surveys.insert().values(**values))

    def _seal(self, text: str | None) -> str | None:
        return None if text is None else self.cipher.seal(text)

    def _survey(self, row: Any) -> CsatSurvey:
        values = dict(row._mapping)
        if values["comment"] is not None:
            values["comment"] = self.cipher.open(values["comment"])
        return CsatSurvey(**values)

    def survey(self, survey_id: str) -> CsatSurvey | None:
        t = desk_csat_surveys
        row = self.conn.execute(sa.select(t).where(t.c.id == survey_id)).first()
        return None if row is None else self._survey(row)

    def open_survey(self, conversation_id: str, now: datetime) -> CsatSurvey | None:
        t = desk_csat_surveys
        row = self.conn.execute(
            sa.select(t)
            .where(
                t.c.conversation_id == conversation_id,
                t.c.answered_at.is_(None),
                t.c.not_asked.is_(None),
                t.c.expires_at > now,
            )
            .order_by(t.c.asked_at.desc())
            .limit(1)
        ).first()
        return None if row is None else self._survey(row)

    def answer_survey(
        self, survey_id: str, score: int, comment: str | None, via: str, now: datetime
    ) -> None:
        t = desk_csat_surveys
        self.conn.execute(
            t.update()
            .where(t.c.id == survey_id)
            .values(score=score, comment=self._seal(comment), answered_at=now, answered_via=via)
        )

    def survey_not_asked(self, survey_id: str, reason: str) -> None:
        t = desk_csat_surveys
        self.conn.execute(t.update().where(t.c.id == survey_id).values(not_asked=reason[:1000]))

    def surveys(self, conversation_id: str) -> list[CsatSurvey]:
        t = desk_csat_surveys
        rows = self.conn.execute(
            sa.select(t).where(t.c.conversation_id == conversation_id).order_by(t.c.asked_at)
        )
        return [self._survey(r) for r in rows]

    # -- privacy -------------------------------------------------------------------------

    def customer_rows(self, customer_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        ids = sorted(customer_ids)
        for table in CUSTOMER_TABLES:
            rows = (
                [
                    dict(r._mapping)
                    for r in self.conn.execute(sa.select(table).where(table.c.customer_id.in_(ids)))
                ]
                if ids
                else []
            )
            if table is desk_csat_surveys:
                for row in rows:
                    if row["comment"] is not None:
                        row["comment"] = self.cipher.open(row["comment"])
            found[str(table.name)] = rows
        return found

    def erase_customer(self, customer_ids: Collection[str]) -> dict[str, int]:
        ids = sorted(customer_ids)
        counts: dict[str, int] = {}
        for table in CUSTOMER_TABLES:
            counts[str(table.name)] = (
                self.conn.execute(table.delete().where(table.c.customer_id.in_(ids))).rowcount
                if ids
                else 0
            )
        return counts

    def expire_surveys(self, cutoff: datetime, *, dry_run: bool, limit: int) -> int:
        t = desk_csat_surveys
        due = sa.select(t.c.id).where(t.c.asked_at < cutoff).limit(limit)
        ids = [r.id for r in self.conn.execute(due)]
        if dry_run or not ids:
            return len(ids)
        return int(self.conn.execute(t.delete().where(t.c.id.in_(ids))).rowcount)

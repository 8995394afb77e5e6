"""SQL storage of journeys: drafts, immutable versions, what each version listens for, the
running instances with their history, human tasks, and the inbox of events and segment
changes waiting to be handled.

Instances, history, tasks and the inbox name a customer (`profile_id`) and are the customer's
data for privacy. The trigger event an instance keeps and the inbox payloads are sealed where
their keys are sensitive, as events are; a task's note is free text and sealed whole.

`running_journey` is the journey id while an instance runs and NULL once it is done: the
unique (profile_id, running_journey) lets one customer run one instance of a journey at a time,
whoever starts it (NULLs never collide).
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata
from omnicx.db.bulk import insert_many
from omnicx.orchestration.journeys import (
    HumanTask,
    Inbound,
    Instance,
    Journey,
    Transition,
    Version,
)
from omnicx.profiles.store import traits

ID = sa.String(36)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NODE = sa.String(64)

journeys = sa.Table(
    "journeys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("live_version", sa.Integer(), nullable=True),
    sa.Column("draft", JsonValue, nullable=True),
    sa.Column("draft_hash", sa.String(64), nullable=True),
    sa.Column("next_fire_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

journey_versions = sa.Table(
    "journey_versions",
    metadata,
    sa.Column("journey_id", ID, primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("definition", JsonValue, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=False),
    sa.Column("published_by", sa.String(200), nullable=False),
    sa.Column("migration", JsonValue, nullable=True),
    sa.Column("note", sa.String(500), nullable=True),
)

journey_listeners = sa.Table(
    "journey_listeners",
    metadata,
    sa.Column("journey_id", ID, primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("name", sa.String(250), primary_key=True),
    sa.Index("ix_journey_listeners_name", "name"),
)
"""(kind, name) each published version reacts to: trigger, goal and wait events, segment
entries and exits; ingestion looks here before it queues anything for journeys."""

journey_instances = sa.Table(
    "journey_instances",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("journey_id", ID, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("profile_id", ID, nullable=False),
    sa.Column("running_journey", ID, nullable=True),
    sa.Column("node", NODE, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("wake_at", UtcDateTime(), nullable=True),
    sa.Column("arrived_at", UtcDateTime(), nullable=False),
    sa.Column("waiting", sa.String(250), nullable=True),
    sa.Column("visits", JsonValue, nullable=False),
    sa.Column("variables", JsonValue, nullable=False),
    sa.Column("entry_key", sa.String(200), nullable=True),
    sa.Column("entered_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Column("outcome", sa.String(20), nullable=True),
    sa.Column("errors", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.UniqueConstraint("profile_id", "running_journey"),
    sa.UniqueConstraint("journey_id", "profile_id", "entry_key"),
    sa.Index("ix_journey_instances_place", "journey_id", "version", "node"),
    sa.Index("ix_journey_instances_wake_at", "wake_at"),
)

journey_history = sa.Table(
    "journey_history",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("instance_id", ID, nullable=False, index=True),
    sa.Column("journey_id", ID, nullable=False, index=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("node", NODE, nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("detail", JsonValue, nullable=False),
)

journey_tasks = sa.Table(
    "journey_tasks",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("instance_id", ID, nullable=False, index=True),
    sa.Column("journey_id", ID, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("node", NODE, nullable=False),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("team_id", sa.String(64), nullable=True),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("due_at", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("completed_at", UtcDateTime(), nullable=True),
    sa.Column("completed_by", sa.String(200), nullable=True),
    sa.Column("outcome", sa.String(40), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Index("ix_journey_tasks_status_team_id", "status", "team_id"),
    sa.Index("ix_journey_tasks_status_store_id", "status", "store_id"),
)

journey_inbox = sa.Table(
    "journey_inbox",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("journey_id", ID, nullable=False),
    sa.Column("profile_id", ID, nullable=False, index=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("entry", sa.Boolean(), nullable=False),
    sa.Column("payload", JsonValue, nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_journey_inbox_journey_id_id", "journey_id", "id"),
)

CUSTOMER_TABLES = (journey_instances, journey_history, journey_tasks, journey_inbox)
"""The journeys' tables holding a customer's data, by `profile_id`."""

_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _journey(row: Any) -> Journey:
    return Journey(
        id=row.id,
        name=row.name,
        description=row.description,
        status=row.status,
        live_version=row.live_version,
        draft=row.draft,
        draft_hash=row.draft_hash,
        next_fire_at=row.next_fire_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        updated_by=row.updated_by,
    )


def _version(row: Any) -> Version:
    return Version(
        journey_id=row.journey_id,
        version=row.version,
        definition=row.definition,
        hash=row.hash,
        published_at=row.published_at,
        published_by=row.published_by,
        migration=row.migration,
        note=row.note,
    )


class SqlJourneyRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    @property
    def _postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    # -- journeys and versions -----------------------------------------------------------

    def add_journey(self, journey: Journey) -> None:
        self.conn.execute(journeys.insert().values(**journey.__dict__))

    def update_journey(self, journey_id: str, **values: Any) -> None:
        self.conn.execute(journeys.update().where(journeys.c.id == journey_id).values(**values))

    def journey(self, journey_id: str, *, lock: bool = False) -> Journey | None:
        query = sa.select(journeys).where(journeys.c.id == journey_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return _journey(row) if row else None

    def hold(self, journey_ids: Collection[str]) -> list[Journey]:
        """Journeys read under a shared lock on PostgreSQL (in id order), so a publish waits
        for the caller's entries and the caller sees the version a publish made live."""
        query = sa.select(journeys).where(journeys.c.id.in_(sorted(journey_ids)))
        query = query.order_by(journeys.c.id)
        if self._postgres:
            query = query.with_for_update(read=True)
        return [_journey(r) for r in self.conn.execute(query)]

    def journey_by_name(self, name: str) -> Journey | None:
        row = self.conn.execute(sa.select(journeys).where(journeys.c.name == name)).first()
        return _journey(row) if row else None

    def journeys(self, status: str | None = None) -> list[Journey]:
        query = sa.select(journeys).order_by(journeys.c.name)
        if status is not None:
            query = query.where(journeys.c.status == status)
        return [_journey(r) for r in self.conn.execute(query)]

    def due_schedules(self, now: datetime) -> list[Journey]:
        query = (
            sa.select(journeys)
            .where(journeys.c.status == "live", journeys.c.next_fire_at <= now)
            .order_by(journeys.c.next_fire_at)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        return [_journey(r) for r in self.conn.execute(query)]

    def pending(self, now: datetime) -> tuple[bool, bool, bool]:
        """Whether a schedule is due, the inbox holds work, an instance is due (live
        journeys only): three cheap reads, so an idle pass writes nothing."""
        t, j, inbox = journey_instances, journeys, journey_inbox
        live = j.c.status == "live"
        schedule = self.conn.execute(
            sa.select(j.c.id).where(live, j.c.next_fire_at <= now).limit(1)
        ).first()
        queued = self.conn.execute(
            sa.select(inbox.c.id)
            .select_from(inbox.join(j, j.c.id == inbox.c.journey_id))
            .where(live)
            .limit(1)
        ).first()
        due = self.conn.execute(
            sa.select(t.c.id)
            .select_from(t.join(j, j.c.id == t.c.journey_id))
            .where(t.c.wake_at <= now, live)
            .limit(1)
        ).first()
        return schedule is not None, queued is not None, due is not None

    def add_version(self, version: Version) -> None:
        self.conn.execute(journey_versions.insert().values(**version.__dict__))

    def version(self, journey_id: str, version: int) -> Version | None:
        row = self.conn.execute(
            sa.select(journey_versions).where(
                journey_versions.c.journey_id == journey_id, journey_versions.c.version == version
            )
        ).first()
        return _version(row) if row else None

    def versions(self, journey_id: str) -> list[Version]:
        rows = self.conn.execute(
            sa.select(journey_versions)
            .where(journey_versions.c.journey_id == journey_id)
            .order_by(journey_versions.c.version)
        )
        return [_version(r) for r in rows]

    def last_version(self, journey_id: str) -> int:
        found = self.conn.execute(
            sa.select(sa.func.max(journey_versions.c.version)).where(
                journey_versions.c.journey_id == journey_id
            )
        ).scalar()
        return int(found or 0)

    # -- listeners -----------------------------------------------------------------------

    def set_listeners(self, journey_id: str, keep: Collection[int], new: Mapping[int, Any]) -> None:
        """Keep the listeners of versions in `keep` (still running), drop the others, and add
        `new` {version: [(kind, name)]}."""
        t = journey_listeners
        self.conn.execute(
            t.delete().where(t.c.journey_id == journey_id, t.c.version.not_in(list(keep)))
        )
        rows = [
            {"journey_id": journey_id, "version": version, "kind": kind, "name": name}
            for version, pairs in new.items()
            for kind, name in pairs
        ]
        if rows:
            self.conn.execute(t.insert(), rows)

    def listeners(self, names: Collection[str]) -> list[tuple[str, str, str, bool]]:
        """(journey id, kind, name, entry) for these names; `entry` when the listener is the
        trigger of the live version of a live journey."""
        if not names:
            return []
        t, j = journey_listeners, journeys
        found: list[tuple[str, str, str, bool]] = []
        for chunk in _chunks(sorted(names)):
            rows = self.conn.execute(
                sa.select(
                    t.c.journey_id, t.c.kind, t.c.name, t.c.version, j.c.status, j.c.live_version
                )
                .select_from(t.join(j, j.c.id == t.c.journey_id))
                .where(t.c.name.in_(chunk))
            )
            for r in rows:
                entry = (
                    r.kind in ("trigger", "segment")
                    and r.status == "live"
                    and r.version == r.live_version
                )
                found.append((r.journey_id, r.kind, r.name, entry))
        return found

    # -- instances -----------------------------------------------------------------------

    def _values(self, instance: Instance) -> dict[str, Any]:
        values = dict(instance.__dict__)
        values["visits"] = dict(instance.visits)
        values["variables"] = self.cipher.seal_sensitive(dict(instance.variables))
        values["running_journey"] = None if instance.state == "done" else instance.journey_id
        return values

    def _instance(self, row: Any) -> Instance:
        return Instance(
            id=row.id,
            journey_id=row.journey_id,
            version=row.version,
            profile_id=row.profile_id,
            node=row.node,
            state=row.state,
            wake_at=row.wake_at,
            arrived_at=row.arrived_at,
            waiting=row.waiting,
            visits=row.visits,
            variables=self.cipher.reveal(row.variables),
            entered_at=row.entered_at,
            updated_at=row.updated_at,
            ended_at=row.ended_at,
            outcome=row.outcome,
            entry_key=row.entry_key,
        )

    def add_instance(self, instance: Instance) -> None:
        self.conn.execute(
            journey_instances.insert().values(**self._values(instance), errors=0, last_error=None)
        )

    def save_instance(self, instance: Instance) -> None:
        values = self._values(instance)
        values.pop("id")
        self.conn.execute(
            journey_instances.update()
            .where(journey_instances.c.id == instance.id)
            .values(**values, errors=0, last_error=None)
        )

    def instance_failed(
        self, instance_id: str, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """Record a failed step: retried at `retry_at`, or ended as failed (None)."""
        t = journey_instances
        values: dict[str, Any] = {"errors": t.c.errors + 1, "last_error": error[:2000]}
        if retry_at is None:
            values |= {
                "state": "done",
                "wake_at": None,
                "running_journey": None,
                "ended_at": now,
                "outcome": "failed",
                "updated_at": now,
            }
        else:
            values["wake_at"] = retry_at
        self.conn.execute(t.update().where(t.c.id == instance_id).values(**values))

    def errors(self, instance_id: str) -> int:
        """How many times in a row the instance's step failed."""
        t = journey_instances
        found = self.conn.execute(sa.select(t.c.errors).where(t.c.id == instance_id)).scalar()
        return int(found or 0)

    def instance(self, instance_id: str, *, lock: bool = False) -> Instance | None:
        query = sa.select(journey_instances).where(journey_instances.c.id == instance_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return self._instance(row) if row else None

    def running(self, journey_id: str, profile_id: str, *, lock: bool = False) -> Instance | None:
        t = journey_instances
        query = sa.select(t).where(t.c.profile_id == profile_id, t.c.running_journey == journey_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return self._instance(row) if row else None

    def entries(self, journey_id: str, profile_id: str) -> tuple[int, datetime | None]:
        """How many times the customer entered, and when their last instance ended."""
        t = journey_instances
        row = self.conn.execute(
            sa.select(sa.func.count(), sa.func.max(t.c.ended_at)).where(
                t.c.journey_id == journey_id, t.c.profile_id == profile_id
            )
        ).one()
        return int(row[0]), row[1]

    def has_entry(self, journey_id: str, profile_id: str, entry_key: str) -> bool:
        t = journey_instances
        return (
            self.conn.execute(
                sa.select(t.c.id).where(
                    t.c.journey_id == journey_id,
                    t.c.profile_id == profile_id,
                    t.c.entry_key == entry_key,
                )
            ).first()
            is not None
        )

    def claim_due(self, now: datetime, limit: int) -> list[Instance]:
        """Due instances of live journeys, oldest first; on PostgreSQL locked (SKIP LOCKED) for
        the caller's transaction, so a publish and a stepper never move the same one twice."""
        t, j = journey_instances, journeys
        query = (
            sa.select(t)
            .select_from(t.join(j, j.c.id == t.c.journey_id))
            .where(t.c.wake_at <= now, j.c.status == "live")
            .order_by(t.c.wake_at, t.c.id)
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=t)
        return [self._instance(r) for r in self.conn.execute(query)]

    def running_on(self, journey_id: str, version: int, *, lock: bool = False) -> list[Instance]:
        """Every running instance of one version; locked (waiting for steps in flight) on
        PostgreSQL when `lock`."""
        t = journey_instances
        query = (
            sa.select(t)
            .where(t.c.journey_id == journey_id, t.c.version == version, t.c.state != "done")
            .order_by(t.c.id)
        )
        if lock and self._postgres:
            query = query.with_for_update()
        return [self._instance(r) for r in self.conn.execute(query)]

    def places(self, journey_id: str) -> list[tuple[int, str, str, int]]:
        """(version, node, state, count) of the running instances."""
        t = journey_instances
        rows = self.conn.execute(
            sa.select(t.c.version, t.c.node, t.c.state, sa.func.count())
            .where(t.c.journey_id == journey_id, t.c.state != "done")
            .group_by(t.c.version, t.c.node, t.c.state)
        )
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    def running_versions(self, journey_id: str) -> set[int]:
        t = journey_instances
        rows = self.conn.execute(
            sa.select(t.c.version)
            .where(t.c.journey_id == journey_id, t.c.state != "done")
            .group_by(t.c.version)
        )
        return {int(r[0]) for r in rows}

    def outcomes(self, journey_id: str) -> dict[str, int]:
        t = journey_instances
        rows = self.conn.execute(
            sa.select(t.c.outcome, sa.func.count())
            .where(t.c.journey_id == journey_id, t.c.state == "done")
            .group_by(t.c.outcome)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def groups(self, journey_id: str) -> list[tuple[str, str, str | None, int]]:
        """(split node, group, instance outcome, count): how each split's groups ended."""
        h, t = journey_history, journey_instances
        rows = self.conn.execute(
            sa.select(h.c.node, h.c.outcome, t.c.outcome, sa.func.count())
            .select_from(h.join(t, t.c.id == h.c.instance_id))
            .where(h.c.journey_id == journey_id, h.c.outcome.like("group %"))
            .group_by(h.c.node, h.c.outcome, t.c.outcome)
        )
        return [(r[0], r[1].removeprefix("group "), r[2], int(r[3])) for r in rows]

    def instances(
        self,
        journey_id: str,
        *,
        node: str | None = None,
        version: int | None = None,
        state: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[Instance]:
        t = journey_instances
        query = sa.select(t).where(t.c.journey_id == journey_id).order_by(t.c.id).limit(limit)
        if node is not None:
            query = query.where(t.c.node == node)
        if version is not None:
            query = query.where(t.c.version == version)
        if state == "running":
            query = query.where(t.c.state != "done")
        elif state is not None:
            query = query.where(t.c.state == state)
        if after is not None:
            query = query.where(t.c.id > after)
        return [self._instance(r) for r in self.conn.execute(query)]

    def of_customers(self, profile_ids: Collection[str], limit: int = 200) -> list[Instance]:
        t = journey_instances
        rows = self.conn.execute(
            sa.select(t)
            .where(t.c.profile_id.in_(sorted(profile_ids)))
            .order_by(t.c.entered_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        return [self._instance(r) for r in rows]

    # -- history -------------------------------------------------------------------------

    def add_history(self, instance: Instance, transitions: Sequence[Transition]) -> None:
        insert_many(
            self.conn,
            journey_history,
            [
                {
                    "instance_id": instance.id,
                    "journey_id": instance.journey_id,
                    "version": instance.version,
                    "profile_id": instance.profile_id,
                    "node": t.node,
                    "at": t.at,
                    "outcome": t.outcome[:40],
                    "detail": dict(t.detail),
                }
                for t in transitions
            ],
        )

    def history(self, instance_ids: Collection[str]) -> dict[str, list[Transition]]:
        h = journey_history
        found: dict[str, list[Transition]] = {}
        if not instance_ids:
            return found
        for chunk in _chunks(sorted(instance_ids)):
            rows = self.conn.execute(
                sa.select(h).where(h.c.instance_id.in_(chunk)).order_by(h.c.at, h.c.id)
            )
            for r in rows:
                found.setdefault(r.instance_id, []).append(
                    Transition(r.node, r.at, r.outcome, r.detail)
                )
        return found

    # -- tasks ---------------------------------------------------------------------------

    def _task(self, row: Any) -> HumanTask:
        values = dict(row._mapping)
        if values["note"] is not None:
            values["note"] = self.cipher.reveal(values["note"])
        return HumanTask(**values)

    def add_task(self, task: HumanTask) -> bool:
        """Insert a task unless one of that id exists (a replayed step); True when added."""
        if self.conn.execute(
            sa.select(journey_tasks.c.id).where(journey_tasks.c.id == task.id)
        ).first():
            return False
        values = dict(task.__dict__)
        values["note"] = self.cipher.seal_if(True, task.note)
        self.conn.execute(journey_tasks.insert().values(**values))
        return True

    def task(self, task_id: str, *, lock: bool = False) -> HumanTask | None:
        query = sa.select(journey_tasks).where(journey_tasks.c.id == task_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return self._task(row) if row else None

    def update_task(self, task_id: str, **values: Any) -> None:
        if values.get("note") is not None:
            values["note"] = self.cipher.seal_if(True, values["note"])
        self.conn.execute(
            journey_tasks.update().where(journey_tasks.c.id == task_id).values(**values)
        )

    def tasks(
        self,
        *,
        team_id: str | None = None,
        store_id: str | None = None,
        status: str | None = None,
        profile_ids: Collection[str] | None = None,
        limit: int = 100,
    ) -> list[HumanTask]:
        t = journey_tasks
        query = sa.select(t).order_by(t.c.due_at, t.c.id).limit(limit)
        if team_id is not None:
            query = query.where(t.c.team_id == team_id)
        if store_id is not None:
            query = query.where(t.c.store_id == store_id)
        if status is not None:
            query = query.where(t.c.status == status)
        if profile_ids is not None:
            query = query.where(t.c.profile_id.in_(sorted(profile_ids)))
        return [self._task(r) for r in self.conn.execute(query)]

    # -- inbox ---------------------------------------------------------------------------

    def add_inbound(self, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
        insert_many(
            self.conn,
            journey_inbox,
            [
                {
                    **row,
                    "payload": self.cipher.seal_sensitive(dict(row["payload"])),
                    "created_at": now,
                }
                for row in rows
            ],
        )

    def claim_inbound(self, limit: int) -> list[Inbound]:
        """The oldest inbox rows of live journeys (a paused journey's wait in the inbox)."""
        t, j = journey_inbox, journeys
        query = (
            sa.select(t)
            .select_from(t.join(j, j.c.id == t.c.journey_id))
            .where(j.c.status == "live")
            .order_by(t.c.id)
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=t)
        return [
            Inbound(
                id=r.id,
                journey_id=r.journey_id,
                profile_id=r.profile_id,
                kind=r.kind,
                name=r.name,
                entry=r.entry,
                payload=self.cipher.reveal(r.payload),
                at=r.at,
            )
            for r in self.conn.execute(query)
        ]

    def remove_inbound(self, ids: Sequence[int]) -> None:
        for chunk in _chunks(list(ids)):
            self.conn.execute(journey_inbox.delete().where(journey_inbox.c.id.in_(chunk)))

    def inbox_size(self, journey_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(journey_inbox)
        if journey_id is not None:
            query = query.where(journey_inbox.c.journey_id == journey_id)
        return int(self.conn.execute(query).scalar() or 0)

    # -- date traits ---------------------------------------------------------------------

    def trait_values(self, key: str, after: str, limit: int) -> list[tuple[str, Any]]:
        """(profile id, value) of trait `key` on live profiles, by profile id after `after`."""
        rows = self.conn.execute(
            sa.select(traits.c.profile_id, traits.c.value)
            .where(traits.c.key == key, traits.c.profile_id > after)
            .order_by(traits.c.profile_id)
            .limit(limit)
        )
        return [(r.profile_id, self.cipher.reveal(r.value)) for r in rows]

    # -- privacy -------------------------------------------------------------------------

    def customer_rows(self, profile_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        ids = sorted(profile_ids)
        found: dict[str, list[dict[str, Any]]] = {}
        for table in CUSTOMER_TABLES:
            rows: list[dict[str, Any]] = []
            for chunk in _chunks(ids):
                rows.extend(
                    dict(r._mapping)
                    for r in self.conn.execute(
                        sa.select(table).where(table.c.profile_id.in_(chunk))
                    )
                )
            for row in rows:
                for column in ("variables", "payload", "note"):
                    if row.get(column) is not None:
                        row[column] = self.cipher.reveal(row[column])
            found[str(table.name)] = rows
        return found

    def erase_customer(self, profile_ids: Collection[str]) -> dict[str, int]:
        ids = sorted(profile_ids)
        counts: dict[str, int] = {}
        for table in CUSTOMER_TABLES:
            count = 0
            for chunk in _chunks(ids):
                count += self.conn.execute(
                    table.delete().where(table.c.profile_id.in_(chunk))
                ).rowcount
            counts[str(table.name)] = count
        return counts

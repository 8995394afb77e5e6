"""The journey engine wired to storage: authoring and publishing, triggers, and the pass that
moves due instances.

    authoring   create · replace_draft · validate · preview · publish · pause · resume
                · rollback · complete_task
    reactions   EventsStored, SegmentEntered, SegmentExited → the inbox (`journey_inbox`),
                one row per journey listening, written in the transaction that stored them
    the pass    `run`: schedule and date triggers that are due, then the inbox (entries,
                goals, events waited for), then due instances, each in batches of one
                transaction; a failing instance rolls back to its savepoint and is retried
                with backoff, then ends as "failed"

Pause freezes a journey: no instance moves and no one enters; events running customers wait
for (a wait_event, the goal) stay in the inbox and are applied in order on resume; entries
seen while paused are dropped, and schedule times missed are skipped.

Publishing takes the journey's row lock and every running instance of the live version
(`FOR UPDATE` on PostgreSQL, where the pass claims instances `FOR UPDATE SKIP LOCKED`; on
SQLite the single writer does the same), so an instance is either stepped before the publish
or migrated by it, never both.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any, Protocol, runtime_checkable
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import exc

from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.db.outbox import enqueue
from omnicx.events.messages import EventsStored
from omnicx.events.store import SqlEventRepository
from omnicx.kernel import Conflict, Event, Invalid, MessageBus, NotFound, new_id
from omnicx.kernel.moments import from_micros, iso, micros
from omnicx.orchestration import migration
from omnicx.orchestration.gate import Content, Decision, SendIntent
from omnicx.orchestration.journeys import (
    TIMER,
    Advance,
    CloseTask,
    DateTrigger,
    Definition,
    DefinitionInvalid,
    EventSeen,
    Facts,
    HumanTask,
    Inbound,
    Instance,
    Journey,
    Problem,
    ScheduleTrigger,
    SendAction,
    Signal,
    Task,
    TaskAction,
    TaskClosed,
    TraitAction,
    Transition,
    Version,
    WebhookAction,
    advance,
    anniversary_due,
    begin,
    finish,
    goal_reached,
    may_enter,
    next_fire,
    parse_definition,
    trigger_matches,
    zone_of,
)
from omnicx.orchestration.messages import (
    JourneyEntered,
    JourneyExited,
    SegmentEntered,
    SegmentExited,
    TaskCompleted,
    TaskCreated,
)
from omnicx.orchestration.store.journeys import SqlJourneyRepository
from omnicx.privacy import EraseSubject, ErasureReport, ExportSection, ExportSubject
from omnicx.profiles import IdentityRules, ProfileWriter
from omnicx.profiles.model import Identifier
from omnicx.profiles.store import SqlProfileRepository

log = logging.getLogger("omnicx.journeys")

WEBHOOK = "journey.webhook"
"""Outbox topic of a webhook node's POST."""
TIMELINE_SOURCE = "journeys"
"""`source_id` of the timeline rows journeys write (channel "system")."""
EARLIEST = ZoneInfo("Etc/GMT-14")
"""The first time zone to reach any local time: schedules read in each customer's own zone
fire here first, and each customer starts at their own local time."""
MAX_ERRORS = 6
"""Failed steps in a row before an instance ends as failed (retried after 30 s, 1 min, …)."""
PRIVACY_DOMAIN = "journeys"
BATCHES = 10
"""Transactions of one kind per pass, so ingestion and sends get their turn."""


class SendPort(Protocol):
    def submit(self, uow: UnitOfWork, action: SendAction, customer_id: str) -> dict[str, Any]:
        """Hand a send to the policy gate; what it decided (outcome, channel, reason)."""


class MembersPort(Protocol):
    def __call__(self, uow: UnitOfWork, segment_id: str, after: str, limit: int) -> list[str]:
        """Profile ids in a segment, in order, after `after`."""


class ZonePort(Protocol):
    def __call__(self, uow: UnitOfWork, customer_id: str) -> str | None:
        """The customer's own time zone, if they gave one."""


@runtime_checkable
class ContentCheck(Protocol):
    """A send port that can tell, at validation and publish time, what keeps a definition's
    send nodes from rendering (a missing template, a variable the journey does not provide)."""

    def check_content(self, uow: UnitOfWork, definition: Definition) -> list[Problem]: ...


class GateSender:
    """Journeys' sends through the policy gate (`Services.submit_send`), with the templates'
    publish-time check when `check` is given."""

    def __init__(
        self,
        submit: Callable[[UnitOfWork, SendIntent], Decision],
        check: Callable[[UnitOfWork, Definition], list[Problem]] | None = None,
    ) -> None:
        self._submit = submit
        self._check = check

    def check_content(self, uow: UnitOfWork, definition: Definition) -> list[Problem]:
        return self._check(uow, definition) if self._check is not None else []

    def submit(self, uow: UnitOfWork, action: SendAction, customer_id: str) -> dict[str, Any]:
        content = action.content
        decision = self._submit(
            uow,
            SendIntent(
                send_id=action.send_id,
                customer_id=customer_id,
                purpose=action.purpose,
                category=action.category,
                priority=action.priority,
                channels=action.channels,
                content=Content(
                    template=content.get("template"),
                    text=content.get("text"),
                    subject=content.get("subject"),
                    html=content.get("html"),
                    variables=dict(content.get("variables") or {}),
                ),
                origin=action.origin,
                fallback_after_seconds=action.fallback_after_seconds,
                not_after=action.not_after,
            ),
        )
        return {
            "outcome": decision.outcome,
            "channel": decision.channel,
            "reason": decision.reason,
            "defer_until": iso(decision.defer_until) if decision.defer_until else None,
        }


def no_members(uow: UnitOfWork, segment_id: str, after: str, limit: int) -> list[str]:
    return []


def no_zone(uow: UnitOfWork, customer_id: str) -> str | None:
    return None


@dataclass
class _Pass:
    """One transaction's working set."""

    uow: UnitOfWork
    repo: SqlJourneyRepository
    profiles: SqlProfileRepository
    now: datetime
    raised: list[Event] = field(default_factory=list)
    journeys: dict[str, Journey | None] = field(default_factory=dict)

    def journey(self, journey_id: str) -> Journey | None:
        if journey_id not in self.journeys:
            self.journeys[journey_id] = self.repo.journey(journey_id)
        return self.journeys[journey_id]


class Conductor:
    def __init__(
        self,
        cipher: FieldCipher,
        rules: IdentityRules,
        sender: SendPort,
        *,
        default_zone: str = "UTC",
        members: MembersPort = no_members,
        customer_zone: ZonePort = no_zone,
    ) -> None:
        self.cipher = cipher
        self.rules = rules
        self.sender = sender
        self.default_zone = zone_of(default_zone) or ZoneInfo("UTC")
        self.members = members
        self.customer_zone = customer_zone
        self._definitions: dict[tuple[str, int], Definition] = {}
        self._segment_listeners: WeakKeyDictionary[UnitOfWork, dict[str, list[str]]] = (
            WeakKeyDictionary()
        )

    def repo(self, uow: UnitOfWork) -> SqlJourneyRepository:
        return SqlJourneyRepository(uow.conn, self.cipher)

    def register(self, bus: MessageBus) -> None:
        bus.subscribe(EventsStored, self.on_events_stored)
        bus.subscribe(SegmentEntered, self.on_segment)
        bus.subscribe(SegmentExited, self.on_segment)
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)

    # -- privacy -------------------------------------------------------------------------

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        """The customer's instances, their history, tasks and inbox rows, opened."""
        return ExportSection(
            PRIVACY_DOMAIN, self.repo(uow).customer_rows(query.subject.profile_ids)
        )

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        """Deleted for good: the definitions stay, nothing of the customer does."""
        return ErasureReport(
            PRIVACY_DOMAIN, self.repo(uow).erase_customer(query.subject.profile_ids)
        )

    # -- definitions ---------------------------------------------------------------------

    def definition(self, repo: SqlJourneyRepository, journey_id: str, version: int) -> Definition:
        """A published version's definition (immutable, so parsed once per process)."""
        key = (journey_id, version)
        found = self._definitions.get(key)
        if found is None:
            stored = repo.version(journey_id, version)
            if stored is None:
                raise NotFound(
                    "version_not_found", f"journey {journey_id} has no version {version}"
                )
            found = self._definitions[key] = parse_definition(stored.definition)
        return found

    def _journey(
        self, repo: SqlJourneyRepository, journey_id: str, *, lock: bool = False
    ) -> Journey:
        journey = repo.journey(journey_id, lock=lock)
        if journey is None:
            raise NotFound("journey_not_found", f"no journey {journey_id}", "id")
        return journey

    # -- authoring -----------------------------------------------------------------------

    def create(self, uow: UnitOfWork, source: Mapping[str, Any], actor: str) -> Journey:
        """A new journey whose draft is `source` (validated); nobody enters until published."""
        definition = parse_definition(source)
        repo = self.repo(uow)
        if repo.journey_by_name(definition.name) is not None:
            raise Conflict("journey_name_taken", f"a journey is named {definition.name!r}", "name")
        now = uow.clock.now()
        journey = Journey(
            id=new_id(),
            name=definition.name,
            description=definition.description,
            status="draft",
            live_version=None,
            draft=dict(source),
            draft_hash=definition.hash,
            next_fire_at=None,
            created_at=now,
            updated_at=now,
            created_by=actor,
            updated_by=actor,
        )
        repo.add_journey(journey)
        return journey

    def replace_draft(
        self, uow: UnitOfWork, journey_id: str, source: Mapping[str, Any], actor: str
    ) -> Journey:
        definition = parse_definition(source)
        repo = self.repo(uow)
        journey = self._journey(repo, journey_id, lock=True)
        other = repo.journey_by_name(definition.name)
        if other is not None and other.id != journey_id:
            raise Conflict("journey_name_taken", f"a journey is named {definition.name!r}", "name")
        values: dict[str, Any] = {
            "name": definition.name,
            "description": definition.description,
            "draft": dict(source),
            "draft_hash": definition.hash,
            "updated_at": uow.clock.now(),
            "updated_by": actor,
        }
        repo.update_journey(journey_id, **values)
        return replace(journey, **values)

    def _counts(
        self, repo: SqlJourneyRepository, journey: Journey
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Customers on each node of the live version, and how many of them wait there."""
        counts: dict[str, int] = {}
        waiting: dict[str, int] = {}
        for version, node, state, count in repo.places(journey.id):
            if version == journey.live_version:
                counts[node] = counts.get(node, 0) + count
                if state == "waiting":
                    waiting[node] = waiting.get(node, 0) + count
        return counts, waiting

    def _draft(self, journey: Journey, source: Mapping[str, Any] | None) -> Definition:
        if source is not None:
            return parse_definition(source)
        if journey.draft is None:
            raise Conflict("no_draft", "the journey has no draft to publish", "draft")
        return parse_definition(journey.draft)

    def _check_content(self, uow: UnitOfWork, definition: Definition) -> None:
        """Refuse a definition whose sends cannot render (see `ContentCheck`)."""
        if isinstance(self.sender, ContentCheck):
            problems = self.sender.check_content(uow, definition)
            if problems:
                raise DefinitionInvalid(problems)

    def validate(
        self, uow: UnitOfWork, journey_id: str, source: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Whether the draft (or `source`) is valid, every problem with its path, and which
        nodes of the live version hold customers a migration map must place."""
        repo = self.repo(uow)
        journey = self._journey(repo, journey_id)
        counts, _ = self._counts(repo, journey)
        try:
            definition = self._draft(journey, source)
            self._check_content(uow, definition)
        except DefinitionInvalid as error:
            return {
                "valid": False,
                "problems": [{"field": p.field, "message": p.message} for p in error.problems],
                "hash": None,
                "needs_migration": counts,
            }
        return {
            "valid": True,
            "problems": [],
            "hash": definition.hash,
            "needs_migration": counts,
        }

    def preview(
        self,
        uow: UnitOfWork,
        journey_id: str,
        raw_map: Any,
        source: Mapping[str, Any] | None = None,
        target: Definition | None = None,
    ) -> dict[str, Any]:
        """A dry run of publishing the draft with `raw_map`: who sits where now and what each
        group would do or receive next. Nothing is written."""
        repo = self.repo(uow)
        journey = self._journey(repo, journey_id)
        new = target or self._draft(journey, source)
        counts, waiting = self._counts(repo, journey)
        result: dict[str, Any] = {
            "from_version": journey.live_version,
            "to_version": repo.last_version(journey_id) + 1,
            "customers": sum(counts.values()),
            "groups": [],
            "problems": [],
        }
        if journey.live_version is None:
            return result
        old = self.definition(repo, journey_id, journey.live_version)
        groups, problems = migration.preview(old, new, counts, waiting, raw_map)
        result["groups"] = groups
        result["problems"] = [{"field": p.field, "message": p.message} for p in problems]
        return result

    def publish(
        self,
        uow: UnitOfWork,
        journey_id: str,
        raw_map: Any,
        actor: str,
        *,
        note: str | None = None,
        source: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Publish the draft (or `source`) as the next version and move the live version's
        running customers by the map, all in the caller's transaction."""
        repo = self.repo(uow)
        now = uow.clock.now()
        journey = self._journey(repo, journey_id, lock=True)
        if source is None and journey.draft is None:
            raise Conflict("no_draft", "the journey has no draft to publish", "draft")
        new = parse_definition(source if source is not None else journey.draft)
        self._check_content(uow, new)
        number = repo.last_version(journey_id) + 1
        running: list[Instance] = []
        old: Definition | None = None
        if journey.live_version is not None:
            old = self.definition(repo, journey_id, journey.live_version)
            if source is None and old.hash == new.hash:
                raise Conflict(
                    "nothing_to_publish", "the draft is the live version already", "draft"
                )
            running = repo.running_on(journey_id, journey.live_version, lock=True)
        elif raw_map:
            raise Invalid("invalid_migration", "a first version has nobody to migrate", "migration")
        counts: dict[str, int] = {}
        for instance in running:
            counts[instance.node] = counts.get(instance.node, 0) + 1
        plan = migration.plan(old, new, counts, raw_map) if old is not None else None
        repo.add_version(
            Version(
                journey_id=journey_id,
                version=number,
                definition=dict(new.source),
                hash=new.hash,
                published_at=now,
                published_by=actor,
                migration=raw_map if isinstance(raw_map, dict) else None,
                note=note,
            )
        )
        self._definitions[(journey_id, number)] = new
        moved: dict[str, int] = {}
        work = _Pass(uow, repo, self._profiles(uow), now)
        if plan is not None and old is not None:
            for instance in running:
                rule = plan.rules[instance.node]
                name = rule if isinstance(rule, str) else "follow"
                moved[name] = moved.get(name, 0) + 1
                zone = self._zone(work, instance.profile_id, new)
                advance = migration.relocate(instance, old, new, rule, number, now, zone)
                if advance.moved:
                    self._apply(work, advance, new)
        status = journey.status if journey.status == "paused" else "live"
        repo.update_journey(
            journey_id,
            status=status,
            live_version=number,
            next_fire_at=self._first_fire(new, now),
            updated_at=now,
            updated_by=actor,
        )
        keep = repo.running_versions(journey_id) | {number}
        repo.set_listeners(journey_id, keep, {number: new.listens()})
        self._raise(work)
        return {"version": number, "customers": len(running), "moved": moved}

    def rollback(
        self,
        uow: UnitOfWork,
        journey_id: str,
        to_version: int | None,
        raw_map: Any,
        actor: str,
    ) -> dict[str, Any]:
        """Publish an earlier version's definition again, as a new version, with a map."""
        repo = self.repo(uow)
        journey = self._journey(repo, journey_id, lock=True)
        if journey.live_version is None:
            raise Conflict("not_published", "the journey was never published", "id")
        wanted = to_version if to_version is not None else journey.live_version - 1
        if wanted == journey.live_version:
            raise Conflict("already_live", f"version {wanted} is live", "to_version")
        earlier = repo.version(journey_id, wanted) if wanted >= 1 else None
        if earlier is None:
            raise Invalid("unknown_version", f"no version {wanted} to roll back to", "to_version")
        return self.publish(
            uow,
            journey_id,
            raw_map,
            actor,
            note=f"rollback to version {wanted}",
            source=earlier.definition,
        )

    def pause(self, uow: UnitOfWork, journey_id: str, actor: str) -> Journey:
        repo = self.repo(uow)
        journey = self._journey(repo, journey_id, lock=True)
        if journey.status != "live":
            raise Conflict("not_live", f"the journey is {journey.status}, not live", "status")
        now = uow.clock.now()
        repo.update_journey(journey_id, status="paused", updated_at=now, updated_by=actor)
        return replace(journey, status="paused", updated_at=now, updated_by=actor)

    def resume(self, uow: UnitOfWork, journey_id: str, actor: str) -> Journey:
        repo = self.repo(uow)
        journey = self._journey(repo, journey_id, lock=True)
        if journey.status != "paused":
            raise Conflict("not_paused", f"the journey is {journey.status}, not paused", "status")
        assert journey.live_version is not None
        now = uow.clock.now()
        definition = self.definition(repo, journey_id, journey.live_version)
        values: dict[str, Any] = {
            "status": "live",
            "next_fire_at": self._first_fire(definition, now),
            "updated_at": now,
            "updated_by": actor,
        }
        repo.update_journey(journey_id, **values)
        return replace(journey, **values)

    def stats(self, uow: UnitOfWork, journey_id: str) -> dict[str, Any]:
        """Where running customers are, how the others ended, and each split's groups with
        their conversions (the holdout beside the paths, for uplift)."""
        repo = self.repo(uow)
        places = [
            {"version": v, "node": n, "state": s, "customers": c}
            for v, n, s, c in sorted(repo.places(journey_id))
        ]
        splits: dict[str, dict[str, dict[str, int]]] = {}
        for node, group, outcome, count in repo.groups(journey_id):
            entry = splits.setdefault(node, {}).setdefault(group, {"entered": 0, "converted": 0})
            entry["entered"] += count
            if outcome == "converted":
                entry["converted"] += count
        return {
            "running": sum(p["customers"] for p in places),
            "places": places,
            "ended": repo.outcomes(journey_id),
            "splits": splits,
            "inbox": repo.inbox_size(journey_id),
        }

    # -- tasks ---------------------------------------------------------------------------

    def complete_task(
        self, uow: UnitOfWork, task_id: str, outcome: str | None, note: str | None, actor: str
    ) -> HumanTask:
        """Mark an open task done; its instance moves on in the next pass."""
        repo = self.repo(uow)
        task = repo.task(task_id, lock=True)
        if task is None:
            raise NotFound("task_not_found", f"no task {task_id}", "id")
        if task.status != "open":
            raise Conflict("task_closed", f"the task is {task.status} already", "status")
        instance = repo.instance(task.instance_id, lock=True)
        waits = instance is not None and instance.waiting == f"task:{task_id}"
        if instance is not None and waits:
            node = self.definition(repo, instance.journey_id, instance.version).nodes.get(
                instance.node
            )
        else:
            node = self.definition(repo, task.journey_id, task.version).nodes.get(task.node)
        if (
            outcome is not None
            and isinstance(node, Task)
            and node.outcomes
            and outcome not in node.outcomes
        ):
            allowed = ", ".join(sorted(node.outcomes))
            raise Invalid("unknown_outcome", f"outcome must be one of {allowed}", "outcome")
        now = uow.clock.now()
        values: dict[str, Any] = {
            "status": "done",
            "completed_at": now,
            "completed_by": actor,
            "outcome": outcome,
            "note": note,
            "updated_at": now,
        }
        repo.update_task(task_id, **values)
        if instance is not None and waits:
            repo.save_instance(replace(instance, wake_at=now, updated_at=now))
        uow.raise_event(TaskCompleted(task_id, task.kind, task.profile_id, outcome, actor, now))
        return replace(task, **values)

    # -- reactions -----------------------------------------------------------------------

    def on_events_stored(self, event: EventsStored, uow: UnitOfWork) -> None:
        """Queue, for each journey listening, the stored events it reacts to."""
        names = event.track_names()
        if not names:
            return
        repo = self.repo(uow)
        listening: dict[str, dict[str, bool]] = {}
        for journey_id, _, name, entry in repo.listeners(names):
            by_journey = listening.setdefault(name, {})
            by_journey[journey_id] = by_journey.get(journey_id, False) or entry
        if not listening:
            return
        rows = []
        for stored in event.events:
            if stored.type != "track" or stored.event not in listening:
                continue
            payload = {
                "name": stored.event,
                "channel": stored.channel,
                "timestamp": iso(from_micros(stored.ts)),
                "properties": stored.properties,
                "event_id": stored.id,
            }
            for journey_id, entry in listening[stored.event].items():
                rows.append(
                    {
                        "journey_id": journey_id,
                        "profile_id": stored.profile_id,
                        "kind": "event",
                        "name": stored.event,
                        "entry": entry,
                        "payload": payload,
                        "at": from_micros(stored.ts),
                    }
                )
        repo.add_inbound(rows, uow.clock.now())

    def on_segment(self, event: SegmentEntered | SegmentExited, uow: UnitOfWork) -> None:
        on = "entry" if isinstance(event, SegmentEntered) else "exit"
        name = f"{event.segment_id}:{on}"
        repo = self.repo(uow)
        # A segment pass raises one event per customer: look each name up once per transaction.
        known = self._segment_listeners.setdefault(uow, {})
        if name not in known:
            known[name] = [j for j, _, _, entry in repo.listeners([name]) if entry]
        rows = [
            {
                "journey_id": journey_id,
                "profile_id": event.profile_id,
                "kind": "segment",
                "name": name,
                "entry": True,
                "payload": {"segment_id": event.segment_id, "on": on},
                "at": event.at,
            }
            for journey_id in known[name]
        ]
        repo.add_inbound(rows, uow.clock.now())

    # -- the pass ------------------------------------------------------------------------

    def run(self, uows: Callable[..., UnitOfWork], limit: int = 200) -> int:
        """One pass: due schedules, the inbox, then due instances; how much work it did."""
        with uows(write=False) as uow:
            schedules, inbox, due = self.repo(uow).pending(uow.clock.now())
        done = self.fire_schedules(uows) if schedules else 0
        done += self.handle_inbox(uows, limit) if inbox else 0
        done += self.step_due(uows, limit) if due or schedules or inbox else 0
        return done

    def fire_schedules(self, uows: Callable[..., UnitOfWork]) -> int:
        """Let in the customers of every schedule or date trigger now due."""
        entered = 0
        with uows() as uow:
            work = _Pass(uow, self.repo(uow), self._profiles(uow), uow.clock.now())
            for journey in work.repo.due_schedules(work.now):
                assert journey.live_version is not None
                definition = self.definition(work.repo, journey.id, journey.live_version)
                trigger = definition.trigger
                if isinstance(trigger, ScheduleTrigger):
                    entered += self._fire_schedule(work, journey, definition, trigger)
                elif isinstance(trigger, DateTrigger):
                    entered += self._fire_dates(work, journey, definition, trigger)
                work.repo.update_journey(
                    journey.id, next_fire_at=self._first_fire(definition, work.now)
                )
            self._raise(work)
            uow.commit()
        return entered

    def _fire_schedule(
        self, work: _Pass, journey: Journey, definition: Definition, trigger: ScheduleTrigger
    ) -> int:
        fired = journey.next_fire_at
        assert fired is not None
        key = f"s:{iso(fired)}"
        entered = 0
        after = ""
        while True:
            members = self.members(work.uow, trigger.segment, after, 1000)
            for profile_id in members:
                start_at = None
                if trigger.time_zone is None and trigger.cron is not None:
                    zone = self._zone(work, profile_id, definition)
                    start_at = next_fire(trigger, fired - timedelta(seconds=1), zone)
                if self._enter(
                    work, journey, definition, profile_id, entry_key=key, start_at=start_at
                ):
                    entered += 1
            if len(members) < 1000:
                return entered
            after = members[-1]

    def _fire_dates(
        self, work: _Pass, journey: Journey, definition: Definition, trigger: DateTrigger
    ) -> int:
        fired = journey.next_fire_at
        assert fired is not None
        today = fired.astimezone(EARLIEST).date()
        entered = 0
        after = ""
        while True:
            rows = work.repo.trait_values(trigger.trait, after, 1000)
            for profile_id, value in rows:
                day = anniversary_due(value, today, trigger.offset_days)
                if day is None:
                    continue
                zone = self._zone(work, profile_id, definition)
                start_at = datetime.combine(day, trigger.at, tzinfo=zone).astimezone(UTC)
                key = f"d:{day.isoformat()}"
                if self._enter(
                    work, journey, definition, profile_id, entry_key=key, start_at=start_at
                ):
                    entered += 1
            if len(rows) < 1000:
                return entered
            after = rows[-1][0]

    def _first_fire(self, definition: Definition, now: datetime) -> datetime | None:
        trigger = definition.trigger
        if isinstance(trigger, ScheduleTrigger):
            zone = zone_of(trigger.time_zone) if trigger.time_zone else EARLIEST
            return next_fire(trigger, now, zone or EARLIEST)
        if isinstance(trigger, DateTrigger):
            local = now.astimezone(EARLIEST)
            midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=EARLIEST)
            return midnight.astimezone(UTC)
        return None

    def handle_inbox(self, uows: Callable[..., UnitOfWork], limit: int) -> int:
        """Handle inbox rows, `limit` per transaction, at most `BATCHES` transactions."""
        handled = 0
        for _ in range(BATCHES):
            with uows() as uow:
                work = _Pass(uow, self.repo(uow), self._profiles(uow), uow.clock.now())
                rows = work.repo.claim_inbound(limit)
                # Journeys before instances, as publish takes them: no lock cycle.
                for journey in work.repo.hold({r.journey_id for r in rows}):
                    work.journeys[journey.id] = journey
                for row in rows:
                    self._guarded(work, None, partial(self._inbound, work, row))
                work.repo.remove_inbound([r.id for r in rows])
                self._raise(work)
                uow.commit()
            handled += len(rows)
            if len(rows) < limit:
                break
        return handled

    def _inbound(self, work: _Pass, row: Inbound) -> None:
        journey = work.journey(row.journey_id)
        if journey is None or journey.live_version is None:
            return
        repo = work.repo
        running = repo.running(journey.id, row.profile_id, lock=True)
        if row.kind == "event":
            event = row.payload
            if running is not None:
                definition = self.definition(repo, journey.id, running.version)
                facts = self._facts(work, running.profile_id, definition)
                if goal_reached(definition, event, facts, work.now):
                    detail = {"event": event.get("name")}
                    self._apply(work, finish(running, work.now, "converted", detail), definition)
                elif running.waiting == f"event:{event.get('name')}":
                    self._step(work, running, definition, EventSeen(event), facts)
                return
            if row.entry:
                definition = self.definition(repo, journey.id, journey.live_version)
                facts = self._facts(work, row.profile_id, definition)
                if trigger_matches(definition, event, facts, work.now):
                    self._enter(work, journey, definition, row.profile_id, event=event)
        elif row.entry and running is None:
            definition = self.definition(repo, journey.id, journey.live_version)
            event = {"name": f"segment {row.payload.get('on')}", "properties": dict(row.payload)}
            self._enter(work, journey, definition, row.profile_id, event=event)

    def step_due(self, uows: Callable[..., UnitOfWork], limit: int) -> int:
        """Move due instances, `limit` per transaction, at most `BATCHES` transactions (the
        worker comes back at once while there is more)."""
        moved = 0
        for _ in range(BATCHES):
            with uows() as uow:
                work = _Pass(uow, self.repo(uow), self._profiles(uow), uow.clock.now())
                due = work.repo.claim_due(work.now, limit)
                for instance in due:
                    self._guarded(work, instance, partial(self._wake, work, instance))
                self._raise(work)
                uow.commit()
            moved += len(due)
            if len(due) < limit:
                break
        return moved

    def _wake(self, work: _Pass, instance: Instance) -> None:
        definition = self.definition(work.repo, instance.journey_id, instance.version)
        signal: Signal = TIMER
        if instance.waiting and instance.waiting.startswith("task:"):
            task = work.repo.task(instance.waiting[5:])
            if task is not None and task.status == "done":
                signal = TaskClosed(task.id, task.outcome)
        self._step(work, instance, definition, signal)

    def _guarded(self, work: _Pass, instance: Instance | None, job: Callable[[], None]) -> None:
        """Run one instance's work in a savepoint: a failure undoes only that work, and the
        instance is tried again later with backoff, then ends as failed. The events the work
        raised, on the pass or straight on the unit of work (a send's `MessageDecided`), go
        with it."""
        raised = len(work.raised)
        try:
            with work.uow.savepoint(publish=False):
                job()
        except exc.OperationalError:
            raise
        except Exception as error:
            del work.raised[raised:]
            log.exception("journey work failed for %s", instance.id if instance else "the inbox")
            if instance is not None:
                self._failed(work, instance, f"{type(error).__name__}: {error}")

    def _failed(self, work: _Pass, instance: Instance, error: str) -> None:
        repo = work.repo
        attempts = repo.errors(instance.id) + 1
        if attempts < MAX_ERRORS:
            retry = work.now + timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)))
            repo.instance_failed(instance.id, error, retry, work.now)
            return
        repo.instance_failed(instance.id, error, None, work.now)
        work.raised.append(
            JourneyExited(
                instance.journey_id,
                instance.version,
                instance.id,
                instance.profile_id,
                work.now,
                "failed",
            )
        )

    # -- entering and stepping -----------------------------------------------------------

    def _enter(
        self,
        work: _Pass,
        journey: Journey,
        definition: Definition,
        profile_id: str,
        *,
        event: Mapping[str, Any] | None = None,
        entry_key: str | None = None,
        start_at: datetime | None = None,
    ) -> Instance | None:
        repo = work.repo
        assert journey.live_version is not None
        if repo.running(journey.id, profile_id) is not None:
            return None
        if entry_key is not None and repo.has_entry(journey.id, profile_id, entry_key):
            return None
        count, last_ended = repo.entries(journey.id, profile_id)
        if not may_enter(definition.reentry, False, last_ended, count > 0, work.now):
            return None
        instance = begin(
            definition,
            instance_id=new_id(),
            journey_id=journey.id,
            version=journey.live_version,
            profile_id=profile_id,
            now=work.now,
            event=event,
            entry_key=entry_key,
            start_at=start_at,
        )
        savepoint = work.uow.begin_savepoint()
        try:
            repo.add_instance(instance)
            savepoint.commit()
        except exc.IntegrityError:
            # Another worker let the customer in first (PostgreSQL).
            savepoint.rollback()
            return None
        detail = {"entry_key": entry_key} if entry_key else {}
        repo.add_history(instance, [Transition(definition.start, work.now, "entered", detail)])
        self._timeline(work, instance, definition, "Journey Entered", {})
        work.raised.append(
            JourneyEntered(journey.id, instance.version, instance.id, profile_id, work.now)
        )
        if instance.wake_at is None or instance.wake_at <= work.now:
            self._step(work, instance, definition, TIMER)
        return instance

    def _step(
        self,
        work: _Pass,
        instance: Instance,
        definition: Definition,
        signal: Signal,
        facts: Facts | None = None,
    ) -> None:
        facts = facts or self._facts(work, instance.profile_id, definition)
        result = advance(definition, instance, facts, work.now, signal)
        if result.moved or result.instance != instance:
            self._apply(work, result, definition)

    def _apply(self, work: _Pass, result: Advance, definition: Definition) -> None:
        """Write where an instance went, what it went through, and carry out its actions."""
        repo = work.repo
        instance = result.instance
        decisions: dict[str, dict[str, Any]] = {}
        for action in result.actions:
            match action:
                case SendAction():
                    decisions[action.send_id] = self.sender.submit(
                        work.uow, action, instance.profile_id
                    )
                case TaskAction():
                    self._open_task(work, instance, action)
                case CloseTask():
                    task = repo.task(action.task_id)
                    if task is not None and task.status == "open":
                        repo.update_task(action.task_id, status=action.status, updated_at=work.now)
                case WebhookAction():
                    self._webhook(work, instance, action)
                case TraitAction():
                    self._set_traits(work, instance, action)
        repo.save_instance(instance)
        transitions = [
            replace(t, detail={**t.detail, "decision": decisions[t.detail["send_id"]]})
            if t.detail.get("send_id") in decisions
            else t
            for t in result.transitions
        ]
        repo.add_history(instance, transitions)
        if instance.state == "done":
            name = "Journey Converted" if instance.outcome == "converted" else "Journey Exited"
            self._timeline(work, instance, definition, name, {"reason": instance.outcome})
            work.raised.append(
                JourneyExited(
                    instance.journey_id,
                    instance.version,
                    instance.id,
                    instance.profile_id,
                    work.now,
                    instance.outcome or "completed",
                )
            )

    def _open_task(self, work: _Pass, instance: Instance, action: TaskAction) -> None:
        task = HumanTask(
            id=action.task_id,
            instance_id=instance.id,
            journey_id=instance.journey_id,
            version=instance.version,
            node=action.node,
            profile_id=instance.profile_id,
            kind=action.kind,
            title=action.title,
            team_id=action.team_id,
            store_id=action.store_id,
            status="open",
            due_at=action.due_at,
            created_at=work.now,
            updated_at=work.now,
        )
        if work.repo.add_task(task):
            work.raised.append(
                TaskCreated(
                    task.id, task.kind, task.team_id, task.store_id, task.profile_id, task.due_at
                )
            )

    def _webhook(self, work: _Pass, instance: Instance, action: WebhookAction) -> None:
        payload = {
            "url": action.url,
            "call_id": action.call_id,
            "body": {
                "journey_id": instance.journey_id,
                "version": instance.version,
                "instance_id": instance.id,
                "node": action.node,
                "customer_id": instance.profile_id,
                "data": dict(action.body),
                "sent_at": iso(work.now),
            },
        }
        enqueue(work.uow.conn, WEBHOOK, instance.id, self.cipher.seal_sensitive(payload), work.now)

    def _set_traits(self, work: _Pass, instance: Instance, action: TraitAction) -> None:
        """A real trait change, with the journey as its source: channel "journey", the
        journey's id as `source_id`."""
        root = self._root(work, instance.profile_id)
        writer = ProfileWriter(work.profiles, self.rules, work.now, work.uow.raise_event)
        known = [
            Identifier(i["kind"], i["value"])
            for i in work.profiles.identifiers_of(root)
            if isinstance(i.get("value"), str)
        ]
        writer.prefetch(known)
        writer.set_traits(
            root,
            dict(action.traits),
            ts=micros(work.now),
            channel="journey",
            source_id=instance.journey_id,
            event_id=None,
        )
        writer.flush()

    def _timeline(
        self,
        work: _Pass,
        instance: Instance,
        definition: Definition,
        name: str,
        extra: Mapping[str, Any],
    ) -> None:
        events = SqlEventRepository(work.uow.conn, self.cipher)
        (event_id,) = events.allocate_ids(1)
        at = micros(work.now)
        kind = name.rsplit(" ", 1)[-1].lower()
        events.insert_events(
            [
                {
                    "id": event_id,
                    "source_id": TIMELINE_SOURCE,
                    "message_id": f"{instance.id}:{kind}",
                    "profile_id": instance.profile_id,
                    "type": "track",
                    "event": name,
                    "name": None,
                    "channel": "system",
                    "ts": at,
                    "received_at": at,
                    "user_id": None,
                    "anonymous_id": None,
                    "properties": {
                        "journey_id": instance.journey_id,
                        "journey": definition.name,
                        "version": instance.version,
                        "instance_id": instance.id,
                        **extra,
                    },
                    "context": {"channel": "system"},
                    "traits": None,
                }
            ]
        )

    # -- facts ---------------------------------------------------------------------------

    def _profiles(self, uow: UnitOfWork) -> SqlProfileRepository:
        return SqlProfileRepository(uow.conn, self.cipher)

    def _root(self, work: _Pass, profile_id: str) -> str:
        profile = work.profiles.get(profile_id)
        return profile.canonical_id if profile is not None else profile_id

    def _zone(self, work: _Pass, profile_id: str, definition: Definition) -> ZoneInfo:
        return (
            zone_of(self.customer_zone(work.uow, profile_id))
            or zone_of(definition.time_zone)
            or self.default_zone
        )

    def _facts(self, work: _Pass, profile_id: str, definition: Definition) -> Facts:
        profile = work.profiles.get(profile_id)
        root = profile.canonical_id if profile is not None else profile_id
        traits = {k: t.value for k, t in work.profiles.traits_of(root).items()}
        customer = {"id": root}
        if profile is not None:
            customer["created_at"] = profile.created_at  # type: ignore[assignment]
        return Facts(traits, self._zone(work, root, definition), customer)

    def _raise(self, work: _Pass) -> None:
        for event in work.raised:
            work.uow.raise_event(event)
        work.raised.clear()


def webhook_request(payload: Mapping[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    """The POST a webhook node's outbox row makes: url, JSON body and headers."""
    body = orjson.dumps(payload["body"])
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": str(payload["call_id"]),
        "User-Agent": "omnicx-journeys",
    }
    return str(payload["url"]), body, headers

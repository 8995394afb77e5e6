"""The segmenter: segment definitions, their members kept up to date, and their privacy.

Membership is kept incrementally, in two halves:

1. Reactions (bus subscribers, inside the transaction of the change) only note which
   customers to evaluate again: one insert into `segment_dirty` per transaction, whatever
   the number of events, trait changes or merges in it. With no segment defined they return
   at once, from a definition summary cached for `cache_seconds`.
2. The worker's `evaluate` pass takes the noted customers in batches, loads the facts the
   definitions need in a few queries, evaluates (`segments.matches`, pure) and records
   entries and exits: members, history, timeline rows and the `SegmentEntered` /
   `SegmentExited` events, in one transaction.

Time alone can move people in or out (a window slides past an order), so every segment
whose answer depends on time is re-evaluated every `refresh_seconds`: its members only when
time can only let them out, everyone when it can let people in. A new or changed definition
is evaluated for everyone, in the same batched passes.
"""

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import reduce
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from omnicx.consent.messages import ConsentChanged
from omnicx.conversations.messages import ConversationOpened, ConversationStatusChanged
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.events.messages import EventsStored
from omnicx.kernel import Conflict, Event, Invalid, MessageBus, NotFound, new_id
from omnicx.orchestration.messages import SegmentEntered, SegmentExited
from omnicx.orchestration.segments import (
    All,
    AnyOf,
    Condition,
    Facts,
    Needs,
    Not,
    Segment,
    TraitCondition,
    check_name,
    matches,
    needs,
    parse_condition,
)
from omnicx.orchestration.store.segments import SqlSegmentRepository
from omnicx.privacy import (
    EraseSubject,
    ErasureReport,
    ExportSection,
    ExportSubject,
)
from omnicx.profiles import ProfileCreated, ProfilesMerged, ProfileUnmerged, TraitsChanged
from omnicx.profiles.store import SqlProfileRepository

log = logging.getLogger("omnicx.segments")

DOMAIN = "segments"
_ABSENT = object()
"""A trait the customer does not have (which is not the same as one set to null)."""
SAMPLE_TRAITS = 10
"""Most traits shown per sampled member: those the definition tests."""


class ConsentLookup(Protocol):
    """Whether the customer may be contacted for `purpose` on `channel` now (the consent
    domain's answer, bound by the composition root)."""

    def __call__(self, uow: UnitOfWork, customer_id: str, purpose: str, channel: str) -> bool: ...


def no_consent(uow: UnitOfWork, customer_id: str, purpose: str, channel: str) -> bool:
    """Until a consent domain answers, nobody has consented to anything."""
    return False


@dataclass(frozen=True)
class Member:
    profile_id: str
    since: datetime | None
    display_name: str | None
    traits: dict[str, Any]


@dataclass(frozen=True)
class Preview:
    size: int
    sample: list[Member]
    scanned: int
    complete: bool
    """False when the dry run stopped at its limit of customers before seeing everyone."""


@dataclass(frozen=True)
class _Flush(Event):
    """Raised once per transaction that noted customers: writes the notes in one insert."""


class Segmenter:
    def __init__(
        self,
        cipher: FieldCipher,
        *,
        consent: ConsentLookup = no_consent,
        refresh_seconds: float = 300.0,
        batch: int = 500,
        scan_batch: int = 5000,
        cache_seconds: float = 2.0,
    ) -> None:
        self.cipher = cipher
        self.consent = consent
        self.refresh_seconds = refresh_seconds
        self.batch = batch
        self.scan_batch = scan_batch
        """Customers per transaction of a pass over everyone (or every member): larger than
        a batch of noted customers, because a pass over a million customers would otherwise
        spend its time committing."""
        self.cache_seconds = cache_seconds
        self._cache: tuple[float, Needs | None] = (-1e18, None)
        self._pending: WeakKeyDictionary[UnitOfWork, set[str]] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def repo(self, uow: UnitOfWork) -> SqlSegmentRepository:
        return SqlSegmentRepository(uow.conn, self.cipher)

    # -- definitions -----------------------------------------------------------------------

    def create(self, uow: UnitOfWork, name: str, description: str, definition: Any) -> Segment:
        name = check_name(name)
        parse_condition(definition)
        repo = self.repo(uow)
        if repo.by_name(name) is not None:
            raise Conflict("segment_exists", f"a segment named {name!r} exists already", "name")
        now = uow.clock.now()
        segment = Segment(
            id=new_id(),
            name=name,
            description=description,
            definition=definition,
            version=1,
            created_at=now,
            updated_at=now,
            scan="all",
            scan_after="",
            refreshed_at=now,
        )
        repo.add(segment)
        uow.on_commit(self.forget)
        return segment

    def update(
        self,
        uow: UnitOfWork,
        segment_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        definition: Any = None,
    ) -> Segment:
        """Change a segment; a new definition is evaluated again for everyone (members stay
        members until the pass reaches them)."""
        repo = self.repo(uow)
        segment = self.get(uow, segment_id, lock=True)
        changes: dict[str, Any] = {}
        if name is not None:
            name = check_name(name)
            other = repo.by_name(name)
            if other is not None and other.id != segment_id:
                raise Conflict("segment_exists", f"a segment named {name!r} exists already", "name")
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        now = uow.clock.now()
        if definition is not None and definition != segment.definition:
            parse_condition(definition)
            changes.update(
                definition=definition,
                version=segment.version + 1,
                scan="all",
                scan_after="",
                refreshed_at=now,
            )
        if not changes:
            return segment
        updated = replace(segment, updated_at=now, **changes)
        repo.update(updated)
        uow.on_commit(self.forget)
        return updated

    def delete(self, uow: UnitOfWork, segment_id: str) -> None:
        """Delete a segment and its memberships (the history and timeline rows stay)."""
        self.get(uow, segment_id, lock=True)
        self.repo(uow).delete(segment_id)
        uow.on_commit(self.forget)

    def get(self, uow: UnitOfWork, segment_id: str, *, lock: bool = False) -> Segment:
        segment = self.repo(uow).get(segment_id, lock=lock)
        if segment is None:
            raise NotFound("segment_not_found", f"no segment {segment_id}", "segment_id")
        return segment

    def all(self, uow: UnitOfWork) -> list[Segment]:
        return self.repo(uow).all()

    def size(self, uow: UnitOfWork, segment_id: str) -> tuple[Segment, int]:
        segment = self.get(uow, segment_id)
        return segment, self.repo(uow).size(segment_id)

    def sample(self, uow: UnitOfWork, segment_id: str, limit: int) -> list[Member]:
        """Members, longest-standing first, with their name and the traits the definition
        tests."""
        segment = self.get(uow, segment_id)
        found = self.repo(uow).sample(segment_id, limit)
        return self._describe(uow, found, segment.condition)

    def memberships(self, uow: UnitOfWork, profile_id: str) -> list[tuple[Segment, datetime]]:
        return self.repo(uow).memberships(profile_id)

    def preview(
        self, uow: UnitOfWork, definition: Any, *, limit: int, max_customers: int
    ) -> Preview:
        """A dry run of an unsaved definition: how many customers match it now, and some of
        them; at most `max_customers` are evaluated."""
        condition = parse_condition(definition)
        repo = self.repo(uow)
        now = uow.clock.now()
        wanted = needs(condition)
        size, scanned, after = 0, 0, ""
        chosen: list[tuple[str, datetime | None]] = []
        complete = True
        while True:
            room = max_customers - scanned
            if room <= 0:
                complete = not repo.live_after(after, 1)
                break
            ids = repo.live_after(after, min(self.batch, room))
            if not ids:
                break
            found = repo.profiles(ids)
            facts = self._facts(uow, repo, {i: found[i][1] for i in ids}, wanted, now)
            for profile_id in ids:
                if matches(condition, facts[profile_id], now):
                    size += 1
                    if len(chosen) < limit:
                        chosen.append((profile_id, None))
            scanned += len(ids)
            after = ids[-1]
        return Preview(size, self._describe(uow, chosen, condition), scanned, complete)

    def _describe(
        self,
        uow: UnitOfWork,
        found: Sequence[tuple[str, datetime | None]],
        condition: Condition,
    ) -> list[Member]:
        if not found:
            return []
        keys = sorted(k for k in needs(condition).trait_keys if "." not in k)[:SAMPLE_TRAITS]
        profiles = SqlProfileRepository(uow.conn, self.cipher)
        traits = self.repo(uow).traits([profile_id for profile_id, _ in found])
        members = []
        for profile_id, since in found:
            profile = profiles.get(profile_id)
            held = traits.get(profile_id, {})
            members.append(
                Member(
                    profile_id=profile_id,
                    since=since,
                    display_name=profile.display_name if profile else None,
                    traits={k: held[k] for k in keys if k in held},
                )
            )
        return members

    # -- reactions: note who to evaluate again ----------------------------------------------

    def register(self, bus: MessageBus) -> None:
        bus.subscribe(EventsStored, self._on_events)
        bus.subscribe(TraitsChanged, self._on_traits)
        bus.subscribe(ProfileCreated, self._on_created)
        bus.subscribe(ProfilesMerged, self._on_merged)
        bus.subscribe(ProfileUnmerged, self._on_unmerged)
        bus.subscribe(ConversationOpened, self._on_conversation)
        bus.subscribe(ConversationStatusChanged, self._on_conversation)
        bus.subscribe(ConsentChanged, self._on_consent)
        bus.subscribe(_Flush, self._flush)
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)

    def forget(self) -> None:
        """Drop the cached summary of the definitions (after one changed)."""
        self._cache = (-1e18, None)

    def interest(self, uow: UnitOfWork) -> Needs | None:
        """What the defined segments read (None: no segment), cached for a few seconds."""
        stamp, cached = self._cache
        if time.monotonic() - stamp > self.cache_seconds:
            conditions = [c for s in self.repo(uow).all() if (c := _condition(s)) is not None]
            cached = reduce(Needs.__or__, map(needs, conditions), Needs()) if conditions else None
            self._cache = (time.monotonic(), cached)
        return cached

    def note(self, uow: UnitOfWork, profile_ids: Iterable[str]) -> None:
        """Evaluate these customers again once `uow` commits (one insert per transaction)."""
        with self._lock:
            pending = self._pending.get(uow)
            if pending is None:
                pending = self._pending[uow] = set()
                fresh = True
            else:
                fresh = False
            pending.update(profile_ids)
        if fresh:
            uow.raise_event(_Flush())

    def _flush(self, event: _Flush, uow: UnitOfWork) -> None:
        with self._lock:
            pending = self._pending.pop(uow, None)
        if pending:
            self.repo(uow).mark(sorted(pending), uow.clock.now())

    def _on_events(self, event: EventsStored, uow: UnitOfWork) -> None:
        wanted = self.interest(uow)
        if wanted is None or not wanted.event_names:
            return
        names = wanted.event_names
        found = {e.profile_id for e in event.events if e.type == "track" and e.event in names}
        if found:
            self.note(uow, found)

    def _on_traits(self, event: TraitsChanged, uow: UnitOfWork) -> None:
        wanted = self.interest(uow)
        if wanted is None:
            return
        if wanted.any_trait or not wanted.trait_keys.isdisjoint(event.changes):
            self.note(uow, (event.profile_id,))

    def _on_created(self, event: ProfileCreated, uow: UnitOfWork) -> None:
        if self.interest(uow) is not None:
            self.note(uow, (event.profile_id,))

    def _on_merged(self, event: ProfilesMerged, uow: UnitOfWork) -> None:
        if self.interest(uow) is not None:
            self.note(uow, (event.survivor_id, event.loser_id))

    def _on_unmerged(self, event: ProfileUnmerged, uow: UnitOfWork) -> None:
        if self.interest(uow) is not None:
            self.note(uow, (event.survivor_id, event.restored_id))

    def _on_conversation(
        self, event: ConversationOpened | ConversationStatusChanged, uow: UnitOfWork
    ) -> None:
        wanted = self.interest(uow)
        if wanted is not None and wanted.conversations and event.customer_id:
            self.note(uow, (event.customer_id,))

    def _on_consent(self, event: ConsentChanged, uow: UnitOfWork) -> None:
        wanted = self.interest(uow)
        if wanted is not None and wanted.consents:
            self.note(uow, (event.customer_id,))

    # -- the evaluation pass -----------------------------------------------------------------

    def evaluate(self, uows: Callable[..., UnitOfWork]) -> int:
        """One pass: a batch of noted customers, a batch of a segment's pass over customers,
        and the scheduled refreshes now due. Returns how many customers were evaluated (or
        passes started), 0 when there was nothing to do."""
        with uows(write=False) as uow:
            repo = self.repo(uow)
            marked = repo.any_marked()
            defined = repo.all()
            now = uow.clock.now()
        done = 0
        if marked:
            with uows() as uow:
                done += self._evaluate_marked(uow)
                uow.commit()
        if any(s.scan is not None for s in defined):
            with uows() as uow:
                done += self._scan(uow)
                uow.commit()
        if any(self._due(s, now) for s in defined if s.scan is None):
            with uows() as uow:
                done += self._start_refreshes(uow)
                uow.commit()
        return done

    def _due(self, segment: Segment, now: datetime) -> bool:
        if _condition(segment) is None or segment.refresh_scope() is None:
            return False
        last = segment.refreshed_at
        return last is None or now - last >= timedelta(seconds=self.refresh_seconds)

    def _evaluate_marked(self, uow: UnitOfWork) -> int:
        repo = self.repo(uow)
        mark_ids, profile_ids = repo.take_marked(self.batch)
        if not mark_ids:
            return 0
        segments = [s for s in repo.all() if _condition(s) is not None]
        if segments:
            self._apply(uow, repo, segments, profile_ids)
        repo.unmark(mark_ids)
        return len(profile_ids)

    def _scan(self, uow: UnitOfWork) -> int:
        repo = self.repo(uow)
        segment = repo.next_scan()
        if segment is None:
            return 0
        if _condition(segment) is None:
            repo.set_scan(segment.id, None, "")
            return 1
        known: dict[str, tuple[str, datetime]] | None = None
        if segment.scan == "members":
            ids = repo.members_after(segment.id, segment.scan_after, self.scan_batch)
        else:
            page = repo.live_page(segment.scan_after, self.scan_batch)
            ids = list(page)
            known = {profile_id: (profile_id, created) for profile_id, created in page.items()}
        if ids:
            self._apply(uow, repo, [segment], ids, known)
        finished = len(ids) < self.scan_batch
        repo.set_scan(segment.id, None if finished else segment.scan, "" if finished else ids[-1])
        return max(len(ids), 1)

    def _start_refreshes(self, uow: UnitOfWork) -> int:
        repo = self.repo(uow)
        now = uow.clock.now()
        started = 0
        for segment in repo.idle():
            if self._due(segment, now):
                repo.set_scan(segment.id, segment.refresh_scope(), "", refreshed_at=now)
                started += 1
        return started

    def _apply(
        self,
        uow: UnitOfWork,
        repo: SqlSegmentRepository,
        segments: list[Segment],
        candidates: Collection[str],
        known: Mapping[str, tuple[str, datetime]] | None = None,
    ) -> None:
        """Evaluate `segments` for these customers (and the live customers they were merged
        into), then record every entry and exit. `known` gives the candidates' (canonical id,
        created at) when the caller read them already."""
        now = uow.clock.now()
        found = dict(known) if known is not None else repo.profiles(candidates)
        roots = {found[c][0] for c in candidates if c in found}
        missing = roots - set(found)
        if missing:
            found.update(repo.profiles(missing))
        live = {r: found[r][1] for r in roots if r in found and found[r][0] == r}
        conditions = {s.id: s.condition for s in segments}
        wanted_needs = reduce(Needs.__or__, map(needs, conditions.values()), Needs())
        if all(map(_traits_only, conditions.values())):
            wanted = self._by_trait_values(repo, conditions, live, wanted_needs, now)
        else:
            facts = self._facts(uow, repo, live, wanted_needs, now)
            wanted = {
                (s.id, r)
                for s in segments
                for r in live
                if matches(conditions[s.id], facts[r], now)
            }
        everyone = set(candidates) | roots
        current = repo.current(everyone, list(conditions))
        by_id = {s.id: s for s in segments}
        timeline: list[tuple[Segment, str, str, datetime]] = []
        for segment_id, profile_id in repo.enter_many(sorted(wanted - current), now):
            uow.raise_event(SegmentEntered(segment_id, profile_id, now))
            timeline.append((by_id[segment_id], profile_id, "Segment Entered", now))
        for segment_id, profile_id in repo.exit_many(sorted(current - wanted), now):
            uow.raise_event(SegmentExited(segment_id, profile_id, now))
            timeline.append((by_id[segment_id], profile_id, "Segment Exited", now))
        repo.timeline(timeline)

    def _by_trait_values(
        self,
        repo: SqlSegmentRepository,
        conditions: Mapping[str, Condition],
        live: Mapping[str, datetime],
        wanted: Needs,
        now: datetime,
    ) -> set[tuple[str, str]]:
        """(segment id, customer) pairs that match, for conditions over traits alone: their
        answer depends on nothing but the values of the traits they name, so each distinct
        combination of values is evaluated once (a pass over a million customers meets a
        handful of tiers and countries). Values that cannot be a key (lists, objects) are
        evaluated customer by customer."""
        keys = sorted({key.split(".")[0] for key in wanted.trait_keys})
        absent = [_ABSENT] * len(keys)
        values = repo.traits(list(live), keys)
        answers: dict[tuple[Any, ...], tuple[str, ...]] = {}
        found: set[tuple[str, str]] = set()
        for root, created_at in live.items():
            held = values.get(root) or {}
            # The type is part of the key: 1, 1.0 and True are equal but not the same value.
            signature = tuple([(v.__class__, v) for v in map(held.get, keys, absent)])
            try:
                matched = answers.get(signature)
            except TypeError:
                signature, matched = (), None
            if matched is None:
                facts = Facts(root, created_at, held)
                matched = tuple(i for i, c in conditions.items() if matches(c, facts, now))
                if signature:
                    answers[signature] = matched
            for segment_id in matched:
                found.add((segment_id, root))
        return found

    def _facts(
        self,
        uow: UnitOfWork,
        repo: SqlSegmentRepository,
        live: Mapping[str, datetime],
        wanted: Needs,
        now: datetime,
    ) -> dict[str, Facts]:
        facts = repo.facts(live, wanted, now)
        if wanted.consents:
            for root, known in facts.items():
                granted = frozenset(
                    pair for pair in wanted.consents if self.consent(uow, root, *pair)
                )
                facts[root] = replace(known, consents=granted)
        return facts

    # -- privacy -----------------------------------------------------------------------------

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        return ExportSection(DOMAIN, self.repo(uow).customer_rows(query.subject.profile_ids))

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        return ErasureReport(DOMAIN, self.repo(uow).erase(query.subject.profile_ids))


def _traits_only(condition: Condition) -> bool:
    """Whether the condition reads nothing but traits (no events, conversations, consents,
    nor expressions, which may read the customer or the time)."""
    match condition:
        case All(children) | AnyOf(children):
            return all(map(_traits_only, children))
        case Not(child):
            return _traits_only(child)
        case TraitCondition():
            return True
    return False


def _condition(segment: Segment) -> Condition | None:
    """A stored definition's tree; None (and a log line) if it no longer passes the checks
    (an expression function withdrawn since), so one bad segment cannot stop the others."""
    try:
        return segment.condition
    except Invalid as error:
        log.error("segment %s is skipped: %s", segment.id, error.message)
        return None

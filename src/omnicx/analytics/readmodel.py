"""Journey analytics wired to the bus: the read models follow the facts as they are stored,
in the same transaction, and the channel reports read them.

Every reaction turns what it hears into facts and keeps them for its unit of work; they are
applied together, set-based, when the transaction's `EventsStored` arrives (an ingest chunk:
its merges, trait changes and events in one pass) or at the end of the reactions otherwise
(`_Apply`). One pass loads the summaries of the customers concerned in one query, moves
them forward in memory, writes back those that changed, and adds to each counter one upsert
per key.

Merges fold the loser's summary into the survivor's. What stays approximate: the loser's
past monthly marks and its `new_customers` count stay where they were counted (a customer
merged later was, until then, two); an unmerge leaves the history with the survivor, and the
restored profile starts afresh from its next fact; a fact older than a customer's latest
touch is counted everywhere but leaves their path alone.
"""

import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from omnicx.analytics import reports
from omnicx.analytics.model import (
    AGE_TRAITS,
    BIRTHDAY_TRAITS,
    CONTACT,
    INTERACTION,
    PURCHASE,
    SENT,
    AnalyticsConfig,
    Customer,
    Deltas,
    Fact,
    band_from_traits,
)
from omnicx.analytics.rollup import advance, count_sent, facts_from_rows, fold, seconds_of
from omnicx.analytics.store.rebuild import Progress, ReadModelRebuild, Rebuilt, rebuild
from omnicx.analytics.store.repository import (
    Row,
    SqlAnalyticsRepository,
    customer_of,
    customer_row,
)
from omnicx.analytics.store.service import ServiceAnalytics
from omnicx.commerce.messages import OrderPlaced
from omnicx.conversations.messages import ConversationOpened, MessageReceived, MessageSent
from omnicx.db import UnitOfWork
from omnicx.events.messages import EventsStored
from omnicx.kernel import Invalid, MessageBus, Settle
from omnicx.kernel.moments import micros
from omnicx.orchestration.messages import MessageDecided
from omnicx.privacy import EraseSubject, ErasureReport, ExportSection, ExportSubject
from omnicx.profiles import ProfilesMerged, TraitsChanged

DOMAIN = "analytics"

MessageDetails = Callable[[UnitOfWork, str], tuple[datetime, Mapping[str, Any]] | None]
"""A conversation message's time and metadata, by id (a call's duration, a visit's store)."""


@dataclass(frozen=True)
class _Apply(Settle):
    """Apply what this transaction's reactions collected (raised by each of them; the first
    to run finds the facts, the others nothing)."""


@dataclass
class _Pending:
    savepoint: Any = None
    """The savepoint the facts were heard in (None: the transaction itself): if it rolls
    back, they are forgotten with it."""
    facts: list[Fact] = field(default_factory=list)
    merges: list[tuple[str, str]] = field(default_factory=list)
    opened: set[str] = field(default_factory=set)
    """Conversations opened in this transaction: their first message is a contact."""
    unsure: set[str] = field(default_factory=set)
    """Customer ids from other domains' events, which may name a merged profile."""


class Analytics:
    """The read models' reactions and the channel reports over them."""

    def __init__(self, config: AnalyticsConfig, message_details: MessageDetails) -> None:
        self.config = config
        self.message_details = message_details
        self._pending: weakref.WeakKeyDictionary[UnitOfWork, list[_Pending]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def repo(self, uow: UnitOfWork) -> SqlAnalyticsRepository:
        return SqlAnalyticsRepository(uow.conn)

    def register(self, bus: MessageBus) -> None:
        bus.subscribe(EventsStored, self._on_events)
        bus.subscribe(ProfilesMerged, self._on_merged)
        bus.subscribe(TraitsChanged, self._on_traits)
        bus.subscribe(ConversationOpened, self._on_opened)
        bus.subscribe(MessageReceived, self._on_received)
        bus.subscribe(MessageSent, self._on_sent)
        bus.subscribe(MessageDecided, self._on_decided)
        bus.subscribe(OrderPlaced, self._on_order)
        bus.subscribe(_Apply, self._on_apply)
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)

    # -- reactions ------------------------------------------------------------------------

    def _keep(self, uow: UnitOfWork) -> _Pending:
        """What the current savepoint (or the transaction) has heard so far."""
        savepoint = uow.current_savepoint()
        with self._lock:
            heard = self._pending.setdefault(uow, [])
            if not heard or heard[-1].savepoint is not savepoint:
                heard.append(_Pending(savepoint))
            return heard[-1]

    def _take(self, uow: UnitOfWork) -> _Pending | None:
        """Everything heard and not applied yet, less what savepoints rolled back since."""
        with self._lock:
            heard = self._pending.pop(uow, None)
        if heard is None:
            return None
        taken = _Pending()
        for part in heard:
            savepoint = part.savepoint
            if savepoint is not None and not savepoint.is_active and not uow.released(savepoint):
                continue  # its savepoint rolled back
            taken.facts.extend(part.facts)
            taken.merges.extend(part.merges)
            taken.opened |= part.opened
            taken.unsure |= part.unsure
        return taken

    def _add(self, uow: UnitOfWork, fact: Fact, *, unsure: bool = True) -> None:
        pending = self._keep(uow)
        pending.facts.append(fact)
        if unsure:
            pending.unsure.add(fact.customer_id)
        uow.raise_event(_Apply())

    def _on_events(self, event: EventsStored, uow: UnitOfWork) -> None:
        pending = self._take(uow) or _Pending()
        redirect = {loser: survivor for survivor, loser in pending.merges}
        canon = _follow(redirect) if redirect else str
        pending.facts.extend(facts_from_rows(event.rows, self.config, canon))
        self.apply(uow, pending)

    def _on_merged(self, event: ProfilesMerged, uow: UnitOfWork) -> None:
        self._keep(uow).merges.append((event.survivor_id, event.loser_id))
        uow.raise_event(_Apply())

    def _on_traits(self, event: TraitsChanged, uow: UnitOfWork) -> None:
        changes = event.changes
        if not any(key in changes for key in _AGE_KEYS):
            return
        traits = {key: change["new"] for key, change in changes.items() if key in _AGE_KEYS}
        now = uow.clock.now()
        band = band_from_traits(traits, now.date())
        if band is not None:
            self._add(uow, Fact(event.profile_id, "", micros(now), 0, band=band), unsure=False)

    def _on_opened(self, event: ConversationOpened, uow: UnitOfWork) -> None:
        self._keep(uow).opened.add(event.conversation_id)

    def _on_received(self, event: MessageReceived, uow: UnitOfWork) -> None:
        pending = self._keep(uow)
        flags = INTERACTION
        if event.reopened or event.conversation_id in pending.opened:
            flags |= CONTACT
        ts = micros(uow.clock.now())
        seconds = 0
        store = ""
        if event.kind != "message":
            details = self.message_details(uow, event.message_id)
            if details is not None:
                at, metadata = details
                ts = micros(at)
                seconds = seconds_of(metadata)
                named = metadata.get("store")
                store = named.strip()[:100] if isinstance(named, str) else ""
        self._add(uow, Fact(event.customer_id, event.channel, ts, flags, 0, store, seconds))

    def _on_sent(self, event: MessageSent, uow: UnitOfWork) -> None:
        if event.direction != "outbound" or not event.customer_id:
            return
        fact = Fact(
            event.customer_id,
            event.channel,
            micros(uow.clock.now()),
            SENT,
            seconds=self.config.reply_seconds,
        )
        self._add(uow, fact, unsure=False)

    def _on_decided(self, event: MessageDecided, uow: UnitOfWork) -> None:
        if event.outcome != "send" or event.channel is None:
            return
        fact = Fact(event.customer_id, event.channel, micros(event.at), SENT)
        self._add(uow, fact, unsure=False)

    def _on_order(self, event: OrderPlaced, uow: UnitOfWork) -> None:
        if event.customer_id is None:
            return
        fact = Fact(
            event.customer_id,
            event.channel,
            micros(event.at),
            INTERACTION | PURCHASE,
            amount=event.total if event.currency == self.config.currency else 0,
            store=event.location_id or "",
        )
        self._add(uow, fact)

    def _on_apply(self, event: _Apply, uow: UnitOfWork) -> None:
        pending = self._take(uow)
        if pending is not None and (pending.facts or pending.merges):
            self.apply(uow, pending)

    # -- one pass over a transaction's facts -------------------------------------------------

    def apply(self, uow: UnitOfWork, pending: _Pending) -> None:
        repo = self.repo(uow)
        config = self.config
        deltas = Deltas()
        redirect = {loser: survivor for survivor, loser in pending.merges}
        if pending.unsure:
            found = repo.canonical(pending.unsure)
            redirect.update({k: v for k, v in found.items() if k != v and k not in redirect})
        canon = _follow(redirect)
        by_customer: dict[str, list[Fact]] = {}
        for fact in pending.facts:
            if fact.flags & SENT:
                count_sent(fact, deltas)
                continue
            customer_id = canon(fact[0]) if redirect else fact[0]
            facts = by_customer.get(customer_id)
            if facts is None:
                by_customer[customer_id] = [fact]
            else:
                facts.append(fact)
        wanted = set(by_customer)
        for survivor, loser in pending.merges:
            wanted.add(survivor)
            wanted.add(loser)
        stored = repo.customer_rows(sorted(wanted)) if wanted else {}
        states: dict[str, Customer] = {cid: customer_of(row) for cid, row in stored.items()}
        changed: set[str] = set()
        for survivor, loser in pending.merges:
            merged = fold(states.get(survivor), states.pop(loser, None), survivor, config)
            if merged is not None:
                states[survivor] = merged
                changed.add(survivor)
        for customer_id, facts in by_customer.items():
            state = states.get(customer_id)
            if state is None:
                state = states[customer_id] = Customer(customer_id)
                changed.add(customer_id)
            if len(facts) > 1:
                facts.sort(key=_ts)
            if advance(state, facts, config, deltas):
                changed.add(customer_id)
        gone = [cid for cid in stored if cid not in states]
        self._write(
            repo, stored, {cid: states[cid] for cid in changed if cid in states}, gone, deltas
        )

    def _write(
        self,
        repo: SqlAnalyticsRepository,
        stored: dict[str, Row],
        states: dict[str, Customer],
        gone: list[str],
        deltas: Deltas,
    ) -> None:
        """Write the summaries that changed (`states`) and drop the merged ones, moving the
        cohort counters with them, then add the counters."""
        rows: list[Row] = []
        for customer_id, state in states.items():
            row = customer_row(state)
            before = stored.get(customer_id)
            if row != before:
                rows.append(row)
                if before is not None:
                    _cohort(deltas, before, -1)
                _cohort(deltas, row, 1)
        for customer_id in gone:
            _cohort(deltas, stored[customer_id], -1)
        months = repo.new_months(deltas.months) if deltas.months else {}
        repo.delete_customers(gone)
        repo.save_customers(rows)
        repo.add(deltas, months)

    # -- rebuilding ---------------------------------------------------------------------

    def replay(self, uow: UnitOfWork, facts: list[Fact]) -> None:
        """Apply stored facts again, as one transaction's (their customers taken as the
        profiles they are now)."""
        unsure = {fact.customer_id for fact in facts if not fact.flags & SENT}
        self.apply(uow, _Pending(facts=facts, unsure=unsure))

    def rebuild(
        self,
        uow: Callable[..., UnitOfWork],
        service: ServiceAnalytics,
        *,
        chunk: int = 20_000,
        progress: Progress | None = None,
    ) -> Rebuilt:
        """Empty every analytics read model (these and `service`'s) and fill them again from
        the stored events, messages, conversations, orders, sends and journeys, `chunk`
        events and their span of time per transaction (`analytics.store.rebuild`)."""
        if chunk < 1:
            raise Invalid("invalid_chunk", "chunk is a whole number of events above 0", "chunk")
        rebuilder = ReadModelRebuild(
            self.config, service.cipher, self.replay, service.campaign_models, chunk=chunk
        )
        return rebuild(uow, rebuilder, progress)

    # -- reports --------------------------------------------------------------------------

    def report(self, uow: UnitOfWork, query: reports.UsageQuery) -> reports.Report:
        """The report `query` asks for, from the read models."""
        repo = self.repo(uow)
        config = self.config
        start, end = query.days
        if query.segment is not None and not repo.segment_exists(query.segment):
            raise Invalid("unknown_segment", f"no segment {query.segment}", "segment")
        name = query.report
        if name in reports.COHORT_REPORTS:
            cohorts = repo.cohorts(start, end, query.segment)
            if name == "propensity":
                return reports.propensity(query, cohorts)
            return reports.clv(query, config, cohorts)
        assert start is not None
        assert end is not None
        if name == "channel-usage":
            months = []
            if query.bucket == "month":
                months = repo.channel_months(
                    _month(query.start), _month(query.end, last=True), query.channel
                )
            return reports.channel_usage(
                query, repo.channel_days(start, end, query.channel), months
            )
        if name == "paths":
            return reports.paths(query, repo.paths(start, end, query.outcome))
        if name == "conversions":
            return reports.conversions(
                query,
                config,
                repo.conversions(start, end, query.channel, query.store),
                repo.economics(start, end, query.channel, query.store),
            )
        if name == "economics":
            return reports.economics(
                query, config, repo.economics(start, end, query.channel, query.store)
            )
        slots = [
            row
            for first, last, offset in reports.zone_spans(query.zone, start * 24, end * 24)
            for row in repo.heat(first, last, offset, query.channel)
        ]
        return reports.heatmap(query, slots)

    # -- privacy --------------------------------------------------------------------------

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        return ExportSection(DOMAIN, self.repo(uow).export(query.subject.profile_ids))

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        return ErasureReport(DOMAIN, self.repo(uow).erase(query.subject.profile_ids))


_AGE_KEYS = frozenset((*BIRTHDAY_TRAITS, *AGE_TRAITS))


def _ts(fact: Fact) -> int:
    return fact.ts


def _follow(redirect: dict[str, str]) -> Callable[[str], str]:
    def canon(profile_id: str) -> str:
        seen = 0
        while profile_id in redirect and seen < 100:
            profile_id = redirect[profile_id]
            seen += 1
        return profile_id

    return canon


def _cohort(deltas: Deltas, row: Row, sign: int) -> None:
    """Add (or take out) a stored summary's part of the cohort counters."""
    first_day, first_channel, count, band = row[2], row[3], row[5], row[6]
    if first_day is None or first_channel is None or count <= 0:
        return
    key = (first_day, first_channel, count, band)
    cell = deltas.cohorts.get(key)
    if cell is None:
        cell = deltas.cohorts[key] = [0, 0, 0]
    cell[0] += sign
    cell[1] += sign * row[7]
    cell[2] += sign * row[8]


def _month(moment: date | None, *, last: bool = False) -> int:
    assert moment is not None
    if last:
        moment = date.fromordinal(moment.toordinal() - 1)
    return moment.year * 100 + moment.month

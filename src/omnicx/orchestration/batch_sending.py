"""Many intents through the policy gate at once: `Sending.submit_many`.

`submit` reads one customer's facts and writes its decision with some thirty statements; a
broadcast page of 500 members took fifteen thousand. A batch takes a handful per 500:

    1. check   each intent as `submit` would, in order: its fields, then (unless its send_id
               is taken) its customer and its content. The first refusal (`Invalid`,
               `NotFound`, or `Conflict` for a send another transaction is still deciding)
               refuses the whole batch before anything is written.
    2. read    for every customer at once: canonical ids and members, identifiers, traits,
               consents, preferences and suppressions, the last engagement and the last
               inbound message per channel, the sends of the caps' window; each template
               once.
    3. decide  each intent in order with the pure gate. A customer's later intents see the
               earlier ones (caps, competing sends, a lower one outranked and cancelled) as
               sequential submits would; a send_id decided before, in the database or
               earlier in the batch, answers that send's latest decision.
    4. write   the sends in their decided state, the decisions in order, the messages and
               their outbox rows, one executemany each; the events are raised in the order
               `submit` raises them.

The outcome is that of `submit` called for each intent in order. The batch runs in a
savepoint of the caller's transaction: should a concurrent transaction take one of its
send_ids between the check and the write (PostgreSQL), the batch goes back to the savepoint
and its intents go through `submit` one by one. Its events are raised only once it is
written, so they never announce a decision that was rolled back.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import orjson
import sqlalchemy as sa

from omnicx.conversations.store import SqlConversationRepository
from omnicx.db import UnitOfWork, outbox
from omnicx.db.bulk import insert_many
from omnicx.kernel import Conflict, Invalid, NotFound, new_id
from omnicx.orchestration.caps import LONGEST
from omnicx.orchestration.gate import (
    Content,
    Decision,
    Facts,
    PastSend,
    SendIntent,
    SendState,
    TemplateVariant,
    check_intent,
    decide,
    lost_to,
    outranked,
)
from omnicx.orchestration.messages import MessageDecided
from omnicx.orchestration.sending import (
    SEND_TOPIC,
    CustomerView,
    Sending,
    auto_channels,
    check_source,
    contacts_of,
)
from omnicx.orchestration.store.sends import SqlSendRepository
from omnicx.profiles.store import SqlProfileRepository

CANCELLABLE = ("deferred", "queued")
"""What a send of higher priority may still cancel (as `_outrank`'s guarded update)."""


class _Taken(Exception):
    """A concurrent transaction took one of the batch's send_ids."""


@dataclass
class _Send:
    """A send decided in this batch: its row (written at the end) and its first message."""

    row: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Customer:
    view: CustomerView
    recent: list[tuple[str, PastSend]]
    """(send ref, the send) of what `recent` would read now, this batch's sends included."""
    left: int
    """The customer's intents still to decide in this batch (their later ones see this
    batch's sends)."""


def submit_many(
    sending: Sending,
    uow: UnitOfWork,
    intents: Sequence[SendIntent],
    *,
    broadcast_id: str | None = None,
) -> list[Decision]:
    """`Sending.submit_many` (see the module)."""
    if not intents:
        return []
    batch = _Batch(sending, uow, broadcast_id)
    savepoint = uow.begin_savepoint()
    try:
        answers = batch.run(list(intents))
    except _Taken:
        savepoint.rollback()
        return [sending.submit(uow, intent, broadcast_id=broadcast_id) for intent in intents]
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    for event in batch.events:
        uow.raise_event(event)
    return answers


class _Batch:
    def __init__(self, sending: Sending, uow: UnitOfWork, broadcast_id: str | None) -> None:
        self.sending = sending
        self.uow = uow
        self.repo: SqlSendRepository = sending.repo(uow)
        self.profiles = SqlProfileRepository(uow.conn, sending.cipher)
        self.broadcast_id = broadcast_id
        self.now = uow.clock.now()
        self.templates: dict[str, list[TemplateVariant]] = {}
        self.checked: set[tuple[str, str]] = set()
        self.latest: dict[str, Decision] = {}
        """send_id -> its latest decision: what the same send_id again answers."""
        self.senders = dict(sending.senders)
        self.auto = auto_channels(self.senders)
        self.sealed: dict[tuple[str | None, ...], tuple[Mapping[str, Any], Any]] = {}
        """The content sealed once per distinct content (a broadcast's intents share one)."""
        self.canonical: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}
        """Each customer's root -> the ids of the profiles standing for them."""
        self.customers: dict[str, _Customer] = {}
        self.sends: dict[str, _Send] = {}
        self.decisions: list[dict[str, Any]] = []
        self.events: list[MessageDecided] = []
        """Raised once the batch is written, in the order `submit` raises them."""
        self.outbox: list[dict[str, Any]] = []
        self.shapes: dict[tuple[Any, ...], tuple[Any, orjson.Fragment]] = {}
        """The `intent` column of each distinct (channels, content, fallback, end)."""
        self.tokens: dict[tuple[str, str, str], str] = {}
        """(customer, kind, value) -> the identifier's sealed value as stored: a message's
        address keeps it instead of being sealed again."""

    def run(self, intents: list[SendIntent]) -> list[Decision]:
        self._check(intents)
        self._read([i for i in intents if i.send_id not in self.latest])
        answers: list[Decision] = []
        for intent in intents:
            known = self.latest.get(intent.send_id)
            answers.append(known if known is not None else self._decide(intent))
        self._write()
        return answers

    # -- 1. check -----------------------------------------------------------------------------

    def _check(self, intents: list[SendIntent]) -> None:
        repo = self.repo
        existing = repo.by_send_ids({i.send_id for i in intents})
        latest = repo.latest_decisions([s.id for s in existing.values()])
        self.canonical, self.members = self.profiles.canonical_with_members(
            {i.customer_id for i in intents}
        )
        seen: set[str] = set()
        for intent in intents:
            check_intent(intent)
            send = existing.get(intent.send_id)
            if send is not None:
                d = latest.get(send.id)
                if d is None:
                    raise Conflict("send_in_progress", f"send {send.send_id} is being decided")
                self.latest[send.send_id] = Decision(
                    send.send_id, d.outcome, d.channel, d.reason, d.defer_until, d.at, d.code
                )
                continue
            if intent.send_id in seen:
                continue
            if intent.customer_id not in self.canonical:
                raise NotFound(
                    "customer_not_found", f"no customer {intent.customer_id}", "customer_id"
                )
            self._check_content(intent.content)
            seen.add(intent.send_id)

    def _check_content(self, content: Content) -> None:
        """`Sending.check_content`, each template and source checked once per batch."""
        if content.template is not None and not self._variants(content.template):
            raise Invalid(
                "unknown_template", f"no template named {content.template!r}", "content.template"
            )
        for name, source in (
            ("content.text", content.text),
            ("content.subject", content.subject),
            ("content.html", content.html),
        ):
            if source is not None and (name, source) not in self.checked:
                check_source(source, name)
                self.checked.add((name, source))

    def _variants(self, template: str | None) -> list[TemplateVariant]:
        if template is None:
            return []
        found = self.templates.get(template)
        if found is None:
            found = self.templates[template] = self.repo.variants(template)
        return found

    # -- 2. read ------------------------------------------------------------------------------

    def _read(self, fresh: list[SendIntent]) -> None:
        """Every fact the gate weighs, for the customers of the intents to decide."""
        sending = self.sending
        intents = Counter(self.canonical[i.customer_id] for i in fresh)
        roots = sorted(intents)
        if not roots:
            return
        found = self.members
        members = {root: found.get(root) or [root] for root in roots}
        held = self.profiles.held_sealed(roots)
        identifiers: dict[str, list[tuple[str, str]]] = {root: [] for root in roots}
        hashed: dict[str, set[tuple[str, str]]] = {root: set() for root in roots}
        keep = self.sending.cipher.enabled
        tokens = self.tokens
        for root, rows in held.items():
            ids, blinds = identifiers[root], hashed[root]
            for kind, value, blind, token in rows:
                ids.append((kind, value))
                blinds.add((kind, blind))
                if keep and token is not None:
                    tokens[(root, kind, value)] = token
        traits = self.profiles.current_traits(roots)
        contacts = contacts_of(sending.rules, self.uow, members, identifiers, hashed)
        owners = {m: root for root, ids in members.items() for m in ids}
        engaged = self.repo.last_engagement_many(owners)
        inbound = SqlConversationRepository(self.uow.conn, sending.cipher).last_inbound_many(roots)
        recent = self.repo.recent_many(owners, self.now - LONGEST)
        for root in roots:
            values = {k: t.value for k, t in traits.get(root, {}).items()}
            contact = contacts[root]
            prefs = contact.preferences
            view = CustomerView(
                customer_id=root,
                held=identifiers[root],
                preferences=prefs,
                language=sending._language(prefs, values),
                time_zone=sending._zone(prefs, values),
                engaged=engaged.get(root, {}),
                last_inbound=partial(_inbound, inbound, root),
                permission=contact.permission,
                suppressed=contact.suppressed,
            )
            self.customers[root] = _Customer(view, recent.get(root, []), intents[root])

    # -- 3. decide ----------------------------------------------------------------------------

    def _decide(self, intent: SendIntent) -> Decision:
        """`Sending.submit` of a new send_id: `_decide` without a message sent before."""
        now = self.now
        root = self.canonical[intent.customer_id]
        customer = self.customers[root]
        ref = new_id()
        customer.left -= 1
        if not customer.recent:
            recent: tuple[PastSend, ...] = ()
        else:
            if len(customer.recent) > 1:
                customer.recent.sort(key=_order)
            recent = tuple([past for _, past in customer.recent])
        template = intent.content.template
        facts, addresses = self.sending.facts_for(
            customer.view,
            intent,
            (),
            recent,
            self._variants(template) if template is not None else (),
            now,
            self.senders,
            self.auto,
        )
        decision = decide(intent, facts, now)
        row = self.repo.send_row(
            ref, intent, root, now, self.broadcast_id, intent_value=self._intent_value(intent)
        )
        send = self.sends[ref] = _Send(row)
        self._record(ref, intent.send_id, root, intent.origin, decision)
        if decision.outcome == "send":
            channel = decision.channel
            assert channel is not None
            message_id = new_id()
            to = addresses[channel]
            send.messages.append(
                {
                    "id": message_id,
                    "send_ref": ref,
                    "customer_id": root,
                    "channel": channel,
                    "to": to,
                    "to_sealed": self.tokens.get((root, *to)),
                    "status": "queued",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            self.outbox.append(
                {
                    "topic": SEND_TOPIC,
                    "key": message_id,
                    "payload": {"message_id": message_id},
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "available_at": now,
                }
            )
            row["status"] = "queued"
            row["channel"] = channel
            row["code"] = decision.code
            row["decided_at"] = now
            row["tried"] = [channel]
        elif decision.outcome == "defer":
            row["status"] = "deferred"
            row["channel"] = decision.channel
            row["code"] = decision.code
            row["decided_at"] = now
            row["wake_at"] = decision.defer_until
            row["wake"] = "decide"
        else:
            row["status"] = "skipped"
            row["code"] = decision.code
        if decision.outcome != "skip":
            self._outrank(intent, customer, facts)
        if decision.outcome != "skip" and customer.left:
            state: SendState = "going" if decision.outcome == "send" else "waiting"
            customer.recent.append(
                (
                    ref,
                    PastSend(
                        intent.send_id,
                        intent.purpose,
                        intent.category,
                        decision.channel,
                        intent.priority,
                        now,
                        state,
                    ),
                )
            )
        return decision

    def _sealed(self, content: Content) -> Any:
        key = (content.template, content.text, content.subject, content.html)
        held = self.sealed.get(key)
        if held is None or held[0] != content.variables:
            held = self.sealed[key] = (
                dict(content.variables),
                self.repo.sealed_content(content),
            )
        return held[1]

    def _intent_value(self, intent: SendIntent) -> orjson.Fragment:
        """The send's `intent` column, serialized once for all the intents alike but for
        their customer (a broadcast's)."""
        sealed = self._sealed(intent.content)
        shape = (intent.channels, id(sealed), intent.fallback_after_seconds, intent.not_after)
        held = self.shapes.get(shape)
        if held is None:
            # The sealed content is held beside its column so that its id is not reused.
            held = self.shapes[shape] = (
                sealed,
                orjson.Fragment(orjson.dumps(self.repo.intent_json(intent, sealed))),
            )
        return held[1]

    def _outrank(self, intent: SendIntent, customer: _Customer, facts: Facts) -> None:
        """`Sending._outrank`: cancel the waiting sends of lower priority this one replaces,
        whether decided earlier in the batch or before it."""
        now = self.now
        refs = {past.send_id: ref for ref, past in customer.recent}
        for loser in outranked(intent, facts.recent, facts.policy, now):
            ref = refs.get(loser.send_id)
            pending = self.sends.get(ref) if ref is not None else None
            if pending is not None:
                row = pending.row
                if row["status"] not in CANCELLABLE:
                    continue
                row.update(
                    status="cancelled",
                    code="lost_priority",
                    wake_at=None,
                    wake=None,
                    updated_at=now,
                )
                for message in pending.messages:
                    if message["status"] == "queued":
                        message.update(status="cancelled", updated_at=now)
                other = (row["id"], row["send_id"], row["customer_id"], row["origin"])
                channel = row["channel"]
            else:
                stored = self.repo.by_send_id(loser.send_id)
                if stored is None or not self.repo.update_send(
                    stored.id,
                    only_if=CANCELLABLE,
                    status="cancelled",
                    code="lost_priority",
                    wake_at=None,
                    wake=None,
                    updated_at=now,
                ):
                    continue
                for stored_message in self.repo.messages_of(stored.id):
                    self.repo.update_message(
                        stored_message.id, only_if=("queued",), status="cancelled", updated_at=now
                    )
                other = (stored.id, stored.send_id, stored.customer_id, stored.intent.origin)
                channel = stored.channel
            customer.recent = [item for item in customer.recent if item[0] != other[0]]
            winner = PastSend(
                intent.send_id, intent.purpose, intent.category, None, intent.priority, now, "going"
            )
            decision = Decision(
                other[1],
                "skip",
                channel,
                lost_to(winner, loser.priority),
                None,
                now,
                "lost_priority",
            )
            self._record(*other, decision)

    def _record(
        self, send_ref: str, send_id: str, customer_id: str, origin: str, decision: Decision
    ) -> None:
        """`Sending._record`: the decision row (written at the end, in order) and its event."""
        self.decisions.append(
            {
                "send_ref": send_ref,
                "send_id": send_id,
                "customer_id": customer_id,
                "outcome": decision.outcome,
                "channel": decision.channel,
                "code": decision.code,
                "reason": decision.reason,
                "defer_until": decision.defer_until,
                "origin": origin,
                "at": decision.at,
            }
        )
        self.events.append(
            MessageDecided(
                send_id=send_id,
                customer_id=customer_id,
                outcome=decision.outcome,
                channel=decision.channel,
                reason=decision.reason,
                code=decision.code,
                defer_until=decision.defer_until,
                origin=origin,
                at=decision.at,
            )
        )
        self.latest[send_id] = decision

    # -- 4. write -----------------------------------------------------------------------------

    def _write(self) -> None:
        repo = self.repo
        try:
            repo.add_sends([send.row for send in self.sends.values()])
        except sa.exc.IntegrityError as error:
            raise _Taken from error
        repo.add_decisions(self.decisions)
        repo.add_messages([m for send in self.sends.values() for m in send.messages])
        insert_many(self.uow.conn, outbox, self.outbox)


def _order(item: tuple[str, PastSend]) -> tuple[datetime, str]:
    return item[1].at, item[0]


def _inbound(
    found: dict[tuple[str, str], tuple[str | None, datetime]], customer: str, channel: str
) -> tuple[str | None, datetime] | None:
    return found.get((customer, channel))

"""SQL storage of the policy gate: sends, their messages per channel, the append-only log of
decisions, broadcasts and message templates.

    sends            one row per send intent (unique `send_id`): the intent, its state, what
                     wakes it (a deferral ending, a fallback due)
    send_messages    one row per channel a send went out on: provider, address (sealed),
                     status, provider message id, the attempt in flight
    send_decisions   every answer of the gate, append-only; the reason is sealed (it can name
                     the customer's time zone or consent history)
    broadcasts       a message to a segment, expanded by the worker page by page
    send_templates   named templates, a variant per channel and language

Personal data: the intent's content (variables) and a message's address and provider error
are sealed; sends, messages and decisions are the customer's and join privacy's export and
erasure.
"""

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata, outbox
from omnicx.db.bulk import insert_many, select_in
from omnicx.events.store import events
from omnicx.kernel.moments import from_micros, micros
from omnicx.orchestration.broadcasts import Broadcast, BroadcastCounts
from omnicx.orchestration.gate import (
    Content,
    DecisionRecord,
    MessageRecord,
    PastSend,
    SendIntent,
    SendRecord,
    TemplateVariant,
)
from omnicx.orchestration.store.templates import send_receipts

ID = sa.String(36)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SEND_ID = sa.String(200)

TIMELINE_SOURCE = "maestro"
"""`source_id` of the timeline rows the gate writes (a message sent outside a conversation)."""

sends = sa.Table(
    "sends",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("send_id", SEND_ID, nullable=False, unique=True),
    sa.Column("customer_id", ID, nullable=False),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("origin", sa.String(200), nullable=False),
    sa.Column("broadcast_id", ID, nullable=True),
    sa.Column("intent", JsonValue, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("channel", sa.String(40), nullable=True),
    sa.Column("code", sa.String(20), nullable=False),
    sa.Column("tried", JsonValue, nullable=False),
    sa.Column("wake_at", UtcDateTime(), nullable=True),
    sa.Column("wake", sa.String(10), nullable=True),
    sa.Column("decided_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_sends_customer_id_decided_at", "customer_id", "decided_at"),
    # Only the sends that wait for something (a deferral's end, a fallback) or belong to a
    # broadcast are indexed: most rows are neither, and skip the index's write.
    sa.Index(
        "ix_sends_wake_at",
        "wake_at",
        sqlite_where=sa.text("wake_at IS NOT NULL"),
        postgresql_where=sa.text("wake_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_sends_broadcast_id",
        "broadcast_id",
        sqlite_where=sa.text("broadcast_id IS NOT NULL"),
        postgresql_where=sa.text("broadcast_id IS NOT NULL"),
    ),
)

send_messages = sa.Table(
    "send_messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("send_ref", ID, nullable=False),
    sa.Column("customer_id", ID, nullable=False, index=True),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("to_kind", sa.String(40), nullable=False),
    sa.Column("to_value", sa.Text(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("provider_message_id", sa.String(200), nullable=True),
    sa.Column("attempt_id", ID, nullable=True),
    sa.Column("attempt_started_at", UtcDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("send_ref", "seq"),
    sa.Index("ix_send_messages_channel_provider_message_id", "channel", "provider_message_id"),
    sa.Index("ix_send_messages_status_attempt_started_at", "status", "attempt_started_at"),
)

send_decisions = sa.Table(
    "send_decisions",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("send_ref", ID, nullable=False, index=True),
    sa.Column("send_id", SEND_ID, nullable=False),
    sa.Column("customer_id", ID, nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("channel", sa.String(40), nullable=True),
    sa.Column("code", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("defer_until", UtcDateTime(), nullable=True),
    sa.Column("origin", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_send_decisions_customer_id_at", "customer_id", "at"),
)
"""Append-only: a decision is never changed, a later one is added."""

broadcasts = sa.Table(
    "broadcasts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("segment_id", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("channels", JsonValue, nullable=False),
    sa.Column("content", JsonValue, nullable=False),
    sa.Column("fallback_after_seconds", sa.Integer(), nullable=True),
    sa.Column("not_after", UtcDateTime(), nullable=True),
    sa.Column("schedule_at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("cursor", ID, nullable=True),
    sa.Column("expanded", sa.Integer(), nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=True),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Index("ix_broadcasts_status_schedule_at", "status", "schedule_at"),
)

send_templates = sa.Table(
    "send_templates",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("channel", sa.String(40), primary_key=True),
    sa.Column("language", sa.String(20), primary_key=True),
    sa.Column("subject", sa.Text(), nullable=True),
    sa.Column("text", sa.Text(), nullable=True),
    sa.Column("html", sa.Text(), nullable=True),
    sa.Column("provider_template", JsonValue, nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

CUSTOMER_TABLES = (sends, send_messages, send_decisions)
"""The gate's tables holding a customer's data, by `customer_id`."""

GOING = ("queued", "sending")
GONE = ("sent", "delivered", "unknown")


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _live(since: datetime) -> sa.ColumnElement[bool]:
    """Sends the gate weighs: waiting, going, or gone since `since`."""
    s = sends.c
    return sa.or_(
        s.status.in_(["deferred", *GOING]),
        sa.and_(s.status.in_(GONE), s.decided_at > since),
    )


def _past(
    send_id: str,
    purpose: str,
    category: str,
    channel: str | None,
    priority: int,
    decided_at: datetime,
    status: str,
) -> PastSend:
    state = "waiting" if status == "deferred" else "going"
    if status in GONE:
        state = "gone"
    return PastSend(send_id, purpose, category, channel, priority, decided_at, cast(Any, state))


class SqlSendRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def _seal(self, value: Any) -> Any:
        return self.cipher.seal_if(True, value)

    def _open(self, value: Any) -> Any:
        return self.cipher.reveal(value)

    # -- sends -----------------------------------------------------------------------------

    def sealed_content(self, content: Content) -> Any:
        """An intent's content as the `intent` column holds it (sealed)."""
        return self._seal(
            {
                "template": content.template,
                "text": content.text,
                "subject": content.subject,
                "html": content.html,
                "variables": dict(content.variables),
            }
        )

    def intent_json(self, intent: SendIntent, sealed: Any = None) -> dict[str, Any]:
        """The `intent` column; `sealed` is its content already sealed, if it is."""
        return {
            "channels": list(intent.channels),
            "content": self.sealed_content(intent.content) if sealed is None else sealed,
            "fallback_after_seconds": intent.fallback_after_seconds,
            "not_after": intent.not_after.isoformat() if intent.not_after else None,
        }

    def _intent(self, row: sa.Row[Any]) -> SendIntent:
        data = row.intent
        content = self._open(data["content"])
        return SendIntent(
            send_id=row.send_id,
            customer_id=row.customer_id,
            purpose=row.purpose,
            category=row.category,
            priority=row.priority,
            channels=tuple(data["channels"]),
            content=Content(
                template=content.get("template"),
                text=content.get("text"),
                subject=content.get("subject"),
                html=content.get("html"),
                variables=content.get("variables") or {},
            ),
            origin=row.origin,
            fallback_after_seconds=data.get("fallback_after_seconds"),
            not_after=datetime.fromisoformat(data["not_after"]) if data.get("not_after") else None,
        )

    def _send(self, row: sa.Row[Any]) -> SendRecord:
        return SendRecord(
            id=row.id,
            send_id=row.send_id,
            customer_id=row.customer_id,
            intent=self._intent(row),
            status=row.status,
            channel=row.channel,
            code=row.code,
            tried=tuple(row.tried),
            wake_at=row.wake_at,
            wake=row.wake,
            broadcast_id=row.broadcast_id,
            decided_at=row.decided_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def claim_send(
        self,
        send_ref: str,
        intent: SendIntent,
        customer_id: str,
        now: datetime,
        broadcast_id: str | None = None,
    ) -> bool:
        """Insert the send as "deciding"; False when its `send_id` is already taken (the
        intent was submitted before, possibly by a concurrent transaction that committed)."""
        values = self.send_row(send_ref, intent, customer_id, now, broadcast_id)
        insert = postgresql.insert if self.conn.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(sends).values(**values).on_conflict_do_nothing(index_elements=["send_id"])
        )
        return bool(self.conn.execute(statement).rowcount)

    def by_send_ids(self, send_ids: Collection[str]) -> dict[str, SendRecord]:
        """The sends of those `send_ids` already taken."""
        taken = select_in(
            self.conn, "SELECT id FROM sends WHERE send_id IN ({marks})", sorted(set(send_ids))
        )
        found: dict[str, SendRecord] = {}
        for part in _chunks(sorted(r[0] for r in taken)):
            for row in self.conn.execute(sa.select(sends).where(sends.c.id.in_(part))):
                found[row.send_id] = self._send(row)
        return found

    def add_sends(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Sends decided in a batch, in their state after the decision (a `send_id` already
        taken raises `IntegrityError`)."""
        insert_many(self.conn, sends, rows)

    def send_row(
        self,
        send_ref: str,
        intent: SendIntent,
        customer_id: str,
        now: datetime,
        broadcast_id: str | None,
        intent_value: Any = None,
    ) -> dict[str, Any]:
        """The row `claim_send` inserts ("deciding"); `intent_value` is its `intent_json`
        when already made (the intents of a broadcast share one)."""
        return {
            "id": send_ref,
            "send_id": intent.send_id,
            "customer_id": customer_id,
            "purpose": intent.purpose,
            "category": intent.category,
            "priority": intent.priority,
            "origin": intent.origin,
            "broadcast_id": broadcast_id,
            "intent": self.intent_json(intent) if intent_value is None else intent_value,
            "status": "deciding",
            "channel": None,
            "code": "",
            "tried": [],
            "wake_at": None,
            "wake": None,
            "decided_at": None,
            "created_at": now,
            "updated_at": now,
        }

    def by_send_id(self, send_id: str) -> SendRecord | None:
        row = self.conn.execute(sa.select(sends).where(sends.c.send_id == send_id)).first()
        return self._send(row) if row else None

    def get(self, send_ref: str, *, lock: bool = False) -> SendRecord | None:
        query = sa.select(sends).where(sends.c.id == send_ref)
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return self._send(row) if row else None

    def update_send(
        self, send_ref: str, *, only_if: Collection[str] | None = None, **values: Any
    ) -> bool:
        """Change a send; with `only_if`, only while its status is one of those (a guarded
        transition): False when it was not."""
        statement = sends.update().where(sends.c.id == send_ref)
        if only_if is not None:
            statement = statement.where(sends.c.status.in_(list(only_if)))
        return bool(self.conn.execute(statement.values(**values)).rowcount)

    def recent(
        self, customer_ids: Collection[str], since: datetime, exclude: str
    ) -> list[PastSend]:
        """The customers' sends waiting, going, or gone since `since` (decided then)."""
        s = sends.c
        rows = self.conn.execute(
            sa.select(
                s.send_id, s.purpose, s.category, s.channel, s.priority, s.decided_at, s.status
            )
            .where(
                s.customer_id.in_(sorted(customer_ids)),
                s.id != exclude,
                _live(since),
            )
            .order_by(s.decided_at, s.id)
        )
        return [_past(*row) for row in rows]

    def recent_many(
        self, owners: Mapping[str, str], since: datetime
    ) -> dict[str, list[tuple[str, PastSend]]]:
        """`recent` of many customers at once: `owners` maps each profile id to the customer
        it stands for; customer -> (send ref, the send), in the order `recent` gives."""
        dialect = self.conn.dialect
        bind = sends.c.decided_at.type._cached_bind_processor(dialect)
        read = sends.c.decided_at.type._cached_result_processor(dialect, None)
        # `_live` written out for the driver.
        live = ", ".join(f"'{status}'" for status in ("deferred", *GOING))
        gone = ", ".join(f"'{status}'" for status in GONE)
        rows = select_in(
            self.conn,
            "SELECT id, customer_id, send_id, purpose, category, channel, priority, "  # noqa: S608
            f"decided_at, status FROM sends WHERE (status IN ({live}) OR (status IN ({gone}) "
            "AND decided_at > ?)) AND customer_id IN ({marks})",
            sorted(owners),
            before=(bind(since) if bind else since,),
        )
        found: dict[str, list[tuple[str, PastSend]]] = {}
        decoded = [(*row[:7], read(row[7]) if read else row[7], row[8]) for row in rows]
        decoded.sort(key=lambda r: (r[7] or since, r[0]))
        for ref, customer, *rest in decoded:
            found.setdefault(owners[customer], []).append((ref, _past(*rest)))
        return found

    def waiting_refs(self, customer_ids: Collection[str], send_ids: Collection[str]) -> list[str]:
        if not send_ids:
            return []
        rows = self.conn.execute(
            sa.select(sends.c.id).where(
                sends.c.customer_id.in_(sorted(customer_ids)),
                sends.c.send_id.in_(sorted(send_ids)),
            )
        )
        return [r.id for r in rows]

    def due(self, now: datetime, limit: int) -> list[SendRecord]:
        """Sends whose wake time has come (a deferral ending, a fallback due), highest
        priority first so that the winner of a competition is decided before the losers."""
        query = (
            sa.select(sends)
            .where(sends.c.wake_at <= now)
            .order_by(sends.c.priority.desc(), sends.c.wake_at, sends.c.id)
            .limit(limit)
        )
        return [self._send(r) for r in self.conn.execute(query)]

    # -- decisions -------------------------------------------------------------------------

    def add_decision(
        self,
        send_ref: str,
        send_id: str,
        customer_id: str,
        *,
        outcome: str,
        channel: str | None,
        code: str,
        reason: str,
        defer_until: datetime | None,
        origin: str,
        at: datetime,
    ) -> None:
        self.conn.execute(
            send_decisions.insert().values(
                send_ref=send_ref,
                send_id=send_id,
                customer_id=customer_id,
                outcome=outcome,
                channel=channel,
                code=code,
                reason=self._seal(reason),
                defer_until=defer_until,
                origin=origin,
                at=at,
            )
        )

    def add_decisions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Decisions in the order given (ids ascending); `reason` in plain text, sealed once
        per distinct reason (a batch's decisions share a handful)."""
        sealed: dict[str, Any] = {}
        seal = self._seal
        out = []
        for r in rows:
            reason = r["reason"]
            token = sealed.get(reason)
            if token is None:
                token = sealed[reason] = seal(reason)
            out.append({**r, "reason": token})
        insert_many(self.conn, send_decisions, out)

    def latest_decisions(self, send_refs: Collection[str]) -> dict[str, DecisionRecord]:
        """Each send's newest decision (what `decisions(..., limit=1, send_ref=…)` gives)."""
        found: dict[str, DecisionRecord] = {}
        for part in _chunks(sorted(set(send_refs))):
            newest = (
                sa.select(sa.func.max(send_decisions.c.id))
                .where(send_decisions.c.send_ref.in_(part))
                .group_by(send_decisions.c.send_ref)
            )
            query = (
                sa.select(send_decisions, sends.c.status, sends.c.purpose)
                .select_from(send_decisions.join(sends, sends.c.id == send_decisions.c.send_ref))
                .where(send_decisions.c.id.in_(newest))
            )
            for r in self.conn.execute(query):
                found[r.send_ref] = self._record(r, None)
        return found

    def _record(self, r: Any, delivery: str | None) -> DecisionRecord:
        """A decision row (joined with its send's status and purpose) as a record."""
        return DecisionRecord(
            id=r.id,
            send_id=r.send_id,
            customer_id=r.customer_id,
            outcome=r.outcome,
            channel=r.channel,
            code=r.code,
            reason=self._open(r.reason),
            defer_until=r.defer_until,
            origin=r.origin,
            purpose=r.purpose,
            at=r.at,
            status=r.status,
            delivery=delivery,
        )

    def decisions(
        self,
        customer_ids: Collection[str],
        *,
        limit: int,
        before: int | None = None,
        send_ref: str | None = None,
    ) -> list[DecisionRecord]:
        """Decisions newest first, with the send's state and the delivery of its message on
        the decision's channel."""
        d = send_decisions.c
        m = send_messages.alias("m")
        delivery = (
            sa.select(m.c.status)
            .where(m.c.send_ref == d.send_ref, m.c.channel == d.channel)
            .order_by(m.c.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = (
            sa.select(send_decisions, sends.c.status, sends.c.purpose, delivery.label("delivery"))
            .select_from(send_decisions.join(sends, sends.c.id == d.send_ref))
            .order_by(d.id.desc())
            .limit(limit)
        )
        if send_ref is not None:
            query = query.where(d.send_ref == send_ref)
        else:
            query = query.where(d.customer_id.in_(sorted(customer_ids)))
        if before is not None:
            query = query.where(d.id < before)
        return [
            self._record(r, r.delivery if r.outcome == "send" else None)
            for r in self.conn.execute(query)
        ]

    # -- messages --------------------------------------------------------------------------

    def _message(self, row: sa.Row[Any]) -> MessageRecord:
        return MessageRecord(
            id=row.id,
            send_ref=row.send_ref,
            customer_id=row.customer_id,
            seq=row.seq,
            channel=row.channel,
            provider=row.provider,
            to=(row.to_kind, self._open(row.to_value)),
            status=row.status,
            provider_message_id=row.provider_message_id,
            attempt_id=row.attempt_id,
            attempt_started_at=row.attempt_started_at,
            attempts=row.attempts,
            failures=row.failures,
            last_error=self._open(row.last_error),
            created_at=row.created_at,
            updated_at=row.updated_at,
            sent_at=row.sent_at,
            delivered_at=row.delivered_at,
        )

    def add_message(
        self,
        message_id: str,
        send_ref: str,
        customer_id: str,
        channel: str,
        to: tuple[str, str],
        now: datetime,
    ) -> int:
        seq = self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(send_messages.c.seq), 0)).where(
                send_messages.c.send_ref == send_ref
            )
        ).scalar_one()
        self.conn.execute(
            send_messages.insert().values(
                id=message_id,
                send_ref=send_ref,
                customer_id=customer_id,
                seq=seq + 1,
                channel=channel,
                provider="primary",
                to_kind=to[0],
                to_value=self._seal(to[1]),
                status="queued",
                attempts=0,
                failures=0,
                created_at=now,
                updated_at=now,
            )
        )
        return int(seq + 1)

    def add_messages(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """First messages of sends decided in a batch: (id, send_ref, customer_id, channel,
        to, status, created_at) each, `to` in plain text, and `to_sealed`, the address's value
        already sealed (as the identifier holds it), or None."""
        insert_many(
            self.conn,
            send_messages,
            [
                {
                    "id": r["id"],
                    "send_ref": r["send_ref"],
                    "customer_id": r["customer_id"],
                    "seq": 1,
                    "channel": r["channel"],
                    "provider": "primary",
                    "to_kind": r["to"][0],
                    "to_value": r.get("to_sealed") or self._seal(r["to"][1]),
                    "status": r["status"],
                    "attempts": 0,
                    "failures": 0,
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                }
                for r in rows
            ],
        )

    def message(self, message_id: str) -> MessageRecord | None:
        row = self.conn.execute(
            sa.select(send_messages).where(send_messages.c.id == message_id)
        ).first()
        return self._message(row) if row else None

    def messages_of(self, send_ref: str) -> list[MessageRecord]:
        rows = self.conn.execute(
            sa.select(send_messages)
            .where(send_messages.c.send_ref == send_ref)
            .order_by(send_messages.c.seq)
        )
        return [self._message(r) for r in rows]

    def by_provider_id(self, channel: str, provider_message_id: str) -> MessageRecord | None:
        row = self.conn.execute(
            sa.select(send_messages).where(
                send_messages.c.channel == channel,
                send_messages.c.provider_message_id == provider_message_id,
            )
        ).first()
        return self._message(row) if row else None

    def provider_id_taken(self, channel: str, provider_message_id: str) -> bool:
        return self.by_provider_id(channel, provider_message_id) is not None

    def update_message(
        self,
        message_id: str,
        *,
        only_if: Collection[str] | None = None,
        attempt: str | None = None,
        **values: Any,
    ) -> bool:
        """Change a message, guarded by its status (`only_if`) and the attempt in flight
        (`attempt`): False when the guard did not hold."""
        if "last_error" in values:
            values["last_error"] = self._seal(values["last_error"])
        statement = send_messages.update().where(send_messages.c.id == message_id)
        if only_if is not None:
            statement = statement.where(send_messages.c.status.in_(list(only_if)))
        if attempt is not None:
            statement = statement.where(send_messages.c.attempt_id == attempt)
        return bool(self.conn.execute(statement.values(**values)).rowcount)

    def stale_attempts(self, before: datetime, limit: int) -> list[MessageRecord]:
        """Messages handed to a provider by an attempt that never recorded its answer."""
        query = (
            sa.select(send_messages)
            .where(
                send_messages.c.status == "sending",
                send_messages.c.attempt_started_at < before,
            )
            .order_by(send_messages.c.attempt_started_at)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [self._message(r) for r in self.conn.execute(query)]

    # -- facts -----------------------------------------------------------------------------

    def last_engagement(self, member_ids: Collection[str]) -> dict[str, datetime]:
        """Per channel, the customer's latest event there that is not one of our own sends:
        an inbound message, a click, a visit."""
        rows = self.conn.execute(
            sa.select(events.c.channel, sa.func.max(events.c.ts))
            .where(
                events.c.profile_id.in_(sorted(member_ids)),
                events.c.source_id != TIMELINE_SOURCE,
                sa.or_(events.c.event.is_(None), events.c.event != "Message Sent"),
            )
            .group_by(events.c.channel)
        )
        return {channel: from_micros(ts) for channel, ts in rows}

    def last_engagement_many(self, owners: Mapping[str, str]) -> dict[str, dict[str, datetime]]:
        """`last_engagement` of many customers at once (`owners` as in `recent_many`)."""
        rows = select_in(
            self.conn,
            "SELECT profile_id, channel, max(ts) FROM events WHERE source_id != ? "
            "AND (event IS NULL OR event != ?) AND profile_id IN ({marks}) "
            "GROUP BY profile_id, channel",
            sorted(owners),
            before=(TIMELINE_SOURCE, "Message Sent"),
        )
        found: dict[str, dict[str, datetime]] = {}
        for profile_id, channel, ts in rows:
            mine = found.setdefault(owners[profile_id], {})
            at = from_micros(ts)
            if channel not in mine or at > mine[channel]:
                mine[channel] = at
        return found

    def add_timeline(
        self,
        event_id: int,
        message: MessageRecord,
        send: SendRecord,
        at: datetime,
    ) -> None:
        """A proactive message on the customer's timeline: `Message Sent` with its origin."""
        ts = micros(at)
        self.conn.execute(
            events.insert().values(
                id=event_id,
                source_id=TIMELINE_SOURCE,
                message_id=message.id,
                profile_id=send.customer_id,
                type="track",
                event="Message Sent",
                name=None,
                channel=message.channel,
                ts=ts,
                received_at=ts,
                user_id=None,
                anonymous_id=None,
                properties={
                    "send_id": send.send_id,
                    "origin": send.intent.origin,
                    "purpose": send.intent.purpose,
                    "category": send.intent.category,
                    "direction": "outbound",
                },
                context={"channel": message.channel, "provider": message.provider},
                traits=None,
            )
        )

    # -- templates -------------------------------------------------------------------------

    def _variant(self, row: sa.Row[Any]) -> TemplateVariant:
        return TemplateVariant(
            name=row.name,
            channel=row.channel,
            language=row.language,
            text=row.text,
            subject=row.subject,
            html=row.html,
            provider_template=row.provider_template,
            updated_at=row.updated_at,
        )

    def variants(self, name: str) -> list[TemplateVariant]:
        rows = self.conn.execute(
            sa.select(send_templates)
            .where(send_templates.c.name == name)
            .order_by(send_templates.c.channel, send_templates.c.language)
        )
        return [self._variant(r) for r in rows]

    def template_names(self) -> list[str]:
        rows = self.conn.execute(
            sa.select(send_templates.c.name).distinct().order_by(send_templates.c.name)
        )
        return [r.name for r in rows]

    def replace_template(
        self, name: str, variants: Sequence[TemplateVariant], now: datetime
    ) -> None:
        created = self.conn.execute(
            sa.select(sa.func.min(send_templates.c.created_at)).where(send_templates.c.name == name)
        ).scalar()
        self.conn.execute(send_templates.delete().where(send_templates.c.name == name))
        self.conn.execute(
            send_templates.insert(),
            [
                {
                    "name": name,
                    "channel": v.channel,
                    "language": v.language,
                    "subject": v.subject,
                    "text": v.text,
                    "html": v.html,
                    "provider_template": dict(v.provider_template)
                    if v.provider_template is not None
                    else None,
                    "created_at": created or now,
                    "updated_at": now,
                }
                for v in variants
            ],
        )

    def delete_template(self, name: str) -> int:
        return int(
            self.conn.execute(send_templates.delete().where(send_templates.c.name == name)).rowcount
        )

    # -- broadcasts ------------------------------------------------------------------------

    def _broadcast(self, row: sa.Row[Any]) -> Broadcast:
        content = row.content
        return Broadcast(
            id=row.id,
            name=row.name,
            segment_id=row.segment_id,
            purpose=row.purpose,
            category=row.category,
            priority=row.priority,
            channels=tuple(row.channels),
            content=Content(
                template=content.get("template"),
                text=content.get("text"),
                subject=content.get("subject"),
                html=content.get("html"),
                variables=content.get("variables") or {},
            ),
            schedule_at=row.schedule_at,
            status=row.status,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            fallback_after_seconds=row.fallback_after_seconds,
            not_after=row.not_after,
            cursor=row.cursor,
            expanded=row.expanded,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    def add_broadcast(self, b: Broadcast) -> None:
        c = b.content
        self.conn.execute(
            broadcasts.insert().values(
                id=b.id,
                name=b.name,
                segment_id=b.segment_id,
                purpose=b.purpose,
                category=b.category,
                priority=b.priority,
                channels=list(b.channels),
                content={
                    "template": c.template,
                    "text": c.text,
                    "subject": c.subject,
                    "html": c.html,
                    "variables": dict(c.variables),
                },
                fallback_after_seconds=b.fallback_after_seconds,
                not_after=b.not_after,
                schedule_at=b.schedule_at,
                status=b.status,
                cursor=b.cursor,
                expanded=b.expanded,
                created_by=b.created_by,
                created_at=b.created_at,
                updated_at=b.updated_at,
                started_at=b.started_at,
                finished_at=b.finished_at,
            )
        )

    def broadcast(self, broadcast_id: str, *, lock: bool = False) -> Broadcast | None:
        query = sa.select(broadcasts).where(broadcasts.c.id == broadcast_id)
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return self._broadcast(row) if row else None

    def list_broadcasts(self, limit: int) -> list[Broadcast]:
        rows = self.conn.execute(
            sa.select(broadcasts).order_by(broadcasts.c.created_at.desc()).limit(limit)
        )
        return [self._broadcast(r) for r in rows]

    def due_broadcast(self, now: datetime) -> Broadcast | None:
        query = (
            sa.select(broadcasts)
            .where(broadcasts.c.status.in_(["scheduled", "sending"]))
            .where(broadcasts.c.schedule_at <= now)
            .order_by(broadcasts.c.schedule_at, broadcasts.c.id)
            .limit(1)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = self.conn.execute(query).first()
        return self._broadcast(row) if row else None

    def update_broadcast(
        self, broadcast_id: str, *, only_if: Collection[str] | None = None, **values: Any
    ) -> bool:
        statement = broadcasts.update().where(broadcasts.c.id == broadcast_id)
        if only_if is not None:
            statement = statement.where(broadcasts.c.status.in_(list(only_if)))
        return bool(self.conn.execute(statement.values(**values)).rowcount)

    def broadcast_counts(self, broadcast_id: str) -> BroadcastCounts:
        rows = self.conn.execute(
            sa.select(sends.c.status, sends.c.code, sa.func.count())
            .where(sends.c.broadcast_id == broadcast_id)
            .group_by(sends.c.status, sends.c.code)
        )
        by_status: dict[str, int] = {}
        skipped: dict[str, int] = {}
        for status, code, count in rows:
            by_status[status] = by_status.get(status, 0) + count
            if status == "skipped":
                skipped[code] = skipped.get(code, 0) + count
        return BroadcastCounts(
            decided=sum(n for s, n in by_status.items() if s != "deciding"),
            queued=by_status.get("queued", 0) + by_status.get("sending", 0),
            sent=sum(by_status.get(s, 0) for s in GONE),
            delivered=by_status.get("delivered", 0),
            failed=by_status.get("failed", 0),
            deferred=by_status.get("deferred", 0),
            cancelled=by_status.get("cancelled", 0),
            unknown=by_status.get("unknown", 0),
            skipped=dict(sorted(skipped.items())),
        )

    # -- privacy ---------------------------------------------------------------------------

    def customer_rows(self, customer_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        ids = sorted(customer_ids)
        found: dict[str, list[dict[str, Any]]] = {}
        for table in CUSTOMER_TABLES:
            rows = (
                [
                    dict(r._mapping)
                    for r in self.conn.execute(sa.select(table).where(table.c.customer_id.in_(ids)))
                ]
                if ids
                else []
            )
            found[str(table.name)] = [self._open(row) for row in rows]
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

    def expire(self, cutoff: datetime, *, dry_run: bool, limit: int) -> int:
        """Sends decided before `cutoff` that are over (skipped, failed, delivered…), with
        their messages, decisions and receipts (opens and clicks)."""
        over = ("skipped", "failed", "cancelled", "sent", "delivered", "unknown")
        ids = [
            r.id
            for r in self.conn.execute(
                sa.select(sends.c.id)
                .where(sends.c.updated_at < cutoff, sends.c.status.in_(over))
                .limit(limit)
            )
        ]
        if dry_run or not ids:
            return len(ids)
        self.conn.execute(send_messages.delete().where(send_messages.c.send_ref.in_(ids)))
        self.conn.execute(send_decisions.delete().where(send_decisions.c.send_ref.in_(ids)))
        self.conn.execute(send_receipts.delete().where(send_receipts.c.send_ref.in_(ids)))
        return int(self.conn.execute(sends.delete().where(sends.c.id.in_(ids))).rowcount)

    def expire_outbox(self, topic: str, cutoff: datetime, *, dry_run: bool, limit: int) -> int:
        """The outbox rows of `topic` that are finished (done or dead) and were queued before
        `cutoff`; pending ones are never due. The messages they sent stay with their sends."""
        o = outbox.c
        due = (
            sa.select(o.id)
            .where(o.topic == topic, o.status.in_(("done", "dead")), o.created_at < cutoff)
            .limit(limit)
        )
        ids = [row.id for row in self.conn.execute(due)]
        if dry_run or not ids:
            return len(ids)
        return int(self.conn.execute(outbox.delete().where(o.id.in_(ids))).rowcount)

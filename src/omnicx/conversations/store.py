"""SQL storage of conversations, messages, attachments and delivery histories.

Free text is sealed here on the way in and opened on the way out (subjects, bodies, names,
CSAT comments, call and visit metadata, attachment names and contents), so the domain sees
plaintext only. A conversation row keeps the profile id it was opened for; reads join the
profiles table so it always shows under that profile's surviving (canonical) customer.
"""

import weakref
from collections.abc import Collection, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.conversations.model import (
    Attachment,
    Conversation,
    Csat,
    DeliveryState,
    DeliveryStatus,
    Message,
)
from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, metadata, outbox
from omnicx.db.bulk import Prepared, insert_many, query, select_in, update_one
from omnicx.events.store import events
from omnicx.profiles.store import profiles

ID = sa.String(36)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("customer_id", ID, nullable=True, index=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("priority", sa.String(10), nullable=False),
    sa.Column("subject", sa.Text(), nullable=True),
    sa.Column("contact_reason", sa.String(100), nullable=True),
    sa.Column("team_id", ID, nullable=True, index=True),
    sa.Column("assignee_id", ID, nullable=True, index=True),
    sa.Column("sla_policy_id", ID, nullable=True),
    sa.Column("sla", JsonValue, nullable=False),
    sa.Column("csat_score", sa.Integer(), nullable=True),
    sa.Column("csat_comment", sa.Text(), nullable=True),
    sa.Column("csat_at", UtcDateTime(), nullable=True),
    sa.Column("labels", JsonValue, nullable=False),
    sa.Column("channels", JsonValue, nullable=False),
    sa.Column("last_inbound_channel", sa.String(40), nullable=True),
    sa.Column("last_message_at", UtcDateTime(), nullable=True),
    sa.Column("snoozed_until", UtcDateTime(), nullable=True),
    sa.Column("resolved_at", UtcDateTime(), nullable=True),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.Column("merged_into", ID, nullable=True),
    sa.Column("split_from", ID, nullable=True),
    sa.Column("reply_token", sa.String(40), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_conversations_status_last", "status", "last_message_at"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("conversation_id", ID, nullable=False),
    sa.Column("customer_id", ID, nullable=True, index=True),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("direction", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("account", sa.String(320), nullable=True),
    sa.Column("sender_kind", sa.String(10), nullable=False),
    sa.Column("sender_id", sa.String(80), nullable=True),
    sa.Column("sender_name", sa.Text(), nullable=True),
    sa.Column("to_kind", sa.String(40), nullable=True),
    sa.Column("to_value", sa.Text(), nullable=True),
    sa.Column("subject", sa.Text(), nullable=True),
    sa.Column("text", sa.Text(), nullable=True),
    sa.Column("html", sa.Text(), nullable=True),
    sa.Column("provider_message_id", sa.String(200), nullable=True),
    sa.Column("email_message_id", sa.String(400), nullable=True, index=True),
    sa.Column("in_reply_to", sa.String(400), nullable=True),
    sa.Column("references", JsonValue, nullable=False),
    sa.Column("status", sa.String(12), nullable=True),
    sa.Column("warnings", JsonValue, nullable=False),
    sa.Column("metadata", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("channel", "provider_message_id"),
    sa.Index("ix_messages_conversation_seq", "conversation_id", "seq"),
)

message_attachments = sa.Table(
    "message_attachments",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("message_id", ID, nullable=False, index=True),
    sa.Column("filename", sa.Text(), nullable=False),
    sa.Column("content_type", sa.String(200), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("content", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

message_deliveries = sa.Table(
    "message_deliveries",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("message_id", ID, nullable=False, index=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("at", UtcDateTime(), nullable=False),
)

SEND = "channel.send"
"""Outbox topic of an outbound message waiting to leave through its channel."""

TIMELINE_SOURCE = "conversations"
"""`source_id` of the timeline rows conversations write."""

CONVERSATION_TABLES = ("conversations", "messages", "message_attachments", "message_deliveries")

_canonical = profiles.c.canonical_id.label("canonical_id")


def _conversation_query() -> sa.Select[Any]:
    return sa.select(conversations, _canonical).select_from(
        conversations.outerjoin(profiles, profiles.c.id == conversations.c.customer_id)
    )


# The statements of the inbound path, built once: SQLAlchemy then reuses their cache keys
# instead of building and hashing a new statement for every message.
_BY_ID = _conversation_query().where(conversations.c.id == sa.bindparam("conversation_id"))
_BY_ID_LOCKED = _BY_ID.with_for_update(of=conversations)
_OF_CUSTOMER = Prepared(
    _conversation_query()
    .where(
        profiles.c.canonical_id == sa.bindparam("canonical_id"),
        conversations.c.merged_into.is_(None),
    )
    .order_by(
        sa.func.coalesce(conversations.c.last_message_at, conversations.c.created_at).desc(),
        conversations.c.id,
    )
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_NEXT_SEQ = "SELECT max(seq) FROM messages WHERE conversation_id = ?"
_MESSAGE = sa.select(messages).where(messages.c.id == sa.bindparam("message_id"))
_BY_PROVIDER_ID = sa.select(messages).where(
    messages.c.channel == sa.bindparam("channel"),
    messages.c.provider_message_id == sa.bindparam("provider_message_id"),
)
_PROVIDER_IDS_IN = (
    "SELECT provider_message_id FROM messages "
    "WHERE channel = ? AND provider_message_id IN ({marks})"
)
_ATTACHMENTS_OF = (
    sa.select(
        message_attachments.c.id,
        message_attachments.c.message_id,
        message_attachments.c.filename,
        message_attachments.c.content_type,
        message_attachments.c.size,
    )
    .where(message_attachments.c.message_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(message_attachments.c.created_at, message_attachments.c.id)
)


_STORED: weakref.WeakKeyDictionary[sa.Connection, dict[str, Message]] = weakref.WeakKeyDictionary()
"""Messages just stored, per connection: the reactions to a new inbound message (the desk,
consent, the read models) read it back by id inside the same transaction, and get it from
here instead of from two queries and a decryption. An entry lives while its message's part
of the transaction runs (`remember` ... `forget`); any write to messages drops them all."""


_KEPT: weakref.WeakKeyDictionary[sa.Connection, dict[str, Conversation]] = (
    weakref.WeakKeyDictionary()
)
"""Conversations read or written while one inbound message's part of a transaction runs,
per connection (`keep_conversations` ... `forget`): the reactions to the message (the desk
reads its conversation twice) get the conversation just written from here. Writes through
`update` keep an entry current; other writes drop them all."""

_PLAIN_FIELDS = frozenset(
    {
        "status",
        "priority",
        "updated_at",
        "last_message_at",
        "last_inbound_channel",
        "subject",
        "contact_reason",
        "team_id",
        "assignee_id",
        "snoozed_until",
        "resolved_at",
        "closed_at",
        "merged_into",
        "split_from",
        "sla_policy_id",
        "sla",
        "labels",
        "channels",
        "reply_token",
    }
)
"""Columns of `conversations` that are `Conversation` fields of the same name."""


class SqlConversationRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def keep_conversations(self) -> None:
        """Keep the conversations this connection reads and writes, until `forget`."""
        _KEPT[self.conn] = {}

    def _keep(self, conversation: Conversation) -> None:
        kept = _KEPT.get(self.conn)
        if kept is not None:
            kept[conversation.id] = conversation

    def _kept_update(self, conversation_id: str, values: dict[str, Any]) -> None:
        kept = _KEPT.get(self.conn)
        if kept is None or conversation_id not in kept:
            return
        if not values.keys() <= _PLAIN_FIELDS:
            del kept[conversation_id]
            return
        fields = dict(values)
        for key in ("labels", "channels"):
            if key in fields:
                fields[key] = tuple(fields[key])
        if "sla" in fields:
            fields["sla"] = dict(fields["sla"])
        kept[conversation_id] = replace(kept[conversation_id], **fields)

    def remember(self, message: Message) -> None:
        """`message` (as stored, with its attachments) answers `message(id)` on this
        connection until `forget`."""
        _STORED.setdefault(self.conn, {})[message.id] = message

    def forget(self) -> None:
        _STORED.pop(self.conn, None)
        _KEPT.pop(self.conn, None)

    # -- sealing -------------------------------------------------------------------------

    def _seal(self, value: Any) -> Any:
        return self.cipher.seal_if(True, value)

    def _open(self, value: Any) -> Any:
        return self.cipher.reveal(value)

    # -- conversations -------------------------------------------------------------------

    def _conversation(self, row: sa.Row[Any]) -> Conversation:
        m = row._mapping
        csat = None
        if m["csat_score"] is not None:
            csat = Csat(m["csat_score"], self._open(m["csat_comment"]), m["csat_at"])
        return Conversation(
            id=m["id"],
            customer_id=m["canonical_id"] or m["customer_id"] or "",
            status=m["status"],
            priority=m["priority"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            last_message_at=m["last_message_at"],
            last_inbound_channel=m["last_inbound_channel"],
            subject=self._open(m["subject"]),
            contact_reason=m["contact_reason"],
            team_id=m["team_id"],
            assignee_id=m["assignee_id"],
            snoozed_until=m["snoozed_until"],
            resolved_at=m["resolved_at"],
            closed_at=m["closed_at"],
            merged_into=m["merged_into"],
            split_from=m["split_from"],
            labels=tuple(m["labels"]),
            channels=tuple(m["channels"]),
            sla_policy_id=m["sla_policy_id"],
            sla=dict(m["sla"]),
            csat=csat,
            reply_token=m["reply_token"],
        )

    def add_conversation(self, c: Conversation) -> None:
        self._keep(c)
        insert_many(
            self.conn,
            conversations,
            [
                {
                    "id": c.id,
                    "customer_id": c.customer_id,
                    "status": c.status,
                    "priority": c.priority,
                    "subject": self._seal(c.subject),
                    "contact_reason": c.contact_reason,
                    "team_id": c.team_id,
                    "assignee_id": c.assignee_id,
                    "sla_policy_id": c.sla_policy_id,
                    "sla": c.sla,
                    "labels": list(c.labels),
                    "channels": list(c.channels),
                    "last_inbound_channel": c.last_inbound_channel,
                    "last_message_at": c.last_message_at,
                    "merged_into": c.merged_into,
                    "split_from": c.split_from,
                    "reply_token": c.reply_token,
                    "created_at": c.created_at,
                    "updated_at": c.updated_at,
                }
            ],
        )

    def get(self, conversation_id: str, *, lock: bool = False) -> Conversation | None:
        if not lock:
            kept = _KEPT.get(self.conn)
            if kept is not None and conversation_id in kept:
                return kept[conversation_id]
        query = _BY_ID_LOCKED if lock and self.conn.dialect.name == "postgresql" else _BY_ID
        row = self.conn.execute(query, {"conversation_id": conversation_id}).first()
        if row is None:
            return None
        conversation = self._conversation(row)
        self._keep(conversation)
        return conversation

    def by_reply_token(self, token: str) -> Conversation | None:
        row = self.conn.execute(
            _conversation_query().where(conversations.c.reply_token == token)
        ).first()
        return self._conversation(row) if row else None

    def by_email_ids(self, email_ids: Collection[str]) -> Conversation | None:
        """The conversation of the latest message carrying one of these Message-IDs."""
        if not email_ids:
            return None
        found = self.conn.execute(
            sa.select(messages.c.conversation_id)
            .where(messages.c.email_message_id.in_(list(email_ids)))
            .order_by(messages.c.created_at.desc())
            .limit(1)
        ).scalar()
        return self.get(found) if found else None

    def update(self, conversation_id: str, **values: Any) -> None:
        self._kept_update(conversation_id, values)
        if "subject" in values:
            values["subject"] = self._seal(values["subject"])
        if "csat_comment" in values:
            values["csat_comment"] = self._seal(values["csat_comment"])
        for key in ("labels", "channels"):
            if key in values:
                values[key] = list(values[key])
        update_one(self.conn, conversations, "id", conversation_id, values)

    def lock_customer(self, profile_id: str) -> None:
        """Serialise writers of one customer's conversations (SQLite's write lock does it)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(
                sa.select(profiles.c.id).where(profiles.c.id == profile_id).with_for_update()
            )

    def of_customer(self, canonical_id: str, *, limit: int = 100) -> list[Conversation]:
        """A customer's conversations (merged-away ones left out), latest activity first."""
        rows = _OF_CUSTOMER.rows(self.conn, {"canonical_id": canonical_id, "limit": limit})
        found = [self._conversation(r) for r in rows]
        if self.conn in _KEPT:
            for conversation in found:
                self._keep(conversation)
        return found

    def search(
        self,
        *,
        statuses: Sequence[str],
        channel: str | None,
        assignee_id: str | None,
        team_id: str | None,
        canonical_id: str | None,
        label: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
        unassigned: bool = False,
        team_ids: Sequence[str] | None = None,
        contact_reason: str | None = None,
        sla_state: str | None = None,
    ) -> list[Conversation]:
        """Conversations by filters, latest activity first; `after` is the last one seen.
        `unassigned`: no agent holds it; `team_ids`: any of these teams; `sla_state`: the
        `state` of the SLA summary."""
        activity = sa.func.coalesce(conversations.c.last_message_at, conversations.c.created_at)
        query = _conversation_query().where(conversations.c.merged_into.is_(None))
        if statuses:
            query = query.where(conversations.c.status.in_(list(statuses)))
        if assignee_id is not None:
            query = query.where(conversations.c.assignee_id == assignee_id)
        if unassigned:
            query = query.where(conversations.c.assignee_id.is_(None))
        if team_id is not None:
            query = query.where(conversations.c.team_id == team_id)
        if team_ids is not None:
            query = query.where(conversations.c.team_id.in_(list(team_ids)))
        if contact_reason is not None:
            query = query.where(conversations.c.contact_reason == contact_reason)
        if canonical_id is not None:
            query = query.where(profiles.c.canonical_id == canonical_id)
        if channel is not None:
            query = query.where(
                sa.exists().where(
                    messages.c.conversation_id == conversations.c.id,
                    messages.c.channel == channel,
                )
            )
        if after is not None:
            at, last_id = after
            query = query.where(
                sa.or_(activity < at, sa.and_(activity == at, conversations.c.id > last_id))
            )
        query = query.order_by(activity.desc(), conversations.c.id)
        if label is None and sla_state is None:
            return [self._conversation(r) for r in self.conn.execute(query.limit(limit))]
        # Labels and the SLA summary are JSON: filtered here, reading on in pages until
        # enough match.
        found: list[Conversation] = []
        offset = 0
        while len(found) < limit:
            page = [
                self._conversation(r) for r in self.conn.execute(query.limit(500).offset(offset))
            ]
            found.extend(
                c
                for c in page
                if (label is None or label in c.labels)
                and (sla_state is None or c.sla.get("state") == sla_state)
            )
            if len(page) < 500:
                break
            offset += 500
        return found[:limit]

    # -- messages ------------------------------------------------------------------------

    def next_seq(self, conversation_id: str) -> int:
        ((top,),) = query(self.conn, _NEXT_SEQ, (conversation_id,))
        return int(top or 0) + 1

    def add_message(self, m: Message) -> None:
        insert_many(
            self.conn,
            messages,
            [
                {
                    "id": m.id,
                    "conversation_id": m.conversation_id,
                    "customer_id": m.customer_id,
                    "seq": m.seq,
                    "direction": m.direction,
                    "kind": m.kind,
                    "channel": m.channel,
                    "account": m.account,
                    "sender_kind": m.sender_kind,
                    "sender_id": m.sender_id,
                    "sender_name": self._seal(m.sender_name),
                    "to_kind": m.to[0] if m.to else None,
                    "to_value": self._seal(m.to[1]) if m.to else None,
                    "subject": self._seal(m.subject),
                    "text": self._seal(m.text),
                    "html": self._seal(m.html),
                    "provider_message_id": m.provider_message_id,
                    "email_message_id": m.email_message_id,
                    "in_reply_to": m.in_reply_to,
                    "references": list(m.references),
                    "status": m.status,
                    "warnings": list(m.warnings),
                    "metadata": self._seal(m.metadata) if m.metadata else None,
                    "created_at": m.created_at,
                    "updated_at": m.created_at,
                }
            ],
        )

    def add_attachment(self, attachment: Attachment, content: bytes, now: datetime) -> None:
        sealed = self.cipher.seal_bytes(content) if self.cipher.enabled else content
        self.conn.execute(
            message_attachments.insert().values(
                id=attachment.id,
                message_id=attachment.message_id,
                filename=self._seal(attachment.filename),
                content_type=attachment.content_type,
                size=attachment.size,
                content=sealed,
                created_at=now,
            )
        )

    def _message(self, row: sa.Row[Any], attachments: tuple[Attachment, ...]) -> Message:
        m = row._mapping
        to = (m["to_kind"], self._open(m["to_value"])) if m["to_kind"] else None
        return Message(
            id=m["id"],
            conversation_id=m["conversation_id"],
            customer_id=m["customer_id"] or "",
            seq=m["seq"],
            direction=m["direction"],
            kind=m["kind"],
            channel=m["channel"],
            account=m["account"],
            sender_kind=m["sender_kind"],
            sender_id=m["sender_id"],
            created_at=m["created_at"],
            text=self._open(m["text"]),
            html=self._open(m["html"]),
            subject=self._open(m["subject"]),
            sender_name=self._open(m["sender_name"]),
            to=to,
            provider_message_id=m["provider_message_id"],
            email_message_id=m["email_message_id"],
            in_reply_to=m["in_reply_to"],
            references=tuple(m["references"]),
            status=m["status"],
            warnings=tuple(m["warnings"]),
            metadata=dict(self._open(m["metadata"])) if m["metadata"] else {},
            attachments=attachments,
        )

    def _with_attachments(self, rows: Sequence[sa.Row[Any]]) -> list[Message]:
        ids = [r.id for r in rows]
        found: dict[str, list[Attachment]] = {}
        if ids:
            for a in self.conn.execute(_ATTACHMENTS_OF, {"ids": ids}):
                found.setdefault(a.message_id, []).append(
                    Attachment(a.id, a.message_id, self._open(a.filename), a.content_type, a.size)
                )
        return [self._message(r, tuple(found.get(r.id, ()))) for r in rows]

    def message(self, message_id: str) -> Message | None:
        stored = _STORED.get(self.conn)
        if stored is not None and message_id in stored:
            return stored[message_id]
        row = self.conn.execute(_MESSAGE, {"message_id": message_id}).first()
        return self._with_attachments([row])[0] if row else None

    def provider_ids_stored(
        self, keys: Collection[tuple[str, str | None]]
    ) -> set[tuple[str, str | None]]:
        """Which of these (channel, provider message id) pairs a stored message has."""
        by_channel: dict[str, list[str]] = {}
        for channel, provider_id in keys:
            if provider_id:
                by_channel.setdefault(channel, []).append(provider_id)
        found: set[tuple[str, str | None]] = set()
        for channel, ids in by_channel.items():
            rows = select_in(self.conn, _PROVIDER_IDS_IN, sorted(set(ids)), before=(channel,))
            found.update((channel, r[0]) for r in rows)
        return found

    def by_provider_id(self, channel: str, provider_message_id: str) -> Message | None:
        row = self.conn.execute(
            _BY_PROVIDER_ID, {"channel": channel, "provider_message_id": provider_message_id}
        ).first()
        return self._with_attachments([row])[0] if row else None

    def messages_of(
        self, conversation_id: str, *, after_seq: int = 0, limit: int = 10_000
    ) -> list[Message]:
        rows = self.conn.execute(
            sa.select(messages)
            .where(messages.c.conversation_id == conversation_id, messages.c.seq > after_seq)
            .order_by(messages.c.seq)
            .limit(limit)
        ).all()
        return self._with_attachments(rows)

    def latest_messages(
        self, conversation_ids: Collection[str], *, notes: bool = False
    ) -> dict[str, Message]:
        """The last message of each conversation (internal notes left out unless `notes`),
        without attachments."""
        if not conversation_ids:
            return {}
        wanted: sa.ColumnElement[bool] = messages.c.conversation_id.in_(list(conversation_ids))
        if not notes:
            wanted = sa.and_(wanted, messages.c.direction != "note")
        last = (
            sa.select(messages.c.conversation_id, sa.func.max(messages.c.seq).label("seq"))
            .where(wanted)
            .group_by(messages.c.conversation_id)
            .subquery()
        )
        rows = self.conn.execute(
            sa.select(messages).join(
                last,
                sa.and_(
                    messages.c.conversation_id == last.c.conversation_id,
                    messages.c.seq == last.c.seq,
                ),
            )
        ).all()
        return {r.conversation_id: self._message(r, ()) for r in rows}

    def attachment_content(self, attachment_id: str) -> tuple[Attachment, bytes] | None:
        row = self.conn.execute(
            sa.select(message_attachments).where(message_attachments.c.id == attachment_id)
        ).first()
        if row is None:
            return None
        content = self.cipher.open_bytes(row.content) if self.cipher.enabled else row.content
        attachment = Attachment(
            row.id, row.message_id, self._open(row.filename), row.content_type, row.size
        )
        return attachment, content

    def last_inbound(
        self, canonical_id: str, channel: str, conversation_id: str | None = None
    ) -> Message | None:
        """The customer's latest inbound message on `channel` (in one conversation if given)."""
        query = (
            sa.select(messages)
            .select_from(messages.join(profiles, profiles.c.id == messages.c.customer_id))
            .where(
                profiles.c.canonical_id == canonical_id,
                messages.c.channel == channel,
                messages.c.direction == "inbound",
            )
        )
        if conversation_id is not None:
            query = query.where(messages.c.conversation_id == conversation_id)
        row = self.conn.execute(query.order_by(messages.c.created_at.desc()).limit(1)).first()
        return self._with_attachments([row])[0] if row else None

    def last_inbound_many(
        self, canonical_ids: Collection[str]
    ) -> dict[tuple[str, str], tuple[str | None, datetime]]:
        """(customer, channel) -> (account, created_at) of `last_inbound` in any conversation,
        for many canonical customers at once."""
        rows = select_in(
            self.conn,
            "SELECT canonical_id, channel, account, created_at FROM ("
            "SELECT p.canonical_id AS canonical_id, m.channel AS channel, m.account AS account, "
            "m.created_at AS created_at, ROW_NUMBER() OVER (PARTITION BY p.canonical_id, "
            "m.channel ORDER BY m.created_at DESC) AS n FROM messages m "
            "JOIN profiles p ON p.id = m.customer_id "
            "WHERE m.direction = 'inbound' AND p.canonical_id IN ({marks})) ranked WHERE n = 1",
            sorted(set(canonical_ids)),
        )
        read = messages.c.created_at.type._cached_result_processor(self.conn.dialect, None)
        found: dict[tuple[str, str], tuple[str | None, Any]] = {}
        for customer, channel, account, at in rows:
            found[(customer, channel)] = (account, read(at) if read is not None else at)
        return found

    def move_messages(self, message_ids: Sequence[str], conversation_id: str) -> None:
        """Move messages to another conversation; their timeline rows follow, so a customer's
        timeline links each message to the conversation that holds it now."""
        self.forget()
        if not message_ids:
            return
        ids = list(message_ids)
        self.conn.execute(
            messages.update().where(messages.c.id.in_(ids)).values(conversation_id=conversation_id)
        )
        for start in range(0, len(ids), 400):
            chunk = ids[start : start + 400]
            rows = self.conn.execute(
                sa.select(events.c.id, events.c.properties).where(
                    events.c.source_id == TIMELINE_SOURCE, events.c.message_id.in_(chunk)
                )
            ).all()
            if not rows:
                continue
            event_id: sa.BindParameter[int] = sa.bindparam("event_id")
            self.conn.execute(
                events.update()
                .where(events.c.id == event_id)
                .values(properties=sa.bindparam("new_properties")),
                [
                    {
                        "event_id": row.id,
                        "new_properties": self._retargeted(row.properties, conversation_id),
                    }
                    for row in rows
                ],
            )

    def _retargeted(self, properties: Any, conversation_id: str) -> dict[str, Any]:
        plain = dict(self.cipher.reveal(properties) or {})
        plain["conversation_id"] = conversation_id
        return self.cipher.seal_sensitive(plain) if self.cipher.enabled else plain

    def renumber(self, conversation_id: str, ordered_ids: Sequence[str]) -> None:
        """Give the conversation's messages positions 1.. in the order given."""
        self.forget()
        if not ordered_ids:
            return
        # Out of the way first: (conversation_id, seq) positions may collide mid-way.
        self.conn.execute(
            messages.update()
            .where(messages.c.conversation_id == conversation_id)
            .values(seq=-messages.c.seq - 1_000_000)
        )
        m_id: sa.BindParameter[str] = sa.bindparam("m_id")
        self.conn.execute(
            messages.update().where(messages.c.id == m_id).values(seq=sa.bindparam("new_seq")),
            [{"m_id": mid, "new_seq": i} for i, mid in enumerate(ordered_ids, start=1)],
        )

    def set_delivery(
        self, message_id: str, status: DeliveryState | None, provider_id: str | None, now: datetime
    ) -> None:
        self.forget()
        values: dict[str, Any] = {"updated_at": now}
        if status is not None:
            values["status"] = status
        if provider_id is not None:
            values["provider_message_id"] = provider_id
        self.conn.execute(messages.update().where(messages.c.id == message_id).values(**values))

    def add_delivery(self, entry: DeliveryStatus) -> None:
        self.conn.execute(
            message_deliveries.insert().values(
                message_id=entry.message_id, status=entry.status, error=entry.error, at=entry.at
            )
        )

    def deliveries(self, message_id: str) -> list[DeliveryStatus]:
        rows = self.conn.execute(
            sa.select(message_deliveries)
            .where(message_deliveries.c.message_id == message_id)
            .order_by(message_deliveries.c.at, message_deliveries.c.id)
        )
        return [DeliveryStatus(r.message_id, r.status, r.at, r.error) for r in rows]

    # -- privacy -------------------------------------------------------------------------

    def ids_of_profiles(self, profile_ids: Collection[str]) -> list[str]:
        if not profile_ids:
            return []
        return list(
            self.conn.execute(
                sa.select(conversations.c.id).where(
                    conversations.c.customer_id.in_(list(profile_ids))
                )
            ).scalars()
        )

    def export_rows(self, conversation_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        if not conversation_ids:
            return {"conversations": [], "messages": [], "message_attachments": []}
        convs = [
            _plain(self._conversation(r))
            for r in self.conn.execute(
                _conversation_query()
                .where(conversations.c.id.in_(list(conversation_ids)))
                .order_by(conversations.c.created_at)
            )
        ]
        found: list[Message] = []
        for cid in conversation_ids:
            found.extend(self.messages_of(cid))
        rows = [_plain(m) for m in found]
        attachments = [_plain(a) for m in found for a in m.attachments]
        for row in rows:
            row.pop("attachments", None)
        return {"conversations": convs, "messages": rows, "message_attachments": attachments}

    def expire_sends(self, cutoff: datetime, *, dry_run: bool, limit: int) -> int:
        """Finished sends (done or dead) queued before `cutoff`; pending ones are never due."""
        o = outbox.c
        due = (
            sa.select(o.id)
            .where(o.topic == SEND, o.status.in_(("done", "dead")), o.created_at < cutoff)
            .limit(limit)
        )
        if dry_run:
            return int(
                self.conn.execute(
                    sa.select(sa.func.count()).select_from(due.subquery())
                ).scalar_one()
            )
        ids = [row.id for row in self.conn.execute(due)]
        if not ids:
            return 0
        return int(self.conn.execute(outbox.delete().where(o.id.in_(ids))).rowcount)

    def erase(self, conversation_ids: Sequence[str], now: datetime) -> dict[str, int]:
        """Messages, attachments and delivery histories go; conversations stay anonymised."""
        self.forget()
        if not conversation_ids:
            return {}
        ids = list(conversation_ids)
        message_ids = list(
            self.conn.execute(
                sa.select(messages.c.id).where(messages.c.conversation_id.in_(ids))
            ).scalars()
        )
        counts = {"conversations": len(ids), "messages": len(message_ids)}
        counts["message_attachments"] = counts["message_deliveries"] = 0
        for start in range(0, len(message_ids), 400):
            chunk = message_ids[start : start + 400]
            counts["message_attachments"] += self.conn.execute(
                message_attachments.delete().where(message_attachments.c.message_id.in_(chunk))
            ).rowcount
            counts["message_deliveries"] += self.conn.execute(
                message_deliveries.delete().where(message_deliveries.c.message_id.in_(chunk))
            ).rowcount
        self.conn.execute(messages.delete().where(messages.c.conversation_id.in_(ids)))
        self.conn.execute(
            conversations.update()
            .where(conversations.c.id.in_(ids))
            .values(
                customer_id=None,
                subject=None,
                csat_comment=None,
                labels=[],
                sla={},
                status="closed",
                closed_at=sa.func.coalesce(conversations.c.closed_at, now),
                updated_at=now,
            )
        )
        return counts


def _plain(obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = asdict(obj)
    return result

"""SQL storage of what customers did with the gate's messages: the receipts of email tracking,
and their entries on the timeline. (The templates themselves are rows of `send_templates`,
read through `SqlSendRepository.variants`.)

    send_receipts   one row per open ("read") and per click ("clicked") of a message; the
                    destination of a click is sealed (a link can carry personal data)

Receipts are the customer's: they join privacy's export and erasure by `customer_id`.
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from omnicx.crypto import FieldCipher
from omnicx.db import UtcDateTime, metadata
from omnicx.events.store import events
from omnicx.kernel.moments import micros
from omnicx.orchestration.gate import MessageRecord, SendRecord
from omnicx.orchestration.templates import Receipt

ID = sa.String(36)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

TIMELINE_SOURCE = "tracking"
"""`source_id` of the timeline rows of opens and clicks: the customer's own engagement, which
the gate counts when it ranks channels (unlike its own "Message Sent")."""

send_receipts = sa.Table(
    "send_receipts",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("send_ref", ID, nullable=False, index=True),
    sa.Column("message_id", ID, nullable=False),
    sa.Column("customer_id", ID, nullable=False, index=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("link", sa.Text(), nullable=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_send_receipts_message_id_kind", "message_id", "kind"),
)


def _shown(url: str) -> str:
    """A link as the timeline shows it: without its query and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class SqlReceiptRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def _receipt(self, row: sa.Row[Any]) -> Receipt:
        return Receipt(
            id=row.id,
            send_ref=row.send_ref,
            message_id=row.message_id,
            customer_id=row.customer_id,
            channel=row.channel,
            kind=row.kind,
            link=self.cipher.reveal(row.link) if row.link is not None else None,
            at=row.at,
        )

    def add(
        self, message: MessageRecord, send_id: str, kind: str, link: str | None, at: datetime
    ) -> int:
        result = self.conn.execute(
            send_receipts.insert().values(
                send_ref=message.send_ref,
                message_id=message.id,
                customer_id=message.customer_id,
                channel=message.channel,
                kind=kind,
                link=self.cipher.seal_if(True, link),
                at=at,
            )
        )
        (key,) = result.inserted_primary_key or (None,)
        assert key is not None
        return int(key)

    def has(self, message_id: str, kind: str) -> bool:
        found = self.conn.execute(
            sa.select(send_receipts.c.id)
            .where(send_receipts.c.message_id == message_id, send_receipts.c.kind == kind)
            .limit(1)
        ).first()
        return found is not None

    def count(self, message_id: str, kind: str) -> int:
        return int(
            self.conn.execute(
                sa.select(sa.func.count())
                .select_from(send_receipts)
                .where(send_receipts.c.message_id == message_id, send_receipts.c.kind == kind)
            ).scalar_one()
        )

    def of_send(self, send_ref: str) -> list[Receipt]:
        rows = self.conn.execute(
            sa.select(send_receipts)
            .where(send_receipts.c.send_ref == send_ref)
            .order_by(send_receipts.c.at, send_receipts.c.id)
        )
        return [self._receipt(r) for r in rows]

    def add_timeline(
        self,
        event_id: int,
        message: MessageRecord,
        send: SendRecord,
        name: str,
        link: str | None,
        at: datetime,
        *,
        receipt_id: int | None = None,
    ) -> None:
        """An open or a click on the customer's timeline, with the send it answers."""
        ts = micros(at)
        properties: dict[str, Any] = {
            "send_id": send.send_id,
            "message_id": message.id,
            "origin": send.intent.origin,
            "purpose": send.intent.purpose,
            "category": send.intent.category,
        }
        if link is not None:
            properties["url"] = _shown(link)
        key = f"{message.id}:opened" if receipt_id is None else f"{message.id}:c{receipt_id}"
        self.conn.execute(
            events.insert().values(
                id=event_id,
                source_id=TIMELINE_SOURCE,
                message_id=key,
                profile_id=send.customer_id,
                type="track",
                event=name,
                name=None,
                channel=message.channel,
                ts=ts,
                received_at=ts,
                user_id=None,
                anonymous_id=None,
                properties=properties,
                context={"channel": message.channel, "source": "email tracking"},
                traits=None,
            )
        )

    # -- privacy ---------------------------------------------------------------------------

    def customer_rows(self, customer_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        ids = sorted(customer_ids)
        if not ids:
            return {"send_receipts": []}
        rows = self.conn.execute(
            sa.select(send_receipts)
            .where(send_receipts.c.customer_id.in_(ids))
            .order_by(send_receipts.c.id)
        )
        return {"send_receipts": [self.cipher.reveal(dict(r._mapping)) for r in rows]}

    def erase_customer(self, customer_ids: Collection[str]) -> dict[str, int]:
        ids = sorted(customer_ids)
        if not ids:
            return {"send_receipts": 0}
        deleted = self.conn.execute(
            send_receipts.delete().where(send_receipts.c.customer_id.in_(ids))
        ).rowcount
        return {"send_receipts": int(deleted)}

"""SQL storage of the in-app inbox: its messages (text and title sealed) and the inboxes that
were opened, both found by the keyed hash of their address."""

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.channels.inapp import InAppMessage
from omnicx.crypto import FieldCipher
from omnicx.db import UtcDateTime, metadata

ID = sa.String(36)

inapp_messages = sa.Table(
    "inapp_messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("customer_id", ID, nullable=False, index=True),
    sa.Column("address_kind", sa.String(40), nullable=False),
    sa.Column("address_hash", sa.String(64), nullable=False),
    sa.Column("title", sa.Text(), nullable=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.Column("read_at", UtcDateTime(), nullable=True),
    sa.Column("clicked_at", UtcDateTime(), nullable=True),
    sa.Index("ix_inapp_messages_address", "address_kind", "address_hash", "created_at"),
)

inapp_inboxes = sa.Table(
    "inapp_inboxes",
    metadata,
    sa.Column("address_kind", sa.String(40), primary_key=True),
    sa.Column("address_hash", sa.String(64), primary_key=True),
    sa.Column("customer_id", ID, nullable=True, index=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

_MARKS = frozenset({"delivered_at", "read_at", "clicked_at"})


class SqlInAppRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def _message(self, row: sa.Row[Any]) -> InAppMessage:
        return InAppMessage(
            id=row.id,
            customer_id=row.customer_id,
            address_kind=row.address_kind,
            text=self.cipher.reveal(row.text),
            title=self.cipher.reveal(row.title),
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            read_at=row.read_at,
            clicked_at=row.clicked_at,
        )

    def add(self, message: InAppMessage, *, address_hash: str) -> bool:
        """Store a message; False (and nothing written) when its id is there already."""
        t = inapp_messages
        if self.conn.execute(sa.select(t.c.id).where(t.c.id == message.id)).first():
            return False
        self.conn.execute(
            t.insert().values(
                id=message.id,
                customer_id=message.customer_id,
                address_kind=message.address_kind,
                address_hash=address_hash,
                title=self.cipher.seal_if(True, message.title),
                text=self.cipher.seal_if(True, message.text),
                created_at=message.created_at,
            )
        )
        return True

    def get(self, message_id: str, address_kind: str, address_hash: str) -> InAppMessage | None:
        t = inapp_messages
        row = self.conn.execute(
            sa.select(t).where(
                t.c.id == message_id,
                t.c.address_kind == address_kind,
                t.c.address_hash == address_hash,
            )
        ).first()
        return self._message(row) if row else None

    def of_address(
        self, address_kind: str, address_hash: str, *, limit: int, before: str | None = None
    ) -> list[InAppMessage]:
        """Newest first; `before`: only messages older than that one (keyset paging)."""
        t = inapp_messages
        query = sa.select(t).where(
            t.c.address_kind == address_kind, t.c.address_hash == address_hash
        )
        if before is not None:
            pivot = self.conn.execute(sa.select(t.c.created_at).where(t.c.id == before)).first()
            if pivot is not None:
                query = query.where(
                    sa.or_(
                        t.c.created_at < pivot.created_at,
                        sa.and_(t.c.created_at == pivot.created_at, t.c.id < before),
                    )
                )
        rows = self.conn.execute(query.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit))
        return [self._message(r) for r in rows]

    def unread(self, address_kind: str, address_hash: str) -> int:
        t = inapp_messages
        count = self.conn.execute(
            sa.select(sa.func.count()).where(
                t.c.address_kind == address_kind,
                t.c.address_hash == address_hash,
                t.c.read_at.is_(None),
            )
        ).scalar()
        return int(count or 0)

    def mark(self, message_id: str, **values: datetime) -> None:
        """Set the named moments (delivered_at, read_at, clicked_at), each only if unset."""
        t = inapp_messages
        for name, at in values.items():
            if name not in _MARKS:
                raise ValueError(f"not a moment of an in-app message: {name}")
            column = t.c[name]
            self.conn.execute(
                t.update().where(t.c.id == message_id, column.is_(None)).values({name: at})
            )

    def open_inbox(
        self, address_kind: str, address_hash: str, customer_id: str | None, now: datetime
    ) -> None:
        t = inapp_inboxes
        where = sa.and_(t.c.address_kind == address_kind, t.c.address_hash == address_hash)
        done = self.conn.execute(
            t.update().where(where).values(customer_id=customer_id, updated_at=now)
        )
        if not done.rowcount:
            self.conn.execute(
                t.insert().values(
                    address_kind=address_kind,
                    address_hash=address_hash,
                    customer_id=customer_id,
                    created_at=now,
                    updated_at=now,
                )
            )

    def has_inbox(self, address_kind: str, address_hash: str) -> bool:
        t = inapp_inboxes
        row = self.conn.execute(
            sa.select(t.c.address_kind).where(
                t.c.address_kind == address_kind, t.c.address_hash == address_hash
            )
        ).first()
        return row is not None

    def of_customers(self, customer_ids: Collection[str], *, limit: int) -> list[InAppMessage]:
        ids = sorted(customer_ids)
        if not ids:
            return []
        t = inapp_messages
        rows = self.conn.execute(
            sa.select(t)
            .where(t.c.customer_id.in_(ids))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        return [self._message(r) for r in rows]

    # -- privacy ---------------------------------------------------------------------------

    def customer_rows(self, customer_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        ids = sorted(customer_ids)
        found: dict[str, list[dict[str, Any]]] = {}
        for table in (inapp_messages, inapp_inboxes):
            rows: Any = (
                self.conn.execute(sa.select(table).where(table.c.customer_id.in_(ids)))
                if ids
                else []
            )
            found[str(table.name)] = [
                {
                    k: self.cipher.reveal(v) if isinstance(v, str) else v
                    for k, v in r._mapping.items()
                }
                for r in rows
            ]
        return found

    def erase_customer(self, customer_ids: Collection[str]) -> dict[str, int]:
        ids = sorted(customer_ids)
        counts: dict[str, int] = {}
        for table in (inapp_messages, inapp_inboxes):
            counts[str(table.name)] = (
                int(self.conn.execute(table.delete().where(table.c.customer_id.in_(ids))).rowcount)
                if ids
                else 0
            )
        return counts

"""SQL storage of push registrations: one row per browser subscription or app token.

The device's endpoint or token is sealed (it is as good as an address) and found by its keyed
hash; the address it was registered under is kept as a keyed hash only.
"""

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

import orjson
import sqlalchemy as sa

from omnicx.channels.push import DeviceKind, Registration
from omnicx.crypto import FieldCipher
from omnicx.db import UtcDateTime, metadata

ID = sa.String(36)

push_registrations = sa.Table(
    "push_registrations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("customer_id", ID, nullable=False, index=True),
    sa.Column("address_kind", sa.String(40), nullable=False),
    sa.Column("address_hash", sa.String(64), nullable=False),
    sa.Column("target_hash", sa.String(64), nullable=False),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("platform", sa.String(20), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("kind", "target_hash"),
    sa.Index("ix_push_registrations_address", "address_kind", "address_hash"),
)


def _kind(value: str) -> DeviceKind:
    return "fcm" if value == "fcm" else "webpush"


class SqlPushRepository:
    def __init__(self, conn: sa.Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def _registration(self, row: sa.Row[Any]) -> Registration:
        target = orjson.loads(self.cipher.reveal(row.target))
        return Registration(
            id=row.id,
            kind=_kind(row.kind),
            customer_id=row.customer_id,
            address_kind=row.address_kind,
            target=target,
            platform=row.platform,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def save(
        self, registration: Registration, *, address_hash: str, target_hash: str
    ) -> Registration:
        """Insert the device, or move it to this address and customer when it was known
        (a browser or phone that changed hands keeps one row); the row's id is returned."""
        t = push_registrations
        values = {
            "customer_id": registration.customer_id,
            "address_kind": registration.address_kind,
            "address_hash": address_hash,
            "target": self.cipher.seal_if(True, orjson.dumps(dict(registration.target)).decode()),
            "platform": registration.platform,
            "updated_at": registration.updated_at,
        }
        found = self.conn.execute(
            sa.select(t.c.id, t.c.created_at).where(
                t.c.kind == registration.kind, t.c.target_hash == target_hash
            )
        ).first()
        if found is not None:
            self.conn.execute(t.update().where(t.c.id == found.id).values(**values))
            return replace(registration, id=found.id, created_at=found.created_at)
        self.conn.execute(
            t.insert().values(
                id=registration.id,
                kind=registration.kind,
                target_hash=target_hash,
                created_at=registration.created_at,
                **values,
            )
        )
        return registration

    def remove(self, kind: DeviceKind, target_hash: str, address_hash: str) -> bool:
        """Remove the device if it is registered under this address."""
        t = push_registrations
        done = self.conn.execute(
            t.delete().where(
                t.c.kind == kind, t.c.target_hash == target_hash, t.c.address_hash == address_hash
            )
        )
        return bool(done.rowcount)

    def of_address(self, address_kind: str, address_hash: str) -> list[Registration]:
        t = push_registrations
        rows = self.conn.execute(
            sa.select(t)
            .where(t.c.address_kind == address_kind, t.c.address_hash == address_hash)
            .order_by(t.c.created_at, t.c.id)
        )
        return [self._registration(r) for r in rows]

    def of_customers(self, customer_ids: Collection[str]) -> list[Registration]:
        ids = sorted(customer_ids)
        if not ids:
            return []
        t = push_registrations
        rows = self.conn.execute(
            sa.select(t).where(t.c.customer_id.in_(ids)).order_by(t.c.created_at, t.c.id)
        )
        return [self._registration(r) for r in rows]

    def get(self, registration_id: str) -> Registration | None:
        t = push_registrations
        row = self.conn.execute(sa.select(t).where(t.c.id == registration_id)).first()
        return self._registration(row) if row else None

    def forget(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        t = push_registrations
        return int(self.conn.execute(t.delete().where(t.c.id.in_(list(ids)))).rowcount)

    # -- privacy ---------------------------------------------------------------------------

    def customer_rows(self, customer_ids: Collection[str]) -> list[dict[str, Any]]:
        ids = sorted(customer_ids)
        if not ids:
            return []
        t = push_registrations
        rows = self.conn.execute(sa.select(t).where(t.c.customer_id.in_(ids)).order_by(t.c.id))
        return [{**r._mapping, "target": self.cipher.reveal(r.target)} for r in rows]

    def erase_customer(self, customer_ids: Collection[str]) -> int:
        ids = sorted(customer_ids)
        if not ids:
            return 0
        t = push_registrations
        return int(self.conn.execute(t.delete().where(t.c.customer_id.in_(ids))).rowcount)

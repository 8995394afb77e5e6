from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.crypto import FieldCipher
from omnicx.db import JsonValue, UtcDateTime, enqueue, metadata, outbox
from omnicx.profiles.store import changed, reseal_rows
from omnicx.webhooks.model import Delivery, Subscription

webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("topics", JsonValue, nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

DELIVER = "webhook.deliver"


class SqlSubscriptionRepository:
    def __init__(self, conn: sa.Connection, now: datetime, cipher: FieldCipher) -> None:
        self.conn = conn
        self.now = now
        self.cipher = cipher

    def add(self, s: Subscription) -> None:
        self.conn.execute(
            webhook_subscriptions.insert().values(
                id=s.id,
                url=s.url,
                topics=list(s.topics),
                secret=s.secret,
                description=s.description,
                created_at=s.created_at,
                updated_at=s.created_at,
            )
        )

    def get(self, subscription_id: str) -> Subscription | None:
        row = self.conn.execute(
            sa.select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
        ).first()
        return _subscription(row) if row else None

    def remove(self, subscription_id: str) -> bool:
        """Delete a subscription; its pending deliveries are given up (marked dead)."""
        result = self.conn.execute(
            webhook_subscriptions.delete().where(webhook_subscriptions.c.id == subscription_id)
        )
        if not result.rowcount:
            return False
        self.conn.execute(
            outbox.update()
            .where(
                outbox.c.topic == DELIVER,
                outbox.c.key == subscription_id,
                outbox.c.status == "pending",
            )
            .values(status="dead", last_error="the webhook was deleted")
        )
        return True

    def active(self) -> list[Subscription]:
        rows = self.conn.execute(
            sa.select(webhook_subscriptions).order_by(webhook_subscriptions.c.created_at)
        )
        return [_subscription(r) for r in rows]

    def deliveries(self, subscription_id: str, limit: int) -> list[Delivery]:
        rows = self.conn.execute(
            sa.select(outbox)
            .where(outbox.c.topic == DELIVER, outbox.c.key == subscription_id)
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        deliveries = []
        for r in rows:
            payload = self.cipher.reveal(r.payload)
            deliveries.append(
                Delivery(
                    id=r.id,
                    subscription_id=r.key,
                    topic=payload.get("type", ""),
                    status=r.status,
                    attempts=r.attempts,
                    last_error=r.last_error,
                    created_at=r.created_at,
                    available_at=r.available_at,
                    done_at=r.done_at,
                    payload=payload,
                )
            )
        return deliveries

    def enqueue(self, subscription_id: str, payload: dict[str, Any]) -> None:
        """Queue a delivery; the payload rests sealed whole and is opened to be sent."""
        sealed: Any = self.cipher.seal(payload) if self.cipher.enabled else payload
        enqueue(self.conn, DELIVER, subscription_id, sealed, self.now)

    def reseal(
        self, after: tuple[Any, ...] | None, limit: int
    ) -> tuple[tuple[Any, ...] | None, int]:
        """One batch of the sealing pass over the webhook deliveries in the outbox."""
        cipher = self.cipher

        def fix(row: Mapping[str, Any]) -> dict[str, Any]:
            if row["topic"] != DELIVER:
                return {}
            old = row["payload"]
            new = cipher.reseal(old, lambda v: cipher.seal_if(True, v))
            return {"payload": new} if changed(old, new) else {}

        return reseal_rows(self.conn, outbox, fix, after, limit)


def _subscription(row: sa.Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        topics=tuple(row.topics),
        secret=row.secret,
        description=row.description,
        created_at=row.created_at,
    )

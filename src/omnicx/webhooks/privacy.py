"""The webhook domain's answers to privacy: deliveries about the person (`ExportSubject`),
dropping them, pending ones included, so nothing about the person leaves after the erasure
(`EraseSubject`), and the retention of delivered and dead deliveries (`ApplyRetention`).

A delivery is about the person when its data names one of their profile ids (any `*_id`
field) or one of their identifiers (`identifiers` pairs, or a `kind` and `value`)."""

from datetime import timedelta
from typing import Any

from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.kernel import MessageBus
from omnicx.privacy import (
    ApplyRetention,
    EraseSubject,
    ErasureReport,
    ExportSection,
    ExportSubject,
    RetentionReport,
    Subject,
)
from omnicx.webhooks import privacy_store as sql

DOMAIN = "webhooks"


def about(payload: dict[str, Any], subject: Subject) -> bool:
    data = payload.get("data")
    if not isinstance(data, dict):
        return False
    ids = set(subject.profile_ids)
    named = set(subject.identifiers)
    for key, value in data.items():
        if key.endswith("_id") and isinstance(value, str) and value in ids:
            return True
    pairs = data.get("identifiers")
    if isinstance(pairs, list) and any(
        isinstance(pair, list | tuple) and tuple(pair) in named for pair in pairs
    ):
        return True
    kind, value = data.get("kind"), data.get("value")
    return isinstance(kind, str) and isinstance(value, str) and (kind, value) in named


class WebhooksPrivacy:
    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def _about(self, uow: UnitOfWork, subject: Subject) -> list[dict[str, Any]]:
        found = []
        for row in sql.deliveries(uow.conn):
            payload = self.cipher.reveal(row["payload"])
            if about(payload, subject):
                found.append({**row, "payload": payload})
        return found

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        rows = [
            {**row, "subscription_id": row.pop("key")} for row in self._about(uow, query.subject)
        ]
        return ExportSection(DOMAIN, {"webhook_deliveries": rows})

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        ids = [row["id"] for row in self._about(uow, query.subject)]
        return ErasureReport(DOMAIN, {"webhook_deliveries": sql.delete(uow.conn, ids)})

    def apply_retention(self, query: ApplyRetention, uow: UnitOfWork) -> RetentionReport:
        days = query.policies.get("webhook_deliveries", 0)
        if days <= 0:
            return RetentionReport(DOMAIN, {})
        cutoff = query.now - timedelta(days=days)
        count = sql.expire(uow.conn, cutoff, dry_run=query.dry_run, limit=query.limit)
        return RetentionReport(DOMAIN, {"webhook_deliveries": count})

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)
        bus.answer(ApplyRetention, self.apply_retention)

"""The event domain's answers to privacy: the person's events and the calls of theirs that
sit in dead letters (`ExportSubject`), their erasure (`EraseSubject`: events go; a dead letter
loses the person's calls, and goes whole when nothing else is left in it), and the retention
of raw events and dead letters (`ApplyRetention`)."""

from collections.abc import Collection
from datetime import timedelta
from typing import Any

import orjson

from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.events import privacy_store as sql
from omnicx.kernel import MessageBus
from omnicx.kernel.moments import micros
from omnicx.privacy import (
    ApplyRetention,
    EraseSubject,
    ErasureReport,
    ExportSection,
    ExportSubject,
    RetentionReport,
    Subject,
)

DOMAIN = "events"
ERASED = "[erased]"


def _ids(subject: Subject, kind: str) -> list[str]:
    return [value for k, value in subject.identifiers if k == kind]


def _names(item: dict[str, Any], subject: Subject) -> bool:
    """Whether a queued call carries one of the subject's identifiers."""
    named = set(subject.identifiers)
    if any(tuple(pair) in named for pair in item.get("identifiers", ())):
        return True
    values = subject.values
    return any(
        isinstance(item.get(key), str) and item[key] in values
        for key in ("userId", "anonymousId", "previousId")
    )


def _scrub(text: str, values: Collection[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        if value:
            text = text.replace(value, ERASED)
    return text


class EventsPrivacy:
    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def _items(self, payload: bytes) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = orjson.loads(self.cipher.open_bytes(payload))
        return items

    def _pack(self, items: list[dict[str, Any]]) -> bytes:
        data = orjson.dumps(items)
        return self.cipher.seal_bytes(data) if self.cipher.enabled else data

    def _event_ids(self, uow: UnitOfWork, subject: Subject) -> list[int]:
        return sql.event_ids_of(
            uow.conn, subject.profile_ids, _ids(subject, "user_id"), _ids(subject, "anonymous_id")
        )

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        subject = query.subject
        letters = []
        for row in sql.dead_letters(uow.conn):
            mine = [item for item in self._items(row["payload"]) if _names(item, subject)]
            if mine:
                letters.append(
                    {
                        "id": row["id"],
                        "source_id": row["source_id"],
                        "created_at": row["created_at"],
                        "events": mine,
                    }
                )
        return ExportSection(
            DOMAIN,
            {
                "events": sql.events_by_id(uow.conn, self._event_ids(uow, subject)),
                "ingest_dead_letters": letters,
            },
        )

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        subject = query.subject
        erased_events = sql.delete_events(uow.conn, self._event_ids(uow, subject))
        letters = 0
        for row in list(sql.dead_letters(uow.conn)):
            items = self._items(row["payload"])
            kept = [item for item in items if not _names(item, subject)]
            error = _scrub(row["error"], subject.values)
            if len(kept) == len(items) and error == row["error"]:
                continue
            letters += 1
            if kept:
                sql.rewrite_dead_letter(
                    uow.conn,
                    row["id"],
                    {"payload": self._pack(kept), "count": len(kept), "error": error},
                )
            else:
                sql.delete_dead_letter(uow.conn, row["id"])
        return ErasureReport(DOMAIN, {"events": erased_events, "ingest_dead_letters": letters})

    def apply_retention(self, query: ApplyRetention, uow: UnitOfWork) -> RetentionReport:
        counts: dict[str, int] = {}
        days = query.policies.get("events", 0)
        if days > 0:
            cutoff = micros(query.now - timedelta(days=days))
            counts["events"] = sql.expire_events(
                uow.conn, cutoff, dry_run=query.dry_run, limit=query.limit
            )
        days = query.policies.get("dead_letters", 0)
        if days > 0:
            counts["dead_letters"] = sql.expire_dead_letters(
                uow.conn, query.now - timedelta(days=days), dry_run=query.dry_run, limit=query.limit
            )
        return RetentionReport(DOMAIN, counts)

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)
        bus.answer(ApplyRetention, self.apply_retention)

"""The profile domain's answers to privacy: who a customer is (`ResolveSubject`), what is held
about them (`ExportSubject`), their erasure (`EraseSubject`: the profiles, identifiers, traits,
trait history, merges, conflicts and separations go; the ids stay only as tombstones, kept by
privacy) and the retention of identity conflicts (`ApplyRetention`)."""

from datetime import timedelta
from typing import Any

from omnicx.db import UnitOfWork
from omnicx.kernel import MessageBus, NotFound
from omnicx.privacy import (
    ApplyRetention,
    EraseSubject,
    ErasureReport,
    ExportSection,
    ExportSubject,
    ResolveSubject,
    RetentionReport,
    Subject,
)
from omnicx.profiles import privacy_store as sql

DOMAIN = "profiles"


def resolve_subject(query: ResolveSubject, uow: UnitOfWork) -> Subject:
    root = sql.canonical_of(uow.conn, query.customer_id)
    if root is None:
        raise NotFound("customer_not_found", f"no customer {query.customer_id}", "customer_id")
    members = sql.members_of(uow.conn, root)
    found = {
        (kind, str(query.reveal(value))) for kind, value in sql.identifiers_of(uow.conn, members)
    }
    return Subject(
        customer_id=query.customer_id,
        profile_id=root,
        profile_ids=tuple(members),
        identifiers=tuple(sorted(found)),
    )


def export_subject(query: ExportSubject, uow: UnitOfWork) -> ExportSection:
    return ExportSection(DOMAIN, sql.held_about(uow.conn, query.subject.profile_ids))


def erase_subject(query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
    subject = query.subject
    named = set(subject.identifiers)

    def names_subject(kind: str, value: Any) -> bool:
        return (kind, str(query.reveal(value))) in named

    members = set(subject.profile_ids)
    strays = [
        row["id"]
        for row in sql.conflicts_naming(uow.conn, names_subject)
        if row["profile_id"] not in members and row["other_profile_id"] not in members
    ]
    return ErasureReport(DOMAIN, sql.erase(uow.conn, subject.profile_ids, strays))


def apply_retention(query: ApplyRetention, uow: UnitOfWork) -> RetentionReport:
    days = query.policies.get("identity_conflicts", 0)
    if days <= 0:
        return RetentionReport(DOMAIN, {})
    cutoff = query.now - timedelta(days=days)
    count = sql.expire_conflicts(uow.conn, cutoff, dry_run=query.dry_run, limit=query.limit)
    return RetentionReport(DOMAIN, {"identity_conflicts": count})


def register(bus: MessageBus) -> None:
    bus.answer(ResolveSubject, resolve_subject)
    bus.answer(ExportSubject, export_subject)
    bus.answer(EraseSubject, erase_subject)
    bus.answer(ApplyRetention, apply_retention)

"""Verb-named privacy services: subject access, erasure, suppression, retention and audit.

Each takes the bus (every domain answers privacy's queries on it), the unit of work the
answers run in, and privacy's own repository; the caller commits. A domain answer that raises
makes the whole request fail, and since nothing is committed, nothing of it is kept.
"""

import base64
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from omnicx.kernel import Gone, Invalid, MessageBus, NotFound, new_id
from omnicx.privacy.archive import build_archive
from omnicx.privacy.messages import (
    ApplyRetention,
    EraseSubject,
    ErasureReport,
    ExportSection,
    ExportSubject,
    ResolveSubject,
    RetentionReport,
)
from omnicx.privacy.model import (
    AUDIT_ACTIONS,
    REQUEST_KINDS,
    RETENTION_KINDS,
    Actor,
    AuditEntry,
    AuditFilter,
    PrivacyRequest,
    Subject,
)
from omnicx.privacy.ports import Cipher, PrivacyRepository

log = logging.getLogger("omnicx.privacy")

ARCHIVE_FORMAT = "omnicx-subject-access/1"


# -- subjects ------------------------------------------------------------------------------


def resolve_subject(
    bus: MessageBus, uow: object, repo: PrivacyRepository, customer_id: str, cipher: Cipher
) -> Subject:
    """The person behind `customer_id`, a merged id resolving to its survivor."""
    if repo.is_erased(customer_id):
        raise Gone("customer_erased", f"customer {customer_id} was erased", "customer_id")
    answers = bus.ask(ResolveSubject(customer_id, cipher.reveal), uow)
    if not answers:
        raise NotFound("customer_not_found", f"no customer {customer_id}", "customer_id")
    subject: Subject = answers[0]
    return subject


def _hashes(subject: Subject, cipher: Cipher) -> list[tuple[str, str]]:
    return sorted({(kind, cipher.blind(kind, value)) for kind, value in subject.identifiers})


def _check_request(kind: str, reason: str) -> str:
    if kind not in REQUEST_KINDS:
        raise Invalid(
            "invalid_request_kind", f"kind must be one of: {', '.join(REQUEST_KINDS)}", "kind"
        )
    reason = reason.strip()
    if len(reason) > 500:
        raise Invalid("invalid_reason", "reason must be at most 500 characters", "reason")
    return reason


# -- subject access ------------------------------------------------------------------------


def export_subject(
    bus: MessageBus,
    uow: object,
    repo: PrivacyRepository,
    cipher: Cipher,
    *,
    customer_id: str,
    actor: Actor,
    reason: str,
    now: datetime,
    keep_days: int,
) -> PrivacyRequest:
    """Gather what every domain holds about the person into a sealed archive, kept
    `keep_days` (0: until the person is erased)."""
    reason = _check_request("export", reason)
    subject = resolve_subject(bus, uow, repo, customer_id, cipher)
    request_id = new_id()
    sections: list[ExportSection] = bus.ask(ExportSubject(subject), uow)
    sections.append(
        ExportSection(
            "privacy",
            {
                "audit_log": repo.audit_about(subject.profile_ids),
                "privacy_requests": repo.requests_about(subject.profile_ids),
            },
        )
    )
    opened = [
        ExportSection(s.domain, {t: cipher.reveal(rows) for t, rows in s.tables.items()})
        for s in sections
    ]
    counts = {s.domain: {t: len(rows) for t, rows in s.tables.items()} for s in opened}
    expires = now + timedelta(days=keep_days) if keep_days > 0 else None
    manifest = {
        "format": ARCHIVE_FORMAT,
        "request_id": request_id,
        "customer_id": customer_id,
        "subject_id": subject.profile_id,
        "profile_ids": list(subject.profile_ids),
        "created_at": now,
        "domains": counts,
        "files": [
            name
            for s in opened
            for name in (f"{s.domain}.json", *(f"{s.domain}/{t}.csv" for t in s.tables))
        ],
    }
    content = build_archive(manifest, opened)
    request = PrivacyRequest(
        id=request_id,
        kind="export",
        customer_id=customer_id,
        subject_id=subject.profile_id,
        status="completed",
        requested_by=actor.label,
        reason=reason,
        counts=counts,
        created_at=now,
        completed_at=now,
        archive_expires_at=expires,
    )
    repo.add_request(request, [f"{k}:{h}" for k, h in _hashes(subject, cipher)])
    repo.add_archive(
        request_id,
        cipher.seal(base64.b64encode(content).decode("ascii")),
        len(content),
        now,
        expires,
    )
    return request


def get_request(repo: PrivacyRepository, request_id: str) -> PrivacyRequest:
    request = repo.get_request(request_id)
    if request is None:
        raise NotFound("privacy_request_not_found", f"no privacy request {request_id}", "id")
    return request


def list_requests(
    repo: PrivacyRepository, *, customer_id: str | None, cursor: str | None, limit: int
) -> tuple[list[PrivacyRequest], str | None]:
    if not 1 <= limit <= 500:
        raise Invalid("invalid_limit", "limit must be between 1 and 500", "limit")
    found = repo.requests(customer_id=customer_id, before=cursor, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return found, (found[-1].id if more and found else None)


def read_archive(repo: PrivacyRepository, cipher: Cipher, request_id: str, now: datetime) -> bytes:
    request = get_request(repo, request_id)
    if request.kind != "export":
        raise NotFound(
            "archive_not_found", f"privacy request {request_id} is an erasure: it has no archive"
        )
    sealed = repo.archive(request_id, now)
    if sealed is None:
        raise Gone(
            "archive_expired",
            f"the archive of privacy request {request_id} has expired or was erased; "
            "ask for a new export",
        )
    return base64.b64decode(cipher.reveal(sealed))


# -- erasure -------------------------------------------------------------------------------


def erase_subject(
    bus: MessageBus,
    uow: object,
    repo: PrivacyRepository,
    cipher: Cipher,
    *,
    customer_id: str,
    actor: Actor,
    reason: str,
    now: datetime,
) -> PrivacyRequest:
    """Erase the person from every domain, in the caller's one transaction.

    The identifiers go into the suppression list first (kind and keyed hash), so a chunk of
    events being resolved meanwhile cannot bring the person back; then every domain erases
    its part; earlier export archives are dropped; the profile ids become tombstones.
    """
    reason = _check_request("erasure", reason)
    subject = resolve_subject(bus, uow, repo, customer_id, cipher)
    request_id = new_id()
    hashes = _hashes(subject, cipher)
    repo.secure_delete(True)
    suppressed = repo.suppress(hashes, request_id, now)
    reports: list[ErasureReport] = bus.ask(
        EraseSubject(subject, request_id, now, cipher.reveal), uow
    )
    counts = {r.domain: dict(r.counts) for r in reports}
    counts["privacy"] = {
        "suppressions": suppressed,
        "privacy_archives": repo.drop_archives_about(subject.profile_ids),
        "erased_profiles": len(subject.profile_ids),
    }
    repo.add_tombstones(subject.profile_ids, request_id, now)
    request = PrivacyRequest(
        id=request_id,
        kind="erasure",
        customer_id=customer_id,
        subject_id=subject.profile_id,
        status="completed",
        requested_by=actor.label,
        reason=reason,
        counts=counts,
        created_at=now,
        completed_at=now,
        archive_expires_at=None,
    )
    repo.add_request(request, [f"{k}:{h}" for k, h in hashes])
    repo.secure_delete(False)
    log.info("customer %s erased by %s (request %s)", subject.profile_id, actor.label, request_id)
    return request


def lift_suppression(repo: PrivacyRepository, cipher: Cipher, kind: str, value: str) -> None:
    """Let an identifier in again: for a person who comes back and asks to be known."""
    if not repo.lift(kind, cipher.blind(kind, value)):
        raise NotFound("suppression_not_found", f"{kind} {value!r} is not suppressed", "value")


class SuppressionScreen:
    """The suppression list as ingestion sees it: which of a chunk's identifiers name an
    erased person (one look-up by keyed hash per chunk), and how often each was seen."""

    def __init__(self, repo: PrivacyRepository, cipher: Cipher, now: datetime) -> None:
        self.repo = repo
        self.cipher = cipher
        self.now = now

    def active(self) -> bool:
        """Whether anyone is suppressed at all; takes the list's lock first, so that no
        erasure lands between this answer and the chunk's commit."""
        self.repo.lock_suppressions()
        return self.repo.any_suppressed()

    def suppressed(self, identifiers: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        self.repo.lock_suppressions()
        if not identifiers or not self.repo.any_suppressed():
            return set()
        hashed = {(k, self.cipher.blind(k, v)): (k, v) for k, v in set(identifiers)}
        return {hashed[h] for h in self.repo.suppressed(hashed)}

    def record(self, hits: Mapping[tuple[str, str], int]) -> None:
        if hits:
            counted = Counter({(k, self.cipher.blind(k, v)): n for (k, v), n in hits.items()})
            self.repo.record_hits(counted, self.now)
            log.info("dropped events of erased people: %d identifier hits", sum(hits.values()))


# -- retention -----------------------------------------------------------------------------


def check_policies(policies: Mapping[str, int]) -> dict[str, int]:
    unknown = sorted(set(policies) - set(RETENTION_KINDS))
    if unknown:
        raise Invalid(
            "unknown_retention_kind",
            f"retention kinds are {', '.join(RETENTION_KINDS)}; not {', '.join(unknown)}",
            "policies",
        )
    negative = sorted(k for k, days in policies.items() if days < 0)
    if negative:
        raise Invalid(
            "invalid_retention_days", f"days must be 0 (keep) or more: {negative[0]}", "policies"
        )
    return dict(policies)


def apply_retention(
    bus: MessageBus,
    uow: object,
    repo: PrivacyRepository,
    *,
    now: datetime,
    policies: Mapping[str, int],
    dry_run: bool = False,
    limit: int = 10_000,
) -> dict[str, int]:
    """One pass of every domain's retention; rows deleted (or due, in a dry run) per kind."""
    policies = check_policies(policies)
    reports: list[RetentionReport] = bus.ask(ApplyRetention(now, policies, dry_run, limit), uow)
    counts = dict.fromkeys(RETENTION_KINDS, 0)
    for report in reports:
        for kind, count in report.counts.items():
            counts[kind] = counts.get(kind, 0) + count
    counts["export_archives"] += repo.expire_archives(now, dry_run=dry_run, limit=limit)
    return counts


# -- audit ---------------------------------------------------------------------------------


def record_access(
    repo: PrivacyRepository,
    *,
    actor: Actor | None,
    action: str,
    method: str,
    route: str,
    resource: str | None,
    customer_ids: Iterable[str],
    client_address: str | None,
    user_agent: str | None,
    status: int,
    detail: Mapping[str, Any],
    now: datetime,
) -> str:
    """Append the audit entries of one access: one per customer it touched (or one alone)."""
    request_id = new_id()
    base = {
        "at": now,
        "request_id": request_id,
        "actor_kind": actor.kind if actor else "anonymous",
        "actor_id": actor.id[:64] if actor else None,
        "actor_name": actor.name[:200] if actor else None,
        "actor_role": actor.role[:40] if actor else None,
        "action": action[:20],
        "method": method[:10],
        "route": route[:300],
        "resource": resource[:300] if resource else None,
        "client_address": client_address[:100] if client_address else None,
        "user_agent": user_agent[:500] if user_agent else None,
        "status": status,
        "detail": dict(detail),
    }
    customers: list[str | None] = [c[:36] for c in dict.fromkeys(customer_ids) if c]
    repo.add_audit([{**base, "customer_id": c} for c in customers or [None]])
    return request_id


def audit_page(
    repo: PrivacyRepository, where: AuditFilter, *, cursor: str | None, limit: int
) -> tuple[list[AuditEntry], str | None]:
    if not 1 <= limit <= 1000:
        raise Invalid("invalid_limit", "limit must be between 1 and 1000", "limit")
    if where.action is not None and where.action not in AUDIT_ACTIONS:
        raise Invalid(
            "invalid_action", f"action must be one of: {', '.join(AUDIT_ACTIONS)}", "action"
        )
    if where.since and where.until and where.until <= where.since:
        raise Invalid("invalid_period", "until must come after since", "until")
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise Invalid("invalid_cursor", "cursor is not one this API returned", "cursor")
        before = int(cursor)
    found = repo.audit(where, before=before, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return found, (str(found[-1].id) if more and found else None)


def audit_entries(
    repo: PrivacyRepository, where: AuditFilter, page: int = 1000
) -> Iterable[AuditEntry]:
    """Every matching entry, newest first, read page by page (for exports)."""
    before: int | None = None
    while True:
        found = repo.audit(where, before=before, limit=page)
        yield from found
        if len(found) < page:
            return
        before = found[-1].id


def audit_record(entry: AuditEntry) -> dict[str, Any]:
    return asdict(entry)


__all__ = [
    "ARCHIVE_FORMAT",
    "SuppressionScreen",
    "apply_retention",
    "audit_entries",
    "audit_page",
    "audit_record",
    "check_policies",
    "erase_subject",
    "export_subject",
    "get_request",
    "lift_suppression",
    "list_requests",
    "read_archive",
    "record_access",
    "resolve_subject",
]

"""SQL storage of the audit log, privacy requests, export archives, suppressions and the
tombstones of erased profiles.

The audit log is append-only: triggers (created by migration 0003 on SQLite and PostgreSQL)
refuse every UPDATE and DELETE of its rows, so no code path, retention included, rewrites it.
"""

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnicx.db import JsonValue, UtcDateTime, metadata
from omnicx.db.bulk import select_in
from omnicx.privacy.model import AuditEntry, AuditFilter, PrivacyRequest, Suppression

ID = sa.String(36)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BIGID, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("request_id", ID, nullable=False),
    sa.Column("actor_kind", sa.String(20), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("actor_name", sa.String(200), nullable=True),
    sa.Column("actor_role", sa.String(40), nullable=True),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("route", sa.String(300), nullable=False),
    sa.Column("resource", sa.String(300), nullable=True),
    sa.Column("customer_id", ID, nullable=True),
    sa.Column("client_address", sa.String(100), nullable=True),
    sa.Column("user_agent", sa.String(500), nullable=True),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("detail", JsonValue, nullable=False),
    sa.Index("ix_audit_log_customer_id_id", "customer_id", "id"),
    sa.Index("ix_audit_log_actor_id_id", "actor_id", "id"),
    sa.Index("ix_audit_log_at", "at"),
)

privacy_requests = sa.Table(
    "privacy_requests",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("customer_id", ID, nullable=False),
    sa.Column("subject_id", ID, nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("requested_by", sa.String(250), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("identifier_hashes", JsonValue, nullable=False),
    sa.Column("counts", JsonValue, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("completed_at", UtcDateTime(), nullable=True),
    sa.Column("archive_expires_at", UtcDateTime(), nullable=True),
)

privacy_archives = sa.Table(
    "privacy_archives",
    metadata,
    sa.Column("request_id", ID, primary_key=True),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True, index=True),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("value_hash", sa.String(64), primary_key=True),
    sa.Column("request_id", ID, nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("hits", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_hit_at", UtcDateTime(), nullable=True),
)

erased_profiles = sa.Table(
    "erased_profiles",
    metadata,
    sa.Column("profile_id", ID, primary_key=True),
    sa.Column("request_id", ID, nullable=False),
    sa.Column("erased_at", UtcDateTime(), nullable=False),
)

_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _request(row: sa.Row[Any]) -> PrivacyRequest:
    return PrivacyRequest(
        id=row.id,
        kind=row.kind,
        customer_id=row.customer_id,
        subject_id=row.subject_id,
        status=row.status,
        requested_by=row.requested_by,
        reason=row.reason,
        counts=row.counts,
        created_at=row.created_at,
        completed_at=row.completed_at,
        archive_expires_at=row.archive_expires_at,
    )


def _entry(row: sa.Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        request_id=row.request_id,
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        actor_role=row.actor_role,
        action=row.action,
        method=row.method,
        route=row.route,
        resource=row.resource,
        customer_id=row.customer_id,
        client_address=row.client_address,
        user_agent=row.user_agent,
        status=row.status,
        detail=row.detail,
    )


class SqlPrivacyRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # -- audit ----------------------------------------------------------------------------

    def add_audit(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(audit_log.insert(), list(rows))

    def audit(self, where: AuditFilter, *, before: int | None, limit: int) -> list[AuditEntry]:
        a = audit_log.c
        query = sa.select(audit_log)
        if where.customer_id is not None:
            query = query.where(a.customer_id == where.customer_id)
        if where.actor_id is not None:
            query = query.where(a.actor_id == where.actor_id)
        if where.action is not None:
            query = query.where(a.action == where.action)
        if where.since is not None:
            query = query.where(a.at >= where.since)
        if where.until is not None:
            query = query.where(a.at < where.until)
        if before is not None:
            query = query.where(a.id < before)
        rows = self.conn.execute(query.order_by(a.id.desc()).limit(limit))
        return [_entry(r) for r in rows]

    def audit_about(self, profile_ids: Collection[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for part in _chunks(sorted(profile_ids)):
            rows.extend(
                dict(r._mapping)
                for r in self.conn.execute(
                    sa.select(audit_log)
                    .where(audit_log.c.customer_id.in_(part))
                    .order_by(audit_log.c.id)
                )
            )
        return sorted(rows, key=lambda r: r["id"])

    # -- requests and archives ------------------------------------------------------------

    def add_request(self, request: PrivacyRequest, identifier_hashes: list[str]) -> None:
        self.conn.execute(
            privacy_requests.insert().values(
                id=request.id,
                kind=request.kind,
                customer_id=request.customer_id,
                subject_id=request.subject_id,
                status=request.status,
                requested_by=request.requested_by,
                reason=request.reason,
                identifier_hashes=identifier_hashes,
                counts=request.counts,
                created_at=request.created_at,
                completed_at=request.completed_at,
                archive_expires_at=request.archive_expires_at,
            )
        )

    def get_request(self, request_id: str) -> PrivacyRequest | None:
        row = self.conn.execute(
            sa.select(privacy_requests).where(privacy_requests.c.id == request_id)
        ).first()
        return _request(row) if row else None

    def requests(
        self, *, customer_id: str | None, before: str | None, limit: int
    ) -> list[PrivacyRequest]:
        r = privacy_requests.c
        query = sa.select(privacy_requests)
        if customer_id is not None:
            query = query.where(sa.or_(r.customer_id == customer_id, r.subject_id == customer_id))
        if before is not None:
            query = query.where(r.id < before)
        return [
            _request(row) for row in self.conn.execute(query.order_by(r.id.desc()).limit(limit))
        ]

    def requests_about(self, profile_ids: Collection[str]) -> list[dict[str, Any]]:
        r = privacy_requests.c
        rows: dict[str, dict[str, Any]] = {}
        for part in _chunks(sorted(profile_ids)):
            for row in self.conn.execute(
                sa.select(privacy_requests).where(
                    sa.or_(r.customer_id.in_(part), r.subject_id.in_(part))
                )
            ):
                rows[row.id] = dict(row._mapping)
        return [rows[key] for key in sorted(rows)]

    def add_archive(
        self, request_id: str, sealed: str, size: int, now: datetime, expires: datetime | None
    ) -> None:
        self.conn.execute(
            privacy_archives.insert().values(
                request_id=request_id, content=sealed, size=size, created_at=now, expires_at=expires
            )
        )

    def archive(self, request_id: str, now: datetime) -> str | None:
        a = privacy_archives.c
        row = self.conn.execute(
            sa.select(a.content).where(
                a.request_id == request_id, sa.or_(a.expires_at.is_(None), a.expires_at > now)
            )
        ).first()
        return row.content if row else None

    def drop_archives_about(self, profile_ids: Collection[str]) -> int:
        r = privacy_requests.c
        ids: list[str] = []
        for part in _chunks(sorted(profile_ids)):
            ids.extend(
                row.id
                for row in self.conn.execute(
                    sa.select(r.id).where(
                        r.kind == "export", sa.or_(r.customer_id.in_(part), r.subject_id.in_(part))
                    )
                )
            )
        dropped = 0
        for part in _chunks(ids):
            dropped += self.conn.execute(
                privacy_archives.delete().where(privacy_archives.c.request_id.in_(part))
            ).rowcount
            self.conn.execute(
                privacy_requests.update()
                .where(r.id.in_(part))
                .values(status="expired", archive_expires_at=None)
            )
        return dropped

    def expire_archives(self, now: datetime, *, dry_run: bool, limit: int) -> int:
        a = privacy_archives.c
        due = [
            row.request_id
            for row in self.conn.execute(
                sa.select(a.request_id)
                .where(a.expires_at.is_not(None), a.expires_at <= now)
                .order_by(a.expires_at)
                .limit(limit)
            )
        ]
        if dry_run or not due:
            return len(due)
        self.conn.execute(privacy_archives.delete().where(a.request_id.in_(due)))
        self.conn.execute(
            privacy_requests.update().where(privacy_requests.c.id.in_(due)).values(status="expired")
        )
        return len(due)

    # -- suppressions and tombstones ------------------------------------------------------

    def suppress(
        self, hashes: Collection[tuple[str, str]], request_id: str | None, now: datetime
    ) -> int:
        wanted = sorted(set(hashes))
        known = self.suppressed(wanted)
        fresh = [
            {"kind": k, "value_hash": h, "request_id": request_id, "created_at": now, "hits": 0}
            for k, h in wanted
            if (k, h) not in known
        ]
        if fresh:
            self.conn.execute(suppressions.insert(), fresh)
        return len(fresh)

    def lock_suppressions(self) -> None:
        """On PostgreSQL, hold off erasures until this transaction ends (SHARE mode lets
        several workers in at once), so a chunk cannot resolve a person being erased."""
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql("LOCK TABLE suppressions IN SHARE MODE")

    def suppressed(self, hashes: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        by_hash: dict[str, set[str]] = {}
        for kind, value_hash in hashes:
            by_hash.setdefault(value_hash, set()).add(kind)
        rows = select_in(
            self.conn,
            "SELECT kind, value_hash FROM suppressions WHERE value_hash IN ({marks})",
            sorted(by_hash),
        )
        return {(kind, h) for kind, h in rows if kind in by_hash.get(h, ())}

    def any_suppressed(self) -> bool:
        return self.conn.execute(sa.select(suppressions.c.kind).limit(1)).first() is not None

    def record_hits(self, hits: Mapping[tuple[str, str], int], now: datetime) -> None:
        s = suppressions.c
        for (kind, value_hash), count in sorted(hits.items()):
            self.conn.execute(
                suppressions.update()
                .where(s.kind == kind, s.value_hash == value_hash)
                .values(hits=s.hits + count, last_hit_at=now)
            )

    def lift(self, kind: str, value_hash: str) -> bool:
        s = suppressions.c
        result = self.conn.execute(
            suppressions.delete().where(s.kind == kind, s.value_hash == value_hash)
        )
        return bool(result.rowcount)

    def suppressions(self, limit: int) -> list[Suppression]:
        s = suppressions.c
        rows = self.conn.execute(
            sa.select(suppressions).order_by(s.created_at.desc(), s.kind, s.value_hash).limit(limit)
        )
        return [
            Suppression(
                kind=r.kind,
                value_hash=r.value_hash,
                request_id=r.request_id,
                created_at=r.created_at,
                hits=r.hits,
                last_hit_at=r.last_hit_at,
            )
            for r in rows
        ]

    def suppression_hits(self) -> int:
        total = self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(suppressions.c.hits), 0))
        ).scalar_one()
        return int(total)

    def add_tombstones(self, profile_ids: Collection[str], request_id: str, now: datetime) -> None:
        rows = [
            {"profile_id": pid, "request_id": request_id, "erased_at": now}
            for pid in sorted(set(profile_ids))
        ]
        if rows:
            self.conn.execute(erased_profiles.insert(), rows)

    def is_erased(self, profile_id: str) -> bool:
        row = self.conn.execute(
            sa.select(erased_profiles.c.profile_id).where(
                erased_profiles.c.profile_id == profile_id
            )
        ).first()
        return row is not None

    # -- SQLite housekeeping --------------------------------------------------------------

    def secure_delete(self, on: bool) -> None:
        """On SQLite, overwrite deleted content with zeros instead of leaving it in free pages."""
        if self.conn.dialect.name == "sqlite":
            self.conn.exec_driver_sql(f"PRAGMA secure_delete = {'ON' if on else 'OFF'}")

    def checkpoint(self) -> None:
        """On SQLite, copy the WAL back into the database and truncate it, so erased pages do
        not linger in the log; call outside a transaction."""
        if self.conn.dialect.name == "sqlite":
            self.conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

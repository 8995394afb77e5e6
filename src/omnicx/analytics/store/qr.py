"""QR codes and their scans.

    analytics_qr_codes  one row per code: campaign, target, medium, store, scan counters
    analytics_qr_scans  (code, UTC day) -> scans, of which by a known visitor

A scan by a known visitor is also written on their timeline as "QR Code Scanned" (channel
`qr`, source "qr") and announced with `EventsStored`, like any stored event, so the
analytics read models, segments and journey triggers see it.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from omnicx.analytics.qr import SCANNED, QrDefinition
from omnicx.analytics.store.service_counts import add_counts
from omnicx.db import UtcDateTime, metadata

ID = sa.String(36)
TIMELINE_SOURCE = "qr"
"""`source_id` of the timeline rows scans write."""

qr_codes = sa.Table(
    "analytics_qr_codes",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("code", sa.String(16), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("campaign", sa.String(100), nullable=False),
    sa.Column("target_url", sa.Text(), nullable=False),
    sa.Column("medium", sa.String(20), nullable=False),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Column("scans", sa.BigInteger(), nullable=False),
    sa.Column("known_scans", sa.BigInteger(), nullable=False),
    sa.Column("last_scan_at", UtcDateTime(), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

qr_scans = sa.Table(
    "analytics_qr_scans",
    metadata,
    sa.Column("code_id", ID, primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("scans", sa.Integer(), nullable=False),
    sa.Column("known", sa.Integer(), nullable=False),
)


@dataclass(frozen=True)
class QrCode:
    id: str
    code: str
    name: str
    campaign: str
    target_url: str
    medium: str
    store_id: str | None
    scans: int
    known_scans: int
    last_scan_at: datetime | None
    created_by: str
    created_at: datetime
    period_scans: int = 0
    """Scans in the period a listing was asked for."""
    period_known: int = 0


def _code(row: Any, period: tuple[int, int] = (0, 0)) -> QrCode:
    return QrCode(
        id=row.id,
        code=row.code,
        name=row.name,
        campaign=row.campaign,
        target_url=row.target_url,
        medium=row.medium,
        store_id=row.store_id,
        scans=int(row.scans),
        known_scans=int(row.known_scans),
        last_scan_at=row.last_scan_at,
        created_by=row.created_by,
        created_at=row.created_at,
        period_scans=period[0],
        period_known=period[1],
    )


class SqlQrRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(
        self, code_id: str, code: str, definition: QrDefinition, actor: str, now: datetime
    ) -> QrCode:
        added = QrCode(
            id=code_id,
            code=code,
            name=definition.name,
            campaign=definition.campaign,
            target_url=definition.target_url,
            medium=definition.medium,
            store_id=definition.store_id,
            scans=0,
            known_scans=0,
            last_scan_at=None,
            created_by=actor,
            created_at=now,
        )
        values = asdict(added)
        del values["period_scans"], values["period_known"]
        self.conn.execute(qr_codes.insert().values(**values))
        return added

    def get(self, code_id: str) -> QrCode | None:
        row = self.conn.execute(sa.select(qr_codes).where(qr_codes.c.id == code_id)).first()
        return _code(row) if row else None

    def by_code(self, code: str) -> QrCode | None:
        row = self.conn.execute(sa.select(qr_codes).where(qr_codes.c.code == code)).first()
        return _code(row) if row else None

    def code_taken(self, code: str) -> bool:
        return self.by_code(code) is not None

    def listing(self, start: date, end: date, limit: int = 1000) -> list[QrCode]:
        """Every code, newest first, with its scans in [start, end)."""
        s = qr_scans
        period = {
            r.code_id: (int(r[1] or 0), int(r[2] or 0))
            for r in self.conn.execute(
                sa.select(s.c.code_id, sa.func.sum(s.c.scans), sa.func.sum(s.c.known))
                .where(s.c.day >= start, s.c.day < end)
                .group_by(s.c.code_id)
            )
        }
        rows = self.conn.execute(
            sa.select(qr_codes).order_by(qr_codes.c.created_at.desc(), qr_codes.c.id).limit(limit)
        )
        return [_code(r, period.get(r.id, (0, 0))) for r in rows]

    def count_scan(self, code_id: str, known: bool, now: datetime) -> None:
        t = qr_codes
        self.conn.execute(
            t.update()
            .where(t.c.id == code_id)
            .values(
                scans=t.c.scans + 1,
                known_scans=t.c.known_scans + int(known),
                last_scan_at=now,
            )
        )
        add_counts(
            self.conn,
            qr_scans,
            {"code_id": code_id, "day": now.date()},
            {"scans": 1, "known": int(known)},
        )


def scan_row(
    event_id: int, scan_id: str, code: QrCode, customer_id: str, ts: int
) -> dict[str, Any]:
    """The timeline row of a known visitor's scan, as the events table holds it."""
    properties: dict[str, Any] = {
        "code": code.code,
        "qr_code_id": code.id,
        "name": code.name,
        "campaign": code.campaign,
        "medium": code.medium,
    }
    context: dict[str, Any] = {"channel": "qr"}
    if code.store_id:
        properties["store_id"] = code.store_id
        context["location_id"] = code.store_id
    return {
        "id": event_id,
        "source_id": TIMELINE_SOURCE,
        "message_id": f"qr:{scan_id}",
        "profile_id": customer_id,
        "type": "track",
        "event": SCANNED,
        "name": None,
        "channel": "qr",
        "ts": ts,
        "received_at": ts,
        "user_id": None,
        "anonymous_id": None,
        "properties": properties,
        "context": context,
        "traits": None,
    }


QR_TABLES: Sequence[sa.Table] = (qr_codes, qr_scans)

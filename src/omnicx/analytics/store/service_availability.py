"""Availability gaps over a period: commerce's gaps report, with the requests counted for
items that could not be had (`commerce_demand`, already a daily counter) taken from the
period's days only."""

from datetime import date, datetime

import sqlalchemy as sa

from omnicx.analytics.service import AvailabilityGaps, ReportQuery, availability_gaps
from omnicx.commerce import catalog
from omnicx.commerce.catalog import CatalogConfig, StockView
from omnicx.commerce.model import DemandCount
from omnicx.commerce.store.catalog import SqlCatalogRepository, commerce_demand
from omnicx.crypto import FieldCipher


class PeriodCatalog(SqlCatalogRepository):
    """The catalog whose demand counts are those of the days in [start, end)."""

    def __init__(self, conn: sa.Connection, cipher: FieldCipher, start: date, end: date) -> None:
        super().__init__(conn, cipher)
        self.start = start
        self.end = end

    def demand(self, since: date) -> list[DemandCount]:
        t = commerce_demand
        rows = self.conn.execute(
            sa.select(t)
            .where(t.c.day >= self.start, t.c.day < self.end)
            .order_by(t.c.day, t.c.sku, t.c.channel)
        )
        return [
            DemandCount(
                day=row.day,
                sku=row.sku or None,
                query=self.cipher.reveal(row.query) if row.query else None,
                channel=row.channel,
                location_id=row.location_id or None,
                source=row.source,
                count=row._mapping["count"],
            )
            for row in rows
        ]


def gaps(
    conn: sa.Connection,
    cipher: FieldCipher,
    stock: StockView,
    config: CatalogConfig,
    query: ReportQuery,
    now: datetime,
) -> AvailabilityGaps:
    """Gaps as they stand now, each with the requests of the period and the value they lost
    (requests x the item's price on the channel now)."""
    report = catalog.gaps_report(
        PeriodCatalog(conn, cipher, query.start, query.end), stock, config, now
    )
    locations = [location.id for location in stock.locations()]
    return availability_gaps(report, query, config.currency, locations)

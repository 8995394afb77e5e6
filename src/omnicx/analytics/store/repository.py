"""SQL of journey analytics: customers' summaries read and written a batch at a time, the
counters moved by one upsert per key, the dedupe of monthly customers, and the sums the
reports read (each a range scan of a counter table's primary key, or a segment's members
joined with the summaries)."""

from collections.abc import Collection, Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from omnicx.analytics.model import Customer, Deltas
from omnicx.analytics.store.tables import (
    analytics_channel_days,
    analytics_channel_hours,
    analytics_channel_months,
    analytics_cohorts,
    analytics_conversions,
    analytics_customers,
    analytics_economics,
    analytics_paths,
    analytics_seen_months,
)
from omnicx.db.bulk import execute_many, select_in, upsert_many
from omnicx.orchestration.store.segments import segment_members, segments

CUSTOMER_COLUMNS = (
    "customer_id",
    "first_ts",
    "first_day",
    "first_channel",
    "channels",
    "channel_count",
    "age_band",
    "orders",
    "revenue",
    "browse_day",
    "visit_day",
    "touches",
)
_SELECT_CUSTOMERS = (
    f"SELECT {', '.join(CUSTOMER_COLUMNS)} FROM analytics_customers "  # noqa: S608
    "WHERE customer_id IN ({marks})"
)
_MONTHS_CHUNK = 300

Row = tuple[Any, ...]


def _increment(table: sa.Table, keys: Sequence[str], values: Sequence[str]) -> str:
    name = table.name
    columns = ", ".join((*keys, *values))
    marks = ", ".join("?" * (len(keys) + len(values)))
    updates = ", ".join(f"{v} = {name}.{v} + excluded.{v}" for v in values)
    return (
        f"INSERT INTO {name} ({columns}) VALUES ({marks}) "  # noqa: S608 (names from metadata)
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


_DAYS = _increment(
    analytics_channel_days, ("day", "channel"), ("interactions", "new_customers", "new_to_channel")
)
_HOURS = _increment(analytics_channel_hours, ("hour", "channel"), ("interactions",))
_MONTHS = _increment(analytics_channel_months, ("month", "channel"), ("customers",))
_PATHS = _increment(analytics_paths, ("day", "outcome", "path"), ("times",))
_CONVERSIONS = _increment(
    analytics_conversions, ("day", "direction", "channel", "store"), ("conversions", "revenue")
)
_ECONOMICS = _increment(
    analytics_economics,
    ("day", "channel", "store"),
    ("orders", "revenue", "messages", "agent_seconds"),
)
_COHORTS = _increment(
    analytics_cohorts,
    ("first_day", "first_channel", "channel_count", "age_band"),
    ("customers", "orders", "revenue"),
)


def customer_row(customer: Customer) -> Row:
    """The summary as stored, in `CUSTOMER_COLUMNS` order."""
    return (
        customer.id,
        customer.first_ts,
        customer.first_day,
        customer.first_channel,
        orjson.dumps(customer.channels).decode(),
        len(customer.channels),
        customer.age_band,
        customer.orders,
        customer.revenue,
        customer.browse_day,
        customer.visit_day,
        orjson.dumps(customer.touches).decode(),
    )


def customer_of(row: Row) -> Customer:
    return Customer(
        id=row[0],
        first_ts=row[1],
        first_channel=row[3],
        channels=orjson.loads(row[4]),
        age_band=row[6],
        orders=row[7],
        revenue=row[8],
        browse_day=row[9],
        visit_day=row[10],
        touches=orjson.loads(row[11]),
    )


class SqlAnalyticsRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # -- customers' summaries --------------------------------------------------------------

    def customer_rows(self, customer_ids: Sequence[str]) -> dict[str, Row]:
        """The stored summaries of these customers; on PostgreSQL their rows stay locked until
        the commit, so two transactions never fold the same customer at once."""
        if not customer_ids:
            return {}
        sql = _SELECT_CUSTOMERS
        if self.conn.dialect.name == "postgresql":
            sql += " ORDER BY customer_id FOR UPDATE"
        return {row[0]: tuple(row) for row in select_in(self.conn, sql, sorted(customer_ids))}

    def save_customers(self, rows: Sequence[Row]) -> None:
        upsert_many(
            self.conn,
            analytics_customers,
            [dict(zip(CUSTOMER_COLUMNS, row, strict=True)) for row in rows],
            ("customer_id",),
        )

    def delete_customers(self, customer_ids: Collection[str]) -> None:
        execute_many(
            self.conn,
            "DELETE FROM analytics_customers WHERE customer_id = ?",
            [(c,) for c in sorted(customer_ids)],
        )

    def canonical(self, profile_ids: Collection[str]) -> dict[str, str]:
        """The live profile each (possibly merged) profile id stands for now."""
        if not profile_ids:
            return {}
        rows = select_in(
            self.conn,
            "SELECT id, canonical_id FROM profiles WHERE id IN ({marks})",
            sorted(profile_ids),
        )
        return {row[0]: row[1] for row in rows}

    # -- counters --------------------------------------------------------------------------

    def new_months(
        self, candidates: Collection[tuple[str, str, int]]
    ) -> dict[tuple[int, str], int]:
        """Record who was seen on which channel in which month; how many of them are new, by
        (month, channel)."""
        counts: dict[tuple[int, str], int] = {}
        ordered = sorted(candidates)
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        for start in range(0, len(ordered), _MONTHS_CHUNK):
            part = ordered[start : start + _MONTHS_CHUNK]
            values = ", ".join([f"({mark}, {mark}, {mark})"] * len(part))
            sql = (
                "INSERT INTO analytics_seen_months (customer_id, channel, month) "  # noqa: S608
                f"VALUES {values} ON CONFLICT DO NOTHING RETURNING channel, month"
            )
            params = tuple(value for row in part for value in row)
            for channel, month in self.conn.exec_driver_sql(sql, params):
                counts[(month, channel)] = counts.get((month, channel), 0) + 1
        return counts

    def add(self, deltas: Deltas, months: dict[tuple[int, str], int]) -> None:
        """Add one transaction's counts, one upsert per key (keys in order, so concurrent
        writers on PostgreSQL take the rows' locks in the same order)."""
        conn = self.conn
        execute_many(conn, _DAYS, sorted((*k, *v) for k, v in deltas.days.items()))
        execute_many(conn, _HOURS, sorted((*k, v) for k, v in deltas.hours.items()))
        execute_many(conn, _MONTHS, sorted((*k, v) for k, v in months.items()))
        execute_many(conn, _PATHS, sorted((*k, v) for k, v in deltas.paths.items()))
        execute_many(conn, _CONVERSIONS, sorted((*k, *v) for k, v in deltas.conversions.items()))
        execute_many(conn, _ECONOMICS, sorted((*k, *v) for k, v in deltas.economics.items()))
        execute_many(conn, _COHORTS, sorted((*k, *v) for k, v in deltas.cohorts.items() if any(v)))

    # -- what the reports read -------------------------------------------------------------

    def channel_days(self, start: int, end: int, channel: str | None) -> list[Row]:
        t = analytics_channel_days
        query = sa.select(
            t.c.day, t.c.channel, t.c.interactions, t.c.new_customers, t.c.new_to_channel
        ).where(t.c.day >= start, t.c.day < end)
        if channel is not None:
            query = query.where(t.c.channel == channel)
        return [tuple(r) for r in self.conn.execute(query)]

    def channel_months(self, start: int, end: int, channel: str | None) -> list[Row]:
        """(month, channel, customers) for months start..end inclusive (YYYYMM)."""
        t = analytics_channel_months
        query = sa.select(t.c.month, t.c.channel, t.c.customers).where(
            t.c.month >= start, t.c.month <= end
        )
        if channel is not None:
            query = query.where(t.c.channel == channel)
        return [tuple(r) for r in self.conn.execute(query)]

    def heat(self, start: int, end: int, offset: int, channel: str | None) -> list[Row]:
        """(channel, ISO weekday, hour, interactions) of hours since the epoch [start, end),
        shifted by `offset` hours (1970-01-01 was a Thursday)."""
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        where = f"hour >= {mark} AND hour < {mark}"
        params: list[Any] = [offset, offset, start, end]
        if channel is not None:
            where += f" AND channel = {mark}"
            params.append(channel)
        modulo = "%" if mark == "?" else "%%"
        sql = (
            f"SELECT channel, ((hour + {mark}) / 24 + 3) {modulo} 7 + 1, "  # noqa: S608
            f"(hour + {mark}) {modulo} 24, "
            f"sum(interactions) FROM analytics_channel_hours WHERE {where} GROUP BY 1, 2, 3"
        )
        return [tuple(r) for r in self.conn.exec_driver_sql(sql, tuple(params))]

    def cohorts(self, start: int | None, end: int | None, segment: str | None = None) -> list[Row]:
        """(first channel, channels used, age band, customers, orders, revenue) of customers
        first seen in the period; a segment's members only when `segment` is given."""
        if segment is None:
            t = analytics_cohorts
            groups = (t.c.first_channel, t.c.channel_count, t.c.age_band)
            query = sa.select(
                *groups,
                sa.func.sum(t.c.customers),
                sa.func.sum(t.c.orders),
                sa.func.sum(t.c.revenue),
            ).group_by(*groups)
        else:
            t = analytics_customers
            m = segment_members
            groups = (t.c.first_channel, t.c.channel_count, t.c.age_band)
            query = (
                sa.select(
                    *groups,
                    sa.func.count(),
                    sa.func.sum(t.c.orders),
                    sa.func.sum(t.c.revenue),
                )
                .select_from(m.join(t, t.c.customer_id == m.c.profile_id))
                .where(m.c.segment_id == segment, t.c.channel_count > 0)
                .group_by(*groups)
            )
        if start is not None:
            query = query.where(t.c.first_day >= start)
        if end is not None:
            query = query.where(t.c.first_day < end)
        return [tuple(r) for r in self.conn.execute(query)]

    def paths(self, start: int, end: int, outcome: str) -> list[Row]:
        t = analytics_paths
        query = (
            sa.select(t.c.path, sa.func.sum(t.c.times))
            .where(t.c.day >= start, t.c.day < end, t.c.outcome == outcome)
            .group_by(t.c.path)
        )
        return [tuple(r) for r in self.conn.execute(query)]

    def conversions(
        self, start: int, end: int, channel: str | None, store: str | None
    ) -> list[Row]:
        """(direction, channel, conversions, revenue)"""
        t = analytics_conversions
        query = (
            sa.select(
                t.c.direction, t.c.channel, sa.func.sum(t.c.conversions), sa.func.sum(t.c.revenue)
            )
            .where(t.c.day >= start, t.c.day < end)
            .group_by(t.c.direction, t.c.channel)
        )
        if channel is not None:
            query = query.where(t.c.channel == channel)
        if store is not None:
            query = query.where(t.c.store == store)
        return [tuple(r) for r in self.conn.execute(query)]

    def economics(self, start: int, end: int, channel: str | None, store: str | None) -> list[Row]:
        """(channel, orders, revenue, messages, agent seconds)"""
        t = analytics_economics
        query = (
            sa.select(
                t.c.channel,
                sa.func.sum(t.c.orders),
                sa.func.sum(t.c.revenue),
                sa.func.sum(t.c.messages),
                sa.func.sum(t.c.agent_seconds),
            )
            .where(t.c.day >= start, t.c.day < end)
            .group_by(t.c.channel)
        )
        if channel is not None:
            query = query.where(t.c.channel == channel)
        if store is not None:
            query = query.where(t.c.store == store)
        return [tuple(r) for r in self.conn.execute(query)]

    def segment_exists(self, segment_id: str) -> bool:
        found = self.conn.execute(sa.select(segments.c.id).where(segments.c.id == segment_id))
        return found.first() is not None

    # -- privacy ---------------------------------------------------------------------------

    def export(self, profile_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        ids = sorted(profile_ids)
        customers = analytics_customers
        months = analytics_seen_months
        return {
            "analytics_customers": [
                dict(r._mapping)
                for r in self.conn.execute(
                    sa.select(customers).where(customers.c.customer_id.in_(ids))
                )
            ],
            "analytics_seen_months": [
                dict(r._mapping)
                for r in self.conn.execute(
                    sa.select(months)
                    .where(months.c.customer_id.in_(ids))
                    .order_by(months.c.channel, months.c.month)
                )
            ],
        }

    def erase(self, profile_ids: Iterable[str]) -> dict[str, int]:
        """Delete the person's summary and monthly marks; the counters hold no one."""
        ids = sorted(profile_ids)
        counts = {}
        for table in (analytics_customers, analytics_seen_months):
            result = self.conn.execute(table.delete().where(table.c.customer_id.in_(ids)))
            counts[str(table.name)] = result.rowcount
        return counts

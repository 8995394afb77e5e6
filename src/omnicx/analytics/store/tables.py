"""The read models of journey analytics: one summary row per customer, a dedupe table, and
counter tables keyed by UTC day (or hour, or month) that reports sum over a period.

Days are days since 1970-01-01 (UTC), hours are hours since the epoch and months are YYYYMM,
as integers: a period is a range scan of the primary key. Money is in minor units. On SQLite
the tables are WITHOUT ROWID: each lives in its primary key's B-tree alone, so a write touches
one tree, not a table and its key index.
"""

import sqlalchemy as sa

from omnicx.db import metadata

ID = sa.String(36)
CHANNEL = sa.String(40)
STORE = sa.String(100)
COUNT = sa.BigInteger()


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, COUNT, nullable=False, server_default="0")


analytics_customers = sa.Table(
    "analytics_customers",
    metadata,
    sa.Column("customer_id", ID, primary_key=True),
    sa.Column("first_ts", sa.BigInteger(), nullable=True),
    sa.Column("first_day", sa.Integer(), nullable=True),
    sa.Column("first_channel", CHANNEL, nullable=True),
    sa.Column("channels", sa.Text(), nullable=False),
    sa.Column("channel_count", sa.Integer(), nullable=False),
    sa.Column("age_band", sa.String(10), nullable=False),
    sa.Column("orders", sa.Integer(), nullable=False),
    sa.Column("revenue", sa.BigInteger(), nullable=False),
    sa.Column("browse_day", sa.Integer(), nullable=True),
    sa.Column("visit_day", sa.Integer(), nullable=True),
    sa.Column("touches", sa.Text(), nullable=False),
    sqlite_with_rowid=False,
)
"""Each customer's summary: channels used ({channel: [first day, last day]}), first channel
and time, age band, orders and revenue, the last online browse and store visit days, and the
last few distinct consecutive channels touched ([[channel, day], ...])."""

analytics_seen_months = sa.Table(
    "analytics_seen_months",
    metadata,
    sa.Column("customer_id", ID, primary_key=True),
    sa.Column("channel", CHANNEL, primary_key=True),
    sa.Column("month", sa.Integer(), primary_key=True),
    sqlite_with_rowid=False,
)
"""Who was counted on which channel in which month: distinct customers per month."""

analytics_channel_days = sa.Table(
    "analytics_channel_days",
    metadata,
    sa.Column("day", sa.Integer(), primary_key=True),
    sa.Column("channel", CHANNEL, primary_key=True),
    _count("interactions"),
    _count("new_customers"),
    _count("new_to_channel"),
    sqlite_with_rowid=False,
)

analytics_channel_hours = sa.Table(
    "analytics_channel_hours",
    metadata,
    sa.Column("hour", sa.Integer(), primary_key=True),
    sa.Column("channel", CHANNEL, primary_key=True),
    _count("interactions"),
    sqlite_with_rowid=False,
)

analytics_channel_months = sa.Table(
    "analytics_channel_months",
    metadata,
    sa.Column("month", sa.Integer(), primary_key=True),
    sa.Column("channel", CHANNEL, primary_key=True),
    _count("customers"),
    sqlite_with_rowid=False,
)

analytics_cohorts = sa.Table(
    "analytics_cohorts",
    metadata,
    sa.Column("first_day", sa.Integer(), primary_key=True),
    sa.Column("first_channel", CHANNEL, primary_key=True),
    sa.Column("channel_count", sa.Integer(), primary_key=True),
    sa.Column("age_band", sa.String(10), primary_key=True),
    _count("customers"),
    _count("orders"),
    _count("revenue"),
    sqlite_with_rowid=False,
)
"""Customers now, by the day and channel they were first seen on, how many channels they
have used and their age band, with their orders and revenue to date."""

analytics_paths = sa.Table(
    "analytics_paths",
    metadata,
    sa.Column("day", sa.Integer(), primary_key=True),
    sa.Column("outcome", sa.String(10), primary_key=True),
    sa.Column("path", sa.String(250), primary_key=True),
    _count("times"),
    sqlite_with_rowid=False,
)

analytics_conversions = sa.Table(
    "analytics_conversions",
    metadata,
    sa.Column("day", sa.Integer(), primary_key=True),
    sa.Column("direction", sa.String(20), primary_key=True),
    sa.Column("channel", CHANNEL, primary_key=True),
    sa.Column("store", STORE, primary_key=True),
    _count("conversions"),
    _count("revenue"),
    sqlite_with_rowid=False,
)

analytics_economics = sa.Table(
    "analytics_economics",
    metadata,
    sa.Column("day", sa.Integer(), primary_key=True),
    sa.Column("channel", CHANNEL, primary_key=True),
    sa.Column("store", STORE, primary_key=True),
    _count("orders"),
    _count("revenue"),
    _count("messages"),
    _count("agent_seconds"),
    sqlite_with_rowid=False,
)

ANALYTICS_TABLES = (
    "analytics_customers",
    "analytics_seen_months",
    "analytics_channel_days",
    "analytics_channel_hours",
    "analytics_channel_months",
    "analytics_cohorts",
    "analytics_paths",
    "analytics_conversions",
    "analytics_economics",
)

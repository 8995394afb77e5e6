"""SQL storage of journey analytics' read models."""

from omnicx.analytics.store.repository import SqlAnalyticsRepository
from omnicx.analytics.store.tables import ANALYTICS_TABLES

__all__ = ["ANALYTICS_TABLES", "SqlAnalyticsRepository"]

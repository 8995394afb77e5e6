"""Journey analytics: read models kept up to date as facts arrive, and the reports over them."""

from omnicx.analytics.model import AnalyticsConfig
from omnicx.analytics.readmodel import Analytics
from omnicx.analytics.reports import REPORTS, Report, UsageQuery, usage_query

__all__ = ["REPORTS", "Analytics", "AnalyticsConfig", "Report", "UsageQuery", "usage_query"]

"""The consent tables and their SQL repository (edges never import this package)."""

from omnicx.consent.store.repository import TIMELINE_SOURCE, SqlConsentRepository
from omnicx.consent.store.tables import (
    consent_changes,
    consent_confirmations,
    consent_preferences,
    consent_suppressions,
    consents,
)

__all__ = [
    "TIMELINE_SOURCE",
    "SqlConsentRepository",
    "consent_changes",
    "consent_confirmations",
    "consent_preferences",
    "consent_suppressions",
    "consents",
]

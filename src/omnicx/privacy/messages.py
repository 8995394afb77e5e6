"""The queries privacy asks every domain, and the parts they answer with.

A domain joins privacy by answering these on the message bus (`bus.answer(Query, fn)`, with
`fn(query, uow) -> part`). An answer that raises fails the whole request; erasure runs every
answer in one transaction, so it is all or nothing.

    ResolveSubject(customer_id)              -> Subject          (profiles only)
    ExportSubject(subject)                   -> ExportSection    (each domain holding data)
    EraseSubject(subject, request_id, now)   -> ErasureReport    (each domain holding data)
    ApplyRetention(now, policies, ...)       -> RetentionReport  (each domain keeping a kind)
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from omnicx.kernel import Query
from omnicx.privacy.model import Subject


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class ResolveSubject(Query):
    customer_id: str
    reveal: Callable[[Any], Any] = _same
    """Opens sealed values, so the subject's identifiers are known in plain text."""


@dataclass(frozen=True)
class ExportSubject(Query):
    subject: Subject


@dataclass(frozen=True)
class ExportSection:
    """Everything one domain holds about the subject, table by table (rows as plain dicts;
    privacy opens sealed values before they are written to the archive)."""

    domain: str
    tables: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class EraseSubject(Query):
    subject: Subject
    request_id: str
    now: datetime
    reveal: Callable[[Any], Any] = _same
    """Opens sealed values where rows must be matched by content (payloads, dead letters)."""


@dataclass(frozen=True)
class ErasureReport:
    domain: str
    counts: dict[str, int]
    """Rows deleted or anonymised, per table."""


@dataclass(frozen=True)
class ApplyRetention(Query):
    now: datetime
    policies: Mapping[str, int]
    """Days to keep, per data kind (`RETENTION_KINDS`); 0 or absent keeps for good."""
    dry_run: bool = False
    limit: int = 10_000
    """Most rows deleted per kind in one pass; the job repeats passes until none is left."""


@dataclass(frozen=True)
class RetentionReport:
    domain: str
    counts: dict[str, int] = field(default_factory=dict)
    """Rows deleted (or, in a dry run, that would be), per data kind."""

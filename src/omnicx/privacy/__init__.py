"""Privacy: subject access and erasure across every domain, suppression, retention, audit.

Privacy sits beneath every domain: it defines the queries (`messages`) that each domain
answers on the message bus, and orchestrates them (`services`). A domain joins by answering
`ExportSubject`, `EraseSubject` and `ApplyRetention` for the data it keeps.
"""

from omnicx.privacy.archive import audit_csv, audit_jsonl
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
    Suppression,
)
from omnicx.privacy.ports import Cipher, PrivacyRepository
from omnicx.privacy.services import (
    ARCHIVE_FORMAT,
    SuppressionScreen,
    apply_retention,
    audit_entries,
    audit_page,
    audit_record,
    check_policies,
    erase_subject,
    export_subject,
    get_request,
    lift_suppression,
    list_requests,
    read_archive,
    record_access,
    resolve_subject,
)

__all__ = [
    "ARCHIVE_FORMAT",
    "AUDIT_ACTIONS",
    "REQUEST_KINDS",
    "RETENTION_KINDS",
    "Actor",
    "ApplyRetention",
    "AuditEntry",
    "AuditFilter",
    "Cipher",
    "EraseSubject",
    "ErasureReport",
    "ExportSection",
    "ExportSubject",
    "PrivacyRepository",
    "PrivacyRequest",
    "ResolveSubject",
    "RetentionReport",
    "Subject",
    "Suppression",
    "SuppressionScreen",
    "apply_retention",
    "audit_csv",
    "audit_entries",
    "audit_jsonl",
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

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class PrivacyRequestCreate(BaseModel):
    kind: Literal["export", "erasure"] = Field(
        description="export: a subject-access archive; erasure: erase the person everywhere"
    )
    customer_id: str = Field(min_length=1, max_length=36, description="Any id of the customer")
    reason: str = Field(
        default="", max_length=500, description="Why, for the record (a ticket number, say)"
    )


class PrivacyRequestPublic(BaseModel):
    id: str
    kind: str
    customer_id: str = Field(description="The id the request named")
    subject_id: str = Field(description="The surviving profile the id resolved to")
    status: str = Field(description="completed; an export whose archive is gone: expired")
    requested_by: str
    reason: str
    counts: dict[str, dict[str, int]] = Field(description="Rows per domain and table")
    created_at: datetime
    completed_at: datetime | None
    archive_expires_at: datetime | None
    archive_url: str | None = Field(description="Where the archive of an export is downloaded")


class PrivacyRequestsPublic(BaseModel):
    items: list[PrivacyRequestPublic]
    next: str | None = Field(description="Pass back as `cursor` for the next page")


class RetentionPublic(BaseModel):
    dry_run: bool
    counts: dict[str, int] = Field(description="Rows deleted (or due, in a dry run) per kind")


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    request_id: str = Field(description="Entries of one HTTP request share it")
    actor_kind: str
    actor_id: str | None
    actor_name: str | None
    actor_role: str | None
    action: str
    method: str
    route: str
    resource: str | None
    customer_id: str | None
    client_address: str | None
    user_agent: str | None
    status: int
    detail: dict[str, Any]


class AuditPublic(BaseModel):
    items: list[AuditEntryPublic]
    next: str | None = Field(description="Pass back as `cursor` for older entries")

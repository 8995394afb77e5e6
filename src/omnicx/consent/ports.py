"""What the consent domain needs from outside: where consents are kept, and a way to email a
customer outside any conversation (the double opt-in confirmation). A fake mailer ships here."""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from omnicx.consent.model import (
    Confirmation,
    ConsentChange,
    ConsentRecord,
    Preferences,
    Suppression,
)


class Mailer(Protocol):
    def send_mail(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str | None:
        """Send one email; returns its Message-ID. Raises when it did not go out."""
        ...


@dataclass
class SentMail:
    to: str
    subject: str
    text: str
    html: str | None
    headers: dict[str, str]


@dataclass
class FakeMailer:
    """Keeps every email instead of sending it; `fail` makes each send raise it."""

    sent: list[SentMail] = field(default_factory=list)
    fail: Exception | None = None

    def send_mail(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str | None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(SentMail(to, subject, text, html, dict(headers or {})))
        return f"<fake-{len(self.sent)}@omnicx>"


class ConsentRepository(Protocol):
    def lock_customer(self, customer_id: str) -> None: ...
    def members(self, customer_id: str) -> list[str]: ...
    def current(self, customer_id: str) -> list[ConsentRecord]: ...
    def current_many(
        self, members: Mapping[str, Collection[str]]
    ) -> dict[str, list[ConsentRecord]]: ...
    def history(self, customer_id: str, limit: int = 200) -> list[ConsentChange]: ...
    def add_changes(self, changes: Sequence[ConsentChange]) -> None: ...
    def add_timeline(
        self, customer_id: str, name: str, channel: str, at: datetime, properties: dict[str, Any]
    ) -> None: ...
    def contact_email(self, customer_id: str) -> str | None: ...
    def preferences(self, customer_id: str) -> Preferences: ...
    def preferences_many(
        self, members: Mapping[str, Collection[str]]
    ) -> dict[str, Preferences]: ...
    def set_preferences(
        self, customer_id: str, preferences: Preferences, now: datetime, by: str
    ) -> None: ...
    def suppressions(self, customer_id: str) -> list[Suppression]: ...
    def suppressions_many(
        self, identifiers: Mapping[str, Iterable[tuple[str, str]]]
    ) -> dict[str, list[Suppression]]: ...
    def suppressions_hashed(
        self, wanted: Mapping[str, Collection[tuple[str, str]]]
    ) -> dict[str, list[Suppression]]: ...
    def suppressions_of(self, hashed: Collection[tuple[str, str]]) -> list[Suppression]: ...
    def blind(self, kind: str, value: str) -> str: ...
    def add_suppression(self, suppression: Suppression) -> None: ...
    def get_suppression(self, suppression_id: str) -> Suppression | None: ...
    def remove_suppression(self, suppression_id: str) -> None: ...
    def list_suppressions(
        self,
        *,
        kind: str | None = None,
        value_hash: str | None = None,
        reason: str | None = None,
        limit: int = 100,
    ) -> list[Suppression]: ...
    def add_confirmation(self, confirmation: Confirmation) -> None: ...
    def confirmation(self, confirmation_id: str, *, lock: bool = False) -> Confirmation | None: ...
    def pending(self, customer_id: str, now: datetime) -> list[Confirmation]: ...
    def mark_confirmed(self, confirmation_id: str, change_id: str, now: datetime) -> None: ...
    def mark_sent(self, confirmation_id: str, now: datetime) -> None: ...

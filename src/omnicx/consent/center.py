"""Consent wired to storage: the composition root builds one `ConsentCenter` and exposes it as
`Services.consent_center`.

API routes call it inside their unit of work; the customer's signed links (unsubscribe,
preference centre, double opt-in) run one unit of work each; the bus brings it what
customers say on any channel (a keyword), the question of which channels an agent's reply
may use, and the `consent.confirm` outbox rows that send double opt-in emails.
"""

import logging
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from omnicx.consent import links, pages, services
from omnicx.consent.keywords import Keywords
from omnicx.consent.messages import ContactBlocks
from omnicx.consent.model import (
    ALL_CHANNELS,
    ConsentPolicy,
    ConsentSource,
    ContactPermission,
    Preferences,
    Wish,
    check_channel,
    parse_time,
)
from omnicx.consent.pages import PAGE_CHANNELS, Cell, PreferencePage
from omnicx.consent.policy import permission, suppressed_by
from omnicx.consent.ports import Mailer
from omnicx.consent.privacy import ConsentPrivacy
from omnicx.consent.services import Recorded
from omnicx.consent.store import SqlConsentRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork, UnitOfWorkFactory, enqueue
from omnicx.kernel import DomainError, Forbidden, Gone, Invalid, MessageBus
from omnicx.privacy.store import SqlPrivacyRepository
from omnicx.profiles.store import SqlProfileRepository

log = logging.getLogger("omnicx.consent")

CONFIRM = "consent.confirm"
"""Outbox topic of a double opt-in email waiting to be sent."""


class MailUnavailable(Exception):
    """No mailer can send the confirmation (the outbox retries it later)."""


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


@dataclass
class ConsentCenter:
    uow: UnitOfWorkFactory
    cipher: FieldCipher
    policy: ConsentPolicy
    key: bytes
    region: str
    mailer: Callable[[], Mailer | None]
    mailto: str | None = None

    def __post_init__(self) -> None:
        self.keywords = Keywords.of(self.policy.opt_out_keywords, self.policy.opt_in_keywords)

    def repo(self, uow: UnitOfWork) -> SqlConsentRepository:
        return SqlConsentRepository(uow.conn, self.cipher)

    def register(self, bus: MessageBus) -> None:
        bus.answer(ContactBlocks, self.blocks)
        ConsentPrivacy(self.cipher).register(bus)

    # -- recording (API) --------------------------------------------------------------------

    def _enqueue(self, uow: UnitOfWork) -> Callable[[str], None]:
        now = uow.clock.now()

        def write(confirmation_id: str) -> None:
            enqueue(uow.conn, CONFIRM, confirmation_id, {"confirmation_id": confirmation_id}, now)

        return write

    def record(
        self,
        uow: UnitOfWork,
        customer_id: str,
        wishes: Sequence[Wish],
        source: ConsentSource,
        *,
        proof: Mapping[str, Any] | None,
        note: str | None,
        at: datetime | None,
        recorded_by: str,
    ) -> Recorded:
        return services.record_consents(
            self.repo(uow),
            customer_id,
            wishes,
            source,
            proof=proof,
            note=note,
            at=at,
            now=uow.clock.now(),
            recorded_by=recorded_by,
            policy=self.policy,
            raise_event=uow.raise_event,
            enqueue=self._enqueue(uow),
        )

    def opt_out(
        self,
        uow: UnitOfWork,
        customer_id: str,
        purpose: str,
        channel: str,
        source: ConsentSource,
        *,
        note: str | None,
        recorded_by: str,
    ) -> Recorded:
        return services.opt_out(
            self.repo(uow),
            customer_id,
            purpose,
            channel,
            source,
            note=note,
            proof=None,
            now=uow.clock.now(),
            recorded_by=recorded_by,
            policy=self.policy,
            raise_event=uow.raise_event,
        )

    # -- deciding ---------------------------------------------------------------------------

    def may_contact(
        self, uow: UnitOfWork, customer_id: str, purpose: str, channel: str
    ) -> ContactPermission:
        return services.may_contact(self.repo(uow), customer_id, purpose, channel, uow.clock.now())

    def blocks(self, query: ContactBlocks, uow: UnitOfWork) -> dict[str, str]:
        return services.contact_blocks(
            self.repo(uow), query.customer_id, query.purpose, query.channels, uow.clock.now()
        )

    # -- what customers say on any channel --------------------------------------------------

    def heard(
        self,
        uow: UnitOfWork,
        customer_id: str,
        channel: str,
        *,
        text: str | None,
        subject: str | None,
        message_id: str,
        provider_message_id: str | None,
        at: datetime,
    ) -> Recorded | None:
        """An inbound message: an opt-out or opt-in keyword takes effect at once, in the same
        transaction as the message; an email whose subject is "unsubscribe <token>" (our
        List-Unsubscribe mailto) unsubscribes the token's purpose. A consent that cannot be
        recorded is logged and never costs the customer's message."""
        try:
            return self._heard(
                uow,
                customer_id,
                channel,
                text=text,
                subject=subject,
                message_id=message_id,
                provider_message_id=provider_message_id,
                at=at,
            )
        except DomainError as error:
            log.warning("consent not recorded from message %s: %s", message_id, error.message)
            return None

    def _heard(
        self,
        uow: UnitOfWork,
        customer_id: str,
        channel: str,
        *,
        text: str | None,
        subject: str | None,
        message_id: str,
        provider_message_id: str | None,
        at: datetime,
    ) -> Recorded | None:
        now = uow.clock.now()
        repo = self.repo(uow)
        proof: dict[str, Any] = {"message_id": message_id}
        if provider_message_id:
            proof["provider_message_id"] = provider_message_id
        if channel == "email" and subject:
            word, _, token = subject.strip().partition(" ")
            if word.lower() == "unsubscribe" and token.strip():
                try:
                    claims = links.verify(self.key, token.strip(), "u", now)
                except DomainError:
                    claims = None
                if (
                    claims is not None
                    and claims.purpose in self.policy.purposes
                    and self._same(uow, claims.subject, customer_id)
                ):
                    assert claims.purpose is not None
                    return services.unsubscribe(
                        repo,
                        customer_id,
                        claims.purpose,
                        "email",
                        method="mailto",
                        proof={**proof, "via": "mailto"},
                        now=now,
                        policy=self.policy,
                        raise_event=uow.raise_event,
                    )
        spoken = text if (text and text.strip()) else subject if channel == "email" else text
        return services.hear(
            repo,
            customer_id,
            channel,
            spoken,
            keywords=self.keywords,
            proof={**proof, "text": (spoken or "")[:200]},
            at=at,
            now=now,
            policy=self.policy,
            raise_event=uow.raise_event,
        )

    def _same(self, uow: UnitOfWork, named: str, customer_id: str) -> bool:
        """Whether a link's customer is this customer (perhaps under a merged id)."""
        try:
            return named == customer_id or self.customer_of(uow, named) == customer_id
        except DomainError:
            return False

    # -- signed links -----------------------------------------------------------------------

    def customer_of(self, uow: UnitOfWork, customer_id: str) -> str:
        """The live customer a link names; erased or unknown is gone (410)."""
        profile = SqlProfileRepository(uow.conn, self.cipher).get(customer_id)
        if profile is None:
            if SqlPrivacyRepository(uow.conn).is_erased(customer_id):
                raise Gone("customer_erased", "this customer was erased", "token")
            raise Gone("customer_not_found", "this link's customer no longer exists", "token")
        return profile.canonical_id

    def language_of(self, uow: UnitOfWork, customer_id: str) -> str | None:
        return self.repo(uow).preferences(customer_id).language

    def preferences_url(self, customer_id: str, now: datetime) -> str:
        expires = now + timedelta(days=self.policy.preference_link_days)
        return links.preferences_url(self.policy.base_url, self.key, customer_id, expires)

    def unsubscribe_headers(self, customer_id: str, purpose: str, channel: str) -> dict[str, str]:
        """The RFC 8058 headers of a bulk email to the customer."""
        return links.unsubscribe_headers(
            customer_id, purpose, channel, self.policy.base_url, self.key, self.mailto
        )

    def unsubscribe_claims(self, token: str, now: datetime) -> links.LinkClaims:
        claims = links.verify(self.key, token, "u", now)
        if not claims.purpose or claims.purpose not in self.policy.purposes:
            raise Forbidden("invalid_link", "the link names no purpose of ours", "token")
        return claims

    def unsubscribe(self, uow: UnitOfWork, token: str, proof: Mapping[str, Any]) -> str:
        """A one-click unsubscribe; returns the customer id."""
        now = uow.clock.now()
        claims = self.unsubscribe_claims(token, now)
        customer_id = self.customer_of(uow, claims.subject)
        assert claims.purpose is not None
        services.unsubscribe(
            self.repo(uow),
            customer_id,
            claims.purpose,
            claims.channel or "email",
            method="one_click",
            proof=dict(proof),
            now=now,
            policy=self.policy,
            raise_event=uow.raise_event,
        )
        return customer_id

    def confirm(
        self, uow: UnitOfWork, token: str, proof: Mapping[str, Any]
    ) -> tuple[str, bool, str | None]:
        """Confirm a double opt-in: (purpose, whether it was new, the customer's language)."""
        now = uow.clock.now()
        claims = links.verify(self.key, token, "c", now)
        repo = self.repo(uow)
        try:
            confirmation, change = services.confirm(
                repo, claims.subject, proof=proof, now=now, raise_event=uow.raise_event
            )
        except DomainError as error:
            if error.code == "confirmation_not_found":
                raise Gone("confirmation_gone", error.message, "token") from None
            raise
        return (
            confirmation.purpose,
            change is not None,
            repo.preferences(confirmation.customer_id).language,
        )

    # -- the preference centre --------------------------------------------------------------

    def _page(self, uow: UnitOfWork, token: str, customer_id: str, **extra: Any) -> PreferencePage:
        repo = self.repo(uow)
        now = uow.clock.now()
        consents = repo.current(customer_id)
        suppressions = repo.suppressions(customer_id)
        waiting = {(c.purpose, c.channel) for c in repo.pending(customer_id, now)}
        purposes = self.policy.optional_purposes
        cells: dict[tuple[str, str], Cell] = {}
        for purpose in purposes:
            for channel in PAGE_CHANNELS:
                blocked = suppressed_by(suppressions, purpose, channel) is not None
                allowed = permission(consents, purpose, channel, suppressed=False, now=now).allowed
                cells[(purpose, channel)] = Cell(
                    purpose,
                    channel,
                    allowed and not blocked,
                    pending=(purpose, channel) in waiting,
                    blocked=blocked,
                )
        preferences = repo.preferences(customer_id)
        return PreferencePage(
            token=token,
            csrf=links.csrf_token(self.key, token),
            language=preferences.language,
            purposes=purposes,
            cells=cells,
            preferences=preferences,
            time_zones=time_zones(),
            **extra,
        )

    def preference_page(self, uow: UnitOfWork, token: str) -> PreferencePage:
        claims = links.verify(self.key, token, "p", uow.clock.now())
        return self._page(uow, token, self.customer_of(uow, claims.subject))

    def save_preferences(
        self,
        uow: UnitOfWork,
        token: str,
        form: Mapping[str, Sequence[str]],
        proof: Mapping[str, Any],
    ) -> PreferencePage:
        """Apply the preference centre's form: the consents that changed, then the
        preferences. Raises `Invalid` on a bad field (the caller rolls back)."""
        now = uow.clock.now()
        claims = links.verify(self.key, token, "p", now)
        links.check_csrf(self.key, token, _one(form, "csrf"))
        customer_id = self.customer_of(uow, claims.subject)
        before = self._page(uow, token, customer_id)
        source = ConsentSource(
            channel="web",
            actor_kind="customer",
            method="preference_centre",
            actor_id=customer_id,
        )
        evidence = {**proof, "page": "preference_centre", "form_version": "1"}
        if _one(form, "action") == "unsubscribe_all":
            wishes = [
                Wish(p, ALL_CHANNELS, "revoked")
                for p in self.policy.optional_purposes
                if p != "service"
            ]
        else:
            wishes = self._changed(before, form)
        recorded = Recorded()
        if wishes:
            recorded = self.record(
                uow,
                customer_id,
                wishes,
                source,
                proof=evidence,
                note=None,
                at=None,
                recorded_by="customer",
            )
        if _one(form, "action") != "unsubscribe_all":
            current = self.repo(uow).preferences(customer_id)
            wanted = _preferences(form, current)
            if wanted != replace(current, updated_at=None):
                services.change_preferences(
                    self.repo(uow), customer_id, wanted, now=now, by="customer"
                )
        after = self._page(uow, token, customer_id)
        texts = pages.strings(after.language)
        return replace(after, notice=texts["saved"], confirm_sent=bool(recorded.pending))

    def _changed(self, page: PreferencePage, form: Mapping[str, Sequence[str]]) -> list[Wish]:
        ticked: set[tuple[str, str]] = set()
        for value in form.get("consent", ()):
            purpose, sep, channel = value.partition(":")
            if not sep or (purpose, channel) not in page.cells:
                raise Invalid("unknown_consent", f"{value!r} is not on this page", "consent")
            ticked.add((purpose, channel))
        wishes: list[Wish] = []
        for key, cell in page.cells.items():
            if cell.blocked:
                continue
            want = key in ticked
            if want and not cell.allowed and not cell.pending:
                wishes.append(Wish(cell.purpose, cell.channel, "granted"))
            elif not want and cell.allowed:
                wishes.append(Wish(cell.purpose, cell.channel, "revoked"))
        return wishes

    def page_with_error(
        self, uow: UnitOfWork, token: str, error: DomainError, form: Mapping[str, Sequence[str]]
    ) -> PreferencePage:
        claims = links.verify(self.key, token, "p", uow.clock.now())
        page = self._page(uow, token, self.customer_of(uow, claims.subject))
        kept = {
            k: _one(form, k) or ""
            for k in (
                "language",
                "time_zone",
                "quiet_start",
                "quiet_end",
                "max_per_day",
                "max_per_week",
                "channel_order",
            )
        }
        return replace(page, error=error.message, form=kept)

    # -- double opt-in email ----------------------------------------------------------------

    def send_confirmation(self, confirmation_id: str, payload: dict[str, Any]) -> None:
        """The `consent.confirm` outbox handler: email the confirmation link, once."""
        with self.uow(write=False) as uow:
            repo = self.repo(uow)
            confirmation = repo.confirmation(confirmation_id)
            if confirmation is None or confirmation.sent_at is not None:
                return
            now = uow.clock.now()
            if confirmation.status(now) != "pending":
                return
            language = repo.preferences(confirmation.customer_id).language
        mailer = self.mailer()
        if mailer is None:
            raise MailUnavailable("no mailer is configured for consent confirmations")
        url = links.confirmation_url(
            self.policy.base_url, self.key, confirmation.id, confirmation.expires_at
        )
        subject, text, html = pages.confirmation_mail(url, confirmation.purpose, language)
        mailer.send_mail(confirmation.email, subject, text, html)
        with self.uow() as uow:
            self.repo(uow).mark_sent(confirmation.id, uow.clock.now())
            uow.commit()


def _one(form: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = form.get(name)
    if not values:
        return None
    return values[-1]


def _int(form: Mapping[str, Sequence[str]], name: str) -> int | None:
    text = (_one(form, name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise Invalid("invalid_limit", f"{name} must be a whole number", name)
    return int(text)


def _preferences(form: Mapping[str, Sequence[str]], current: Preferences) -> Preferences:
    start = (_one(form, "quiet_start") or "").strip()
    end = (_one(form, "quiet_end") or "").strip()
    if bool(start) != bool(end):
        raise Invalid("invalid_quiet_hours", "quiet hours need a start and an end", "quiet_hours")
    window = None
    if start and end:
        window = (parse_time(start, "quiet_start"), parse_time(end, "quiet_end"))
        if window[0] == window[1]:
            raise Invalid(
                "invalid_quiet_hours", "quiet hours must not start and end alike", "quiet_hours"
            )
    order_text = (_one(form, "channel_order") or "").strip()
    order = tuple(
        check_channel(c.strip().lower(), "channel_order", every=False)
        for c in order_text.split(",")
        if c.strip()
    )
    language = (_one(form, "language") or "").strip() or None
    zone = (_one(form, "time_zone") or "").strip() or None
    return Preferences(
        channel_order=order,
        language=language,
        time_zone=zone,
        quiet_hours=window,
        max_per_day=_int(form, "max_per_day"),
        max_per_week=_int(form, "max_per_week"),
        channel_limits=current.channel_limits,
    )

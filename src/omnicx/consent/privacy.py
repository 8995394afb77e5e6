"""The consent domain's answers to privacy.

Export: the history with its proof, the current consents, preferences, double opt-ins and the
suppressions of the person's identifiers. Erasure: current consents, preferences and double
opt-ins are deleted; the history stays, anonymised under the request id, as the proof of
what was agreed (when, which text, which channel); the suppressions of the person's identifiers
stay, since keeping an erased person's address from being contacted again is what they are for,
but lose their free-text notes (reported as `consent_suppressions` when there were any).
"""

from omnicx.consent.store import SqlConsentRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.kernel import MessageBus
from omnicx.privacy import EraseSubject, ErasureReport, ExportSection, ExportSubject

DOMAIN = "consent"


class ConsentPrivacy:
    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def _repo(self, uow: UnitOfWork) -> SqlConsentRepository:
        return SqlConsentRepository(uow.conn, self.cipher)

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection | None:
        """The section, or None when consent holds nothing about the person."""
        repo = self._repo(uow)
        hashed = repo.hashes_of(query.subject.identifiers)
        tables = repo.customer_rows(query.subject.profile_ids, hashed)
        if not any(tables.values()):
            return None
        return ExportSection(DOMAIN, tables)

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        repo = self._repo(uow)
        counts = repo.erase_customer(query.subject.profile_ids, query.request_id)
        notes = repo.forget_suppression_notes(repo.hashes_of(query.subject.identifiers))
        if notes:
            counts["consent_suppressions"] = notes
        return ErasureReport(DOMAIN, counts)

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)

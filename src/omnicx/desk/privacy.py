"""The desk's answers to privacy. Agents are staff, but what the desk keeps about a customer
is the customer's: SLA clocks and their events, assignments, the queue entry and CSAT surveys
with their comments. They are exported, erased with the customer, and CSAT surveys older than
`csat_surveys` days are dropped by retention."""

from datetime import timedelta

from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.desk.store import SqlDeskRepository
from omnicx.kernel import MessageBus
from omnicx.privacy import (
    ApplyRetention,
    EraseSubject,
    ErasureReport,
    ExportSection,
    ExportSubject,
    RetentionReport,
)

DOMAIN = "desk"


class DeskPrivacy:
    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def _repo(self, uow: UnitOfWork) -> SqlDeskRepository:
        return SqlDeskRepository(uow.conn, self.cipher)

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        return ExportSection(DOMAIN, self._repo(uow).customer_rows(query.subject.profile_ids))

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        return ErasureReport(DOMAIN, self._repo(uow).erase_customer(query.subject.profile_ids))

    def apply_retention(self, query: ApplyRetention, uow: UnitOfWork) -> RetentionReport:
        days = query.policies.get("csat_surveys", 0)
        if days <= 0:
            return RetentionReport(DOMAIN, {})
        count = self._repo(uow).expire_surveys(
            query.now - timedelta(days=days), dry_run=query.dry_run, limit=query.limit
        )
        return RetentionReport(DOMAIN, {"csat_surveys": count})

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)
        bus.answer(ApplyRetention, self.apply_retention)

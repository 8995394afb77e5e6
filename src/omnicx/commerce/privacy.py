"""Commerce's answers to privacy, for every commerce table that names a customer.

    export   orders (groups, lines, allocations, status history), carts (the customer's, and
             the anonymous ones of their anonymous ids), returns with their lines, exchanges,
             refunds, the loyalty account and its ledger
    erase    orders, returns, exchanges and refunds stay for the books, de-identified: no
             customer id, name, note or address (orders keep the erasure request's id); carts
             and the loyalty account with its whole ledger are deleted
    retain   nothing of its own: what is kept is what accounting needs

The catalog, the price book, locations and the stock ledger hold no customer data (staff and
business names only) and are not asked.
"""

from omnicx.commerce.store.loyalty import SqlLoyaltyRepository
from omnicx.commerce.store.orders import SqlOrderRepository
from omnicx.commerce.store.returns import SqlReturnsRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.kernel import MessageBus
from omnicx.privacy import EraseSubject, ErasureReport, ExportSection, ExportSubject, Subject

DOMAIN = "commerce"


class CommercePrivacy:
    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def _anonymous(self, subject: Subject) -> list[str]:
        return sorted(
            self.cipher.blind("anonymous_id", value)
            for kind, value in subject.identifiers
            if kind == "anonymous_id"
        )

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        subject = query.subject
        tables = SqlOrderRepository(uow.conn, self.cipher).customer_rows(
            subject.profile_ids, self._anonymous(subject)
        )
        tables.update(
            SqlReturnsRepository(uow.conn, self.cipher).customer_rows(subject.profile_ids)
        )
        tables.update(
            SqlLoyaltyRepository(uow.conn, self.cipher).customer_rows(subject.profile_ids)
        )
        return ExportSection(DOMAIN, {str(name): rows for name, rows in tables.items()})

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        subject = query.subject
        counts = SqlOrderRepository(uow.conn, self.cipher).erase_customer(
            subject.profile_ids, self._anonymous(subject), query.request_id
        )
        counts.update(SqlReturnsRepository(uow.conn, self.cipher).deidentify(subject.profile_ids))
        counts.update(SqlLoyaltyRepository(uow.conn, self.cipher).erase(subject.profile_ids))
        return ErasureReport(DOMAIN, {str(name): count for name, count in counts.items()})

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)

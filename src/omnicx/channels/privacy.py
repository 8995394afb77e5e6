"""The channels' answers to privacy: the devices a customer registered for push (their
endpoints and tokens), and their in-app inbox with its messages. Exported opened, erased with
the customer."""

from omnicx.channels.store import SqlInAppRepository, SqlPushRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.kernel import MessageBus
from omnicx.privacy import EraseSubject, ErasureReport, ExportSection, ExportSubject

DOMAIN = "channels"


class ChannelsPrivacy:
    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        ids = query.subject.profile_ids
        tables = {
            "push_registrations": SqlPushRepository(uow.conn, self.cipher).customer_rows(ids),
            **SqlInAppRepository(uow.conn, self.cipher).customer_rows(ids),
        }
        return ExportSection(DOMAIN, tables)

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        ids = query.subject.profile_ids
        counts = {
            "push_registrations": SqlPushRepository(uow.conn, self.cipher).erase_customer(ids),
            **SqlInAppRepository(uow.conn, self.cipher).erase_customer(ids),
        }
        return ErasureReport(DOMAIN, counts)

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)

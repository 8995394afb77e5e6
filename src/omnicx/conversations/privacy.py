"""The conversations domain's answers to privacy: the person's conversations with their
messages in plain text and their attachments listed (`ExportSubject`), and their erasure
(`EraseSubject`: messages, attachments and delivery histories are deleted; the conversations
stay, anonymised, so the desk's counts hold). Finished sends leave the outbox after
`channel_sends` days (`ApplyRetention`); the messages they sent stay in their conversations."""

from datetime import timedelta

from omnicx.conversations.store import SqlConversationRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork
from omnicx.kernel import MessageBus
from omnicx.privacy import (
    ApplyRetention,
    EraseSubject,
    ErasureReport,
    ExportSection,
    ExportSubject,
    RetentionReport,
)

DOMAIN = "conversations"


class ConversationsPrivacy:
    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def _repo(self, uow: UnitOfWork) -> SqlConversationRepository:
        return SqlConversationRepository(uow.conn, self.cipher)

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        repo = self._repo(uow)
        ids = repo.ids_of_profiles(query.subject.profile_ids)
        return ExportSection(DOMAIN, repo.export_rows(ids))

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        repo = self._repo(uow)
        ids = repo.ids_of_profiles(query.subject.profile_ids)
        return ErasureReport(DOMAIN, repo.erase(ids, query.now))

    def apply_retention(self, query: ApplyRetention, uow: UnitOfWork) -> RetentionReport:
        days = query.policies.get("channel_sends", 0)
        if days <= 0:
            return RetentionReport(DOMAIN, {})
        count = self._repo(uow).expire_sends(
            query.now - timedelta(days=days), dry_run=query.dry_run, limit=query.limit
        )
        return RetentionReport(DOMAIN, {"channel_sends": count})

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)
        bus.answer(ApplyRetention, self.apply_retention)

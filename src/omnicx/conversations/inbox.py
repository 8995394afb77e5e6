"""Conversations wired to storage: each call is one unit of work that resolves the customer
through the identity engine, runs a conversation service and writes the customer's timeline.

The composition root builds one `Inbox` and exposes it as `Services.receive_inbound`,
`Services.reply`, `Services.record_delivery` and the `channel.send` outbox handler.
"""

import logging
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import exc

from omnicx.consent import blocked_channels
from omnicx.conversations import services
from omnicx.conversations.model import (
    CHANNEL_EVENTS,
    AttachmentIn,
    Conversation,
    DeliveryUpdate,
    InboundMessage,
    Message,
    Receipt,
    Reply,
    Template,
)
from omnicx.conversations.ports import ChannelSender, OutboundMessage, SendFailed, ThreadHeaders
from omnicx.conversations.services import ConversationPolicy
from omnicx.conversations.store import SEND, TIMELINE_SOURCE, SqlConversationRepository
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork, UnitOfWorkFactory, enqueue
from omnicx.events.store import SqlEventRepository
from omnicx.kernel import Invalid
from omnicx.kernel.moments import micros
from omnicx.profiles import IdentityRules, ProfileWriter
from omnicx.profiles.identifiers import normalize
from omnicx.profiles.model import Identifier
from omnicx.profiles.store import SqlProfileRepository

log = logging.getLogger("omnicx.conversations")


T = TypeVar("T")


@dataclass
class Inbox:
    uow: UnitOfWorkFactory
    cipher: FieldCipher
    rules: IdentityRules
    policy: ConversationPolicy
    senders: MutableMapping[str, ChannelSender]

    def conversations(self, uow: UnitOfWork) -> SqlConversationRepository:
        return SqlConversationRepository(uow.conn, self.cipher)

    def _retrying(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in a fresh unit of work, again when a concurrent writer won a race for
        the same new customer or message (a unique key) or the database saw a deadlock."""
        for attempt in range(1, 6):
            try:
                with self.uow() as uow:
                    result = work(uow)
                    uow.commit()
                return result
            except (exc.IntegrityError, exc.OperationalError):
                if attempt == 5:
                    raise
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    # -- inbound ----------------------------------------------------------------------------

    def _identifiers(self, inbound: InboundMessage) -> list[Identifier]:
        found: list[Identifier] = []
        for kind, value in inbound.sender:
            if not kind or not kind.replace("_", "").isalnum() or kind != kind.lower():
                raise Invalid("invalid_sender", f"{kind!r} is not an identifier kind", "sender")
            identifier = normalize(kind, value, self.rules.region)
            if identifier not in found:
                found.append(identifier)
        return found

    def receive(self, inbound: InboundMessage) -> Receipt:
        services.check_inbound(inbound, self.policy)
        observed = self._identifiers(inbound)
        return self._retrying(lambda uow: self._receive(uow, inbound, observed))

    def receive_many(self, batch: Sequence[InboundMessage]) -> list[Receipt | Exception]:
        """Store several independent messages in one transaction (one commit, one disk
        flush), each in a savepoint of its own: a message that fails is undone alone and gets
        its error back, in order. A message that lost a race with another writer (a unique
        key, a deadlock) is received again on its own afterwards."""
        results: list[Receipt | Exception | None] = [None] * len(batch)
        again: list[int] = []
        try:
            with self.uow() as uow:
                # One look-up finds the provider retries among the whole batch; a message
                # is looked up alone only when an earlier one of the batch had its id.
                stored = self.conversations(uow).provider_ids_stored(
                    [(m.channel, m.provider_message_id) for m in batch if m.provider_message_id]
                )
                profiles = SqlProfileRepository(uow.conn, self.cipher)
                for index, inbound in enumerate(batch):
                    key = (inbound.channel, inbound.provider_message_id)
                    retry = key in stored
                    stored.add(key)
                    try:
                        services.check_inbound(inbound, self.policy)
                        observed = self._identifiers(inbound)
                        # The reactions read the conversation just written from memory;
                        # the read models' counters are brought up to date once, at the
                        # commit, for the whole batch.
                        self.conversations(uow).keep_conversations()
                        with uow.savepoint(settle=False):
                            results[index] = self._receive(
                                uow, inbound, observed, profiles=profiles, retry=retry
                            )
                    except (exc.IntegrityError, exc.OperationalError):
                        again.append(index)
                    except Exception as error:
                        results[index] = error
                    finally:
                        self.conversations(uow).forget()
                uow.commit()
        except Exception:
            # The commit failed (a busy database, or a reaction applied at the commit): each
            # message is received again on its own, which reports its own error.
            log.exception("an inbound batch of %d failed at its commit", len(batch))
            results, again = [None] * len(batch), list(range(len(batch)))
        for index in again:
            try:
                results[index] = self.receive(batch[index])
            except Exception as error:
                results[index] = error
        return [r if r is not None else RuntimeError("not received") for r in results]

    def _receive(
        self,
        uow: UnitOfWork,
        inbound: InboundMessage,
        observed: list[Identifier],
        *,
        profiles: SqlProfileRepository | None = None,
        retry: bool = True,
    ) -> Receipt:
        """Store one message; `retry=False` when its provider id is known not to be stored
        yet, and `profiles` a repository shared by the messages of a batch."""
        repo = self.conversations(uow)
        if inbound.provider_message_id and retry:
            seen = repo.by_provider_id(inbound.channel, inbound.provider_message_id)
            if seen is not None:
                conversation = repo.get(seen.conversation_id)
                customer = conversation.customer_id if conversation else seen.customer_id
                return Receipt(customer, seen.conversation_id, seen.id, False, True)
        events = SqlEventRepository(uow.conn, self.cipher)
        (event_id,) = events.allocate_ids(1)
        now = uow.clock.now()
        writer = ProfileWriter(
            profiles or SqlProfileRepository(uow.conn, self.cipher),
            self.rules,
            now,
            uow.raise_event,
        )
        customer_id = writer.resolve(
            observed, event_id=event_id, channel=inbound.channel, source_id=None
        )
        if customer_id is None:
            raise Invalid(
                "sender_blocked", "the sender's identifiers are on the blocked list", "sender"
            )
        writer.name_if_unnamed(
            customer_id,
            inbound.sender_name,
            ts=micros(inbound.received_at),
            channel=inbound.channel,
            event_id=event_id,
        )
        new_customer = writer.created(customer_id)
        writer.flush()
        receipt, message = services.receive(
            repo,
            inbound,
            customer_id,
            now=now,
            policy=self.policy,
            raise_event=uow.raise_event,
            new_customer=new_customer,
        )
        self._timeline(events, message, event_id, inbound.kind)
        repo.remember(message)
        return receipt

    def _timeline(
        self, events: SqlEventRepository, message: Message, event_id: int, kind: str
    ) -> None:
        name = CHANNEL_EVENTS.get(message.kind, "Message")
        if message.kind == "message":
            name += " Received" if message.direction == "inbound" else " Sent"
        at = micros(message.created_at)
        events.insert_events(
            [
                {
                    "id": event_id,
                    "source_id": TIMELINE_SOURCE,
                    "message_id": message.id,
                    "profile_id": message.customer_id,
                    "type": "track",
                    "event": name,
                    "name": None,
                    "channel": message.channel,
                    "ts": at,
                    "received_at": at,
                    "user_id": None,
                    "anonymous_id": None,
                    "properties": {
                        "conversation_id": message.conversation_id,
                        "message_id": message.id,
                        "direction": message.direction,
                        "kind": kind,
                    },
                    "context": {"channel": message.channel, "account": message.account},
                    "traits": None,
                }
            ]
        )

    # -- outbound ---------------------------------------------------------------------------

    def _reach(
        self, uow: UnitOfWork, conversation: Conversation | None, *, consent: bool
    ) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """The customer's identifiers, and (with `consent`) the channels consent rules out
        for service messages to them, with why."""
        if conversation is None or not conversation.customer_id:
            return [], {}
        profiles = SqlProfileRepository(uow.conn, self.cipher)
        held = [(i["kind"], i["value"]) for i in profiles.identifiers_of(conversation.customer_id)]
        blocked: dict[str, str] = {}
        if consent:
            blocked = blocked_channels(
                self.uow.bus, uow, conversation.customer_id, "service", tuple(self.senders)
            )
        return held, blocked

    def reply_channels(self, uow: UnitOfWork, conversation_id: str) -> list[tuple[str, str | None]]:
        """Each channel a reply could take, in the order "auto" tries them, with None when it
        can be used now, else why not."""
        conversation = self.conversations(uow).get(conversation_id)
        if conversation is None:
            return []
        held, blocked = self._reach(uow, conversation, consent=True)
        return services.reply_channels(
            self.conversations(uow),
            conversation,
            identifiers=held,
            senders=self.senders,
            now=uow.clock.now(),
            blocked=blocked,
        )

    def reply(self, conversation_id: str, answer: Reply) -> Message:
        return self._retrying(lambda uow: self.reply_within(uow, conversation_id, answer))

    def reply_within(self, uow: UnitOfWork, conversation_id: str, answer: Reply) -> Message:
        """`reply` inside the caller's unit of work (a reaction to another change, such as
        the desk asking for CSAT on resolution); the caller commits."""
        repo = self.conversations(uow)
        held, blocked = self._reach(uow, repo.get(conversation_id), consent=not answer.note)
        now = uow.clock.now()

        def queue(message_id: str) -> None:
            enqueue(uow.conn, SEND, message_id, {"message_id": message_id}, now)

        message = services.reply(
            repo,
            conversation_id,
            answer,
            identifiers=held,
            senders=self.senders,
            now=now,
            policy=self.policy,
            raise_event=uow.raise_event,
            enqueue=queue,
            blocked=blocked,
        )
        if message.direction == "outbound":
            events = SqlEventRepository(uow.conn, self.cipher)
            (event_id,) = events.allocate_ids(1)
            self._timeline(events, message, event_id, "message")
        return message

    def record_delivery(self, update: DeliveryUpdate) -> Message:
        def work(uow: UnitOfWork) -> Message:
            return services.record_delivery(
                self.conversations(uow), update, now=uow.clock.now(), raise_event=uow.raise_event
            )

        return self._retrying(work)

    def send(self, message_id: str, payload: dict[str, Any]) -> None:
        """The `channel.send` outbox handler: send one queued message through its channel.

        A message no longer queued (sent by an earlier attempt) is left alone; a refusal that
        retrying cannot fix marks it failed; any other failure raises `SendFailed` so the
        outbox tries again later with backoff.
        """
        with self.uow(write=False) as uow:
            repo = self.conversations(uow)
            message = repo.message(message_id)
            if message is None or message.status != "queued" or message.to is None:
                return
            conversation = repo.get(message.conversation_id)
            contents = []
            for attachment in message.attachments:
                found = repo.attachment_content(attachment.id)
                if found is not None:
                    contents.append((found[0], found[1]))
        sender = self.senders.get(message.channel)
        if sender is None:
            raise SendFailed(f"no sender for channel {message.channel}")
        template = None
        if "template" in message.metadata:
            t = message.metadata["template"]
            template = Template(t["name"], t["language"], tuple(t["params"]))
        token = conversation.reply_token if conversation else ""
        out = OutboundMessage(
            message_id=message.id,
            conversation_id=message.conversation_id,
            channel=message.channel,
            account=message.account,
            to=message.to,
            text=message.text,
            html=message.html,
            attachments=tuple(AttachmentIn(a.filename, a.content_type, c) for a, c in contents),
            thread=ThreadHeaders(
                message_id=message.email_message_id,
                in_reply_to=message.in_reply_to,
                references=message.references,
                reply_to=f"reply+{token}@{self.policy.email_domain}" if token else None,
                subject=message.subject,
            ),
            template=template,
        )
        try:
            result = sender.send(out)
        except SendFailed as error:
            if error.retry:
                raise
            self._settle(message, None, "failed", str(error))
            return
        self._settle(message, result.provider_message_id, result.status, None)

    def give_up(self, message_id: str, error: str) -> None:
        """The message's send attempts ran out: it is marked failed with the last error,
        not left queued."""

        def work(uow: UnitOfWork) -> None:
            repo = self.conversations(uow)
            message = repo.message(message_id)
            if message is None or message.status != "queued":
                return
            services.mark_sent(
                repo,
                message,
                provider_message_id=None,
                status="failed",
                error=f"gave up after repeated send failures: {error}"[:2000],
                now=uow.clock.now(),
                raise_event=uow.raise_event,
            )

        self._retrying(work)

    def _settle(
        self, message: Message, provider_id: str | None, status: str, error: str | None
    ) -> None:
        def work(uow: UnitOfWork) -> None:
            services.mark_sent(
                self.conversations(uow),
                message,
                provider_message_id=provider_id,
                status=status,
                error=error,
                now=uow.clock.now(),
                raise_event=uow.raise_event,
            )

        self._retrying(work)

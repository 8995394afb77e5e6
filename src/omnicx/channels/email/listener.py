"""The SMTP listener: inbound email for our mailboxes becomes a conversation message.

    SMTP stage   answer                                   when
    RCPT TO      550 5.7.1 relaying denied                 the address is not ours
    MAIL/DATA    552 (aiosmtpd)                            SIZE or data over the limit
    DATA         250 2.0.0 queued as <message id>          after the transaction committed
                 451 4.3.0 try again later                 storing failed, e.g. the database is
                                                          down (the sending server retries)
                 550 5.6.0 <reason>                        the message was refused (no sender)

Addresses are ours when they are listed in `email_addresses`, belong to one of
`email_accept_domains`, or are a reply+token address of `email_domain` (a token that matches
no conversation of the sender's files nothing into someone else's conversation: the
conversations domain checks whose it is). A message the parser cannot make sense of is still
stored, with warnings (see parse.py).

The listener runs its own asyncio loop in a thread; the database work of each message runs in
that loop's default executor so one slow commit never stalls the other sessions.
"""

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from omnicx.channels.email.bounce import Bounce, read_bounce
from omnicx.channels.email.parse import Envelope as MailEnvelope
from omnicx.channels.email.parse import MailLimits, parse_mail
from omnicx.channels.email.threading import EmailThreading
from omnicx.conversations import InboundMessage, Receipt
from omnicx.kernel import Clock, DomainError

log = logging.getLogger("omnicx.channels.email")


@dataclass(frozen=True)
class Mailboxes:
    """Which recipients are ours."""

    addresses: frozenset[str]
    domains: frozenset[str]
    threading: EmailThreading
    default: str
    """The account of mail sent only to reply addresses: our first mailbox."""

    def verdict(self, address: str) -> str | None:
        """None when `address` is ours, else the SMTP refusal."""
        clean = address.strip().strip("<>").lower()
        _, at, domain = clean.rpartition("@")
        if not at:
            return "550 5.1.3 bad recipient address syntax"
        if self.threading.token_of_address(clean) is not None:
            return None
        if clean in self.addresses or domain in self.domains:
            return None
        return "550 5.7.1 relaying denied: not a mailbox of ours"

    def account(self, recipients: list[str]) -> str:
        """Our mailbox the message was addressed to; reply addresses count as the first one."""
        for address in recipients:
            clean = address.strip().strip("<>").lower()
            if self.threading.token_of_address(clean) is None:
                return clean
        return self.default


class MailHandler:
    """aiosmtpd handler hooks; `receive` stores one message and commits (or raises)."""

    def __init__(
        self,
        mailboxes: Mailboxes,
        receive: Callable[[InboundMessage], Receipt],
        clock: Clock,
        limits: MailLimits,
        bounced: Callable[[Bounce], str] | None = None,
    ) -> None:
        self.mailboxes = mailboxes
        self.receive = receive
        self.clock = clock
        self.limits = limits
        self.bounced = bounced

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.mailboxes.verdict(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        recipients = list(envelope.rcpt_tos)
        mail_from = envelope.mail_from if envelope.mail_from not in (None, "", "<>") else None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.deliver, raw, recipients, mail_from)

    def deliver(self, raw: bytes, recipients: list[str], mail_from: str | None) -> str:
        bounce = read_bounce(raw) if self.bounced is not None else None
        if bounce is not None and self.bounced is not None:
            try:
                outcome = self.bounced(bounce)
            except Exception:
                log.exception("bounce of %s could not be recorded", bounce.original_message_id)
                return "451 4.3.0 the report could not be recorded; try again later"
            log.info("bounce of %s: %s", bounce.original_message_id, outcome)
            return f"250 2.0.0 report recorded: {_one_line(outcome)}"
        account = self.mailboxes.account(recipients)
        envelope = MailEnvelope(account, tuple(recipients), mail_from, self.clock.now())
        inbound = parse_mail(raw, envelope, self.mailboxes.threading, self.limits)
        if not inbound.sender:
            return "550 5.6.0 the message has no sender address"
        try:
            receipt = self.receive(inbound)
        except DomainError as error:
            return f"550 5.6.0 {_one_line(error.message)}"
        except Exception:
            log.exception("inbound email %s could not be stored", inbound.provider_message_id)
            return "451 4.3.0 the message could not be stored; try again later"
        log.info(
            "email %s stored as message %s in conversation %s",
            inbound.provider_message_id,
            receipt.message_id,
            receipt.conversation_id,
        )
        return f"250 2.0.0 OK queued as {receipt.message_id}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


class SmtpListener:
    """An aiosmtpd server on its own thread and event loop; `port` is the bound port (ask
    for port 0 to get a free one)."""

    def __init__(
        self,
        handler: MailHandler,
        host: str,
        port: int,
        *,
        max_message_bytes: int,
        server_name: str,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.server_name = server_name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    def _factory(self) -> SMTP:
        return SMTP(
            self.handler,
            data_size_limit=self.max_message_bytes,
            enable_SMTPUTF8=True,
            hostname=self.server_name,
            ident="omnicx ESMTP",
            timeout=60,
        )

    def start(self, timeout: float = 10.0) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._factory, host=self.host, port=self.port)
                )
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            sockets: Any = self._server.sockets
            self.port = int(sockets[0].getsockname()[1])
            ready.set()
            try:
                loop.run_forever()
            finally:
                _cancel_all(loop)
                loop.close()

        self._thread = threading.Thread(target=run, name="omnicx-smtp", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"the SMTP listener did not start within {timeout} s")
        if failure:
            self._thread.join()
            raise failure[0]
        log.info("SMTP listener on %s:%s", self.host, self.port)

    def stop(self, timeout: float = 10.0) -> None:
        loop, server, thread = self._loop, self._server, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return

        def halt() -> None:
            if server is not None:
                server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.stop()

        loop.call_soon_threadsafe(halt)
        thread.join(timeout)
        self._loop = self._server = self._thread = None


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_default_executor())

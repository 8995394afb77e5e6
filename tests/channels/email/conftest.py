"""Fixtures of the email channel: threading keys and a local SMTP sink that records what a
relay would have received."""

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from omnicx.bootstrap import Services
from omnicx.channels.email import EmailThreading, SmtpListener, build_listener
from omnicx.channels.email.threading import derive_key
from omnicx.config import Settings

DOMAIN = "mail.shop.example"


@pytest.fixture
def threading_keys() -> EmailThreading:
    return EmailThreading(derive_key(b"i" * 32), DOMAIN)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Sink:
    """An SMTP server on loopback that keeps every message; `refuse` answers RCPT with it."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse is not None:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content
        assert isinstance(raw, bytes)
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sink() -> Iterator[Sink]:
    handler = Sink(port=free_port())
    controller = Controller(handler, hostname=handler.host, port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sink: Sink) -> Settings:
    """Our mailbox is support@shop.example; replies go out through the test's sink."""
    return make_settings(
        smtp_port=0,
        email_domain=DOMAIN,
        email_addresses="support@shop.example,vendas@shop.example",
        smtp_relay_host=sink.host,
        smtp_relay_port=sink.port,
        smtp_relay_security="none",
        smtp_relay_timeout_seconds=5,
    )


@pytest.fixture
def listener(services: Services) -> Iterator[SmtpListener]:
    smtp = build_listener(
        services.settings, services.cipher, services.clock, services.receive_inbound
    )
    smtp.start()
    try:
        yield smtp
    finally:
        smtp.stop()

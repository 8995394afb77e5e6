"""Consent fixtures: a fixed clock, fake channel senders, a customer who wrote in by email and
SMS, signed-in staff, and a local SMTP sink for double opt-in emails."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import FakeChannelSender, InboundMessage, Receipt, ThreadHints
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock
from omnicx.webhooks.http import FakeWebhookSender
from tests.access.conftest import add_user, sign_in
from tests.channels.email.conftest import Sink, free_port

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ANA = (("email", "ana@example.com"), ("phone", "+5511988887777"))
BEA = (("email", "bea@example.com"),)
PUBLIC = "https://cx.shop.example"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(public_base_url=PUBLIC, email_addresses="support@shop.example")


@pytest.fixture
def services(
    settings: Settings, sender: FakeWebhookSender, clock: FixedClock
) -> Iterator[Services]:
    built = build(settings, clock=clock, sender=sender)
    upgrade(built.engines)
    built.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    built.channel_senders.clear()
    built.channel_senders.update(
        sms=FakeChannelSender("sms"),
        email=FakeChannelSender("email"),
        whatsapp=FakeChannelSender("whatsapp"),
    )
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(app_for(services, run_worker=False)) as test_client:
        yield test_client


def receive(
    services: Services,
    sender: tuple[tuple[str, str], ...],
    text: str,
    *,
    channel: str = "email",
    pid: str | None = None,
    subject: str | None = None,
) -> Receipt:
    return services.receive_inbound(
        InboundMessage(
            channel=channel,
            account="support@shop.example" if channel == "email" else "+5511900000000",
            sender=sender,
            received_at=services.clock.now(),
            provider_message_id=pid,
            text=text,
            thread=ThreadHints(subject=subject),
        )
    )


@pytest.fixture
def ana(services: Services) -> str:
    """A customer known by email and phone (she wrote to support by email)."""
    return receive(services, ANA, "Olá, meu pedido chegou?", pid="<ana-1@example.com>").customer_id


@pytest.fixture
def bea(services: Services) -> str:
    return receive(services, BEA, "Hello", pid="<bea-1@example.com>").customer_id


Staff = Callable[..., dict[str, str]]


@pytest.fixture
def staff(services: Services) -> Staff:
    """`staff("agent")`: a new user of that role, signed in; returns the bearer header."""

    def make(role: str, email: str | None = None) -> dict[str, str]:
        email = email or f"{role}@shop.example"
        add_user(services, email, role)
        return {"Authorization": f"Bearer {sign_in(services, email)}"}

    return make


@pytest.fixture
def sink() -> Iterator[Sink]:
    handler = Sink(port=free_port())
    controller = Controller(handler, hostname=handler.host, port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()

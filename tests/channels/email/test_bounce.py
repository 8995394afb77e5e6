"""Bounces: a delivery status notification marks the message we sent as failed and suppresses
the address; it is never stored as a customer's message. On both databases."""

import smtplib
from collections.abc import Iterator

import pytest

from omnicx.access.model import Principal
from omnicx.bootstrap import Services
from omnicx.channels.email import SmtpListener, build_listener, read_bounce
from omnicx.conversations import Reply
from tests.channels.email.conftest import Sink
from tests.channels.email.test_inbound import conversations, mail, send
from tests.conftest import table_counts


def dsn(original_id: str, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    """A report as a relay writes it (RFC 3464), with the original message attached."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@relay.example>\r\n"
        "To: support@shop.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "Your message could not be delivered.\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; relay.example\r\n"
        "\r\n"
        "Final-Recipient: rfc822; ana@example.com\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <ana@example.com>:\r\n"
        "  Recipient address rejected: User unknown\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        "From: support@shop.example\r\n"
        "To: ana@example.com\r\n"
        f"Message-ID: {original_id}\r\n"
        "\r\n"
        "Ja vai!\r\n"
        "--B--\r\n"
    ).encode()


def test_a_report_names_the_message_and_the_failed_address() -> None:
    bounce = read_bounce(dsn("<r1@mail.shop.example>"))
    assert bounce is not None
    assert bounce.original_message_id == "<r1@mail.shop.example>"
    assert bounce.recipients == ("ana@example.com",)
    assert bounce.action == "failed"
    assert bounce.diagnostic == (
        "smtp; 550 5.1.1 <ana@example.com>: Recipient address rejected: User unknown"
    )
    delayed = read_bounce(dsn("<r1@mail.shop.example>", action="delayed", status="4.4.7"))
    assert delayed is not None
    assert (delayed.action, delayed.recipients) == ("delayed", ())
    assert read_bounce(mail().as_bytes()) is None
    assert read_bounce(b"not a mail at all") is None


@pytest.fixture
def bouncing(services: Services) -> Iterator[SmtpListener]:
    smtp = build_listener(
        services.settings,
        services.cipher,
        services.clock,
        services.receive_inbound,
        bounced=services.record_bounce,
    )
    smtp.start()
    try:
        yield smtp
    finally:
        smtp.stop()


@pytest.mark.postgres
def test_a_bounce_fails_the_reply_and_suppresses_the_address(
    services: Services, bouncing: SmtpListener, sink: Sink
) -> None:
    send(bouncing, mail())
    [(conversation, _)] = conversations(services)
    agent = Principal("user", "agent-1", "Bia", "agent", frozenset({"conversations.write"}))
    queued = services.reply(conversation.id, Reply(author=agent, channel="email", text="Já vai!"))
    assert services.process_outbox() == 1
    assert len(sink.received) == 1
    before = table_counts(services, "conversations", "messages", "profiles")

    with smtplib.SMTP(bouncing.host, bouncing.port, timeout=10) as client:
        refused = client.sendmail("", ["support@shop.example"], dsn(str(queued.email_message_id)))
    assert refused == {}

    assert table_counts(services, "conversations", "messages", "profiles") == before
    with services.uow(write=False) as uow:
        stored = services.conversations(uow).message(queued.id)
        history = services.conversations(uow).deliveries(queued.id)
        email_allowed = services.may_contact(uow, conversation.customer_id, "service", "email")
    assert stored is not None
    assert stored.status == "undelivered"
    assert [(h.status, h.error) for h in history][-1] == (
        "undelivered",
        "smtp; 550 5.1.1 <ana@example.com>: Recipient address rejected: User unknown",
    )
    assert email_allowed.allowed is False
    assert "bounced" in email_allowed.reason
    with services.uow(write=False) as uow:
        timeline = services.events(uow).timeline([conversation.customer_id], after=None, limit=10)
    assert [t.event for t in timeline] == ["Message Bounced", "Message Sent", "Message Received"]
    # The same report again changes nothing more.
    with smtplib.SMTP(bouncing.host, bouncing.port, timeout=10) as client:
        client.sendmail("", ["support@shop.example"], dsn(str(queued.email_message_id)))
    assert table_counts(services, "consent_suppressions")["consent_suppressions"] == 1

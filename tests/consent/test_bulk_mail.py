"""Bulk email carries the RFC 8058 headers the consent domain builds; the SMTP sender adds
them as given and refuses a header that would break the message."""

import pytest

from omnicx.channels.email import EmailThreading, SmtpEmailSender, SmtpRelay
from omnicx.channels.email.threading import derive_key
from omnicx.consent import unsubscribe_headers
from omnicx.consent.links import consent_key
from omnicx.conversations import OutboundMessage, SendFailed, ThreadHeaders
from omnicx.kernel import FixedClock
from tests.channels.email.conftest import Sink
from tests.consent.conftest import AT

KEY = consent_key(b"i" * 32)


def sender(sink: Sink) -> SmtpEmailSender:
    relay = SmtpRelay(sink.host, sink.port, security="none", timeout=5)
    threading = EmailThreading(derive_key(b"i" * 32), "mail.shop.example")
    return SmtpEmailSender(relay, threading, "ofertas@shop.example", FixedClock(AT))


def test_a_bulk_email_carries_one_click_unsubscribe(sink: Sink) -> None:
    headers = unsubscribe_headers("cust-1", "marketing", "email", "https://cx.example", KEY)
    out = OutboundMessage(
        message_id="01a207ab-e1a6-79bd-af0e-2b55a06aa3ff",
        conversation_id="01a207ab-e1a6-78e7-90b0-cecd0282d9bc",
        channel="email",
        account=None,
        to=("email", "ana@example.com"),
        text="Ofertas da semana",
        thread=ThreadHeaders(subject="Ofertas"),
    )

    sender(sink).send(out, headers)
    message_id = sender(sink).send_mail(
        "bea@example.com", "Confirme", "https://cx.example/consent/confirm/x", None, headers
    )

    first, second = (r.message for r in sink.received)
    for mail in (first, second):
        assert mail["List-Unsubscribe"] == headers["List-Unsubscribe"]
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert second["Message-ID"] == message_id
    assert (second["From"], second["To"], second["Subject"]) == (
        "ofertas@shop.example",
        "bea@example.com",
        "Confirme",
    )


def test_a_header_with_a_line_break_is_refused(sink: Sink) -> None:
    with pytest.raises(SendFailed) as refused:
        sender(sink).send_mail("ana@example.com", "x", "y", None, {"X-Evil": "a\r\nBcc: z@z"})
    assert refused.value.retry is False
    assert sink.received == []

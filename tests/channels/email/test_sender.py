from datetime import UTC, datetime

import pytest

from omnicx.channels.email import EmailThreading, SmtpEmailSender, SmtpRelay
from omnicx.conversations import (
    AttachmentIn,
    OutboundMessage,
    SendContext,
    SendFailed,
    ThreadHeaders,
)
from omnicx.kernel import FixedClock
from tests.channels.email.conftest import DOMAIN, Sink, free_port

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONVERSATION = "01a207ab-e1a6-78e7-90b0-cecd0282d9bc"
MESSAGE = "01a207ab-e1a6-79bd-af0e-2b55a06aa3ff"


def sender_for(sink: Sink, threading_keys: EmailThreading) -> SmtpEmailSender:
    relay = SmtpRelay(sink.host, sink.port, security="none", timeout=5)
    return SmtpEmailSender(relay, threading_keys, "support@shop.example", FixedClock(AT))


def outbound(**changes: object) -> OutboundMessage:
    values: dict[str, object] = {
        "message_id": MESSAGE,
        "conversation_id": CONVERSATION,
        "channel": "email",
        "account": "vendas@shop.example",
        "to": ("email", "ana@example.com"),
        "text": "Seu pedido sai amanhã.",
        "html": "<p>Seu pedido sai <b>amanhã</b>.</p>",
        "attachments": (AttachmentIn("etiqueta.pdf", "application/pdf", b"%PDF-1.4"),),
        "thread": ThreadHeaders(
            in_reply_to="<m2@example.com>",
            references=("<m1@example.com>", "<m2@example.com>"),
            subject="Re: Pedido não chegou",
        ),
    }
    values.update(changes)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def test_a_reply_reaches_the_relay_threaded(sink: Sink, threading_keys: EmailThreading) -> None:
    result = sender_for(sink, threading_keys).send(outbound())
    ours = threading_keys.message_id(CONVERSATION, MESSAGE)
    assert result.provider_message_id == ours
    assert result.status == "sent"
    [received] = sink.received
    assert received.mail_from == "vendas@shop.example"
    assert received.rcpt_tos == ["ana@example.com"]
    mail = received.message
    assert mail["From"] == "vendas@shop.example"
    assert mail["To"] == "ana@example.com"
    assert mail["Subject"] == "Re: Pedido não chegou"
    assert mail["Message-ID"] == ours
    assert mail["In-Reply-To"] == "<m2@example.com>"
    assert mail["References"] == "<m1@example.com> <m2@example.com>"
    assert mail["Reply-To"] == threading_keys.reply_address(CONVERSATION)
    assert mail["Date"] == "Mon, 23 Nov 2026 12:00:00 +0000"
    assert mail.get_content_type() == "multipart/mixed"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert text.get_content() == "Seu pedido sai amanhã.\r\n"
    assert html is not None
    assert html.get_content() == "<p>Seu pedido sai <b>amanhã</b>.</p>\r\n"
    [attachment] = mail.iter_attachments()
    assert attachment.get_filename() == "etiqueta.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1.4"


def test_headers_given_by_the_conversation_are_kept(
    sink: Sink, threading_keys: EmailThreading
) -> None:
    thread = ThreadHeaders(
        message_id="<stored@mail.shop.example>",
        in_reply_to="<m1@example.com>",
        reply_to=f"reply+abc@{DOMAIN}",
    )
    result = sender_for(sink, threading_keys).send(
        outbound(thread=thread, account=None, html=None, attachments=())
    )
    assert result.provider_message_id == "<stored@mail.shop.example>"
    mail = sink.received[0].message
    assert mail["From"] == "support@shop.example"
    assert mail["Message-ID"] == "<stored@mail.shop.example>"
    assert mail["References"] == "<m1@example.com>"
    assert mail["Reply-To"] == f"reply+abc@{DOMAIN}"
    assert mail["Subject"] == "Re: your message"
    assert mail.get_content_type() == "text/plain"


def test_a_refused_recipient_fails_for_good(sink: Sink, threading_keys: EmailThreading) -> None:
    sink.refuse = "550 5.1.1 no such user"
    with pytest.raises(SendFailed) as failure:
        sender_for(sink, threading_keys).send(outbound())
    assert failure.value.retry is False
    assert str(failure.value) == "the relay refused 'ana@example.com': 550 5.1.1 no such user"
    assert sink.received == []


def test_a_busy_recipient_is_retried(sink: Sink, threading_keys: EmailThreading) -> None:
    sink.refuse = "451 4.7.1 greylisted"
    with pytest.raises(SendFailed) as failure:
        sender_for(sink, threading_keys).send(outbound())
    assert failure.value.retry is True
    assert sink.received == []


def test_a_relay_that_does_not_answer_is_retried(threading_keys: EmailThreading) -> None:
    port = free_port()
    relay = SmtpRelay("127.0.0.1", port, security="none", timeout=2)
    sender = SmtpEmailSender(relay, threading_keys, "support@shop.example")
    with pytest.raises(SendFailed) as failure:
        sender.send(outbound())
    assert failure.value.retry is True
    assert str(failure.value).startswith(f"the relay 127.0.0.1:{port} did not answer: ")


def test_can_send_needs_a_relay_and_an_email_address(threading_keys: EmailThreading) -> None:
    def ctx(to: tuple[str, str]) -> SendContext:
        return SendContext("c", CONVERSATION, "email", None, to, AT, None)

    configured = SmtpEmailSender(SmtpRelay("relay.example"), threading_keys, "s@shop.example")
    missing = SmtpEmailSender(SmtpRelay(None), threading_keys, "s@shop.example")
    assert configured.can_send(ctx(("email", "ana@example.com"))) is None
    assert configured.can_send(ctx(("phone", "+5511988887777"))) == (
        "the customer has no email address"
    )
    assert missing.can_send(ctx(("email", "ana@example.com"))) == (
        "no SMTP relay is configured (OMNICX_SMTP_RELAY_HOST)"
    )

"""smtplib into the SMTP listener, through to the stored conversation, on both databases."""

import smtplib
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access.model import Principal
from omnicx.asgi import app_for
from omnicx.bootstrap import Services
from omnicx.channels.email import SmtpListener, build_listener
from omnicx.conversations import Conversation, InboundMessage, Message, Receipt, Reply
from tests.channels.email.conftest import DOMAIN, Sink
from tests.conftest import table_counts

TABLES = ("conversations", "messages", "message_attachments", "profiles")


def mail(message_id: str = "<m1@example.com>", **headers: str) -> EmailMessage:
    out = EmailMessage()
    out["From"] = "Ana Sousa <ana@example.com>"
    out["To"] = "support@shop.example"
    out["Subject"] = "Pedido não chegou"
    out["Message-ID"] = message_id
    for name, value in headers.items():
        out[name.replace("_", "-")] = value
    out.set_content("Olá, meu pedido não chegou.", charset="iso-8859-1")
    out.add_alternative("<p>Olá, <b>meu pedido</b> não chegou.</p>", subtype="html")
    out.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="nota.pdf")
    return out


def send(listener: SmtpListener, message: EmailMessage | bytes, to: str = "") -> None:
    with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
        if isinstance(message, bytes):
            client.sendmail("ana@example.com", [to or "support@shop.example"], message)
        else:
            client.send_message(message, to_addrs=[to] if to else None)


def conversations(services: Services) -> list[tuple[Conversation, list[Message]]]:
    with services.uow(write=False) as uow:
        repo = services.conversations(uow)
        ids = [r[0] for r in uow.conn.execute(sa.text("SELECT id FROM conversations ORDER BY id"))]
        found = []
        for conversation_id in ids:
            conversation = repo.get(conversation_id)
            assert conversation is not None
            found.append((conversation, repo.messages_of(conversation_id)))
        return found


@pytest.mark.postgres
def test_an_email_becomes_a_message_of_the_customers_conversation(
    services: Services, listener: SmtpListener
) -> None:
    send(listener, mail())
    [(conversation, [message])] = conversations(services)
    assert conversation.status == "open"
    assert conversation.subject == "Pedido não chegou"
    assert conversation.channels == ("email",)
    assert message.direction == "inbound"
    assert message.channel == "email"
    assert message.account == "support@shop.example"
    assert message.sender_name == "Ana Sousa"
    assert message.text == "Olá, meu pedido não chegou.\n"
    assert message.html == "<p>Olá, <b>meu pedido</b> não chegou.</p>\n"
    assert message.email_message_id == "<m1@example.com>"
    assert message.warnings == ()
    assert [(a.filename, a.content_type, a.size) for a in message.attachments] == [
        ("nota.pdf", "application/pdf", 8)
    ]
    with services.uow(write=False) as uow:
        found = services.conversations(uow).attachment_content(message.attachments[0].id)
    assert found is not None
    assert found[1] == b"%PDF-1.4"
    # the same mail again (a retransmission) is stored once
    send(listener, mail())
    assert table_counts(services, *TABLES) == {
        "conversations": 1,
        "messages": 1,
        "message_attachments": 1,
        "profiles": 1,
    }


@pytest.mark.postgres
def test_malformed_mime_is_stored_with_a_warning_and_the_listener_keeps_serving(
    services: Services, listener: SmtpListener
) -> None:
    broken = (
        b"From: ana@example.com\r\nMessage-ID: <b@example.com>\r\n"
        b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
        b"Content-Type: text/plain; charset=bogus\r\n\r\nol\xe1\r\n"
    )
    send(listener, broken)
    send(listener, mail())
    [(_, [first, second])] = conversations(services)
    assert first.text == "olá"
    assert first.warnings == (
        "the message is malformed: close boundary not found",
        "the text body declares the unknown charset 'bogus'",
    )
    assert second.text == "Olá, meu pedido não chegou.\n"


@pytest.mark.postgres
def test_mail_for_others_is_refused_and_nothing_is_stored(
    services: Services, listener: SmtpListener
) -> None:
    with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("ana@example.com", ["someone@elsewhere.example"], mail().as_bytes())
        assert refused.value.recipients == {
            "someone@elsewhere.example": (550, b"5.7.1 relaying denied: not a mailbox of ours")
        }
    assert table_counts(services, *TABLES) == dict.fromkeys(TABLES, 0)


@pytest.mark.postgres
def test_an_oversized_mail_is_refused_and_nothing_is_stored(services: Services) -> None:
    settings = services.settings.model_copy(update={"email_max_message_bytes": 2000})
    small = build_listener(settings, services.cipher, services.clock, services.receive_inbound)
    small.start()
    big = mail()
    big.add_attachment(b"x" * 5000, maintype="application", subtype="octet-stream")
    try:
        with smtplib.SMTP(small.host, small.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.send_message(big)
            assert refused.value.smtp_code == 552
    finally:
        small.stop()
    assert table_counts(services, *TABLES) == dict.fromkeys(TABLES, 0)


@pytest.mark.postgres
def test_a_database_failure_answers_451_and_the_listener_keeps_serving(
    services: Services,
) -> None:
    calls: list[str | None] = []

    def flaky(inbound: InboundMessage) -> Receipt:
        calls.append(inbound.provider_message_id)
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))
        return services.receive_inbound(inbound)

    listener = build_listener(services.settings, services.cipher, services.clock, flaky)
    listener.start()
    try:
        with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPDataError) as failed:
                client.send_message(mail())
            assert failed.value.smtp_code == 451
        assert table_counts(services, *TABLES) == dict.fromkeys(TABLES, 0)
        send(listener, mail())
    finally:
        listener.stop()
    assert calls == ["<m1@example.com>", "<m1@example.com>"]
    assert table_counts(services, *TABLES) == dict.fromkeys(TABLES, 1)


@pytest.mark.postgres
def test_serve_runs_the_listener_with_the_app(services: Services) -> None:
    with TestClient(app_for(services, run_worker=False, run_smtp=True)) as client:
        smtp = client.app.state.smtp  # type: ignore[attr-defined]
        assert isinstance(smtp, SmtpListener)
        port = smtp.port
        send(smtp, mail())
        assert table_counts(services, "messages") == {"messages": 1}
    with pytest.raises(OSError), smtplib.SMTP("127.0.0.1", port, timeout=5):
        pass


def _resolve_and_open_another(services: Services, conversation: Conversation) -> str:
    """The first conversation resolved yesterday; an agent has since opened another one."""
    with services.uow() as uow:
        repo = services.conversations(uow)
        now = uow.clock.now()
        repo.update(
            conversation.id, status="resolved", resolved_at=now - timedelta(days=1), updated_at=now
        )
        other = Conversation(
            id="01a207ab-e1a6-78e7-90b0-cecd0282d9ff",
            customer_id=conversation.customer_id,
            status="open",
            priority="normal",
            created_at=now,
            updated_at=now,
            last_message_at=now + timedelta(seconds=1),
            reply_token="f" * 24,
        )
        repo.add_conversation(other)
        uow.commit()
    return other.id


@pytest.mark.postgres
def test_a_reply_finds_its_thread_by_in_reply_to(
    services: Services, listener: SmtpListener
) -> None:
    send(listener, mail())
    [(first, _)] = conversations(services)
    other = _resolve_and_open_another(services, first)
    send(listener, mail("<m2@example.com>", In_Reply_To="<m1@example.com>"))
    send(listener, mail("<m3@example.com>"))
    by_id = {c.id: [m.email_message_id for m in ms] for c, ms in conversations(services)}
    assert by_id == {
        first.id: ["<m1@example.com>", "<m2@example.com>"],
        other: ["<m3@example.com>"],
    }


@pytest.mark.postgres
def test_an_agent_reply_goes_out_threaded_and_the_answer_comes_back(
    services: Services, listener: SmtpListener, sink: Sink
) -> None:
    send(listener, mail())
    [(conversation, [inbound])] = conversations(services)
    agent = Principal("user", "agent-1", "Bia", "agent", frozenset({"conversations.write"}))
    queued = services.reply(conversation.id, Reply(author=agent, channel="email", text="Já vai!"))
    assert queued.status == "queued"
    assert services.process_outbox() == 1
    [received] = sink.received
    sent = received.message
    reply_to = f"reply+{conversation.reply_token}@{DOMAIN}"
    assert received.rcpt_tos == ["ana@example.com"]
    assert sent["From"] == "support@shop.example"
    assert sent["To"] == "ana@example.com"
    assert sent["Subject"] == "Re: Pedido não chegou"
    assert sent["Message-ID"] == queued.email_message_id
    assert sent["In-Reply-To"] == "<m1@example.com>"
    assert sent["References"] == "<m1@example.com>"
    assert sent["Reply-To"] == reply_to
    body = sent.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content() == "Já vai!\r\n"
    # the customer answers the reply address after the conversation was resolved and
    # another one opened: the token files it into the first
    other = _resolve_and_open_another(services, conversation)
    answer = mail("<m4@example.com>")
    send(listener, answer.as_bytes(policy=policy.SMTP), to=reply_to)
    by_id = {c.id: [m.direction for m in ms] for c, ms in conversations(services)}
    assert by_id == {conversation.id: ["inbound", "outbound", "inbound"], other: []}
    with services.uow(write=False) as uow:
        stored = services.conversations(uow).message(queued.id)
    assert stored is not None
    assert stored.status == "sent"
    assert stored.provider_message_id == queued.email_message_id
    assert inbound.email_message_id == "<m1@example.com>"

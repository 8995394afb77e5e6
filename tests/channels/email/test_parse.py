from datetime import UTC, datetime
from email.message import EmailMessage

from omnicx.channels.email import EmailThreading, Envelope, MailLimits, parse_mail
from omnicx.conversations import AttachmentIn
from tests.channels.email.conftest import DOMAIN

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENVELOPE = Envelope("support@shop.example", ("support@shop.example",), "ana@example.com", AT)
CONVERSATION = "01a207ab-e1a6-78e7-90b0-cecd0282d9bc"
MESSAGE = "01a207ab-e1a6-79bd-af0e-2b55a06aa3ff"


def portuguese() -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Ana Sousa <Ana.Sousa@Example.com>"
    mail["To"] = "support@shop.example"
    mail["Subject"] = "Pedido não chegou"
    mail["Message-ID"] = "<m1@example.com>"
    mail["Date"] = "Mon, 23 Nov 2026 09:00:00 -0300"
    mail.set_content("Olá, meu pedido não chegou. Atenção!", charset="iso-8859-1")
    mail.add_alternative(
        "<p>Olá, <b>meu pedido</b> não chegou.</p>", subtype="html", charset="iso-8859-1"
    )
    mail.add_attachment(
        b"%PDF-1.4 nota", maintype="application", subtype="pdf", filename="nota fiscal ção.pdf"
    )
    return mail


def test_text_html_attachment_and_charset(threading_keys: EmailThreading) -> None:
    raw = portuguese().as_bytes()
    assert b"n\xe3o chegou" in raw  # really sent as ISO-8859-1
    inbound = parse_mail(raw, ENVELOPE, threading_keys, MailLimits())
    assert inbound.channel == "email"
    assert inbound.account == "support@shop.example"
    assert inbound.sender == (("email", "ana.sousa@example.com"),)
    assert inbound.sender_name == "Ana Sousa"
    assert inbound.provider_message_id == "<m1@example.com>"
    assert inbound.text == "Olá, meu pedido não chegou. Atenção!\n"
    assert inbound.html == "<p>Olá, <b>meu pedido</b> não chegou.</p>\n"
    assert inbound.attachments == (
        AttachmentIn("nota fiscal ção.pdf", "application/pdf", b"%PDF-1.4 nota"),
    )
    assert inbound.thread.subject == "Pedido não chegou"
    assert inbound.thread.conversation_id is None
    assert inbound.warnings == ()
    assert inbound.received_at == AT
    assert inbound.metadata == {
        "date": "Mon, 23 Nov 2026 09:00:00 -0300",
        "mail_from": "ana@example.com",
    }


def test_html_only_mail_gets_a_readable_text(threading_keys: EmailThreading) -> None:
    raw = (
        b"From: ana@example.com\r\nMessage-ID: <h@x>\r\nContent-Type: text/html; charset=utf-8"
        b"\r\n\r\n<html><head><style>p{}</style></head><body><p>Ol\xc3\xa1</p>"
        b"<p>Segunda&nbsp;linha<br>fim</p><script>x()</script></body></html>\r\n"
    )
    inbound = parse_mail(raw, ENVELOPE, threading_keys, MailLimits())
    assert inbound.text == "Olá\n\nSegunda\xa0linha\nfim"
    assert inbound.html is not None
    assert inbound.html.startswith("<html>")
    assert inbound.warnings == ()


def test_inline_image_is_an_attachment_with_its_content_id(threading_keys: EmailThreading) -> None:
    mail = EmailMessage()
    mail["From"] = "ana@example.com"
    mail["Message-ID"] = "<i@x>"
    mail.set_content("see the photo")
    mail.add_alternative('<p>see <img src="cid:photo1"></p>', subtype="html")
    html = mail.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<photo1>")
    inbound = parse_mail(mail.as_bytes(), ENVELOPE, threading_keys, MailLimits())
    assert inbound.text == "see the photo\n"
    assert inbound.attachments == (AttachmentIn("part-2.png", "image/png", b"\x89PNG"),)
    assert inbound.metadata["inline"] == [{"content_id": "photo1", "filename": "part-2.png"}]


def test_encoded_names_and_forwarded_mail(threading_keys: EmailThreading) -> None:
    forwarded = EmailMessage()
    forwarded["From"] = "loja@shop.example"
    forwarded["Subject"] = "Seu pedido"
    forwarded.set_content("enviado")
    mail = EmailMessage()
    mail["From"] = "=?iso-8859-1?q?Jo=E3o?= <joao@example.com>"
    mail["Subject"] = "=?utf-8?b?RW5jYW1pbmhhZG8=?="
    mail["Message-ID"] = "<f@x>"
    mail.set_content("veja abaixo")
    mail.add_attachment(forwarded)
    mail.add_attachment(b"a;b", maintype="text", subtype="csv", filename="../../etc/lista.csv")
    inbound = parse_mail(mail.as_bytes(), ENVELOPE, threading_keys, MailLimits())
    assert inbound.sender_name == "João"
    assert inbound.thread.subject == "Encaminhado"
    assert inbound.text == "veja abaixo\n"
    names = [(a.filename, a.content_type) for a in inbound.attachments]
    assert names == [("message-1.eml", "message/rfc822"), ("lista.csv", "text/csv")]
    assert b"Subject: Seu pedido" in inbound.attachments[0].content
    assert inbound.attachments[1].content == b"a;b"


def test_thread_headers_and_reply_token(threading_keys: EmailThreading) -> None:
    ours = threading_keys.message_id(CONVERSATION, MESSAGE)
    reply_to = threading_keys.reply_address(CONVERSATION)
    raw = (
        f"From: ana@example.com\r\nTo: {reply_to}\r\nMessage-ID: <r@x>\r\n"
        f"In-Reply-To: {ours}\r\nReferences: <a@x>\r\n {ours}\r\nSubject: Re: Pedido\r\n\r\nok\r\n"
    ).encode()
    envelope = Envelope("support@shop.example", (reply_to,), "ana@example.com", AT)
    inbound = parse_mail(raw, envelope, threading_keys, MailLimits())
    assert inbound.thread.in_reply_to == ours
    assert inbound.thread.references == ("<a@x>", ours)
    assert inbound.thread.reply_token == threading_keys.reply_token(CONVERSATION)
    assert inbound.thread.conversation_id == CONVERSATION
    assert inbound.thread.subject == "Re: Pedido"


def test_a_broken_multipart_is_kept_with_warnings(threading_keys: EmailThreading) -> None:
    raw = (
        b"From: x\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
        b"Content-Type: text/plain; charset=bogus\r\n\r\nol\xe1\r\n"
    )
    inbound = parse_mail(raw, ENVELOPE, threading_keys, MailLimits())
    assert inbound.sender == (("email", "ana@example.com"),)
    assert inbound.text == "olá"
    assert inbound.warnings == (
        "the message is malformed: close boundary not found",
        "the message has no usable From address; the envelope sender was used",
        "the message has no Message-ID",
        "the text body declares the unknown charset 'bogus'",
    )
    assert inbound.provider_message_id is not None
    assert inbound.provider_message_id.endswith("@omnicx.invalid>")
    again = parse_mail(raw, ENVELOPE, threading_keys, MailLimits())
    assert again.provider_message_id == inbound.provider_message_id


def test_a_lying_charset_and_a_missing_one_are_read_with_warnings(
    threading_keys: EmailThreading,
) -> None:
    lying = b"From: a@x.com\r\nMessage-ID: <l@x>\r\nContent-Type: text/plain; charset=utf-8\r\n"
    inbound = parse_mail(lying + b"\r\ncora\xe7\xe3o\r\n", ENVELOPE, threading_keys, MailLimits())
    assert inbound.text == "coração\n"
    assert inbound.warnings == ("the text body is not valid utf-8",)
    bare = b"From: a@x.com\r\nMessage-ID: <b@x>\r\n\r\ncora\xe7\xe3o\r\n"
    inbound = parse_mail(bare, ENVELOPE, threading_keys, MailLimits())
    assert inbound.text == "coração\n"
    assert inbound.warnings == ("the text body has no charset; it was read as cp1252",)


def test_oversized_attachments_are_dropped_with_a_warning(threading_keys: EmailThreading) -> None:
    mail = portuguese()
    mail.add_attachment(b"x" * 101, maintype="image", subtype="jpeg", filename="big.jpg")
    limits = MailLimits(max_attachment_bytes=100, max_attachments=1)
    mail.add_attachment(b"y", maintype="image", subtype="jpeg", filename="third.jpg")
    inbound = parse_mail(mail.as_bytes(), ENVELOPE, threading_keys, limits)
    assert [a.filename for a in inbound.attachments] == ["nota fiscal ção.pdf"]
    assert inbound.warnings == (
        "attachment 'big.jpg' (101 bytes) is larger than the limit of 100 bytes and was not kept",
        "only the first 1 attachments were kept; the rest were dropped",
    )


def test_long_text_is_cut_with_a_warning(threading_keys: EmailThreading) -> None:
    raw = b"From: a@x.com\r\nMessage-ID: <t@x>\r\n\r\n" + b"a" * 50
    inbound = parse_mail(raw, ENVELOPE, threading_keys, MailLimits(max_text_chars=10))
    assert inbound.text == "a" * 10
    assert inbound.warnings == ("the text was cut to 10 characters",)


def test_garbage_never_raises(threading_keys: EmailThreading) -> None:
    for raw in (b"", b"\x00\xff\xfe", b"Content-Type: multipart/mixed\r\n\r\n--\r\n", b":\r\n:"):
        inbound = parse_mail(raw, ENVELOPE, threading_keys, MailLimits())
        assert inbound.sender == (("email", "ana@example.com"),)
        assert inbound.provider_message_id is not None
        assert "\x00" not in (inbound.text or "")
        assert inbound.warnings


def test_no_sender_anywhere_leaves_the_sender_empty(threading_keys: EmailThreading) -> None:
    envelope = Envelope("support@shop.example", ("support@shop.example",), None, AT)
    inbound = parse_mail(b"Subject: hi\r\n\r\nbody", envelope, threading_keys, MailLimits())
    assert inbound.sender == ()
    assert "the message has no sender address" in inbound.warnings


def test_thread_ids_of_another_domain_are_left_to_the_store(threading_keys: EmailThreading) -> None:
    raw = f"From: a@x.com\r\nMessage-ID: <n@x>\r\nIn-Reply-To: <old@{DOMAIN}>\r\n\r\nhi".encode()
    inbound = parse_mail(raw, ENVELOPE, threading_keys, MailLimits())
    assert inbound.thread.in_reply_to == f"<old@{DOMAIN}>"
    assert inbound.thread.conversation_id is None

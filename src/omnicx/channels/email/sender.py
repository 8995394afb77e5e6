"""Outbound email through an SMTP relay, threaded so the customer's mail program shows one
thread and their answer finds its way back to the conversation.

    From         the conversation's account address (the mailbox the customer wrote to)
    Reply-To     reply+{token}@{domain}: the answer files itself into the conversation
    Message-ID   <omnicx.{conversation}.{message}.{mac}@{domain}>
    In-Reply-To  the message answered; References: the whole chain, oldest first
    List-Unsubscribe, List-Unsubscribe-Post   on bulk mail, as the caller gives them
                 (`omnicx.consent.unsubscribe_headers`, RFC 8058 one-click)

    relay answer                          SendFailed
    250                                   (none)
    network error, timeout, 4xx, auth     retry
    5xx for the recipient or the message  permanent (retry=False)
"""

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from omnicx.channels.email.html_text import html_to_text
from omnicx.channels.email.threading import EmailThreading
from omnicx.conversations import OutboundMessage, SendContext, SendFailed, SendResult
from omnicx.kernel import Clock, SystemClock

CHANNEL = "email"


@dataclass(frozen=True)
class SmtpRelay:
    host: str | None
    port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None


class SmtpEmailSender:
    """The email channel's `ChannelSender`."""

    channel = CHANNEL

    def __init__(
        self,
        relay: SmtpRelay,
        threading: EmailThreading,
        default_from: str,
        clock: Clock | None = None,
    ) -> None:
        self.relay = relay
        self.threading = threading
        self.default_from = default_from
        self.clock = clock or SystemClock()

    def can_send(self, ctx: SendContext) -> str | None:
        if not self.relay.host:
            return "no SMTP relay is configured (OMNICX_SMTP_RELAY_HOST)"
        if ctx.to[0] != "email" or "@" not in ctx.to[1]:
            return "the customer has no email address"
        return None

    def compose(
        self, out: OutboundMessage, headers: Mapping[str, str] | None = None
    ) -> EmailMessage:
        """The email of `out`; `headers` adds more (List-Unsubscribe on a bulk message)."""
        if out.to[0] != "email" or "@" not in out.to[1]:
            raise SendFailed(f"cannot email {out.to[0]} {out.to[1]!r}", retry=False)
        thread = out.thread
        message_id = thread.message_id or self.threading.message_id(
            out.conversation_id, out.message_id
        )
        references = list(thread.references)
        if thread.in_reply_to and thread.in_reply_to not in references:
            references.append(thread.in_reply_to)
        mail = EmailMessage()
        mail["From"] = _address(out.account or self.default_from)
        mail["To"] = _address(out.to[1])
        mail["Reply-To"] = thread.reply_to or self.threading.reply_address(out.conversation_id)
        mail["Subject"] = thread.subject or "Re: your message"
        mail["Date"] = format_datetime(self.clock.now())
        mail["Message-ID"] = message_id
        if thread.in_reply_to:
            mail["In-Reply-To"] = thread.in_reply_to
        if references:
            mail["References"] = " ".join(references)
        _add_headers(mail, headers)
        text = out.text
        if text is None and out.html:
            text = html_to_text(out.html)
        mail.set_content(text or "", cte="quoted-printable")
        if out.html:
            mail.add_alternative(out.html, subtype="html", cte="quoted-printable")
        for attachment in out.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            if not subtype:
                maintype, subtype = "application", "octet-stream"
            mail.add_attachment(
                attachment.content,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
            )
        return mail

    def send(self, out: OutboundMessage, headers: Mapping[str, str] | None = None) -> SendResult:
        mail = self.compose(out, headers)
        self._transmit(mail, (out.account or self.default_from).strip(), out.to[1])
        return SendResult(provider_message_id=str(mail["Message-ID"]), status="sent")

    def send_mail(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str | None:
        """An email outside any conversation (a double opt-in confirmation) from our default
        address; returns its Message-ID. Raises `SendFailed` like `send`."""
        mail = EmailMessage()
        mail["From"] = _address(self.default_from)
        mail["To"] = _address(to)
        mail["Subject"] = subject
        mail["Date"] = format_datetime(self.clock.now())
        mail["Message-ID"] = make_msgid(domain=self.threading.domain)
        _add_headers(mail, headers)
        mail.set_content(text, cte="quoted-printable")
        if html:
            mail.add_alternative(html, subtype="html", cte="quoted-printable")
        self._transmit(mail, self.default_from.strip(), to)
        return str(mail["Message-ID"])

    def _transmit(self, mail: EmailMessage, sender: str, to: str) -> None:
        if not self.relay.host:
            raise SendFailed("no SMTP relay is configured (OMNICX_SMTP_RELAY_HOST)")
        try:
            with self._connect() as smtp:
                smtp.send_message(mail, from_addr=sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as error:
            code, reason = next(iter(error.recipients.values()))
            raise SendFailed(
                f"the relay refused {to!r}: {code} {_text(reason)}", retry=code < 500
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise SendFailed(
                f"the relay refused our login: {error.smtp_code} {_text(error.smtp_error)}"
            ) from None
        except smtplib.SMTPResponseException as error:
            raise SendFailed(
                f"the relay answered {error.smtp_code} {_text(error.smtp_error)}",
                retry=error.smtp_code < 500,
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise SendFailed(
                f"the relay {self.relay.host}:{self.relay.port} did not answer: "
                f"{type(error).__name__}: {error}"
            ) from None

    def _connect(self) -> smtplib.SMTP:
        relay = self.relay
        assert relay.host is not None
        context = relay.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if relay.security == "tls":
            smtp = smtplib.SMTP_SSL(relay.host, relay.port, timeout=relay.timeout, context=context)
        else:
            smtp = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout)
        try:
            smtp.ehlo_or_helo_if_needed()
            if relay.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if relay.username:
                smtp.login(relay.username, relay.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


def _address(value: str) -> Address:
    local, _, domain = value.strip().rpartition("@")
    try:
        return Address(username=local, domain=domain)
    except (ValueError, IndexError) as error:
        raise SendFailed(f"{value!r} is not an email address: {error}", retry=False) from None


def _add_headers(mail: EmailMessage, headers: Mapping[str, str] | None) -> None:
    for name, value in (headers or {}).items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise SendFailed(f"header {name!r} holds a line break", retry=False)
        del mail[name]
        mail[name] = value


def _text(reason: bytes | str) -> str:
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else reason

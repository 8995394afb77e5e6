"""The email channel: an SMTP listener for inbound mail, an SMTP relay for replies, and the
threading that ties the two to one conversation."""

from collections.abc import Callable

from omnicx.channels.email.bounce import Bounce, read_bounce
from omnicx.channels.email.listener import Mailboxes, MailHandler, SmtpListener
from omnicx.channels.email.parse import Envelope, MailLimits, parse_mail
from omnicx.channels.email.sender import SmtpEmailSender, SmtpRelay
from omnicx.channels.email.threading import EmailThreading, derive_key
from omnicx.config import Settings
from omnicx.conversations import InboundMessage, Receipt
from omnicx.crypto import FieldCipher
from omnicx.kernel import Clock

__all__ = [
    "Bounce",
    "EmailThreading",
    "Envelope",
    "MailHandler",
    "MailLimits",
    "Mailboxes",
    "SmtpEmailSender",
    "SmtpListener",
    "SmtpRelay",
    "build_listener",
    "build_sender",
    "email_threading",
    "parse_mail",
    "read_bounce",
]


def email_threading(settings: Settings, cipher: FieldCipher) -> EmailThreading:
    """Threading signed under a key derived from the index key (stable across restarts and
    data-key rotations, shared by every process of the installation)."""
    return EmailThreading(derive_key(cipher.keyring.index_key), settings.email_domain.lower())


def default_address(settings: Settings) -> str:
    if settings.email_addresses:
        return settings.email_addresses[0]
    return f"support@{settings.email_domain.lower()}"


def build_sender(settings: Settings, cipher: FieldCipher, clock: Clock) -> SmtpEmailSender:
    password = settings.smtp_relay_password
    relay = SmtpRelay(
        host=settings.smtp_relay_host or None,
        port=settings.smtp_relay_port,
        security=settings.smtp_relay_security,
        username=settings.smtp_relay_username or None,
        password=password.get_secret_value() if password is not None else None,
        timeout=settings.smtp_relay_timeout_seconds,
    )
    return SmtpEmailSender(
        relay, email_threading(settings, cipher), default_address(settings), clock
    )


def build_listener(
    settings: Settings,
    cipher: FieldCipher,
    clock: Clock,
    receive: Callable[[InboundMessage], Receipt],
    bounced: Callable[[Bounce], str] | None = None,
) -> SmtpListener:
    """The SMTP listener; `bounced` records a delivery status notification about a message
    we sent (and returns what to log), instead of storing it as a customer's message."""
    threading = email_threading(settings, cipher)
    mailboxes = Mailboxes(
        addresses=frozenset(settings.email_addresses),
        domains=frozenset(d.lower() for d in settings.email_accept_domains),
        threading=threading,
        default=default_address(settings),
    )
    limits = MailLimits(
        max_attachment_bytes=settings.attachment_max_bytes,
        max_text_chars=settings.message_max_chars,
    )
    handler = MailHandler(mailboxes, receive, clock, limits, bounced)
    return SmtpListener(
        handler,
        settings.smtp_host,
        settings.smtp_port,
        max_message_bytes=settings.email_max_message_bytes,
        server_name=settings.email_domain,
    )

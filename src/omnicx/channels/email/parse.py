"""A raw RFC 5322 message in, an `InboundMessage` out; it never raises.

The stdlib `email` package (policy=default) does the MIME work. What it cannot make sense of
becomes a warning on the message instead of an error: a broken multipart boundary, a header
that does not parse, an unknown or lying charset, an attachment over the size limit. The
message is still stored with what could be read, so no mail is lost and an agent sees why it
looks odd.

The body is the first text/plain and the first text/html part of the message's body (the
`multipart/alternative` choice); further inline text parts are appended to the text. Every
other leaf part (attachments, inline images referenced by `cid:`, forwarded messages) becomes
an attachment; inline images keep their Content-ID in `metadata["inline"]`.
"""

import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr
from typing import Any

from omnicx.channels.email.html_text import html_to_text
from omnicx.channels.email.threading import EmailThreading, message_ids
from omnicx.conversations.model import AttachmentIn, InboundMessage, ThreadHints

CHANNEL = "email"
MAX_ID_CHARS = 200
_FALLBACK_CHARSETS = ("utf-8", "cp1252")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]+")
_PATH = re.compile(r"[/\\]")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True)
class MailLimits:
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_attachments: int = 50
    max_text_chars: int = 100_000


@dataclass(frozen=True)
class Envelope:
    """What the SMTP session said, beside the message itself."""

    account: str
    recipients: tuple[str, ...]
    mail_from: str | None
    received_at: datetime


def parse_mail(
    raw: bytes, envelope: Envelope, threading: EmailThreading, limits: MailLimits
) -> InboundMessage:
    try:
        return _parse(raw, envelope, threading, limits)
    except Exception as error:  # the stdlib parser has corners that raise; the mail is kept
        return _unparsed(raw, envelope, threading, f"{type(error).__name__}: {error}")


class _Reader:
    def __init__(self, limits: MailLimits) -> None:
        self.limits = limits
        self.warnings: list[str] = []
        self.texts: list[str] = []
        self.html: str | None = None
        self.attachments: list[AttachmentIn] = []
        self.inline: list[dict[str, str]] = []

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def header(self, message: Message, name: str) -> str | None:
        try:
            value = message.get(name)
        except Exception as error:
            self.warn(f"the {name} header could not be read ({type(error).__name__})")
            return None
        if value is None:
            return None
        defects = getattr(value, "defects", ())
        for defect in defects:
            self.warn(f"the {name} header is malformed: {_describe(defect)}")
        return str(value).strip() or None

    def decode(self, part: Message, what: str) -> str:
        return self._decode(part, what).replace("\r\n", "\n")

    def _decode(self, part: Message, what: str) -> str:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        declared = part.get_content_charset()
        if declared:
            try:
                return data.decode(declared)
            except LookupError:
                self.warn(f"the {what} declares the unknown charset {declared!r}")
            except UnicodeDecodeError:
                self.warn(f"the {what} is not valid {declared}")
        for charset in _FALLBACK_CHARSETS:
            try:
                text = data.decode(charset)
            except UnicodeDecodeError:
                continue
            if declared is None and charset != "utf-8" and not data.isascii():
                self.warn(f"the {what} has no charset; it was read as {charset}")
            return text
        return data.decode("utf-8", errors="replace")

    def attach(self, part: Message, index: int) -> None:
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            content = _inner_message_bytes(part)
        else:
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
        filename = _filename(part, content_type, index, self)
        if len(content) > self.limits.max_attachment_bytes:
            self.warn(
                f"attachment {filename!r} ({len(content)} bytes) is larger than the limit of "
                f"{self.limits.max_attachment_bytes} bytes and was not kept"
            )
            return
        if len(self.attachments) >= self.limits.max_attachments:
            self.warn(
                f"only the first {self.limits.max_attachments} attachments were kept; "
                "the rest were dropped"
            )
            return
        self.attachments.append(AttachmentIn(filename, content_type, content))
        content_id = part.get("Content-ID")
        if content_id and part.get_content_disposition() != "attachment":
            cid = str(content_id).strip().strip("<>")
            self.inline.append({"content_id": cid, "filename": filename})


def _parse(
    raw: bytes, envelope: Envelope, threading: EmailThreading, limits: MailLimits
) -> InboundMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    reader = _Reader(limits)
    for defect in message.defects:
        reader.warn(f"the message is malformed: {_describe(defect)}")

    sender, sender_name = _sender(message, envelope, reader)
    subject = reader.header(message, "Subject")
    provider_id = _message_id(reader.header(message, "Message-ID"))
    if provider_id is None:
        reader.warn("the message has no Message-ID")
        provider_id = _fingerprint(raw)
    in_reply_to = message_ids(reader.header(message, "In-Reply-To"))
    references = message_ids(reader.header(message, "References"))

    body_parts = _body_parts(message, reader)
    for index, part in enumerate(_leaves(message, message, reader)):
        if any(part is chosen for chosen in body_parts):
            continue
        if _is_inline_text(part):
            reader.texts.append(reader.decode(part, "text part"))
            continue
        reader.attach(part, index)

    text = "\n\n".join(t for t in reader.texts if t.strip()).replace("\x00", "") or None
    if reader.html is not None:
        reader.html = reader.html.replace("\x00", "") or None
    if text is None and reader.html:
        text = html_to_text(reader.html) or None
    if text is not None and len(text) > limits.max_text_chars:
        reader.warn(f"the text was cut to {limits.max_text_chars} characters")
        text = text[: limits.max_text_chars]
    html = reader.html
    if html is not None and len(html) > limits.max_text_chars:
        reader.warn(f"the HTML was cut to {limits.max_text_chars} characters")
        html = html[: limits.max_text_chars]

    recipients = (*envelope.recipients, *_addresses(message, ("To", "Cc", "Delivered-To"), reader))
    token, conversation = threading.match(recipients, in_reply_to, references)
    metadata: dict[str, Any] = {}
    date = reader.header(message, "Date")
    if date:
        metadata["date"] = date
    auto = reader.header(message, "Auto-Submitted")
    if auto and auto.lower() != "no":
        metadata["auto_submitted"] = auto
    if reader.inline:
        metadata["inline"] = reader.inline
    if envelope.mail_from:
        metadata["mail_from"] = envelope.mail_from

    return InboundMessage(
        channel=CHANNEL,
        account=envelope.account,
        sender=sender,
        received_at=envelope.received_at,
        sender_name=sender_name,
        provider_message_id=provider_id,
        text=text,
        html=html,
        attachments=tuple(reader.attachments),
        thread=ThreadHints(
            in_reply_to=in_reply_to[0] if in_reply_to else None,
            references=references,
            reply_token=token,
            subject=subject,
            conversation_id=conversation,
        ),
        warnings=tuple(reader.warnings),
        metadata=metadata,
    )


def _sender(
    message: Message, envelope: Envelope, reader: _Reader
) -> tuple[tuple[tuple[str, str], ...], str | None]:
    header: Any = None
    try:
        header = message.get("From")
        addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
    except Exception as error:
        reader.warn(f"the From header could not be read ({type(error).__name__})")
        addresses = ()
    for address in addresses:
        if address.username and address.domain:
            return (("email", address.addr_spec.strip().lower()),), address.display_name or None
    if header is not None:
        name, addr = parseaddr(str(header))
        if "@" in addr:
            reader.warn("the From header is malformed; its address was read loosely")
            return (("email", addr.strip().lower()),), name or None
    if envelope.mail_from and "@" in envelope.mail_from:
        reader.warn("the message has no usable From address; the envelope sender was used")
        return (("email", envelope.mail_from.strip().lower()),), None
    reader.warn("the message has no sender address")
    return (), None


def _addresses(message: Message, names: tuple[str, ...], reader: _Reader) -> list[str]:
    found: list[str] = []
    for name in names:
        try:
            for header in message.get_all(name) or ():
                found.extend(a.addr_spec for a in getattr(header, "addresses", ()))
        except Exception as error:
            reader.warn(f"the {name} header could not be read ({type(error).__name__})")
    return found


def _body_parts(message: Message, reader: _Reader) -> list[Message]:
    chosen: list[Message] = []
    if not isinstance(message, EmailMessage):
        return chosen
    for subtype, what in (("plain", "text body"), ("html", "HTML body")):
        try:
            part = message.get_body(preferencelist=(subtype,))
        except Exception as error:
            reader.warn(f"the {what} could not be found ({type(error).__name__})")
            continue
        if part is None or part.get_content_type() != f"text/{subtype}":
            continue
        chosen.append(part)
        content = reader.decode(part, what)
        if subtype == "plain":
            reader.texts.append(content)
        else:
            reader.html = content
    return chosen


def _is_inline_text(part: Message) -> bool:
    return (
        part.get_content_type() == "text/plain"
        and part.get_content_disposition() != "attachment"
        and part.get_filename() is None
    )


def _leaves(part: Message, root: Message, reader: _Reader) -> Iterator[Message]:
    """Leaf parts in order; a forwarded message/rfc822 is one leaf, kept whole."""
    if part is not root and part.get_content_type() == "message/rfc822":
        yield part
        return
    if not part.is_multipart():
        yield part
        return
    if part is not root:
        for defect in part.defects:
            reader.warn(f"a MIME part is malformed: {_describe(defect)}")
    for child in _children(part):
        yield from _leaves(child, root, reader)


def _children(container: Message) -> list[Message]:
    payload = container.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return [payload] if isinstance(payload, Message) else []


def _inner_message_bytes(part: Message) -> bytes:
    inner = _children(part)
    if not inner:
        payload = part.get_payload(decode=True)
        return payload if isinstance(payload, bytes) else b""
    try:
        return inner[0].as_bytes(policy=policy.SMTP)
    except Exception:
        return str(inner[0]).encode("utf-8", errors="replace")


def _filename(part: Message, content_type: str, index: int, reader: _Reader) -> str:
    try:
        name = part.get_filename()
    except Exception:
        reader.warn(f"the name of attachment {index} could not be read")
        name = None
    if name:
        clean = _UNSAFE_NAME.sub("_", _PATH.split(name)[-1]).strip(" .")
        if clean:
            return clean[-255:]
    if content_type == "message/rfc822":
        return f"message-{index}.eml"
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"part-{index}{extension}"


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    found = message_ids(value)
    clean = value.strip()
    if found:
        identifier = found[0]
    elif clean and " " not in clean:
        identifier = f"<{clean}>"
    else:
        return None
    return identifier if len(identifier) <= MAX_ID_CHARS else _fingerprint(identifier.encode())


def _fingerprint(raw: bytes) -> str:
    """A stand-in id for mail without a usable Message-ID, so a retransmission is still a
    duplicate."""
    return f"<sha256.{hashlib.sha256(raw).hexdigest()[:40]}@omnicx.invalid>"


def _describe(defect: Exception) -> str:
    name = type(defect).__name__.removesuffix("Defect")
    words = _CAMEL.sub(" ", name).lower()
    detail = str(defect).strip()
    return f"{words} ({detail})" if detail and detail.lower() != words else words


def _unparsed(
    raw: bytes, envelope: Envelope, threading: EmailThreading, error: str
) -> InboundMessage:
    sender: tuple[tuple[str, str], ...] = ()
    if envelope.mail_from and "@" in envelope.mail_from:
        sender = (("email", envelope.mail_from.strip().lower()),)
    token, conversation = threading.match(envelope.recipients, (), ())
    return InboundMessage(
        channel=CHANNEL,
        account=envelope.account,
        sender=sender,
        received_at=envelope.received_at,
        provider_message_id=_fingerprint(raw),
        text=raw.decode("utf-8", errors="replace").replace("\x00", "")[:100_000] or None,
        thread=ThreadHints(reply_token=token, conversation_id=conversation),
        warnings=(f"the message could not be parsed and is kept as raw text: {error}",),
        metadata={"mail_from": envelope.mail_from} if envelope.mail_from else {},
    )

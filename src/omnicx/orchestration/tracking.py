"""Email open and click tracking: a 1x1 pixel and signed redirect links in the HTML of the
policy gate's emails, when `OMNICX_EMAIL_TRACKING=true`.

    GET /t/o/<token>.gif    the pixel: an open ("read")
    GET /t/c/<token>        a click ("clicked"): 302 to the link's own destination

A token is

    base64url(JSON {"v": 1, "k": "o" | "c", "m": message id, "u": destination (clicks)})
    + "." + base64url(the first 16 bytes of HMAC-SHA256(key, that first part))

with the key derived from the index key, so every server of one installation accepts the
tokens of the others and nobody without the key can make one. The destination travels inside
the signed token: the redirect only ever goes where our own email pointed, never where a
query string asks (no open redirect). A token that does not verify is refused with 403 and
nothing is stored.

Recording, in one transaction: the message moves to "read" (an open, or a click, proves the
email arrived), a receipt row keeps each open and click, and the customer's timeline gets
"Email Opened" (the first open of a message) and "Email Link Clicked" (every click). A message
that no longer exists (erased, expired) is not recorded; its links still lead where they
pointed. Mail clients that fetch images ahead (Apple Mail Privacy Protection) and link
scanners inflate opens and clicks; the receipts say what was fetched, not who read it.
"""

import base64
import binascii
import hashlib
import hmac
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal, Protocol
from urllib.parse import urlsplit

import orjson

from omnicx.conversations import DeliveryUpdate
from omnicx.crypto import FieldCipher
from omnicx.db import UnitOfWork, UnitOfWorkFactory
from omnicx.events.store import SqlEventRepository
from omnicx.kernel import Forbidden, MessageBus
from omnicx.orchestration.store.sends import SqlSendRepository
from omnicx.orchestration.store.templates import SqlReceiptRepository
from omnicx.privacy import EraseSubject, ErasureReport, ExportSection, ExportSubject

log = logging.getLogger("omnicx.tracking")

MAX_TOKEN = 4096
MAX_URL = 2048
MAX_CLICKS = 50
"""Clicks kept per message; past that (a link scanner, a loop) they still redirect."""
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
"""A transparent 1x1 GIF."""

Kind = Literal["open", "click"]


def tracking_key(index_key: bytes) -> bytes:
    return hmac.new(index_key, b"omnicx email tracking v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:16])


def trackable(url: str) -> bool:
    """An absolute http(s) link with a host and no credentials in it."""
    if len(url) > MAX_URL or any(c in url for c in "\r\n\t\\") or not url.isprintable():
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.username is None
        and parts.password is None
    )


def sign(key: bytes, kind: Kind, message_id: str, url: str | None = None) -> str:
    claims: dict[str, object] = {"v": 1, "k": "o" if kind == "open" else "c", "m": message_id}
    if kind == "click":
        if url is None or not trackable(url):
            raise ValueError(f"not a link to track: {url!r}")
        claims["u"] = url
    body = _b64(orjson.dumps(claims))
    return f"{body}.{_mac(key, body)}"


@dataclass(frozen=True)
class Tracked:
    kind: Kind
    message_id: str
    url: str | None = None


def _refused(message: str) -> Forbidden:
    return Forbidden("invalid_tracking_token", message, "token")


def verify(key: bytes, token: str, kind: Kind) -> Tracked:
    """What a token stands for; anything forged, altered or malformed is refused (403)."""
    if len(token) > MAX_TOKEN:
        raise _refused("the link is not a tracking link of ours")
    body, sep, signature = token.partition(".")
    if not sep or not body or not signature:
        raise _refused("the link is not a tracking link of ours")
    try:
        expected = _mac(key, body)
    except UnicodeEncodeError:
        raise _refused("the link is not a tracking link of ours") from None
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise _refused("the link's signature does not match")
    try:
        claims = orjson.loads(_unb64(body))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _refused("the link is not a tracking link of ours") from None
    short = "o" if kind == "open" else "c"
    if (
        not isinstance(claims, dict)
        or claims.get("v") != 1
        or claims.get("k") != short
        or not isinstance(claims.get("m"), str)
    ):
        raise _refused(f"the link is not {'an open' if kind == 'open' else 'a click'} link of ours")
    url = claims.get("u")
    if kind == "click" and not (isinstance(url, str) and trackable(url)):
        raise _refused("the link's destination is not a web address")
    return Tracked(kind, claims["m"], url if kind == "click" else None)


# -- rewriting an email's HTML -------------------------------------------------------------------

_HREF = re.compile(r"""(\bhref\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+)""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class _Links(HTMLParser):
    """Finds each `<a href>` start tag with its place in the source."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, int, str, str]] = []
        """(line, column, raw tag, href)."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        href = next((v for k, v in attrs if k == "href" and v is not None), None)
        raw = self.get_starttag_text()
        if href is not None and raw is not None and "data-notrack" not in dict(attrs):
            line, column = self.getpos()
            self.found.append((line, column, raw, href.strip()))


def _replace_href(tag: str, url: str) -> str:
    value = html.escape(url, quote=True)

    def swap(found: re.Match[str]) -> str:
        return f'{found.group(1)}"{value}"'

    return _HREF.sub(swap, tag, count=1)


def track_html(body: str, link: Callable[[str], str], pixel: str) -> str:
    """`body` with each web link's href replaced by `link(destination)` and the pixel at
    `pixel` before `</body>` (or at the end). Links marked `data-notrack`, mailto:, tel: and
    relative ones are left alone."""
    parser = _Links()
    parser.feed(body)
    parser.close()
    starts = [0]
    for text in body.splitlines(keepends=True):
        starts.append(starts[-1] + len(text))
    out: list[str] = []
    done = 0
    for line, column, raw, href in parser.found:
        at = starts[line - 1] + column
        if at < done or body[at : at + len(raw)] != raw or not trackable(href):
            continue
        new = _replace_href(raw, link(href))
        out.append(body[done:at])
        out.append(new)
        done = at + len(raw)
    out.append(body[done:])
    tracked = "".join(out)
    img = (
        f'<img src="{html.escape(pixel, quote=True)}" width="1" height="1" alt="" '
        'style="border:0;width:1px;height:1px">'
    )
    ends = list(_BODY_END.finditer(tracked))
    if ends:
        at = ends[-1].start()
        return tracked[:at] + img + tracked[at:]
    return tracked + img


def tracked_email(body: str, key: bytes, message_id: str, base_url: str) -> str:
    """An email's HTML with its links and pixel signed for `message_id`."""
    base = base_url.rstrip("/")
    return track_html(
        body,
        lambda url: f"{base}/t/c/{sign(key, 'click', message_id, url)}",
        f"{base}/t/o/{sign(key, 'open', message_id)}.gif",
    )


# -- recording -----------------------------------------------------------------------------------


class ReceiptPort(Protocol):
    def __call__(self, uow: UnitOfWork, update: DeliveryUpdate, ref: str | None) -> bool:
        """A delivery status for one of the gate's messages, in the caller's transaction."""


class Tracker:
    """Records the opens and clicks the public tracking routes see."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cipher: FieldCipher,
        key: bytes,
        receipt: ReceiptPort | None = None,
    ) -> None:
        self.uow = uow
        self.cipher = cipher
        self.key = key
        self.receipt = receipt

    def opened(self, token: str) -> bool:
        """Record the open a pixel token stands for; False when nothing was recorded (the
        message is gone). A token that does not verify is refused (`Forbidden`)."""
        return self._safely(verify(self.key, token, "open"))

    def clicked(self, token: str) -> str:
        """Record the click a link token stands for; where the link leads."""
        tracked = verify(self.key, token, "click")
        self._safely(tracked)
        assert tracked.url is not None
        return tracked.url

    def _safely(self, tracked: Tracked) -> bool:
        """Recording is best effort: the customer gets their pixel or their page whatever
        happens to the database."""
        try:
            return self._record(tracked)
        except Exception:
            log.exception("recording the %s of message %s failed", tracked.kind, tracked.message_id)
            return False

    def _record(self, tracked: Tracked) -> bool:
        with self.uow() as uow:
            sends = SqlSendRepository(uow.conn, self.cipher)
            message = sends.message(tracked.message_id)
            send = sends.get(message.send_ref, lock=True) if message is not None else None
            if message is None or send is None:
                return False
            now = uow.clock.now()
            if self.receipt is not None:
                self.receipt(
                    uow,
                    DeliveryUpdate(
                        message.channel, message.provider_message_id or message.id, "read", now
                    ),
                    message.id,
                )
            receipts = SqlReceiptRepository(uow.conn, self.cipher)
            events = SqlEventRepository(uow.conn, self.cipher)
            first_read = not receipts.has(message.id, "read")
            if first_read:
                receipts.add(message, send.send_id, "read", None, now)
            if tracked.kind == "open":
                if first_read:
                    receipts.add_timeline(
                        events.allocate_ids(1)[0], message, send, "Email Opened", None, now
                    )
            elif receipts.count(message.id, "clicked") < MAX_CLICKS:
                assert tracked.url is not None
                receipt_id = receipts.add(message, send.send_id, "clicked", tracked.url, now)
                receipts.add_timeline(
                    events.allocate_ids(1)[0],
                    message,
                    send,
                    "Email Link Clicked",
                    tracked.url,
                    now,
                    receipt_id=receipt_id,
                )
            uow.commit()
        return True


class ReceiptsPrivacy:
    """Tracking's answers to privacy: a customer's opens and clicks go with them (the timeline
    entries go with the events)."""

    DOMAIN = "maestro_tracking"

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def _repo(self, uow: UnitOfWork) -> SqlReceiptRepository:
        return SqlReceiptRepository(uow.conn, self.cipher)

    def export_subject(self, query: ExportSubject, uow: UnitOfWork) -> ExportSection:
        return ExportSection(self.DOMAIN, self._repo(uow).customer_rows(query.subject.profile_ids))

    def erase_subject(self, query: EraseSubject, uow: UnitOfWork) -> ErasureReport:
        return ErasureReport(self.DOMAIN, self._repo(uow).erase_customer(query.subject.profile_ids))

    def register(self, bus: MessageBus) -> None:
        bus.answer(ExportSubject, self.export_subject)
        bus.answer(EraseSubject, self.erase_subject)

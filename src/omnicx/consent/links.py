"""Signed links a customer follows without signing in: one-click unsubscribe (RFC 8058), the
preference centre and the double opt-in confirmation.

    base64url(JSON {"v": 1, "k": kind, "s": subject, "p": purpose?, "c": channel?, "e": expiry?})
    + "." + base64url(HMAC-SHA256(key, that first part))

    kind  subject            what the link does
    u     the customer id    unsubscribes `p` (said on channel `c`); never expires
    p     the customer id    opens the preference centre until `e`
    c     a confirmation id  confirms a double opt-in until `e`

The key is derived from the index key, so every server of one installation accepts the links
of the others, and nobody without it can forge one. A token is only a pointer: the customer or
confirmation it names is still looked up on use.
"""

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import orjson

from omnicx.kernel import Forbidden, Gone

LinkKind = Literal["u", "p", "c"]
MAX_TOKEN = 600

UNSUBSCRIBE_PATH = "/u/"
PREFERENCES_PATH = "/preferences/"
CONFIRM_PATH = "/consent/confirm/"


def consent_key(index_key: bytes) -> bytes:
    return hmac.new(index_key, b"omnicx consent link v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class LinkClaims:
    kind: LinkKind
    subject: str
    purpose: str | None = None
    channel: str | None = None
    expires_at: datetime | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def sign(key: bytes, claims: LinkClaims) -> str:
    data: dict[str, Any] = {"v": 1, "k": claims.kind, "s": claims.subject}
    if claims.purpose is not None:
        data["p"] = claims.purpose
    if claims.channel is not None:
        data["c"] = claims.channel
    if claims.expires_at is not None:
        data["e"] = int(claims.expires_at.timestamp())
    body = _b64(orjson.dumps(data))
    return f"{body}.{_mac(key, body)}"


def _refused(message: str) -> Forbidden:
    return Forbidden("invalid_link", message, "token")


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64


def verify(key: bytes, token: str, kind: LinkKind, now: datetime) -> LinkClaims:
    """The claims of a link of `kind`; a forged, altered or foreign token is refused (403),
    an expired one is gone (410)."""
    if len(token) > MAX_TOKEN:
        raise _refused("the link is not one of ours")
    body, sep, signature = token.partition(".")
    if not sep or not body or not signature:
        raise _refused("the link is not one of ours")
    if not hmac.compare_digest(
        _mac(key, body).encode(), signature.encode("utf-8", "surrogatepass")
    ):
        raise _refused("the link's signature does not match")
    try:
        data = orjson.loads(_unb64(body))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _refused("the link is not one of ours") from None
    if not isinstance(data, dict) or data.get("v") != 1 or data.get("k") != kind:
        raise _refused("the link is not one of this kind")
    if not _text(data.get("s")) or any(k in data and not _text(data[k]) for k in ("p", "c")):
        raise _refused("the link is not one of ours")
    expiry = data.get("e")
    expires_at = None
    if expiry is not None:
        if not isinstance(expiry, int):
            raise _refused("the link is not one of ours")
        expires_at = datetime.fromtimestamp(expiry, UTC)
        if expires_at <= now:
            raise Gone("link_expired", "this link has expired", "token")
    return LinkClaims(kind, data["s"], data.get("p"), data.get("c"), expires_at)


def _url(base_url: str, path: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{path}{token}"


def unsubscribe_token(key: bytes, customer_id: str, purpose: str, channel: str) -> str:
    return sign(key, LinkClaims("u", customer_id, purpose, channel))


def unsubscribe_url(base_url: str, key: bytes, customer_id: str, purpose: str, channel: str) -> str:
    return _url(base_url, UNSUBSCRIBE_PATH, unsubscribe_token(key, customer_id, purpose, channel))


def preferences_url(base_url: str, key: bytes, customer_id: str, expires_at: datetime) -> str:
    return _url(
        base_url, PREFERENCES_PATH, sign(key, LinkClaims("p", customer_id, expires_at=expires_at))
    )


def confirmation_url(base_url: str, key: bytes, confirmation_id: str, expires_at: datetime) -> str:
    return _url(
        base_url, CONFIRM_PATH, sign(key, LinkClaims("c", confirmation_id, expires_at=expires_at))
    )


def unsubscribe_headers(
    customer_id: str,
    purpose: str,
    channel: str,
    base_url: str,
    key: bytes,
    mailto: str | None = None,
) -> dict[str, str]:
    """RFC 2369 and RFC 8058 headers of a bulk email: a one-click HTTPS link (a POST with
    `List-Unsubscribe=One-Click` unsubscribes at once) and, with `mailto`, an address whose
    subject carries the same token."""
    token = unsubscribe_token(key, customer_id, purpose, channel)
    links = [f"<{_url(base_url, UNSUBSCRIBE_PATH, token)}>"]
    if mailto:
        links.append(f"<mailto:{mailto}?subject={quote('unsubscribe ' + token)}>")
    return {
        "List-Unsubscribe": ", ".join(links),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def csrf_token(key: bytes, token: str) -> str:
    """The preference centre form's anti-forgery field, bound to the page's link."""
    return _mac(key, f"csrf:{token}")


def check_csrf(key: bytes, token: str, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(
        csrf_token(key, token).encode(), sent.encode("utf-8", "surrogatepass")
    ):
        raise Forbidden("invalid_csrf", "the form was not sent from this page", "csrf")

"""QR codes for offline media, pure: checking a code's definition, the landing URL, signed
visitor ids, and the images (segno).

A code is printed on a poster, a receipt or a package as `<public URL>/q/<code>`. A scan
redirects (302) to the retailer's page with utm parameters that name the campaign, so the
site's own analytics see the visit too:

    utm_source=qr  utm_medium=<medium>  utm_campaign=<campaign>  utm_content=<code>

(parameters already in the target URL are kept as they are). A receipt printed for a known
customer can carry `uid`: the customer's id signed by omnicx,

    base64url(customer id) + "." + base64url(the first 12 bytes of HMAC-SHA256(key, it))

with the key derived from the index key, so the scan lands on that customer's timeline; a
`uid` that does not verify is ignored (the scan then counts as anonymous).
"""

import base64
import binascii
import hashlib
import hmac
import io
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import segno

from omnicx.kernel import Invalid

MEDIA = ("poster", "receipt", "packaging", "other")
MAX_URL = 2048
CODE = re.compile(r"^[a-z0-9]{10}$")
STORE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SCANNED = "QR Code Scanned"
"""The timeline event of a scan by a known visitor (channel `qr`)."""
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
"""Lower-case letters and digits, without the look-alikes l, o, 0 and 1."""


@dataclass(frozen=True)
class QrDefinition:
    name: str
    campaign: str
    target_url: str
    medium: str
    store_id: str | None = None


def new_code() -> str:
    """Ten random characters (50 bits): short enough for a small code, not guessable."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


def _text(value: str, name: str, limit: int) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > limit:
        raise Invalid(f"invalid_{name}", f"{name} is 1 to {limit} characters", name)
    return cleaned


def check_target(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it."""
    url = url.strip()
    if len(url) > MAX_URL or not url.isprintable() or any(c in url for c in " \\"):
        raise Invalid("invalid_target_url", "target_url must be an http(s) URL", "target_url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise Invalid(
            "invalid_target_url",
            "target_url must be an absolute http(s) URL without credentials",
            "target_url",
        )
    return url


def check_definition(
    name: str, campaign: str, target_url: str, medium: str, store_id: str | None
) -> QrDefinition:
    if medium not in MEDIA:
        raise Invalid("invalid_medium", f"medium must be one of {', '.join(MEDIA)}", "medium")
    if store_id is not None and not STORE.match(store_id):
        raise Invalid("invalid_store", "store is a location code", "store")
    return QrDefinition(
        name=_text(name, "name", 200),
        campaign=_text(campaign, "campaign", 100),
        target_url=check_target(target_url),
        medium=medium,
        store_id=store_id,
    )


def landing_url(target_url: str, code: str, medium: str, campaign: str) -> str:
    """Where a scan goes: the target with the utm parameters it does not set itself."""
    parts = urlsplit(target_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    extra = [
        (key, value)
        for key, value in (
            ("utm_source", "qr"),
            ("utm_medium", medium),
            ("utm_campaign", campaign),
            ("utm_content", code),
        )
        if key not in present
    ]
    combined = parts.query + ("&" if parts.query and extra else "") + urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, combined, parts.fragment))


def scan_url(base_url: str, code: str, uid: str | None = None) -> str:
    """What the printed code holds."""
    url = f"{base_url.rstrip('/')}/q/{code}"
    return f"{url}?{urlencode({'uid': uid})}" if uid else url


# -- signed visitor ids ------------------------------------------------------------------------


def uid_key(index_key: bytes) -> bytes:
    return hmac.new(index_key, b"omnicx qr visitor v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:12])


def sign_uid(key: bytes, customer_id: str) -> str:
    body = _b64(customer_id.encode())
    return f"{body}.{_mac(key, body)}"


def verify_uid(key: bytes, token: str) -> str | None:
    """The customer id a `uid` stands for, or None when it is not one of ours."""
    if len(token) > 200:
        return None
    body, sep, mac = token.partition(".")
    if not sep or not body or not body.isascii() or not mac.isascii():
        return None
    if not hmac.compare_digest(_mac(key, body).encode(), mac.encode()):
        return None
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode() or None
    except (binascii.Error, UnicodeDecodeError):
        return None


def cookie_anonymous_id(value: str | None) -> str | None:
    """The analytics.js anonymous id held in the `ajs_anonymous_id` cookie (URL-encoded, and
    JSON-quoted by analytics.js)."""
    if not value:
        return None
    text = unquote(value).strip()
    if text.startswith('"'):
        try:
            loaded = json.loads(text)
        except ValueError:
            return None
        text = loaded if isinstance(loaded, str) else ""
    text = text.strip()
    return text if 0 < len(text) <= 320 and text.isprintable() else None


# -- images ------------------------------------------------------------------------------------


def png(url: str, *, scale: int = 8, border: int = 4) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def svg(url: str, *, scale: int = 8, border: int = 4) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        out, kind="svg", scale=scale, border=border, xmldecl=False
    )
    return out.getvalue()

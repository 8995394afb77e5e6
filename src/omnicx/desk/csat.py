"""CSAT links: the token in `/csat/{token}` that lets a customer rate a conversation without
signing in.

    base64url(JSON {"v": 1, "s": survey id, "e": expiry unix seconds})
    + "." + base64url(HMAC-SHA256(key, that first part))

The key is derived from the index key, so every server of one installation accepts the links
of the others and nobody without the key can forge one for another survey. The survey row is
still checked on use (answered, expired, erased), so a token is only ever a pointer.
"""

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

import orjson

from omnicx.kernel import Gone, Invalid

MAX_TOKEN = 400


def csat_key(index_key: bytes) -> bytes:
    return hmac.new(index_key, b"omnicx csat link v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, survey_id: str, expires_at: datetime) -> str:
    body = _b64(orjson.dumps({"v": 1, "s": survey_id, "e": int(expires_at.timestamp())}))
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def _refused(message: str) -> Invalid:
    return Invalid("invalid_csat_token", message, "token")


def verify(key: bytes, token: str, now: datetime) -> str:
    """The survey id a token stands for; a forged or malformed token is refused (400), an
    expired one is gone (410)."""
    if len(token) > MAX_TOKEN:
        raise _refused("the link is not a CSAT link of ours")
    body, sep, signature = token.partition(".")
    if not sep or not body or not signature:
        raise _refused("the link is not a CSAT link of ours")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass")):
        raise _refused("the link's signature does not match")
    try:
        claims = orjson.loads(_unb64(body))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _refused("the link is not a CSAT link of ours") from None
    if (
        not isinstance(claims, dict)
        or claims.get("v") != 1
        or not isinstance(claims.get("s"), str)
        or not isinstance(claims.get("e"), int)
    ):
        raise _refused("the link is not a CSAT link of ours")
    if datetime.fromtimestamp(claims["e"], UTC) <= now:
        raise Gone("csat_expired", "this rating link has expired", "token")
    return str(claims["s"])

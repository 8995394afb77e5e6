"""Chat tokens: what a web-chat visitor shows on every call after starting a session.

A token binds the site's source and the visitor's anonymousId until it expires:

    base64url(JSON {"v": 1, "s": source id, "a": anonymousId, "e": expiry unix seconds})
    + "." + base64url(HMAC-SHA256(key, that first part))

The key is derived from the index key, so every server of one installation accepts the
tokens of the others and nobody without the key can mint one for another visitor.
"""

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from omnicx.kernel import Invalid

MAX_ANONYMOUS_ID = 200


class TokenRefused(Exception):
    """A chat token that is malformed, forged, expired or for another site."""


@dataclass(frozen=True)
class ChatVisitor:
    source_id: str
    anonymous_id: str
    expires_at: datetime


def chat_key(index_key: bytes) -> bytes:
    return hmac.new(index_key, b"omnicx web chat token v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_anonymous_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(
            "invalid_anonymous_id", "anonymousId must be a non-empty string", "anonymousId"
        )
    value = value.strip()
    if len(value) > MAX_ANONYMOUS_ID or not value.isprintable():
        raise Invalid(
            "invalid_anonymous_id",
            f"anonymousId must be at most {MAX_ANONYMOUS_ID} printable characters",
            "anonymousId",
        )
    return value


def issue(key: bytes, source_id: str, anonymous_id: str, now: datetime, ttl: timedelta) -> str:
    expires = int((now + ttl).timestamp())
    body = _b64(orjson.dumps({"v": 1, "s": source_id, "a": anonymous_id, "e": expires}))
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def verify(key: bytes, token: str, source_id: str, now: datetime) -> ChatVisitor:
    body, sep, signature = token.partition(".")
    if not sep or not body or not signature:
        raise TokenRefused("the chat token is malformed")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass")):
        raise TokenRefused("the chat token's signature does not match")
    try:
        claims = orjson.loads(_unb64(body))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise TokenRefused("the chat token is malformed") from None
    if not isinstance(claims, dict) or claims.get("v") != 1:
        raise TokenRefused("the chat token is of an unknown version")
    if claims.get("s") != source_id:
        raise TokenRefused("the chat token was issued for another site")
    expires = datetime.fromtimestamp(int(claims["e"]), UTC)
    if now >= expires:
        raise TokenRefused("the chat token has expired: start a new chat session")
    return ChatVisitor(source_id, str(claims["a"]), expires)

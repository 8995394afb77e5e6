"""Web push (RFC 8030) with VAPID (RFC 8292) through pywebpush: the payload is encrypted for
the browser's keys (RFC 8291, `aes128gcm`) and posted to the push service's endpoint.

A subscription is what the browser's `PushManager.subscribe()` returned: an endpoint on the
browser's push service and the keys the payload is encrypted for. Endpoints are accepted only
on the push services listed in `OMNICX_WEBPUSH_ENDPOINT_HOSTS` (omnicx posts to them, so an
arbitrary URL is refused).

    push service answer             outcome
    201, 202                        sent
    404, 410                        gone: the browser unsubscribed; the registration goes
    429, 5xx, network error         retry
    any other 4xx (400, 403, 413)   refused: a bad key or payload that retrying cannot fix
"""

import base64
import binascii
import ipaddress
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid  # type: ignore[import-untyped]
from pywebpush import WebPushException, webpush  # type: ignore[import-untyped]

from omnicx.channels.push import Delivery, DeviceKind, PushPayload
from omnicx.kernel import Invalid

log = logging.getLogger("omnicx.channels")

MAX_ENDPOINT = 2048
LOOPBACK = ("localhost",)


def load_vapid(private_key: str) -> Any:
    """A VAPID signer from the raw key (base64url, 32 bytes), DER (base64url) or PEM."""
    text = private_key.strip()
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
            return Vapid(key)
        return Vapid.from_string(text)
    except (ValueError, TypeError, binascii.Error) as error:
        raise ValueError(f"OMNICX_WEBPUSH_VAPID_PRIVATE_KEY is not a P-256 key: {error}") from None


def public_key(vapid: Any) -> str:
    """The VAPID public key as browsers take it (`applicationServerKey`): the uncompressed
    point, base64url without padding."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _allowed(host: str, hosts: Sequence[str]) -> bool:
    for pattern in hosts:
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


def _key(raw: Any, name: str, size: int) -> str:
    where = f"subscription.keys.{name}"
    if not isinstance(raw, str) or not raw:
        raise Invalid("invalid_subscription", f"{where} must be a base64url string", where)
    try:
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("invalid_subscription", f"{where} is not base64url", where) from None
    if len(decoded) != size or (name == "p256dh" and decoded[0] != 4):
        raise Invalid(
            "invalid_subscription",
            f"{where} must be {'an uncompressed P-256 point' if size == 65 else '16 bytes'}",
            where,
        )
    return raw.rstrip("=")


def check_subscription(raw: Any, hosts: Sequence[str]) -> dict[str, Any]:
    """A browser's `PushSubscription` (its JSON), checked; Invalid names what is wrong."""
    if not isinstance(raw, dict):
        raise Invalid("invalid_subscription", "subscription must be an object", "subscription")
    endpoint = raw.get("endpoint")
    where = "subscription.endpoint"
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise Invalid(
            "invalid_subscription", f"{where} must be a URL of at most {MAX_ENDPOINT}", where
        )
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise Invalid("invalid_subscription", f"{where} must be an https URL", where)
    if not _allowed(host, hosts):
        raise Invalid(
            "unknown_push_service",
            f"{where}: {host} is not a known push service (OMNICX_WEBPUSH_ENDPOINT_HOSTS)",
            where,
        )
    if parts.scheme != "https" and not _loopback(host):
        raise Invalid("invalid_subscription", f"{where} must be an https URL", where)
    keys = raw.get("keys")
    if not isinstance(keys, dict):
        raise Invalid("invalid_subscription", "subscription.keys must be an object", "keys")
    return {
        "endpoint": endpoint,
        "keys": {
            "p256dh": _key(keys.get("p256dh"), "p256dh", 65),
            "auth": _key(keys.get("auth"), "auth", 16),
        },
    }


class WebPushSender:
    """Web push to one browser; the VAPID key signs a fresh claim set for every push."""

    kind: DeviceKind = "webpush"

    def __init__(self, vapid: Any, subject: str, *, ttl: int, timeout: float) -> None:
        self.vapid = vapid
        self.subject = subject
        self.ttl = ttl
        self.timeout = timeout
        self.session = requests.Session()

    def deliver(self, target: Mapping[str, Any], payload: PushPayload) -> Delivery:
        data = orjson.dumps({"title": payload.title, "body": payload.body, **payload.data}).decode()
        try:
            webpush(
                subscription_info=dict(target),
                data=data,
                vapid_private_key=self.vapid,
                vapid_claims={"sub": self.subject},
                ttl=self.ttl,
                timeout=self.timeout,
                headers={"Urgency": "normal"},
                requests_session=self.session,
            )
        except WebPushException as error:
            response = error.response
            status = response.status_code if response is not None else 0
            detail = f"the push service answered {status}" if status else str(error)
            if status in (404, 410):
                return Delivery("gone", detail)
            if status == 0 or status == 429 or status >= 500:
                return Delivery("retry", detail)
            return Delivery("refused", detail)
        except requests.RequestException as error:
            return Delivery("retry", f"the push service did not answer: {type(error).__name__}")
        return Delivery("sent")

    def close(self) -> None:
        self.session.close()

"""Web push against a local push service: the VAPID Authorization header verifies with our
public key for the endpoint's origin, the body is aes128gcm that only the browser's keys open,
and the push service's answers become outcomes."""

import json
import time
from typing import Any

import http_ece  # type: ignore[import-untyped]
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from omnicx.channels.push import PushPayload
from omnicx.channels.webpush import WebPushSender, check_subscription, load_vapid, public_key
from omnicx.kernel import Invalid
from tests.channels.push.conftest import (
    Browser,
    LocalServer,
    Vapid,
    answer,
    b64,
    unb64,
)

SUBJECT = "mailto:ops@shop.example"
PAYLOAD = PushPayload("Your order", "It shipped today", {"message_id": "m-1", "receipt": "r.s"})


def verify_vapid(header: str, vapid: Vapid, audience: str) -> dict[str, Any]:
    """The claims of a `vapid t=<jwt>, k=<key>` header, its ES256 signature checked."""
    scheme, _, params = header.partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == vapid.public
    head, claims, signature = fields["t"].split(".")
    raw = unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    vapid.key.public_key().verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(unb64(head)) == {"typ": "JWT", "alg": "ES256"}
    decoded: dict[str, Any] = json.loads(unb64(claims))
    assert decoded["aud"] == audience
    assert decoded["sub"] == SUBJECT
    assert time.time() < decoded["exp"] <= time.time() + 24 * 3600
    return decoded


def sender(vapid: Vapid) -> WebPushSender:
    return WebPushSender(load_vapid(vapid.private), SUBJECT, ttl=3600, timeout=5)


def test_a_push_is_signed_with_vapid_and_encrypted_for_the_browser(
    server: LocalServer, vapid: Vapid, browser: Browser
) -> None:
    server.routes[("POST", "/wpush/abc")] = answer(201, None, Location="/m/1")
    push = sender(vapid)
    try:
        outcome = push.deliver(browser.subscription(f"{server.url}/wpush/abc"), PAYLOAD)
    finally:
        push.close()

    assert outcome.outcome == "sent"
    (seen,) = server.seen
    verify_vapid(seen.headers["authorization"], vapid, server.url)
    assert seen.headers["content-encoding"] == "aes128gcm"
    assert seen.headers["ttl"] == "3600"
    assert seen.headers["urgency"] == "normal"
    plain = http_ece.decrypt(
        seen.body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
    )
    assert json.loads(plain) == {
        "title": "Your order",
        "body": "It shipped today",
        "message_id": "m-1",
        "receipt": "r.s",
    }


def test_a_forged_vapid_signature_would_not_verify(
    server: LocalServer, vapid: Vapid, browser: Browser
) -> None:
    server.routes[("POST", "/wpush/abc")] = answer(201)
    push = sender(vapid)
    try:
        push.deliver(browser.subscription(f"{server.url}/wpush/abc"), PAYLOAD)
    finally:
        push.close()
    header = server.seen[0].headers["authorization"]
    tampered = header.replace("t=", "t=x", 1)
    with pytest.raises((InvalidSignature, ValueError, KeyError)):
        verify_vapid(tampered, vapid, server.url)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (404, "gone"),
        (410, "gone"),
        (429, "retry"),
        (503, "retry"),
        (400, "refused"),
        (403, "refused"),
        (413, "refused"),
    ],
)
def test_push_service_answers_become_outcomes(
    server: LocalServer, vapid: Vapid, browser: Browser, status: int, outcome: str
) -> None:
    server.routes[("POST", "/wpush/abc")] = answer(status, {"reason": "test"})
    push = sender(vapid)
    try:
        delivery = push.deliver(browser.subscription(f"{server.url}/wpush/abc"), PAYLOAD)
    finally:
        push.close()
    assert delivery.outcome == outcome
    assert str(status) in delivery.detail


def test_an_unreachable_push_service_is_retried(vapid: Vapid, browser: Browser) -> None:
    push = sender(vapid)
    try:
        delivery = push.deliver(browser.subscription("http://127.0.0.1:9/wpush/x"), PAYLOAD)
    finally:
        push.close()
    assert delivery.outcome == "retry"


def test_vapid_keys_load_from_raw_der_and_pem(vapid: Vapid) -> None:
    from cryptography.hazmat.primitives import serialization

    der = vapid.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = vapid.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for text in (vapid.private, b64(der), pem):
        assert public_key(load_vapid(text)) == vapid.public
    with pytest.raises(ValueError, match="not a P-256 key"):
        load_vapid("bm90IGEga2V5")


HOSTS = ["fcm.googleapis.com", "*.notify.windows.com", "127.0.0.1"]


def test_a_subscription_is_checked(browser: Browser) -> None:
    good = browser.subscription("https://fcm.googleapis.com/fcm/send/abc")
    assert check_subscription(good, HOSTS) == good
    windows = browser.subscription("https://db5p.notify.windows.com/w/?token=x")
    assert check_subscription(windows, HOSTS)["endpoint"] == windows["endpoint"]
    loopback = browser.subscription("http://127.0.0.1:8080/push")
    assert check_subscription(loopback, HOSTS)["endpoint"] == "http://127.0.0.1:8080/push"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (
            {"endpoint": "https://evil.example/push"},
            "unknown_push_service",
            "subscription.endpoint",
        ),
        (
            {"endpoint": "http://fcm.googleapis.com/x"},
            "invalid_subscription",
            "subscription.endpoint",
        ),
        (
            {"endpoint": "ftp://fcm.googleapis.com/x"},
            "invalid_subscription",
            "subscription.endpoint",
        ),
        ({"endpoint": 7}, "invalid_subscription", "subscription.endpoint"),
        ({"keys": None}, "invalid_subscription", "keys"),
        (
            {"keys": {"p256dh": "AAAA", "auth": b64(b"0" * 16)}},
            "invalid_subscription",
            "subscription.keys.p256dh",
        ),
        (
            {"keys": {"p256dh": b64(b"\x04" + b"1" * 64), "auth": "!!"}},
            "invalid_subscription",
            "subscription.keys.auth",
        ),
    ],
)
def test_a_bad_subscription_names_what_is_wrong(
    browser: Browser, change: dict[str, Any], code: str, field: str
) -> None:
    raw = {**browser.subscription("https://fcm.googleapis.com/fcm/send/abc"), **change}
    with pytest.raises(Invalid) as caught:
        check_subscription(raw, HOSTS)
    assert (caught.value.code, caught.value.field) == (code, field)

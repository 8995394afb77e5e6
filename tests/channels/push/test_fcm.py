"""FCM HTTP v1 against a local server speaking its API: the service account's signed
assertion is exchanged for an access token (once, reused), messages:send carries it, and
FCM's errors become outcomes (UNREGISTERED: the token is gone)."""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from google.auth import jwt

from omnicx.channels.fcm import AccessTokens, FcmSender, check_device, load_service_account
from omnicx.channels.push import PushPayload
from omnicx.kernel import Invalid
from tests.channels.push.conftest import (
    CLIENT_EMAIL,
    PROJECT,
    Answer,
    LocalServer,
    Seen,
    ServiceAccount,
    answer,
)

SEND = f"/v1/projects/{PROJECT}/messages:send"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
PAYLOAD = PushPayload("Your order", "It shipped", {"message_id": "m-1", "receipt": "r.s"})


def token_endpoint(account: ServiceAccount, server: LocalServer) -> Any:
    issued: list[str] = []

    def exchange(seen: Seen) -> Answer:
        form = dict(parse_qsl(seen.body.decode()))
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        # Google's assertions name Google's token endpoint, wherever they are exchanged.
        claims = jwt.decode(  # type: ignore[no-untyped-call]
            form["assertion"], certs=account.public_pem, audience=GOOGLE_TOKEN
        )
        assert claims["iss"] == CLIENT_EMAIL
        assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        issued.append(f"ya29.test-{len(issued) + 1}")
        return answer(200, {"access_token": issued[-1], "expires_in": 3600, "token_type": "Bearer"})

    return exchange, issued


@pytest.fixture
def fcm(
    server: LocalServer, service_account: ServiceAccount
) -> Iterator[tuple[FcmSender, list[str]]]:
    exchange, issued = token_endpoint(service_account, server)
    server.routes[("POST", "/token")] = exchange
    info = load_service_account(json.dumps(service_account.info), f"{server.url}/token")
    tokens = AccessTokens(info, 5)
    client = httpx.Client(timeout=5)
    try:
        yield FcmSender(client, server.url, PROJECT, tokens), issued
    finally:
        tokens.close()
        client.close()


def fcm_error(status: int, name: str, code: str | None) -> Answer:
    details = (
        [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
        if code
        else []
    )
    return answer(
        status, {"error": {"code": status, "message": "test", "status": name, "details": details}}
    )


def test_a_message_goes_with_a_token_from_the_service_account(
    server: LocalServer, fcm: tuple[FcmSender, list[str]]
) -> None:
    sender, issued = fcm
    server.routes[("POST", SEND)] = answer(200, {"name": f"projects/{PROJECT}/messages/1"})

    assert sender.deliver({"token": "device-a"}, PAYLOAD).outcome == "sent"
    assert sender.deliver({"token": "device-b"}, PAYLOAD).outcome == "sent"

    assert issued == ["ya29.test-1"]
    first, second = server.on("POST", SEND)
    assert first.headers["authorization"] == "Bearer ya29.test-1"
    assert second.headers["authorization"] == "Bearer ya29.test-1"
    assert first.json() == {
        "message": {
            "token": "device-a",
            "notification": {"title": "Your order", "body": "It shipped"},
            "data": {"message_id": "m-1", "receipt": "r.s"},
            "android": {"priority": "high"},
            "apns": {"headers": {"apns-priority": "10"}},
        }
    }


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (fcm_error(404, "NOT_FOUND", "UNREGISTERED"), "gone"),
        (fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), "gone"),
        (fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), "retry"),
        (fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), "retry"),
        (fcm_error(500, "INTERNAL", "INTERNAL"), "retry"),
        (fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), "refused"),
        (answer(502, None), "retry"),
    ],
)
def test_fcm_errors_become_outcomes(
    server: LocalServer, fcm: tuple[FcmSender, list[str]], reply: Answer, outcome: str
) -> None:
    sender, _ = fcm
    server.routes[("POST", SEND)] = reply
    assert sender.deliver({"token": "device-a"}, PAYLOAD).outcome == outcome


def test_a_refused_access_token_is_exchanged_again_once(
    server: LocalServer, fcm: tuple[FcmSender, list[str]]
) -> None:
    sender, issued = fcm
    answers = iter([fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"), answer(200, {})])
    server.routes[("POST", SEND)] = lambda seen: next(answers)

    assert sender.deliver({"token": "device-a"}, PAYLOAD).outcome == "sent"
    assert issued == ["ya29.test-1", "ya29.test-2"]
    assert [s.headers["authorization"] for s in server.on("POST", SEND)] == [
        "Bearer ya29.test-1",
        "Bearer ya29.test-2",
    ]


def test_a_failed_token_exchange_is_retried_later(
    server: LocalServer, fcm: tuple[FcmSender, list[str]]
) -> None:
    sender, _ = fcm
    server.routes[("POST", "/token")] = answer(400, {"error": "invalid_grant"})
    delivery = sender.deliver({"token": "device-a"}, PAYLOAD)
    assert delivery.outcome == "retry"
    assert "signing in to FCM failed" in delivery.detail
    assert server.on("POST", SEND) == []


def test_the_service_account_is_checked(service_account: ServiceAccount) -> None:
    info = load_service_account(json.dumps(service_account.info), None)
    assert info["token_uri"] == "https://oauth2.googleapis.com/token"
    with pytest.raises(ValueError, match="not JSON"):
        load_service_account("{", None)
    with pytest.raises(ValueError, match="lacks private_key"):
        load_service_account(json.dumps({**service_account.info, "private_key": ""}), None)


def test_a_device_token_is_checked() -> None:
    assert check_device(" abc:123 ", "android") == ({"token": "abc:123"}, "android")
    assert check_device("abc", None) == ({"token": "abc"}, None)
    for token, platform, field in [
        ("", None, "token"),
        ("a b", None, "token"),
        (12, None, "token"),
        ("x" * 4097, None, "token"),
        ("abc", "symbian", "platform"),
    ]:
        with pytest.raises(Invalid) as caught:
            check_device(token, platform)
        assert caught.value.field == field

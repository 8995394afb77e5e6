"""Mobile push through Firebase Cloud Messaging's HTTP v1 API.

Signing in: the service account key signs a JWT assertion that google-auth exchanges at the
key's `token_uri` (or `OMNICX_FCM_TOKEN_URL`) for an OAuth 2 access token with the
`firebase.messaging` scope; the token is reused until shortly before it expires.

Sending: `POST {base}/v1/projects/{project}/messages:send` with `{"message": {"token",
"notification": {"title", "body"}, "data": {...}}}` per device.

    FCM answer                                       outcome
    200                                              sent
    404 UNREGISTERED, 403 SENDER_ID_MISMATCH         gone: the app was removed, or the token
                                                     is another project's; it is forgotten
    401 (an access token refused)                    signed in again, then one more try
    429 QUOTA_EXCEEDED, 5xx UNAVAILABLE / INTERNAL,  retry
    network error, token exchange failed
    400 INVALID_ARGUMENT and other 4xx               refused
"""

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import requests
from google.auth import exceptions as auth_errors
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from omnicx.channels.push import Delivery, DeviceKind, PushPayload
from omnicx.kernel import Invalid

log = logging.getLogger("omnicx.channels")

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
MAX_TOKEN = 4096
PLATFORMS = ("android", "ios", "web")
GONE = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})


def load_service_account(text: str, token_url: str | None) -> dict[str, Any]:
    """The service account key (its JSON), with `token_uri` replaced when one is set."""
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError("OMNICX_FCM_SERVICE_ACCOUNT is not JSON") from None
    if not isinstance(info, dict):
        raise ValueError("OMNICX_FCM_SERVICE_ACCOUNT must be a JSON object")
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if token_url:
        info["token_uri"] = token_url
        missing = [k for k in missing if k != "token_uri"]
    if missing:
        raise ValueError(f"OMNICX_FCM_SERVICE_ACCOUNT lacks {', '.join(missing)}")
    return info


def check_device(raw: Any, platform: Any) -> tuple[dict[str, Any], str | None]:
    """An app's FCM registration token and its platform, checked."""
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("invalid_token", "token must be the app's FCM registration token", "token")
    token = raw.strip()
    if len(token) > MAX_TOKEN or not token.isprintable() or " " in token:
        raise Invalid(
            "invalid_token", f"token must be at most {MAX_TOKEN} printable characters", "token"
        )
    if platform is not None and platform not in PLATFORMS:
        raise Invalid(
            "invalid_platform", f"platform must be one of {', '.join(PLATFORMS)}", "platform"
        )
    return {"token": token}, platform


class AccessTokens:
    """OAuth 2 access tokens for the service account, refreshed a minute before they end."""

    def __init__(self, info: Mapping[str, Any], timeout: float) -> None:
        self.credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            dict(info), scopes=[SCOPE]
        )
        self.session = requests.Session()
        self.timeout = timeout
        self._lock = threading.Lock()

    def token(self, *, fresh: bool = False) -> str:
        with self._lock:
            credentials = self.credentials
            expiry = credentials.expiry
            soon = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=60)
            if fresh or not credentials.token or expiry is None or expiry <= soon:
                credentials.refresh(_Timed(self.session, self.timeout))
            return str(credentials.token)

    def close(self) -> None:
        self.session.close()


class _Timed(Request):
    """google-auth's requests transport with our timeout instead of its two minutes."""

    def __init__(self, session: Any, timeout: float) -> None:
        super().__init__(session)
        self.timeout = timeout

    def __call__(
        self,
        url: Any,
        method: Any = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(  # type: ignore[no-untyped-call]
            url, method, body, headers, timeout=self.timeout, **kwargs
        )


class FcmSender:
    """FCM HTTP v1 to one app install."""

    kind: DeviceKind = "fcm"

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        project_id: str,
        tokens: AccessTokens,
    ) -> None:
        self.client = client
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self.tokens = tokens

    def message(self, token: str, payload: PushPayload) -> dict[str, Any]:
        return {
            "message": {
                "token": token,
                "notification": {"title": payload.title, "body": payload.body},
                "data": dict(payload.data),
                "android": {"priority": "high"},
                "apns": {"headers": {"apns-priority": "10"}},
            }
        }

    def deliver(self, target: Mapping[str, Any], payload: PushPayload) -> Delivery:
        body = self.message(str(target["token"]), payload)
        fresh = False
        for _ in range(2):
            try:
                access = self.tokens.token(fresh=fresh)
            except (auth_errors.GoogleAuthError, requests.RequestException) as error:
                return Delivery("retry", f"signing in to FCM failed: {error}")
            try:
                response = self.client.post(
                    self.url, json=body, headers={"Authorization": f"Bearer {access}"}
                )
            except httpx.HTTPError as error:
                return Delivery("retry", f"FCM did not answer: {type(error).__name__}")
            if response.status_code == 401 and not fresh:
                fresh = True
                continue
            return _outcome(response)
        return Delivery("retry", "FCM refused a fresh access token")

    def close(self) -> None:
        self.tokens.close()


def _outcome(response: httpx.Response) -> Delivery:
    if response.is_success:
        return Delivery("sent")
    status, code, message = _error(response)
    detail = f"FCM answered {response.status_code} {code or status}: {message}".strip()
    if code in GONE or status in GONE:
        return Delivery("gone", detail)
    if response.status_code in (401, 429) or response.status_code >= 500:
        return Delivery("retry", detail)
    return Delivery("refused", detail)


def _error(response: httpx.Response) -> tuple[str, str, str]:
    """(status, FCM error code, message) of an error answer."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", "", response.text[:200]
    code = ""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("errorCode"):
            code = str(detail["errorCode"])
    return str(error.get("status") or ""), code, str(error.get("message") or "")[:300]

"""A local HTTP server that speaks a provider's API (the push service, FCM and its token
endpoint, Viber), started by the test on 127.0.0.1; and the keys the providers' schemes need:
a VAPID key, a browser's subscription keys, a Firebase service account."""

import base64
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PUBLIC = "https://cx.shop.example"
VIBER_TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
PROJECT = "shop-app"
CLIENT_EMAIL = "omnicx@shop-app.iam.gserviceaccount.com"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, dict[str, str], bytes]
Handler = Callable[[Seen], Answer]


def answer(status: int, body: Any = None, **headers: str) -> Answer:
    raw = b"" if body is None else json.dumps(body).encode()
    kind = {"Content-Type": "application/json"} if body is not None else {}
    return status, {**kind, **headers}, raw


@dataclass
class LocalServer:
    """Answers `routes[(method, path)]`; anything else is a 404. Keeps every request."""

    routes: dict[tuple[str, str], Handler | Answer] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Assertions that failed inside a route (answered 500); a test checks it is empty."""
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, request: Seen) -> Answer:
        self.seen.append(request)
        route = self.routes.get((request.method, request.path))
        if route is None:
            return answer(404, {"error": "no such route"})
        if not callable(route):
            return route
        try:
            return route(request)
        except Exception as error:  # reported to the test, which asserts none happened
            self.errors.append(f"{type(error).__name__}: {error}")
            return answer(500, {"error": str(error)})

    def on(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(
                self.command,
                self.path.split("?")[0],
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            status, headers, raw = local.handle(seen)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    local.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield local
        assert local.errors == []
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# -- keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vapid:
    private: str
    """The raw private key, base64url (the setting)."""
    public: str
    key: ec.EllipticCurvePrivateKey


@pytest.fixture(scope="session")
def vapid() -> Vapid:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return Vapid(b64(raw), b64(point), key)


@dataclass(frozen=True)
class Browser:
    """A browser's side of a push subscription: the keys it decrypts with."""

    key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription(self, endpoint: str) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": endpoint, "keys": {"p256dh": b64(point), "auth": b64(self.auth)}}


@pytest.fixture
def browser() -> Browser:
    return Browser(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))


@dataclass(frozen=True)
class ServiceAccount:
    info: dict[str, Any]
    public_pem: str


@pytest.fixture(scope="session")
def service_account() -> ServiceAccount:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return ServiceAccount(info, public.decode())


# -- the app, wired to the local server ---------------------------------------------------------


def channel_settings(
    server: LocalServer, vapid: Vapid, account: ServiceAccount, **extra: Any
) -> dict[str, Any]:
    return {
        "public_base_url": PUBLIC,
        "webpush_vapid_private_key": vapid.private,
        "webpush_vapid_subject": "mailto:ops@shop.example",
        "webpush_endpoint_hosts": "127.0.0.1",
        "fcm_service_account": json.dumps(account.info),
        "fcm_token_url": f"{server.url}/token",
        "fcm_api_base_url": server.url,
        "viber_auth_token": VIBER_TOKEN,
        "viber_api_base_url": server.url,
        "inapp_enabled": True,
        "push_title": "Shop",
        **extra,
    }


@pytest.fixture
def settings(
    make_settings: Callable[..., Any],
    server: LocalServer,
    vapid: Vapid,
    service_account: ServiceAccount,
) -> Any:
    return make_settings(**channel_settings(server, vapid, service_account))


def token_exchange(server: LocalServer) -> None:
    """The OAuth token endpoint: any assertion gets an access token (test_fcm checks them)."""
    server.routes[("POST", "/token")] = answer(
        200, {"access_token": "ya29.app", "expires_in": 3600, "token_type": "Bearer"}
    )


def visitor(client: Any, write_auth: dict[str, str], anonymous_id: str) -> dict[str, str]:
    """The headers of a web visitor's chat session."""
    response = client.post("/chat/sessions", json={"anonymousId": anonymous_id}, headers=write_auth)
    assert response.status_code == 200, response.text
    return {**write_auth, "X-Chat-Token": response.json()["token"]}


def app_token(client: Any, admin: dict[str, str], user_id: str) -> dict[str, str]:
    response = client.post("/api/app-tokens", json={"userId": user_id}, headers=admin)
    assert response.status_code == 201, response.text
    return {"X-App-Token": response.json()["token"]}


def timeline(client: Any, admin: dict[str, str], customer_id: str) -> list[tuple[str, str, str]]:
    """(event, channel, status) of the customer's receipt events, oldest first."""
    response = client.get(
        f"/api/customers/{customer_id}/timeline", params={"order": "asc"}, headers=admin
    )
    assert response.status_code == 200, response.text
    return [
        (item["event"], item["channel"], item["properties"]["status"])
        for item in response.json()["items"]
        if item["source_id"] == "receipts"
    ]

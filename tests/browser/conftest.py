"""Browser tests of the web console: a live omnicx server driven by Debian's Chromium.

Each test module gets its own server (`live`): uvicorn on a thread serving the real app, its
worker a thread beside it, on a SQLite file in a temporary folder, with an inbound SMTP
listener, outbound email through a local relay (`mail_relay`) and SMS through a local fake of
Twilio's Messages API (`twilio_api`). A module changes settings by overriding the
`live_overrides` fixture. `browser` (per module) and `page` (per test) drive Chromium through
Playwright; without /usr/bin/chromium they skip, and under CI=true they fail.

While Playwright runs, the main thread has an event loop marked running: talk to the server
over HTTP or call `live.services` directly, never `asyncio.run`.
"""

import json
import os
import re
import smtplib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from omnicx.access import Argon2PasswordHasher, create_user
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IN_CI = os.environ.get("CI", "").lower() == "true"
HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parents[1] / "test-artifacts" / "screenshots"

PASSWORD = "correct horse battery staple 42"
MAILBOX = "support@shop.example"
EMAIL_DOMAIN = "mail.shop.example"
TWILIO_SID = "AC" + "7" * 32
TWILIO_TOKEN = "browser-twilio-token-5e1a"
SHOP_NUMBER = "+5511930001000"
TWILIO_SMS_PATH = "/webhooks/twilio/sms"
WAIT_SECONDS = 10.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser carries the `browser` marker."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keeps each phase's report on the item, so `page` can tell that its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(what: str, ready: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


# -- outbound email: a local SMTP relay ---------------------------------------------------


@dataclass(frozen=True)
class RelayedMail:
    """One message the relay accepted: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class MailRelay:
    """The outbound SMTP relay of the live server; keeps every message it is handed."""

    host: str
    port: int
    received: list[RelayedMail] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content
        assert isinstance(raw, bytes)
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        self.received.append(RelayedMail(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def wait_for(self, count: int = 1, timeout: float = WAIT_SECONDS) -> list[RelayedMail]:
        """The messages received once there are at least `count` (the worker sends them)."""
        _wait(f"{count} relayed email(s)", lambda: len(self.received) >= count, timeout)
        return list(self.received)


@pytest.fixture(scope="module")
def mail_relay() -> Iterator[MailRelay]:
    relay = MailRelay("127.0.0.1", free_port())
    controller = Controller(relay, hostname=relay.host, port=relay.port)
    controller.start()
    try:
        yield relay
    finally:
        controller.stop()


# -- outbound SMS: a local fake of Twilio's Messages API ----------------------------------


@dataclass(frozen=True)
class SentSms:
    """One message posted to the fake Messages API."""

    account_sid: str
    to: str
    sender: str | None
    body: str
    sid: str


class TwilioApi:
    """An HTTP server on loopback answering Twilio's Messages API: a POST is accepted
    (`queued`) and kept in `sent`; the list of messages is always empty."""

    def __init__(self) -> None:
        self.sent: list[SentSms] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-twilio", daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self
        pattern = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json")

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                found = pattern.match(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                if found is None:
                    self._answer(404, {"message": "no such resource"})
                    return
                sid = "SM" + uuid.uuid4().hex
                api.sent.append(
                    SentSms(found.group(1), form["To"], form.get("From"), form["Body"], sid)
                )
                self._answer(201, {"sid": sid, "status": "queued"})

            def do_GET(self) -> None:
                if pattern.match(self.path) is None:
                    self._answer(404, {"message": "no such resource"})
                    return
                self._answer(200, {"messages": [], "next_page_uri": None})

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT_SECONDS)

    def wait_for(self, count: int = 1, timeout: float = WAIT_SECONDS) -> list[SentSms]:
        """The messages posted once there are at least `count` (the worker sends them)."""
        _wait(f"{count} SMS sent to the fake Twilio", lambda: len(self.sent) >= count, timeout)
        return list(self.sent)


@pytest.fixture(scope="module")
def twilio_api() -> Iterator[TwilioApi]:
    api = TwilioApi()
    api.start()
    try:
        yield api
    finally:
        api.stop()


# -- the live server ----------------------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    """A running omnicx: `url` (no trailing slash), its services and settings, and the port
    of its inbound SMTP listener."""

    url: str
    services: Services
    settings: Settings
    smtp_port: int

    def url_for(self, path: str) -> str:
        return self.url + path


@pytest.fixture(scope="module")
def live_overrides() -> dict[str, Any]:
    """Settings a test module changes on its live server; override it in the module."""
    return {}


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    mail_relay: MailRelay,
    twilio_api: TwilioApi,
    live_overrides: dict[str, Any],
) -> Iterator[LiveServer]:
    """omnicx serving on a free loopback port until the module's tests are done."""
    data_dir = tmp_path_factory.mktemp("live")
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listening.getsockname()[1]}"
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'omnicx.db'}",
        "run_worker": True,
        "worker_mode": "thread",
        "public_base_url": url,
        "rate_limit_login_address": "1000/minute",
        "rate_limit_login_email": "1000/minute",
        "smtp_host": "127.0.0.1",
        "smtp_port": 0,
        "email_domain": EMAIL_DOMAIN,
        "email_addresses": MAILBOX,
        "smtp_relay_host": mail_relay.host,
        "smtp_relay_port": mail_relay.port,
        "smtp_relay_security": "none",
        "smtp_relay_timeout_seconds": 5,
        "twilio_accounts": {
            "main": {
                "account_sid": TWILIO_SID,
                "auth_token": TWILIO_TOKEN,
                "numbers": [SHOP_NUMBER],
            }
        },
        "twilio_api_base_url": twilio_api.url,
        **live_overrides,
    }
    try:
        settings = Settings(**values)
    except Exception:
        listening.close()
        raise
    services = build(settings)
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    upgrade(services.engines)
    app = app_for(services, run_worker=True, run_smtp=True)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        loop="asyncio",
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listening]}, name="live-uvicorn", daemon=True
    )
    thread.start()
    try:
        _wait("the live server to start", lambda: server.started or not thread.is_alive())
        assert server.started, "the live server did not start (see the log above)"
        yield LiveServer(url, services, settings, app.state.smtp.port)
    finally:
        server.should_exit = True
        thread.join(WAIT_SECONDS + 5)
        listening.close()
        services.close()
    assert not thread.is_alive(), "the live server did not stop"


def add_staff(
    live: LiveServer,
    role: str,
    *,
    email: str | None = None,
    name: str | None = None,
    language: str = "en",
    password: str = PASSWORD,
) -> str:
    """A new staff user of `role` on the live server; returns the email to sign in with."""
    email = email or f"{role.replace('_', '.')}.{uuid.uuid4().hex[:8]}@shop.example"
    services = live.services
    with services.uow() as uow:
        create_user(
            services.users(uow),
            services.passwords,
            email=email,
            name=name or f"{role.replace('_', ' ').title()} Person",
            role=role,
            language=language,
            now=uow.clock.now(),
            password=password,
        )
        uow.commit()
    return email


def post_twilio_sms(
    live: LiveServer,
    *,
    sender: str,
    text: str,
    to: str = SHOP_NUMBER,
    sid: str | None = None,
    token: str = TWILIO_TOKEN,
) -> httpx.Response:
    """Posts an inbound SMS to the live server as Twilio would, signed with `token`."""
    values = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": TWILIO_SID,
        "From": sender,
        "To": to,
        "Body": text,
        "NumMedia": "0",
    }
    signature = RequestValidator(token).compute_signature(live.url_for(TWILIO_SMS_PATH), values)
    return httpx.post(
        live.url_for(TWILIO_SMS_PATH),
        content=urlencode(values),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        timeout=WAIT_SECONDS,
    )


def send_email(
    live: LiveServer,
    *,
    sender: str,
    subject: str,
    text: str,
    to: str = MAILBOX,
    message_id: str | None = None,
) -> str:
    """Mails the live server's inbound SMTP listener; returns the Message-ID sent."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@customer.example>"
    message.set_content(text)
    with smtplib.SMTP("127.0.0.1", live.smtp_port, timeout=WAIT_SECONDS) as client:
        client.send_message(message)
    return str(message["Message-ID"])


# -- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium; Playwright never downloads a browser of its own."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true needs Chromium for the browser tests: {reason}")
        pytest.skip(reason)
    driver: Playwright = sync_playwright().start()
    try:
        launched = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        driver.stop()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Generator[Page, None, None]:
    """A page in a fresh browser context (no cookies); a failed test leaves a screenshot
    `failed-<test>.png`."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_SECONDS * 1000)
    opened = context.new_page()
    try:
        yield opened
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            screenshot(opened, f"failed-{request.node.name}")
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Saves the whole page as test-artifacts/screenshots/<name>.png; returns the path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.removesuffix(".png"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{safe}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, live: LiveServer, email: str, password: str = PASSWORD) -> None:
    """Signs `page` in through the sign-in form and waits to leave /login."""
    page.goto(live.url_for("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.split("?")[0].endswith("/login"))

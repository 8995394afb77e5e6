"""The gate's SMS through the real Twilio adapter against a local HTTP server speaking
Twilio's Messages API: failover to a second provider, the look-up that settles an
interrupted send, and signed status callbacks carrying our reference.

`FakeTwilio` is also what the worker-kill test sends through."""

import base64
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.channels.providers import http_client
from omnicx.channels.twilio import TwilioSms
from omnicx.config import Settings
from omnicx.conversations import OutboundMessage
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock
from tests.orchestration.test_sending import FakeRules, add_customer, intent

SID = "AC" + "3" * 32
TOKEN = "gate-auth-token-1f2e"
BACKUP_SID = "AC" + "4" * 32
BACKUP_TOKEN = "backup-auth-token-9a8b"
NUMBER = "+5511930004000"
PUBLIC = "https://cx.gate.example"
NOON = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


@dataclass
class Accepted:
    sid: str
    to: str
    origin: str
    body: str
    ref: str | None
    created: datetime


@dataclass
class FakeTwilio:
    """A local server for `POST` and `GET .../Accounts/{sid}/Messages.json`.

    `failures` answers that many POSTs with 503; `before_answer(accepted)` runs after a
    message is accepted and before the answer goes back (a test kills the worker there).
    """

    account_sid: str
    token: str
    failures: int = 0
    before_answer: Callable[[Accepted], None] | None = None
    accepted: list[Accepted] = field(default_factory=list)
    posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def refs(self) -> list[str | None]:
        with self.lock:
            return [a.ref for a in self.accepted]

    def start(self) -> "FakeTwilio":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = orjson.dumps(body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller died waiting (the worker-kill test)

            def _authorised(self) -> bool:
                expected = base64.b64encode(f"{fake.account_sid}:{fake.token}".encode()).decode()
                path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
                return (
                    self.headers.get("Authorization") == f"Basic {expected}"
                    and urlsplit(self.path).path == path
                )

            def do_POST(self) -> None:
                if not self._authorised():
                    self._answer(401, {"code": 20003, "message": "Authenticate"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                with fake.lock:
                    fake.posts += 1
                    if fake.failures > 0:
                        fake.failures -= 1
                        failing = True
                    else:
                        failing = False
                        callback = form.get("StatusCallback", "")
                        ref = parse_qs(urlsplit(callback).query).get("ref", [None])[0]
                        accepted = Accepted(
                            sid=f"SM{fake.account_sid[-2:]}{len(fake.accepted) + 1:030x}",
                            to=form["To"],
                            origin=form.get("From", ""),
                            body=form["Body"],
                            ref=ref,
                            created=datetime.now(UTC),
                        )
                        fake.accepted.append(accepted)
                if failing:
                    self._answer(503, {"code": 20500, "message": "Service unavailable"})
                    return
                if fake.before_answer is not None:
                    fake.before_answer(accepted)
                self._answer(
                    201,
                    {
                        "sid": accepted.sid,
                        "status": "queued",
                        "to": accepted.to,
                        "body": accepted.body,
                    },
                )

            def do_GET(self) -> None:
                if not self._authorised():
                    self._answer(401, {"code": 20003, "message": "Authenticate"})
                    return
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                with fake.lock:
                    found = [
                        a
                        for a in reversed(fake.accepted)
                        if a.to == query.get("To") and query.get("From") in (None, a.origin)
                    ]
                self._answer(
                    200,
                    {
                        "messages": [
                            {
                                "sid": a.sid,
                                "to": a.to,
                                "from": a.origin,
                                "body": a.body,
                                "status": "sent",
                                "date_created": format_datetime(a.created),
                            }
                            for a in found
                        ],
                        "next_page_uri": None,
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def twilio_settings(primary: FakeTwilio, backup: FakeTwilio | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "public_base_url": PUBLIC,
        "twilio_accounts": {"main": {"account_sid": SID, "auth_token": TOKEN, "numbers": [NUMBER]}},
        "twilio_api_base_url": primary.url,
        "channel_rates": {},
        "send_retry_seconds": 1.0,
        "provider_timeout_seconds": 5.0,
    }
    if backup is not None:
        values["sms_failover_accounts"] = {
            "backup": {"account_sid": BACKUP_SID, "auth_token": BACKUP_TOKEN, "numbers": [NUMBER]}
        }
        values["sms_failover_api_base_url"] = backup.url
    return values


@pytest.fixture
def primary() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(SID, TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def backup() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(BACKUP_SID, BACKUP_TOKEN).start()
    yield fake
    fake.stop()


def gate(settings: Settings, clock: FixedClock) -> Services:
    services = build(settings, clock=clock)
    upgrade(services.engines)
    services.sending.rules = FakeRules()
    return services


def run(services: Services) -> None:
    for _ in range(20):
        if not (services.process_outbox() + services.process_sends()):
            return


def test_two_failures_in_a_row_fail_over_to_the_second_provider(
    make_settings: Callable[..., Settings], primary: FakeTwilio, backup: FakeTwilio
) -> None:
    primary.failures = 100
    clock = FixedClock(NOON)
    services = gate(make_settings(**twilio_settings(primary, backup)), clock)
    try:
        ana = add_customer(services, phone="+5511988887777")
        with services.uow() as uow:
            services.submit_send(uow, intent(ana, purpose="transactional", channels=("sms",)))
            uow.commit()
        for _ in range(4):
            run(services)
            clock.advance(timedelta(seconds=30))
        with services.uow(write=False) as uow:
            send = services.sends(uow).by_send_id("s-1")
            assert send is not None
            (message,) = services.sends(uow).messages_of(send.id)
    finally:
        services.close()

    assert (primary.posts, backup.posts) == (2, 1)
    (accepted,) = backup.accepted
    assert (message.status, message.provider, message.attempts) == ("sent", "failover", 3)
    assert message.provider_message_id == accepted.sid
    assert accepted.ref == message.id
    assert accepted.body == "Hi there, 20% off"


def test_the_look_up_finds_only_what_was_accepted_for_that_body_since_then(
    tmp_path: Any, primary: FakeTwilio
) -> None:
    settings = Settings(data_dir=tmp_path, **twilio_settings(primary))
    sms = TwilioSms(settings, http_client(5.0), tag_callbacks=True)
    out = OutboundMessage("m-1", "", "sms", None, ("phone", "+5511988887777"), "Your code: 1234")
    before = datetime.now(UTC) - timedelta(seconds=5)

    assert sms.find_sent(out, before) is None
    sent = sms.send(out)
    found = sms.find_sent(out, before)
    other = sms.find_sent(
        OutboundMessage("m-2", "", "sms", None, ("phone", "+5511988887777"), "Other"), before
    )
    later = sms.find_sent(out, datetime.now(UTC) + timedelta(minutes=5))

    assert found is not None
    assert found.provider_message_id == sent.provider_message_id
    assert (other, later) == (None, None)
    assert primary.refs() == ["m-1"]


def test_a_signed_status_callback_with_our_reference_settles_the_send(
    make_settings: Callable[..., Settings], primary: FakeTwilio
) -> None:
    clock = FixedClock(NOON)
    services = gate(make_settings(**twilio_settings(primary)), clock)
    try:
        ana = add_customer(services, phone="+5511988887777")
        with services.uow() as uow:
            services.submit_send(
                uow,
                intent(ana, purpose="transactional", channels=("sms",), fallback_after_seconds=600),
            )
            uow.commit()
        run(services)
        (accepted,) = primary.accepted
        url = f"{PUBLIC}/webhooks/twilio/status?{urlencode({'ref': accepted.ref})}"
        form = {"MessageSid": accepted.sid, "MessageStatus": "delivered", "AccountSid": SID}
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        with TestClient(app_for(services, run_worker=False)) as client:
            answer = client.post(
                f"/webhooks/twilio/status?ref={accepted.ref}",
                data=form,
                headers={"X-Twilio-Signature": signature},
            )
        with services.uow(write=False) as uow:
            send = services.sends(uow).by_send_id("s-1")
    finally:
        services.close()

    assert answer.status_code == 204
    assert send is not None
    assert (send.status, send.wake_at) == ("delivered", None)

"""Outbound webhooks: the admin API, fan-out from profile events, signed delivery and retries."""

import base64
import hashlib
import hmac
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.events import create_source
from omnicx.kernel import FixedClock
from omnicx.webhooks.http import FakeWebhookSender, HttpxWebhookSender
from omnicx.workers import Worker
from tests.conftest import table_counts

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
ALL_TOPICS = ["profile.created", "profile.merged", "profile.unmerged", "traits.changed"]


# -- a real HTTP receiver ---------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server answering each POST with the next scripted status (then 200)."""

    url: str
    statuses: list[int]
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", statuses=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/omnicx"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- services with a fixed clock ---------------------------------------------------------


@dataclass
class Rig:
    services: Services
    clock: FixedClock
    client: TestClient
    write_auth: dict[str, str]
    admin: dict[str, str]

    def drain(self) -> int:
        return Worker(self.services).drain()

    def deliveries(self, webhook_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/webhooks/{webhook_id}/deliveries", headers=self.admin)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def make_rig(settings: Settings, sender: Any) -> Iterator[Rig]:
    clock = FixedClock(T0)
    services = build(settings, clock=clock, sender=sender)
    upgrade(services.engines)
    with services.uow() as uow:
        source = create_source(services.events(uow), "Web shop", "web", uow.clock.now())
        _, secret = create_api_key(services.api_keys(uow), "ops", "admin", uow.clock.now())
        uow.commit()
    token = base64.b64encode(f"{source.write_key}:".encode()).decode()
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield Rig(
                services,
                clock,
                client,
                {"Authorization": f"Basic {token}"},
                {"Authorization": f"Bearer {secret}"},
            )
    finally:
        services.close()


@pytest.fixture
def http_rig(settings: Settings) -> Iterator[Rig]:
    """Real HTTP delivery (httpx) to a real local server."""
    yield from make_rig(settings, HttpxWebhookSender(5.0))


@pytest.fixture
def failing_sender() -> FakeWebhookSender:
    return FakeWebhookSender(status=503)


@pytest.fixture
def failing_rig(
    make_settings: Callable[..., Settings], failing_sender: FakeWebhookSender
) -> Iterator[Rig]:
    yield from make_rig(make_settings(webhook_max_attempts=3), failing_sender)


def subscribe(
    client: TestClient, admin: dict[str, str], url: str, topics: list[str]
) -> dict[str, Any]:
    response = client.post(
        "/api/webhooks", headers=admin, json={"url": url, "topics": topics, "description": "crm"}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def verify(secret: str, received: Received) -> int:
    """Check the signature as a receiver would; returns its timestamp."""
    parts = dict(p.split("=", 1) for p in received.headers["omnicx-signature"].split(","))
    assert set(parts) == {"t", "v1"}
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.".encode() + received.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    return int(parts["t"])


def outbox_rows(services: Services) -> list[tuple[str, str, int]]:
    with services.engines.main.connect() as conn:
        rows = conn.execute(sa.text("SELECT topic, status, attempts FROM outbox ORDER BY id"))
        return [(r[0], r[1], r[2]) for r in rows]


def sent_payloads(sender: FakeWebhookSender) -> list[dict[str, Any]]:
    return [orjson.loads(body) for _, body, _ in sender.sent]


# -- the admin API ----------------------------------------------------------------------


def test_webhooks_are_created_listed_and_deleted(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    created = subscribe(client, admin, "https://crm.example/hook", ["traits.changed"] * 2)
    assert set(created) == {"id", "url", "topics", "description", "created_at", "secret"}
    assert created["url"] == "https://crm.example/hook"
    assert created["topics"] == ["traits.changed"]
    assert created["description"] == "crm"
    assert created["secret"].startswith("whsec_")
    public = {k: v for k, v in created.items() if k != "secret"}

    listed = client.get("/api/webhooks", headers=admin)
    assert listed.status_code == 200
    assert listed.json() == {"items": [public]}
    assert client.get(f"/api/webhooks/{created['id']}/deliveries", headers=admin).json() == {
        "items": []
    }

    deleted = client.delete(f"/api/webhooks/{created['id']}", headers=admin)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get("/api/webhooks", headers=admin).json() == {"items": []}
    assert table_counts(services, "webhook_subscriptions") == {"webhook_subscriptions": 0}

    again = client.delete(f"/api/webhooks/{created['id']}", headers=admin)
    assert again.status_code == 404
    assert again.json() == {
        "error": {
            "code": "webhook_not_found",
            "message": f"no webhook {created['id']}",
            "field": "id",
        }
    }
    gone = client.get(f"/api/webhooks/{created['id']}/deliveries", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "webhook_not_found"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (
            {"url": "ftp://crm.example/hook", "topics": ["profile.created"]},
            400,
            "invalid_url",
            "url",
        ),
        ({"url": "crm.example/hook", "topics": ["profile.created"]}, 400, "invalid_url", "url"),
        ({"url": "http://", "topics": ["profile.created"]}, 400, "invalid_url", "url"),
        ({"url": "http://[::1/hook", "topics": ["profile.created"]}, 400, "invalid_url", "url"),
        (
            {"url": "https://crm.example:99999/h", "topics": ["traits.changed"]},
            400,
            "invalid_url",
            "url",
        ),
        ({"url": "http://:8080/hook", "topics": ["profile.created"]}, 400, "invalid_url", "url"),
        (
            {"url": "https://crm.example/a b", "topics": ["profile.created"]},
            400,
            "invalid_url",
            "url",
        ),
        (
            {"url": "https://crm.example/\n", "topics": ["profile.created"]},
            400,
            "invalid_url",
            "url",
        ),
        (
            {"url": "https://crm.example", "topics": ["profile.created", "order.paid"]},
            400,
            "invalid_topics",
            "topics",
        ),
        ({"url": "https://crm.example", "topics": []}, 422, "invalid_request", "topics"),
        ({"topics": ["profile.created"]}, 422, "invalid_request", "url"),
    ],
)
def test_an_invalid_webhook_is_refused_naming_the_field_and_nothing_is_stored(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    response = client.post("/api/webhooks", headers=admin, json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert table_counts(services, "webhook_subscriptions", "outbox") == {
        "webhook_subscriptions": 0,
        "outbox": 0,
    }


def test_the_webhook_api_needs_an_admin_key(
    client: TestClient, services: Services, admin: dict[str, str], reader: dict[str, str]
) -> None:
    existing = subscribe(client, admin, "https://crm.example/hook", ["profile.created"])
    body = {"url": "https://other.example/hook", "topics": ["profile.created"]}
    requests = [
        ("POST", "/api/webhooks", body),
        ("GET", "/api/webhooks", None),
        ("DELETE", f"/api/webhooks/{existing['id']}", None),
        ("GET", f"/api/webhooks/{existing['id']}/deliveries", None),
    ]
    for method, path, json in requests:
        forbidden = client.request(method, path, headers=reader, json=json)
        assert forbidden.status_code == 403
        assert forbidden.json() == {
            "error": {
                "code": "forbidden",
                "message": (
                    "this needs the webhooks.manage permission, which the read_only role lacks"
                ),
            }
        }
        anonymous = client.request(method, path, json=json)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
    assert table_counts(services, "webhook_subscriptions") == {"webhook_subscriptions": 1}


# -- fan-out ----------------------------------------------------------------------------


def test_nothing_is_queued_without_a_subscription(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    call = {"userId": "u1", "traits": {"name": "Ana"}}
    assert client.post("/v1/identify", headers=write_auth, json=call).status_code == 200
    assert drain() == 1
    assert table_counts(services, "outbox") == {"outbox": 0}


def test_each_subscription_gets_only_its_topics(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    sender: FakeWebhookSender,
) -> None:
    created = subscribe(client, admin, "https://a.example/hook", ["profile.created"])
    traits = subscribe(client, admin, "https://b.example/hook", ["traits.changed"])
    merged = subscribe(client, admin, "https://c.example/hook", ["profile.merged"])
    call = {"userId": "u1", "traits": {"name": "Ana"}}
    assert client.post("/v1/identify", headers=write_auth, json=call).status_code == 200
    assert drain() == 1
    assert services.process_outbox() == 2
    assert [(url, orjson.loads(body)["type"]) for url, body, _ in sender.sent] == [
        ("https://a.example/hook", "profile.created"),
        ("https://b.example/hook", "traits.changed"),
    ]
    assert [d["topic"] for d in client_deliveries(client, admin, created["id"])] == [
        "profile.created"
    ]
    assert [d["topic"] for d in client_deliveries(client, admin, traits["id"])] == [
        "traits.changed"
    ]
    assert client_deliveries(client, admin, merged["id"]) == []


def client_deliveries(
    client: TestClient, admin: dict[str, str], webhook_id: str
) -> list[dict[str, Any]]:
    response = client.get(f"/api/webhooks/{webhook_id}/deliveries", headers=admin)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_deleted_subscription_gets_no_new_deliveries(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
) -> None:
    hook = subscribe(client, admin, "https://a.example/hook", ALL_TOPICS)
    assert client.delete(f"/api/webhooks/{hook['id']}", headers=admin).status_code == 204
    assert client.post("/v1/identify", headers=write_auth, json={"userId": "u1"}).status_code == 200
    assert drain() == 1
    assert table_counts(services, "outbox") == {"outbox": 0}


def test_deleting_a_webhook_gives_up_its_pending_deliveries(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    sender: FakeWebhookSender,
) -> None:
    hook = subscribe(client, admin, "https://a.example/hook", ["profile.created"])
    kept = subscribe(client, admin, "https://b.example/hook", ["profile.created"])
    assert client.post("/v1/identify", headers=write_auth, json={"userId": "u1"}).status_code == 200
    assert drain() == 1
    assert client.delete(f"/api/webhooks/{hook['id']}", headers=admin).status_code == 204
    assert outbox_rows(services) == [
        ("webhook.deliver", "dead", 0),
        ("webhook.deliver", "pending", 0),
    ]
    assert services.process_outbox() == 1
    assert [url for url, _, _ in sender.sent] == ["https://b.example/hook"]
    assert [(d["status"], d["attempts"]) for d in client_deliveries(client, admin, kept["id"])] == [
        ("done", 1)
    ]


# -- signed delivery over HTTP ----------------------------------------------------------


def test_deliveries_reach_a_real_receiver_signed_with_the_secret(
    http_rig: Rig, receiver: Receiver
) -> None:
    rig = http_rig
    hook = subscribe(
        rig.client, rig.admin, receiver.url, ["profile.created", "profile.merged", "traits.changed"]
    )
    call = {"userId": "u1", "traits": {"email": "Ana@Example.com", "name": "Ana"}}
    assert rig.client.post("/v1/identify", headers=rig.write_auth, json=call).status_code == 200
    assert rig.drain() == 1
    profile_id = rig.client.get(
        "/api/customers/lookup", params={"kind": "user_id", "value": "u1"}, headers=rig.admin
    ).json()["id"]

    assert rig.services.process_outbox() == 2
    assert rig.services.process_outbox() == 0

    assert [r.path for r in receiver.received] == ["/hooks/omnicx", "/hooks/omnicx"]
    payloads = [orjson.loads(r.body) for r in receiver.received]
    assert [{k: v for k, v in p.items() if k != "id"} for p in payloads] == [
        {
            "type": "profile.created",
            "created_at": "2030-01-02T03:04:05Z",
            "data": {
                "profile_id": profile_id,
                "identifiers": [["user_id", "u1"], ["email", "ana@example.com"]],
                "channel": "web",
            },
        },
        {
            "type": "traits.changed",
            "created_at": "2030-01-02T03:04:05Z",
            "data": {
                "profile_id": profile_id,
                "changes": {
                    "email": {"old": None, "new": "Ana@Example.com", "channel": "web"},
                    "name": {"old": None, "new": "Ana", "channel": "web"},
                },
            },
        },
    ]
    for got, payload in zip(receiver.received, payloads, strict=True):
        assert verify(hook["secret"], got) == int(T0.timestamp())
        assert got.headers["content-type"] == "application/json"
        assert got.headers["user-agent"] == "omnicx-webhooks/1"
        assert got.headers["omnicx-event-id"] == payload["id"]
        assert got.headers["omnicx-event-type"] == payload["type"]

    deliveries = rig.deliveries(hook["id"])
    assert [(d["topic"], d["status"], d["attempts"]) for d in deliveries] == [
        ("traits.changed", "done", 1),
        ("profile.created", "done", 1),
    ]
    for delivery in deliveries:
        assert delivery["last_error"] is None
        assert delivery["next_attempt_at"] is None
        assert datetime.fromisoformat(delivery["done_at"]) == T0
        assert datetime.fromisoformat(delivery["created_at"]) == T0
    assert [d["payload"] for d in reversed(deliveries)] == payloads


def test_a_wrong_secret_does_not_verify(http_rig: Rig, receiver: Receiver) -> None:
    subscribe(http_rig.client, http_rig.admin, receiver.url, ["profile.created"])
    call = {"userId": "u1"}
    assert http_rig.client.post("/v1/i", headers=http_rig.write_auth, json=call).status_code == 200
    assert http_rig.drain() == 1
    assert http_rig.services.process_outbox() == 1
    with pytest.raises(AssertionError):
        verify("whsec_not-the-secret", receiver.received[0])


def test_a_failed_delivery_is_retried_with_backoff_then_succeeds(
    http_rig: Rig, receiver: Receiver
) -> None:
    rig = http_rig
    receiver.statuses = [500]
    hook = subscribe(rig.client, rig.admin, receiver.url, ["profile.created"])
    assert rig.client.post("/v1/t", headers=rig.write_auth, json={"userId": "u1", "event": "A"})
    assert rig.drain() == 1

    assert rig.services.process_outbox() == 1
    [delivery] = rig.deliveries(hook["id"])
    assert {k: delivery[k] for k in ("status", "attempts", "last_error", "done_at")} == {
        "status": "pending",
        "attempts": 1,
        "last_error": f"{receiver.url} answered 500",
        "done_at": None,
    }
    assert datetime.fromisoformat(delivery["next_attempt_at"]) == T0 + timedelta(seconds=2)

    rig.clock.advance(timedelta(seconds=1))
    assert rig.services.process_outbox() == 0
    assert len(receiver.received) == 1

    rig.clock.advance(timedelta(seconds=1))
    assert rig.services.process_outbox() == 1
    [delivery] = rig.deliveries(hook["id"])
    assert {k: delivery[k] for k in ("status", "attempts", "last_error", "next_attempt_at")} == {
        "status": "done",
        "attempts": 2,
        "last_error": None,
        "next_attempt_at": None,
    }
    assert datetime.fromisoformat(delivery["done_at"]) == T0 + timedelta(seconds=2)

    first, second = receiver.received
    assert first.body == second.body
    assert first.headers["omnicx-event-id"] == second.headers["omnicx-event-id"]
    assert verify(hook["secret"], first) == int(T0.timestamp())
    assert verify(hook["secret"], second) == int(T0.timestamp()) + 2
    assert rig.services.process_outbox() == 0


def test_a_receiver_that_does_not_answer_is_retried(http_rig: Rig) -> None:
    rig = http_rig
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}/hook"
    hook = subscribe(rig.client, rig.admin, closed, ["profile.created"])
    assert rig.client.post("/v1/i", headers=rig.write_auth, json={"userId": "u1"})
    assert rig.drain() == 1
    assert rig.services.process_outbox() == 1
    [delivery] = rig.deliveries(hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert delivery["last_error"].startswith(f"no answer from {closed}: ")
    assert datetime.fromisoformat(delivery["next_attempt_at"]) == T0 + timedelta(seconds=2)


def test_a_delivery_is_dead_after_the_maximum_attempts(
    failing_rig: Rig, failing_sender: FakeWebhookSender
) -> None:
    rig = failing_rig
    hook = subscribe(rig.client, rig.admin, "https://down.example/hook", ["profile.created"])
    assert rig.client.post("/v1/i", headers=rig.write_auth, json={"userId": "u1"})
    assert rig.drain() == 1

    expected_waits = [2, 4]
    for attempt, wait in enumerate(expected_waits, start=1):
        assert rig.services.process_outbox() == 1
        [delivery] = rig.deliveries(hook["id"])
        assert (delivery["status"], delivery["attempts"]) == ("pending", attempt)
        due = datetime.fromisoformat(delivery["next_attempt_at"])
        assert due == rig.clock.now() + timedelta(seconds=wait)
        rig.clock.advance(timedelta(seconds=wait))

    assert rig.services.process_outbox() == 1
    [delivery] = rig.deliveries(hook["id"])
    assert {k: delivery[k] for k in ("status", "attempts", "last_error", "next_attempt_at")} == {
        "status": "dead",
        "attempts": 3,
        "last_error": "https://down.example/hook answered 503",
        "next_attempt_at": None,
    }
    assert delivery["done_at"] is None

    rig.clock.advance(timedelta(days=1))
    assert rig.services.process_outbox() == 0
    assert len(failing_sender.sent) == 3
    assert outbox_rows(rig.services) == [("webhook.deliver", "dead", 3)]


# -- merges and undo --------------------------------------------------------------------


def test_a_merge_emits_one_profile_merged_and_its_undo_one_profile_unmerged(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    drain: Callable[[], int],
    sender: FakeWebhookSender,
) -> None:
    hook = subscribe(client, admin, "https://crm.example/hook", ALL_TOPICS)

    def lookup(kind: str, value: str) -> str:
        response = client.get(
            "/api/customers/lookup", params={"kind": kind, "value": value}, headers=admin
        )
        assert response.status_code == 200, response.text
        found: str = response.json()["id"]
        return found

    histories = {
        "batch": [
            {
                "type": "identify",
                "anonymousId": "anon-1",
                "traits": {"email": "ana@example.com"},
            },
            {"type": "identify", "userId": "u1", "traits": {"name": "Ana"}},
        ]
    }
    assert client.post("/v1/batch", headers=write_auth, json=histories).status_code == 200
    assert drain() == 2
    anonymous = lookup("anonymous_id", "anon-1")
    known = lookup("user_id", "u1")
    assert anonymous != known
    assert services.process_outbox() == 4
    sender.sent.clear()

    stitch = {"userId": "u1", "traits": {"email": " ANA@example.com"}}
    assert client.post("/v1/identify", headers=write_auth, json=stitch).status_code == 200
    assert drain() == 1
    survivor, loser = sorted((anonymous, known))
    assert lookup("user_id", "u1") == lookup("anonymous_id", "anon-1") == survivor

    assert services.process_outbox() >= 1
    merged = [p for p in sent_payloads(sender) if p["type"] == "profile.merged"]
    assert len(merged) == 1
    data = merged[0]["data"]
    assert {k: v for k, v in data.items() if k not in ("merge_id", "event_id")} == {
        "survivor_id": survivor,
        "loser_id": loser,
        "kind": "user_id",
        "value": "u1",
    }
    assert isinstance(data["event_id"], int)
    merges = client.get(f"/api/customers/{survivor}/merges", headers=admin).json()["items"]
    assert [m["id"] for m in merges] == [data["merge_id"]]
    assert [d["topic"] for d in client_deliveries(client, admin, hook["id"])].count(
        "profile.merged"
    ) == 1

    sender.sent.clear()
    undone = client.post(f"/api/merges/{data['merge_id']}/undo", headers=admin)
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_at"] is not None
    assert services.process_outbox() >= 1
    unmerged = [p for p in sent_payloads(sender) if p["type"] == "profile.unmerged"]
    assert [p["data"] for p in unmerged] == [
        {"merge_id": data["merge_id"], "survivor_id": survivor, "restored_id": loser}
    ]
    assert [p["type"] for p in sent_payloads(sender)].count("profile.merged") == 0
    assert lookup("user_id", "u1") != lookup("anonymous_id", "anon-1")


def test_an_undo_needs_an_admin_key_and_writes_nothing_otherwise(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    admin: dict[str, str],
    reader: dict[str, str],
    drain: Callable[[], int],
) -> None:
    subscribe(client, admin, "https://crm.example/hook", ["profile.unmerged"])
    batch = {
        "batch": [
            {"type": "identify", "anonymousId": "anon-1", "traits": {"email": "a@example.com"}},
            {"type": "identify", "userId": "u1"},
            {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}},
        ]
    }
    assert client.post("/v1/batch", headers=write_auth, json=batch).status_code == 200
    assert drain() == 3
    survivor = client.get(
        "/api/customers/lookup", params={"kind": "user_id", "value": "u1"}, headers=admin
    ).json()["id"]
    [merge] = client.get(f"/api/customers/{survivor}/merges", headers=admin).json()["items"]
    before = table_counts(services, "outbox", "profile_separations")

    refused = client.post(f"/api/merges/{merge['id']}/undo", headers=reader)
    assert refused.status_code == 403
    missing = client.post("/api/merges/no-such-merge/undo", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "merge_not_found"
    assert table_counts(services, "outbox", "profile_separations") == before

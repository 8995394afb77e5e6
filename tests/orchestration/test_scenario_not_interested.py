"""The field scenario: a customer tells a call-centre agent "not interested".

Everything goes through the HTTP API and the worker's real steps: the customer is identified
through the tracking API, grants marketing on email, SMS and push, and gets one promotion on
each; then an agent records the opt-out. From then on no marketing goes out on any channel,
from a journey or a broadcast, while service messages still do, and the customer's decisions
explain every skip by the opt-out. Runs on SQLite and, when reachable, PostgreSQL.
"""

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher, create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.conversations import FakeChannelSender
from omnicx.db.migrate import upgrade
from omnicx.events import create_source
from omnicx.kernel import FixedClock
from omnicx.workers import Worker
from tests.access.conftest import add_user, sign_in

# 15:00 UTC is noon in São Paulo: outside the quiet hours, so nothing waits for the morning.
START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
CHANNELS = ("email", "sms", "push")
EMAIL, PHONE, USER = "ana@example.com", "+5511988887777", "ana-1"
OPTED_OUT = (
    "marketing revoked on every channel by agent opt-out on call_center, 2026-11-23 15:20 UTC"
)


def sends(purpose: str, prefix: str, wait: str | None) -> dict[str, Any]:
    """One send node per channel, in order (with a wait between them when `wait` is given)."""
    nodes: dict[str, Any] = {}
    for index, channel in enumerate(CHANNELS):
        name = f"{prefix}_{channel}"
        last = index == len(CHANNELS) - 1
        after = "end" if last else f"{prefix}_{CHANNELS[index + 1]}"
        if wait is not None and not last:
            nodes[f"wait_{channel}"] = {"type": "wait", "duration": wait, "next": after}
            after = f"wait_{channel}"
        nodes[name] = {
            "type": "send",
            "purpose": purpose,
            "category": "promotion" if purpose == "marketing" else "order",
            "channels": [channel],
            "content": {"text": f"{purpose} on {channel} for {{{{ customer.first_name }}}}"},
            "next": after,
        }
    nodes["end"] = {"type": "exit"}
    return nodes


SALE = {
    "name": "Sale alert",
    "trigger": {"event": "Sale Viewed"},
    "reentry": "always",
    "start": "promo_email",
    "nodes": sends("marketing", "promo", "10m"),
}
SHIPPED = {
    "name": "Shipping news",
    "trigger": {"event": "Order Shipped"},
    "reentry": "always",
    "start": "news_email",
    "nodes": sends("service", "news", None),
}


@dataclass
class Shop:
    services: Services
    client: TestClient
    clock: FixedClock
    connectors: dict[str, FakeChannelSender]
    write: dict[str, str]
    admin: dict[str, str]

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        response = self.client.post(path, json=body, headers=headers or self.admin)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        response = self.client.get(path, headers=headers or self.admin)
        assert response.status_code == 200, response.text
        return response.json()

    def track(self, event: str) -> None:
        self.post("/v1/track", {"userId": USER, "event": event}, self.write)
        self.work()

    def work(self) -> None:
        """The worker's passes, until it has nothing left to do now."""
        worker = Worker(self.services)
        for _ in range(50):
            if not worker.step():
                return
        raise AssertionError("the worker never went idle")

    def later(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self.work()

    def delivered(self) -> list[tuple[str, str]]:
        """(channel, text) of every message the connectors were handed, in order per channel."""
        return [(c, m.text or "") for c, fake in self.connectors.items() for m in fake.sent]

    def decisions(self, customer_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        found = self.get(f"/api/customers/{customer_id}/decisions?limit=100", headers)
        items: list[dict[str, Any]] = found["items"]
        return items[::-1]


def staff(shop: Shop, role: str) -> dict[str, str]:
    """A staff user of `role`, signed in: their bearer header."""
    email = f"{role}@shop.example"
    add_user(shop.services, email, role)
    return {"Authorization": f"Bearer {sign_in(shop.services, email)}"}


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    clock = FixedClock(START)
    settings = make_settings(
        default_time_zone="America/Sao_Paulo",
        # No caps and no competition between promotions: the first part shows each channel
        # carrying marketing before the opt-out, ten minutes apart.
        frequency_caps={},
        send_competition_minutes=0,
        channel_rates={},
        rate_limit_api="100000/second",
    )
    services = build(settings, clock=clock)
    upgrade(services.engines)
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    # The connectors record what they are handed; push reaches the devices registered under
    # the customer's user id, which its fake stands for.
    connectors = {channel: FakeChannelSender(channel) for channel in CHANNELS}
    services.channel_senders.clear()
    services.channel_senders.update(connectors)
    with services.uow() as uow:
        source = create_source(services.events(uow), "App", "app", uow.clock.now())
        _, secret = create_api_key(services.api_keys(uow), "head office", "admin", clock.now())
        uow.commit()
    write = {"Authorization": "Basic " + base64.b64encode(f"{source.write_key}:".encode()).decode()}
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield Shop(
                services,
                client,
                clock,
                connectors,
                write,
                {"Authorization": f"Bearer {secret}"},
            )
    finally:
        services.close()


def test_not_interested_said_to_an_agent_stops_marketing_on_every_channel(shop: Shop) -> None:
    # The customer signs in to the app: one identify carries her user id, email and phone
    # (push reaches the devices registered under her user id).
    shop.post(
        "/v1/identify",
        {
            "userId": USER,
            "traits": {"email": EMAIL, "phone": PHONE, "first_name": "Ana"},
        },
        shop.write,
    )
    shop.work()
    ana = shop.get(f"/api/customers/lookup?kind=user_id&value={USER}")["id"]
    # She ticks marketing on every channel in the app (recorded by the shop's backend).
    shop.client.put(
        f"/api/customers/{ana}/consents",
        headers=shop.admin,
        json={
            "items": [{"purpose": "marketing", "channel": c, "state": "granted"} for c in CHANNELS],
            "source": {"channel": "app", "method": "import", "actor_kind": "customer"},
        },
    ).raise_for_status()
    for definition in (SALE, SHIPPED):
        journey = shop.post("/api/journeys", definition)
        shop.post(f"/api/journeys/{journey['id']}/publish", {})
    gold = shop.post(
        "/api/segments",
        {"name": "Gold", "condition": {"trait": "tier", "op": "eq", "value": "gold"}},
    )
    shop.post("/v1/identify", {"userId": USER, "traits": {"tier": "gold"}}, shop.write)
    shop.work()
    assert shop.get(f"/api/segments/{gold['id']}/size")["size"] == 1

    # Before: a promotion on each channel, ten minutes apart, reaches her.
    shop.track("Sale Viewed")
    shop.later(10)
    shop.later(10)
    assert shop.delivered() == [
        ("email", "marketing on email for Ana"),
        ("sms", "marketing on sms for Ana"),
        ("push", "marketing on push for Ana"),
    ]

    # She calls the call centre and tells the agent she is not interested.
    agent = staff(shop, "agent")
    said = shop.post(f"/api/customers/{ana}/opt-outs", {"note": "not interested"}, agent)
    assert [(c["purpose"], c["channel"], c["state"]) for c in said["changes"]] == [
        ("marketing", "*", "revoked")
    ]
    assert [m.to for fake in shop.connectors.values() for m in fake.sent] == [
        ("email", EMAIL),
        ("phone", PHONE),
        ("user_id", USER),
    ]
    before = [(d["purpose"], d["outcome"], d["channel"]) for d in shop.decisions(ana, agent)]
    assert before == [("marketing", "send", c) for c in CHANNELS]
    for connector in shop.connectors.values():
        connector.sent.clear()

    # After: the same journey again, a broadcast to her segment, and an order shipped.
    shop.track("Sale Viewed")
    shop.later(10)
    shop.later(10)
    black_friday = shop.post(
        "/api/broadcasts",
        {
            "name": "Black Friday",
            "segment_id": gold["id"],
            "channels": list(CHANNELS),
            "content": {"text": "Black Friday: 50% off"},
        },
    )
    shop.work()
    shop.track("Order Shipped")

    assert shop.delivered() == [
        ("email", "service on email for Ana"),
        ("sms", "service on sms for Ana"),
        ("push", "service on push for Ana"),
    ]
    after = [
        (d["origin"].split(":")[0], d["purpose"], d["outcome"], d["code"], d["reason"], d["status"])
        for d in shop.decisions(ana, agent)[len(before) :]
    ]
    assert after == [
        *[
            (
                "journey",
                "marketing",
                "skip",
                "no_consent",
                f"no channel: {c}: {OPTED_OUT}",
                "skipped",
            )
            for c in CHANNELS
        ],
        (
            "broadcast",
            "marketing",
            "skip",
            "no_consent",
            "no channel: " + "; ".join(f"{c}: {OPTED_OUT}" for c in CHANNELS),
            "skipped",
        ),
        *[
            (
                "journey",
                "service",
                "send",
                "sent",
                f"send on {c}: the first of the requested channels ({c})",
                "sent",
            )
            for c in CHANNELS
        ],
    ]
    counts = shop.get(f"/api/broadcasts/{black_friday['id']}")["counts"]
    assert (counts["decided"], counts["sent"], counts["skipped"]) == (1, 0, {"no_consent": 1})

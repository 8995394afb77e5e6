"""Rebuilding the read models from the stored past: a week of events, conversations (with a
channel switch, an SLA breach, reasons, resolutions and CSAT), orders and the gate's sends,
all through the real service paths; the read models are snapshotted, emptied and rebuilt in
small chunks, and come out exactly as the live updates left them, again on a second run.
On SQLite and PostgreSQL."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.bootstrap import Services
from omnicx.commerce.orders import Address, CustomerIn, GroupIn, LineIn, PlaceOrder
from omnicx.commerce.selling import retrying
from omnicx.conversations import FakeChannelSender
from omnicx.kernel import Invalid
from omnicx.orchestration.gate import Content, SendIntent
from tests.analytics.test_service_reports import T0, at, history
from tests.commerce.test_orders_api import DRESS, TEE, stock_the_shop

TABLES = (
    "analytics_customers",
    "analytics_seen_months",
    "analytics_channel_days",
    "analytics_channel_hours",
    "analytics_channel_months",
    "analytics_cohorts",
    "analytics_paths",
    "analytics_conversions",
    "analytics_economics",
    "analytics_service_conversations",
    "analytics_service_cells",
    "analytics_service_friction",
    "analytics_campaign_sends",
    "analytics_campaign_days",
)
COUNTERS = {
    "analytics_cohorts": 3,
    "analytics_service_cells": 6,
}
"""Counter tables whose rows may come to count nothing (a customer's or a conversation's
contribution moved to another key): such rows depend on how the facts were grouped into
transactions, not on the facts, and are left out of the comparison (the last n columns)."""
HOME = Address("Ana", "Rua A, 1", "São Paulo", "01000-000", "BR")


@pytest.fixture(autouse=True)
def cheap_hasher(services: Services) -> None:
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)


def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model, sorted; the friction rows without their serial id."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with services.engines.main.connect() as conn:
        for name in TABLES:
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            columns = [
                c for c in table.columns if not (name.endswith("friction") and c.name == "id")
            ]
            rows = [tuple(r) for r in conn.execute(sa.select(*columns))]
            if name in COUNTERS:
                rows = [r for r in rows if any(r[-COUNTERS[name] :])]
            found[name] = sorted(rows, key=repr)
    return found


def _batch(client: TestClient, auth: dict[str, str], *events: dict[str, Any]) -> None:
    response = client.post("/v1/batch", json={"batch": list(events)}, headers=auth)
    assert response.status_code == 200, response.text


def _order(services: Services, email: str, channel: str, key: str) -> None:
    command = PlaceOrder(
        channel=channel,
        customer=CustomerIn((("email", email),)),
        groups=(GroupIn("ship", (LineIn(DRESS if channel == "web" else TEE, 1),), address=HOME),),
    )
    retrying(
        services.uow,
        lambda uow: services.selling.place_order(uow, command, key=key, actor="test"),
    )


def _send(services: Services, customer_id: str, send_id: str, origin: str) -> str:
    intent = SendIntent(
        send_id=send_id,
        customer_id=customer_id,
        purpose="transactional",
        category="order",
        priority=50,
        channels=("sms",),
        content=Content(text="Your order is on its way"),
        origin=origin,
    )
    with services.uow() as uow:
        decision = services.sending.submit(uow, intent)
        uow.commit()
    return decision.outcome


def world(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    """Customers browse and buy (events), write in (conversations), order (commerce) and get
    the gate's sends (a broadcast), over a week. Each customer's facts arrive in time order
    (the live read models leave a fact older than the customer's latest touch out of their
    path; the rebuild, replaying in time order, would put it in)."""
    at(services, T0 - timedelta(days=1))
    stock_the_shop(services)
    _batch(
        client,
        write_auth,
        *(
            {
                "type": "track" if n % 3 else "page",
                "userId": f"u{n % 4}",
                "event": "Order Completed" if n % 7 == 3 else "Product Viewed",
                "name": "Home",
                "properties": {"total": 12.5, "store_id": "SP-1"} if n % 7 == 3 else {},
                "context": {
                    "channel": ("web", "app", "store")[n % 3],
                    "traits": {"email": f"u{n % 4}@example.com"},
                },
                "traits": {"birthday": "1990-05-01"} if n == 1 else {},
                "timestamp": (T0 + timedelta(days=n % 6, hours=n)).isoformat(),
                "messageId": f"e{n}",
            }
            for n in range(24)
        ),
    )
    _batch(
        client,
        write_auth,
        {
            "type": "track",
            "userId": "ana",
            "event": "Product Viewed",
            "context": {"channel": "web", "traits": {"email": "ana@example.com"}},
            "timestamp": (T0 - timedelta(hours=2)).isoformat(),
            "messageId": "ana-1",
        },
    )
    assert drain() == 25
    people = history(client, services, admin)
    at(services, T0 + timedelta(days=4))
    services.channel_senders.update({"sms": FakeChannelSender("sms")})
    _order(services, "ana@example.com", "web", "o-1")
    at(services, T0 + timedelta(days=4, hours=1))
    outcomes = [
        _send(services, people["ana"], "s-1", "broadcast:spring"),
        _send(services, people["bia"], "s-2", "broadcast:spring"),
    ]
    assert outcomes == ["send", "send"]
    at(services, T0 + timedelta(days=5))
    _order(services, "ana@example.com", "web", "o-3")
    at(services, T0 + timedelta(days=6, hours=1))
    _order(services, "u1@example.com", "app", "o-2")


def test_a_rebuild_gives_the_tables_live_updates_made(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    world(client, services, admin, write_auth, drain)
    live = snapshot(services)
    assert all(live[name] for name in TABLES if not name.endswith("seen_months")), live
    with services.uow() as uow:
        for name in TABLES:
            uow.conn.execute(sa.text(f"DELETE FROM {name}"))
        uow.commit()
    steps: list[tuple[int, int]] = []

    done = services.analytics.rebuild(
        services.uow,
        services.service_analytics,
        chunk=4,
        progress=lambda n, total: steps.append((n, total)),
    )

    assert snapshot(services) == live
    assert steps == [(n, 9) for n in range(1, 10)]
    assert done.chunks == 9
    # 25 ingested events and 8 timeline rows commerce and the gate wrote (skipped as facts)
    assert done.counts == {
        "events": 33,
        "messages": 5,
        "orders": 3,
        "decisions": 2,
        "conversations": 4,
        "campaign_facts": 5,
    }

    again = services.analytics.rebuild(services.uow, services.service_analytics, chunk=1000)
    assert snapshot(services) == live
    assert again.chunks == 1


def test_a_rebuild_with_no_stored_past_empties_the_read_models(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    done = services.analytics.rebuild(services.uow, services.service_analytics)
    assert done.chunks == 1
    assert snapshot(services) == {name: [] for name in TABLES}


def test_a_chunk_below_one_is_refused_and_changes_nothing(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    world(client, services, admin, write_auth, drain)
    before = snapshot(services)
    with pytest.raises(Invalid) as refused:
        services.analytics.rebuild(services.uow, services.service_analytics, chunk=0)
    assert (refused.value.code, refused.value.field) == ("invalid_chunk", "chunk")
    assert snapshot(services) == before

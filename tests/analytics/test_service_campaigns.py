"""Campaign results from hand-made maestro and commerce facts, raised on the bus in a unit of
work as the gate, the conductor and selling raise them: sends counted once, deliveries,
journey outcomes split by holdout, orders attributed to the latest send, costs and ROI."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services, build
from omnicx.commerce.messages import OrderPlaced
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import Event, FixedClock
from omnicx.orchestration.journeys import Instance
from omnicx.orchestration.messages import (
    JourneyEntered,
    JourneyExited,
    MessageDecided,
    SendDelivered,
)
from omnicx.orchestration.store.journeys import SqlJourneyRepository, journeys
from omnicx.orchestration.store.sends import broadcasts
from omnicx.privacy import EraseSubject
from omnicx.privacy.model import Subject
from omnicx.profiles import ProfilesMerged
from tests.conftest import table_counts

T0 = datetime(2026, 4, 1, 10, tzinfo=UTC)
J1 = "journey-1"
B1 = "broadcast-1"
PERIOD = {"from": "2026-04-01", "to": "2026-04-08"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'omnicx.db'}"


@pytest.fixture
def services(make_settings: Callable[..., Settings]) -> Iterator[Services]:
    settings = make_settings(
        analytics_message_costs={"sms": "0.10", "email": "0.01", "whatsapp": "0.05"},
        analytics_attribution_days=7,
    )
    built = build(settings, clock=FixedClock(T0 + timedelta(days=10)))
    upgrade(built.engines)
    yield built
    built.close()


def raise_all(services: Services, events: list[Event], setup: Callable[[Any], None]) -> None:
    with services.uow() as uow:
        setup(uow)
        for event in events:
            uow.raise_event(event)
        uow.commit()


def decided(
    send_id: str,
    customer: str,
    channel: str | None,
    origin: str,
    at: datetime,
    outcome: str = "send",
) -> MessageDecided:
    return MessageDecided(send_id, customer, outcome, channel, "ok", "", None, origin, at)


def instance(ident: str, customer: str, groups: dict[str, str]) -> Instance:
    return Instance(
        id=ident,
        journey_id=J1,
        version=1,
        profile_id=customer,
        node="end",
        state="done",
        wake_at=None,
        arrived_at=T0,
        waiting=None,
        visits={},
        variables={"groups": groups} if groups else {},
        entered_at=T0,
        updated_at=T0,
    )


def campaigns_world(services: Services) -> None:
    """Journey "Welcome" v1: five customers enter; c1, c2 go down path a, c3 and c4 are held
    out, c5's version has no split. Sends: c1 by SMS (decided again on email after a failed
    SMS: still one send), c2 by email, c5 by SMS; a skipped decision and an agent's message
    do not count. Deliveries: c1 (twice: delivered, then read) and c2. Outcomes: c1, c5
    and c3 (a holdout) reach the goal, c2 completes, c4 leaves the holdout.
    Broadcast "Spring sale": c6 by email (delivered), c7 by WhatsApp.
    Orders: c1 two days after its send (20000), c6 after being merged into c8 (15000), c7
    ten days after its send (too late), c9 with no send at all."""

    def setup(uow: Any) -> None:
        uow.conn.execute(
            journeys.insert().values(
                id=J1,
                name="Welcome",
                description="",
                status="live",
                live_version=1,
                draft=None,
                draft_hash=None,
                next_fire_at=None,
                created_at=T0,
                updated_at=T0,
                created_by="test",
                updated_by="test",
            )
        )
        uow.conn.execute(
            broadcasts.insert().values(
                id=B1,
                name="Spring sale",
                segment_id="s1",
                purpose="marketing",
                category="promotion",
                priority=50,
                channels=[],
                content={},
                schedule_at=T0,
                status="finished",
                expanded=2,
                created_by="test",
                created_at=T0,
                updated_at=T0,
            )
        )
        repo = SqlJourneyRepository(uow.conn, services.cipher)
        for ident, customer, groups in (
            ("i1", "c1", {"split": "a"}),
            ("i2", "c2", {"split": "a"}),
            ("i3", "c3", {"split": "holdout"}),
            ("i4", "c4", {"split": "holdout"}),
            ("i5", "c5", {}),
        ):
            repo.add_instance(instance(ident, customer, groups))

    origin = f"journey:{J1}:v1:send_1"
    day2 = T0 + timedelta(days=1)
    events: list[Event] = [
        *(JourneyEntered(J1, 1, f"i{n}", f"c{n}", T0) for n in range(1, 6)),
        decided("j:1:c1", "c1", "sms", origin, T0),
        decided("j:1:c1", "c1", "email", origin, T0 + timedelta(minutes=30)),
        decided("j:1:c2", "c2", "email", origin, T0),
        decided("j:1:c5", "c5", "sms", origin, T0),
        decided("j:1:c3", "c3", None, origin, T0, outcome="skip"),
        decided("agent:1", "c2", "email", "agent:u-1", T0),
        SendDelivered("j:1:c1", "c1", "sms", T0 + timedelta(minutes=1)),
        SendDelivered("j:1:c1", "c1", "sms", T0 + timedelta(minutes=9)),
        SendDelivered("j:1:c2", "c2", "email", T0 + timedelta(minutes=2)),
        JourneyExited(J1, 1, "i1", "c1", day2, "converted"),
        JourneyExited(J1, 1, "i2", "c2", day2, "completed"),
        JourneyExited(J1, 1, "i3", "c3", day2, "converted"),
        JourneyExited(J1, 1, "i4", "c4", day2, "holdout"),
        JourneyExited(J1, 1, "i5", "c5", day2, "converted"),
        decided("b:1:c6", "c6", "email", f"broadcast:{B1}", day2),
        decided("b:1:c7", "c7", "whatsapp", f"broadcast:{B1}", day2),
        SendDelivered("b:1:c6", "c6", "email", day2),
        order("o1", "c1", 20000, T0 + timedelta(days=2)),
        ProfilesMerged("m1", "c8", "c6", "email", "c6@example.com", None),
        order("o2", "c8", 15000, T0 + timedelta(days=3)),
        order("o3", "c7", 9900, day2 + timedelta(days=10)),
        order("o4", "c9", 5000, T0 + timedelta(days=2)),
    ]
    raise_all(services, events, setup)


def order(order_id: str, customer: str, total: int, at: datetime) -> OrderPlaced:
    return OrderPlaced(order_id, customer, "web", None, total, "BRL", ("ship",), at)


JOURNEY_ROW = {
    "kind": "journey",
    "id": J1,
    "name": "Welcome",
    "version": 1,
    "sends": 3,
    "delivered": 2,
    "delivery_rate": 0.6667,
    "entered": 5,
    "treated": 3,
    "holdout": 2,
    "conversions": 2,
    "conversion_rate": 0.6667,
    "holdout_conversions": 1,
    "holdout_rate": 0.5,
    "uplift": 0.1667,
    "orders": 1,
    "revenue": 20000,
    "cost": 21,
    "roi": 952.381,
    "currency": "BRL",
}
BROADCAST_ROW = {
    "kind": "broadcast",
    "id": B1,
    "name": "Spring sale",
    "version": None,
    "sends": 2,
    "delivered": 1,
    "delivery_rate": 0.5,
    "entered": None,
    "treated": None,
    "holdout": None,
    "conversions": 1,
    "conversion_rate": 0.5,
    "holdout_conversions": None,
    "holdout_rate": None,
    "uplift": None,
    "orders": 1,
    "revenue": 15000,
    "cost": 6,
    "roi": 2500.0,
    "currency": "BRL",
}


def test_campaign_results_from_sends_outcomes_and_orders(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    campaigns_world(services)
    found = client.get("/api/analytics/campaigns", params=PERIOD, headers=admin)
    assert found.status_code == 200, found.text
    assert found.json() == {
        "period": {
            "from": "2026-04-01",
            "to": "2026-04-08",
            "channel": None,
            "segment": None,
            "store": None,
        },
        "currency": "BRL",
        "campaigns": [JOURNEY_ROW, BROADCAST_ROW],
    }
    assert table_counts(services, "analytics_campaign_sends") == {"analytics_campaign_sends": 5}

    sms = client.get("/api/analytics/campaigns", params={**PERIOD, "channel": "sms"}, headers=admin)
    assert sms.json()["campaigns"] == [
        {
            **JOURNEY_ROW,
            "sends": 2,
            "delivered": 1,
            "delivery_rate": 0.5,
            "cost": 20,
            "roi": 1000.0,
        }
    ]
    # Sends count on the day they were decided: the broadcast's day alone.
    later = client.get(
        "/api/analytics/campaigns", params={"from": "2026-04-02", "to": "2026-04-03"}, headers=admin
    )
    assert [(c["kind"], c["sends"]) for c in later.json()["campaigns"]] == [
        ("journey", 0),
        ("broadcast", 2),
    ]


def test_campaigns_as_csv(client: TestClient, services: Services, admin: dict[str, str]) -> None:
    campaigns_world(services)
    response = client.get(
        "/api/analytics/campaigns", params={**PERIOD, "format": "csv"}, headers=admin
    )
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == (
        "kind,id,name,version,sends,delivered,delivery_rate,entered,treated,holdout,"
        "conversions,conversion_rate,holdout_conversions,holdout_rate,uplift,orders,revenue,"
        "cost,roi,currency\n"
        "journey,journey-1,Welcome,1,3,2,0.6667,5,3,2,2,0.6667,1,0.5,0.1667,1,20000,21,"
        "952.381,BRL\n"
        "broadcast,broadcast-1,Spring sale,,2,1,0.5,,,,1,0.5,,,,1,15000,6,2500.0,BRL\n"
    )


def test_campaigns_refuse_segment_and_store_filters(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    for name in ("segment", "store"):
        response = client.get("/api/analytics/campaigns", params={name: "x1"}, headers=admin)
        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "unsupported_parameter",
            "message": f"the campaigns report does not take {name}",
            "field": name,
        }


def test_an_erased_customer_leaves_the_sends_and_not_the_totals(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    campaigns_world(services)
    with services.uow() as uow:
        erased = services.service_analytics.erase_subject(_erase_query("c1"), uow)
        uow.commit()
    assert erased.counts == {
        "analytics_service_conversations": 0,
        "analytics_service_friction": 0,
        "analytics_campaign_sends": 1,
    }
    with services.engines.main.connect() as conn:
        left = conn.execute(sa.text("SELECT send_id FROM analytics_campaign_sends ORDER BY 1"))
        assert list(left.scalars()) == ["b:1:c6", "b:1:c7", "j:1:c2", "j:1:c5"]
    found = client.get("/api/analytics/campaigns", params=PERIOD, headers=admin).json()
    assert found["campaigns"] == [JOURNEY_ROW, BROADCAST_ROW]


def _erase_query(customer: str) -> EraseSubject:
    return EraseSubject(Subject(customer, customer, (customer,), ()), "r1", T0)

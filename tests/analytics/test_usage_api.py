"""The channel reports end to end: events through the ingestion API and the worker, a
conversation through `receive_inbound` and an agent's reply, an order placed and a message
the gate sent; a merge folds two profiles into one customer. Exact figures in JSON and CSV;
a bad parameter is a 400 naming it."""

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.access.model import principal_for_role
from omnicx.bootstrap import Services
from omnicx.commerce.messages import OrderPlaced
from omnicx.config import Settings
from omnicx.conversations import InboundMessage, Reply
from omnicx.conversations.fakes import FakeChannelSender
from omnicx.events import Source, create_source
from omnicx.kernel import FixedClock
from omnicx.orchestration.messages import MessageDecided
from omnicx.orchestration.store.segments import segment_members
from omnicx.profiles import Identifier
from tests.access.conftest import add_user, sign_in
from tests.conftest import table_counts

PERIOD = {"from": "2026-03-01", "to": "2026-03-08"}
AGENT = principal_for_role("user", "agent-1", "Agent One", "agent")
BIA_PHONE = "+5511922220000"
CAIO_PHONE = "+5511933330000"


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def iso(day: int, hour: int, minute: int = 0) -> str:
    return t(day, hour, minute).isoformat().replace("+00:00", "Z")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here; test_usage_databases.py runs the read models on both databases."""
    return f"sqlite:///{tmp_path / 'omnicx.db'}"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        analytics_message_costs={"sms": "0.05", "email": "0.01"},
        analytics_agent_minute_cost=0.5,
    )


def _source(services: Services, name: str, channel: str) -> Source:
    with services.uow() as uow:
        made = create_source(services.events(uow), name, channel, uow.clock.now())
        uow.commit()
    return made


def _post(client: TestClient, source: Source, *events: dict[str, Any]) -> None:
    token = base64.b64encode(f"{source.write_key}:".encode()).decode()
    response = client.post(
        "/v1/batch", json={"batch": list(events)}, headers={"Authorization": f"Basic {token}"}
    )
    assert response.status_code == 200, response.text


def _at(services: Services, when: datetime) -> None:
    services.uow.clock = FixedClock(when)
    services.clock = FixedClock(when)


def customer(services: Services, kind: str, value: str) -> str:
    with services.uow(write=False) as uow:
        profiles = services.profiles(uow)
        owner = profiles.owners({Identifier(kind, value)})[Identifier(kind, value)]
        found = profiles.get(owner)
        assert found is not None
        return found.canonical_id


def history(client: TestClient, services: Services, drain: Callable[[], int]) -> None:
    """Ana: web, app, a store purchase, an email answered by an agent. Bia: web, then a store
    purchase under another profile, joined by a later sign-in. Caio: a call, then a web order."""
    web = _source(services, "Web shop", "web")
    app = _source(services, "App", "app")
    store = _source(services, "Store", "store")
    calls = _source(services, "Calls", "call_center")
    _post(
        client,
        web,
        {
            "type": "identify",
            "userId": "ana",
            "traits": {"email": "ana@example.com", "birthday": "1990-05-01"},
            "timestamp": iso(2, 10),
            "messageId": "w1",
        },
        {
            "type": "page",
            "userId": "ana",
            "name": "Home",
            "timestamp": iso(2, 11),
            "messageId": "w2",
        },
        {
            "type": "identify",
            "userId": "bia",
            "traits": {"email": "bia@example.com"},
            "timestamp": iso(2, 12),
            "messageId": "w3",
        },
    )
    _post(
        client,
        app,
        {
            "type": "screen",
            "userId": "ana",
            "name": "Home",
            "timestamp": iso(3, 9),
            "messageId": "a1",
        },
    )
    _post(
        client,
        calls,
        {
            "type": "track",
            "anonymousId": "call-1",
            "event": "Call Received",
            "properties": {"duration_seconds": 300},
            "context": {"traits": {"phone": CAIO_PHONE}},
            "timestamp": iso(3, 14),
            "messageId": "c1",
        },
    )
    _post(
        client,
        store,
        {
            "type": "track",
            "userId": "ana",
            "event": "Order Completed",
            "properties": {"total": 120.5, "currency": "BRL", "store_id": "SP-1"},
            "timestamp": iso(4, 15),
            "messageId": "s1",
        },
        {
            "type": "track",
            "anonymousId": "pos-1",
            "event": "Order Completed",
            "properties": {"total": "50.00", "store_id": "SP-2"},
            "context": {"traits": {"phone": BIA_PHONE}},
            "timestamp": iso(5, 11),
            "messageId": "s2",
        },
    )
    assert drain() == 7
    _post(
        client,
        web,
        {
            "type": "identify",
            "userId": "bia",
            "traits": {"phone": BIA_PHONE},
            "timestamp": iso(6, 10),
            "messageId": "w4",
        },
    )
    assert drain() == 1
    services.channel_senders["email"] = FakeChannelSender("email")
    _at(services, t(5, 9))
    receipt = services.receive_inbound(
        InboundMessage(
            channel="email",
            account="support@shop.example",
            sender=(("email", "ana@example.com"),),
            received_at=t(5, 9),
            provider_message_id="mail-1",
            text="Where is my parcel?",
        )
    )
    _at(services, t(5, 10))
    services.reply(receipt.conversation_id, Reply(author=AGENT, channel="email", text="Today"))
    caio = customer(services, "phone", CAIO_PHONE)
    with services.uow() as uow:
        uow.raise_event(
            MessageDecided("send-1", caio, "send", "sms", "allowed", "ok", None, "journey", t(6, 8))
        )
        uow.raise_event(
            MessageDecided("send-2", caio, "skip", None, "quiet", "quiet", None, "journey", t(6, 8))
        )
        uow.raise_event(OrderPlaced("o1", caio, "web", None, 9990, "BRL", ("ship",), t(6, 20)))
        uow.commit()


@pytest.fixture
def filled(client: TestClient, services: Services, drain: Callable[[], int]) -> None:
    history(client, services, drain)


def ok(client: TestClient, path: str, admin: dict[str, str], **params: Any) -> Any:
    response = client.get(f"/api/analytics/{path}", params=params, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


PERIOD_BODY = {
    "from": "2026-03-01",
    "to": "2026-03-08",
    "channel": None,
    "segment": None,
    "store": None,
}


@pytest.mark.usefixtures("filled")
def test_channel_usage_per_day_and_month(client: TestClient, admin: dict[str, str]) -> None:
    body = ok(client, "channel-usage", admin, **PERIOD)
    assert body["period"] == PERIOD_BODY
    assert [
        (r["bucket"], r["channel"], r["interactions"], r["new_customers"], r["new_to_channel"])
        for r in body["series"]
    ] == [
        ("2026-03-02", "web", 3, 2, 2),
        ("2026-03-03", "app", 1, 0, 1),
        ("2026-03-03", "call_center", 1, 1, 1),
        ("2026-03-04", "store", 1, 0, 1),
        ("2026-03-05", "email", 1, 0, 1),
        ("2026-03-05", "store", 1, 1, 1),
        ("2026-03-06", "web", 2, 0, 1),
    ]
    assert body["totals"][0] == {
        "channel": "web",
        "interactions": 5,
        "new_customers": 2,
        "new_to_channel": 3,
    }
    monthly = client.get(
        "/api/analytics/channel-usage",
        params={**PERIOD, "bucket": "month", "format": "csv"},
        headers=admin,
    )
    assert monthly.status_code == 200
    assert monthly.headers["content-type"] == "text/csv; charset=utf-8"
    assert monthly.headers["content-disposition"] == (
        'attachment; filename="omnicx-channel-usage-2026-03-01-2026-03-08.csv"'
    )
    assert monthly.text == (
        "bucket,channel,interactions,new_customers,new_to_channel,customers\n"
        "2026-03-01,app,1,0,1,1\n"
        "2026-03-01,call_center,1,1,1,1\n"
        "2026-03-01,email,1,0,1,1\n"
        "2026-03-01,store,2,1,2,2\n"
        "2026-03-01,web,5,2,3,3\n"
    )
    one = ok(client, "channel-usage", admin, **PERIOD, channel="store", bucket="week")
    assert [(r["bucket"], r["interactions"]) for r in one["series"]] == [("2026-03-02", 2)]


@pytest.mark.usefixtures("filled")
def test_propensity_and_clv_after_the_merge(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    body = ok(client, "propensity", admin)
    assert body["period"]["from"] is None
    assert body["customers"] == 3
    assert body["overall"] == [
        {"channels": "1", "customers": 0, "share": 0.0},
        {"channels": "2", "customers": 2, "share": 0.6667},
        {"channels": "3", "customers": 0, "share": 0.0},
        {"channels": "4+", "customers": 1, "share": 0.3333},
    ]
    assert [
        (b["age_band"], b["channels"], b["customers"])
        for b in body["by_age_band"]
        if b["customers"]
    ] == [
        ("35-44", "4+", 1),
        ("unknown", "2", 2),
    ]
    clv = ok(client, "clv", admin)
    assert clv["currency"] == "BRL"
    assert clv["by_first_channel"] == [
        {
            "group": "web",
            "customers": 2,
            "orders": 2,
            "revenue": 17050,
            "clv": 8525,
            "orders_per_customer": 1.0,
        },
        {
            "group": "call_center",
            "customers": 1,
            "orders": 1,
            "revenue": 9990,
            "clv": 9990,
            "orders_per_customer": 1.0,
        },
    ]
    assert clv["by_channels_used"] == [
        {
            "group": "2",
            "customers": 2,
            "orders": 2,
            "revenue": 14990,
            "clv": 7495,
            "orders_per_customer": 1.0,
        },
        {
            "group": "4+",
            "customers": 1,
            "orders": 1,
            "revenue": 12050,
            "clv": 12050,
            "orders_per_customer": 1.0,
        },
    ]
    later = ok(client, "clv", admin, **{"from": "2026-03-03"})
    assert [r["group"] for r in later["by_first_channel"]] == ["call_center"]
    csv = client.get("/api/analytics/clv", params={"format": "csv"}, headers=admin)
    assert csv.headers["content-disposition"] == 'attachment; filename="omnicx-clv-start-now.csv"'
    assert csv.text == (
        "dimension,group,customers,orders,revenue,clv\n"
        "first_channel,web,2,2,17050,8525\n"
        "first_channel,call_center,1,1,9990,9990\n"
        "channels_used,2,2,2,14990,7495\n"
        "channels_used,4+,1,1,12050,12050\n"
    )
    assert table_counts(services, "analytics_customers") == {"analytics_customers": 3}


@pytest.mark.usefixtures("filled")
def test_a_segment_narrows_propensity_and_clv_to_its_members(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    made = client.post(
        "/api/segments",
        json={"name": "Ana", "condition": {"trait": "vip", "op": "eq", "value": "yes"}},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    segment = made.json()["id"]
    with services.engines.main.begin() as conn:
        conn.execute(
            segment_members.insert().values(
                segment_id=segment,
                profile_id=customer(services, "email", "ana@example.com"),
                since=t(7, 0),
            )
        )
    body = ok(client, "propensity", admin, segment=segment)
    assert (body["period"]["segment"], body["customers"]) == (segment, 1)
    assert [s["customers"] for s in body["overall"]] == [0, 0, 0, 1]
    clv = ok(client, "clv", admin, segment=segment)
    assert [(r["group"], r["revenue"]) for r in clv["by_first_channel"]] == [("web", 12050)]
    assert [(r["group"], r["customers"]) for r in clv["by_channels_used"]] == [("4+", 1)]


@pytest.mark.usefixtures("filled")
def test_paths_before_purchases_and_contacts(client: TestClient, admin: dict[str, str]) -> None:
    body = ok(client, "paths", admin, **PERIOD)
    assert (body["outcome"], body["total"]) == ("purchase", 3)
    assert body["paths"] == [
        {"path": ["call_center", "web"], "times": 1, "share": 0.3333},
        {"path": ["store"], "times": 1, "share": 0.3333},
        {"path": ["web", "app", "store"], "times": 1, "share": 0.3333},
    ]
    assert body["sankey"]["links"][:2] == [
        {"source": "1:call_center", "target": "2:web", "value": 1},
        {"source": "1:store", "target": "purchase", "value": 1},
    ]
    contacts = client.get(
        "/api/analytics/paths",
        params={**PERIOD, "outcome": "contact", "format": "csv"},
        headers=admin,
    )
    assert contacts.text == (
        "path,times,share\ncall_center,1,0.5\nweb > app > store > email,1,0.5\n"
    )
    stores = ok(client, "paths", admin, **PERIOD, channel="store", limit=1)
    assert (stores["total"], [p["path"] for p in stores["paths"]]) == (2, [["store"]])


@pytest.mark.usefixtures("filled")
def test_conversions_economics_and_heatmap(client: TestClient, admin: dict[str, str]) -> None:
    body = ok(client, "conversions", admin, **PERIOD)
    assert body["totals"] == [
        {
            "direction": "online_to_offline",
            "conversions": 1,
            "revenue": 12050,
            "purchases": 2,
            "rate": 0.5,
        },
        {
            "direction": "offline_to_online",
            "conversions": 0,
            "revenue": 0,
            "purchases": 1,
            "rate": 0.0,
        },
    ]
    assert (body["days"], body["currency"]) == (7, "BRL")
    one_store = ok(client, "conversions", admin, **PERIOD, store="SP-2")
    assert one_store["channels"] == [
        {
            "direction": "online_to_offline",
            "channel": "store",
            "conversions": 0,
            "revenue": 0,
            "purchases": 1,
            "rate": 0.0,
        }
    ]
    economics = client.get(
        "/api/analytics/economics", params={**PERIOD, "format": "csv"}, headers=admin
    )
    assert economics.text == (
        "channel,orders,revenue,messages_sent,agent_minutes,message_cost,agent_cost,"
        "cost_to_serve,revenue_per_order\n"
        "call_center,0,0,0,5.0,0,250,250,0\n"
        "email,0,0,1,2.0,1,100,101,0\n"
        "sms,0,0,1,0.0,5,0,5,0\n"
        "store,2,17050,0,0.0,0,0,0,8525\n"
        "web,1,9990,0,0.0,0,0,0,9990\n"
        "all,3,27040,2,7.0,6,350,356,9013\n"
    )
    store = ok(client, "economics", admin, **PERIOD, store="SP-1")
    assert [(r["channel"], r["orders"], r["revenue"]) for r in store["channels"]] == [
        ("store", 1, 12050)
    ]
    heat = ok(client, "heatmap", admin, **PERIOD, channel="web")
    assert heat["cells"] == [
        {"channel": "web", "weekday": 1, "hour": 10, "interactions": 1},
        {"channel": "web", "weekday": 1, "hour": 11, "interactions": 1},
        {"channel": "web", "weekday": 1, "hour": 12, "interactions": 1},
        {"channel": "web", "weekday": 5, "hour": 10, "interactions": 1},
        {"channel": "web", "weekday": 5, "hour": 20, "interactions": 1},
    ]
    local = ok(client, "heatmap", admin, **PERIOD, channel="store", tz="America/Sao_Paulo")
    assert [(c["weekday"], c["hour"]) for c in local["cells"]] == [(3, 12), (4, 8)]


BAD = [
    ("economics", {"from": "2026-03-08", "to": "2026-03-01"}, "from", "invalid_period"),
    ("economics", {"from": "March"}, "from", "invalid_date"),
    ("economics", {"to": "2026-02-30"}, "to", "invalid_date"),
    ("economics", {"segment": "s1"}, "segment", "unsupported_parameter"),
    ("channel-usage", {"store": "SP-1"}, "store", "unsupported_parameter"),
    ("channel-usage", {"bucket": "year"}, "bucket", "invalid_bucket"),
    ("paths", {"outcome": "visit"}, "outcome", "invalid_outcome"),
    ("paths", {"limit": "ten"}, "limit", "invalid_limit"),
    ("paths", {"limit": "500"}, "limit", "invalid_limit"),
    ("propensity", {"segment": "no-such-segment"}, "segment", "unknown_segment"),
    ("heatmap", {"tz": "Nowhere/City"}, "tz", "invalid_tz"),
    ("conversions", {"channel": "Web!"}, "channel", "invalid_channel"),
    ("clv", {"format": "xml"}, "format", "invalid_format"),
]


def test_a_bad_parameter_is_a_400_naming_it(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    before = table_counts(services, "analytics_customers", "analytics_channel_days")
    for path, params, field, code in BAD:
        response = client.get(f"/api/analytics/{path}", params=params, headers=admin)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (path, error["field"], error["code"]) == (path, field, code)
    assert table_counts(services, "analytics_customers", "analytics_channel_days") == before


def test_the_reports_need_analytics_read(client: TestClient, services: Services) -> None:
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    for email, role, status in (
        ("agent@shop.example", "agent", 403),
        ("bi@shop.example", "analyst", 200),
    ):
        add_user(services, email, role)
        headers = {"Authorization": f"Bearer {sign_in(services, email)}"}
        assert client.get("/api/analytics/economics", headers=headers).status_code == status


@pytest.mark.usefixtures("filled")
def test_erasure_takes_the_summary_and_leaves_the_counts(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    ana = customer(services, "email", "ana@example.com")
    response = client.post(
        "/api/privacy/requests",
        json={"kind": "erasure", "customer_id": ana, "reason": "ticket 88"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["analytics"] == {
        "analytics_customers": 1,
        "analytics_seen_months": 4,
    }
    assert table_counts(services, "analytics_customers") == {"analytics_customers": 2}
    assert ok(client, "economics", admin, **PERIOD)["total"]["revenue"] == 27040

"""The channel read models on SQLite and PostgreSQL: a merge inside an ingest chunk and one
across chunks, the monthly dedupe's RETURNING, the counters' upserts and the reports."""

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.analytics import usage_query
from omnicx.bootstrap import Services
from tests.conftest import table_counts

PHONE = "+5511922220000"


def _batch(client: TestClient, auth: dict[str, str], *events: dict[str, object]) -> None:
    response = client.post("/v1/batch", json={"batch": list(events)}, headers=auth)
    assert response.status_code == 200, response.text


def test_merges_fold_customers_on_both_databases(
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    _batch(
        client,
        write_auth,
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"email": "u1@example.com", "age": 30},
            "timestamp": "2026-03-02T10:00:00Z",
            "messageId": "m1",
        },
        {
            "type": "track",
            "anonymousId": "pos-1",
            "event": "Order Completed",
            "properties": {"total": 10, "store_id": "SP-1"},
            "context": {"channel": "store", "traits": {"phone": PHONE}},
            "timestamp": "2026-03-03T15:00:00Z",
            "messageId": "m2",
        },
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"phone": PHONE},
            "timestamp": "2026-03-04T09:00:00Z",
            "messageId": "m3",
        },
        {
            "type": "track",
            "anonymousId": "pos-2",
            "event": "Order Completed",
            "properties": {"total": 5},
            "context": {"channel": "store", "traits": {"email": "u2@example.com"}},
            "timestamp": "2026-04-01T12:00:00Z",
            "messageId": "m4",
        },
    )
    assert drain() == 4
    _batch(
        client,
        write_auth,
        {
            "type": "page",
            "anonymousId": "anon-9",
            "name": "Home",
            "timestamp": "2026-04-02T12:00:00Z",
            "messageId": "m5",
        },
    )
    assert drain() == 1
    assert table_counts(services, "analytics_customers") == {"analytics_customers": 3}
    _batch(
        client,
        write_auth,
        {
            "type": "identify",
            "anonymousId": "anon-9",
            "traits": {"email": "u2@example.com"},
            "timestamp": "2026-04-03T12:00:00Z",
            "messageId": "m6",
        },
    )
    assert drain() == 1
    with services.engines.main.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT channels, channel_count, age_band, orders, revenue, first_channel "
                "FROM analytics_customers"
            )
        ).all()
        months = conn.execute(
            sa.text("SELECT month, channel, customers FROM analytics_channel_months ORDER BY 1, 2")
        ).all()
    assert sorted(tuple(r)[1:] for r in rows) == [
        (2, "25-34", 1, 1000, "web"),
        (2, "unknown", 1, 500, "store"),
    ]
    assert [tuple(m) for m in months] == [
        (202603, "store", 1),
        (202603, "web", 1),
        (202604, "store", 1),
        (202604, "web", 1),
    ]
    today = date(2026, 4, 5)
    with services.uow(write=False) as uow:
        report = services.analytics.report
        paths = report(uow, usage_query("paths", today=today, start=date(2026, 3, 1)))
        propensity = report(uow, usage_query("propensity", today=today))
        clv = report(uow, usage_query("clv", today=today))
        conversions = report(uow, usage_query("conversions", today=today, start=date(2026, 3, 1)))
        zone = "America/Sao_Paulo"
        heat = report(uow, usage_query("heatmap", today=today, start=date(2026, 3, 1), zone=zone))
    assert paths.table()[1] == [("store", 1, 0.5), ("web > store", 1, 0.5)]
    assert propensity.table()[1][:4] == [
        ("all", "1", 0, 0.0),
        ("all", "2", 2, 1.0),
        ("all", "3", 0, 0.0),
        ("all", "4+", 0, 0.0),
    ]
    assert clv.table()[1] == [
        ("first_channel", "web", 1, 1, 1000, 1000),
        ("first_channel", "store", 1, 1, 500, 500),
        ("channels_used", "2", 2, 2, 1500, 750),
    ]
    assert conversions.table()[1] == [("online_to_offline", "store", 1, 1000, 2, 0.5)]
    assert heat.table()[1] == [
        ("store", 2, 12, 1),
        ("store", 3, 9, 1),
        ("web", 1, 7, 1),
        ("web", 3, 6, 1),
        ("web", 4, 9, 1),
        ("web", 5, 9, 1),
    ]
    assert table_counts(services, "analytics_seen_months") == {"analytics_seen_months": 4}

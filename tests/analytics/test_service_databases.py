"""The service, campaign and QR read models add up the same on SQLite and PostgreSQL (upserts,
first-send dedupe, merges moved in one statement)."""

from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.analytics import test_service_campaigns as campaigns
from tests.analytics.test_service_reports import EXPECTED_CELLS, PERIOD, history, ok


def test_read_models_on_both_databases(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    history(client, services, admin)
    reasons = ok(client.get("/api/analytics/channel-reasons", params=PERIOD, headers=admin))
    assert reasons["cells"] == EXPECTED_CELLS
    found = ok(client.get("/api/analytics/friction", params=PERIOD, headers=admin))
    assert [
        (c["channel"], c["conversations"], c["repeat_contacts"], c["switches_out"])
        for c in found["channels"]
    ] == [("email", 2, 0, 1), ("sms", 1, 0, 0), ("whatsapp", 1, 1, 0)]

    campaigns.campaigns_world(services)
    rows = ok(client.get("/api/analytics/campaigns", params=campaigns.PERIOD, headers=admin))
    expected = [
        {**row, "cost": 0, "roi": None} for row in (campaigns.JOURNEY_ROW, campaigns.BROADCAST_ROW)
    ]
    assert rows["campaigns"] == expected

    code = ok(
        client.post(
            "/api/analytics/qr-codes",
            json={
                "name": "Till receipts",
                "campaign": "loyalty",
                "target_url": "https://shop.example/club",
                "medium": "receipt",
            },
            headers=admin,
        ),
        201,
    )
    for _ in range(2):
        assert client.get(f"/q/{code['code']}", follow_redirects=False).status_code == 302
    listed = ok(client.get("/api/analytics/qr-codes", headers=admin))["items"]
    assert [(i["scans"], i["known_scans"]) for i in listed] == [(2, 0)]

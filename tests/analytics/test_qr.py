"""QR codes for offline media: made by a marketer, listed with their scans, drawn as PNG and
SVG, and scanned: counted, redirected with utm parameters, and put on the timeline of a
visitor omnicx knows (the analytics.js cookie or a signed `uid`) as the `qr` channel."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from omnicx.analytics import qr
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.events.messages import EventsStored
from omnicx.kernel import FixedClock
from tests.conftest import table_counts

T0 = datetime(2026, 6, 1, 15, tzinfo=UTC)
POSTER = {
    "name": "Winter posters",
    "campaign": "winter-sale",
    "target_url": "https://shop.example/winter?ref=poster",
    "medium": "poster",
}
TABLES = ("analytics_qr_codes", "analytics_qr_scans", "events")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'omnicx.db'}"


@pytest.fixture
def services(make_settings: Callable[..., Settings]) -> Iterator[Services]:
    settings = make_settings(
        public_base_url="https://cx.shop.example", rate_limit_qr_address="3/minute"
    )
    built = build(settings, clock=FixedClock(T0))
    upgrade(built.engines)
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(app_for(services, run_worker=False), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def stored(services: Services) -> list[EventsStored]:
    seen: list[EventsStored] = []
    services.bus.subscribe(EventsStored, lambda event, uow: seen.append(event))
    return seen


def make_code(client: TestClient, admin: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/api/analytics/qr-codes", json={**POSTER, **changes}, headers=admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_marketer_makes_a_code_and_gets_its_images(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    made = make_code(client, admin)
    assert qr.CODE.match(made["code"])
    assert {k: made[k] for k in ("name", "campaign", "target_url", "medium", "store")} == {
        **POSTER,
        "store": None,
    }
    assert made["scan_url"] == f"https://cx.shop.example/q/{made['code']}"
    assert (made["scans"], made["known_scans"], made["period_scans"]) == (0, 0, 0)
    assert made["png_url"] == f"/api/analytics/qr-codes/{made['id']}.png"

    png = client.get(made["png_url"], headers=admin)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content == qr.png(made["scan_url"])
    svg = client.get(made["svg_url"], params={"scale": "4"}, headers=admin)
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.content == qr.svg(made["scan_url"], scale=4)
    assert svg.text.startswith("<svg ")

    bad_scale = client.get(made["png_url"], params={"scale": "0"}, headers=admin)
    assert bad_scale.status_code == 400
    assert bad_scale.json()["error"]["field"] == "scale"
    missing = client.get("/api/analytics/qr-codes/nope.png", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "qr_code_not_found"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_url": "javascript:alert(1)"}, "target_url"),
        ({"target_url": "https://user:pw@shop.example/"}, "target_url"),
        ({"name": "   "}, "name"),
        ({"store": "SP01"}, "store"),
    ],
)
def test_a_bad_code_is_refused_and_nothing_is_written(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    changes: dict[str, str],
    field: str,
) -> None:
    response = client.post("/api/analytics/qr-codes", json={**POSTER, **changes}, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert table_counts(services, "analytics_qr_codes") == {"analytics_qr_codes": 0}


def test_making_a_code_needs_journeys_write(
    client: TestClient, services: Services, reader: dict[str, str]
) -> None:
    response = client.post("/api/analytics/qr-codes", json=POSTER, headers=reader)
    assert response.status_code == 403
    assert table_counts(services, "analytics_qr_codes") == {"analytics_qr_codes": 0}
    assert client.get("/api/analytics/qr-codes", headers=reader).status_code == 200


def test_an_anonymous_scan_is_counted_and_redirected_with_utm_parameters(
    client: TestClient, services: Services, admin: dict[str, str], stored: list[EventsStored]
) -> None:
    made = make_code(client, admin)
    scanned = client.get(f"/q/{made['code']}")
    assert scanned.status_code == 302
    location = urlsplit(scanned.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "shop.example", "/winter")
    assert parse_qs(location.query) == {
        "ref": ["poster"],
        "utm_source": ["qr"],
        "utm_medium": ["poster"],
        "utm_campaign": ["winter-sale"],
        "utm_content": [made["code"]],
    }
    assert table_counts(services, *TABLES) == {
        "analytics_qr_codes": 1,
        "analytics_qr_scans": 1,
        "events": 0,
    }
    assert stored == []
    listed = client.get(
        "/api/analytics/qr-codes", params={"from": "2026-06-01", "to": "2026-06-02"}, headers=admin
    ).json()
    assert [
        (i["code"], i["scans"], i["known_scans"], i["period_scans"], i["period_known_scans"])
        for i in listed["items"]
    ] == [(made["code"], 1, 0, 1, 0)]
    assert listed["items"][0]["last_scan_at"] == "2026-06-01T15:00:00Z"
    before = client.get(
        "/api/analytics/qr-codes", params={"from": "2026-05-01", "to": "2026-06-01"}, headers=admin
    ).json()
    assert [(i["scans"], i["period_scans"]) for i in before["items"]] == [(1, 0)]


def test_a_known_visitor_scan_lands_on_their_timeline_as_the_qr_channel(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
    stored: list[EventsStored],
) -> None:
    made = make_code(client, admin, store=None)
    sent = client.post(
        "/v1/track",
        json={"anonymousId": "anon-42", "event": "Product Viewed"},
        headers=write_auth,
    )
    assert sent.status_code == 200, sent.text
    assert drain() == 1
    stored.clear()
    client.cookies.set("ajs_anonymous_id", "%22anon-42%22")
    scanned = client.get(f"/q/{made['code']}")
    client.cookies.clear()
    assert scanned.status_code == 302

    assert len(stored) == 1
    (row,) = stored[0].rows
    customer = row["profile_id"]
    assert customer is not None
    assert {k: row[k] for k in ("type", "event", "channel", "source_id")} == {
        "type": "track",
        "event": "QR Code Scanned",
        "channel": "qr",
        "source_id": "qr",
    }
    assert row["properties"] == {
        "code": made["code"],
        "qr_code_id": made["id"],
        "name": "Winter posters",
        "campaign": "winter-sale",
        "medium": "poster",
    }
    timeline = client.get(f"/api/customers/{customer}/timeline", headers=admin)
    assert timeline.status_code == 200, timeline.text
    assert sorted((e["event"], e["channel"]) for e in timeline.json()["items"]) == [
        ("Product Viewed", "web"),
        ("QR Code Scanned", "qr"),
    ]
    listed = client.get("/api/analytics/qr-codes", headers=admin).json()["items"]
    assert [(i["scans"], i["known_scans"]) for i in listed] == [(1, 1)]

    # A receipt printed for that customer carries their signed id, even without the cookie.
    image = client.get(made["png_url"], params={"customer": customer}, headers=admin)
    uid = qr.sign_uid(qr.uid_key(services.cipher.keyring.index_key), customer)
    assert image.content == qr.png(f"https://cx.shop.example/q/{made['code']}?uid={uid}")
    by_uid = client.get(f"/q/{made['code']}", params={"uid": uid})
    assert by_uid.status_code == 302
    assert [s.rows[0]["profile_id"] for s in stored[1:]] == [customer]
    # A forged one counts as anonymous.
    forged = client.get(f"/q/{made['code']}", params={"uid": uid[:-2] + "xx"})
    assert forged.status_code == 302
    assert len(stored) == 2
    listed = client.get("/api/analytics/qr-codes", headers=admin).json()["items"]
    assert [(i["scans"], i["known_scans"]) for i in listed] == [(3, 2)]


def test_an_unknown_code_is_a_404_page_and_counts_nothing(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    make_code(client, admin)
    for code in ("abcdefghjk", "ABC%20DEF", "x" * 300):
        response = client.get(f"/q/{code}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "This code is not one of ours" in response.text
    assert table_counts(services, *TABLES) == {
        "analytics_qr_codes": 1,
        "analytics_qr_scans": 0,
        "events": 0,
    }


def test_scans_past_the_rate_limit_still_redirect_but_are_not_counted(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    made = make_code(client, admin)
    answers = [client.get(f"/q/{made['code']}").status_code for _ in range(5)]
    assert answers == [302] * 5
    listed = client.get("/api/analytics/qr-codes", headers=admin).json()["items"]
    assert [i["scans"] for i in listed] == [3]

"""The inventory API over HTTP: locations, movements, transfers, reservations, availability
and reconciliation; every refusal names its field and writes nothing."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import Argon2PasswordHasher
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock
from omnicx.webhooks.http import FakeWebhookSender
from tests.access.conftest import add_user, sign_in
from tests.conftest import table_counts

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo, a Monday
SKU = "AUR-VES-0201-M"
TABLES = (
    "commerce_locations",
    "commerce_stock_levels",
    "commerce_stock_movements",
    "commerce_reservations",
    "commerce_transfers",
)
STORE = {
    "id": "store-paulista",
    "name": "Store Paulista",
    "kind": "store",
    "capabilities": ["pickup", "ship_from_store", "accept_returns"],
    "address": {"country": "BR", "line1": "Av. Paulista, 1000", "city": "São Paulo"},
    "hours": {
        "timezone": "America/Sao_Paulo",
        "week": {"mon": [["10:00", "22:00"]], "sun": [["14:00", "20:00"]]},
        "exceptions": {"2026-03-09": []},
    },
    "safety_stock": 1,
    "latitude": -23.565,
    "longitude": -46.652,
}
DC = {
    "id": "dc-cajamar",
    "name": "DC Cajamar",
    "kind": "distribution_centre",
    "capabilities": ["ship"],
    "address": {"country": "BR", "city": "Cajamar"},
    "priority": 10,
}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


@pytest.fixture
def services(
    settings: Settings, sender: FakeWebhookSender, clock: FixedClock
) -> Iterator[Services]:
    built = build(settings, clock=clock, sender=sender)
    upgrade(built.engines)
    yield built
    built.close()


@pytest.fixture
def clerk(services: Services) -> dict[str, str]:
    """A staff user at the till: commerce.read and commerce.sell, not commerce.manage."""
    services.passwords = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
    add_user(services, "clerk@shop.example", "store_associate")
    return {"Authorization": f"Bearer {sign_in(services, 'clerk@shop.example')}"}


def counts(services: Services) -> dict[str, int]:
    return table_counts(services, *TABLES)


def post(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(path, json=body, headers=headers)


@pytest.fixture
def stocked(client: TestClient, admin: dict[str, str]) -> None:
    for place in (STORE, DC):
        assert post(client, "/api/commerce/locations", place, admin).status_code == 201
    for where, qty in (("store-paulista", 5), ("dc-cajamar", 40)):
        body = {"kind": "receipt", "location_id": where, "sku": SKU, "qty": qty, "ref": "NF-1"}
        assert post(client, "/api/commerce/stock/movements", body, admin).status_code == 201


def test_a_location_is_created_read_changed_and_says_whether_it_is_open(
    client: TestClient, admin: dict[str, str], clock: FixedClock
) -> None:
    created = post(client, "/api/commerce/locations", STORE, admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["open_now"] is True
    assert body["hours"] == {**STORE["hours"], "always_open": False}  # type: ignore[dict-item]
    assert body["capabilities"] == ["accept_returns", "pickup", "ship_from_store"]
    assert body["address"]["line1"] == "Av. Paulista, 1000"

    clock.advance(timedelta(days=7))  # the Monday of the exception: closed all day
    assert (
        client.get("/api/commerce/locations/store-paulista", headers=admin).json()["open_now"]
        is False
    )

    changed = client.patch(
        "/api/commerce/locations/store-paulista",
        json={"capabilities": ["pickup", "fitting"], "latitude": None, "longitude": None},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["capabilities"] == ["fitting", "pickup"]
    assert changed.json()["latitude"] is None
    listed = client.get("/api/commerce/locations?capability=fitting", headers=admin).json()
    assert [place["id"] for place in listed["items"]] == ["store-paulista"]


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"id": "Store Paulista"}, "id", "invalid_location_id"),
        ({"address": {"country": "Brazil"}}, "address.country", "invalid_address"),
        ({"hours": {"timezone": "Mars/Olympus"}}, "hours.timezone", "unknown_timezone"),
        (
            {"hours": {"week": {"mon": [["22:00", "10:00"]]}}},
            "hours.week.mon[0]",
            "invalid_hours",
        ),
        ({"hours": {"exceptions": {"soon": []}}}, "hours.exceptions.soon", "invalid_hours"),
        ({"capabilities": ["Ship It"]}, "capabilities[0]", "invalid_capability"),
        ({"safety_stock": -1}, "safety_stock", "invalid_safety_stock"),
        ({"longitude": None}, "longitude", "invalid_coordinates"),
    ],
)
def test_bad_locations_are_refused_by_field(
    client: TestClient,
    admin: dict[str, str],
    services: Services,
    change: dict[str, Any],
    field: str,
    code: str,
) -> None:
    response = post(client, "/api/commerce/locations", {**STORE, **change}, admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field
    assert counts(services)["commerce_locations"] == 0


def test_a_location_with_history_cannot_be_deleted(
    client: TestClient, admin: dict[str, str], stocked: None
) -> None:
    refused = client.delete("/api/commerce/locations/store-paulista", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "location_in_use"
    assert post(client, "/api/commerce/locations", {**DC, "id": "spare"}, admin).status_code == 201
    assert client.delete("/api/commerce/locations/spare", headers=admin).status_code == 204
    assert client.get("/api/commerce/locations/spare", headers=admin).status_code == 404
    again = post(client, "/api/commerce/locations", STORE, admin)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "location_exists")


def test_reserve_commit_and_availability_at_the_till(
    client: TestClient, admin: dict[str, str], clerk: dict[str, str], stocked: None
) -> None:
    body = {"location_id": "store-paulista", "sku": SKU, "qty": 2, "key": "pos-1-ticket-9"}
    held = post(client, "/api/commerce/reservations", body, clerk)
    assert held.status_code == 201, held.text
    lease = held.json()
    assert (lease["status"], lease["qty"]) == ("active", 2)
    assert lease["expires_at"] == "2026-03-02T15:15:00Z"
    assert post(client, "/api/commerce/reservations", body, clerk).json() == lease

    availability = client.get(f"/api/commerce/availability/{SKU}", headers=clerk).json()
    assert availability == {
        "sku": SKU,
        "total": 43,
        "items": [
            {
                "location_id": "dc-cajamar",
                "name": "DC Cajamar",
                "kind": "distribution_centre",
                "capabilities": ["ship"],
                "available": 40,
                "open_now": True,
            },
            {
                "location_id": "store-paulista",
                "name": "Store Paulista",
                "kind": "store",
                "capabilities": ["accept_returns", "pickup", "ship_from_store"],
                "available": 3,
                "open_now": True,
            },
        ],
    }
    remote = client.get(f"/api/commerce/availability/{SKU}?remote=true", headers=clerk).json()
    assert [item["available"] for item in remote["items"]] == [40, 2]

    sold = post(
        client, f"/api/commerce/reservations/{lease['id']}/commit", {"ref": "ticket-9"}, clerk
    )
    assert sold.status_code == 200, sold.text
    assert {k: sold.json()[k] for k in ("from_bucket", "to_bucket", "qty", "reason", "ref")} == {
        "from_bucket": "sellable",
        "to_bucket": None,
        "qty": 2,
        "reason": "sale",
        "ref": "ticket-9",
    }
    assert sold.json()["actor"].startswith("user:")
    stock = client.get(f"/api/commerce/stock?sku={SKU}&location=store-paulista", headers=clerk)
    assert [
        {k: item[k] for k in ("sellable", "reserved", "available")}
        for item in stock.json()["items"]
    ] == [{"sellable": 3, "reserved": 0, "available": 3}]


def test_insufficient_stock_is_a_409_that_writes_nothing(
    client: TestClient, admin: dict[str, str], services: Services, stocked: None
) -> None:
    before = counts(services)
    body = {"location_id": "store-paulista", "sku": SKU, "qty": 6, "key": "big"}
    refused = post(client, "/api/commerce/reservations", body, admin)
    assert refused.status_code == 409
    assert refused.json() == {
        "error": {
            "code": "insufficient_stock",
            "message": f"only 5 of {SKU} available at store-paulista",
            "field": "qty",
        }
    }
    remote = {**body, "qty": 5, "remote": True}
    assert post(client, "/api/commerce/reservations", remote, admin).status_code == 409
    assert counts(services) == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"location_id": "store-paulista", "sku": SKU, "qty": 0}, 400, "qty"),
        ({"location_id": "store-paulista", "sku": "has space", "qty": 1}, 400, "sku"),
        (
            {"location_id": "store-paulista", "sku": SKU, "qty": 1, "lease_seconds": 0},
            400,
            "lease_seconds",
        ),
        ({"location_id": "nowhere", "sku": SKU, "qty": 1}, 404, "location_id"),
        ({"location_id": "store-paulista", "sku": SKU}, 422, None),
    ],
)
def test_bad_reservations_name_the_field_and_write_nothing(
    client: TestClient,
    admin: dict[str, str],
    services: Services,
    stocked: None,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    before = counts(services)
    response = post(client, "/api/commerce/reservations", body, admin)
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["error"]["field"] == field
    assert counts(services) == before


def test_release_extend_and_expiry_over_http(
    client: TestClient, admin: dict[str, str], clock: FixedClock, stocked: None
) -> None:
    body = {"location_id": "store-paulista", "sku": SKU, "qty": 1, "lease_seconds": 60}
    lease = post(client, "/api/commerce/reservations", body, admin).json()
    extended = post(
        client, f"/api/commerce/reservations/{lease['id']}/extend", {"lease_seconds": 600}, admin
    )
    assert extended.json()["expires_at"] == "2026-03-02T15:10:00Z"
    released = post(client, f"/api/commerce/reservations/{lease['id']}/release", {}, admin)
    assert released.json()["status"] == "released"

    other = post(client, "/api/commerce/reservations", body, admin).json()
    clock.advance(timedelta(minutes=2))
    late = post(client, f"/api/commerce/reservations/{other['id']}/commit", {}, admin)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "reservation_expired")
    assert (
        client.get(f"/api/commerce/reservations/{other['id']}", headers=admin).json()["status"]
        == "active"
    )
    missing = post(client, "/api/commerce/reservations/nope/commit", {}, admin)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "reservation_not_found")


def test_movements_of_every_kind_and_the_ledger(
    client: TestClient, admin: dict[str, str], services: Services, stocked: None
) -> None:
    where = {"location_id": "store-paulista", "sku": SKU}
    for body in (
        {"kind": "damage", "qty": 1, "note": "torn seam"},
        {"kind": "display", "qty": 1},
        {"kind": "restock", "qty": 1},
        {"kind": "write_off", "qty": 1},
        {"kind": "adjustment", "qty": -1, "ref": "count-7"},
        {"kind": "return", "qty": 1, "bucket": "damaged", "ref": "RMA-3"},
    ):
        response = post(client, "/api/commerce/stock/movements", {**where, **body}, admin)
        assert response.status_code == 201, (body, response.text)
    [level] = client.get("/api/commerce/stock?location=store-paulista", headers=admin).json()[
        "items"
    ]
    assert {k: level[k] for k in ("sellable", "display", "damaged", "in_transit")} == {
        "sellable": 3,
        "display": 0,
        "damaged": 1,
        "in_transit": 0,
    }
    page = client.get(
        f"/api/commerce/stock/movements?location=store-paulista&sku={SKU}&limit=3", headers=admin
    ).json()
    assert [m["reason"] for m in page["items"]] == ["return", "adjustment", "write_off"]
    older = client.get(
        f"/api/commerce/stock/movements?location=store-paulista&before={page['next_before']}",
        headers=admin,
    ).json()
    assert [m["reason"] for m in older["items"]] == ["restock", "display", "damage", "receipt"]
    assert older["next_before"] is None
    assert older["items"][2]["note"] == "torn seam"
    assert client.get("/api/commerce/stock/reconcile", headers=admin).json() == {"differences": []}

    before = counts(services)
    for body, status, field in (
        ({"kind": "write_off", "qty": 5}, 409, "qty"),
        ({"kind": "adjustment", "qty": 0}, 400, "qty"),
        ({"kind": "transfer", "qty": 1}, 400, "to_location_id"),
        ({"kind": "transfer", "qty": 1, "to_location_id": "store-paulista"}, 400, "to_location_id"),
        ({"kind": "transfer", "qty": 1, "to_location_id": "nowhere"}, 404, "to_location_id"),
        ({"kind": "restock", "qty": 1, "bucket": "sellable"}, 400, "bucket"),
        ({"kind": "receipt", "qty": 1, "bucket": "in_transit"}, 422, "bucket"),
        ({"kind": "receipt", "qty": 1, "location_id": "nowhere"}, 404, "location_id"),
    ):
        response = post(client, "/api/commerce/stock/movements", {**where, **body}, admin)
        assert (response.status_code, response.json()["error"].get("field")) == (status, field), (
            body,
            response.text,
        )
    assert counts(services) == before


def test_a_transfer_over_http(
    client: TestClient, admin: dict[str, str], services: Services, stocked: None
) -> None:
    body = {
        "kind": "transfer",
        "location_id": "dc-cajamar",
        "to_location_id": "store-paulista",
        "sku": SKU,
        "qty": 6,
        "ref": "replenishment",
    }
    sent = post(client, "/api/commerce/stock/movements", body, admin)
    assert sent.status_code == 201, sent.text
    transfer = sent.json()["transfer"]
    assert (transfer["status"], transfer["received"], transfer["ref"]) == (
        "in_transit",
        0,
        "replenishment",
    )
    assert [
        (m["location_id"], m["from_bucket"], m["to_bucket"]) for m in sent.json()["movements"]
    ] == [
        ("dc-cajamar", "sellable", None),
        ("store-paulista", None, "in_transit"),
    ]
    listed = client.get("/api/commerce/stock/transfers?status=in_transit", headers=admin).json()
    assert [t["id"] for t in listed["items"]] == [transfer["id"]]

    received = post(client, f"/api/commerce/stock/transfers/{transfer['id']}/receive", {}, admin)
    assert received.json()["status"] == "received"
    again = post(client, f"/api/commerce/stock/transfers/{transfer['id']}/receive", {}, admin)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "transfer_received")
    stock = client.get(f"/api/commerce/stock?sku={SKU}", headers=admin).json()["items"]
    assert [(s["location_id"], s["sellable"], s["in_transit"]) for s in stock] == [
        ("dc-cajamar", 34, 0),
        ("store-paulista", 11, 0),
    ]


def test_reconcile_over_http_reports_a_tampered_balance(
    client: TestClient, admin: dict[str, str], services: Services, stocked: None
) -> None:
    with services.engines.main.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE commerce_stock_levels SET sellable = 9 WHERE location_id = 'dc-cajamar'"
            )
        )
    assert client.get("/api/commerce/stock/reconcile", headers=admin).json() == {
        "differences": [
            {
                "location_id": "dc-cajamar",
                "sku": SKU,
                "bucket": "sellable",
                "recorded": 9,
                "derived": 40,
            }
        ]
    }


def test_who_may_do_what(
    client: TestClient, clerk: dict[str, str], reader: dict[str, str], stocked: None
) -> None:
    body = {"kind": "receipt", "location_id": "store-paulista", "sku": SKU, "qty": 1}
    assert post(client, "/api/commerce/stock/movements", body, clerk).status_code == 403
    assert client.get("/api/commerce/stock/reconcile", headers=clerk).status_code == 403
    assert client.get(f"/api/commerce/stock?sku={SKU}", headers=reader).status_code == 200
    hold = {"location_id": "store-paulista", "sku": SKU, "qty": 1}
    assert post(client, "/api/commerce/reservations", hold, reader).status_code == 403
    missing = client.get("/api/commerce/stock", headers=reader)
    assert (missing.status_code, missing.json()["error"]["field"]) == (400, "sku")

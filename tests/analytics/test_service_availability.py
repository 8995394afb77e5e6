"""Availability gaps over a period: commerce's gaps with the requests counted on the period's
days, the value they lost, totals per channel, and the store filter."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import build
from omnicx.commerce.messages import CountAvailable, ListLocations
from omnicx.commerce.model import LocationView
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock

T0 = datetime(2026, 5, 1, 15, tzinfo=UTC)
DRESS = {
    "handle": "vestido-midi-floral",
    "title": "Vestido Midi Floral",
    "variants": [{"sku": "VES-M", "options": {"Size": "M"}}],
}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'omnicx.db'}"


class Shop:
    def __init__(self, client: TestClient, clock: FixedClock, auth: dict[str, str]) -> None:
        self.client = client
        self.clock = clock
        self.auth = auth

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth)

    def send(self, method: str, path: str, body: Any, status: int) -> Any:
        response = self.client.request(method, path, json=body, headers=self.auth)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    clock = FixedClock(T0)
    services = build(make_settings(), clock=clock)
    upgrade(services.engines)
    locations = [
        LocationView("dc-sp", "DC São Paulo", "distribution_centre", frozenset({"ship"})),
        LocationView("store-paulista", "Paulista", "store", frozenset({"pickup"})),
        LocationView("store-campinas", "Campinas", "store", frozenset({"pickup"})),
    ]
    stock = {("dc-sp", "VES-M"): 4, ("store-campinas", "VES-M"): 1}
    services.bus.answer(ListLocations, lambda query, uow: locations)
    services.bus.answer(
        CountAvailable, lambda query, uow: {k: v for k, v in stock.items() if k[1] in query.skus}
    )
    with services.uow() as uow:
        _, secret = create_api_key(services.api_keys(uow), "analytics", "admin", uow.clock.now())
        uow.commit()
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield Shop(client, clock, {"Authorization": f"Bearer {secret}"})
    finally:
        services.close()


def demand_over_three_days(shop: Shop) -> None:
    """The dress, listed on web and store and in-store only on the app, at 249.90; Paulista
    has none. Day 1: two app requests. Day 2: a search for words. Day 3: one app request and
    one at the Paulista counter."""
    product = shop.send("POST", "/api/commerce/products", DRESS, 201)["id"]
    for channel in ("web", "store"):
        shop.send(
            "PUT",
            f"/api/commerce/products/{product}/listings/{channel}",
            {"published": True, "purchasable": True},
            200,
        )
    shop.send(
        "PUT",
        f"/api/commerce/products/{product}/listings/app",
        {"published": True, "purchasable": False, "in_store_only": True, "reason": "Try-on"},
        200,
    )
    shop.send("PUT", "/api/commerce/prices/VES-M", {"amount": 24990}, 200)
    app = {"sku": "VES-M", "channel": "app", "source": "search"}
    for ask in (app, app):
        shop.send("POST", "/api/commerce/demand", ask, 201)
    shop.clock.advance(timedelta(days=1))
    words = {"query": "vestido azul", "channel": "web", "source": "search"}
    shop.send("POST", "/api/commerce/demand", words, 201)
    shop.clock.advance(timedelta(days=1))
    paulista = {"sku": "VES-M", "channel": "store", "location_id": "store-paulista"}
    shop.send("POST", "/api/commerce/demand", app, 201)
    shop.send("POST", "/api/commerce/demand", {**paulista, "source": "store"}, 201)


def test_gaps_count_the_requests_of_the_period_and_what_they_lost(shop: Shop) -> None:
    demand_over_three_days(shop)
    week = shop.get(
        "/api/analytics/availability-gaps", **{"from": "2026-05-01", "to": "2026-05-08"}
    )
    assert week.status_code == 200, week.text
    body = week.json()
    assert body["currency"] == "BRL"
    assert [
        (g["channel"], g["location_id"], g["reason"], g["requests"], g["lost_value"])
        for g in body["gaps"]
    ] == [
        ("app", None, "in_store_only", 3, 74970),
        ("store", "store-paulista", "out_of_stock", 1, 24990),
        ("call_center", None, "not_listed", 0, None),
        ("marketplace", None, "not_listed", 0, None),
        ("web", "store-paulista", "out_of_stock", 0, None),
    ]
    assert body["channels"] == [
        {"channel": "app", "requests": 3, "lost_value": 74970, "currency": "BRL"},
        {"channel": "call_center", "requests": 0, "lost_value": 0, "currency": "BRL"},
        {"channel": "marketplace", "requests": 0, "lost_value": 0, "currency": "BRL"},
        {"channel": "store", "requests": 1, "lost_value": 24990, "currency": "BRL"},
        {"channel": "web", "requests": 0, "lost_value": 0, "currency": "BRL"},
    ]
    assert body["searches"] == [{"query": "vestido azul", "channel": "web", "count": 1}]

    last_day = shop.get(
        "/api/analytics/availability-gaps", **{"from": "2026-05-03", "to": "2026-05-04"}
    ).json()
    assert [(g["channel"], g["requests"], g["lost_value"]) for g in last_day["gaps"][:2]] == [
        ("app", 1, 24990),
        ("store", 1, 24990),
    ]
    assert last_day["searches"] == []

    paulista = shop.get(
        "/api/analytics/availability-gaps",
        **{"from": "2026-05-01", "to": "2026-05-08", "store": "store-paulista"},
    ).json()
    assert [(g["channel"], g["location_id"], g["requests"]) for g in paulista["gaps"]] == [
        ("store", "store-paulista", 1),
        ("web", "store-paulista", 0),
    ]
    assert paulista["searches"] == []


def test_gaps_as_csv(shop: Shop) -> None:
    demand_over_three_days(shop)
    response = shop.get(
        "/api/analytics/availability-gaps",
        **{"from": "2026-05-01", "to": "2026-05-08", "channel": "store", "format": "csv"},
    )
    assert response.headers["content-disposition"] == (
        'attachment; filename="omnicx-availability-gaps-2026-05-01-2026-05-08.csv"'
    )
    assert response.text == (
        "sku,title,channel,location_id,reason,detail,available_elsewhere,requests,lost_value,"
        "currency\n"
        "VES-M,Vestido Midi Floral,store,store-paulista,out_of_stock,none in stock at Paulista,"
        "store-campinas,1,24990,BRL\n"
    )


def test_gaps_refuse_an_unknown_store_and_a_segment(shop: Shop) -> None:
    unknown = shop.get("/api/analytics/availability-gaps", store="store-x")
    segment = shop.get("/api/analytics/availability-gaps", segment="s1")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_store")
    assert unknown.json()["error"]["field"] == "store"
    assert (segment.status_code, segment.json()["error"]["field"]) == (400, "segment")

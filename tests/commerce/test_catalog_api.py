"""The catalog and price book over HTTP, on SQLite and PostgreSQL: products and listings,
prices with their history, promotions, the quote, availability with inventory answering on
the bus, demand and the gaps and price reports. Refusals name the field and write nothing."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.commerce.messages import CountAvailable, ListLocations
from omnicx.commerce.model import LocationView
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock, NotFound
from tests.conftest import table_counts

T0 = datetime(2026, 5, 3, 15, 0, tzinfo=UTC)
TABLES = (
    "commerce_products",
    "commerce_variants",
    "commerce_listings",
    "commerce_base_prices",
    "commerce_price_overrides",
    "commerce_promotions",
    "commerce_demand",
)


@dataclass
class Shop:
    client: TestClient
    services: Services
    clock: FixedClock
    auth: dict[str, str]

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.auth)

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(path, json=body, headers=self.auth)

    def counts(self) -> dict[str, int]:
        return table_counts(self.services, *TABLES)


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    clock = FixedClock(T0)
    services = build(make_settings(rate_limit_api="100000/second"), clock=clock)
    upgrade(services.engines)
    with services.uow() as uow:
        _, secret = create_api_key(services.api_keys(uow), "catalog", "admin", uow.clock.now())
        uow.commit()
    try:
        with TestClient(app_for(services, run_worker=False)) as client:
            yield Shop(client, services, clock, {"Authorization": f"Bearer {secret}"})
    finally:
        services.close()


DRESS = {
    "handle": "vestido-midi-floral",
    "title": "Vestido Midi Floral",
    "attributes": {"fabric": "viscose"},
    "variants": [
        {"sku": "VES-P", "options": {"Size": "P"}},
        {"sku": "VES-M", "options": {"Size": "M"}, "barcode": "7891234567895"},
    ],
}
HEM = {
    "handle": "ajuste-de-barra",
    "title": "Ajuste de barra",
    "kind": "service",
    "service": {"duration_minutes": 30, "capability": "fitting"},
    "variants": [{"sku": "SRV-BARRA"}],
}


def _product(shop: Shop, body: dict[str, Any], channels: tuple[str, ...] = ()) -> str:
    created = shop.post("/api/commerce/products", body)
    assert created.status_code == 201, created.json()
    product_id: str = created.json()["id"]
    for channel in channels:
        listed = shop.put(
            f"/api/commerce/products/{product_id}/listings/{channel}",
            {"published": True, "purchasable": True},
        )
        assert listed.status_code == 200, listed.json()
    return product_id


def _error(code: str, message: str, field: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return {"error": body}


# -- products -----------------------------------------------------------------------------------


def test_a_product_with_variants_is_created_and_found_by_id_handle_and_words(shop: Shop) -> None:
    created = shop.post("/api/commerce/products", DRESS)

    assert created.status_code == 201
    body = created.json()
    assert body | {"id": "x"} == {
        "id": "x",
        "handle": "vestido-midi-floral",
        "title": "Vestido Midi Floral",
        "description": "",
        "kind": "product",
        "status": "active",
        "attributes": {"fabric": "viscose"},
        "service": None,
        "variants": [
            {"sku": "VES-P", "options": {"size": "P"}, "barcode": None, "position": 0},
            {"sku": "VES-M", "options": {"size": "M"}, "barcode": "7891234567895", "position": 1},
        ],
        "listings": [],
        "created_at": "2026-05-03T15:00:00Z",
        "updated_at": "2026-05-03T15:00:00Z",
    }
    assert shop.get(f"/api/commerce/products/{body['id']}").json() == body
    assert shop.get("/api/commerce/products/vestido-midi-floral").json() == body
    assert [p["id"] for p in shop.get("/api/commerce/products", q="MIDI").json()["items"]] == [
        body["id"]
    ]
    assert [p["id"] for p in shop.get("/api/commerce/products", q="ves-m").json()["items"]] == [
        body["id"]
    ]
    assert shop.get("/api/commerce/products", q="camisa").json() == {"items": [], "next": None}


def test_products_page_by_cursor(shop: Shop) -> None:
    ids = [
        _product(shop, {"handle": f"p-{n}", "title": f"P {n}", "variants": [{"sku": f"S-{n}"}]})
        for n in range(3)
    ]

    first = shop.get("/api/commerce/products", limit=2).json()
    second = shop.get("/api/commerce/products", limit=2, cursor=first["next"]).json()

    assert [p["id"] for p in first["items"]] == ids[:2]
    assert first["next"] == ids[1]
    assert [p["id"] for p in second["items"]] == ids[2:]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        (
            {"handle": "Vestido Midi"},
            400,
            _error(
                "invalid_handle",
                "handle 'Vestido Midi' must be lower-case words joined by -",
                "handle",
            ),
        ),
        (
            {"variants": []},
            400,
            _error("variants_required", "a product needs at least one variant (sku)", "variants"),
        ),
        (
            {"variants": [{"sku": "A"}, {"sku": "A", "options": {"size": "G"}}]},
            409,
            _error("sku_in_use", "sku A exists already", "sku"),
        ),
        (
            {"variants": [{"sku": "A", "barcode": "7891234567890"}]},
            400,
            _error("invalid_barcode", "barcode 7891234567890 fails its check digit", "barcode"),
        ),
        (
            {
                "variants": [
                    {"sku": "A", "options": {"size": "P"}},
                    {"sku": "B", "options": {"Size": "P"}},
                ]
            },
            400,
            _error("duplicate_options", "another variant has the options {'size': 'P'}", "options"),
        ),
        (
            {"service": {"duration_minutes": 30}},
            400,
            _error("not_a_service", "only a service has a duration and capability", "service"),
        ),
        (
            {"attributes": {"fabric": {"nested": 1}}},
            400,
            _error(
                "invalid_attributes",
                "attribute 'fabric' must be text, a number, true/false or a list of text",
                "attributes.fabric",
            ),
        ),
    ],
)
def test_a_bad_product_is_refused_naming_the_field_and_nothing_is_written(
    shop: Shop, change: dict[str, Any], status: int, error: dict[str, Any]
) -> None:
    response = shop.post("/api/commerce/products", DRESS | change)

    assert (response.status_code, response.json()) == (status, error)
    assert shop.counts() == dict.fromkeys(TABLES, 0)


def test_a_service_needs_its_terms_and_a_kind_outside_the_list_is_422(shop: Shop) -> None:
    no_terms = shop.post("/api/commerce/products", HEM | {"service": None})
    bad_kind = shop.post("/api/commerce/products", DRESS | {"kind": "gadget"})

    assert no_terms.json() == _error(
        "service_required", "a service needs its duration_minutes", "service"
    )
    assert (bad_kind.status_code, bad_kind.json()["error"]["field"]) == (422, "kind")
    assert shop.counts() == dict.fromkeys(TABLES, 0)


def test_a_sku_or_handle_taken_elsewhere_is_a_conflict_with_nothing_written(shop: Shop) -> None:
    _product(shop, DRESS)
    before = shop.counts()

    same_sku = shop.post(
        "/api/commerce/products",
        {"handle": "outro", "title": "Outro", "variants": [{"sku": "NEW"}, {"sku": "VES-M"}]},
    )
    same_handle = shop.post("/api/commerce/products", DRESS | {"variants": [{"sku": "X"}]})
    same_barcode = shop.post(
        "/api/commerce/products/vestido-midi-floral/variants",
        {"sku": "VES-G", "options": {"size": "G"}, "barcode": "7891234567895"},
    )

    assert (same_sku.status_code, same_sku.json()) == (
        409,
        _error("sku_in_use", "sku VES-M exists already", "sku"),
    )
    assert same_handle.json() == _error(
        "handle_in_use", "a product has the handle vestido-midi-floral", "handle"
    )
    assert same_barcode.json() == _error(
        "barcode_in_use", "barcode 7891234567895 is on VES-M", "barcode"
    )
    assert shop.counts() == before


def test_variants_are_added_and_changed_and_archiving_keeps_the_product(shop: Shop) -> None:
    product_id = _product(shop, DRESS)

    added = shop.post(
        f"/api/commerce/products/{product_id}/variants", {"sku": "VES-G", "options": {"size": "G"}}
    )
    changed = shop.client.patch(
        "/api/commerce/variants/VES-G", json={"barcode": "96385074"}, headers=shop.auth
    )
    clash = shop.client.patch(
        "/api/commerce/variants/VES-G", json={"options": {"size": "M"}}, headers=shop.auth
    )
    archived = shop.client.delete(f"/api/commerce/products/{product_id}", headers=shop.auth)

    assert added.status_code == 201
    assert added.json() == {
        "sku": "VES-G",
        "options": {"size": "G"},
        "barcode": None,
        "position": 2,
    }
    assert changed.json()["barcode"] == "96385074"
    assert clash.json() == _error(
        "duplicate_options", "VES-M has the options {'size': 'M'}", "options"
    )
    assert archived.json()["status"] == "archived"
    assert [v["sku"] for v in archived.json()["variants"]] == ["VES-P", "VES-M", "VES-G"]


# -- listings and the quote ---------------------------------------------------------------------


def test_listing_rules_name_the_field(shop: Shop) -> None:
    product_id = _product(shop, DRESS)
    url = f"/api/commerce/products/{product_id}/listings"
    cases = [
        (
            "store",
            {"published": True, "purchasable": False, "in_store_only": True, "reason": "x"},
            _error(
                "in_store_only_in_store",
                "store is sold at the counter: in-store-only is for the others",
                "in_store_only",
            ),
        ),
        (
            "web",
            {"published": True, "purchasable": True, "in_store_only": True, "reason": "x"},
            _error(
                "in_store_only_purchasable",
                "an in-store-only listing cannot be purchasable on the channel",
                "purchasable",
            ),
        ),
        (
            "web",
            {"published": True, "purchasable": False, "in_store_only": True},
            _error(
                "reason_required",
                "say why it is in store only (shown online, e.g. 'Try-on needed')",
                "reason",
            ),
        ),
        (
            "tiktok",
            {"published": True, "purchasable": True},
            _error(
                "unknown_channel",
                "'tiktok' is not a sales channel; use one of web, app, store, call_center, "
                "marketplace",
                "channel",
            ),
        ),
    ]
    for channel, body, error in cases:
        response = shop.put(f"{url}/{channel}", body)
        assert (response.status_code, response.json()) == (400, error), channel

    assert shop.counts()["commerce_listings"] == 0


def test_in_store_only_shows_online_and_the_quote_refuses_naming_why(shop: Shop) -> None:
    product_id = _product(shop, DRESS, channels=("store",))
    listed = shop.put(
        f"/api/commerce/products/{product_id}/listings/web",
        {
            "published": True,
            "purchasable": False,
            "in_store_only": True,
            "reason": "Try-on needed;  buy in store",
        },
    )
    shop.put("/api/commerce/prices/VES-M", {"amount": 24990})

    web = shop.get("/api/commerce/quote", sku="VES-M", channel="web")
    app = shop.get("/api/commerce/quote", sku="VES-M", channel="app")
    store = shop.get("/api/commerce/quote", sku="VES-M", channel="store")
    unknown = shop.get("/api/commerce/quote", sku="NOPE", channel="store")

    assert listed.json() == {
        "channel": "web",
        "published": True,
        "purchasable": False,
        "in_store_only": True,
        "reason": "Try-on needed; buy in store",
        "title": None,
        "updated_at": "2026-05-03T15:00:00Z",
        "updated_by": listed.json()["updated_by"],
    }
    assert listed.json()["updated_by"].startswith("api_key:")
    assert (web.status_code, web.json()) == (
        400,
        _error("not_purchasable", "in_store_only: Try-on needed; buy in store", "channel"),
    )
    assert app.json() == _error("not_purchasable", "not_listed: not listed on app", "channel")
    assert store.status_code == 200
    assert store.json()["price"] == {"amount": 24990, "currency": "BRL", "formatted": "249.90"}
    assert (unknown.status_code, unknown.json()) == (
        404,
        _error("sku_not_found", "no sku NOPE", "sku"),
    )


def test_services_quote_is_what_other_parts_call(shop: Shop) -> None:
    _product(shop, DRESS, channels=("web",))
    shop.put("/api/commerce/prices/VES-P", {"amount": 19990})

    with shop.services.uow(write=False) as uow:
        quote = shop.services.quote(uow, "VES-P", "web")
        with pytest.raises(NotFound):
            shop.services.quote(uow, "MISSING", "web")

    assert (quote.sku, quote.channel, quote.price.amount, quote.reason) == (
        "VES-P",
        "web",
        19990,
        None,
    )


# -- prices -------------------------------------------------------------------------------------


def test_base_prices_are_versioned_and_the_past_stays_answerable(shop: Shop) -> None:
    _product(shop, DRESS, channels=("web", "app"))
    first = shop.put("/api/commerce/prices/VES-M", {"amount": 24990})
    again = shop.put("/api/commerce/prices/VES-M", {"amount": 24990, "currency": "brl"})
    shop.clock.advance(timedelta(days=10))
    raised = shop.put("/api/commerce/prices/VES-M", {"amount": 26990})

    history = shop.get("/api/commerce/prices/VES-M").json()["base"]
    then = shop.get("/api/commerce/quote", sku="VES-M", channel="app", at="2026-05-05T12:00:00Z")
    now = shop.get("/api/commerce/quote", sku="VES-M", channel="app")

    assert again.json() == first.json()
    assert [(b["price"]["amount"], b["effective_at"]) for b in history] == [
        (26990, "2026-05-13T15:00:00Z"),
        (24990, "2026-05-03T15:00:00Z"),
    ]
    assert history[0]["id"] == raised.json()["id"]
    assert then.json()["price"]["amount"] == 24990
    assert now.json()["price"]["amount"] == 26990
    assert shop.counts()["commerce_base_prices"] == 2


def test_bad_prices_are_refused_naming_the_field(shop: Shop) -> None:
    _product(shop, DRESS)
    cases = [
        (
            "VES-M",
            {"amount": -1},
            400,
            _error(
                "invalid_amount", "amount must be 0 to 1000000000000 minor units of BRL", "amount"
            ),
        ),
        (
            "VES-M",
            {"amount": 100, "currency": "XYZ"},
            400,
            _error("invalid_currency", "'XYZ' is not an ISO 4217 currency code", "currency"),
        ),
        ("NOPE", {"amount": 100}, 404, _error("sku_not_found", "no sku NOPE", "sku")),
    ]
    for sku, body, status, error in cases:
        response = shop.put(f"/api/commerce/prices/{sku}", body)
        assert (response.status_code, response.json()) == (status, error)
    float_amount = shop.put("/api/commerce/prices/VES-M", {"amount": 19.9})

    assert (float_amount.status_code, float_amount.json()["error"]["field"]) == (422, "amount")
    assert shop.counts()["commerce_base_prices"] == 0


def test_overrides_need_a_reason_a_base_and_no_overlap(shop: Shop) -> None:
    _product(shop, DRESS, channels=("web", "marketplace"))
    url = "/api/commerce/prices/VES-M/overrides"
    body = {"channel": "marketplace", "amount": 26990, "reason": "Marketplace commission"}

    no_base = shop.post(url, body)
    shop.put("/api/commerce/prices/VES-M", {"amount": 24990})
    blank = shop.post(url, body | {"reason": "   "})
    missing = shop.post(url, {"channel": "marketplace", "amount": 26990})
    backwards = shop.post(
        url, body | {"valid_from": "2026-06-01T00:00:00Z", "valid_to": "2026-05-20T00:00:00Z"}
    )
    naive = shop.post(url, body | {"valid_to": "2026-06-01T00:00:00"})
    past = shop.post(url, body | {"valid_to": "2026-05-01T00:00:00Z"})
    made = shop.post(url, body | {"valid_to": "2026-06-01T00:00:00Z"})
    overlap = shop.post(url, body | {"valid_from": "2026-05-20T00:00:00Z"})

    assert (no_base.status_code, no_base.json()) == (
        409,
        _error(
            "no_base_price",
            "VES-M has no base price in BRL: set one before overriding it",
            "sku",
        ),
    )
    assert blank.json() == _error(
        "reason_required", "a channel price needs a reason: say why it differs", "reason"
    )
    assert (missing.status_code, missing.json()["error"]["field"]) == (422, "reason")
    assert backwards.json() == _error(
        "invalid_window", "valid_to must be after valid_from", "valid_to"
    )
    assert naive.json() == _error(
        "invalid_time", "valid_to needs a time zone (e.g. Z or -03:00)", "valid_to"
    )
    assert past.json()["error"]["code"] == "window_ended"
    assert made.status_code == 201
    assert (overlap.status_code, overlap.json()) == (
        409,
        _error(
            "override_overlaps",
            f"override {made.json()['id']} already prices VES-M on marketplace in that "
            "window; withdraw it first",
            "valid_from",
        ),
    )
    assert shop.counts()["commerce_price_overrides"] == 1


def test_what_a_sku_cost_on_a_channel_on_a_past_day(shop: Shop) -> None:
    _product(shop, DRESS, channels=("web", "app"))
    shop.put("/api/commerce/prices/VES-M", {"amount": 24990})
    made = shop.post(
        "/api/commerce/prices/VES-M/overrides",
        {"channel": "app", "amount": 21990, "reason": "App launch"},
    ).json()
    shop.clock.advance(timedelta(days=5))
    withdrawn = shop.client.delete(
        f"/api/commerce/prices/overrides/{made['id']}", headers=shop.auth
    ).json()

    on_may_3 = shop.get(
        "/api/commerce/quote", sku="VES-M", channel="app", at="2026-05-04T10:00:00-03:00"
    )
    today = shop.get("/api/commerce/quote", sku="VES-M", channel="app")
    prices = shop.get("/api/commerce/prices/VES-M").json()

    assert withdrawn["withdrawn_at"] == "2026-05-08T15:00:00Z"
    assert on_may_3.json() | {"at": None} == {
        "sku": "VES-M",
        "channel": "app",
        "base": {"amount": 24990, "currency": "BRL", "formatted": "249.90"},
        "price": {"amount": 21990, "currency": "BRL", "formatted": "219.90"},
        "reason": "App launch",
        "override": made["id"],
        "promotion": None,
        "promotion_name": None,
        "at": None,
    }
    assert today.json()["price"]["amount"] == 24990
    assert today.json()["reason"] is None
    assert [o["withdrawn_at"] for o in prices["overrides"]] == ["2026-05-08T15:00:00Z"]
    assert [(q["channel"], q["price"]["amount"]) for q in prices["quotes"]] == [
        ("web", 24990),
        ("app", 24990),
        ("store", 24990),
        ("call_center", 24990),
        ("marketplace", 24990),
    ]


def test_promotions_are_checked_applied_by_channel_and_ended(shop: Shop) -> None:
    product_id = _product(shop, DRESS, channels=("web", "store"))
    shop.put("/api/commerce/prices/VES-M", {"amount": 24990})
    sale = {"name": "Winter", "kind": "percent", "value": 20, "channels": ["web"]}

    bad_channel = shop.post("/api/commerce/promotions", sale | {"channels": ["tv"]})
    no_channel = shop.post("/api/commerce/promotions", sale | {"channels": []})
    bad_sku = shop.post("/api/commerce/promotions", sale | {"skus": ["NOPE"]})
    too_much = shop.post("/api/commerce/promotions", sale | {"value": 120})
    made = shop.post("/api/commerce/promotions", sale | {"product_ids": [product_id]})
    coded = shop.post("/api/commerce/promotions", sale | {"code": "amigos", "value": 30})
    same_code = shop.post("/api/commerce/promotions", sale | {"code": "AMIGOS"})

    assert bad_channel.json()["error"] | {"message": ""} == {
        "code": "unknown_channel",
        "message": "",
        "field": "channels",
    }
    assert no_channel.json() == _error(
        "channels_required", "name the channels the promotion runs on", "channels"
    )
    assert (bad_sku.status_code, bad_sku.json()) == (
        404,
        _error("sku_not_found", "no sku NOPE", "skus"),
    )
    assert too_much.json() == _error("invalid_value", "a percentage off must be 1 to 100", "value")
    assert made.status_code == coded.status_code == 201
    assert coded.json()["code"] == "AMIGOS"
    assert same_code.status_code == 409
    assert (
        shop.get("/api/commerce/quote", sku="VES-M", channel="web").json()["price"]["amount"]
        == 19992
    )
    assert (
        shop.get("/api/commerce/quote", sku="VES-M", channel="web", code="Amigos").json()[
            "promotion_name"
        ]
        == "Winter"
    )
    assert (
        shop.get("/api/commerce/quote", sku="VES-M", channel="store").json()["price"]["amount"]
        == 24990
    )

    ended = shop.post(f"/api/commerce/promotions/{made.json()['id']}/end", {})

    assert ended.json()["ended_at"] == "2026-05-03T15:00:00Z"
    assert [p["id"] for p in shop.get("/api/commerce/promotions").json()["items"]] == [
        coded.json()["id"]
    ]
    assert len(shop.get("/api/commerce/promotions", ended=True).json()["items"]) == 2
    assert shop.counts()["commerce_promotions"] == 2


# -- reports ------------------------------------------------------------------------------------


def test_the_price_report_lists_differences_with_reasons_as_json_and_csv(shop: Shop) -> None:
    _product(shop, DRESS, channels=("web", "store", "marketplace"))
    shop.put("/api/commerce/prices/VES-M", {"amount": 24990})
    shop.put("/api/commerce/prices/VES-P", {"amount": 24990})
    override = shop.post(
        "/api/commerce/prices/VES-M/overrides",
        {
            "channel": "marketplace",
            "amount": 26990,
            "reason": "Marketplace commission",
            "valid_to": "2026-05-10T00:00:00Z",
        },
    ).json()
    promotion = shop.post(
        "/api/commerce/promotions",
        {
            "name": "Web week",
            "kind": "amount",
            "value": 1000,
            "channels": ["web"],
            "skus": ["VES-P"],
        },
    ).json()

    report = shop.get("/api/commerce/reports/prices").json()
    shop.clock.advance(timedelta(days=8))
    later = shop.get("/api/commerce/reports/prices", format="csv")

    assert report["flagged"] == 0
    assert [
        (r["sku"], r["channel"], r["price"]["amount"], r["difference"], r["source"], r["reason"])
        for r in report["differences"]
    ] == [
        ("VES-M", "marketplace", 26990, 2000, "override", "Marketplace commission"),
        ("VES-P", "web", 23990, -1000, "promotion", "promotion Web week"),
    ]
    assert [(i["sku"], i["consistent"]) for i in report["items"]] == [
        ("VES-M", False),
        ("VES-P", False),
    ]
    assert later.headers["content-type"] == "text/csv; charset=utf-8"
    assert later.text.splitlines() == [
        "sku,channel,currency,base,price,difference,source,reason,override,promotion,flag,detail",
        f"VES-M,marketplace,BRL,24990,24990,0,override,Marketplace commission,{override['id']},,"
        "override_expired,override of 26990 ended at 2026-05-10T00:00:00+00:00",
        f"VES-P,web,BRL,24990,23990,-1000,promotion,promotion Web week,,{promotion['id']},,",
    ]


def _inventory(services: Services, stock: dict[tuple[str, str], int]) -> None:
    """Inventory's answers on the bus, as the inventory part registers them."""
    locations = [
        LocationView("dc-sp", "DC São Paulo", "distribution_centre", frozenset({"ship"})),
        LocationView("store-paulista", "Paulista", "store", frozenset({"pickup", "fitting"})),
        LocationView("store-campinas", "Campinas", "store", frozenset({"pickup"})),
    ]
    services.bus.answer(ListLocations, lambda query, uow: locations)
    services.bus.answer(
        CountAvailable,
        lambda query, uow: {k: v for k, v in stock.items() if k[1] in query.skus},
    )


def test_availability_crosses_listings_locations_stock_and_capabilities(shop: Shop) -> None:
    _inventory(shop.services, {("dc-sp", "VES-M"): 4, ("store-campinas", "VES-M"): 1})
    _product(shop, DRESS, channels=("web", "store"))
    _product(shop, HEM, channels=("store",))

    dress = shop.get("/api/commerce/availability", sku="VES-M").json()
    hem = shop.get("/api/commerce/availability", sku="SRV-BARRA").json()
    missing = shop.get("/api/commerce/availability", sku="NOPE")

    assert dress["stock_known"] is True
    assert [
        (c["channel"], c["location_id"], c["available"], c["reason"]) for c in dress["cells"]
    ] == [
        ("web", None, True, None),
        ("web", "dc-sp", True, None),
        ("web", "store-campinas", True, None),
        ("web", "store-paulista", False, "out_of_stock"),
        ("app", None, False, "not_listed"),
        ("store", None, True, None),
        ("store", "store-campinas", True, None),
        ("store", "store-paulista", False, "out_of_stock"),
        ("call_center", None, False, "not_listed"),
        ("marketplace", None, False, "not_listed"),
    ]
    assert [
        (c["channel"], c["location_id"], c["available"], c["detail"])
        for c in hem["cells"]
        if c["location_id"]
    ] == [
        ("store", "store-campinas", False, "Campinas has no fitting"),
        ("store", "store-paulista", True, None),
    ]
    assert missing.status_code == 404


def test_demand_is_counted_per_day_and_the_gaps_report_shows_what_each_gap_lost(
    shop: Shop,
) -> None:
    _inventory(shop.services, {("dc-sp", "VES-M"): 4, ("store-campinas", "VES-M"): 1})
    product_id = _product(shop, DRESS, channels=("web", "store"))
    shop.put(
        f"/api/commerce/products/{product_id}/listings/app",
        {"published": True, "purchasable": False, "in_store_only": True, "reason": "Try-on"},
    )
    shop.put("/api/commerce/prices/VES-M", {"amount": 24990})
    asks = [
        {"sku": "VES-M", "channel": "app", "source": "search"},
        {"sku": "VES-M", "channel": "app", "source": "search"},
        {"sku": "VES-M", "channel": "app", "source": "agent"},
        {"sku": "VES-M", "channel": "store", "location_id": "store-paulista", "source": "store"},
        {"query": "  Vestido   AZUL ", "channel": "web", "source": "search"},
        {"query": "vestido azul", "channel": "web", "source": "search"},
    ]
    for ask in asks:
        answer = shop.post("/api/commerce/demand", ask)
        assert answer.status_code == 201, answer.json()

    report = shop.get("/api/commerce/reports/gaps").json()
    as_csv = shop.get("/api/commerce/reports/gaps", format="csv", channel="store")

    lost = {"amount": 74970, "currency": "BRL", "formatted": "749.70"}
    assert report["since"] == "2026-04-04"
    assert [
        (g["sku"], g["channel"], g["location_id"], g["reason"], g["demand"], g["lost_value"])
        for g in report["gaps"]
    ] == [
        ("VES-M", "app", None, "in_store_only", 3, lost),
        (
            "VES-M",
            "store",
            "store-paulista",
            "out_of_stock",
            1,
            {"amount": 24990, "currency": "BRL", "formatted": "249.90"},
        ),
        ("VES-M", "call_center", None, "not_listed", 0, None),
        ("VES-M", "marketplace", None, "not_listed", 0, None),
        ("VES-M", "web", "store-paulista", "out_of_stock", 0, None),
    ]
    assert report["gaps"][0]["available_elsewhere"] == ["web", "store"]
    assert report["searches"] == [{"query": "vestido azul", "channel": "web", "count": 2}]
    assert as_csv.text.splitlines() == [
        "sku,title,channel,location_id,reason,detail,available_elsewhere,demand,lost_value,"
        "currency",
        "VES-M,Vestido Midi Floral,store,store-paulista,out_of_stock,none in stock at Paulista,"
        "store-campinas,1,24990,BRL",
    ]
    assert shop.counts()["commerce_demand"] == 4
    with shop.services.engines.main.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT query, count FROM commerce_demand WHERE sku = ''"
        ).one()
    assert stored[0].startswith("enc:v1:")
    assert stored[1] == 2


def test_bad_demand_is_refused_and_nothing_is_counted(shop: Shop) -> None:
    _inventory(shop.services, {})
    _product(shop, DRESS)
    cases = [
        (
            {"channel": "web", "source": "search"},
            400,
            _error("sku_or_query_required", "give the sku asked for, or the search's query", "sku"),
        ),
        (
            {"sku": "NOPE", "channel": "web", "source": "agent"},
            404,
            _error("sku_not_found", "no sku NOPE; send the words as query", "sku"),
        ),
        (
            {"sku": "VES-M", "channel": "web", "location_id": "store-x", "source": "store"},
            404,
            _error("location_not_found", "no location store-x", "location_id"),
        ),
        (
            {"sku": "VES-M", "channel": "fax", "source": "agent"},
            400,
            _error(
                "unknown_channel",
                "'fax' is not a sales channel; use one of web, app, store, call_center, "
                "marketplace",
                "channel",
            ),
        ),
    ]
    for body, status, error in cases:
        response = shop.post("/api/commerce/demand", body)
        assert (response.status_code, response.json()) == (status, error)
    wrong_source = shop.post(
        "/api/commerce/demand", {"sku": "VES-M", "channel": "web", "source": "x"}
    )

    assert (wrong_source.status_code, wrong_source.json()["error"]["field"]) == (422, "source")
    assert shop.counts()["commerce_demand"] == 0


def test_reports_refuse_bad_parameters(shop: Shop) -> None:
    naive = shop.get("/api/commerce/reports/prices", at="2026-05-01T00:00:00")
    channel = shop.get("/api/commerce/reports/gaps", channel="tv")

    assert naive.json() == _error("invalid_time", "at needs a time zone (e.g. Z or -03:00)", "at")
    assert channel.json()["error"]["code"] == "unknown_channel"

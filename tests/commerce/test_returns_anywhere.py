"""Returns at any location, whatever channel sold the order: disposition into the right bucket,
refunds to the tender or to store credit, points taken back; every refusal names its field
and writes nothing; a key replayed is one return; two stores never take back one unit twice."""

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from omnicx.commerce.returns import LineRequest, ReturnRequest
from omnicx.config import Settings
from omnicx.events.messages import EventsStored
from omnicx.kernel import Conflict
from tests.commerce.test_returns_shop import (
    ADDRESS,
    DC,
    EMAIL,
    KIOSK,
    PRICE,
    STORE,
    TEE_L,
    TEE_M,
    Shop,
    open_shop,
)


@pytest.fixture
def shop(settings: Settings) -> Iterator[Shop]:
    yield from open_shop(settings)


def _line(qty: int = 1, condition: str = "resellable", sku: str = TEE_M) -> dict[str, Any]:
    return {"sku": sku, "qty": qty, "reason": "wrong_size", "condition": condition}


def _return(
    shop: Shop, order_id: str, *lines: dict[str, Any], key: str = "r-1", **extra: Any
) -> Any:
    body = {"order_id": order_id, "location_id": STORE, "lines": list(lines) or [_line()], **extra}
    return shop.call("POST", "/api/commerce/returns", body, key=key)


def _app_order_collected_at_the_store(shop: Shop, qty: int = 2) -> str:
    """Bought in the app for pickup at the DC-served store, then collected."""
    shop.ok(
        "POST",
        "/api/commerce/stock/movements",
        {"kind": "receipt", "location_id": STORE, "sku": TEE_M, "qty": qty},
    )
    placed = shop.order(
        "app",
        {"type": "pickup", "location_id": STORE, "lines": [{"sku": TEE_M, "qty": qty}]},
        key="app-1",
        method="pix",
    )
    shop.move(placed["id"], "ready_for_pickup", "collected")
    order_id: str = placed["id"]
    return order_id


def test_an_app_order_comes_back_damaged_at_a_store_as_store_credit(shop: Shop) -> None:
    order_id = _app_order_collected_at_the_store(shop)
    customer = shop.ok("GET", f"/api/customers/lookup?kind=email&value={EMAIL}")["id"]
    assert shop.ok("GET", f"/api/customers/{customer}/loyalty")["points"] == 199

    response = _return(
        shop, order_id, _line(1, "damaged"), refund_to="store_credit", note="seam torn"
    )

    assert response.status_code == 201, response.json()
    made = response.json()
    assert (made["order_channel"], made["channel"], made["location_id"]) == ("app", "store", STORE)
    assert made["refund"] == {"amount": PRICE, "currency": "BRL", "formatted": "99.90"}
    assert (made["refund_to"], made["tender"]) == ("store_credit", None)
    assert [(r["amount"]["amount"], r["method"]) for r in made["refunds"]] == [
        (PRICE, "store_credit")
    ]
    assert made["note"] == "seam torn"
    assert made["points_reversed"] == 99
    assert shop.stock(STORE, TEE_M) == {"sellable": 0, "damaged": 1, "reserved": 0}
    loyalty = shop.ok("GET", f"/api/customers/{customer}/loyalty")
    assert (loyalty["points"], loyalty["credit"]["amount"]) == (100, PRICE)
    assert [(e["kind"], e["points"], e["credit"]["amount"]) for e in loyalty["entries"][:2]] == [
        ("credit", 0, PRICE),
        ("reverse", -99, 0),
    ]
    # The second unit comes back resellable, to the tender: the points reversed add up.
    second = _return(shop, order_id, _line(1), key="r-2")
    assert second.status_code == 201, second.json()
    assert second.json()["tender"] == "pix"
    assert second.json()["points_reversed"] == 100
    assert shop.stock(STORE, TEE_M) == {"sellable": 1, "damaged": 1, "reserved": 0}
    assert shop.ok("GET", f"/api/customers/{customer}/loyalty")["points"] == 0


def test_a_web_order_comes_back_at_the_dc_by_post(shop: Shop) -> None:
    order_id = shop.delivered_web_order(qty=3, sku=TEE_L)
    response = shop.call(
        "POST",
        "/api/commerce/returns",
        {
            "order_id": order_id,
            "location_id": DC,
            "lines": [_line(2, sku=TEE_L)],
        },
        key="post-1",
    )
    made = response.json()
    assert (made["channel"], made["location_id"]) == ("web", DC)
    assert [(r["amount"]["amount"], r["method"], r["tender"]) for r in made["refunds"]] == [
        (2 * PRICE, "original", "card")
    ]
    assert shop.stock(DC, TEE_L)["sellable"] == 9
    listed = shop.ok("GET", f"/api/commerce/returns?order_id={order_id}")["items"]
    assert [r["id"] for r in listed] == [made["id"]]
    assert shop.ok("GET", f"/api/commerce/returns/{made['id']}") == made


def test_the_same_key_twice_is_one_return(shop: Shop) -> None:
    order_id = shop.delivered_web_order(qty=2)
    first = _return(shop, order_id)
    counts = shop.counts()
    stock = shop.stock(STORE, TEE_M)

    again = _return(shop, order_id)
    other = _return(shop, order_id, _line(2))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["error"] == {
        "code": "idempotency_key_reused",
        "message": f"Idempotency-Key 'r-1' recorded return {first.json()['id']} for another "
        "request; use a new key for a new one",
        "field": "Idempotency-Key",
    }
    assert shop.counts() == counts
    assert shop.stock(STORE, TEE_M) == stock


def _refused(shop: Shop, response: Any, status: int, code: str, field: str) -> str:
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert (error["code"], error.get("field")) == (code, field)
    message: str = error["message"]
    return message


def test_returning_more_than_was_bought_writes_nothing(shop: Shop) -> None:
    order_id = shop.delivered_web_order(qty=2)
    assert _return(shop, order_id, _line(1), key="first").status_code == 201
    before = shop.counts()
    stock = shop.stock(STORE, TEE_M)

    over = _return(shop, order_id, _line(1), _line(1), key="second")

    message = _refused(shop, over, 409, "over_return", "lines[1].qty")
    assert (
        message == f"lines[1].qty: only 0 of {TEE_M} may still be returned (bought 2, returned 2)"
    )
    assert shop.counts() == before
    assert shop.stock(STORE, TEE_M) == stock


def test_every_bad_return_names_its_field_and_writes_nothing(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    placed = shop.order(
        "web", {"type": "ship", "lines": [{"sku": TEE_L, "qty": 1}], "address": ADDRESS}, key="w2"
    )
    before = shop.counts()
    cases = [
        (_return(shop, "no-such-order", key="a"), 404, "order_not_found", "order_id"),
        (_return(shop, order_id, location_id="nowhere", key="b"), 404, "location_not_found",
         "location_id"),
        (_return(shop, order_id, location_id=KIOSK, key="c"), 409, "returns_not_accepted",
         "location_id"),
        (_return(shop, order_id, _line(sku=TEE_L), key="d"), 400, "not_on_order", "lines[0].sku"),
        (_return(shop, placed["id"], _line(sku=TEE_L), key="e"), 409, "order_not_received",
         "order_id"),
        (_return(shop, order_id, {**_line(), "reason": "Too small"}, key="f"), 400,
         "invalid_reason", "lines[0].reason"),
        (_return(shop, order_id, _line(0), key="g"), 400, "invalid_qty", "lines[0].qty"),
    ]  # fmt: skip
    for response, status, code, field in cases:
        _refused(shop, response, status, code, field)
    shape = _return(shop, order_id, {**_line(), "condition": "worn"}, key="h")
    assert shape.status_code == 422
    assert shape.json()["error"]["field"] == "lines.0.condition"
    assert shop.counts() == before


def test_the_return_window_closes(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    shop.clock.advance(timedelta(days=31))
    message = _refused(shop, _return(shop, order_id), 409, "return_window_closed", "order_id")
    # Delivered on 2026-03-03 (UTC): thirty days later the window shut.
    assert message == (
        f"returns of order {order_id} closed on 2026-04-02 (30 days after it was received)"
    )


def test_two_stores_never_take_back_one_unit_twice(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    services = shop.services
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def take_back(location_id: str) -> None:
        request = ReturnRequest(
            order_id, location_id, (LineRequest(TEE_M, 1, "wrong_size", "resellable"),)
        )
        start.wait()
        try:
            with services.uow() as uow:
                services.accept_return(uow, request, key=location_id, actor="user:clerk")
                uow.commit()
            outcomes.append("returned")
        except Conflict as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=take_back, args=(place,)) for place in (STORE, DC)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["over_return", "returned"]
    assert shop.stock(STORE, TEE_M)["sellable"] + shop.stock(DC, TEE_M)["sellable"] == 10
    assert shop.counts()["commerce_returns"] == 1


def test_journeys_hear_a_return_like_an_ingested_event(shop: Shop) -> None:
    order_id = shop.delivered_web_order()
    heard: list[tuple[str | None, str, str]] = []
    shop.services.bus.subscribe(
        EventsStored,
        lambda stored, uow: heard.extend((e.event, e.channel, e.profile_id) for e in stored.events),
    )

    made = _return(shop, order_id).json()

    customer = made["customer_id"]
    assert heard == [
        ("Return Accepted", "store", customer),
        ("Points Reversed", "store", customer),
        ("Refund Issued", "store", customer),
    ]

"""The loyalty API over HTTP: one account per customer at every channel, idempotent earn and
burn, a balance no burst of burns takes below zero, tiers, merges, and the story on the
timeline."""

import base64
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from omnicx.commerce import loyalty
from omnicx.config import Settings
from omnicx.events import create_source
from omnicx.kernel import Conflict
from omnicx.workers import Worker
from tests.commerce.test_returns_shop import STORE, Shop, open_shop


@pytest.fixture
def shop(settings: Settings) -> Iterator[Shop]:
    yield from open_shop(settings)


def _identify(shop: Shop, *calls: dict[str, Any]) -> None:
    with shop.services.uow() as uow:
        source = shop.services.events(uow).source_by_name("App") or create_source(
            shop.services.events(uow), "App", "app", uow.clock.now()
        )
        uow.commit()
    token = base64.b64encode(f"{source.write_key}:".encode()).decode()
    response = shop.client.post(
        "/v1/batch",
        headers={"Authorization": f"Basic {token}"},
        json={
            "batch": [{"type": "identify", "timestamp": "2026-03-01T10:00:00Z", **c} for c in calls]
        },
    )
    assert response.status_code == 200, response.json()
    Worker(shop.services).drain()


def _customer(shop: Shop, device: str, kind: str, value: str) -> str:
    _identify(shop, {"messageId": f"id-{device}", "anonymousId": device, "traits": {kind: value}})
    found = shop.ok("GET", f"/api/customers/lookup?kind={kind}&value={value}")
    customer_id: str = found["id"]
    return customer_id


@pytest.fixture
def customer(shop: Shop) -> str:
    return _customer(shop, "laptop", "email", "ana@example.org")


def _post(shop: Shop, customer: str, action: str, body: dict[str, Any], key: str) -> Any:
    return shop.call("POST", f"/api/loyalty/{customer}/{action}", body, key=key)


def test_a_new_customer_has_an_empty_account(shop: Shop, customer: str) -> None:
    assert shop.ok("GET", f"/api/customers/{customer}/loyalty") == {
        "customer_id": customer,
        "account_id": None,
        "points": 0,
        "credit": {"amount": 0, "currency": "BRL", "formatted": "0.00"},
        "tier": "member",
        "tier_points": 0,
        "next_tier": {"name": "silver", "points": 1000},
        "entries": [],
        "next": None,
    }


def test_earn_and_burn_are_idempotent_on_their_key(shop: Shop, customer: str) -> None:
    earn = {"points": 300, "channel": "call_center", "reason": "goodwill"}
    first = _post(shop, customer, "earn", earn, "earn-1")
    again = _post(shop, customer, "earn", earn, "earn-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["entry"] == first.json()["entry"]
    assert again.json()["loyalty"]["points"] == 300
    clash = _post(shop, customer, "earn", {**earn, "points": 301}, "earn-1")
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "key_reused"

    burn = {"points": 120, "channel": "store", "location_id": STORE}
    assert _post(shop, customer, "burn", burn, "burn-1").json()["loyalty"]["points"] == 180
    assert _post(shop, customer, "burn", burn, "burn-1").json()["loyalty"]["points"] == 180
    counts = shop.counts()
    short = _post(shop, customer, "burn", {**burn, "points": 181}, "burn-2")
    assert short.status_code == 409
    assert short.json()["error"] == {
        "code": "insufficient_points",
        "message": "the balance is 180 points: less than 181",
        "field": "points",
    }
    assert shop.counts() == counts
    entries = shop.ok("GET", f"/api/customers/{customer}/loyalty")["entries"]
    assert [(e["kind"], e["points"], e["channel"], e["location_id"]) for e in entries] == [
        ("burn", -120, "store", STORE),
        ("earn", 300, "call_center", None),
    ]
    assert entries[1]["reason"] == "goodwill"
    assert entries[0]["actor"] == "api_key:till"


def test_store_credit_is_spent_like_points(shop: Shop, customer: str) -> None:
    adjust = {"credit": 5000, "channel": "store", "reason": "price match"}
    assert _post(shop, customer, "adjust", adjust, "adj-1").status_code == 200
    spent = _post(shop, customer, "burn", {"amount": 3000, "channel": "web"}, "spend-1")
    assert spent.json()["loyalty"]["credit"]["amount"] == 2000
    assert spent.json()["entry"]["kind"] == "debit"
    over = _post(shop, customer, "burn", {"amount": 2001, "channel": "web"}, "spend-2")
    assert over.json()["error"]["code"] == "insufficient_credit"
    both = _post(shop, customer, "burn", {"amount": 1, "points": 1, "channel": "web"}, "x")
    assert (both.status_code, both.json()["error"]["field"]) == (400, "points")


def test_bad_loyalty_calls_name_their_field(shop: Shop, customer: str) -> None:
    counts = shop.counts()
    no_key = shop.client.post(
        f"/api/loyalty/{customer}/earn", json={"points": 1, "channel": "web"}, headers=shop.auth
    )
    assert (no_key.status_code, no_key.json()["error"]["field"]) == (422, "Idempotency-Key")
    cases = [
        (_post(shop, customer, "earn", {"points": 0, "channel": "web"}, "k"), 400, "points"),
        (_post(shop, customer, "earn", {"points": 1, "channel": "Web!"}, "k"), 400, "channel"),
        (_post(shop, customer, "adjust", {"channel": "web", "reason": "x"}, "k"), 400, "points"),
        (_post(shop, "nobody", "earn", {"points": 1, "channel": "web"}, "k"), 404, "id"),
    ]
    for response, status, field in cases:
        assert (response.status_code, response.json()["error"].get("field")) == (status, field)
    assert shop.counts() == counts


def test_tiers_follow_the_rolling_points_and_tell_the_timeline(shop: Shop, customer: str) -> None:
    made = _post(shop, customer, "earn", {"points": 1200, "channel": "app"}, "big")
    assert made.json()["loyalty"]["tier"] == "silver"
    assert made.json()["loyalty"]["next_tier"] == {"name": "gold", "points": 5000}
    events = [
        (e["event"], e["channel"], e["properties"].get("new"))
        for e in shop.timeline(customer)
        if e["source_id"] == "aftersales"
    ]
    assert events == [("Points Earned", "app", None), ("Loyalty Tier Changed", "app", "silver")]


def test_a_burst_of_burns_never_takes_the_balance_below_zero(shop: Shop, customer: str) -> None:
    assert _post(shop, customer, "earn", {"points": 100, "channel": "web"}, "e").status_code == 200
    services = shop.services
    start = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def burn(n: int) -> None:
        start.wait()
        try:
            with services.uow() as uow:
                loyalty.burn(
                    services.loyalty(uow), services.loyalty_context(uow, "user:till"), customer,
                    30, key=f"burst-{n}", channel="store",
                )  # fmt: skip
                uow.commit()
            result = "burned"
        except Conflict as refused:
            result = refused.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=burn, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["burned"] * 3 + ["insufficient_points"] * 5
    with services.uow(write=False) as uow:
        repo = services.loyalty(uow)
        account = repo.account_of(customer)
        assert account is not None
        assert account.points == 10
        assert repo.ledger_sum(account.id) == (10, 0)


def test_two_profiles_that_turn_out_one_person_share_one_account(shop: Shop) -> None:
    ana = _customer(shop, "laptop", "email", "ana@example.org")
    other = _customer(shop, "phone", "phone", "+5511988887777")
    _post(shop, ana, "earn", {"points": 700, "channel": "web"}, "a")
    _post(shop, other, "earn", {"points": 400, "channel": "app"}, "b")
    _post(shop, other, "adjust", {"credit": 900, "channel": "store", "reason": "refund"}, "c")

    # On the phone she signs in with the web email: the two profiles merge.
    _identify(
        shop, {"messageId": "link", "anonymousId": "phone", "traits": {"email": "ana@example.org"}}
    )

    survivor = shop.ok("GET", "/api/customers/lookup?kind=phone&value=%2B5511988887777")["id"]
    merged = ana if survivor == other else other
    assert shop.ok("GET", f"/api/customers/{survivor}")["merged_ids"] == [merged]
    moved = shop.client.get(
        f"/api/customers/{merged}/loyalty", headers=shop.auth, follow_redirects=False
    )
    assert moved.status_code == 307
    assert moved.headers["location"] == f"/api/customers/{survivor}/loyalty"
    joined = shop.ok("GET", f"/api/customers/{survivor}/loyalty")
    assert (joined["points"], joined["credit"]["amount"], joined["tier"]) == (1100, 900, "silver")
    kinds = sorted(e["kind"] for e in joined["entries"])
    assert kinds == ["adjust", "earn", "earn", "transfer", "transfer"]
    # Posting to the merged id lands on the one account.
    posted = _post(shop, merged, "burn", {"points": 100, "channel": "web"}, "d")
    assert posted.json()["loyalty"]["points"] == 1000

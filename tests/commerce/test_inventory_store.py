"""Inventory through `Services` on a real database (SQLite, and PostgreSQL when set): the
ledger and balances move together, reservations are atomic leases, refusals write nothing."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from omnicx.bootstrap import Services, build
from omnicx.commerce import inventory
from omnicx.commerce.inventory import Line, StockLevel
from omnicx.commerce.locations import Address, OpeningHours, create_location, update_location
from omnicx.commerce.messages import (
    CountAvailable,
    ListLocations,
    ReservationReleased,
    StockMoved,
    StockReserved,
)
from omnicx.commerce.model import LocationView
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import Conflict, Event, FixedClock, Invalid, NotFound
from omnicx.webhooks.http import FakeWebhookSender
from omnicx.workers import Worker
from tests.conftest import table_counts

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SKU = "TSHIRT-BLUE-M"
STOCK_TABLES = (
    "commerce_stock_levels",
    "commerce_stock_movements",
    "commerce_reservations",
    "commerce_transfers",
)


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
def events(services: Services) -> list[Event]:
    seen: list[Event] = []
    for kind in (StockReserved, ReservationReleased, StockMoved):
        services.bus.subscribe(kind, lambda event, uow: seen.append(event))
    return seen


def add_location(
    services: Services,
    location_id: str,
    *,
    kind: str = "store",
    safety_stock: int = 0,
    **extra: Any,
) -> None:
    with services.uow() as uow:
        create_location(
            services.stock(uow),
            location_id=location_id,
            name=location_id.title(),
            kind=kind,
            capabilities=extra.pop("capabilities", ["pickup"]),
            address=Address("BR", city="São Paulo"),
            hours=OpeningHours("America/Sao_Paulo"),
            now=uow.clock.now(),
            safety_stock=safety_stock,
            **extra,
        )
        uow.commit()


def stocked(services: Services, location_id: str = "store-paulista", qty: int = 10) -> None:
    add_location(services, location_id)
    with services.uow() as uow:
        services.receive(uow, location_id=location_id, sku=SKU, qty=qty, ref="PO-1")
        uow.commit()


def level(services: Services, location_id: str = "store-paulista") -> StockLevel | None:
    with services.uow(write=False) as uow:
        return services.stock(uow).level(location_id, SKU)


def counts(services: Services) -> dict[str, int]:
    return table_counts(services, *STOCK_TABLES)


def test_a_receipt_writes_the_ledger_and_the_balance_together(
    services: Services, events: list[Event]
) -> None:
    stocked(services, qty=12)

    assert level(services) == StockLevel("store-paulista", SKU, 12, 0, 0, 0, 0, AT)
    with services.uow(write=False) as uow:
        [movement] = services.stock(uow).movements(sku=SKU)
        assert services.available(uow, "store-paulista", SKU) == 12
    assert (movement.from_bucket, movement.to_bucket, movement.qty) == (None, "sellable", 12)
    assert (movement.reason, movement.ref, movement.actor, movement.at) == (
        "receipt",
        "PO-1",
        "system",
        AT,
    )
    assert events == [
        StockMoved(movement.id, "store-paulista", SKU, None, "sellable", 12, "receipt", "PO-1")
    ]


def test_reserve_commit_and_the_sale_leaves_the_ledger_balanced(
    services: Services, events: list[Event]
) -> None:
    stocked(services)
    with services.uow() as uow:
        lease = services.reserve(
            uow, location_id="store-paulista", sku=SKU, qty=3, lease_seconds=600, key="cart-1"
        )
        assert services.available(uow, "store-paulista", SKU) == 7
        uow.commit()
    assert (lease.status, lease.qty, lease.expires_at) == ("active", 3, AT + timedelta(minutes=10))
    assert level(services) == StockLevel("store-paulista", SKU, 10, 0, 0, 0, 3, AT)

    with services.uow() as uow:
        sale = services.commit_reservation(uow, lease.id, reason="ship", ref="order-9")
        again = services.commit_reservation(uow, lease.id, reason="ship", ref="order-9")
        uow.commit()

    assert again == sale
    assert (sale.from_bucket, sale.to_bucket, sale.qty, sale.reason, sale.ref) == (
        "sellable",
        None,
        3,
        "ship",
        "order-9",
    )
    assert sale.reservation_id == lease.id
    assert level(services) == StockLevel("store-paulista", SKU, 7, 0, 0, 0, 0, AT)
    assert [type(e).__name__ for e in events] == ["StockMoved", "StockReserved", "StockMoved"]
    assert services.reconcile_stock() == []


def test_the_same_key_returns_the_same_reservation_and_holds_once(services: Services) -> None:
    stocked(services)
    with services.uow() as uow:
        first = services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2, key="k")
        uow.commit()
    with services.uow() as uow:
        second = services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2, key="k")
        uow.commit()

    assert second == first
    assert level(services) == StockLevel("store-paulista", SKU, 10, 0, 0, 0, 2, AT)
    before = counts(services)
    with services.uow() as uow, pytest.raises(Conflict) as refused:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=5, key="k")
    assert (refused.value.code, refused.value.field) == ("key_reused", "key")
    assert counts(services) == before


def test_insufficient_stock_is_refused_and_writes_nothing(services: Services) -> None:
    stocked(services, qty=4)
    with services.uow() as uow:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=3, key="a")
        uow.commit()
    before = counts(services)

    with services.uow() as uow, pytest.raises(Conflict) as refused:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2, key="b")

    assert refused.value.code == "insufficient_stock"
    assert refused.value.message == f"only 1 of {SKU} available at store-paulista"
    assert refused.value.field == "qty"
    assert counts(services) == before
    assert level(services) == StockLevel("store-paulista", SKU, 4, 0, 0, 0, 3, AT)


def test_a_sku_never_stocked_there_is_insufficient_and_an_unknown_location_not_found(
    services: Services,
) -> None:
    add_location(services, "store-paulista")
    with services.uow() as uow:
        with pytest.raises(Conflict) as short:
            services.reserve(uow, location_id="store-paulista", sku="NOPE", qty=1)
        with pytest.raises(NotFound) as missing:
            services.reserve(uow, location_id="store-nowhere", sku=SKU, qty=1)
        with pytest.raises(Invalid) as bad:
            services.reserve(uow, location_id="store-paulista", sku=SKU, qty=0)
    assert short.value.code == "insufficient_stock"
    assert (missing.value.code, missing.value.field) == ("location_not_found", "location_id")
    assert (bad.value.code, bad.value.field) == ("invalid_qty", "qty")
    assert counts(services) == dict.fromkeys(STOCK_TABLES, 0)


def test_a_lease_expires_on_the_injected_clock(
    services: Services, clock: FixedClock, events: list[Event]
) -> None:
    stocked(services, qty=5)
    with services.uow() as uow:
        lease = services.reserve(
            uow, location_id="store-paulista", sku=SKU, qty=5, lease_seconds=60, key="cart"
        )
        uow.commit()

    clock.advance(timedelta(seconds=59))
    with services.uow(write=False) as uow:
        assert services.available(uow, "store-paulista", SKU) == 0
    assert services.expire_reservations() == 0

    clock.advance(timedelta(seconds=1))
    with services.uow(write=False) as uow:
        # Free for the next buyer before any worker has run.
        assert services.available(uow, "store-paulista", SKU) == 5
        assert services.availability(uow, SKU) == {"store-paulista": 5}
    with services.uow() as uow, pytest.raises(Conflict) as late:
        services.commit_reservation(uow, lease.id)
    assert late.value.code == "reservation_expired"
    with services.uow() as uow, pytest.raises(Conflict) as gone:
        services.extend(uow, lease.id, lease_seconds=60)
    assert gone.value.code == "reservation_expired"

    assert services.expire_reservations() == 1
    assert services.expire_reservations() == 0
    with services.uow(write=False) as uow:
        assert services.stock(uow).reservation(lease.id).status == "expired"  # type: ignore[union-attr]
    assert level(services) == StockLevel("store-paulista", SKU, 5, 0, 0, 0, 0, clock.now())
    assert events[-1] == ReservationReleased(lease.id, "store-paulista", SKU, 5, "expired")


def test_the_next_reservation_frees_expired_leases_itself(
    services: Services, clock: FixedClock
) -> None:
    stocked(services, qty=5)
    with services.uow() as uow:
        old = services.reserve(uow, location_id="store-paulista", sku=SKU, qty=4, lease_seconds=30)
        uow.commit()
    clock.advance(timedelta(seconds=31))

    with services.uow() as uow:
        new = services.reserve(uow, location_id="store-paulista", sku=SKU, qty=5)
        uow.commit()

    with services.uow(write=False) as uow:
        assert services.stock(uow).reservation(old.id).status == "expired"  # type: ignore[union-attr]
    assert new.status == "active"
    assert level(services) == StockLevel("store-paulista", SKU, 5, 0, 0, 0, 5, clock.now())
    assert services.reconcile_stock() == []


def test_extend_and_release(services: Services, clock: FixedClock) -> None:
    stocked(services)
    with services.uow() as uow:
        lease = services.reserve(
            uow, location_id="store-paulista", sku=SKU, qty=2, lease_seconds=60
        )
        uow.commit()
    clock.advance(timedelta(seconds=50))
    with services.uow() as uow:
        longer = services.extend(uow, lease.id, lease_seconds=120)
        uow.commit()
    assert longer.expires_at == clock.now() + timedelta(seconds=120)

    with services.uow() as uow:
        released = services.release(uow, lease.id)
        again = services.release(uow, lease.id)
        uow.commit()
    assert released.status == again.status == "released"
    assert released.ended_at == clock.now()
    assert level(services) == StockLevel("store-paulista", SKU, 10, 0, 0, 0, 0, clock.now())
    with services.uow() as uow, pytest.raises(Conflict) as refused:
        services.commit_reservation(uow, lease.id)
    assert refused.value.code == "reservation_released"
    with services.uow() as uow, pytest.raises(Invalid) as too_long:
        services.extend(uow, lease.id, lease_seconds=8 * 86_400)
    assert too_long.value.field == "lease_seconds"


def test_a_committed_reservation_cannot_be_released(services: Services) -> None:
    stocked(services)
    with services.uow() as uow:
        lease = services.reserve(uow, location_id="store-paulista", sku=SKU, qty=1)
        services.commit_reservation(uow, lease.id)
        uow.commit()
    with services.uow() as uow, pytest.raises(Conflict) as refused:
        services.release(uow, lease.id)
    assert refused.value.code == "reservation_committed"


def test_safety_stock_is_kept_back_from_remote_reservations_only(services: Services) -> None:
    add_location(services, "store-pinheiros", safety_stock=2)
    with services.uow() as uow:
        services.receive(uow, location_id="store-pinheiros", sku=SKU, qty=3)
        assert services.available(uow, "store-pinheiros", SKU, remote=True) == 1
        assert services.availability(uow, SKU, remote=True) == {"store-pinheiros": 1}
        with pytest.raises(Conflict):
            services.reserve(uow, location_id="store-pinheiros", sku=SKU, qty=2, remote=True)
        services.reserve(uow, location_id="store-pinheiros", sku=SKU, qty=1, remote=True)
        # The store's own counter may sell what it protects from other channels.
        services.reserve(uow, location_id="store-pinheiros", sku=SKU, qty=2)
        uow.commit()
    assert level(services, "store-pinheiros") == StockLevel(
        "store-pinheiros", SKU, 3, 0, 0, 0, 3, AT
    )


def test_reserve_lines_adds_up_one_sku_before_checking(services: Services) -> None:
    stocked(services, qty=3)
    with services.uow() as uow, pytest.raises(Conflict):
        services.reserve_lines(
            uow,
            [Line("store-paulista", SKU, 2), Line("store-paulista", SKU, 2)],
            key="cart-7",
        )
    with services.uow() as uow:
        [lease] = services.reserve_lines(
            uow, [Line("store-paulista", SKU, 1), Line("store-paulista", SKU, 2)], key="cart-8"
        )
        uow.commit()
    assert (lease.qty, lease.key) == (3, f"cart-8/store-paulista/{SKU}")


def test_bucket_moves_and_their_refusals(services: Services) -> None:
    stocked(services, qty=5)
    with services.uow() as uow:
        repo, ctx = services.stock(uow), services.stock_context(uow, "user:ana")
        inventory.record(repo, ctx, "store-paulista", SKU, 2, "sellable", "damaged", "damage")
        inventory.record(repo, ctx, "store-paulista", SKU, 1, "sellable", "display", "display")
        inventory.adjust(repo, ctx, "store-paulista", SKU, -1, bucket="damaged", note="binned")
        uow.commit()
    assert level(services) == StockLevel("store-paulista", SKU, 2, 1, 1, 0, 0, AT)

    before = counts(services)
    with services.uow() as uow:
        repo, ctx = services.stock(uow), services.stock_context(uow)
        with pytest.raises(Conflict) as short:
            inventory.record(repo, ctx, "store-paulista", SKU, 2, "damaged", None, "write_off")
        with pytest.raises(Invalid) as wrong:
            inventory.record(repo, ctx, "store-paulista", SKU, 1, "damaged", "display", "display")
        with pytest.raises(Invalid) as transit:
            inventory.receive(repo, ctx, "store-paulista", SKU, 1, bucket="in_transit")
    assert short.value.message == f"only 1 of {SKU} damaged at store-paulista"
    assert (wrong.value.code, wrong.value.field) == ("invalid_movement", "from_bucket")
    assert (transit.value.code, transit.value.field) == ("invalid_movement", "to_bucket")
    assert counts(services) == before


def test_reserved_stock_cannot_be_damaged_away(services: Services) -> None:
    stocked(services, qty=3)
    with services.uow() as uow:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2)
        uow.commit()
    before = counts(services)
    with services.uow() as uow, pytest.raises(Conflict) as refused:
        inventory.record(
            services.stock(uow), services.stock_context(uow), "store-paulista", SKU, 2,
            "sellable", "damaged", "damage",
        )  # fmt: skip
    assert refused.value.message == f"only 1 of {SKU} available at store-paulista"
    assert counts(services) == before


def test_a_transfer_waits_in_transit_until_received(services: Services) -> None:
    stocked(services, "dc-sp", qty=10)
    add_location(services, "store-paulista")
    with services.uow() as uow:
        transfer = services.move(
            uow, from_location="dc-sp", to_location="store-paulista", sku=SKU, qty=4, ref="T-1"
        )
        uow.commit()
    assert level(services, "dc-sp") == StockLevel("dc-sp", SKU, 6, 0, 0, 0, 0, AT)
    assert level(services) == StockLevel("store-paulista", SKU, 0, 0, 0, 4, 0, AT)
    with services.uow(write=False) as uow:
        assert services.availability(uow, SKU) == {"dc-sp": 6, "store-paulista": 0}

    with services.uow() as uow:
        repo, ctx = services.stock(uow), services.stock_context(uow)
        part = inventory.receive_transfer(repo, ctx, transfer.id, qty=3)
        rest = inventory.receive_transfer(repo, ctx, transfer.id, bucket="damaged")
        uow.commit()
    assert (part.received, part.status) == (3, "in_transit")
    assert (rest.received, rest.status) == (4, "received")
    assert level(services) == StockLevel("store-paulista", SKU, 3, 0, 1, 0, 0, AT)

    before = counts(services)
    with services.uow() as uow, pytest.raises(Conflict) as done:
        inventory.receive_transfer(
            services.stock(uow), services.stock_context(uow), transfer.id, qty=1
        )
    assert done.value.code == "transfer_received"
    assert counts(services) == before
    with services.uow(write=False) as uow:
        refs = {m.reason for m in services.stock(uow).movements(ref=transfer.id)}
    assert refs == {"transfer_out", "transfer_in"}
    assert services.reconcile_stock() == []


def test_a_transfer_of_more_than_is_free_writes_nothing(services: Services) -> None:
    stocked(services, "dc-sp", qty=2)
    add_location(services, "store-paulista")
    with services.uow() as uow, pytest.raises(Conflict):
        services.move(uow, from_location="dc-sp", to_location="store-paulista", sku=SKU, qty=3)
    with services.uow() as uow, pytest.raises(Invalid) as same:
        services.move(uow, from_location="dc-sp", to_location="dc-sp", sku=SKU, qty=1)
    assert same.value.code == "same_location"
    assert table_counts(services, "commerce_stock_movements", "commerce_transfers") == {
        "commerce_stock_movements": 1,
        "commerce_transfers": 0,
    }


def test_set_count_receives_adjusts_or_leaves_alone(services: Services) -> None:
    add_location(services, "store-paulista")
    with services.uow() as uow:
        repo, ctx = services.stock(uow), services.stock_context(uow)
        first = inventory.set_count(repo, ctx, "store-paulista", SKU, 5)
        same = inventory.set_count(repo, ctx, "store-paulista", SKU, 5)
        fewer = inventory.set_count(repo, ctx, "store-paulista", SKU, 3)
        shown = inventory.set_count(repo, ctx, "store-paulista", SKU, 1, bucket="display")
        uow.commit()
    assert first is not None
    assert (first.reason, first.qty, first.to_bucket) == ("receipt", 5, "sellable")
    assert same is None
    assert fewer is not None
    assert (fewer.reason, fewer.qty, fewer.from_bucket) == ("adjustment", 2, "sellable")
    assert shown is not None
    assert shown.reason == "receipt"
    assert level(services) == StockLevel("store-paulista", SKU, 3, 1, 0, 0, 0, AT)


def _refused(services: Services, statement: str) -> sa.exc.DatabaseError:
    with services.engines.main.connect() as conn:
        try:
            conn.execute(sa.text(statement))
        except sa.exc.DatabaseError as error:
            return error
    raise AssertionError(f"{statement} went through")


def test_the_ledger_refuses_update_and_delete(services: Services) -> None:
    stocked(services)
    for statement in (
        "UPDATE commerce_stock_movements SET qty = 1",
        "DELETE FROM commerce_stock_movements",
    ):
        assert "append-only" in str(_refused(services, statement))
    if services.engines.main.dialect.name == "postgresql":
        assert "append-only" in str(_refused(services, "TRUNCATE commerce_stock_movements"))
    assert table_counts(services, "commerce_stock_movements") == {"commerce_stock_movements": 1}


def test_balances_cannot_go_negative_even_by_hand(services: Services) -> None:
    stocked(services, qty=1)
    for statement in (
        "UPDATE commerce_stock_levels SET reserved = 2",
        "UPDATE commerce_stock_levels SET damaged = -1",
    ):
        assert isinstance(_refused(services, statement), sa.exc.IntegrityError)
    assert level(services) == StockLevel("store-paulista", SKU, 1, 0, 0, 0, 0, AT)


def test_reconcile_finds_a_tampered_balance_and_fixes_it(services: Services) -> None:
    stocked(services, qty=10)
    with services.uow() as uow:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2)
        uow.commit()
    with services.engines.main.begin() as conn:
        conn.execute(sa.text("UPDATE commerce_stock_levels SET sellable = 13, damaged = 1"))

    found = services.reconcile_stock()
    assert [(d.bucket, d.recorded, d.derived) for d in found] == [
        ("sellable", 13, 10),
        ("damaged", 1, 0),
    ]
    assert {(d.location_id, d.sku) for d in found} == {("store-paulista", SKU)}

    assert services.reconcile_stock(fix=True) == found
    assert services.reconcile_stock() == []
    assert level(services) == StockLevel("store-paulista", SKU, 10, 0, 0, 0, 2, AT)


def test_reconcile_finds_a_reserved_counter_that_drifted_from_its_leases(
    services: Services,
) -> None:
    stocked(services, qty=10)
    with services.engines.main.begin() as conn:
        conn.execute(sa.text("UPDATE commerce_stock_levels SET reserved = 4"))
    [drift] = services.reconcile_stock()
    assert (drift.bucket, drift.recorded, drift.derived) == ("reserved", 4, 0)


def test_inventory_answers_the_catalogs_questions(services: Services) -> None:
    stocked(services, qty=3)
    add_location(services, "dc-sp", kind="distribution_centre", capabilities=["ship"])
    add_location(services, "store-closed", active=False)
    with services.uow(write=False) as uow:
        [places] = services.bus.ask(ListLocations(), uow)
        [stock] = services.bus.ask(CountAvailable((SKU, "OTHER")), uow)
    assert places == [
        LocationView("dc-sp", "Dc-Sp", "distribution_centre", frozenset({"ship"})),
        LocationView("store-paulista", "Store-Paulista", "store", frozenset({"pickup"})),
    ]
    assert stock == {("store-paulista", SKU): 3}


def test_an_inactive_location_takes_no_reservation(services: Services) -> None:
    stocked(services)
    with services.uow() as uow:
        update_location(services.stock(uow), "store-paulista", uow.clock.now(), active=False)
        uow.commit()
    with services.uow() as uow, pytest.raises(Conflict) as refused:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=1)
    assert refused.value.code == "location_inactive"
    with services.uow(write=False) as uow:
        assert services.locations(uow) == []


def test_the_worker_frees_ended_leases_when_its_check_is_due(
    services: Services, clock: FixedClock
) -> None:
    stocked(services, qty=2)
    with services.uow() as uow:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2, lease_seconds=5)
        uow.commit()
    worker = Worker(services)
    assert worker.expire_leases() == 0
    clock.advance(timedelta(seconds=5))
    assert worker.expire_leases() is None  # not due again yet
    worker._leases_due = 0.0
    assert worker.expire_leases() == 1
    assert level(services) == StockLevel("store-paulista", SKU, 2, 0, 0, 0, 0, clock.now())

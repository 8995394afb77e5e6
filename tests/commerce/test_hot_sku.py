"""A reservation holds its balance row only from its conditional update to the commit: the
lease row goes in first, leases whose time is up are expired only when the stock is short,
and whatever a refused hold wrote is taken back, even if the caller commits after all."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from omnicx.bootstrap import Services, build
from omnicx.commerce.inventory import StockLevel
from omnicx.commerce.locations import update_location
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import Conflict, FixedClock, NotFound
from tests.commerce.test_inventory_store import AT, SKU, counts, level, stocked


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    built = build(settings, clock=clock)
    upgrade(built.engines)
    yield built
    built.close()


def statuses(services: Services) -> dict[str, str]:
    with services.uow(write=False) as uow:
        rows = uow.conn.execute(sa.text("SELECT key, status FROM commerce_reservations"))
        return {str(key): str(status) for key, status in rows}


def test_a_refused_hold_leaves_no_lease_even_when_the_caller_commits(services: Services) -> None:
    stocked(services, qty=4)
    before = counts(services)
    with services.uow() as uow:
        with pytest.raises(Conflict) as refused:
            services.reserve(uow, location_id="store-paulista", sku=SKU, qty=5, key="too-many")
        uow.commit()
    assert refused.value.code == "insufficient_stock"
    assert counts(services) == before
    assert statuses(services) == {}
    assert level(services) == StockLevel("store-paulista", SKU, 4, 0, 0, 0, 0, AT)


def test_a_hold_that_fits_leaves_ended_leases_to_the_worker(
    services: Services, clock: FixedClock
) -> None:
    stocked(services, qty=10)
    with services.uow() as uow:
        services.reserve(
            uow, location_id="store-paulista", sku=SKU, qty=4, lease_seconds=30, key="old"
        )
        uow.commit()
    clock.advance(timedelta(seconds=31))

    with services.uow() as uow:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2, key="new")
        uow.commit()

    # The ended lease still counts as free, and the worker's pass marks it expired.
    assert statuses(services) == {"old": "active", "new": "active"}
    with services.uow(write=False) as uow:
        assert services.available(uow, "store-paulista", SKU) == 8
    assert services.expire_reservations() == 1
    assert statuses(services) == {"old": "expired", "new": "active"}
    assert level(services) == StockLevel("store-paulista", SKU, 10, 0, 0, 0, 2, clock.now())
    assert services.reconcile_stock() == []


def test_a_short_hold_expires_ended_leases_and_takes_their_units(
    services: Services, clock: FixedClock
) -> None:
    stocked(services, qty=10)
    with services.uow() as uow:
        for key in ("a", "b"):
            services.reserve(
                uow, location_id="store-paulista", sku=SKU, qty=4, lease_seconds=30, key=key
            )
        uow.commit()
    clock.advance(timedelta(seconds=31))

    with services.uow() as uow:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=9, key="big")
        uow.commit()

    assert statuses(services) == {"a": "expired", "b": "expired", "big": "active"}
    assert level(services) == StockLevel("store-paulista", SKU, 10, 0, 0, 0, 9, clock.now())
    assert services.reconcile_stock() == []


def test_a_key_replayed_after_the_location_closed_answers_with_its_lease(
    services: Services,
) -> None:
    stocked(services)
    with services.uow() as uow:
        first = services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2, key="k")
        uow.commit()
    with services.uow() as uow:
        update_location(services.stock(uow), "store-paulista", uow.clock.now(), active=False)
        uow.commit()
    before = counts(services)

    with services.uow() as uow:
        again = services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2, key="k")
    with services.uow() as uow, pytest.raises(Conflict) as closed:
        services.reserve(uow, location_id="store-paulista", sku=SKU, qty=2, key="other")
    with services.uow() as uow, pytest.raises(NotFound) as unknown:
        services.reserve(uow, location_id="store-nowhere", sku=SKU, qty=2, key="k2")

    assert again == first
    assert (closed.value.code, closed.value.field) == ("location_inactive", "location_id")
    assert (unknown.value.code, unknown.value.field) == ("location_not_found", "location_id")
    assert counts(services) == before

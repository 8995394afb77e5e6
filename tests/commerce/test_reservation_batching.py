"""Group commit of reservations: holds asked for together share one transaction, and each is
granted or refused on its own, a refusal leaving nothing behind; on SQLite and PostgreSQL."""

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from omnicx.bootstrap import Services, build
from omnicx.commerce import inventory
from omnicx.commerce.batcher import Hold, Outcome, ReservationBatcher, reserve_many
from omnicx.commerce.inventory import Reservation, StockLevel
from omnicx.commerce.messages import StockReserved
from omnicx.commerce.store.inventory import SqlInventoryRepository
from omnicx.config import Settings
from omnicx.db import UnitOfWork
from omnicx.db.migrate import upgrade
from omnicx.kernel import Conflict, FixedClock, Invalid, NotFound
from tests.commerce.test_inventory_store import AT, SKU, add_location, counts, level, stocked

WHERE = "store-paulista"


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build(settings, clock=FixedClock(AT))
    upgrade(built.engines)
    yield built
    built.close()


@pytest.fixture
def reserved(services: Services) -> list[StockReserved]:
    seen: list[StockReserved] = []
    services.bus.subscribe(StockReserved, lambda event, uow: seen.append(event))
    return seen


def statuses(services: Services) -> dict[str, str]:
    with services.uow(write=False) as uow:
        rows = uow.conn.execute(sa.text("SELECT key, status FROM commerce_reservations"))
        return {str(key): str(status) for key, status in rows}


def many(services: Services) -> Callable[[Sequence[Hold]], list[Outcome]]:
    return partial(reserve_many, services.uow, services.stock, services.stock_context)


def test_each_hold_of_a_batch_is_granted_or_refused_on_its_own(
    services: Services, reserved: list[StockReserved]
) -> None:
    stocked(services, qty=5)
    before = counts(services)

    outcomes = many(services)(
        [
            Hold(WHERE, SKU, 2, key="a", ref="cart a"),
            Hold(WHERE, SKU, 4, key="b"),  # 3 are left: refused
            Hold(WHERE, SKU, 3, key="c", actor="clerk@store"),
            Hold(WHERE, SKU, 2, key="a"),  # the same key again: the same lease
            Hold(WHERE, SKU, 3, key="a"),  # the key named for other stock
            Hold("store-nowhere", SKU, 1, key="d"),
            Hold(WHERE, SKU, 0, key="e"),
        ]
    )

    a, b, c, again, reused, nowhere, zero = outcomes
    assert isinstance(a, Reservation)
    assert isinstance(c, Reservation)
    assert (a.key, a.qty, a.status, a.ref, a.actor) == ("a", 2, "active", "cart a", "system")
    assert (c.key, c.qty, c.status, c.actor) == ("c", 3, "active", "clerk@store")
    assert again == a
    assert isinstance(b, Conflict)
    assert (b.code, b.message, b.field) == (
        "insufficient_stock",
        f"only 3 of {SKU} available at {WHERE}",
        "qty",
    )
    assert isinstance(reused, Conflict)
    assert reused.code == "key_reused"
    assert isinstance(nowhere, NotFound)
    assert nowhere.code == "location_not_found"
    assert isinstance(zero, Invalid)
    assert zero.code == "invalid_qty"
    # Only the two granted holds were written, and they are committed.
    assert statuses(services) == {"a": "active", "c": "active"}
    assert counts(services) == {**before, "commerce_reservations": 2}
    assert level(services) == StockLevel(WHERE, SKU, 5, 0, 0, 0, 5, AT)
    assert [event.reservation_id for event in reserved] == [a.id, c.id]
    assert services.reconcile_stock() == []


def test_holds_that_all_fit_are_held_with_one_update(
    services: Services, reserved: list[StockReserved]
) -> None:
    stocked(services, qty=10)
    before = counts(services)

    outcomes = many(services)(
        [
            Hold(WHERE, SKU, 2, key="x", ref="cart x", lease_seconds=60),
            Hold(WHERE, SKU, 3, key="y", actor="clerk@store"),
            Hold(WHERE, SKU, 1, key="z", remote=True),
            Hold(WHERE, SKU, 1, remote=True),
        ]
    )

    assert all(isinstance(outcome, Reservation) for outcome in outcomes)
    x, y, z, anonymous = (outcome for outcome in outcomes if isinstance(outcome, Reservation))
    assert (x.key, x.qty, x.ref, x.expires_at) == ("x", 2, "cart x", AT + timedelta(seconds=60))
    assert (y.key, y.qty, y.actor) == ("y", 3, "clerk@store")
    assert (z.key, z.qty, anonymous.key, anonymous.qty) == ("z", 1, anonymous.id, 1)
    assert statuses(services) == {
        "x": "active",
        "y": "active",
        "z": "active",
        anonymous.id: "active",
    }
    assert counts(services) == {**before, "commerce_reservations": 4}
    assert level(services) == StockLevel(WHERE, SKU, 10, 0, 0, 0, 7, AT)
    assert sorted(event.reservation_id for event in reserved) == sorted(
        lease.id for lease in (x, y, z, anonymous)
    )
    assert services.reconcile_stock() == []


def test_holding_together_writes_nothing_unless_every_lease_fits(services: Services) -> None:
    stocked(services, qty=5)
    add_location(services, "store-closed", active=False)
    with services.uow() as uow:
        services.reserve(uow, location_id=WHERE, sku=SKU, qty=1, key="taken")
        uow.commit()
    before = counts(services)

    def together(location_id: str, sizes: Sequence[int], keys: Sequence[str]) -> bool:
        with services.uow() as uow:
            ctx = services.stock_context(uow)
            leases = [
                inventory.new_lease(ctx, location_id, SKU, qty, key=key)
                for qty, key in zip(sizes, keys, strict=True)
            ]
            held = inventory.reserve_together(services.stock(uow), ctx, leases, remote=False)
            uow.commit()
        return held

    assert together(WHERE, [2, 3], ["p", "q"]) is False  # 4 are free
    assert together(WHERE, [1, 1], ["r", "taken"]) is False
    assert together("store-closed", [1, 1], ["s", "t"]) is False
    assert counts(services) == before
    assert statuses(services) == {"taken": "active"}
    assert level(services) == StockLevel(WHERE, SKU, 5, 0, 0, 0, 1, AT)
    assert together(WHERE, [2, 2], ["p", "q"]) is True
    assert level(services) == StockLevel(WHERE, SKU, 5, 0, 0, 0, 5, AT)
    assert statuses(services) == {"taken": "active", "p": "active", "q": "active"}


def test_a_refused_hold_alone_writes_nothing(services: Services) -> None:
    stocked(services, qty=4)
    before = counts(services)

    with pytest.raises(Conflict) as refused:
        services.hold_stock(location_id=WHERE, sku=SKU, qty=5, key="too-many")

    assert refused.value.code == "insufficient_stock"
    assert counts(services) == before
    assert statuses(services) == {}
    assert level(services) == StockLevel(WHERE, SKU, 4, 0, 0, 0, 0, AT)


def test_a_lone_hold_is_committed_when_it_returns(services: Services) -> None:
    stocked(services, qty=4)

    lease = services.hold_stock(
        location_id=WHERE, sku=SKU, qty=3, lease_seconds=60, key="k", ref="cart 1"
    )

    assert (lease.key, lease.qty, lease.status, lease.ref) == ("k", 3, "active", "cart 1")
    assert statuses(services) == {"k": "active"}
    assert level(services) == StockLevel(WHERE, SKU, 4, 0, 0, 0, 3, AT)
    # The same key again answers with the same lease and holds nothing more.
    assert services.hold_stock(location_id=WHERE, sku=SKU, qty=3, key="k") == lease
    assert level(services) == StockLevel(WHERE, SKU, 4, 0, 0, 0, 3, AT)


def test_holds_waiting_together_share_the_next_batch(services: Services) -> None:
    stocked(services, qty=6)
    batches: list[list[str]] = []
    first_in = threading.Event()
    go_on = threading.Event()

    def recording(holds: Sequence[Hold]) -> list[Outcome]:
        batches.append([hold.key or "" for hold in holds])
        if len(batches) == 1:
            first_in.set()
            go_on.wait()
        return many(services)(holds)

    batcher = ReservationBatcher(recording)
    outcomes: dict[str, Reservation | Exception] = {}

    def ask(key: str, qty: int) -> None:
        try:
            outcomes[key] = batcher.reserve(Hold(WHERE, SKU, qty, key=key))
        except Exception as error:  # each caller's own refusal
            outcomes[key] = error

    first = threading.Thread(target=ask, args=("first", 1))
    first.start()
    first_in.wait()
    # While the first hold is being written, four more arrive.
    rest = [threading.Thread(target=ask, args=(f"next-{n}", 2)) for n in range(4)]
    for thread in rest:
        thread.start()
    while batcher.waiting() < 4:
        threading.Event().wait(0.001)
    go_on.set()
    for thread in [first, *rest]:
        thread.join()
    batcher.close()

    assert batches[0] == ["first"]
    assert sorted(batches[1]) == ["next-0", "next-1", "next-2", "next-3"]
    assert len(batches) == 2
    granted = sorted(key for key, got in outcomes.items() if isinstance(got, Reservation))
    refused = [got for got in outcomes.values() if isinstance(got, Conflict)]
    # 6 units: the first takes 1, two of the next take 2 each, and the last two are refused.
    assert len(granted) == 3
    assert "first" in granted
    assert [error.code for error in refused] == ["insufficient_stock"] * 2
    assert statuses(services) == dict.fromkeys(granted, "active")
    assert level(services) == StockLevel(WHERE, SKU, 6, 0, 0, 0, 5, AT)


def test_a_hold_that_meets_a_database_error_is_tried_again_alone(
    services: Services,
) -> None:
    stocked(services, qty=10)
    failed: list[str] = []

    class Flaky(SqlInventoryRepository):
        def add_reservations(self, reservations: Sequence[Reservation]) -> list[str]:
            if any(lease.key == "flaky" for lease in reservations) and not failed:
                failed.append("flaky")
                raise exc.OperationalError("INSERT", {}, Exception("deadlock detected"))
            return super().add_reservations(reservations)

    def flaky(uow: UnitOfWork) -> Flaky:
        return Flaky(uow.conn)

    outcomes = reserve_many(
        services.uow,
        flaky,
        services.stock_context,
        [Hold(WHERE, SKU, 1, key="steady"), Hold(WHERE, SKU, 2, key="flaky")],
    )

    steady, retried = outcomes
    assert isinstance(steady, Reservation)
    assert isinstance(retried, Reservation)
    assert (steady.key, retried.key, retried.qty) == ("steady", "flaky", 2)
    assert failed == ["flaky"]
    assert statuses(services) == {"steady": "active", "flaky": "active"}
    assert level(services) == StockLevel(WHERE, SKU, 10, 0, 0, 0, 3, AT)
    assert services.reconcile_stock() == []


def test_concurrent_callers_each_get_their_own_lease(services: Services) -> None:
    stocked(services, qty=50)
    granted: dict[str, Reservation] = {}
    refused: list[str] = []
    errors: list[BaseException] = []

    def buyer(n: int) -> None:
        for i in range(10):
            key = f"buyer-{n}-{i}"
            try:
                granted[key] = services.hold_stock(location_id=WHERE, sku=SKU, qty=1, key=key)
            except Conflict as error:
                if error.code != "insufficient_stock":
                    errors.append(error)
                refused.append(key)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(granted) == 50
    assert len(refused) == 30
    assert all(lease.key == key and lease.qty == 1 for key, lease in granted.items())
    assert statuses(services) == dict.fromkeys(granted, "active")
    assert level(services) == StockLevel(WHERE, SKU, 50, 0, 0, 0, 50, AT)
    assert services.reconcile_stock() == []


def test_a_failed_batch_reaches_every_caller() -> None:
    def broken(holds: Sequence[Hold]) -> list[Outcome]:
        raise RuntimeError("database is gone")

    batcher = ReservationBatcher(broken)
    with pytest.raises(RuntimeError, match="database is gone"):
        batcher.reserve(Hold(WHERE, SKU, 1))
    batcher.close()
    # Once closed, holds are reserved by the caller's own thread.
    with pytest.raises(RuntimeError, match="database is gone"):
        batcher.reserve(Hold(WHERE, SKU, 1))

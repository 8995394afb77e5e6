"""No oversell under concurrency, on SQLite and on PostgreSQL: many clients, each with its own
services and connections, reserve and sell one SKU at one location at the same time; what
was sold plus what remains is the starting stock, every balance agrees with the ledger, and
every refused attempt left nothing behind."""

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.commerce.inventory import StockLevel
from omnicx.commerce.locations import Address, OpeningHours, create_location
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import Conflict
from tests.conftest import _api_key

START = 50
THREADS = 16
ATTEMPTS = 20
SKU = "SNEAKER-42"
WHERE = "store-paulista"


@dataclass
class Tally:
    sold: int = 0
    sold_units: list[tuple[str, int]] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


@pytest.fixture
def seeded(make_settings: Callable[..., Settings]) -> Settings:
    settings = make_settings(rate_limit_api="100000/second")
    services = build(settings)
    upgrade(services.engines)
    with services.uow() as uow:
        create_location(
            services.stock(uow),
            location_id=WHERE,
            name="Store Paulista",
            kind="store",
            capabilities=["pickup", "ship_from_store"],
            address=Address("BR", city="São Paulo"),
            hours=OpeningHours("America/Sao_Paulo"),
            now=uow.clock.now(),
        )
        services.receive(uow, location_id=WHERE, sku=SKU, qty=START, ref="opening stock")
        uow.commit()
    services.close()
    return settings


def _run(threads: int, work: Callable[[int, threading.Barrier], None]) -> None:
    barrier = threading.Barrier(threads)
    workers = [threading.Thread(target=work, args=(i, barrier)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not any(worker.is_alive() for worker in workers)


def _check_books(services: Services, tally: Tally) -> None:
    """sold + remaining = START, nothing negative or held, ledger = balances, refusals wrote
    nothing."""
    assert not tally.errors, tally.errors
    with services.uow(write=False) as uow:
        level = services.stock(uow).level(WHERE, SKU)
        assert level is not None
        sales = services.stock(uow).movements(sku=SKU, limit=10_000)
        keys = {
            row.key: row.status
            for row in uow.conn.execute(sa.text("SELECT key, status FROM commerce_reservations"))
        }
    assert tally.sold + level.sellable == START
    assert level == StockLevel(WHERE, SKU, START - tally.sold, 0, 0, 0, 0, level.updated_at)
    assert sum(m.qty for m in sales if m.reason == "sale") == tally.sold
    assert len([m for m in sales if m.reason == "sale"]) == len(tally.sold_units)
    assert tally.sold > 0
    assert tally.refused, "the test should run out of stock"
    assert not set(tally.refused) & set(keys)
    assert {key for key, status in keys.items() if status == "committed"} == {
        key for key, _ in tally.sold_units
    }
    assert {key for key, status in keys.items() if status == "released"} == set(tally.released)
    assert services.reconcile_stock() == []


def test_many_clients_never_oversell_one_sku(seeded: Settings) -> None:
    clients = [build(seeded) for _ in range(THREADS)]
    tally = Tally()
    lock = threading.Lock()

    def client(number: int, barrier: threading.Barrier) -> None:
        services, rng = clients[number], random.Random(number)
        barrier.wait()
        try:
            for attempt in range(ATTEMPTS):
                key, qty = f"client-{number}-{attempt}", rng.randint(1, 3)
                try:
                    with services.uow() as uow:
                        lease = services.reserve(uow, location_id=WHERE, sku=SKU, qty=qty, key=key)
                        uow.commit()
                except Conflict as refused:
                    if refused.code != "insufficient_stock":
                        raise
                    with lock:
                        tally.refused.append(key)
                    continue
                with services.uow() as uow:
                    if attempt % 5 == 4:
                        services.release(uow, lease.id)
                    else:
                        services.commit_reservation(uow, lease.id, ref=f"order-{key}")
                    uow.commit()
                with lock:
                    if attempt % 5 == 4:
                        tally.released.append(key)
                    else:
                        tally.sold += qty
                        tally.sold_units.append((key, qty))
        except BaseException as error:
            tally.errors.append(error)

    try:
        _run(THREADS, client)
        _check_books(clients[0], tally)
    finally:
        for services in clients:
            services.close()


def test_one_key_sent_by_many_clients_at_once_holds_once(seeded: Settings) -> None:
    clients = [build(seeded) for _ in range(8)]
    answers: list[Any] = []

    def client(number: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            with clients[number].uow() as uow:
                lease = clients[number].reserve(uow, location_id=WHERE, sku=SKU, qty=2, key="pos-7")
                uow.commit()
            answers.append(lease.id)
        except BaseException as error:
            answers.append(error)

    try:
        _run(8, client)
        assert len(answers) == 8
        assert len(set(answers)) == 1, answers
        with clients[0].uow(write=False) as uow:
            level = clients[0].stock(uow).level(WHERE, SKU)
            rows = uow.conn.execute(sa.text("SELECT count(*) FROM commerce_reservations")).scalar()
        assert level is not None
        assert (level.sellable, level.reserved) == (START, 2)
        assert rows == 1
        assert clients[0].reconcile_stock() == []
    finally:
        for services in clients:
            services.close()


def test_concurrent_http_clients_never_oversell(seeded: Settings) -> None:
    services = build(seeded)
    tally = Tally()
    lock = threading.Lock()
    try:
        headers = _api_key(services, "admin")
        with TestClient(app_for(services, run_worker=False)) as http:

            def client(number: int, barrier: threading.Barrier) -> None:
                rng = random.Random(100 + number)
                barrier.wait()
                try:
                    for attempt in range(10):
                        key, qty = f"web-{number}-{attempt}", rng.randint(1, 4)
                        body = {"location_id": WHERE, "sku": SKU, "qty": qty, "key": key}
                        held = http.post("/api/commerce/reservations", json=body, headers=headers)
                        if held.status_code == 409:
                            assert held.json()["error"]["code"] == "insufficient_stock"
                            with lock:
                                tally.refused.append(key)
                            continue
                        assert held.status_code == 201, held.text
                        lease_id = held.json()["id"]
                        sold = http.post(
                            f"/api/commerce/reservations/{lease_id}/commit",
                            json={"reason": "sale", "ref": f"order-{key}"},
                            headers=headers,
                        )
                        assert sold.status_code == 200, sold.text
                        with lock:
                            tally.sold += qty
                            tally.sold_units.append((key, qty))
                except BaseException as error:
                    tally.errors.append(error)

            _run(8, client)
        _check_books(services, tally)
    finally:
        services.close()

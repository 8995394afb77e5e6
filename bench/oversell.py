"""Hot-SKU benchmark: K concurrent clients reserve and sell one SKU at one location.

Each client has its own services and connections (as separate servers would) and loops:
reserve 1 unit with an idempotency key, then commit the reservation as a sale, each in its own
transaction. The stock is large enough never to run out, so every attempt contends for the
same balance row. It measures reserve+commit pairs per second and the p99 latency of one
reservation, then checks the books (sold + remaining = start, ledger = balances).

    python bench/oversell.py [--clients K] [--seconds T] [--database-url URL]

A PostgreSQL URL gets a schema of its own for the run, dropped at the end.

The anchor (anchors/commerce.md §3, §7): no open-source engine publishes hot-SKU figures;
Saleor serialises checkouts of a variant across every warehouse of the channel, Medusa needs
a distributed lock to avoid oversell. The last line is
`RESULT hot_sku_sales_per_s=<n> reserve_p99_ms=<n>`.
"""

import argparse
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from omnicx.bootstrap import Services, build
from omnicx.commerce.locations import Address, OpeningHours, create_location
from omnicx.config import Settings
from omnicx.db.migrate import upgrade

SKU = "HOT-SKU-1"
WHERE = "store-bench"
START = 10_000_000


def _seed(settings: Settings) -> None:
    services = build(settings)
    try:
        upgrade(services.engines)
        with services.uow() as uow:
            create_location(
                services.stock(uow),
                location_id=WHERE,
                name="Bench store",
                kind="store",
                capabilities=["pickup"],
                address=Address("BR"),
                hours=OpeningHours(),
                now=uow.clock.now(),
            )
            for _ in range(START // 1_000_000):
                services.receive(uow, location_id=WHERE, sku=SKU, qty=1_000_000, ref="bench")
            uow.commit()
    finally:
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default=None, help="default: a scratch SQLite file")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="omnicx-oversell-"))
    url, schema = args.database_url or f"sqlite:///{scratch / 'omnicx.db'}", None
    if url.startswith("postgresql"):
        # A schema of its own, dropped afterwards: the database is left as it was found.
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with sa.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        url = url.render_as_string(hide_password=False)
    settings = Settings(data_dir=scratch, database_url=url, run_worker=False)
    try:
        _seed(settings)
        clients = [build(settings) for _ in range(args.clients)]
        latencies: list[list[float]] = [[] for _ in clients]
        sold = [0] * args.clients
        stop = time.monotonic() + args.seconds
        barrier = threading.Barrier(args.clients)

        def client(number: int) -> None:
            services: Services = clients[number]
            barrier.wait()
            attempt = 0
            while time.monotonic() < stop:
                attempt += 1
                started = time.perf_counter()
                with services.uow() as uow:
                    lease = services.reserve(
                        uow, location_id=WHERE, sku=SKU, qty=1, key=f"b-{number}-{attempt}"
                    )
                    uow.commit()
                latencies[number].append(time.perf_counter() - started)
                with services.uow() as uow:
                    services.commit_reservation(uow, lease.id, ref=f"bench-{number}")
                    uow.commit()
                sold[number] += 1

        began = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began

        books = clients[0]
        with books.uow(write=False) as uow:
            level = books.stock(uow).level(WHERE, SKU)
        assert level is not None
        assert sum(sold) + level.sellable == START, "sold + remaining != start"
        assert books.reconcile_stock() == [], "the balances differ from the ledger"
        for services in clients:
            services.close()

        every = sorted(x for per_client in latencies for x in per_client)
        p99 = every[int(len(every) * 0.99) - 1] * 1000 if every else 0.0
        rate = sum(sold) / elapsed
        print(f"database        {url.split(':')[0]}")
        print(f"clients         {args.clients}")
        print(f"sales           {sum(sold)} in {elapsed:.1f} s")
        print(f"reserve median  {statistics.median(every) * 1000:.1f} ms, p99 {p99:.1f} ms")
        print("books           sold + remaining = start; ledger = balances")
        print(f"RESULT hot_sku_sales_per_s={rate:.0f} reserve_p99_ms={p99:.1f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if schema is not None and args.database_url:
            engine = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


if __name__ == "__main__":
    main()

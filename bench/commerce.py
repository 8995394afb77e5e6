"""Commerce benchmark: reservations on one hot SKU, no oversell, and checkout latency.

Starts `omnicx serve` on loopback (embedded SQLite in a scratch directory, or a schema of
its own in the PostgreSQL database at --database-url, dropped at the end), seeds a shop
through the API (a distribution centre, a store, a catalogue listed and priced on the web,
stock), then measures:

1. hot SKU: K concurrent clients (default 32) each reserve 1 unit of the same SKU at the
   same location, each call returning once its reservation is committed, for T seconds;
   twice, once through HTTP (`POST /api/commerce/reservations`, the end-to-end figure) and
   once in-process (`Services.hold_stock`; the clients share N sets of services, default 1,
   as N server processes would, each set with its connections and its reservation batcher,
   which gives holds asked for at the same time one commit; on SQLite one shared set, as the
   embedded server has). Every reservation is then sold
   (`commit_reservation`) and the books checked: sold + remaining = start, no bucket below
   zero, and the balances equal to what the ledger and the live leases say.
2. sell-out: the same K clients reserve a SKU with only S units until every one of them is
   refused with 409 insufficient_stock. Exactly S must be granted: more is oversold.
3. checkout: C web visitors (default 8) each build a cart of 2 or 3 lines over HTTP, then
   `POST /api/commerce/carts/{id}/checkout` with an Idempotency-Key, a customer and a
   payment (the order is priced, the stock reserved and the order written in one
   transaction); about one checkout in ten is sent twice and must answer 200 with the same
   order. First paced at R visits/s in all (default 10), then back to back; p50/p95/p99 of
   the checkout request, and every order placed must hold exactly the units it took.

Beside the hot-SKU rates it prints a ceiling measured in the same run: the same conditional
UPDATE of one balance row, one per committed transaction, by the same number of threads
over raw driver connections (psycopg or sqlite3), without omnicx.

    python bench/commerce.py [--database-url URL] [--clients K] [--seconds T] [--scarce S]
                             [--servers N] [--checkout-clients C] [--checkout-rate R]
                             [--checkout-seconds T]

The last line is `RESULT reservations_per_s=<n> oversold=<n> checkout_p95_ms=<n>`:
reservations_per_s is the in-process hot-SKU rate (what the database and the domain allow;
the HTTP rate is printed above it) and checkout_p95_ms the paced phase's.
"""

import argparse
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import sqlalchemy as sa

from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.kernel import Conflict

BIN = Path(sys.executable).parent
DC, STORE = "dc-bench", "store-bench"
HOT_HTTP, HOT_APP = "HOT-HTTP", "HOT-APP"
SCARCE_HTTP, SCARCE_APP = "SCARCE-HTTP", "SCARCE-APP"
START = 1_000_000
LEASE = 3600
PRODUCTS, SIZES = 20, ("P", "M", "G")
ADDRESS = {
    "name": "Marina Souza",
    "line1": "Rua Augusta, 1500",
    "city": "São Paulo",
    "postal_code": "01304-001",
    "country": "BR",
}
ANCHOR = (
    "Saleor, Odoo and Medusa publish no orders/s or hot-SKU figures (anchors/commerce.md §7): "
    "Saleor locks every stock row of a variant FOR UPDATE per checkout, Medusa oversells "
    "without its locking module (#16569), Odoo retries with back-off up to 2^n s"
)
ANCHOR_CHECKOUT = "Medusa add-to-cart 262 ms → 1,045 ms (2.10, #13335); 10-15 s hosted (#10751)"
TARGET = "≥ 1,000 reservations/s on PostgreSQL, zero oversell, checkout p95 < 100 ms"


# -- a running server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def omnicx(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(BIN / "omnicx"), *args], env=env, check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
    return result


@dataclass
class Shop:
    url: str
    headers: dict[str, str]
    server: int
    """The pid of `omnicx serve`."""
    settings: Settings
    database_url: str | None
    """The PostgreSQL database given (None: SQLite)."""
    schema: str
    """The run's PostgreSQL schema, or the SQLite file of the ceiling."""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=60.0)


@contextmanager
def database(url: str | None, scratch: Path) -> Iterator[tuple[str, str]]:
    """(omnicx's database URL, the ceiling's); a PostgreSQL schema is created and dropped."""
    if url is None:
        yield f"sqlite:///{scratch / 'omnicx.db'}", str(scratch / "ceiling.db")
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False), schema
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def running(url: str | None) -> Iterator[Shop]:
    scratch = Path(tempfile.mkdtemp(prefix="omnicx-bench-commerce-"))
    try:
        with database(url, scratch) as (db_url, raw):
            env = {
                **os.environ,
                "OMNICX_DATA_DIR": str(scratch),
                "OMNICX_DATABASE_URL": db_url,
                # One key drives every client: lift the per-key API rate limit.
                "OMNICX_RATE_LIMIT_API": "1000000/second",
                "OMNICX_SMTP_ENABLED": "false",
            }
            for name in ("OMNICX_RUN_WORKER", "OMNICX_LIVE_BROKER_URL"):
                env.pop(name, None)
            migrate = [str(BIN / "omnicx"), "migrate"]
            subprocess.run(migrate, env=env, check=True, capture_output=True)
            key = omnicx(env, "keys", "create", "--name", "bench", "--role", "admin")["key"]
            port = free_port()
            server = subprocess.Popen([str(BIN / "omnicx"), "serve", "--port", str(port)], env=env)
            base = f"http://127.0.0.1:{port}"
            try:
                wait_up(base)
                settings = Settings(data_dir=scratch, database_url=db_url, run_worker=False)
                auth = {"Authorization": f"Bearer {key}"}
                yield Shop(base, auth, server.pid, settings, url, raw)
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the server and its worker child (user + system)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(OSError):  # a thread of the pool that just ended
            pids += [int(c) for c in (task / "children").read_text().split()]
    total = 0.0
    for each in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wait_up(base: str) -> None:
    with httpx.Client(base_url=base, timeout=5.0) as http:
        for _ in range(400):
            try:
                if http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise SystemExit("omnicx serve did not come up")


def call(http: httpx.Client, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    response = http.request(method, path, json=body, **kw)
    if response.status_code >= 300:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json()


def seed(shop: Shop, scarce: int) -> dict[str, int]:
    """Locations, products listed and priced on the web, stock; returns the prices."""
    prices: dict[str, int] = {}
    with shop.client() as http:
        for location_id, kind, capabilities in (
            (DC, "distribution_centre", ["ship"]),
            (STORE, "store", ["pickup", "ship_from_store"]),
        ):
            address = {"country": "BR", "city": "São Paulo"}
            place = {"id": location_id, "name": location_id, "kind": kind, "address": address}
            call(http, "POST", "/api/commerce/locations", {**place, "capabilities": capabilities})
        catalogue = [("hot", [HOT_HTTP, HOT_APP, SCARCE_HTTP, SCARCE_APP])] + [
            (f"item-{p:02d}", [f"ITEM-{p:02d}-{size}" for size in SIZES]) for p in range(PRODUCTS)
        ]
        for handle, skus in catalogue:
            variants = [{"sku": sku, "options": {"size": sku}} for sku in skus]
            title = handle.replace("-", " ").title()
            body = {"handle": handle, "title": title, "variants": variants}
            product = call(http, "POST", "/api/commerce/products", body)
            path = f"/api/commerce/products/{product['id']}/listings/web"
            call(http, "PUT", path, {"published": True, "purchasable": True})
            for sku in skus:
                prices[sku] = 4990 + 1000 * (len(prices) % 20)
                call(http, "PUT", f"/api/commerce/prices/{sku}", {"amount": prices[sku]})
                qty = scarce if sku.startswith("SCARCE") else START
                receipt = {"kind": "receipt", "location_id": DC, "sku": sku, "qty": qty}
                call(http, "POST", "/api/commerce/stock/movements", receipt)
    return prices


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    granted: list[str] = field(default_factory=list)
    """Reservation ids, in no particular order."""
    latencies: list[float] = field(default_factory=list)
    refused: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Attempt = Callable[[str], str | None]
"""Reserve one unit under `key`: the reservation id, or None when refused (no stock)."""


def hammer(attempts: list[Attempt], seconds: float | None) -> tuple[Tally, float]:
    """Each client loops on its attempt until `seconds` pass (or, with None, until it is
    refused); returns what happened and the elapsed time."""
    tally = Tally()
    barrier = threading.Barrier(len(attempts) + 1)
    until: list[float] = []

    def client(number: int, attempt: Attempt) -> None:
        barrier.wait()
        n = 0
        while not until or time.perf_counter() < until[0]:
            n += 1
            started = time.perf_counter()
            try:
                got = attempt(f"c{number}-{n}-{uuid.uuid4().hex[:8]}")
            except Exception as error:  # counted and shown; a timed run goes on
                tally.error(type(error).__name__ + ": " + str(error)[:120])
                if seconds is None:
                    return
                continue
            took = time.perf_counter() - started
            with tally.lock:
                if got is None:
                    tally.refused += 1
                else:
                    tally.granted.append(got)
                    tally.latencies.append(took)
            if got is None and seconds is None:
                return

    threads = [threading.Thread(target=client, args=pair) for pair in enumerate(attempts)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    if seconds is not None:
        until.append(began + seconds)
    barrier.wait()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - began


def http_attempt(http: httpx.Client, sku: str) -> Attempt:
    def attempt(key: str) -> str | None:
        body = {"location_id": DC, "sku": sku, "qty": 1, "lease_seconds": LEASE, "key": key}
        response = http.post("/api/commerce/reservations", json=body)
        if response.status_code == 201:
            reservation_id: str = response.json()["id"]
            return reservation_id
        if response.status_code == 409 and response.json()["error"]["code"] == (
            "insufficient_stock"
        ):
            return None
        raise RuntimeError(f"{response.status_code} {response.text[:200]}")

    return attempt


def app_attempt(services: Services, sku: str) -> Attempt:
    def attempt(key: str) -> str | None:
        try:
            lease = services.hold_stock(
                location_id=DC, sku=sku, qty=1, lease_seconds=LEASE, key=key
            )
        except Conflict as error:
            if error.code == "insufficient_stock":
                return None
            raise
        return lease.id

    return attempt


@contextmanager
def app_clients(shop: Shop, count: int, servers: int) -> Iterator[list[Services]]:
    """The clients spread over `servers` sets of services (engine, pool, reservation
    batcher) on PostgreSQL, like that many server processes; one shared set on SQLite, like
    the embedded server (its writers queue in-process)."""
    sets = max(1, min(servers, count)) if shop.database_url else 1
    built = [build(shop.settings) for _ in range(sets)]
    try:
        yield [built[i % len(built)] for i in range(count)]
    finally:
        for services in built:
            services.close()


def ceiling(shop: Shop, clients: int, seconds: float) -> float:
    """Committed conditional UPDATEs of one balance row per second over raw connections."""
    statement = (
        "UPDATE ceiling SET reserved = reserved + 1 WHERE id = 1 AND sellable - reserved >= 1"
    )
    if shop.database_url is not None:
        url = sa.make_url(shop.database_url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)

        def connect() -> Any:
            return psycopg.connect(dsn, options=f"-csearch_path={shop.schema}")

    else:
        path = shop.schema

        def connect() -> Any:
            conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            return conn

    setup = connect()
    setup.execute("CREATE TABLE ceiling (id INTEGER PRIMARY KEY, sellable BIGINT, reserved BIGINT)")
    setup.execute(f"INSERT INTO ceiling VALUES (1, {START * 100}, 0)")
    setup.commit()
    setup.close()
    sqlite_lock = threading.Lock()
    done = [0] * clients
    stop: list[float] = []
    barrier = threading.Barrier(clients + 1)

    def client(number: int) -> None:
        conn = connect()
        try:
            barrier.wait()
            while time.perf_counter() < stop[0]:
                if isinstance(conn, sqlite3.Connection):
                    with sqlite_lock:  # as the embedded server queues its writers
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute(statement)
                        conn.execute("COMMIT")
                else:
                    conn.execute(statement)
                    conn.commit()
                done[number] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop.append(time.perf_counter() + seconds)
    began = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - began)


# -- the books -----------------------------------------------------------------------------------


def sell_and_check(services: Services, sku: str, start: int, reservations: list[str]) -> list[str]:
    """Sell every reservation, then check the books; returns what is wrong (nothing, else)."""
    wrong: list[str] = []
    with services.uow(write=False) as uow:
        level = services.stock(uow).level(DC, sku)
    assert level is not None
    if (level.sellable, level.reserved) != (start, len(reservations)):
        wrong.append(
            f"{sku}: sellable {level.sellable}, reserved {level.reserved} after "
            f"{len(reservations)} reservations of {start}"
        )
    for first in range(0, len(reservations), 500):
        with services.uow() as uow:
            for reservation_id in reservations[first : first + 500]:
                services.commit_reservation(uow, reservation_id, reason="sale", ref="bench")
            uow.commit()
    with services.uow(write=False) as uow:
        level = services.stock(uow).level(DC, sku)
    assert level is not None
    sold = len(reservations)
    if sold + level.sellable != start or level.reserved != 0:
        wrong.append(f"{sku}: sold {sold} + remaining {level.sellable} != start {start}")
    if min(level.sellable, level.display, level.damaged, level.in_transit, level.reserved) < 0:
        wrong.append(f"{sku}: a bucket below zero: {level}")
    return wrong


# -- checkout -------------------------------------------------------------------------------------


@dataclass
class Checkouts:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    visits: list[float] = field(default_factory=list)
    orders: dict[str, dict[str, int]] = field(default_factory=dict)
    """Order id → units per SKU."""
    replays: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0


def visit(http: httpx.Client, rng: random.Random, shopper: str, run: Checkouts) -> None:
    """A web visitor fills a cart with 2 or 3 lines and checks out; every tenth checkout is
    sent again with the same Idempotency-Key and must answer with the same order."""
    skus = [f"ITEM-{p:02d}-{size}" for p in range(PRODUCTS) for size in SIZES]
    began = time.perf_counter()
    cart = call(
        http, "GET", "/api/commerce/carts", params={"anonymous_id": shopper, "channel": "web"}
    )
    lines = {sku: rng.randint(1, 2) for sku in rng.sample(skus, rng.randint(2, 3))}
    for sku, qty in lines.items():
        body = {"sku": sku, "qty": qty}
        cart = call(http, "POST", f"/api/commerce/carts/{cart['id']}/lines", body)
    total = cart["total"]["amount"]
    body = {
        "customer": {"email": f"shopper{rng.randrange(5000)}@example.com", "name": "Bench"},
        "groups": [{"type": "ship", "address": ADDRESS}],
        "payment": {"method": "card", "amount": total, "currency": "BRL"},
        "expected_total": total,
    }
    path, key = f"/api/commerce/carts/{cart['id']}/checkout", {"Idempotency-Key": shopper}
    started = time.perf_counter()
    response = http.post(path, json=body, headers=key)
    took = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"checkout {response.status_code} {response.text[:200]}")
    order = response.json()["order"]
    replayed = rng.random() < 0.1
    if replayed:
        again = http.post(path, json=body, headers=key)
        if again.status_code != 200 or again.json()["order"]["id"] != order["id"]:
            raise RuntimeError(f"replay {again.status_code} {again.text[:200]}")
    with run.lock:
        run.latencies.append(took)
        run.visits.append(time.perf_counter() - began)
        run.orders[order["id"]] = lines
        run.replays += replayed


def checkouts(shop: Shop, clients: int, seconds: float, rate: float | None, tag: str) -> Checkouts:
    """`clients` visitors for `seconds`: at `rate` visits/s in all (each starts on schedule,
    or at once when its client is late), or back to back when `rate` is None."""
    run = Checkouts()
    began = time.perf_counter()
    until = began + seconds

    def client(number: int) -> None:
        rng = random.Random(f"{tag}-{number}")
        with shop.client() as http:
            n = 0
            while True:
                if rate is not None:
                    due = began + (n * clients + number) / rate
                    if due >= until:
                        return
                    time.sleep(max(0.0, due - time.perf_counter()))
                elif time.perf_counter() >= until:
                    return
                n += 1
                try:
                    visit(http, rng, f"{tag}-{number}-{n}", run)
                except (RuntimeError, SystemExit, httpx.HTTPError) as error:
                    with run.lock:
                        what = str(error)[:160]
                        run.errors[what] = run.errors.get(what, 0) + 1

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.elapsed = time.perf_counter() - began
    return run


def show(run: Checkouts, label: str) -> float:
    """Prints the checkout figures; returns the checkout p95 in ms."""
    ms = [x * 1000 for x in run.latencies]
    if not ms:
        print(f"checkout, {label}: no order placed")
        return float("nan")
    p95 = percentile(ms, 0.95)
    print(
        f"checkout, {label}: {len(ms):,} orders in {run.elapsed:.1f} s "
        f"({len(ms) / run.elapsed:.1f}/s, {run.replays} replayed: same order); checkout "
        f"p50 {percentile(ms, 0.5):.1f} ms, p95 {p95:.1f} ms, p99 {percentile(ms, 0.99):.1f} ms; "
        f"whole visit p50 {statistics.median(run.visits) * 1000:.0f} ms"
    )
    return p95


def check_checkouts(services: Services, runs: list[Checkouts]) -> list[str]:
    """Every acknowledged checkout is one order; its units are held; the books add up."""
    wrong: list[str] = []
    held: dict[str, int] = {}
    placed = 0
    for run in runs:
        placed += len(run.orders)
        for lines in run.orders.values():
            for sku, qty in lines.items():
                held[sku] = held.get(sku, 0) + qty
    with services.engines.main.connect() as conn:
        orders = conn.execute(sa.text("SELECT count(*) FROM commerce_orders")).scalar_one()
        rows = conn.execute(
            sa.text(
                "SELECT sku, sum(qty) FROM commerce_reservations "
                "WHERE status = 'active' AND sku LIKE 'ITEM-%' GROUP BY sku"
            )
        ).all()
    if orders != placed:
        wrong.append(f"{orders} orders stored, {placed} checkouts acknowledged")
    if {str(sku): int(total) for sku, total in rows} != held:
        wrong.append("the units held differ from the units the orders took")
    with services.uow(write=False) as uow:
        for level in services.stock(uow).levels(location_id=DC):
            if level.sku.startswith("ITEM-") and level.reserved != held.get(level.sku, 0):
                ordered = held.get(level.sku, 0)
                wrong.append(f"{level.sku}: reserved {level.reserved}, ordered {ordered}")
    return wrong


# -- the run --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a scratch SQLite file")
    parser.add_argument("--clients", type=int, default=32, help="hot-SKU clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="per hot-SKU phase")
    parser.add_argument("--scarce", type=int, default=500, help="units of the sell-out SKU")
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="in-process: sets of services the clients share, as server processes (PostgreSQL)",
    )
    parser.add_argument("--checkout-clients", type=int, default=8)
    parser.add_argument(
        "--checkout-rate", type=float, default=10.0, help="visits/s of the paced checkout phase"
    )
    parser.add_argument("--checkout-seconds", type=float, default=15.0, help="per checkout phase")
    args = parser.parse_args()

    with running(args.database_url) as shop:
        engine = "PostgreSQL" if args.database_url else "SQLite"
        seed(shop, args.scarce)
        servers = max(1, min(args.servers, args.clients)) if args.database_url else 1
        print(
            f"omnicx on {engine}: {args.clients} clients on one hot SKU, {args.seconds:g} s each "
            f"(in-process: {servers} set(s) of services)"
        )
        wrong: list[str] = []
        oversold = 0
        rates: dict[str, float] = {}

        https = [shop.client() for _ in range(args.clients)]
        with app_clients(shop, args.clients, args.servers) as clients:
            books = clients[0]

            def attempts(name: str, sku: str) -> list[Attempt]:
                if name == "http":
                    return [http_attempt(http, sku) for http in https]
                return [app_attempt(services, sku) for services in clients]

            for name, sku in (("http", HOT_HTTP), ("in-process", HOT_APP)):
                cpu = server_cpu(shop.server)
                tally, elapsed = hammer(attempts(name, sku), args.seconds)
                cpu = server_cpu(shop.server) - cpu
                rates[name] = len(tally.granted) / elapsed
                lat = [x * 1000 for x in tally.latencies]
                each = cpu / max(len(lat), 1) * 1000
                per = f", server CPU {each:.1f} ms each" if name == "http" else ""
                print(
                    f"hot SKU, {name:<10} {len(tally.granted):>7,} reservations in {elapsed:.1f} s"
                    f" = {rates[name]:,.0f}/s; latency p50 {percentile(lat, 0.5):.1f} ms, "
                    f"p95 {percentile(lat, 0.95):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms{per}"
                )
                if tally.errors or tally.refused:
                    wrong.append(f"{name}: refused {tally.refused}, errors {tally.errors}")
                wrong += sell_and_check(books, sku, START, tally.granted)

            for name, sku in (("http", SCARCE_HTTP), ("in-process", SCARCE_APP)):
                tally, elapsed = hammer(attempts(name, sku), None)
                granted = len(tally.granted)
                oversold += max(0, granted - args.scarce)
                print(
                    f"sell-out, {name:<10} {granted:,} of {args.scarce:,} units granted, "
                    f"{tally.refused} refused (409 insufficient_stock) in {elapsed:.1f} s"
                )
                if granted != args.scarce or tally.errors:
                    wrong.append(f"sell-out {name}: {granted} granted, errors {tally.errors}")
                wrong += sell_and_check(books, sku, args.scarce, tally.granted)

            print(
                f"checkout: {args.checkout_clients} web visitors, each a cart of 2-3 lines then "
                f"checkout with an Idempotency-Key, {args.checkout_seconds:g} s per phase"
            )
            cpu = server_cpu(shop.server)
            paced = checkouts(
                shop, args.checkout_clients, args.checkout_seconds, args.checkout_rate, "paced"
            )
            cpu = server_cpu(shop.server) - cpu
            p95 = show(paced, f"paced at {args.checkout_rate:g} visits/s")
            if paced.latencies:
                each = cpu / len(paced.latencies) * 1000
                print(f"  server CPU per visit (cart, lines, checkout): {each:.1f} ms")
            busy = checkouts(shop, args.checkout_clients, args.checkout_seconds, None, "busy")
            show(busy, "back to back")
            for run in (paced, busy):
                if run.errors:
                    wrong.append(f"checkout errors: {run.errors}")
            wrong += check_checkouts(books, [paced, busy])
            differences = books.reconcile_stock()
            if differences:
                wrong.append(f"balances differ from the ledger: {differences[:5]}")

        for http in https:
            http.close()
        raw = ceiling(shop, args.clients, min(args.seconds, 5.0))

    print(
        f"ceiling: raw conditional UPDATE + COMMIT of one row, {args.clients} threads: "
        f"{raw:,.0f}/s (omnicx in-process {rates['in-process'] / raw:.0%} of it, "
        f"http {rates['http'] / raw:.0%})"
    )
    if not wrong:
        print("books: sold + remaining = start, nothing below zero, ledger = balances")
    for problem in wrong:
        print(f"WRONG {problem}")
    print(f"anchor: {ANCHOR}; {ANCHOR_CHECKOUT}")
    print(f"target: {TARGET}")
    print(
        f"RESULT reservations_per_s={rates['in-process']:.0f} oversold={oversold} "
        f"checkout_p95_ms={p95:.1f}"
    )
    if wrong:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

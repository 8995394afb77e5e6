"""Ingestion benchmark: Segment batches in, identities resolved, events on timelines.

Starts `omnicx serve` (embedded SQLite unless --database-url), creates a source, then
several concurrent clients send N events in 100-event batches for C customers:

- 70 % identified shoppers (identify with email and phone, then tracked by userId);
- 20 % anonymous visitors, later identified (anonymous events, then identify with both ids);
- 10 % with two histories (an account, and anonymous store visits) that one event stitches
  by an email typed differently: each such customer ends in exactly one merge.

The clock stops when every event is committed with its identity resolved (queue empty and
all N rows present). Event-to-timeline latency is sampled: a watcher follows recently
acknowledged events until their row is visible. The same rows are then inserted raw into a
fresh SQLite file with the same schema, the reference the README compares against.

    python bench/ingest.py [--events N] [--customers C] [--clients K] [--database-url URL]

The last line is `RESULT events_per_s=<n> p99_ms=<n> raw_sqlite_rows_per_s=<n>`.
"""

import argparse
import base64
import http.client
import os
import queue
import random
import resource
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ANCHOR_RUDDERSTACK = 1_700
BATCH = 100


@dataclass
class Plan:
    customers: int
    events: int
    seed: int

    @property
    def per_customer(self) -> int:
        return max(10, self.events // self.customers)


def customer_events(c: int, plan: Plan, rng: random.Random) -> list[dict[str, Any]]:
    """The ordered events of one customer (exactly plan.per_customer of them)."""
    n = plan.per_customer
    kind = c % 10  # 0..6 identified, 7..8 anonymous then identified, 9 two histories
    uid, email = f"u{c}", f"c{c}@example.com"
    phone = f"+55119{c % 100_000_000:08d}"

    def sku() -> str:
        return f"SKU-{rng.randrange(5000):04d}"

    out: list[dict[str, Any]] = []
    if kind <= 6:
        out.append(
            {
                "type": "identify",
                "userId": uid,
                "traits": {"email": email, "phone": phone, "firstName": f"Name{c}"},
            }
        )
        while len(out) < n:
            out.append(
                {
                    "type": "track",
                    "userId": uid,
                    "event": "Product Viewed",
                    "properties": {"sku": sku(), "price": rng.randrange(20, 900)},
                }
            )
    elif kind <= 8:
        anon = f"a{c}"
        while len(out) < n - 4:
            out.append(
                {
                    "type": "page",
                    "anonymousId": anon,
                    "name": "Product",
                    "properties": {"path": f"/p/{sku()}"},
                }
            )
        out.append(
            {
                "type": "identify",
                "anonymousId": anon,
                "userId": uid,
                "traits": {"email": email, "firstName": f"Name{c}"},
            }
        )
        while len(out) < n:
            out.append(
                {
                    "type": "track",
                    "userId": uid,
                    "event": "Product Added",
                    "properties": {"sku": sku()},
                }
            )
    else:
        half = n // 2
        out.append({"type": "identify", "userId": uid, "traits": {"email": email}})
        while len(out) < half:
            out.append(
                {
                    "type": "track",
                    "userId": uid,
                    "event": "Product Viewed",
                    "properties": {"sku": sku()},
                }
            )
        store = f"s{c}"
        while len(out) < n - 1:
            out.append(
                {
                    "type": "track",
                    "anonymousId": store,
                    "event": "Order Completed",
                    "context": {"channel": "store"},
                    "properties": {"order_id": f"o{c}-{len(out)}", "revenue": 99.9},
                }
            )
        out.append(
            {
                "type": "track",
                "anonymousId": store,
                "event": "Receipt Emailed",
                "context": {"channel": "store", "traits": {"email": f"  C{c}@Example.com "}},
            }
        )
    for index, event in enumerate(out):
        event["messageId"] = f"m{c}-{index}"
    return out


def batches(plan: Plan) -> Iterator[list[dict[str, Any]]]:
    """Customers in groups of 1,000; the k-th events of a group before the (k+1)-th."""
    rng = random.Random(plan.seed)
    group = 1000
    pending: list[dict[str, Any]] = []
    for start in range(0, plan.customers, group):
        streams = [
            customer_events(c, plan, rng) for c in range(start, min(start + group, plan.customers))
        ]
        for k in range(plan.per_customer):
            for stream in streams:
                pending.append(stream[k])
                if len(pending) == BATCH:
                    yield pending
                    pending = []
    if pending:
        yield pending


@dataclass
class Stats:
    acks: list[float] = field(default_factory=list)
    visible: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


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


def client_loop(
    url: str,
    auth: str,
    work: "queue.Queue[bytes | None]",
    stats: Stats,
    acked: "queue.Queue[tuple[str, float]]",
) -> None:
    """One keep-alive connection; the standard library client keeps the load generator light
    on a machine whose two cores it shares with the server."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    try:
        while (body := work.get()) is not None:
            started = time.perf_counter()
            conn.request("POST", "/v1/batch", body=body, headers=headers)
            response = conn.getresponse()
            text = response.read()
            took = time.perf_counter() - started
            with stats.lock:
                stats.acks.append(took)
                if response.status != 200:
                    stats.errors.append(f"{response.status} {text[:200]!r}")
                else:
                    stats.sent += BATCH
            if response.status == 200 and acked.empty():
                last = orjson.loads(body)["batch"][-1]["messageId"]
                acked.put((last, time.perf_counter()))
    finally:
        conn.close()


def watcher(
    engine: sa.Engine,
    source_id: str,
    acked: "queue.Queue[tuple[str, float]]",
    stats: Stats,
    stop: threading.Event,
) -> None:
    """Follows one acknowledged event at a time until its row is visible."""
    with engine.connect() as conn:
        while not stop.is_set():
            try:
                message_id, acked_at = acked.get(timeout=0.1)
            except queue.Empty:
                continue
            while not stop.is_set():
                row = conn.execute(
                    sa.text(
                        "SELECT profile_id FROM events WHERE source_id = :s AND message_id = :m"
                    ),
                    {"s": source_id, "m": message_id},
                ).first()
                conn.rollback()
                if row is not None:
                    stats.visible.append(time.perf_counter() - acked_at)
                    break
                time.sleep(0.002)


def paced_latency(
    url: str, auth: str, engine: sa.Engine, source_id: str, plan: Plan, rate: int, seconds: int
) -> tuple[float, float, int]:
    """Send new customers' events at a steady rate the worker keeps up with, and time each
    batch's last event from acknowledgement to visible on the timeline."""
    if rate <= 0 or seconds <= 0:
        return float("nan"), float("nan"), 0
    later = Plan(customers=max(1, rate * seconds // 10), events=rate * seconds, seed=plan.seed)
    offset = plan.customers * 10
    bodies = []
    for chunk in batches(later):
        for event in chunk:
            event["messageId"] = f"paced-{event['messageId']}"
            for key in ("userId", "anonymousId"):
                if key in event:
                    event[key] = f"paced{offset}-{event[key]}"
        bodies.append(orjson.dumps({"batch": chunk}))
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    pending: list[tuple[str, float]] = []
    seen: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def follow() -> None:
        with engine.connect() as db:
            while not done.is_set() or pending:
                with lock:
                    waiting = list(pending)
                for message_id, acked_at in waiting:
                    row = db.execute(
                        sa.text("SELECT 1 FROM events WHERE source_id = :s AND message_id = :m"),
                        {"s": source_id, "m": message_id},
                    ).first()
                    db.rollback()
                    if row is not None:
                        with lock:
                            pending.remove((message_id, acked_at))
                            seen.append(time.perf_counter() - acked_at)
                time.sleep(0.002)

    follower = threading.Thread(target=follow)
    follower.start()
    interval = BATCH / rate
    next_at = time.perf_counter()
    for body in bodies:
        next_at += interval
        conn.request(
            "POST",
            "/v1/batch",
            body=body,
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            with lock:
                pending.append((orjson.loads(body)["batch"][-1]["messageId"], time.perf_counter()))
        time.sleep(max(0.0, next_at - time.perf_counter()))
    done.set()
    follower.join(60)
    conn.close()
    ordered = sorted(seen)
    if not ordered:
        return float("nan"), float("nan"), 0
    return (
        statistics.median(ordered) * 1000,
        ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        len(ordered),
    )


def wait_done(engine: sa.Engine, http: httpx.Client, total: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http.get("/health").json()["pending_events"] == 0:
            with engine.connect() as conn:
                stored = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
            if stored >= total:
                return time.perf_counter()
        time.sleep(0.02)
    raise SystemExit("timed out waiting for the worker")


def raw_sqlite_rate(source_db: Path, scratch: Path) -> float:
    """Insert the run's event rows into a fresh SQLite file with the same schema."""
    src = sqlite3.connect(source_db)
    ddl = [
        sql
        for (sql,) in src.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL"
        )
    ]
    rows = src.execute("SELECT * FROM events ORDER BY id").fetchall()
    src.close()
    target = scratch / "raw.db"
    dst = sqlite3.connect(target, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-262144"):
        dst.execute(f"PRAGMA {pragma}")
    for statement in ddl:
        dst.execute(statement)
    marks = ",".join("?" * len(rows[0]))
    started = time.perf_counter()
    for start in range(0, len(rows), 5000):
        dst.execute("BEGIN")
        dst.executemany(f"INSERT INTO events VALUES ({marks})", rows[start : start + 5000])
        dst.execute("COMMIT")
    took = time.perf_counter() - started
    dst.close()
    return len(rows) / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--paced-rate",
        type=int,
        default=5000,
        help="events/s of the second, paced phase that measures latency",
    )
    parser.add_argument("--paced-seconds", type=int, default=10)
    args = parser.parse_args()
    plan = Plan(customers=args.customers, events=args.events, seed=args.seed)
    total = plan.customers * plan.per_customer

    scratch = Path(tempfile.mkdtemp(prefix="omnicx-bench-"))
    env = {**os.environ, "OMNICX_DATA_DIR": str(scratch)}
    schema = None
    if args.database_url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin_engine = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = (
            sa.make_url(args.database_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        env["OMNICX_DATABASE_URL"] = url
        engine = sa.create_engine(url)
    else:
        engine = sa.create_engine(f"sqlite:///{scratch / 'omnicx.db'}")
    env.pop("OMNICX_RUN_WORKER", None)
    subprocess.run([str(BIN / "omnicx"), "migrate"], env=env, check=True, capture_output=True)
    source = omnicx(env, "sources", "create", "--name", "Bench", "--channel", "web")
    auth = "Basic " + base64.b64encode(f"{source['write_key']}:".encode()).decode()
    port = free_port()
    env["OMNICX_SMTP_PORT"] = str(free_port())  # another omnicx may hold the default
    server = subprocess.Popen([str(BIN / "omnicx"), "serve", "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30.0) as http:
            for _ in range(1200):
                if server.poll() is not None:
                    raise SystemExit(f"omnicx serve exited with status {server.returncode}")
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            else:
                raise SystemExit("omnicx serve did not answer /health in 60 s")
            print(
                f"omnicx on {'PostgreSQL' if schema else 'SQLite'}: {total:,} events, "
                f"{plan.customers:,} customers, {args.clients} clients, batches of {BATCH}"
            )
            bodies = [orjson.dumps({"batch": b}) for b in batches(plan)]
            work: queue.Queue[bytes | None] = queue.Queue(maxsize=args.clients * 4)
            acked: queue.Queue[tuple[str, float]] = queue.Queue(maxsize=1)
            stats = Stats()
            stop = threading.Event()
            watch = threading.Thread(
                target=watcher, args=(engine, source["id"], acked, stats, stop)
            )
            watch.start()
            clients = [
                threading.Thread(target=client_loop, args=(url, auth, work, stats, acked))
                for _ in range(args.clients)
            ]
            started = time.perf_counter()
            for thread in clients:
                thread.start()
            for body in bodies:
                work.put(body)
            for _ in clients:
                work.put(None)
            for thread in clients:
                thread.join()
            sent_at = time.perf_counter()
            finished = wait_done(engine, http, total, timeout=3600)
            stop.set()
            watch.join()
            with engine.connect() as conn:
                profiles = conn.execute(
                    sa.text("SELECT count(*) FROM profiles WHERE id = canonical_id")
                ).scalar_one()
                merges = conn.execute(sa.text("SELECT count(*) FROM merges")).scalar_one()
                stored = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
            rss = _peak_rss_mib(server.pid)
            cpu = _cpu_seconds(server.pid)
            client_cpu = resource.getrusage(resource.RUSAGE_SELF)
            paced = paced_latency(
                url, auth, engine, source["id"], plan, args.paced_rate, args.paced_seconds
            )
    finally:
        server.terminate()
        server.wait(30)
        engine.dispose()

    if stats.errors:
        raise SystemExit(f"{len(stats.errors)} batches refused, first: {stats.errors[0]}")
    elapsed = finished - started
    rate = total / elapsed
    acks = sorted(stats.acks)
    p50 = statistics.median(acks) * 1000
    p99 = acks[int(len(acks) * 0.99) - 1] * 1000
    visible = sorted(stats.visible)
    vis_p99 = visible[max(0, int(len(visible) * 0.99) - 1)] * 1000 if visible else float("nan")
    expected_merges = sum(1 for c in range(plan.customers) if c % 10 == 9)
    raw = raw_sqlite_rate(scratch / "omnicx.db", scratch) if not schema else float("nan")

    print(f"sent in {sent_at - started:.1f} s; all resolved and visible in {elapsed:.1f} s")
    print(f"events stored        {stored:,} (sent {total:,})")
    print(f"live profiles        {profiles:,} (customers {plan.customers:,})")
    print(
        f"merges               {merges:,} (at least {expected_merges:,}: events of one "
        "customer may arrive out of order across clients)"
    )
    print(
        f"end to end           {rate:,.0f} events/s   anchor: RudderStack gateway ~"
        f"{ANCHOR_RUDDERSTACK:,}/s on 2 cores, no identity resolution; target >= 25,000"
    )
    print(f"batch ack latency    p50 {p50:.1f} ms, p99 {p99:.1f} ms   target p99 < 250 ms")
    print(
        f"event -> timeline    p99 {vis_p99:.1f} ms over {len(visible)} samples while "
        "overloaded (the worker trails the acknowledgements)"
    )
    print(
        f"paced {args.paced_rate:,} events/s event -> timeline p50 {paced[0]:.1f} ms, "
        f"p99 {paced[1]:.1f} ms over {paced[2]} batches   target p99 < 100 ms"
    )
    if not schema:
        print(
            f"raw SQLite insert    {raw:,.0f} rows/s of the same rows "
            f"(omnicx end to end = {rate / raw:.0%} of it)"
        )
    spent = [*cpu, ("benchmark clients", client_cpu.ru_utime + client_cpu.ru_stime)]
    print(
        "cpu per event        "
        + ", ".join(f"{name} {seconds / total * 1e6:.0f} us" for name, seconds in spent)
    )
    print(f"peak RSS             {rss} MiB (server and worker processes)")
    if schema:
        with sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"RESULT events_per_s={rate:.0f} p99_ms={p99:.1f} raw_sqlite_rows_per_s={raw:.0f}")


def _cpu_seconds(pid: int) -> list[tuple[str, float]]:
    """CPU seconds used so far by the server and its children (user + system)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = []
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
        for each in pids:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            name = "server" if each == pid else f"child {each}"
            found.append((name, (int(fields[11]) + int(fields[12])) / ticks))
    except OSError:
        pass
    return found


def _peak_rss_mib(pid: int) -> int:
    """Peak resident memory of the server and its worker child, added up."""
    total = 0
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
        for each in pids:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    except OSError:
        return -1
    return total // 1024


if __name__ == "__main__":
    main()

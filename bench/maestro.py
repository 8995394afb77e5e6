"""Maestro benchmark: policy-gate decisions per second, journey event to message handed to the
connector, and a segment evaluated over a million profiles.

1. Gate. `gate.decide` (pure) over a pool of realistic cases: four channels with their
   consent answers, reachability, WhatsApp's 24-hour window and costs; customers' channel
   orders, time zones, quiet hours and own limits; the business's frequency caps; up to a
   dozen sends of the past week per customer; marketing, service, feedback and transactional
   intents, some with a stale time. Then the wired rate on a scratch SQLite database, which
   also gathers the facts and writes the decision, the send, its message and its outbox row,
   and hands the decision events to their subscribers at the commit: `Services.submit_send`
   one intent at a time (transactions of 50), and `Services.submit_sends` in batches of 500
   (facts read and rows written for the whole batch at once).
2. Event to send. A real `omnicx serve` (embedded SQLite, worker beside it) with a published
   journey "Order Completed" -> one transactional SMS. Its Twilio account points at a local
   HTTP server that speaks Twilio's Messages API and timestamps each message it receives.
   Customers are identified with a phone first; then `/v1/track` events are posted at a
   steady rate, and the time from posting an event to the SMS reaching the server is taken
   for every event (p50, p95, p99).
3. Segments. Profiles and their traits are bulk-loaded straight into a scratch SQLite
   database (two traits each); a trait segment (`tier` is `gold`, about one in ten) is
   defined and the worker's evaluation pass runs until everyone is evaluated: members,
   history and timeline rows written. Then the definition is changed to an equivalent one and
   everyone is evaluated again (nothing changes: the pure recompute). A raw `sqlite3` read of
   the same ids and traits is timed as the floor.

    python bench/maestro.py [--decisions N] [--submits N] [--one-by-one N] [--batch N]
                            [--events N] [--rate R] [--profiles N]
                            [--skip gate,events,segments]

The last line is `RESULT decisions_per_s=<n> event_to_send_p95_ms=<n> segment_1m_s=<n>`
(decisions_per_s: the wired rate in batches, every decision recorded and its events handled
by their subscribers, not the pure `decide`; segment_1m_s: the first evaluation, scaled to
1,000,000 profiles if fewer were loaded).
"""

import argparse
import base64
import gc
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson

from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.consent import ConsentSource, Wish
from omnicx.conversations import FakeChannelSender, SendContext
from omnicx.db.bulk import insert_many
from omnicx.db.migrate import upgrade
from omnicx.kernel import new_id
from omnicx.kernel.moments import micros
from omnicx.orchestration.caps import parse_caps
from omnicx.orchestration.gate import (
    ChannelFacts,
    Content,
    Facts,
    PastSend,
    Policy,
    SendIntent,
    decide,
)
from omnicx.profiles import ProfileWriter
from omnicx.profiles.identifiers import normalize
from omnicx.profiles.store import profiles, traits
from omnicx.workers.memory import tune_gc

BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "bench-twilio-auth-token"
SHOP_NUMBER = "+5511930002000"
NOW = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
"""20:30 in São Paulo, 23:30 in Lisbon, 08:30 in Tokyo: some customers are in quiet hours."""
CHANNELS = ("email", "sms", "whatsapp", "push")
COSTS = {"email": 0.001, "sms": 0.05, "whatsapp": 0.03, "push": 0.0}
ZONES = ("America/Sao_Paulo", "Europe/Lisbon", "America/New_York", "Asia/Tokyo", None)
PURPOSES = ("marketing",) * 6 + ("service",) * 2 + ("feedback", "transactional")
CATEGORIES = ("promotion", "reminder", "newsletter", "order")

TARGETS = {
    "gate": ">= 10,000 decisions/s",
    "events": "p95 < 1 s",
    "segments": "< 10 s for 1,000,000 profiles",
}
ANCHORS = {
    "gate": "none published (anchors/orchestration.md §5); Braze's per-campaign send-rate "
    "setting tops out at 500,000 messages/min (~8,300/s), a limit rather than a throughput",
    "events": "Dittofeed: segment-triggered entry waits for its compute interval (default "
    "120 s); a third-party test of Dittofeed Lite measured identify -> property 45 s",
    "segments": "Customer.io: a 1 M-person segment rebuild in 30 minutes (after a rewrite "
    "from 3 h); Mautic: ~40 min per filtered segment at 260 k contacts (#8113)",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- 1. the gate ------------------------------------------------------------------------------


def gate_cases(count: int, seed: int) -> list[tuple[SendIntent, Facts]]:
    """Varied (intent, facts) pairs, as the wired gate would gather them."""
    rng = random.Random(seed)
    policy = Policy(
        caps=parse_caps(
            {
                "marketing": {"*": {"day": 1, "week": 3}, "promotion": {"week": 2}},
                "marketing:sms": {"*": {"week": 1}},
                "feedback": {"*": {"week": 1}},
            }
        ),
        quiet_hours=(clock_time(21, 0), clock_time(8, 0)),
        time_zone="America/Sao_Paulo",
        competition=timedelta(hours=1),
    )
    cases = []
    for n in range(count):
        channels = []
        for name in CHANNELS:
            reachable = rng.random() < 0.85
            granted = rng.random() < 0.7
            refusal = None
            if name == "whatsapp" and rng.random() < 0.3:
                refusal = "outside WhatsApp's 24-hour window and no approved template"
            engaged = (
                NOW - timedelta(hours=rng.randrange(1, 24 * 60)) if rng.random() < 0.5 else None
            )
            channels.append(
                ChannelFacts(
                    channel=name,
                    reachable=reachable,
                    allowed=granted,
                    consent_reason=(
                        "granted on web form, 2026-09-01 10:00 UTC"
                        if granted
                        else "marketing revoked on every channel by agent opt-out on call_center"
                    ),
                    refusal=refusal,
                    last_engagement=engaged,
                    cost=COSTS[name],
                )
            )
        recent = tuple(
            PastSend(
                send_id=f"j:past:{n}:{k}",
                purpose=rng.choice(PURPOSES),
                category=rng.choice(CATEGORIES),
                channel=rng.choice(CHANNELS),
                priority=rng.randrange(0, 101),
                at=NOW - timedelta(minutes=rng.randrange(1, 7 * 24 * 60)),
                state=rng.choice(("gone", "gone", "gone", "going", "waiting")),
            )
            for k in range(rng.randrange(0, 13))
        )
        own_hours = (clock_time(22, 0), clock_time(7, 30)) if rng.random() < 0.3 else None
        limits = (("sms", 1, 2),) if rng.random() < 0.1 else ()
        facts = Facts(
            customer_id=f"c{n}",
            channels=tuple(channels),
            policy=policy,
            suppressed="email suppressed (legal) on every channel" if rng.random() < 0.01 else None,
            channel_order=tuple(rng.sample(CHANNELS, 2)) if rng.random() < 0.5 else (),
            time_zone=rng.choice(ZONES),
            quiet_hours=own_hours,
            max_per_day=rng.choice((None, None, 2, 3)),
            max_per_week=rng.choice((None, None, 5)),
            channel_limits=limits,
            recent=recent,
        )
        purpose = rng.choice(PURPOSES)
        intent = SendIntent(
            send_id=f"j:bench:1:{n}:send:1",
            customer_id=f"c{n}",
            purpose=purpose,
            category=rng.choice(CATEGORIES),
            priority=rng.randrange(0, 101),
            channels=() if rng.random() < 0.4 else tuple(rng.sample(CHANNELS, rng.randrange(1, 4))),
            content=Content(text="Hi {{ customer.first_name }}"),
            origin=f"journey:bench:v1:send_{n % 7}",
            fallback_after_seconds=3600 if rng.random() < 0.3 else None,
            not_after=NOW + timedelta(hours=rng.randrange(-2, 12)) if rng.random() < 0.2 else None,
        )
        cases.append((intent, facts))
    return cases


def bench_decisions(total: int, runs: int = 3) -> tuple[float, Counter[str]]:
    cases = gate_cases(2_000, seed=11)
    mix: Counter[str] = Counter(
        f"{d.outcome}:{d.code}" for d in (decide(i, f, NOW) for i, f in cases)
    )
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for n in range(total):
            intent, facts = cases[n % len(cases)]
            decide(intent, facts, NOW)
        rates.append(total / (time.perf_counter() - started))
    return statistics.median(rates), mix


class QuietSender(FakeChannelSender):
    """A channel that accepts every message and, unlike the test fake, keeps no record of
    what it was asked (a long run would otherwise hold every `SendContext`)."""

    def can_send(self, ctx: SendContext) -> str | None:
        return self.refuse


@dataclass(frozen=True)
class SubmitRun:
    one_by_one: int
    one_by_one_per_s: float
    batched: int
    batch: int
    batched_per_s: float
    cpu_us: float
    """CPU time per decision of the batched run."""
    subscribers_share: float
    """Of the batched run's time, the share the event subscribers took at the commits."""
    subscribers_cpu_us: float
    """Their CPU time per decision."""
    outcomes: Counter[str]


def bench_submits(total: int, one_by_one: int, batch: int) -> SubmitRun:
    """The gate wired to SQLite: facts gathered, decision recorded, send, message and outbox
    rows written, and the decision events handled by their subscribers at the commit.
    `Services.submit_send` one intent at a time (transactions of 50) over `one_by_one`
    customers, then `Services.submit_sends` in batches of `batch` over `total` others."""
    with scratch("omnicx-bench-gate-") as path:
        services = build(Settings(data_dir=path, run_worker=False))
        try:
            upgrade(services.engines)
            services.channel_senders.clear()
            services.channel_senders.update(
                {c: QuietSender(c) for c in ("email", "sms", "whatsapp")}
            )
            rng = random.Random(5)
            customers = []
            with services.uow() as uow:
                writer = ProfileWriter(
                    services.profiles(uow), services.rules, uow.clock.now(), uow.raise_event
                )
                for n in range(one_by_one + total):
                    found = [
                        normalize("email", f"c{n}@bench.example", "BR"),
                        normalize("phone", f"+55119{n:08d}", "BR"),
                    ]
                    profile_id = writer.resolve(found, event_id=None, channel="web", source_id=None)
                    assert profile_id is not None
                    customers.append(profile_id)
                writer.flush()
                source = ConsentSource("web", "customer", "import")
                for profile_id in customers[::2]:
                    services.consent_center.record(
                        uow,
                        profile_id,
                        [Wish("marketing", c, "granted") for c in ("email", "sms")],
                        source,
                        proof=None,
                        note=None,
                        at=None,
                        recorded_by="bench",
                    )
                uow.commit()
            intents = [
                SendIntent(
                    send_id=f"b:bench:{profile_id}",
                    customer_id=profile_id,
                    purpose=rng.choice(("marketing", "marketing", "service", "transactional")),
                    category="promotion",
                    priority=50,
                    channels=() if rng.random() < 0.5 else ("sms", "email"),
                    content=Content(text="Hi {{ customer.first_name }}"),
                    origin="broadcast:bench",
                )
                for profile_id in customers
            ]
            # The worker process runs with its collector tuned (`omnicx.workers.memory`).
            tune_gc()
            started = time.perf_counter()
            for first in range(0, one_by_one, 50):
                with services.uow() as uow:
                    for intent in intents[first : min(one_by_one, first + 50)]:
                        services.submit_send(uow, intent)
                    uow.commit()
            single = one_by_one / (time.perf_counter() - started)
            decisions = []
            handling = handling_cpu = 0.0
            cpu, started = time.process_time(), time.perf_counter()
            for first in range(one_by_one, one_by_one + total, batch):
                with services.uow() as uow:
                    decisions += services.submit_sends(uow, intents[first : first + batch])
                    handed, handed_cpu = time.perf_counter(), time.process_time()
                    uow.publish()
                    handling += time.perf_counter() - handed
                    handling_cpu += time.process_time() - handed_cpu
                    uow.commit()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            return SubmitRun(
                one_by_one=one_by_one,
                one_by_one_per_s=single,
                batched=total,
                batch=batch,
                batched_per_s=total / elapsed,
                cpu_us=cpu / total * 1e6,
                subscribers_share=handling / elapsed,
                subscribers_cpu_us=handling_cpu / total * 1e6,
                outcomes=Counter(f"{d.outcome}:{d.code}" for d in decisions),
            )
        finally:
            services.close()


# -- 2. journey event to the connector ----------------------------------------------------------


@dataclass
class Received:
    lock: threading.Lock = field(default_factory=threading.Lock)
    at: dict[str, float] = field(default_factory=dict)
    """Recipient phone -> when its first message arrived."""
    refused: int = 0


class TwilioMessages(BaseHTTPRequestHandler):
    """`POST /2010-04-01/Accounts/{sid}/Messages.json` as Twilio answers it (201 and the
    message resource), checking the account's Basic credentials."""

    received: Received
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()

    def do_POST(self) -> None:
        at = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        if self.path != path or self.headers.get("Authorization") != self.expected:
            with self.received.lock:
                self.received.refused += 1
            self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        with self.received.lock:
            self.received.at.setdefault(form["To"], at)
        sid = "SM" + new_id().replace("-", "")
        self._answer(
            201,
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": form["To"],
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "num_segments": "1",
            },
        )

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


RECEIPT: dict[str, Any] = {
    "name": "Order receipt",
    "trigger": {"event": "Order Completed"},
    "start": "receipt",
    "nodes": {
        "receipt": {
            "type": "send",
            "purpose": "transactional",
            "category": "order",
            "channels": ["sms"],
            "content": {"text": "Your order is confirmed. Thank you, {{ customer.first_name }}!"},
            "next": "end",
        },
        "end": {"type": "exit"},
    },
}


def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(BIN / "omnicx"), *args], env=env, check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
    return result


def phone(n: int) -> str:
    return f"+55119{31000000 + n:08d}"


def bench_event_to_send(events: int, rate: float) -> tuple[list[float], int]:
    """Latencies (ms) from posting each event to its SMS reaching the provider, and how many
    SMS never arrived."""
    received = Received()
    handler = type("Handler", (TwilioMessages,), {"received": received})
    twilio = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=twilio.serve_forever, daemon=True).start()
    with scratch("omnicx-bench-maestro-") as path:
        env = {
            **os.environ,
            "OMNICX_DATA_DIR": str(path),
            "OMNICX_TWILIO_ACCOUNTS": orjson.dumps(
                {
                    "bench": {
                        "account_sid": ACCOUNT_SID,
                        "auth_token": AUTH_TOKEN,
                        "numbers": [SHOP_NUMBER],
                    }
                }
            ).decode(),
            "OMNICX_TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio.server_port}",
            "OMNICX_CHANNEL_RATES": orjson.dumps({"sms": 1000}).decode(),
            "OMNICX_RATE_LIMIT_API": "100000/second",
        }
        for name in ("OMNICX_DATABASE_URL", "OMNICX_RUN_WORKER", "OMNICX_LIVE_BROKER_URL"):
            env.pop(name, None)
        subprocess.run([str(BIN / "omnicx"), "migrate"], env=env, check=True, capture_output=True)
        key = cli(env, "keys", "create", "--name", "bench", "--role", "admin")["key"]
        write_key = cli(env, "sources", "create", "--name", "Shop", "--channel", "web")["write_key"]
        port = free_port()
        server = subprocess.Popen(
            [str(BIN / "omnicx"), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        admin = {"Authorization": f"Bearer {key}"}
        write = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as http:
                for _ in range(400):
                    try:
                        if http.get("/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.05)
                journey = http.post("/api/journeys", json=RECEIPT, headers=admin)
                journey.raise_for_status()
                http.post(
                    f"/api/journeys/{journey.json()['id']}/publish", json={}, headers=admin
                ).raise_for_status()
                for first in range(0, events, 250):
                    batch = [
                        {
                            "type": "identify",
                            "userId": f"buyer-{n}",
                            "traits": {"phone": phone(n), "first_name": f"Buyer{n}"},
                        }
                        for n in range(first, min(events, first + 250))
                    ]
                    http.post("/v1/batch", json={"batch": batch}, headers=write).raise_for_status()
                wait_for_profiles(path / "omnicx.db", events)
                posted: dict[str, float] = {}
                started = time.perf_counter()
                for n in range(events):
                    due = started + n / rate
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    at = time.perf_counter()
                    http.post(
                        "/v1/track",
                        json={
                            "userId": f"buyer-{n}",
                            "event": "Order Completed",
                            "properties": {"order_id": f"o-{n}", "total": 120.0},
                        },
                        headers=write,
                    ).raise_for_status()
                    posted[phone(n)] = at
                deadline = time.perf_counter() + 30
                while len(received.at) < events and time.perf_counter() < deadline:
                    time.sleep(0.05)
        finally:
            server.terminate()
            server.wait(timeout=15)
            twilio.shutdown()
    with received.lock:
        arrived = dict(received.at)
    latencies = [(arrived[to] - at) * 1000 for to, at in posted.items() if to in arrived]
    return latencies, events - len(latencies)


def wait_for_profiles(db: Path, count: int) -> None:
    """Until the worker has resolved every identified buyer (read beside the server)."""
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            (found,) = conn.execute(
                "SELECT count(*) FROM identifiers WHERE kind = 'phone'"
            ).fetchone()
        if found >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"only {found} of {count} buyers were resolved in time")


# -- 3. segments --------------------------------------------------------------------------------


def load_profiles(services: Services, count: int, seed: int) -> None:
    """Profiles and two traits each, written straight into the tables in bulk."""
    rng = random.Random(seed)
    tiers = ("bronze",) * 6 + ("silver",) * 3 + ("gold",)
    now = datetime.now(UTC)
    ts = micros(now)
    with services.engines.main.begin() as conn:
        for first in range(0, count, 50_000):
            ids = [new_id() for _ in range(min(50_000, count - first))]
            insert_many(
                conn,
                profiles,
                [{"id": i, "canonical_id": i, "created_at": now, "updated_at": now} for i in ids],
            )
            rows = []
            for i in ids:
                rows.append(
                    {
                        "profile_id": i,
                        "key": "tier",
                        "value": rng.choice(tiers),
                        "ts": ts,
                        "channel": "web",
                    }
                )
                rows.append(
                    {
                        "profile_id": i,
                        "key": "age",
                        "value": rng.randrange(18, 80),
                        "ts": ts,
                        "channel": "web",
                    }
                )
            insert_many(conn, traits, rows)


def evaluate_all(services: Services) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, passes) of the evaluation until nobody is left."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    passes = 0
    while services.evaluate_segments():
        passes += 1
    return time.perf_counter() - wall, time.process_time() - cpu, passes


def raw_read(db: Path) -> float:
    """The floor: the same ids and trait rows read with plain sqlite3, in the same pages."""
    started = time.perf_counter()
    with sqlite3.connect(db) as conn:
        ids = [
            r[0]
            for r in conn.execute("SELECT id FROM profiles WHERE canonical_id = id ORDER BY id")
        ]
        for first in range(0, len(ids), 500):
            chunk = ids[first : first + 500]
            marks = ", ".join("?" * len(chunk))
            sql = (
                "SELECT profile_id, key, value FROM traits "
                f"WHERE key IN (?) AND profile_id IN ({marks})"
            )
            conn.execute(sql, ["tier", *chunk]).fetchall()
    return time.perf_counter() - started


@dataclass(frozen=True)
class SegmentRun:
    profiles: int
    load_s: float
    first_s: float
    first_cpu_s: float
    passes: int
    members: int
    again_s: float
    again_cpu_s: float
    raw_s: float


def bench_segments(count: int) -> SegmentRun:
    with scratch("omnicx-bench-segments-") as path:
        services = build(Settings(data_dir=path, run_worker=False))
        try:
            upgrade(services.engines)
            started = time.perf_counter()
            load_profiles(services, count, seed=3)
            loaded = time.perf_counter() - started
            with services.uow() as uow:
                segment = services.segmenter.create(
                    uow, "Gold", "", {"trait": "tier", "op": "eq", "value": "gold"}
                )
                uow.commit()
            first, first_cpu, passes = evaluate_all(services)
            with services.uow(write=False) as uow:
                members = services.segmenter.repo(uow).size(segment.id)
            with services.uow() as uow:
                services.segmenter.update(
                    uow, segment.id, definition={"trait": "tier", "op": "in", "value": ["gold"]}
                )
                uow.commit()
            again, again_cpu, _ = evaluate_all(services)
            raw = raw_read(path / "omnicx.db")
            return SegmentRun(
                count, loaded, first, first_cpu, passes, members, again, again_cpu, raw
            )
        finally:
            services.close()


# -- the report ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--submits", type=int, default=20_000, help="intents in batches")
    parser.add_argument("--one-by-one", type=int, default=1_000, help="intents one at a time")
    parser.add_argument("--batch", type=int, default=500, help="intents per submit_many")
    parser.add_argument("--events", type=int, default=400, help="journey events to time")
    parser.add_argument("--rate", type=float, default=20.0, help="events/s posted")
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--skip", default="", help="comma-separated: gate, events, segments")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    decisions_per_s = p95 = segment_s = float("nan")

    if "gate" not in skip:
        print(f"== policy gate: decide() over 2,000 varied cases, {args.decisions:,} decisions")
        pure, mix = bench_decisions(args.decisions)
        shown = ", ".join(f"{k} {v}" for k, v in mix.most_common())
        print(f"outcomes of the cases: {shown}")
        print(f"pure decisions: {pure:,.0f}/s (median of 3 runs)")
        wired = bench_submits(args.submits, args.one_by_one, args.batch)
        decisions_per_s = wired.batched_per_s
        print(
            f"wired on SQLite, one at a time (Services.submit_send): "
            f"{wired.one_by_one_per_s:,.0f}/s ({wired.one_by_one:,} intents)"
        )
        print(
            f"wired on SQLite, in batches of {wired.batch} (Services.submit_sends): "
            f"{wired.batched_per_s:,.0f}/s ({wired.batched:,} intents; {wired.cpu_us:.0f} us CPU "
            f"each; event subscribers at the commit: {wired.subscribers_share:.0%} of the time)"
        )
        print(
            f"the same without the subscribers' time (the gate's own part): "
            f"{wired.batched_per_s / (1 - wired.subscribers_share):,.0f}/s, "
            f"{wired.cpu_us - wired.subscribers_cpu_us:.0f} us CPU each"
        )
        shown = ", ".join(f"{k} {v}" for k, v in wired.outcomes.most_common())
        print(f"outcomes of the batched intents: {shown}")
        print(f"target: {TARGETS['gate']}; anchor: {ANCHORS['gate']}")

    if "events" not in skip:
        print(
            f"== journey event -> SMS at the provider: omnicx serve on SQLite, "
            f"{args.events:,} events at {args.rate:g}/s"
        )
        latencies, lost = bench_event_to_send(args.events, args.rate)
        if latencies:
            p95 = percentile(latencies, 0.95)
            print(
                f"event -> connector: p50 {statistics.median(latencies):.1f} ms, "
                f"p95 {p95:.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
                f"max {max(latencies):.1f} ms; never arrived: {lost}"
            )
        print(f"target: {TARGETS['events']}; anchor: {ANCHORS['events']}")

    if "segments" not in skip:
        print(f"== segments: a trait segment over {args.profiles:,} profiles on SQLite")
        run = bench_segments(args.profiles)
        scale = 1_000_000 / run.profiles
        segment_s = run.first_s * scale
        print(f"bulk load: {run.load_s:.1f} s; members: {run.members:,}; passes: {run.passes}")
        print(
            f"first evaluation (members, history, timeline written): {run.first_s:.1f} s "
            f"({run.first_cpu_s:.1f} s CPU)"
        )
        print(
            f"recompute, nothing changes: {run.again_s:.1f} s ({run.again_cpu_s:.1f} s CPU); "
            f"raw sqlite3 read of the same rows: {run.raw_s:.1f} s"
        )
        print(f"target: {TARGETS['segments']}; anchor: {ANCHORS['segments']}")

    print(
        f"RESULT decisions_per_s={decisions_per_s:.0f} event_to_send_p95_ms={p95:.1f} "
        f"segment_1m_s={segment_s:.1f}"
    )


if __name__ == "__main__":
    main()

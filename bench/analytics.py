"""Analytics benchmark: the channel reports over millions of events on the embedded database.

1. Load. A year of customers' events, generated in time order per customer, goes through the
   production ingestion path in-process: `parse_call` and `acknowledge` (the queue the HTTP
   API writes), then the worker's `process_ingest` (identities resolved, events stored, the
   analytics read models updated in each chunk's transaction). The customers are a mix:
   - 35 % online shoppers (web and app pages, product views, some orders online);
   - 25 % store shoppers (purchases at one of three stores, a few pages);
   - 30 % omnichannel (web, app, stores, a call to the call centre now and then);
   - 10 % anonymous visitors (web pages under an anonymous id only).
   Seven in ten tell a birthday, one in ten is `tier: gold`, and one in twenty first buys in a
   store under a phone number that a later sign-in joins to their account (one merge each).
2. Service, campaigns and availability, in proportion to the events (one conversation per
   4,000 events by default: each costs tens of milliseconds, most of it the desk's own
   reactions to a resolution), through the real service paths over the same year:
   - conversations opened by `receive_inbound` (email, SMS or WhatsApp, from known and new
     customers), three in ten followed by a message on another channel (a switch); through
     the services the HTTP API calls, eight in ten get a contact reason, seven in ten are
     resolved after a few minutes to eleven hours, and half of those get a CSAT score (a
     day's messages arrive together and share commits, and the day's agent work is one
     transaction, each change in its own savepoint at its own time);
   - four broadcasts, each to one customer in fifty, decided by the policy gate in batches
     of 500 (`Sending.submit_many`), their email sent by a fake provider;
   - the demo catalog and one request for an item that could not be had per 5,000 events
     (`record_demand`: searches, an in-store-only suit online, a sold-out TV at a store).
3. A segment (`tier` is `gold`) is defined and the worker's evaluation pass runs until its
   members are known (the propensity, CLV and service reports join them).
4. Reports. Each report is asked through the HTTP API in-process (`TestClient`, an admin key),
   over the whole year: `--runs` times after one warm-up; the median and the slowest run are
   printed beside the target (under 1 s each).

    python bench/analytics.py [--events N] [--per-customer E] [--runs R] [--seed S]
                              [--events-per-conversation C] [--database-url URL]

The last line is `RESULT events=<n> slowest_report_ms=<n>` (the slowest report's median, of
every report timed).
"""

import argparse
import gc
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.cli.commerce import load_demo_catalog
from omnicx.commerce.messages import RecordDemand
from omnicx.config import Settings
from omnicx.conversations import FakeChannelSender, InboundMessage, Receipt
from omnicx.conversations import services as conversation_services
from omnicx.db.migrate import upgrade
from omnicx.events import Source, acknowledge, create_source, parse_call
from omnicx.kernel import Clock, Conflict, FixedClock
from omnicx.kernel.moments import iso, micros
from omnicx.orchestration.gate import Content, SendIntent
from omnicx.webhooks.http import FakeWebhookSender
from omnicx.workers.memory import tune_gc

TARGET_MS = 1000
START = datetime(2025, 1, 6, tzinfo=UTC)
DAYS = 365
BATCH = 100
GROUP = 1000
DRAIN_EVERY = 200_000
EVENTS_PER_CONVERSATION = 4000
EVENTS_PER_REQUEST = 5000
CAMPAIGNS = 4
CAMPAIGN_REACH = 50
"""A broadcast goes to one customer in this many."""
SEND_BATCH = 500
REASONS = ("order_status", "delivery", "returns_exchanges", "payment", "product_question")
INBOUND = ("email", "sms", "whatsapp")
DEMAND = (
    RecordDemand("web", "search", sku="AUR-TER-0801-50"),
    RecordDemand("app", "search", sku="AUR-TER-0801-50"),
    RecordDemand("store", "store", sku="AUR-TV-55-4K"),
    RecordDemand("web", "search", query="vestido midi azul"),
)
STORES = ("SP-PAULISTA", "SP-PINHEIROS", "CPS-DOMPEDRO")
PRODUCTS = [f"SKU-{n:04d}" for n in range(400)]
HOURS = [0, 0, 0, 0, 0, 0, 1, 2, 4, 6, 8, 9, 10, 10, 9, 8, 8, 9, 10, 12, 12, 9, 5, 2]
"""How likely each UTC hour is for a session (a shop's day, seen from UTC)."""


@dataclass
class Customer:
    n: int
    kind: str
    start: datetime
    events: int
    birthday: str | None
    gold: bool
    joined: bool
    """First buys in a store under a phone number, joined to the account later."""


@dataclass
class Counts:
    events: int = 0
    customers: int = 0
    merges: int = 0
    conversations: int = 0
    messages: int = 0
    decisions: int = 0
    requests: int = 0


def customers(mean: int, rng: random.Random) -> Iterator[Customer]:
    """Customers without end, `mean` events each on average."""
    n = -1
    while True:
        n += 1
        roll = rng.random()
        kind = (
            "online"
            if roll < 0.35
            else "store"
            if roll < 0.60
            else "omni"
            if roll < 0.90
            else "anonymous"
        )
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
        yield Customer(
            n=n,
            kind=kind,
            start=START + timedelta(days=rng.randrange(0, DAYS - 30)),
            events=max(2, round(rng.expovariate(1 / mean))),
            birthday=born.isoformat() if rng.random() < 0.7 else None,
            gold=rng.random() < 0.1,
            joined=kind in ("store", "omni") and rng.random() < 0.1,
        )


def _moment(customer: Customer, rng: random.Random) -> datetime:
    day = customer.start + timedelta(days=rng.randrange(0, 30))
    hour = rng.choices(range(24), HOURS)[0]
    return day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))


def customer_events(c: Customer, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """(source, event) pairs of one customer, in time order."""
    user = f"u{c.n}"
    email = f"c{c.n}@example.com"
    phone = f"+55119{c.n % 100_000_000:08d}"
    moments = sorted(_moment(c, rng) for _ in range(c.events))
    out: list[tuple[str, dict[str, Any]]] = []
    if c.kind == "anonymous":
        for at in moments:
            out.append(("web", _page(f"a{c.n}", None, at, rng)))
        return out
    traits: dict[str, Any] = {"email": email}
    if c.birthday:
        traits["birthday"] = c.birthday
    if c.gold:
        traits["tier"] = "gold"
    store = STORES[c.n % len(STORES)]
    pos = f"pos-{c.n}"
    joining = c.joined
    for index, at in enumerate(moments):
        channel = _channel(c.kind, index, rng)
        if index == 0:
            out.append(("web", _identify(user, traits, at)))
        elif joining and channel == "store":
            # Bought at the till under a phone only (a profile of its own); the next sign-in
            # with that phone joins it to the account.
            out.append(("store", _store_order(pos, None, phone, store, at, rng)))
            out.append(("web", _identify(user, {"phone": phone}, at + timedelta(minutes=5))))
            joining = False
        elif channel == "store":
            out.append(("store", _store_order(None, user, None, store, at, rng)))
        elif channel == "call_center":
            out.append(("call_center", _call(phone, at, rng)))
        else:
            out.append((channel, _browse(user, channel, at, rng)))
    return out


def _channel(kind: str, index: int, rng: random.Random) -> str:
    roll = rng.random()
    if kind == "online":
        return "web" if roll < 0.6 else "app"
    if kind == "store":
        return "store" if roll < 0.7 or index == 0 else "web"
    if roll < 0.35:
        return "web"
    if roll < 0.6:
        return "app"
    if roll < 0.93:
        return "store"
    return "call_center"


def _identify(user: str, traits: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "traits": traits, "timestamp": iso(at)}


def _page(anonymous: str, user: str | None, at: datetime, rng: random.Random) -> dict[str, Any]:
    who = {"userId": user} if user else {"anonymousId": anonymous}
    path = f"/p/{rng.choice(PRODUCTS)}"
    return {
        "type": "page",
        **who,
        "name": "Product",
        "properties": {"path": path},
        "timestamp": iso(at),
    }


def _browse(user: str, channel: str, at: datetime, rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.06:
        total = round(rng.uniform(30, 600), 2)
        return {
            "type": "track",
            "userId": user,
            "event": "Order Completed",
            "properties": {"order_id": uuid.uuid4().hex[:12], "total": total, "currency": "BRL"},
            "timestamp": iso(at),
        }
    if channel == "app":
        return {"type": "screen", "userId": user, "name": "Home", "timestamp": iso(at)}
    if roll < 0.5:
        return _page("", user, at, rng)
    return {
        "type": "track",
        "userId": user,
        "event": "Product Viewed",
        "properties": {"sku": rng.choice(PRODUCTS), "price": rng.randrange(20, 900)},
        "timestamp": iso(at),
    }


def _store_order(
    pos: str | None,
    user: str | None,
    phone: str | None,
    store: str,
    at: datetime,
    rng: random.Random,
) -> dict[str, Any]:
    who: dict[str, Any] = {"userId": user} if user else {"anonymousId": pos}
    event: dict[str, Any] = {
        "type": "track",
        **who,
        "event": "Order Completed",
        "properties": {"store_id": store, "total": round(rng.uniform(20, 900), 2)},
        "timestamp": iso(at),
    }
    if phone:
        event["context"] = {"traits": {"phone": phone}}
    return event


def _call(phone: str, at: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "type": "track",
        "anonymousId": f"call-{uuid.uuid4().hex[:10]}",
        "event": "Call Received",
        "properties": {"duration_seconds": rng.randrange(45, 900)},
        "context": {"traits": {"phone": phone}},
        "timestamp": iso(at),
    }


def batches(events: int, mean: int, seed: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Exactly `events` events in batches of up to 100 of one source; groups of customers
    interleaved, each customer's events in order."""
    rng = random.Random(seed)
    serial = 0
    pending: dict[str, list[dict[str, Any]]] = {}
    people = customers(mean, rng)
    while serial < events:
        streams = [customer_events(next(people), rng) for _ in range(GROUP)]
        longest = max(len(s) for s in streams)
        for k in range(longest):
            for stream in streams:
                if k >= len(stream) or serial == events:
                    continue
                source, event = stream[k]
                serial += 1
                event["messageId"] = f"b{serial}"
                waiting = pending.setdefault(source, [])
                waiting.append(event)
                if len(waiting) == BATCH:
                    yield source, waiting
                    pending[source] = []
    for source, waiting in pending.items():
        if waiting:
            yield source, waiting


def load(services: Services, sources: dict[str, Source], args: argparse.Namespace) -> Counts:
    counts = Counts()
    received = datetime(2026, 1, 10, tzinfo=UTC)
    since_drain = 0
    started = time.perf_counter()
    for channel, batch in batches(args.events, args.per_customer, args.seed):
        source = sources[channel]
        parsed = parse_call(
            {"batch": batch},
            None,
            received_at=received,
            default_channel=source.channel,
            limits=services.limits,
            identity=services.identity,
        )
        acknowledge(services.queue, source, parsed.events, micros(received))
        since_drain += len(batch)
        if since_drain >= DRAIN_EVERY:
            counts.events += drain(services)
            since_drain = 0
            rate = counts.events / (time.perf_counter() - started)
            print(f"  {counts.events:>12,} events stored ({rate:,.0f}/s)", flush=True)
    counts.events += drain(services)
    with services.engines.main.connect() as conn:
        counts.customers = conn.execute(
            sa.text("SELECT count(*) FROM analytics_customers WHERE channel_count > 0")
        ).scalar_one()
        counts.merges = conn.execute(sa.text("SELECT count(*) FROM merges")).scalar_one()
    return counts


def drain(services: Services) -> int:
    total = 0
    while (count := services.process_ingest()) > 0:
        total += count
    return total


def at(services: Services, moment: datetime) -> None:
    services.uow.clock = FixedClock(moment)
    services.clock = FixedClock(moment)


def _sender(n: int, channel: str) -> tuple[tuple[str, str], ...]:
    if channel == "email":
        return (("email", f"c{n}@example.com"),)
    return (("phone", f"+55119{n % 100_000_000:08d}"),)


def _inbound(index: int, part: int, n: int, channel: str, at: datetime) -> InboundMessage:
    sender = _sender(n, channel) if part == 1 else (*_sender(n, "email"), *_sender(n, "sms"))
    return InboundMessage(
        channel=channel,
        account="+5511900000000",
        sender=sender,
        received_at=at,
        provider_message_id=f"bench-{index}-{part}",
        text="Where is my order?" if part == 1 else "Writing here instead",
    )


def together(services: Services, messages: list[InboundMessage]) -> list[Receipt]:
    """Hand `messages` in from as many threads at once, as webhooks arrive, so they share
    the inbound group commit; their receipts in order."""
    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(services.receive_inbound, messages))


def conversations(services: Services, counts: Counts, seed: int, per: int) -> None:
    """One conversation per `per` events, from the year's customers, a
    day at a time: the day's messages through `receive_inbound` together (they share
    commits, as webhooks arriving together do), then the agents' work of the day (reasons,
    resolutions, CSAT) through the services the API calls, in time order, in one
    transaction, each change in a savepoint of its own and handled at its own time."""
    rng = random.Random(seed + 1)
    people = max(1, counts.customers)
    total = max(4, counts.events // per)
    opened_ids: set[str] = set()
    for day in range(DAYS):
        wanted = total * (day + 1) // DAYS - total * day // DAYS
        if not wanted:
            continue
        morning = START + timedelta(days=day, hours=12)
        first = counts.messages
        people_today = [(rng.randrange(people), rng.choice(INBOUND)) for _ in range(wanted)]
        at(services, morning)
        receipts = together(
            services,
            [
                _inbound(first + i, 1, n, channel, morning)
                for i, (n, channel) in enumerate(people_today)
            ],
        )
        ids = [receipt.conversation_id for receipt in receipts]
        counts.messages += len(ids)
        later = morning + timedelta(minutes=10)
        at(services, later)
        switched = together(
            services,
            [
                _inbound(first + i, 2, n, rng.choice([c for c in INBOUND if c != channel]), later)
                for i, (n, channel) in enumerate(people_today)
                if rng.random() < 0.3
            ],
        )
        counts.messages += len(switched)
        work: list[tuple[datetime, int, str, Any]] = []
        for conversation in dict.fromkeys(ids):
            opened_ids.add(conversation)
            if rng.random() < 0.8:
                reason = rng.choice(REASONS)
                work.append((later + timedelta(minutes=5), 0, conversation, reason))
            if rng.random() < 0.7:
                done = later + timedelta(minutes=rng.randrange(5, 11 * 60))
                work.append((done, 1, conversation, "resolved"))
                if rng.random() < 0.5:
                    work.append((done + timedelta(minutes=1), 2, conversation, rng.randint(1, 5)))
        work.sort(key=lambda item: (item[0], item[1], item[2]))
        with services.uow() as uow:
            for moment, kind, conversation, value in work:
                uow.clock = FixedClock(moment)
                try:
                    with uow.savepoint():
                        _agent(services, uow, kind, conversation, value, moment)
                except Conflict:
                    pass  # a conversation two messages of the day joined, already rated
            uow.commit()
    counts.conversations = len(opened_ids)


def _agent(
    services: Services, uow: Any, kind: int, conversation: str, value: Any, now: datetime
) -> None:
    if kind == 0:
        conversation_services.change_details(
            services.conversations(uow),
            conversation,
            contact_reason=value,
            reasons=services.settings.contact_reasons,
            now=now,
            raise_event=uow.raise_event,
        )
    elif kind == 1:
        conversation_services.change_status(
            services.conversations(uow),
            conversation,
            value,
            snoozed_until=None,
            now=now,
            raise_event=uow.raise_event,
        )
    else:
        services.desk_core.record_by_agent(
            services.desk(uow), services.desk_port(uow), conversation, value, None, now
        )


def broadcasts(services: Services, counts: Counts, seed: int) -> None:
    """`CAMPAIGNS` broadcasts, each to one customer in `CAMPAIGN_REACH`, through the gate."""
    rng = random.Random(seed + 2)
    services.channel_senders["email"] = FakeChannelSender("email")
    with services.engines.main.connect() as conn:
        ids = list(
            conn.execute(
                sa.text("SELECT customer_id FROM analytics_customers ORDER BY customer_id")
            ).scalars()
        )
    for campaign in range(CAMPAIGNS):
        at(services, START + timedelta(days=45 + campaign * 80, hours=14))
        chosen = rng.sample(ids, min(len(ids), max(10, len(ids) // CAMPAIGN_REACH)))
        for first in range(0, len(chosen), SEND_BATCH):
            intents = [
                SendIntent(
                    send_id=f"spring-{campaign}-{customer}",
                    customer_id=customer,
                    purpose="transactional",
                    category="order",
                    priority=50,
                    channels=("email",),
                    content=Content(text="Your loyalty points are waiting"),
                    origin=f"broadcast:season-{campaign}",
                )
                for customer in chosen[first : first + SEND_BATCH]
            ]
            with services.uow() as uow:
                counts.decisions += len(services.sending.submit_many(uow, intents))
                uow.commit()


def requests(services: Services, counts: Counts, seed: int) -> None:
    """The demo catalog, and one request per `EVENTS_PER_REQUEST` events over the year."""
    rng = random.Random(seed + 3)
    at(services, START)
    load_demo_catalog(services)
    total = max(4, counts.events // EVENTS_PER_REQUEST)
    per_day = max(1, total // DAYS)
    day = 0
    while counts.requests < total:
        at(services, START + timedelta(days=day % DAYS, hours=12))
        with services.uow() as uow:
            for _ in range(min(per_day, total - counts.requests)):
                services.record_demand(uow, rng.choice(DEMAND))
                counts.requests += 1
            uow.commit()
        day += 1


def segment(client: TestClient, services: Services, auth: dict[str, str]) -> str:
    made = client.post(
        "/api/segments",
        json={"name": "Gold", "condition": {"trait": "tier", "op": "eq", "value": "gold"}},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    while services.evaluate_segments():
        pass
    return str(made.json()["id"])


def reports(segment_id: str) -> list[tuple[str, str, dict[str, str]]]:
    year = {
        "from": START.date().isoformat(),
        "to": (START + timedelta(days=DAYS)).date().isoformat(),
    }
    return [
        ("channel-usage (day)", "channel-usage", year),
        ("channel-usage (month)", "channel-usage", {**year, "bucket": "month"}),
        ("propensity", "propensity", {}),
        ("propensity (segment)", "propensity", {"segment": segment_id}),
        ("paths (purchase)", "paths", year),
        ("paths (contact)", "paths", {**year, "outcome": "contact"}),
        ("conversions", "conversions", year),
        ("economics", "economics", year),
        ("economics (CSV)", "economics", {**year, "format": "csv"}),
        ("clv", "clv", {}),
        ("clv (segment)", "clv", {"segment": segment_id}),
        ("heatmap (São Paulo)", "heatmap", {**year, "tz": "America/Sao_Paulo"}),
        ("channel-reasons", "channel-reasons", year),
        ("channel-reasons (segment)", "channel-reasons", {**year, "segment": segment_id}),
        ("channel-reasons (CSV)", "channel-reasons", {**year, "format": "csv"}),
        ("friction", "friction", year),
        ("friction (segment)", "friction", {**year, "segment": segment_id}),
        ("campaigns", "campaigns", year),
        ("campaigns (CSV)", "campaigns", {**year, "format": "csv"}),
        ("availability-gaps", "availability-gaps", year),
        ("availability-gaps (store)", "availability-gaps", {**year, "channel": "store"}),
    ]


def time_report(
    client: TestClient, auth: dict[str, str], path: str, params: dict[str, str], runs: int
) -> list[float]:
    def once() -> float:
        started = time.perf_counter()
        response = client.get(f"/api/analytics/{path}", params=params, headers=auth)
        took = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
        return took

    once()
    return [once() for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument(
        "--per-customer", type=int, default=20, help="events per customer on average"
    )
    parser.add_argument(
        "--events-per-conversation",
        type=int,
        default=EVENTS_PER_CONVERSATION,
        help="one conversation per this many events",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="omnicx-analytics-bench-"))
    schema = None
    url = f"sqlite:///{scratch / 'omnicx.db'}"
    if args.database_url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = (
            sa.make_url(args.database_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    services = build(
        # Thousands of API calls with one key load the service history: far past a key's
        # production budget, which would only turn answers into 429s here.
        Settings(
            data_dir=scratch,
            database_url=url,
            run_worker=False,
            rate_limit_api="100000/second",
        ),
        sender=FakeWebhookSender(),
    )
    try:
        upgrade(services.engines)
        tune_gc()
        with services.uow() as uow:
            now = uow.clock.now()
            sources = {
                channel: create_source(services.events(uow), name, channel, now)
                for name, channel in (
                    ("Web shop", "web"),
                    ("App", "app"),
                    ("Stores", "store"),
                    ("Call centre", "call_center"),
                )
            }
            _, key = create_api_key(services.api_keys(uow), "bench", "admin", now)
            uow.commit()
        auth = {"Authorization": f"Bearer {key}"}
        print(
            f"omnicx on {'PostgreSQL' if schema else 'SQLite'}: {args.events:,} events, "
            f"about {args.per_customer} per customer, over {DAYS} days"
        )
        wall, cpu = time.perf_counter(), time.process_time()
        counts = load(services, sources, args)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"loaded {counts.events:,} events in {wall:.0f} s ({counts.events / wall:,.0f}/s "
            f"parse + acknowledge + resolve, {cpu / counts.events * 1e6:.0f} us CPU per event); "
            f"{counts.customers:,} customers, {counts.merges:,} merges"
        )
        gc.collect()
        with TestClient(app_for(services, run_worker=False)) as client:
            clock: tuple[Clock, Clock] = (services.clock, services.uow.clock)
            wall = time.perf_counter()
            conversations(services, counts, args.seed, args.events_per_conversation)
            broadcasts(services, counts, args.seed)
            requests(services, counts, args.seed)
            services.clock, services.uow.clock = clock
            print(
                f"loaded {counts.conversations:,} conversations ({counts.messages:,} inbound "
                f"messages), {counts.decisions:,} gate decisions in {CAMPAIGNS} broadcasts, "
                f"{counts.requests:,} availability requests in {time.perf_counter() - wall:.0f} s"
            )
            with services.engines.main.connect() as conn:
                sizes = {
                    table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in (
                        "analytics_customers",
                        "analytics_seen_months",
                        "analytics_channel_days",
                        "analytics_channel_hours",
                        "analytics_cohorts",
                        "analytics_paths",
                        "analytics_economics",
                        "analytics_service_conversations",
                        "analytics_service_cells",
                        "analytics_service_friction",
                        "analytics_campaign_sends",
                        "analytics_campaign_days",
                        "commerce_demand",
                    )
                }
            print(
                "read models: "
                + ", ".join(f"{t.removeprefix('analytics_')} {n:,}" for t, n in sizes.items())
            )
            started = time.perf_counter()
            segment_id = segment(client, services, auth)
            print(f"segment Gold evaluated in {time.perf_counter() - started:.1f} s")
            print()
            print(f"| report | median ms | slowest ms (of {args.runs}) | target |")
            print("|---|---|---|---|")
            slowest = 0.0
            for label, path, params in reports(segment_id):
                times = time_report(client, auth, path, params, args.runs)
                median = statistics.median(times)
                slowest = max(slowest, median)
                print(f"| {label} | {median:.1f} | {max(times):.1f} | < {TARGET_MS} ms |")
    finally:
        services.close()
        if schema and args.database_url:
            with sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT").connect() as c:
                c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(f"RESULT events={counts.events} slowest_report_ms={slowest:.0f}")


if __name__ == "__main__":
    main()

"""Two first events of the same new person arriving at once end in one profile.

Twice over: parallel HTTP clients against a live server with its worker, and parallel
workers (each with its own connections) racing on the same people's first events. On
PostgreSQL the workers really overlap (SKIP LOCKED claims, a unique identifier per kind and
value, retry on conflict); on SQLite the write lock serialises them.
"""

import base64
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
import uvicorn

from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.events import Source, acknowledge, parse_call
from omnicx.kernel.moments import micros

PEOPLE = 40
CLIENTS = 6


def first_event(person: int, client: int) -> dict[str, object]:
    return {
        "type": "identify",
        "anonymousId": f"device-{person}-{client}",
        "traits": {"email": f"Person{person}@Example.com"},
        "messageId": f"first-{person}-{client}",
    }


def owners_by_email(services: Services) -> dict[str, set[str]]:
    with services.engines.main.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.value, a.value, a.profile_id FROM identifiers e "
                "JOIN identifiers a ON a.profile_id = e.profile_id AND a.kind = 'anonymous_id' "
                "WHERE e.kind = 'email'"
            )
        )
        result: dict[str, set[str]] = {}
        for email, device, _ in rows:
            result.setdefault(services.cipher.reveal(email), set()).add(device)
        return result


def live_profiles(services: Services) -> int:
    with services.engines.main.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM profiles WHERE id = canonical_id")
            ).scalar_one()
        )


def expected() -> dict[str, set[str]]:
    return {
        f"person{p}@example.com": {f"device-{p}-{c}" for c in range(CLIENTS)} for p in range(PEOPLE)
    }


def test_parallel_clients_first_events_end_in_one_profile_each(
    make_settings: Callable[..., Settings],
    source: Source,
    services: Services,
) -> None:
    settings = make_settings(run_worker=True, worker_mode="thread")
    live = build(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            app_for(live, run_worker=True), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        auth = {
            "Authorization": "Basic " + base64.b64encode(f"{source.write_key}:".encode()).decode()
        }
        gate = threading.Barrier(CLIENTS)
        statuses: list[int] = []

        def client(c: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                gate.wait()
                for p in range(PEOPLE):
                    statuses.append(
                        http.post("/v1/identify", json=first_event(p, c), headers=auth).status_code
                    )

        clients = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        deadline = time.monotonic() + 20
        while live.queue.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert statuses == [200] * (PEOPLE * CLIENTS)
        assert owners_by_email(services) == expected()
        assert live_profiles(services) == PEOPLE
    finally:
        server.should_exit = True
        thread.join(10)
        live.close()


def test_parallel_workers_racing_on_first_events_end_in_one_profile_each(
    settings: Settings,
    source: Source,
    services: Services,
) -> None:
    now = datetime.now(UTC)
    for c in range(CLIENTS):
        for p in range(PEOPLE):
            parsed = parse_call(
                first_event(p, c),
                "identify",
                received_at=now,
                default_channel="web",
                limits=services.limits,
                identity=services.identity,
            )
            acknowledge(services.queue, source, parsed.events, micros(now))
    workers = [build(settings) for _ in range(3)]
    gate = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def run(worker: Services) -> None:
        gate.wait()
        try:
            while worker.process_ingest(max_events=1):
                pass
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for worker in workers:
        worker.close()
    assert failures == []
    assert services.queue.pending() == 0
    assert owners_by_email(services) == expected()
    assert live_profiles(services) == PEOPLE

"""Killing the server with SIGKILL in the middle of a load loses no acknowledged event, and
sending everything again creates no duplicates."""

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import sqlalchemy as sa

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(BIN / "omnicx"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("omnicx serve did not start")


def batch(n: int) -> bytes:
    events = [
        {
            "type": "track",
            "userId": f"crash-{(n * 50 + i) % 300}",
            "event": "Product Viewed",
            "messageId": f"m-{n}-{i}",
            "properties": {"n": n, "i": i},
        }
        for i in range(50)
    ]
    events[0] = {
        "type": "identify",
        "userId": f"crash-{n % 300}",
        "messageId": f"m-{n}-0",
        "traits": {"email": f"p{n % 300}@example.com"},
    }
    return orjson.dumps({"batch": events})


def test_sigkill_mid_load_loses_nothing_acknowledged(tmp_path: Path, db_url: str) -> None:
    env = {**os.environ, "OMNICX_DATA_DIR": str(tmp_path), "OMNICX_DATABASE_URL": db_url}
    subprocess.run([str(BIN / "omnicx"), "migrate"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [str(BIN / "omnicx"), "sources", "create", "--name", "Shop", "--channel", "web"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    key = orjson.loads(created.stdout)["write_key"]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    port = free_port()
    server = start(env, port)
    acked: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            n = 0
            while not stop.is_set():
                try:
                    response = http.post("/v1/batch", content=batch(n), headers=auth)
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    acked.append(n)
                n += 1

    loader = threading.Thread(target=load)
    loader.start()
    deadline = time.monotonic() + 20
    while len(acked) < 60 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(10)
    stop.set()
    loader.join(10)
    assert len(acked) >= 60

    server = start(env, port)
    engine = sa.create_engine(db_url)
    try:
        expected = {f"m-{n}-{i}" for n in acked for i in range(50)}

        def stored() -> set[str]:
            with engine.connect() as conn:
                return {m for (m,) in conn.execute(sa.text("SELECT message_id FROM events"))}

        deadline = time.monotonic() + 60
        while not expected <= stored() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert expected - stored() == set()

        sent = max(acked) + 3
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for n in range(sent):
                assert http.post("/v1/batch", content=batch(n), headers=auth).status_code == 200
            deadline = time.monotonic() + 60
            while http.get("/health").json()["pending_events"] and time.monotonic() < deadline:
                time.sleep(0.1)
        everything = {f"m-{n}-{i}" for n in range(sent) for i in range(50)}
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT count(*), count(DISTINCT message_id) FROM events")
            ).one()
            profiles = conn.execute(
                sa.text("SELECT count(*) FROM profiles WHERE id = canonical_id")
            ).scalar_one()
        assert stored() == everything
        assert tuple(rows) == (len(everything), len(everything))
        people = {e["userId"] for n in range(sent) for e in orjson.loads(batch(n))["batch"]}
        assert profiles == len(people)
    finally:
        engine.dispose()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)

"""The real Segment Python SDK against a live omnicx (uvicorn on a free port, worker running)."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from segment.analytics import request as segment_request
from segment.analytics.client import Client
from segment.analytics.request import APIError

from omnicx.asgi import app_for
from omnicx.bootstrap import Services
from omnicx.config import Settings
from omnicx.events import Source
from tests.conftest import table_counts

WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Live:
    url: str
    services: Services
    api: httpx.Client


@pytest.fixture
def worker_mode() -> str:
    """The worker beside the server: a thread here; one test also runs the child process."""
    return "thread"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], worker_mode: str) -> Settings:
    return make_settings(worker_mode=worker_mode)


@pytest.fixture
def live(services: Services, source: Source, admin: dict[str, str]) -> Iterator[Live]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app_for(services, run_worker=True),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, headers=admin, timeout=5.0) as api:
            yield Live(url=url, services=services, api=api)
    finally:
        # The SDK keeps one module-wide requests session; drop its connections to this server.
        segment_request._session.close()
        server.should_exit = True
        thread.join(WAIT_SECONDS)
        sock.close()
    assert not thread.is_alive()


def wait_until_resolved(live: Live, events: int) -> None:
    """Poll (bounded) until the worker stored `events` events and nothing is left queued."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        done = table_counts(live.services, "events")["events"]
        if done == events and live.services.queue.pending() == 0:
            return
        assert time.monotonic() < deadline, f"{done} of {events} events resolved in time"
        time.sleep(0.05)


def lookup(live: Live, kind: str, value: str) -> dict[str, Any]:
    response = live.api.get("/api/customers/lookup", params={"kind": kind, "value": value})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def timeline(live: Live, customer_id: str) -> list[dict[str, Any]]:
    response = live.api.get(f"/api/customers/{customer_id}/timeline", params={"order": "asc"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("worker_mode", ["thread", "process"])
def test_identify_track_and_alias_from_the_sdk_build_one_profile(
    live: Live, source: Source
) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    client = Client(source.write_key, host=live.url, sync_mode=True, max_retries=0)
    client.identify(
        "u-42",
        {"email": " Ana@Example.com", "phone": "(11) 91234-5678", "name": "Ana Silva"},
        timestamp=start,
        message_id="m-identify",
    )
    client.track(
        "u-42",
        "Order Completed",
        {"total": 99.9, "currency": "BRL"},
        timestamp=start + timedelta(seconds=1),
        message_id="m-order",
    )
    client.track(
        anonymous_id="anon-7",
        event="Viewed Product",
        properties={"sku": "SKU-1"},
        timestamp=start + timedelta(seconds=2),
        message_id="m-view",
    )
    client.alias("anon-7", "u-42", timestamp=start + timedelta(seconds=3), message_id="m-alias")
    client.flush()

    wait_until_resolved(live, 4)

    customer = lookup(live, "user_id", "u-42")
    assert lookup(live, "anonymous_id", "anon-7") == customer
    assert lookup(live, "email", "ana@example.com") == customer
    assert lookup(live, "phone", "+55 11 91234-5678") == customer
    assert sorted((i["kind"], i["value"], i["channel"]) for i in customer["identifiers"]) == [
        ("anonymous_id", "anon-7", "web"),
        ("email", "ana@example.com", "web"),
        ("phone", "+5511912345678", "web"),
        ("user_id", "u-42", "web"),
    ]
    assert customer["traits"] == {
        "email": " Ana@Example.com",
        "name": "Ana Silva",
        "phone": "(11) 91234-5678",
    }
    assert (customer["display_name"], customer["email"], customer["phone"]) == (
        "Ana Silva",
        "ana@example.com",
        "+5511912345678",
    )
    assert len(customer["merged_ids"]) == 1

    items = timeline(live, customer["id"])
    assert [(i["type"], i["event"], i["message_id"]) for i in items] == [
        ("identify", None, "m-identify"),
        ("track", "Order Completed", "m-order"),
        ("track", "Viewed Product", "m-view"),
        ("alias", None, "m-alias"),
    ]
    assert items[1]["properties"] == {"total": 99.9, "currency": "BRL"}
    assert items[3]["properties"] == {"previousId": "anon-7"}
    assert {i["context"]["library"]["name"] for i in items} == {"analytics-python"}
    for offset, item in enumerate(items):
        moment = datetime.fromisoformat(item["timestamp"])
        assert abs(moment - (start + timedelta(seconds=offset))) < timedelta(seconds=2)

    # The SDK's messageIds make a resend harmless.
    client.track("u-42", "Order Completed", timestamp=start, message_id="m-order")
    wait_until_resolved(live, 4)  # the resend was queued before the call returned
    assert [i["message_id"] for i in timeline(live, customer["id"])] == [
        "m-identify",
        "m-order",
        "m-view",
        "m-alias",
    ]


def test_the_threaded_sdk_with_gzip_batches_every_call_type(live: Live, source: Source) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    errors: list[Exception] = []
    client = Client(
        source.write_key,
        host=live.url,
        gzip=True,
        upload_interval=0.05,
        max_retries=0,
        on_error=lambda error, _batch: errors.append(error),
    )
    calls: list[Callable[[datetime], object]] = [
        lambda at: client.identify(
            anonymous_id="anon-1", traits={"email": "BIA@example.com"}, timestamp=at
        ),
        lambda at: client.page(anonymous_id="anon-1", category="Shop", name="Home", timestamp=at),
        lambda at: client.screen(anonymous_id="anon-1", name="Cart", timestamp=at),
        lambda at: client.group(
            anonymous_id="anon-1", group_id="acme", traits={"plan": "pro"}, timestamp=at
        ),
        lambda at: client.identify(
            "u-7", {"email": "bia@example.com ", "firstName": "Bia"}, timestamp=at
        ),
    ]
    for offset, call in enumerate(calls):
        call(start + timedelta(seconds=offset))
    client.flush()
    client.join()
    assert errors == []

    wait_until_resolved(live, 5)

    customer = lookup(live, "anonymous_id", "anon-1")
    assert sorted((i["kind"], i["value"]) for i in customer["identifiers"]) == [
        ("anonymous_id", "anon-1"),
        ("email", "bia@example.com"),
        ("user_id", "u-7"),
    ]
    assert customer["traits"] == {"email": "bia@example.com ", "firstName": "Bia"}
    assert customer["display_name"] == "Bia"
    assert customer["merged_ids"] == []
    items = timeline(live, customer["id"])
    assert [(i["type"], i["name"]) for i in items] == [
        ("identify", None),
        ("page", "Home"),
        ("screen", "Cart"),
        ("group", None),
        ("identify", None),
    ]
    assert items[1]["properties"] == {"category": "Shop"}
    assert items[3]["properties"] == {"groupId": "acme", "traits": {"plan": "pro"}}


def test_the_sdk_sees_an_unknown_write_key_refused(live: Live) -> None:
    client = Client("not-a-write-key", host=live.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as caught:
        client.track("u-1", "Signed Up")
    assert caught.value.status == 401
    assert live.services.queue.pending() == 0
    assert table_counts(live.services, "events", "profiles") == {"events": 0, "profiles": 0}

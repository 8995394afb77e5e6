"""`omnicx analytics rebuild`: the read models emptied and filled again from the stored
events, with what was read printed as one JSON object; a bad chunk size changes nothing."""

import json
from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.cli.conftest import Invoke

COUNTERS = ("analytics_customers", "analytics_channel_days", "analytics_channel_hours")


def _tables(services: Services) -> dict[str, list[tuple[object, ...]]]:
    with services.engines.main.connect() as conn:
        return {
            name: sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {name}")))
            for name in COUNTERS
        }


def _ingest(client: TestClient, auth: dict[str, str], drain: Callable[[], int]) -> None:
    batch = [
        {
            "type": "track",
            "userId": f"u{n % 2}",
            "event": "Product Viewed",
            "context": {"channel": ("web", "app")[n % 2]},
            "timestamp": f"2026-03-0{1 + n}T10:00:00Z",
            "messageId": f"m{n}",
        }
        for n in range(5)
    ]
    assert client.post("/v1/batch", json={"batch": batch}, headers=auth).status_code == 200
    assert drain() == 5


def test_rebuild_fills_the_emptied_read_models_again(
    invoke: Invoke,
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    _ingest(client, write_auth, drain)
    live = _tables(services)
    assert all(live.values())
    with services.uow() as uow:
        for name in COUNTERS:
            uow.conn.execute(sa.text(f"DELETE FROM {name}"))
        uow.commit()

    result = invoke("analytics", "rebuild", "--chunk", "2")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "chunks": 3,
        "read": {
            "campaign_facts": 0,
            "conversations": 0,
            "decisions": 0,
            "events": 5,
            "messages": 0,
            "orders": 0,
        },
    }
    assert _tables(services) == live
    assert invoke("analytics", "rebuild").exit_code == 0
    assert _tables(services) == live


def test_a_chunk_below_one_is_refused_and_changes_nothing(
    invoke: Invoke,
    client: TestClient,
    services: Services,
    write_auth: dict[str, str],
    drain: Callable[[], int],
) -> None:
    _ingest(client, write_auth, drain)
    before = _tables(services)

    result = invoke("analytics", "rebuild", "--chunk", "0")

    assert result.exit_code == 2
    assert "--chunk" in result.output
    assert _tables(services) == before

"""A batch the worker cannot resolve is set aside whole, with its error, and the rest of the
queue goes on; a database that does not answer leaves everything queued."""

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import omnicx.bootstrap
from omnicx.bootstrap import Services
from omnicx.events import resolve_batches
from tests.conftest import table_counts


def _post(client: TestClient, auth: dict[str, str], *user_ids: str) -> None:
    response = client.post(
        "/v1/batch",
        headers=auth,
        json={
            "batch": [
                {"type": "track", "userId": u, "event": "Seen", "messageId": f"m-{u}"}
                for u in user_ids
            ]
        },
    )
    assert response.status_code == 200


def test_a_failing_batch_becomes_a_dead_letter_and_the_rest_is_stored(
    client: TestClient,
    write_auth: dict[str, str],
    admin: dict[str, str],
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _post(client, write_auth, "a1", "a2")
    _post(client, write_auth, "poison")
    _post(client, write_auth, "b1")

    def fragile(batches: Any, **kwargs: Any) -> int:
        if any(e["userId"] == "poison" for _, _, items in batches for e in items):
            raise ValueError("cannot resolve this one")
        return resolve_batches(batches, **kwargs)

    monkeypatch.setattr(omnicx.bootstrap, "resolve_batches", fragile)
    assert services.process_ingest() == 3
    assert services.queue.pending() == 0
    assert table_counts(services, "events", "profiles", "ingest_dead_letters") == {
        "events": 3,
        "profiles": 3,
        "ingest_dead_letters": 1,
    }
    listed = client.get("/api/ingest/dead-letters", headers=admin).json()["items"]
    assert [(d["count"], d["error"], [e["userId"] for e in d["events"]]) for d in listed] == [
        (1, "ValueError: cannot resolve this one", ["poison"])
    ]
    assert client.get("/health").json()["dead_letters"] == 1


def test_an_unanswering_database_leaves_the_claim_queued(
    client: TestClient,
    write_auth: dict[str, str],
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    drain: Callable[[], int],
) -> None:
    _post(client, write_auth, "c1", "c2")

    def down(batches: Any, **kwargs: Any) -> int:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(omnicx.bootstrap, "resolve_batches", down)
    monkeypatch.setattr(time, "sleep", lambda _: None)
    with pytest.raises(sa.exc.OperationalError):
        services.process_ingest()
    assert services.queue.pending() == 2
    assert table_counts(services, "events", "ingest_dead_letters") == {
        "events": 0,
        "ingest_dead_letters": 0,
    }
    monkeypatch.undo()
    assert drain() == 2

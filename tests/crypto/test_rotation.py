"""Rotating the data key and sealing what was stored in the clear, while ingestion goes on."""

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.cli.main import app
from omnicx.cli.protection import TABLES, rotate_data_key, seal_stored
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.profiles import Identifier
from omnicx.workers import Worker
from tests.crypto.test_at_rest import EMAIL, SECRETS, identify, rows_holding

ZERO = dict.fromkeys((*TABLES, "ingest_queue"), 0)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(key_refresh_seconds=0)


def lookup(client: TestClient, admin: dict[str, str], email: str) -> dict[str, Any]:
    response = client.get(
        "/api/customers/lookup", params={"kind": "email", "value": email}, headers=admin
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_rotation_reseals_everything_while_ingestion_goes_on(
    client: TestClient,
    admin: dict[str, str],
    write_auth: dict[str, str],
    drain: Callable[[], int],
    services: Services,
) -> None:
    identify(write_auth, client, "ana", EMAIL)
    assert drain() == 2
    identify(write_auth, client, "bia", "bia@example.com")  # still queued under k1

    report = rotate_data_key(services)

    assert report["previous_primary"] == "k1"
    assert report["primary"] == "k2"
    assert report["readable_keys"] == ["k1", "k2"]
    assert report["rewritten"] == {
        **ZERO,
        "profiles": 1,
        "identifiers": 2,
        "traits": 5,
        "trait_history": 5,
        "events": 2,
        "ingest_queue": 1,
    }
    assert rows_holding(services, ("enc:v1:k1:",)) == []
    assert drain() == 2
    identify(write_auth, client, "caio", "caio@example.com")
    assert drain() == 2
    assert rows_holding(services, ("enc:v1:k1:", *SECRETS)) == []
    assert lookup(client, admin, EMAIL)["traits"]["notes"] == "prefers calls after nine"
    assert lookup(client, admin, "bia@example.com")["email"] == "bia@example.com"
    assert lookup(client, admin, "caio@example.com")["email"] == "caio@example.com"
    assert seal_stored(services, force=True) == ZERO


def test_plaintext_rows_are_sealed_by_the_pass(
    make_settings: Callable[..., Settings], write_auth: dict[str, str], source: Any
) -> None:
    plain = build(make_settings(sensitive_fields=[]))
    try:
        upgrade(plain.engines)
        with TestClient(app_for(plain, run_worker=False)) as client:
            identify(write_auth, client, "ana", EMAIL)
        assert Worker(plain).drain() == 2
        with plain.engines.main.begin() as conn:  # as rows written before 0004 were
            conn.execute(sa.text("UPDATE identifiers SET value_hash = NULL"))
        assert {table for table, _ in rows_holding(plain, (EMAIL,))} == {
            "events",
            "identifiers",
            "profiles",
            "trait_history",
            "traits",
        }
    finally:
        plain.close()

    sealed = build(make_settings())
    try:
        counts = seal_stored(sealed)
        assert counts == {
            **ZERO,
            "profiles": 1,
            "identifiers": 3,
            "traits": 5,
            "trait_history": 5,
            "events": 2,
        }
        assert rows_holding(sealed, SECRETS) == []
        assert seal_stored(sealed) == {}
        with sealed.uow(write=False) as uow:
            repo = sealed.profiles(uow)
            [owner] = repo.owners([Identifier("email", EMAIL)]).values()
            profile = repo.get(owner)
        assert profile is not None
        assert (profile.email, profile.phone) == (EMAIL, "+5511912345678")
    finally:
        sealed.close()


def run(tmp_path: Path, db_url: str, *args: str, **env: str) -> dict[str, Any]:
    values = {
        "OMNICX_DATA_DIR": str(tmp_path),
        "OMNICX_DATABASE_URL": db_url,
        "OMNICX_KEY_REFRESH_SECONDS": "0",
        **env,
    }
    result = CliRunner().invoke(app, list(args), env=values)
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture
def stored(client: TestClient, write_auth: dict[str, str], drain: Callable[[], int]) -> None:
    identify(write_auth, client, "ana", EMAIL)
    assert drain() == 2


@pytest.mark.usefixtures("stored")
def test_the_command_rotates_the_key_file(tmp_path: Path, db_url: str, services: Services) -> None:
    first = run(tmp_path, db_url, "keys", "rotate-data-key", "--batch", "2")
    assert (first["previous_primary"], first["primary"]) == ("k1", "k2")
    assert first["rewritten"]["traits"] == 5
    again = run(tmp_path, db_url, "keys", "rotate-data-key")
    assert (again["primary"], again["readable_keys"]) == ("k3", ["k1", "k2", "k3"])
    assert again["rewritten"]["identifiers"] == 2
    assert rows_holding(services, ("enc:v1:k1:", "enc:v1:k2:")) == []


@pytest.mark.usefixtures("stored")
def test_with_keys_from_the_environment_the_command_reseals_to_the_first(
    tmp_path: Path, db_url: str, services: Services
) -> None:
    keys = json.loads((tmp_path / "omnicx-keys.json").read_text())
    new = base64.b64encode(b"\x07" * 32).decode()
    env = {
        "OMNICX_DATA_KEYS": f"k9:{new},k1:{keys['data_keys']['k1']}",
        "OMNICX_INDEX_KEY": keys["index_key"],
    }
    first = run(tmp_path, db_url, "keys", "rotate-data-key", **env)
    assert first["primary"] == "k9"
    assert "put a new key first in OMNICX_DATA_KEYS" in first["how"]
    assert first["rewritten"]["trait_history"] == 5
    assert rows_holding(services, ("enc:v1:k1:",)) == []
    again = run(tmp_path, db_url, "keys", "rotate-data-key", **env)
    assert again["rewritten"] == ZERO


def test_a_bad_key_setting_stops_the_command_with_its_name(tmp_path: Path, db_url: str) -> None:
    result = CliRunner().invoke(
        app,
        ["migrate"],
        env={
            "OMNICX_DATA_DIR": str(tmp_path),
            "OMNICX_DATABASE_URL": db_url,
            "OMNICX_DATA_KEYS": "k1:short",
            "OMNICX_INDEX_KEY": base64.b64encode(b"\x01" * 32).decode(),
        },
    )
    assert result.exit_code == 2
    assert "OMNICX_DATA_KEYS: key 'k1'" in result.stderr

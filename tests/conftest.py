"""Fixtures shared by every test.

Storage tests take `db_url`: a fresh SQLite file per test, and the same test again on
PostgreSQL (a schema of its own) when OMNICX_TEST_DATABASE_URL is set. Under CI=true a
missing PostgreSQL fails the run instead of skipping.
"""

import base64
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.events import create_source
from omnicx.webhooks.http import FakeWebhookSender
from omnicx.workers import Worker

PG_URL = os.environ.get("OMNICX_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_available() -> str | None:
    if not PG_URL:
        return "OMNICX_TEST_DATABASE_URL is not set"
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect():
            pass
        engine.dispose()
    except sa.exc.OperationalError as error:
        return f"PostgreSQL at OMNICX_TEST_DATABASE_URL does not answer: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_reason() -> str | None:
    reason = _postgres_available()
    if reason and IN_CI:
        pytest.fail(f"CI=true needs PostgreSQL: {reason}")
    return reason


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_reason: str | None
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'omnicx.db'}"
        return
    if postgres_reason:
        pytest.skip(postgres_reason)
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def make_settings(tmp_path: Path, db_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "database_url": db_url,
            "run_worker": False,
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def sender() -> FakeWebhookSender:
    return FakeWebhookSender()


@pytest.fixture
def services(settings: Settings, sender: FakeWebhookSender) -> Iterator[Services]:
    built = build(settings, sender=sender)
    upgrade(built.engines)
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(app_for(services, run_worker=False)) as test_client:
        yield test_client


@pytest.fixture
def drain(services: Services) -> Callable[[], int]:
    """Resolve everything acknowledged so far, as the worker would."""
    return Worker(services).drain


@pytest.fixture
def source(services: Services) -> Any:
    with services.uow() as uow:
        created = create_source(services.events(uow), "Web shop", "web", uow.clock.now())
        uow.commit()
    return created


@pytest.fixture
def write_auth(source: Any) -> dict[str, str]:
    token = base64.b64encode(f"{source.write_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _api_key(services: Services, role: str) -> dict[str, str]:
    with services.uow() as uow:
        _, secret = create_api_key(services.api_keys(uow), f"test {role}", role, uow.clock.now())
        uow.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def admin(services: Services) -> dict[str, str]:
    return _api_key(services, "admin")


@pytest.fixture
def reader(services: Services) -> dict[str, str]:
    return _api_key(services, "read_only")


def table_counts(services: Services, *tables: str) -> dict[str, int]:
    with services.engines.main.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }

"""Schemathesis over every operation of the OpenAPI document, against the real app.

Each operation gets a bounded, derandomized set of generated requests (valid and invalid)
with an admin API key, or a source's write key on the tracking routes. Every answer must be
no 5xx, a documented status, a documented content type, and a body and headers that match
the document (so every error has the one `Error` shape).
"""

import base64
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from omnicx.access import create_api_key
from omnicx.asgi import app_for
from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.events import create_source
from omnicx.webhooks.http import FakeWebhookSender

EXAMPLES_PER_OPERATION = 25

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class Credentials:
    def __init__(self, admin_key: str, write_key: str) -> None:
        self.write_key = write_key
        self.bearer = {"Authorization": f"Bearer {admin_key}"}
        token = base64.b64encode(f"{write_key}:".encode()).decode()
        self.basic = {"Authorization": f"Basic {token}"}

    def for_path(self, path: str) -> dict[str, str]:
        return self.basic if path.startswith("/v1/") else self.bearer


def _services(data_dir: Path) -> Services:
    return build(
        Settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'omnicx.db'}",
            run_worker=False,
            # Every operation is called with one key, far past a production per-key budget;
            # rate limits have their own tests, here they would only turn answers into 429s.
            rate_limit_api="100000/second",
        ),
        sender=FakeWebhookSender(),
    )


# Schemathesis' pytest integration collects one test per operation from a schema loaded at
# import (its fixture-based loader does not run under pytest 9), so the app is built here and
# its database is migrated and seeded by the module fixture below, before the first request.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="omnicx-fuzz-"))
_SERVICES = _services(_DATA_DIR)
schema = schemathesis.openapi.from_asgi("/openapi.json", app_for(_SERVICES, run_worker=False))


@pytest.fixture(scope="module")
def credentials() -> Iterator[Credentials]:
    upgrade(_SERVICES.engines)
    with _SERVICES.uow() as uow:
        _, admin_key = create_api_key(
            _SERVICES.api_keys(uow), "fuzz admin", "admin", uow.clock.now()
        )
        source = create_source(_SERVICES.events(uow), "Fuzz", "web", uow.clock.now())
        uow.commit()
    yield Credentials(admin_key, source.write_key)
    _SERVICES.close()
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented(case: Any, credentials: Credentials) -> None:
    case.call_and_validate(headers=credentials.for_path(case.path), checks=CHECKS)


def test_the_credentials_survived_every_operation(credentials: Credentials) -> None:
    """No generated request revoked the key the run relies on, so no operation ran unauthorised."""
    with TestClient(app_for(_SERVICES, run_worker=False)) as client:
        assert client.get("/api/sources", headers=credentials.bearer).status_code == 200
        settings_path = f"/v1/projects/{credentials.write_key}/settings"
        assert client.get(settings_path).status_code == 200

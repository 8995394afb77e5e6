from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from omnicx.bootstrap import Services
from omnicx.cli.main import app

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(tmp_path: Path, db_url: str, services: Services) -> Invoke:
    """Run `omnicx ...` against the test's (migrated) database, as a shell would."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        values = {"OMNICX_DATA_DIR": str(tmp_path), "OMNICX_DATABASE_URL": db_url, **(env or {})}
        return CliRunner().invoke(app, list(args), env=values)

    return run

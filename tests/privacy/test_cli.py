"""`omnicx privacy …` and `omnicx audit export` against the test's database."""

import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner, Result

from omnicx.bootstrap import Services
from omnicx.cli.main import app
from tests.conftest import table_counts
from tests.privacy.conftest import Person


def omnicx(tmp_path: Path, db_url: str, *args: str) -> Result:
    env = {"OMNICX_DATA_DIR": str(tmp_path), "OMNICX_DATABASE_URL": db_url}
    return CliRunner().invoke(app, list(args), env=env)


def test_export_erase_lift_and_audit_from_the_command_line(
    tmp_path: Path, db_url: str, services: Services, person: Person
) -> None:
    out = tmp_path / "ana.zip"
    exported = omnicx(
        tmp_path, db_url, "privacy", "export", "--customer", person.id, "--out", str(out)
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["subject_id"] == person.id
    assert "profiles/identifiers.csv" in zipfile.ZipFile(out).namelist()

    unconfirmed = omnicx(tmp_path, db_url, "privacy", "erase", "--customer", person.id)
    assert unconfirmed.exit_code == 2
    assert json.loads(unconfirmed.stderr)["error"]["code"] == "confirmation_needed"
    assert table_counts(services, "erased_profiles") == {"erased_profiles": 0}

    erased = omnicx(tmp_path, db_url, "privacy", "erase", "--customer", person.id, "--yes")
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.stdout)["kind"] == "erasure"
    again = omnicx(tmp_path, db_url, "privacy", "erase", "--customer", person.id, "--yes")
    assert again.exit_code == 2
    assert json.loads(again.stderr)["error"]["code"] == "customer_erased"

    lifted = omnicx(
        tmp_path,
        db_url,
        "privacy",
        "suppressions",
        "lift",
        "--kind",
        "email",
        "--value",
        " Zeldarina.Q@example.org ",
    )
    assert lifted.exit_code == 0, lifted.output
    assert json.loads(lifted.stdout) == {"lifted": {"kind": "email"}}
    twice = omnicx(
        tmp_path,
        db_url,
        "privacy",
        "suppressions",
        "lift",
        "--kind",
        "email",
        "--value",
        "zeldarina.q@example.org",
    )
    assert json.loads(twice.stderr)["error"]["code"] == "suppression_not_found"

    retention = omnicx(tmp_path, db_url, "privacy", "retention", "--dry-run")
    assert retention.exit_code == 0
    assert json.loads(retention.stdout)["policies"]["events"] == 396

    audit = omnicx(
        tmp_path, db_url, "audit", "export", "--customer", person.id, "--format", "jsonl"
    )
    assert audit.exit_code == 0, audit.output
    actions = [json.loads(line)["action"] for line in audit.stdout.splitlines()]
    assert actions[:3] == ["erase", "erase", "export"]
    assert {json.loads(line)["actor_kind"] for line in audit.stdout.splitlines()[:3]} == {"cli"}

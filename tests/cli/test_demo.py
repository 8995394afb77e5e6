import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.access import STAFF_ROLES
from omnicx.bootstrap import Services, build
from omnicx.cli.demo import SOURCES, Demo, Person, generate, load
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.profiles import lookup_profile
from tests.cli.conftest import Invoke
from tests.conftest import table_counts

ANCHOR = datetime(2025, 3, 1, tzinfo=UTC)


def test_generate_gives_the_same_calls_for_the_same_seed() -> None:
    first = generate(7, ANCHOR, customers=80)
    again = generate(7, ANCHOR, customers=80)
    other = generate(8, ANCHOR, customers=80)

    assert first.calls == again.calls
    assert first.people == again.people
    assert first.calls != other.calls
    message_ids = [c.payload["messageId"] for c in first.calls]
    assert len(set(message_ids)) == len(message_ids)
    assert all(m.startswith("demo-7-") for m in message_ids)
    assert all(ANCHOR - timedelta(days=366) < c.at < ANCHOR for c in first.calls)
    assert {c.source for c in first.calls} == {name for name, _ in SOURCES}


def test_store_and_call_centre_send_phones_the_way_people_type_them() -> None:
    demo = generate(7, ANCHOR, customers=80)
    till = [c.payload["context"]["traits"] for c in demo.calls if c.source.startswith("Store ")]
    calls = [c.payload for c in demo.calls if c.source == "Call centre"]

    assert till
    assert calls
    assert all(t.get("phone") or t.get("email") for t in till)
    assert any(re.fullmatch(r"\(\d\d\) \d{5}-\d{4}", t.get("phone", "")) for t in till)
    assert all(re.fullmatch(r"55\d{10,11}", p["context"]["traits"]["phone"]) for p in calls)
    assert all(p["event"] == "Call Received" and p["properties"]["reason"] for p in calls)
    assert all("sentAt" not in c.payload for c in demo.calls)


def _services(path: Path) -> Services:
    built = build(
        Settings(data_dir=path, database_url=f"sqlite:///{path / 'omnicx.db'}", run_worker=False)
    )
    upgrade(built.engines)
    return built


def _stitched(demo: Demo) -> Person:
    """An omni-channel customer with a phone of their own and an email the till got right."""
    shared = {p.shares_phone_with for p in demo.people}
    return next(
        p
        for p in demo.people
        if p.kind == "omni"
        and p.store_email
        and not p.invalid_email
        and p.shares_phone_with is None
        and p.number not in shared
    )


def _identifiers(services: Services, person: Person) -> list[tuple[str, str, str]]:
    with services.uow(write=False) as uow:
        repo = services.profiles(uow)
        kinds = services.settings.all_identifier_kinds
        profile = lookup_profile(repo, "email", person.email, "BR", kinds)
        return sorted(
            (i["kind"], i["value"], i["channel"]) for i in repo.identifiers_of(profile.id)
        )


def test_loading_a_seed_twice_builds_the_same_customers(tmp_path: Path) -> None:
    demo = generate(11, ANCHOR, customers=120)
    person = _stitched(demo)
    runs: list[dict[str, Any]] = []
    for name in ("first", "second"):
        services = _services(tmp_path / name)
        try:
            loaded = load(services, generate(11, ANCHOR, customers=120))
            runs.append(
                {
                    "events": loaded.events,
                    "not_linked": loaded.not_linked,
                    "totals": loaded.totals,
                    "sample": loaded.sample and (loaded.sample["email"], loaded.sample["phone"]),
                    "identifiers": _identifiers(services, person),
                }
            )
        finally:
            services.close()

    first, second = runs
    assert first == second
    assert first["events"] == len(demo.calls) == first["totals"]["events"]
    assert first["sample"] is not None
    found = first["identifiers"]
    assert {channel for _, _, channel in found} >= {"web", "store"}
    assert ("user_id", person.user_id, "web") in found
    contacts = [(kind, value) for kind, value, _ in found if kind in ("email", "phone")]
    assert sorted(contacts) == [("email", person.email), ("phone", person.phone)]


def test_demo_shows_stitches_merges_and_conflicts(tmp_path: Path) -> None:
    services = _services(tmp_path)
    try:
        loaded = load(services, generate(5, ANCHOR, customers=300))
    finally:
        services.close()

    totals = loaded.totals
    assert totals["events"] == loaded.events == loaded.calls
    assert totals["cross_channel"] >= 1
    assert totals["merged"] >= 1
    assert totals["conflicts"] >= 1
    assert loaded.not_linked >= 1


def tracked(services: Services) -> int:
    """Events that came in through the demo's sources."""
    with services.engines.main.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM events WHERE source_id IN (SELECT id FROM sources)")
            ).scalar_one()
        )


def test_demo_command_loads_once_then_skips(
    invoke: Invoke, client: TestClient, services: Services
) -> None:
    first = invoke("demo", "--customers", "40", "--seed", "3")

    assert first.exit_code == 0, first.output
    loaded = re.search(r"Loaded ([\d,]+) events into ([\d,]+) customer profiles", first.stdout)
    assert loaded is not None
    counts = table_counts(services, "events", "sources", "api_keys")
    # The demo's own orders, returns and journeys add timeline rows of their own.
    assert int(loaded.group(1).replace(",", "")) == tracked(services)
    assert counts["events"] > tracked(services)
    assert counts["sources"] == 6
    for name, channel in SOURCES:
        assert re.search(rf"^  {re.escape(name)} +{channel} +\S{{32}}$", first.stdout, re.M)
    key = re.search(r"Admin API key \(shown only now\): (ocx_\S+)", first.stdout)
    assert key is not None
    searched = re.search(r'--data-urlencode "q=(\S+)"', first.stdout)
    assert searched is not None
    customers = client.get(
        "/api/customers",
        params={"q": searched.group(1)},
        headers={"Authorization": f"Bearer {key.group(1)}"},
    )
    assert customers.status_code == 200
    assert customers.json()["items"]
    assert "curl -s -H" in first.stdout
    assert re.search(r"^Console: http://127\.0\.0\.1:\d+/ ", first.stdout, re.M)
    logins = re.findall(r"^  (\w+) +(\S+@aurora\.example\.com\.br) +(\S{20})$", first.stdout, re.M)
    assert sorted(role for role, _, _ in logins) == sorted(STAFF_ROLES)
    assert "Inbox: 12 conversations" in first.stdout
    assert table_counts(services, "conversations") == {"conversations": 12}
    agent = next((email, password) for role, email, password in logins if role == "agent")
    signed_in = client.post("/api/auth/login", json={"email": agent[0], "password": agent[1]})
    assert signed_in.status_code == 200
    session = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    inbox = client.get("/api/conversations", params={"status": "open"}, headers=session)
    assert inbox.status_code == 200
    assert len(inbox.json()["items"]) == 9

    second = invoke("demo", "--customers", "40", "--seed", "3")

    assert second.exit_code == 0, second.output
    assert "The demo sources hold events already: loading skipped." in second.stdout
    assert "Loaded " not in second.stdout
    again = table_counts(services, "events", "sources", "api_keys")
    assert again == {**counts, "api_keys": counts["api_keys"] + 1}
    assert table_counts(services, "conversations") == {"conversations": 12}

"""The marketer pages for journeys: the list, the draft's editor with problems in place, the
impact preview with an editable migration map, publish, pause, resume and roll back."""

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.conftest import table_counts
from tests.web.test_marketing import element, opening, rows, text

Console = Callable[..., tuple[TestClient, str]]


def definition(wait: str, text_sent: str, *, name: str = "Welcome") -> dict[str, Any]:
    return {
        "name": name,
        "description": "New customers",
        "trigger": {"event": "Signed Up"},
        "start": "w1",
        "nodes": {
            "w1": {"type": "wait", "duration": wait, "next": "s1"},
            "s1": {
                "type": "send",
                "purpose": "marketing",
                "channels": ["sms"],
                "content": {"text": text_sent},
                "next": "end",
            },
            "end": {"type": "exit"},
        },
    }


V1 = definition("1d", "Welcome!")
V2_YAML = """name: Welcome
description: New customers
trigger:
  event: Signed Up
start: w1
nodes:
  w1: {type: wait, duration: 2h, next: s2}
  s2: {type: send, purpose: marketing, channels: [sms], content: {text: Hello again}, next: end}
  end: {type: exit}
"""
BROKEN_YAML = V2_YAML.replace("duration: 2h", "duration: soon")


def create(services: Services, source: dict[str, Any] = V1) -> str:
    with services.uow() as uow:
        journey = services.conductor.create(uow, source, "test")
        uow.commit()
    return journey.id


def publish(services: Services, journey_id: str, migration: Any = None) -> None:
    with services.uow() as uow:
        services.conductor.publish(uow, journey_id, migration, "test")
        uow.commit()


def sign_ups(
    services: Services,
    client: TestClient,
    write_auth: dict[str, str],
    drain: Callable[[], int],
    count: int,
) -> None:
    for i in range(count):
        answer = client.post(
            "/v1/track", headers=write_auth, json={"userId": f"n{i}", "event": "Signed Up"}
        )
        assert answer.status_code == 200
    drain()
    services.run_journeys()


def journey_row(services: Services, journey_id: str) -> tuple[str, int | None, str | None]:
    with services.uow(write=False) as uow:
        journey = services.conductor.repo(uow).journey(journey_id)
    assert journey is not None
    return journey.status, journey.live_version, journey.draft_hash


def versions(services: Services, journey_id: str) -> list[tuple[int, str | None]]:
    with services.uow(write=False) as uow:
        found = services.conductor.repo(uow).versions(journey_id)
    return [(v.version, v.note) for v in found]


def places(services: Services, journey_id: str) -> list[tuple[int, str, str, int]]:
    with services.uow(write=False) as uow:
        return sorted(services.conductor.repo(uow).places(journey_id))


@pytest.fixture
def live(
    services: Services, client: TestClient, write_auth: dict[str, str], drain: Callable[[], int]
) -> str:
    """A published journey with three customers waiting on its first node."""
    journey_id = create(services)
    publish(services, journey_id)
    sign_ups(services, client, write_auth, drain, 3)
    assert places(services, journey_id) == [(1, "w1", "waiting", 3)]
    return journey_id


def test_the_list_shows_state_version_and_customers(
    console: Console, services: Services, live: str
) -> None:
    draft = create(services, definition("1h", "Hi", name="Birthday"))
    client, _ = console("marketer")

    page = client.get("/marketing/journeys")

    assert page.status_code == 200
    listed = rows(page.text, "data-journey")
    assert list(listed) == [draft, live]
    assert listed[draft].startswith("Birthday New customers Draft — Not published yet 0 0 ")
    assert listed[live].startswith("Welcome New customers Live 1 Same as live 3 0 ")


def test_a_new_journey_with_problems_is_not_created(console: Console, services: Services) -> None:
    client, csrf = console("marketer")
    assert (
        '<label for="definition">Definition (YAML or JSON)</label>'
        in client.get("/marketing/journeys/new").text
    )

    page = client.post("/marketing/journeys", data={"csrf": csrf, "definition": BROKEN_YAML})

    assert page.status_code == 400
    assert 'aria-invalid="true"' in opening(page.text, "definition")
    assert text(element(page.text, "definition-errors")) == (
        "nodes.w1.duration must be a duration such as 90s, 15m, 1h30m, 2d or 1w, or seconds"
    )
    assert table_counts(services, "journeys") == {"journeys": 0}


def test_a_new_journey_is_created_as_a_draft(console: Console, services: Services) -> None:
    client, csrf = console("marketer")

    answer = client.post(
        "/marketing/journeys",
        data={"csrf": csrf, "definition": V2_YAML},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    with services.uow(write=False) as uow:
        (journey,) = services.conductor.repo(uow).journeys()
    assert answer.headers["location"] == f"/marketing/journeys/{journey.id}?done=created"
    assert (journey.name, journey.status, journey.live_version) == ("Welcome", "draft", None)
    assert journey.draft is not None
    assert journey.draft["nodes"]["s2"]["content"] == {"text": "Hello again"}
    page = client.get(answer.headers["location"]).text
    assert "Journey created as a draft. Publish it to let customers in." in page
    assert text(element(page, "draft-state")) == "Not published yet"


def test_the_journey_page_shows_customers_versions_and_the_draft(
    console: Console, services: Services, live: str
) -> None:
    client, _ = console("marketer")

    page = client.get(f"/marketing/journeys/{live}").text

    assert text(element(page, "journey-state")) == "Live"
    assert text(element(page, "running")) == "3"
    assert (
        text(element(page, "places")) == "Where customers are Node Version Customers w1 waiting 1 3"
    )
    assert re.search(r'<li data-version="1">\s*<strong>Version 1</strong>', page)
    assert text(element(page, "draft-state")) == "The draft is the live version."
    assert "Review and publish" not in page
    assert "duration: 1d" in element(page, "definition")
    assert 'data-confirm="Pause this journey? Nobody moves or enters until it is resumed."' in page


def test_an_invalid_draft_is_shown_in_place_and_not_saved(
    console: Console, services: Services, live: str
) -> None:
    before = journey_row(services, live)
    client, csrf = console("marketer")

    page = client.post(
        f"/marketing/journeys/{live}/draft",
        data={"csrf": csrf, "definition": BROKEN_YAML, "action": "save"},
    )

    assert page.status_code == 400
    assert 'aria-describedby="definition-errors definition-help"' in opening(
        page.text, "definition"
    )
    assert text(element(page.text, "definition-errors")).startswith("nodes.w1.duration must be")
    assert "duration: soon" in element(page.text, "definition")
    assert journey_row(services, live) == before


def test_checking_a_draft_saves_nothing(console: Console, services: Services, live: str) -> None:
    before = journey_row(services, live)
    client, csrf = console("marketer")

    page = client.post(
        f"/marketing/journeys/{live}/draft",
        data={"csrf": csrf, "definition": V2_YAML, "action": "check"},
    )

    assert page.status_code == 200
    assert "The definition is valid. Nothing was saved yet." in page.text
    assert journey_row(services, live) == before


def save_v2(client: TestClient, csrf: str, journey_id: str) -> None:
    answer = client.post(
        f"/marketing/journeys/{journey_id}/draft",
        data={"csrf": csrf, "definition": V2_YAML, "action": "save"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/marketing/journeys/{journey_id}?done=draft_saved"


def test_the_preview_shows_each_node_and_what_its_customers_get_next(
    console: Console, services: Services, live: str
) -> None:
    client, csrf = console("marketer")
    save_v2(client, csrf, live)
    page = client.get(f"/marketing/journeys/{live}").text
    assert text(element(page, "draft-state")) == "The draft has changes not yet published."
    assert f'href="/marketing/journeys/{live}/publish">Review and publish</a>' in page

    suggested = client.get(f"/marketing/journeys/{live}/publish")

    assert suggested.status_code == 200
    assert text(element(suggested.text, "migration")) == "w1: follow"
    assert text(element(suggested.text, "customers")) == "3"
    assert text(element(suggested.text, "to-version")) == "2"
    assert text(element(suggested.text, "groups")) == (
        "What each group does next Node now Customers Rule Next "
        "w1 wait 3 3 waiting Follow → w1 keeps waiting: waits 2h, then goes to s2"
    )

    mapped = client.get(
        f"/marketing/journeys/{live}/publish", params={"migration": "w1: {follow: s2}"}
    )

    groups = text(element(mapped.text, "groups"))
    assert groups.endswith(
        "w1 wait 3 3 waiting Follow → s2 sends a marketing message, then goes to end "
        "Channels: sms · text: Hello again"
    )
    assert 'id="release-form"' in mapped.text
    assert versions(services, live) == [(1, None)]


def test_a_map_that_leaves_customers_unplaced_shows_why(
    console: Console, services: Services, live: str
) -> None:
    client, csrf = console("marketer")
    save_v2(client, csrf, live)

    page = client.get(f"/marketing/journeys/{live}/publish", params={"migration": "ghost: exit"})

    assert 'aria-invalid="true"' in opening(page.text, "migration")
    assert [
        text(p) for p in re.findall(r"<li>(.*?)</li>", element(page.text, "migration-errors"))
    ] == [
        "migration.ghost no such node in the live version",
        "migration.w1 3 customers wait here; map it to follow, drain or exit",
    ]
    assert "Not placed" in element(page.text, "groups")
    assert 'id="release-form"' not in page.text
    assert text(element(page.text, "not-ready")).startswith("Place every group in the map")


def test_publish_creates_a_version_and_moves_customers_by_the_map(
    console: Console, services: Services, live: str
) -> None:
    client, csrf = console("marketer")
    save_v2(client, csrf, live)
    form = client.get(f"/marketing/journeys/{live}/publish").text
    assert (
        'data-confirm="Publish version 2 now? Customers in flight move as the preview shows."'
        in form
    )
    assert '<input type="hidden" name="migration" value="w1: follow\n">' in form

    answer = client.post(
        f"/marketing/journeys/{live}/publish",
        data={"csrf": csrf, "migration": "w1: {follow: s2}", "note": "shorter wait"},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/marketing/journeys/{live}?done=published"
    assert versions(services, live) == [(1, None), (2, "shorter wait")]
    assert journey_row(services, live)[:2] == ("live", 2)
    assert places(services, live) == [(2, "s2", "ready", 3)]
    page = client.get(answer.headers["location"]).text
    assert "Published: version 2 is live." in page
    assert text(element(page, "live-version")) == "2"


def test_a_refused_publish_shows_the_problems_and_writes_nothing(
    console: Console, services: Services, live: str
) -> None:
    client, csrf = console("marketer")
    save_v2(client, csrf, live)
    before = table_counts(services, "journey_versions", "journey_instances", "journey_history")

    page = client.post(f"/marketing/journeys/{live}/publish", data={"csrf": csrf, "migration": ""})

    assert page.status_code == 400
    assert text(element(page.text, "migration-errors")) == (
        "migration.w1 3 customers wait here; map it to follow, drain or exit"
    )
    assert (
        table_counts(services, "journey_versions", "journey_instances", "journey_history") == before
    )
    assert journey_row(services, live)[:2] == ("live", 1)


def test_the_first_version_is_published_without_a_map(console: Console, services: Services) -> None:
    journey_id = create(services)
    client, csrf = console("marketer")

    page = client.get(f"/marketing/journeys/{journey_id}/publish").text
    assert "Nobody is in the journey yet: the first version starts empty." in page
    assert 'id="migration"' not in page
    answer = client.post(
        f"/marketing/journeys/{journey_id}/publish",
        data={"csrf": csrf, "migration": ""},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert journey_row(services, journey_id)[:2] == ("live", 1)


def test_pause_and_resume_change_the_state(console: Console, services: Services, live: str) -> None:
    client, csrf = console("marketer")

    paused = client.post(f"/marketing/journeys/{live}/pause", data={"csrf": csrf})

    assert paused.status_code == 200
    assert journey_row(services, live)[0] == "paused"
    assert "Journey paused: nobody moves or enters until it is resumed." in paused.text
    assert text(element(paused.text, "journey-state")) == "Paused"
    again = client.post(f"/marketing/journeys/{live}/pause", data={"csrf": csrf})
    assert again.status_code == 409
    assert "the journey is paused, not live" in again.text

    resumed = client.post(f"/marketing/journeys/{live}/resume", data={"csrf": csrf})

    assert journey_row(services, live)[0] == "live"
    assert "Journey resumed." in resumed.text


def test_roll_back_publishes_the_earlier_version_again(
    console: Console, services: Services, live: str
) -> None:
    client, csrf = console("marketer")
    save_v2(client, csrf, live)
    client.post(
        f"/marketing/journeys/{live}/publish", data={"csrf": csrf, "migration": "w1: follow"}
    )
    page = client.get(f"/marketing/journeys/{live}").text
    assert f'href="/marketing/journeys/{live}/rollback?to=1">Roll back to version 1</a>' in page

    preview = client.get(f"/marketing/journeys/{live}/rollback", params={"to": "1"})

    assert "<h1>Roll Welcome back to version 1</h1>" in preview.text
    assert text(element(preview.text, "to-version")) == "3"
    assert text(element(preview.text, "groups")).endswith(
        "w1 wait 3 3 waiting Follow → w1 keeps waiting: waits 1d, then goes to s1"
    )
    answer = client.post(
        f"/marketing/journeys/{live}/rollback",
        data={"csrf": csrf, "to": "1", "migration": "w1: follow"},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert versions(services, live) == [(1, None), (2, None), (3, "rollback to version 1")]
    assert journey_row(services, live)[:2] == ("live", 3)
    assert places(services, live) == [(3, "w1", "waiting", 3)]
    assert "Rolled back: version 3 is live." in client.get(answer.headers["location"]).text


def test_forms_without_the_csrf_token_change_nothing(
    console: Console, services: Services, live: str
) -> None:
    client, csrf = console("marketer")
    save_v2(client, csrf, live)
    before = journey_row(services, live)
    counts = table_counts(services, "journeys", "journey_versions", "journey_instances")

    for path, data in (
        ("/marketing/journeys", {"definition": V2_YAML.replace("Welcome", "Other")}),
        (f"/marketing/journeys/{live}/draft", {"definition": BROKEN_YAML}),
        (f"/marketing/journeys/{live}/publish", {"migration": "w1: follow"}),
        (f"/marketing/journeys/{live}/rollback", {"to": "1", "migration": "w1: follow"}),
        (f"/marketing/journeys/{live}/pause", {}),
    ):
        refused = client.post(path, data={"csrf": "forged", **data})
        assert (path, refused.status_code) == (path, 403)

    assert journey_row(services, live) == before
    assert table_counts(services, "journeys", "journey_versions", "journey_instances") == counts
    with services.uow(write=False) as uow:
        statuses = (
            uow.conn.execute(
                sa.text("SELECT status FROM audit_log WHERE route LIKE '/marketing/journeys%'")
            )
            .scalars()
            .all()
        )
    assert statuses == [303, 403, 403, 403, 403, 403]

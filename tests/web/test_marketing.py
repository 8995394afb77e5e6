"""The marketer pages for segments: the list with member counts, the editor with problems
shown in place, dry runs and saves, CSRF, the audit trail and who may open them."""

import html
import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.conftest import table_counts

Console = Callable[..., tuple[TestClient, str]]

GOLD = "all:\n  - trait: tier\n    op: eq\n    value: gold\n"
BAD = (
    '{"all": [{"trait": "tier", "op": "eq", "value": "gold"},'
    ' {"event": "Order Completed", "within": "forever"}, {"trait": "age", "op": "zz"}]}'
)


def text(fragment: str) -> str:
    """The words of an HTML fragment, as a reader sees them."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def element(page: str, element_id: str) -> str:
    """The first element with `id`, up to its closing tag (no nesting of the same tag)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert found is not None, f"no #{element_id}"
    return found.group(0)


def opening(page: str, element_id: str) -> str:
    """The opening tag of the element with `id` (an input has nothing else)."""
    found = re.search(rf'<\w+[^>]*\bid="{element_id}"[^>]*>', page)
    assert found is not None, f"no #{element_id}"
    return found.group(0)


def rows(page: str, attribute: str) -> dict[str, str]:
    """The table rows carrying `attribute="<id>"`, by id, as text."""
    found = re.findall(rf'<tr data-row {attribute}="([^"]+)">(.*?)</tr>', page, re.S)
    return {key: text(row) for key, row in found}


def people(client: TestClient, write_auth: dict[str, str], drain: Callable[[], int]) -> None:
    """Five customers: U0..U4 with tiers gold, silver, gold, silver, gold."""
    for i in range(5):
        traits = {"tier": "gold" if i % 2 == 0 else "silver", "name": f"U{i}"}
        answer = client.post(
            "/v1/identify", headers=write_auth, json={"userId": f"u{i}", "traits": traits}
        )
        assert answer.status_code == 200
    drain()


def settle(services: Services) -> None:
    while services.evaluate_segments():
        pass


def add_segment(services: Services, name: str, tier: str, description: str = "") -> str:
    with services.uow() as uow:
        segment = services.segmenter.create(
            uow, name, description, {"trait": "tier", "op": "eq", "value": tier}
        )
        uow.commit()
    return segment.id


def stored(services: Services) -> list[tuple[str, str, int]]:
    with services.uow(write=False) as uow:
        return [(s.name, s.description, s.version) for s in services.segmenter.all(uow)]


@pytest.fixture
def shoppers(
    client: TestClient, write_auth: dict[str, str], drain: Callable[[], int], services: Services
) -> Services:
    people(client, write_auth, drain)
    return services


def test_the_list_shows_each_segment_with_its_members_and_state(
    console: Console, shoppers: Services
) -> None:
    vip = add_segment(shoppers, "VIP", "gold", "Gold tier")
    silver = add_segment(shoppers, "Silver", "silver")
    settle(shoppers)
    client, _ = console("marketer")

    page = client.get("/marketing/segments")

    assert page.status_code == 200
    listed = rows(page.text, "data-segment")
    assert list(listed) == [silver, vip]
    assert listed[vip].startswith("VIP Gold tier 3 Up to date 1 ")
    assert listed[silver].startswith("Silver 2 Up to date 1 ")
    assert '<a class="button primary" href="/marketing/segments/new">New segment</a>' in page.text


def test_a_segment_being_evaluated_says_so(console: Console, shoppers: Services) -> None:
    vip = add_segment(shoppers, "VIP", "gold")
    client, _ = console("marketer")

    listed = rows(client.get("/marketing/segments").text, "data-segment")

    assert listed[vip].startswith("VIP 0 Evaluating 1 ")


def test_an_empty_list_says_there_are_none(console: Console) -> None:
    client, _ = console("marketer")
    assert '<p class="empty">No segments yet.</p>' in client.get("/marketing/segments").text


def test_the_editor_has_labelled_fields_and_a_starting_definition(console: Console) -> None:
    client, _ = console("marketer")

    page = client.get("/marketing/segments/new")

    assert page.status_code == 200
    assert '<label for="name">Name</label>' in page.text
    assert '<label for="definition">Condition (YAML or JSON)</label>' in page.text
    editor = element(page.text, "definition")
    assert 'aria-describedby="definition-help"' in editor
    assert "aria-invalid" not in editor
    assert html.unescape(text(editor)).startswith("all: - trait: tier op: in value: - gold")


def test_an_invalid_definition_is_shown_in_place_and_nothing_is_saved(
    console: Console, services: Services
) -> None:
    client, csrf = console("marketer")

    page = client.post(
        "/marketing/segments",
        data={"csrf": csrf, "name": "VIP", "definition": BAD, "action": "save"},
    )

    assert page.status_code == 400
    editor = element(page.text, "definition")
    assert 'aria-invalid="true"' in editor
    assert 'aria-describedby="definition-errors definition-help"' in editor
    assert html.unescape(editor).endswith(BAD + "</textarea>")
    problems = re.findall(r"<li>(.*?)</li>", element(page.text, "definition-errors"), re.S)
    assert [text(p) for p in problems] == [
        'condition.all[1].within a window is a whole number and a unit s, m, h, d or w: "30d"',
        "condition.all[2].op op is one of eq, ne, in, gt, gte, lt, lte, exists, contains",
    ]
    assert "Nothing was saved: fix the problems shown below." in page.text
    assert 'value="VIP"' in opening(page.text, "name")
    assert table_counts(services, "segments") == {"segments": 0}


def test_unreadable_yaml_is_shown_in_place(console: Console, services: Services) -> None:
    client, csrf = console("marketer")

    page = client.post(
        "/marketing/segments",
        data={"csrf": csrf, "name": "VIP", "definition": "all: [unclosed", "action": "save"},
    )

    assert page.status_code == 400
    assert text(element(page.text, "definition-errors")) == (
        "the body is not valid YAML at line 1, column 15"
    )
    assert table_counts(services, "segments") == {"segments": 0}


def test_a_name_already_taken_is_shown_beside_the_name(
    console: Console, services: Services
) -> None:
    add_segment(services, "VIP", "gold")
    client, csrf = console("marketer")

    page = client.post(
        "/marketing/segments",
        data={"csrf": csrf, "name": "VIP", "definition": GOLD, "action": "save"},
    )

    assert page.status_code == 409
    assert 'aria-describedby="name-errors"' in opening(page.text, "name")
    assert text(element(page.text, "name-errors")) == "a segment named 'VIP' exists already"
    assert stored(services) == [("VIP", "", 1)]


def test_a_valid_definition_is_saved(console: Console, shoppers: Services) -> None:
    client, csrf = console("marketer")

    answer = client.post(
        "/marketing/segments",
        data={
            "csrf": csrf,
            "name": "VIP",
            "description": "Gold tier",
            "definition": GOLD,
            "action": "save",
        },
        follow_redirects=False,
    )

    assert answer.status_code == 303
    with shoppers.uow(write=False) as uow:
        (segment,) = shoppers.segmenter.all(uow)
    assert answer.headers["location"] == f"/marketing/segments/{segment.id}?done=created"
    assert (segment.name, segment.description, segment.definition) == (
        "VIP",
        "Gold tier",
        {"all": [{"trait": "tier", "op": "eq", "value": "gold"}]},
    )
    settle(shoppers)
    page = client.get(answer.headers["location"])
    assert '<p class="flash flash-ok" role="status">Segment created.</p>' in page.text
    assert text(element(page.text, "members-title")) == "Members"
    assert "<dd data-size>3</dd>" in page.text
    members = re.findall(r'<a href="/customers/[^"]+">(U\d)</a>', element(page.text, "members"))
    assert sorted(members) == ["U0", "U2", "U4"]


def test_a_change_makes_a_new_version(console: Console, shoppers: Services) -> None:
    vip = add_segment(shoppers, "VIP", "gold")
    client, csrf = console("marketer")
    page = client.get(f"/marketing/segments/{vip}")
    assert 'action="/marketing/segments/' + vip + '"' in page.text

    answer = client.post(
        f"/marketing/segments/{vip}",
        data={
            "csrf": csrf,
            "name": "Silver club",
            "definition": '{"trait": "tier", "op": "eq", "value": "silver"}',
            "action": "save",
        },
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/marketing/segments/{vip}?done=saved"
    assert stored(shoppers) == [("Silver club", "", 2)]
    settle(shoppers)
    assert "<dd data-size>2</dd>" in client.get(answer.headers["location"]).text


def test_a_preview_counts_the_members_and_saves_nothing(
    console: Console, shoppers: Services
) -> None:
    client, csrf = console("marketer")

    page = client.post(
        "/marketing/segments",
        data={"csrf": csrf, "name": "", "definition": GOLD, "action": "preview"},
    )

    assert page.status_code == 200
    dry = element(page.text, "dry-run")
    assert "<span data-dry-size>3</span> matching customers" in dry
    assert "5 customers evaluated." in text(dry)
    assert sorted(re.findall(r">(U\d)</a>", dry)) == ["U0", "U2", "U4"]
    assert table_counts(shoppers, "segments") == {"segments": 0}


def test_a_preview_of_an_invalid_definition_shows_its_problems(
    console: Console, services: Services
) -> None:
    client, csrf = console("marketer")

    page = client.post(
        "/marketing/segments",
        data={"csrf": csrf, "name": "", "definition": BAD, "action": "preview"},
    )

    assert page.status_code == 400
    assert "condition.all[1].within" in element(page.text, "definition-errors")
    assert 'id="dry-run"' not in page.text


def test_a_form_without_the_csrf_token_writes_nothing_but_is_audited(
    console: Console, services: Services
) -> None:
    vip = add_segment(services, "VIP", "gold")
    client, _ = console("marketer")

    for path in ("/marketing/segments", f"/marketing/segments/{vip}"):
        refused = client.post(
            path, data={"csrf": "forged", "name": "Other", "definition": GOLD, "action": "save"}
        )
        assert refused.status_code == 403
        assert "This form has expired or did not come from the console." in refused.text

    assert stored(services) == [("VIP", "", 1)]
    with services.uow(write=False) as uow:
        found = uow.conn.execute(
            sa.text("SELECT route, status, actor_role FROM audit_log ORDER BY id")
        ).all()
    assert [tuple(r) for r in found] == [
        ("/marketing/segments", 403, "marketer"),
        ("/marketing/segments/{segment_id}", 403, "marketer"),
    ]


def test_saves_and_pages_showing_members_are_audited(console: Console, shoppers: Services) -> None:
    client, csrf = console("marketer")
    answer = client.post(
        "/marketing/segments",
        data={"csrf": csrf, "name": "VIP", "definition": GOLD, "action": "save"},
        follow_redirects=False,
    )
    settle(shoppers)
    client.get(answer.headers["location"])
    client.get("/marketing/segments")

    with shoppers.uow(write=False) as uow:
        found = uow.conn.execute(
            sa.text("SELECT action, route, status, customer_id FROM audit_log ORDER BY id")
        ).all()
    assert [(r[0], r[1], r[2]) for r in found] == [("create", "/marketing/segments", 303)] + [
        ("read", "/marketing/segments/{segment_id}", 200)
    ] * 3
    assert found[0][3] is None
    assert all(r[3] for r in found[1:])


@pytest.mark.parametrize("role", ["agent", "store_associate"])
def test_other_roles_cannot_open_the_marketer_pages(
    console: Console, services: Services, role: str
) -> None:
    vip = add_segment(services, "VIP", "gold")
    with services.uow() as uow:
        journey = services.conductor.create(
            uow,
            {
                "name": "Welcome",
                "trigger": {"event": "Signed Up"},
                "start": "end",
                "nodes": {"end": {"type": "exit"}},
            },
            "test",
        )
        uow.commit()
    client, csrf = console(role)

    for path in (
        "/marketing/segments",
        "/marketing/segments/new",
        f"/marketing/segments/{vip}",
        "/marketing/journeys",
        "/marketing/journeys/new",
        f"/marketing/journeys/{journey.id}",
        f"/marketing/journeys/{journey.id}/publish",
    ):
        page = client.get(path)
        assert (path, page.status_code) == (path, 403)
        assert 'href="/marketing/' not in page.text
    for path in (f"/marketing/segments/{vip}", f"/marketing/journeys/{journey.id}/publish"):
        refused = client.post(path, data={"csrf": csrf, "name": "X", "definition": GOLD})
        assert (path, refused.status_code) == (path, 403)
    assert stored(services) == [("VIP", "", 1)]
    assert table_counts(services, "journey_versions") == {"journey_versions": 0}


def test_the_marketer_sees_both_areas_in_the_navigation(console: Console) -> None:
    client, _ = console("marketer")
    page = client.get("/marketing/segments").text
    assert '<a href="/marketing/segments" aria-current="page">Segments</a>' in page
    assert '<a href="/marketing/journeys">Journeys</a>' in page


def test_the_pages_speak_the_users_language(console: Console, services: Services) -> None:
    client, _ = console("marketer", language="pt-BR")
    page = client.get("/marketing/segments/new").text
    assert "<h1>Novo segmento</h1>" in page
    assert '<label for="definition">Condição (YAML ou JSON)</label>' in page

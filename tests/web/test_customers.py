"""Customer 360 in the console: search, the timeline and its filters, merges and their undo,
consents with their history, and who may see or change what."""

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.conftest import table_counts

Console = Callable[..., tuple[TestClient, str]]


@pytest.fixture
def ids(
    client: TestClient, write_auth: dict[str, str], drain: Callable[[], int], services: Services
) -> dict[str, str]:
    """Ana (with a loyalty card, an order and a visit, and a kiosk profile merged into hers)
    and Bruno: their ids by first name, and the kiosk profile's as `kiosk`."""
    batch: list[dict[str, Any]] = [
        {
            "type": "identify",
            "userId": "ana",
            "timestamp": "2026-05-01T10:00:00Z",
            "traits": {
                "firstName": "Ana",
                "lastName": "Souza",
                "email": "ana@example.com",
                "phone": "+55 11 91234-5678",
                "loyaltyId": "LC-1001",
            },
        },
        {
            "type": "identify",
            "userId": "bruno",
            "timestamp": "2026-05-01T11:00:00Z",
            "traits": {"name": "Bruno Costa", "email": "bruno@example.com", "loyaltyId": "LC-2002"},
        },
        {
            "type": "track",
            "userId": "ana",
            "event": "Order Completed",
            "timestamp": "2026-05-02T09:00:00Z",
            "context": {"channel": "web"},
            "properties": {"total": 199.8},
        },
        {
            "type": "track",
            "userId": "ana",
            "event": "Store Visit",
            "timestamp": "2026-05-03T15:00:00Z",
            "context": {"channel": "store"},
        },
        {
            "type": "page",
            "userId": "ana",
            "name": "Home",
            "timestamp": "2026-05-04T08:00:00Z",
            "context": {"channel": "web"},
        },
        {
            "type": "track",
            "anonymousId": "kiosk-9",
            "event": "Coupon Printed",
            "timestamp": "2026-04-02T10:00:00Z",
            "context": {"channel": "kiosk"},
        },
    ]
    assert client.post("/v1/batch", headers=write_auth, json={"batch": batch}).status_code == 200
    drain()
    signup = {
        "type": "track",
        "anonymousId": "kiosk-9",
        "event": "Newsletter Signup",
        "timestamp": "2026-04-03T10:00:00Z",
        "context": {"channel": "kiosk", "traits": {"email": "ana@example.com"}},
    }
    assert client.post("/v1/track", headers=write_auth, json=signup).status_code == 200
    drain()
    with services.uow(write=False) as uow:
        rows = uow.conn.exec_driver_sql(
            "SELECT id, canonical_id, display_name FROM profiles ORDER BY created_at, id"
        ).all()
    found = {str(name).split()[0].lower(): str(pid) for pid, root, name in rows if pid == root}
    found["kiosk"] = next(str(pid) for pid, root, _ in rows if pid != root)
    return found


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found)


def unlabelled(html: str) -> list[str]:
    """Form controls with neither a `<label for>` nor an aria-label."""
    parser = _Controls()
    parser.feed(html)
    return [
        str(c.get("id") or c.get("name"))
        for c in parser.controls
        if not c.get("aria-label") and (not c.get("id") or c.get("id") not in parser.labelled)
    ]


def found_ids(html: str) -> list[str]:
    return re.findall(r'data-customer-id="([^"]+)"', html)


def event_names(html: str) -> list[str]:
    return re.findall(r'<strong class="event-name">([^<]+)</strong>', html)


def merge_state(services: Services) -> list[tuple[str, bool]]:
    with services.uow(write=False) as uow:
        rows = uow.conn.exec_driver_sql("SELECT loser_id, undone_at FROM merges").all()
    return [(str(loser), undone is not None) for loser, undone in rows]


def test_search_finds_exactly_the_customer_by_name_email_phone_or_loyalty_card(
    console: Console, ids: dict[str, str], services: Services
) -> None:
    client, _ = console("agent")
    page = client.get("/customers")
    assert page.status_code == 200
    assert '<label for="q">Name, email, phone or loyalty card</label>' in page.text
    assert "data-search" in page.text
    assert "match only when typed in full" in page.text
    for typed in ("souza", " ANA@example.com ", "(11) 91234-5678", "LC-1001"):
        results = client.get("/customers", params={"q": typed})
        assert (typed, found_ids(results.text)) == (typed, [ids["ana"]])
        assert "1 customer found" in results.text
    assert found_ids(client.get("/customers", params={"q": "LC-2002"}).text) == [ids["bruno"]]
    nobody = client.get("/customers", params={"q": "zed@example.com"})
    assert found_ids(nobody.text) == []
    assert "No customer found for “zed@example.com”." in nobody.text
    with services.uow(write=False) as uow:
        searches = uow.conn.exec_driver_sql(
            "SELECT customer_id FROM audit_log WHERE action = 'search' AND route = '/customers'"
        ).all()
    assert sorted({str(row[0]) for row in searches if row[0]}) == sorted({ids["ana"], ids["bruno"]})


def test_the_360_shows_identifiers_traits_and_the_timeline(
    console: Console, ids: dict[str, str]
) -> None:
    client, _ = console("agent")
    page = client.get(f"/customers/{ids['ana']}")
    assert page.status_code == 200
    assert (
        '<h1 id="customer-name" data-customer-id="' + ids["ana"] + '">Ana Souza</h1>' in page.text
    )
    assert '<li data-kind="loyalty_id"><span class="muted">loyalty_id</span> LC-1001' in page.text
    assert '<li data-kind="phone"><span class="muted">phone</span> +5511912345678' in page.text
    assert event_names(page.text) == [
        "Home",
        "Store Visit",
        "Order Completed",
        "Identify",
        "Newsletter Signup",
        "Coupon Printed",
    ]
    assert "total: 199.8" in page.text
    for label in ("Channel", "Type", "Event", "From", "To"):
        assert f">{label}</label>" in page.text
    assert unlabelled(page.text) == []
    assert unlabelled(client.get("/customers", params={"q": "ana"}).text) == []


def test_the_timeline_filters_narrow_it(console: Console, ids: dict[str, str]) -> None:
    client, _ = console("agent")
    base = f"/customers/{ids['ana']}"

    def names(**params: str) -> list[str]:
        answer = client.get(base, params=params)
        assert answer.status_code == 200, answer.text
        return event_names(answer.text)

    assert names(channel="store") == ["Store Visit"]
    assert names(channel="kiosk") == ["Newsletter Signup", "Coupon Printed"]
    assert names(type="page") == ["Home"]
    assert names(event="order") == ["Order Completed"]
    assert names(since="2026-05-02", until="2026-05-03") == ["Store Visit", "Order Completed"]
    assert names(until="2026-04-02") == ["Coupon Printed"]
    assert names(channel="web", since="2026-05-03") == ["Home"]
    empty = client.get(base, params={"channel": "sms"})
    assert "No events match these filters." in empty.text
    bad = client.get(base, params={"since": "2026-05-09", "until": "2026-05-01"})
    assert bad.status_code == 400
    assert "Check the period: dates as YYYY-MM-DD, the first no later than the last." in bad.text
    assert 'id="f-since" name="since" type="date" value="" aria-invalid="true"' in bad.text


def test_a_merged_away_id_opens_the_surviving_customer(
    console: Console, ids: dict[str, str]
) -> None:
    client, _ = console("agent")
    answer = client.get(f"/customers/{ids['kiosk']}?channel=kiosk", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        f"/customers/{ids['ana']}?channel=kiosk&from={ids['kiosk']}"
    )
    page = client.get(answer.headers["location"])
    assert f"{ids['kiosk']} was merged into this customer." in page.text
    assert event_names(page.text) == ["Newsletter Signup", "Coupon Printed"]


def test_merges_show_their_reason_and_undo_needs_permission_and_csrf(
    console: Console, ids: dict[str, str], services: Services
) -> None:
    marketer, marketer_csrf = console("marketer")
    shown = marketer.get(f"/customers/{ids['ana']}")
    assert shown.status_code == 200
    assert f"{ids['kiosk']} was merged into {ids['ana']} on" in shown.text
    assert "one event carried" in shown.text
    assert "Undo merge" not in shown.text
    merge_id = re.findall(r'data-merge-id="([^"]+)"', shown.text)[0]
    undo_path = f"/customers/{ids['ana']}/merges/{merge_id}/undo"
    refused = marketer.post(undo_path, data={"csrf": marketer_csrf}, follow_redirects=False)
    assert refused.status_code == 403
    assert "Your role (Marketer) cannot open this page." in refused.text
    assert merge_state(services) == [(ids["kiosk"], False)]

    agent, csrf = console("agent")
    page = agent.get(f"/customers/{ids['ana']}")
    assert f'action="{undo_path}"' in page.text
    assert "data-confirm=" in page.text
    forged = agent.post(undo_path, data={"csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert "This form has expired or did not come from the console." in forged.text
    assert merge_state(services) == [(ids["kiosk"], False)]

    undone = agent.post(undo_path, data={"csrf": csrf}, follow_redirects=False)
    assert undone.status_code == 303
    assert undone.headers["location"] == (
        f"/customers/{ids['ana']}?done=unmerged&other={ids['kiosk']}#merges"
    )
    assert merge_state(services) == [(ids["kiosk"], True)]
    after = agent.get(undone.headers["location"])
    assert f"Merge undone: {ids['kiosk']} is a separate customer again." in after.text
    assert "Undone on" in after.text
    assert "Coupon Printed" not in event_names(after.text)
    separate = agent.get(f"/customers/{ids['kiosk']}", follow_redirects=False)
    assert separate.status_code == 200
    assert event_names(separate.text) == ["Coupon Printed"]

    again = agent.post(undo_path, data={"csrf": csrf}, follow_redirects=False)
    assert again.status_code == 400
    assert "The merge was not undone: merge " in again.text
    assert "was undone already" in again.text
    with services.uow(write=False) as uow:
        audited = uow.conn.exec_driver_sql(
            "SELECT customer_id, status FROM audit_log WHERE method = 'POST' "
            "AND route = '/customers/{customer_id}/merges/{merge_id}/undo'"
        ).all()
    assert sorted((str(c), s) for c, s in audited) == sorted(
        [(ids["ana"], 200), (ids["kiosk"], 200), (ids["ana"], 400)]
    )


def test_consents_show_with_their_history(
    console: Console, ids: dict[str, str], client: TestClient, admin: dict[str, str]
) -> None:
    for state, note in (("granted", "signed up at the till"), ("revoked", "asked by phone")):
        answer = client.put(
            f"/api/customers/{ids['ana']}/consents",
            headers=admin,
            json={
                "items": [{"purpose": "marketing", "channel": "sms", "state": state}],
                "source": {"channel": "store", "method": "store"},
                "note": note,
            },
        )
        assert answer.status_code == 200, answer.text
    browser, _ = console("agent")
    page = browser.get(f"/customers/{ids['ana']}")
    current = page.text.split('id="consents-current"')[1].split("</table>")[0]
    assert (
        '<td>marketing</td><td>sms</td><td><span class="pill consent-revoked">revoked</span>'
        in (current)
    )
    history = page.text.split('id="consent-history"')[1].split("</table>")[0]
    rows = re.findall(r"<td>(granted|revoked)</td>.*?<td>([^<]*)</td></tr>", history)
    assert rows == [("revoked", "asked by phone"), ("granted", "signed up at the till")]


def test_an_analyst_cannot_open_customers(console: Console, ids: dict[str, str]) -> None:
    client, _ = console("analyst")
    for path in ("/customers", f"/customers/{ids['ana']}", "/customers?q=ana"):
        answer = client.get(path)
        assert (path, answer.status_code) == (path, 403)
        assert "Your role (Analyst) cannot open this page." in answer.text
    assert "Ana Souza" not in client.get(f"/customers/{ids['ana']}").text


def test_the_console_speaks_the_users_language(console: Console, ids: dict[str, str]) -> None:
    client, _ = console("agent", language="pt-BR")
    page = client.get(f"/customers/{ids['ana']}")
    assert "Linha do tempo" in page.text
    assert "Desfazer a fusão" in page.text
    spanish, _ = console("store_associate", language="es")
    assert "Buscar" in spanish.get("/customers").text


def test_reading_a_customer_writes_only_its_audit_entry(
    console: Console, ids: dict[str, str], services: Services
) -> None:
    client, _ = console("agent")
    before = table_counts(services, "profiles", "merges", "events", "audit_log")
    client.get(f"/customers/{ids['ana']}")
    after = table_counts(services, "profiles", "merges", "events", "audit_log")
    assert after == {**before, "audit_log": before["audit_log"] + 1}

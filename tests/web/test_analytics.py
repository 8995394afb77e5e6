"""The console's analytics area: who may open it, every report as valid plotly figures and a
table built from the read models, the filters, the CSV export through the API, and bad filters
answered in place."""

import html
import re
from collections.abc import Callable
from typing import Any

import orjson
import plotly.graph_objects as go  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from omnicx.config import Settings
from omnicx.web.pages.analytics import VIEWS
from tests.analytics.test_service_campaigns import campaigns_world
from tests.analytics.test_usage_api import history
from tests.conftest import table_counts

Console = Callable[..., tuple[TestClient, str]]
MARCH = {"from": "2026-03-01", "to": "2026-03-07"}
"""The first week of March as the form asks for it: `to` is the last day shown."""
EMPTY = "Nothing to show for this period and these filters."
NOTHING = "\N{EN DASH}"
"""A cell with no value."""


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        analytics_message_costs={"sms": "0.10", "email": "0.01", "whatsapp": "0.05"},
        analytics_agent_minute_cost=0.5,
    )


@pytest.fixture
def analyst(console: Console, services: Services, drain: Callable[[], int]) -> TestClient:
    client, _ = console("analyst")
    history(client, services, drain)
    return client


def figures(page: str) -> list[dict[str, Any]]:
    found = re.findall(r'data-figure="([^"]*)"', page)
    return [orjson.loads(html.unescape(f)) for f in found]


def table(page: str) -> list[list[str]]:
    body = page.split('<table class="figures">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)] for row in rows]


def headers(page: str) -> list[str]:
    body = page.split('<table class="figures">', 1)[1].split("</thead>", 1)[0]
    return [html.unescape(h) for h in re.findall(r'<th scope="col">(.*?)</th>', body)]


def test_the_analyst_lands_on_the_reports_and_sees_only_them(console: Console) -> None:
    client, _ = console("analyst")
    home = client.get("/analytics")
    assert home.status_code == 200
    nav = home.text.split('aria-label="Console areas"', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'<a href="([^"]+)"', nav) == ["/analytics"]
    links = re.findall(r'<h2><a href="(/analytics/[^"]+)">', home.text)
    assert links == [*(f"/analytics/{view.slug}" for view in VIEWS), "/analytics/qr-codes"]
    assert len(links) == 12


@pytest.mark.parametrize("role", ["agent", "store_associate"])
def test_roles_without_reports_cannot_open_them(console: Console, role: str) -> None:
    client, _ = console(role)
    for path in ("/analytics", "/analytics/channel-usage"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "cannot open this page." in page.text
    assert 'href="/analytics"' not in client.get("/account").text


def test_the_marketer_has_the_area_too(console: Console) -> None:
    client, _ = console("marketer")
    page = client.get("/analytics/heatmap")
    assert page.status_code == 200
    assert '<a href="/analytics" aria-current="page">Analytics</a>' in page.text


def test_channel_usage_as_charts_a_table_and_a_csv(analyst: TestClient) -> None:
    page = analyst.get("/analytics/channel-usage", params=MARCH)
    assert page.status_code == 200
    (interactions,) = figures(page.text)
    assert [(t["name"], t["x"], t["y"]) for t in interactions["data"]] == [
        ("App", ["2026-03-03"], [1]),
        ("Call centre", ["2026-03-03"], [1]),
        ("Email", ["2026-03-05"], [1]),
        ("Store", ["2026-03-04", "2026-03-05"], [1, 1]),
        ("Web", ["2026-03-02", "2026-03-06"], [3, 2]),
    ]
    assert interactions["layout"]["yaxis"]["title"]["text"] == "Interactions"
    assert headers(page.text) == [
        "Period",
        "Channel",
        "Interactions",
        "New customers",
        "New to the channel",
        "Customers",
    ]
    assert table(page.text)[0] == ["2026-03-02", "Web", "3", "2", "2", "\N{EN DASH}"]
    assert 'value="2026-03-01"' in page.text
    assert 'value="2026-03-07"' in page.text
    link = html.unescape(re.findall(r'<a class="button" href="([^"]+)" download>', page.text)[0])
    assert link == "/api/analytics/channel-usage?format=csv&from=2026-03-01&to=2026-03-08"
    exported = analyst.get(link)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.text.splitlines()[:2] == [
        "bucket,channel,interactions,new_customers,new_to_channel,customers",
        "2026-03-02,web,3,2,2,",
    ]


def test_every_report_page_draws_valid_figures(analyst: TestClient) -> None:
    drawn = {}
    for view in VIEWS:
        params = {} if view.cohort else MARCH
        page = analyst.get(f"/analytics/{view.slug}", params=params)
        assert page.status_code == 200, (view.slug, page.text)
        found = figures(page.text)
        for figure in found:
            go.Figure(figure)  # plotly's own validation: raises on any unknown property
        drawn[view.slug] = (len(found), EMPTY in page.text)
    assert drawn == {
        "channel-usage": (1, False),
        "propensity": (2, False),
        "paths": (1, False),
        "conversions": (1, False),
        "economics": (2, False),
        "clv": (2, False),
        "heatmap": (1, False),
        "channel-reasons": (1, False),
        "friction": (1, False),
        "campaigns": (0, True),
        "availability-gaps": (0, True),
    }


def test_paths_draw_a_sankey_and_economics_show_money(analyst: TestClient) -> None:
    paths = figures(analyst.get("/analytics/paths", params=MARCH).text)[0]["data"][0]
    assert paths["type"] == "sankey"
    assert sum(paths["link"]["value"]) > 0
    page = analyst.get("/analytics/economics", params=MARCH)
    money = figures(page.text)[0]
    revenue = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in money["data"]}
    assert revenue["Revenue"]["Store"] == 170.5
    assert money["layout"]["yaxis"]["title"]["text"] == "BRL"
    store_row = next(r for r in table(page.text) if r[0] == "Store")
    assert store_row[2] == "R$170.50"


def test_filters_narrow_the_report(analyst: TestClient) -> None:
    page = analyst.get("/analytics/channel-usage", params={**MARCH, "channel": "store"})
    assert page.status_code == 200
    (interactions,) = figures(page.text)
    assert [t["name"] for t in interactions["data"]] == ["Store"]
    assert '<option value="store" selected>Store</option>' in page.text
    link = html.unescape(re.findall(r'<a class="button" href="([^"]+)" download>', page.text)[0])
    assert link.endswith("&channel=store")
    monthly = analyst.get("/analytics/channel-usage", params={**MARCH, "bucket": "month"})
    assert [r[0] for r in table(monthly.text)] == ["2026-03-01"] * 5
    interactions, customers = figures(monthly.text)
    assert [(t["name"], t["y"]) for t in customers["data"]] == [
        ("App", [1]),
        ("Call centre", [1]),
        ("Email", [1]),
        ("Store", [2]),
        ("Web", [3]),
    ]


def test_the_form_offers_only_the_filters_a_report_takes(analyst: TestClient) -> None:
    usage = analyst.get("/analytics/channel-usage").text
    assert 'name="bucket"' in usage
    assert 'name="segment"' not in usage
    assert 'name="store"' not in usage
    economics = analyst.get("/analytics/economics").text
    assert 'name="store"' in economics
    assert 'name="segment"' not in economics
    heatmap = analyst.get("/analytics/heatmap").text
    assert 'name="tz" value="UTC"' in heatmap


def test_a_bad_filter_is_named_in_place(analyst: TestClient) -> None:
    cases = [
        ({"from": "March"}, "from is a day written YYYY-MM-DD"),
        ({"from": "2026-03-07", "to": "2026-03-01"}, "from must be a day before to"),
        ({"tz": "Mars/Olympus"}, "tz is an IANA time zone such as America/Sao_Paulo"),
    ]
    for params, message in cases:
        page = analyst.get("/analytics/heatmap", params=params)
        assert page.status_code == 400, params
        assert f'<p class="flash flash-error" role="alert">{message}</p>' in page.text
        assert figures(page.text) == []
        assert "Export CSV" not in page.text


def test_an_unknown_report_is_a_404_page(analyst: TestClient) -> None:
    page = analyst.get("/analytics/nonsense")
    assert page.status_code == 404
    assert "There is no such report." in page.text


def test_the_charts_speak_the_users_language(
    console: Console, services: Services, drain: Callable[[], int]
) -> None:
    client, _ = console("analyst", language="pt-BR")
    history(client, services, drain)
    page = client.get("/analytics/heatmap", params=MARCH)
    (figure,) = figures(page.text)
    assert figure["data"][0]["y"][:2] == ["seg.", "ter."]
    assert figure["layout"]["separators"] == ",."
    assert "Horários de pico" in page.text


def test_plotly_is_served_by_omnicx(client: TestClient) -> None:
    script = client.get("/console/vendor/plotly.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.text.startswith("/**\n* plotly.js v")


def test_campaign_results_against_the_holdout(console: Console, services: Services) -> None:
    client, _ = console("marketer")
    campaigns_world(services)
    page = client.get("/analytics/campaigns", params={"from": "2026-04-01", "to": "2026-04-07"})
    assert page.status_code == 200
    rates, volumes = figures(page.text)
    assert [(t["name"], t["x"], t["y"]) for t in rates["data"]] == [
        ("Conversion rate", ["Welcome v1", "Spring sale"], [0.6667, 0.5]),
        ("Holdout conversion rate", ["Welcome v1", "Spring sale"], [0.5, 0.0]),
    ]
    assert rates["layout"]["yaxis"]["tickformat"] == ".0%"
    assert [(t["name"], t["y"]) for t in volumes["data"]] == [
        ("Sends", [3, 2]),
        ("Delivered", [2, 1]),
        ("Conversions", [2, 1]),
    ]
    assert headers(page.text)[:4] == ["Kind", "Name", "Version", "Sends"]
    journey = "Journey Welcome 1 3 2 66.7% 5 3 2 2 66.7% 1 50.0% 16.7% 1 R$200.00 R$0.21 952.38"
    broadcast = "Broadcast Spring_sale - 2 1 50.0% - - - 1 50.0% - - - 1 R$150.00 R$0.06 2,500"
    assert table(page.text) == [
        [cell.replace("_", " ") if cell != "-" else NOTHING for cell in row.split()]
        for row in (journey, broadcast)
    ]


def test_a_marketer_makes_a_qr_code_and_sees_its_scans(
    console: Console, services: Services
) -> None:
    client, csrf = console("marketer")
    empty = client.get("/analytics/qr-codes")
    assert empty.status_code == 200
    assert "No QR codes yet." in empty.text
    made = client.post(
        "/analytics/qr-codes",
        data={
            "csrf": csrf,
            "name": "Summer posters",
            "campaign": "summer-sale",
            "target_url": "https://shop.example.com/summer",
            "medium": "poster",
            "store": "",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/analytics/qr-codes?done=created"
    listed = client.get(made.headers["location"])
    assert "QR code created: print it from the image links." in listed.text
    (code,) = re.findall(r'<tr data-code="([a-z0-9]+)">', listed.text)
    assert client.get(f"/q/{code}", follow_redirects=False).status_code == 302
    after = client.get("/analytics/qr-codes")
    row = after.text.split(f'<tr data-code="{code}">', 1)[1].split("</tr>", 1)[0]
    cells = [html.unescape(c.strip()) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[2:8] == ["summer-sale", "Poster", "", "1", "0", "1"]
    (image,) = re.findall(r'<img src="([^"]+)"', row)
    svg = client.get(html.unescape(image))
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"


def test_a_refused_qr_code_writes_nothing(console: Console, services: Services) -> None:
    client, csrf = console("marketer")
    form = {
        "csrf": csrf,
        "name": "Receipts",
        "campaign": "loyalty",
        "target_url": "javascript:alert(1)",
        "medium": "receipt",
    }
    refused = client.post("/analytics/qr-codes", data=form)
    assert refused.status_code == 400
    assert "target_url must be an absolute http(s) URL without credentials" in refused.text
    assert 'value="Receipts"' in refused.text
    forged = client.post(
        "/analytics/qr-codes",
        data={**form, "csrf": "forged", "target_url": "https://shop.example.com/"},
    )
    assert forged.status_code == 403
    reader, reader_csrf = console("analyst")
    listing = reader.get("/analytics/qr-codes")
    assert listing.status_code == 200
    assert "New QR code" not in listing.text
    not_allowed = reader.post(
        "/analytics/qr-codes",
        data={**form, "csrf": reader_csrf, "target_url": "https://shop.example.com/"},
    )
    assert not_allowed.status_code == 403
    assert table_counts(services, "analytics_qr_codes") == {"analytics_qr_codes": 0}

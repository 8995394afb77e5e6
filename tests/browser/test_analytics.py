"""The analytics area in a real browser: on a server holding the demo's year of a retailer (and
one journey's and one broadcast's results), an analyst opens every report and each chart is
drawn by plotly.js, served by omnicx, under the console's content security policy, with no
error in the browser's console; the filters and the CSV link work from the page."""

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from rich.console import Console

from omnicx.cli import demo
from omnicx.web.pages.analytics import VIEWS
from tests.analytics.test_service_campaigns import campaigns_world
from tests.browser.conftest import LiveServer, add_staff, screenshot, sign_in

pytestmark = pytest.mark.browser

CUSTOMERS = 300
"""Demo customers: enough for every report to have something to draw."""


@pytest.fixture(scope="module")
def year(live: LiveServer) -> dict[str, str]:
    """The demo's year of data on the live server, and the period that covers it."""
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    demo.run(
        live.services,
        Console(file=io.StringIO()),
        seed=11,
        customers=CUSTOMERS,
        anchor=anchor,
    )
    campaigns_world(live.services)
    start = datetime(2026, 1, 1, tzinfo=UTC).date()
    last = anchor.date()
    if last - start > timedelta(days=700):
        start = last - timedelta(days=700)
    return {"from": start.isoformat(), "to": last.isoformat()}


def _watch(page: Page) -> list[str]:
    problems: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"{message.type}: {message.text}")

    page.on("console", seen)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on(
        "response",
        lambda answer: (
            problems.append(f"{answer.status}: {answer.url}") if answer.status >= 400 else None
        ),
    )
    return problems


def test_every_report_draws_its_charts(live: LiveServer, page: Page, year: dict[str, str]) -> None:
    problems = _watch(page)
    sign_in(page, live, add_staff(live, "analyst"))
    expect(page).to_have_url(live.url_for("/analytics"))
    drawn: dict[str, int] = {}
    for view in VIEWS:
        query = "" if view.cohort else f"?from={year['from']}&to={year['to']}"
        page.goto(live.url_for(f"/analytics/{view.slug}{query}"))
        charts = page.locator(".chart")
        count = charts.count()
        assert count >= 1, view.slug
        expect(page.locator('.chart[data-rendered="true"]')).to_have_count(count)
        for index in range(count):
            chart = charts.nth(index)
            expect(chart.locator("svg.main-svg").first).to_be_visible()
            box = chart.bounding_box()
            assert box is not None, view.slug
            assert box["height"] >= 300, (view.slug, box)
        marks = page.locator(".chart g.trace, .chart g.sankey-node, .chart g.hm")
        assert marks.count() > 0, view.slug
        assert page.locator("table.figures tbody tr").count() > 0, view.slug
        drawn[view.slug] = count
        page.wait_for_timeout(1000)  # the Sankey diagrams grow their bands for 750 ms
        screenshot(page, f"analytics-{view.slug}")
    assert set(drawn) == {view.slug for view in VIEWS}
    assert problems == [], "\n".join(sorted(set(problems)))


def test_filters_and_the_csv_link_from_the_page(
    live: LiveServer, page: Page, year: dict[str, str]
) -> None:
    problems = _watch(page)
    sign_in(page, live, add_staff(live, "marketer"))
    page.goto(live.url_for(f"/analytics/economics?from={year['from']}&to={year['to']}"))
    expect(page.locator('.chart[data-rendered="true"]')).to_have_count(2)
    page.get_by_label("Channel", exact=True).select_option("store")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(lambda url: "channel=store" in url)
    expect(page.locator('.chart[data-rendered="true"]')).to_have_count(2)
    rows = page.locator("table.figures tbody tr")
    expect(rows.locator("td:first-child")).to_have_text(["Store", "Total"])
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    saved = download.value
    assert saved.suggested_filename.startswith("omnicx-economics-")
    lines = Path(saved.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("channel,orders,revenue")
    assert [line.split(",")[0] for line in lines[1:]] == ["store", "all"]
    assert problems == []
    page.get_by_label("From", exact=True).fill("2026-03-07")
    page.get_by_label("To (included)", exact=True).fill("2026-03-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_have_text("from must be a day before to")
    expect(page.locator(".chart")).to_have_count(0)


def test_a_marketer_prints_a_qr_code_from_the_console(live: LiveServer, page: Page) -> None:
    problems = _watch(page)
    sign_in(page, live, add_staff(live, "marketer"))
    page.goto(live.url_for("/analytics/qr-codes"))
    page.get_by_label("Name", exact=True).fill("Receipts, Paulista store")
    page.get_by_label("Campaign", exact=True).fill("receipts-2026")
    page.get_by_label("Page it opens").fill("https://shop.example.com/thanks")
    page.get_by_label("Medium").select_option("receipt")
    page.get_by_role("button", name="Create the QR code").click()
    expect(page.get_by_role("status")).to_have_text(
        "QR code created: print it from the image links."
    )
    image = page.get_by_role("img", name="QR code for Receipts, Paulista store")
    expect(image).to_be_visible()
    # decode() settles once the image has loaded (or failed to)
    assert image.evaluate("element => element.decode().then(() => element.naturalWidth)") > 0
    screenshot(page, "analytics-qr-codes")
    assert problems == []

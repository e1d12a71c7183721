"""The overview and API-metrics pages in real Chromium: sign in and land on the overview, every panel draws
(Plotly SVG with points, tables with rows), a drag over a chart moves the page to that range, a panel whose
parameter is refused shows why while the others draw, an endpoint opens its own charts with the previous
period dashed. Screenshots of each page go to test-artifacts/ (light at 1400x900, and one dark)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboards.views.overview_panels import SERVICES_SHOWN
from tests.integration.test_rollups import post_events
from tests.integration.web.test_browser import browser, shot  # noqa: F401 - the module's Chromium fixture
from tests.integration.web.test_overview_api import api_event, other_events

pytestmark = pytest.mark.integration

VIEWPORT = {"width": 1400, "height": 900}
OVERVIEW_PANELS = 10
API_PANELS = 5


@pytest.fixture(scope="module")
def traffic(collector_url, ingest_key, node) -> str:
    """Three services' requests over the last minutes (the first slower than a day earlier), and a few events of
    every kind; the first service's name."""
    base_ms = (int(time.time()) // 60) * 60_000 - 240_000
    events = []
    for n, name in enumerate(("checkout", "accounts", "search")):
        service = f"{name}-{uuid.uuid4().hex[:4]}"
        for i in range(240):
            event = api_event(service, base_ms + (i // 2 % 3) * 60_000, i)  # every minute of four has some
            event["response_time_ms"] = float(20 + (i * 7) % 90 + (250 if n == 0 and i % 9 == 0 else 0))
            events.append(event)
            if n == 0:  # the same traffic a day earlier, faster: the comparison shows the regression
                earlier = {**event, "event_id": str(uuid.uuid4()), "timestamp": event["timestamp"] - 86_400_000}
                events.append({**earlier, "response_time_ms": event["response_time_ms"] / 2})
        events += other_events(service, base_ms)
    # More services than the table draws before its "Show all" button, each with one request.
    fleet = uuid.uuid4().hex[:4]
    events += [api_event(f"fleet-{fleet}-{n:02}", base_ms, n) for n in range(SERVICES_SHOWN + 1)]
    assert post_events(collector_url, ingest_key, events) == len(events)
    return events[0]["service"]


@pytest.fixture
def page(browser: Browser, web_url, viewer, traffic) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT)
    signed_in = context.new_page()
    sign_in(signed_in, web_url, viewer)
    yield signed_in
    context.close()


def sign_in(page: Page, web_url: str, person) -> None:  # noqa: ANN001
    page.goto(f"{web_url}/login")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()


def settled(page: Page, count: int) -> None:
    """Every panel answered (ready or error), and every chart of a ready panel is drawn."""
    # Generous: the machine running the suite is shared, and every panel of a page queries at once.
    answered = page.locator("[data-panel][data-state='ready'], [data-panel][data-state='error']")
    expect(answered).to_have_count(count, timeout=60_000)
    for chart in page.locator("[data-panel][data-state='ready'] .chart").all():
        expect(chart).to_have_attribute("data-drawn", "true", timeout=30_000)


def drawn_points(page: Page, name: str) -> int:
    """Points Plotly drew in a panel's chart: line path segments and bars."""
    panel = page.locator(f"[data-name='{name}']")
    lines = panel.locator(".scatterlayer path.js-line").evaluate_all(
        "paths => paths.map(p => (p.getAttribute('d') || '').split(/[ML]/).length - 1).reduce((a, b) => a + b, 0)"
    )
    bars = panel.locator(".barlayer .point path").count()
    return lines + bars


def test_overview_draws_every_panel_and_a_drag_moves_the_range(page: Page, web_url, traffic):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{web_url}/")
    expect(page).to_have_url(f"{web_url}/overview")
    page.goto(f"{web_url}/overview?from=now-1h&to=now")
    settled(page, OVERVIEW_PANELS)
    expect(page.locator("[data-panel][data-state='error']")).to_have_count(0)
    # Plotly once inserted a <style> element the CSP refused, one console error per chart page.
    assert errors == []
    for name in ("request-rate", "error-rate", "latency", "status-mix", "ingest"):
        assert drawn_points(page, name) > 0, name
    target = page.locator("[data-name='latency'] .shapelayer path")
    expect(target).to_have_count(1)  # the 200 ms target line
    services = page.locator("[data-name='services'] tbody tr", has_text=traffic)
    expect(services).to_have_count(1)
    expect(services.locator("svg.spark path")).to_have_count(1)
    link = page.locator("[data-name='top-errors'] tbody tr").first.locator("a").nth(3)
    expect(link).to_have_attribute("href", re.compile(r"^/explore\?q=.*status_code%3A%3E%3D500"))
    expect(page.locator("[data-name='platform-health'] tbody tr").first).to_be_visible()
    shot(page, "30-overview")
    # The busiest services are drawn, the rest behind a button.
    total = page.locator("[data-name='services'] tbody tr").count()
    assert total > SERVICES_SHOWN + 3  # the fixture's three and its fleet, at least
    visible = page.locator("[data-name='services'] tbody tr:visible")
    expect(visible).to_have_count(SERVICES_SHOWN)
    page.locator("[data-name='services']").get_by_role("button", name=f"Show all {total}").click()
    expect(visible).to_have_count(total)

    plot = page.locator("[data-name='request-rate'] .nsewdrag").first
    plot.scroll_into_view_if_needed()  # the long services table scrolled the page down
    box = plot.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"from=\d{4}-\d\d-\d\dT[\d%A.]+Z&to=\d{4}-\d\d-\d\dT[\d%A.]+Z"))
    settled(page, OVERVIEW_PANELS)
    expect(page.locator("#range-quick")).to_have_value("custom")


def test_a_refused_parameter_fails_its_panels_only(page: Page, web_url):
    page.goto(f"{web_url}/overview?from=now-1h&to=now&limit=500")
    settled(page, OVERVIEW_PANELS)
    failed = page.locator("[data-panel][data-state='error']")
    expect(failed).to_have_count(3)  # the three top-endpoint tables read limit
    expect(failed.first.locator(".panel-error")).to_contain_text("limit: Input should be less than or equal to 50")
    assert drawn_points(page, "latency") > 0
    shot(page, "31-overview-panel-error")


def test_api_metrics_page_compares_with_the_previous_period(page: Page, web_url, traffic):
    page.goto(f"{web_url}/metrics/api?from=now-1h&to=now&compare=1d")
    settled(page, API_PANELS)
    expect(page.locator("[data-panel][data-state='error']")).to_have_count(0)
    assert drawn_points(page, "api-latency") > 0 and drawn_points(page, "api-sizes") > 0
    dashed = page.locator("[data-name='api-latency'] .scatterlayer path.js-line[style*='stroke-dasharray']")
    expect(dashed).to_have_count(1)
    row = page.locator("[data-name='api-endpoints'] tbody tr", has_text=traffic).filter(has_text="POST /pay")
    row.get_by_role("link", name="POST /pay").click()
    expect(page).to_have_url(re.compile(r"/metrics/api\?.*endpoint=%2Fpay"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("POST /pay")
    settled(page, API_PANELS)
    expect(dashed).to_have_count(1)
    # Scoped to this test's service: other tests' traffic (sent without request ids) may be slower.
    expect(page.locator("[data-name='api-slowest'] tbody tr a").first).to_have_attribute(
        "href", re.compile(r"^/explore\?pivot=req-")
    )
    shot(page, "32-api-metrics")

    page.goto(f"{web_url}/metrics/api?from=now-1h&to=now&compare=2w")
    settled(page, API_PANELS)
    expect(page.locator("[data-panel][data-state='error']")).to_have_count(2)  # latency and errors compare
    expect(page.locator("[data-name='api-latency'] .panel-error")).to_contain_text("compare")
    assert drawn_points(page, "api-sizes") > 0


def test_overview_in_the_dark_theme(browser: Browser, web_url, viewer, traffic):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    page = context.new_page()
    sign_in(page, web_url, viewer)
    page.goto(f"{web_url}/overview?from=now-1h&to=now")
    settled(page, OVERVIEW_PANELS)
    assert drawn_points(page, "latency") > 0
    shot(page, "33-overview-dark")
    context.close()

"""The explorer in real headless Chromium: a person signs in, searches with the keyboard, sees the results and the
histogram drawn, reads a query error under the search box, filters by a facet, expands a row, opens the request
pivot and context, saves a view, and follows a live tail in which an event sent during the test appears. Every
state is saved under test-artifacts/ (40-explorer-*.png)."""

from __future__ import annotations

import re
import time
import uuid

import orjson
import pytest
import requests
from playwright.sync_api import Page, expect

from tests.integration.conftest import eventually
from tests.integration.web.conftest import Person, sign_in
from tests.integration.web.test_browser import browser, shot  # noqa: F401  (browser: the module's fixture)

pytestmark = pytest.mark.integration
expect.set_options(timeout=15_000)  # the machine is shared: pages wait on chDB behind the pipeline's inserts


def send(collector_url: str, key: str, events: list[dict]) -> None:
    answer = requests.post(f"{collector_url}/v1/events", data=orjson.dumps(events),
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                           timeout=30)  # fmt: skip
    assert answer.status_code == 202 and answer.json()["accepted"] == len(events), answer.text


def events_for(service: str, request_id: str) -> list[dict]:
    t = int(time.time() * 1000) - 20 * 60_000
    levels = ["info", "info", "info", "debug", "warn", "error"]
    out: list[dict] = [
        {"kind": "log", "timestamp": t + i * 9_000, "service": service, "level": levels[i % 6],
         "instance": f"web-{i % 3}", "message": f"checkout step {i} for order {1000 + i}"}
        for i in range(120)
    ]  # fmt: skip
    out += [
        {"kind": "log", "timestamp": t + 1_100_000, "service": service, "level": "error", "instance": "web-1",
         "message": "card declined by issuer: " + "the issuer answered 05 (do not honour) " * 12,
         "request_id": request_id, "metadata": {"customer": {"tier": "gold", "id": 42}, "amount": 250}},
        {"kind": "api_metric", "timestamp": t + 1_100_001, "service": service, "endpoint": "/pay", "method": "POST",
         "status_code": 502, "response_time_ms": 812.5, "request_id": request_id},
        {"kind": "security_event", "timestamp": t + 1_100_002, "service": service, "event_type": "card_testing",
         "severity": "high", "request_id": request_id},
    ]  # fmt: skip
    return out


def sign_in_page(page: Page, web_url: str, person: Person, path: str) -> None:
    page.goto(f"{web_url}{path}")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()


def drawn_histogram(page: Page) -> None:
    chart = page.locator("[data-histogram] .chart[data-drawn='true']")
    expect(chart).to_have_count(1)
    assert page.locator("[data-histogram] svg g.barlayer path").count() > 0, "the histogram drew no bars"


def test_search_facets_rows_pivot_views_and_live_tail(browser, web_url, viewer, collector_url, ingest_key, node):  # noqa: F811
    service = f"shop-{uuid.uuid4().hex[:6]}"
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    send(collector_url, ingest_key, events_for(service, request_id))
    api = sign_in(web_url, viewer)
    eventually(lambda: len(api.get(f"{web_url}/api/v1/explore/search", params={"q": f"service:{service}",
               "from": "now-1h", "limit": 1000}, timeout=30).json()["rows"]) == 121, 30)  # fmt: skip

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in_page(page, web_url, viewer, "/explore")
    expect(page).to_have_url(re.compile(r"/explore$"))
    expect(page.locator("[data-explorer]")).to_have_attribute("data-results", "ready")
    assert errors == []

    # "/" focuses the search box, Enter searches.
    page.locator("body").press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type(f"service:{service}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"q=service%3A{service}"))
    results = page.locator("[data-results] tr.result")
    expect(results).to_have_count(100)
    expect(results.first).to_contain_text("card declined by issuer")
    expect(page.locator("[data-total]")).to_have_text("121 events")
    drawn_histogram(page)
    expect(page.get_by_role("link", name="Older →")).to_be_visible()
    shot(page, "40-explorer-results")

    # A query error is shown under the box, pointing at the place.
    page.get_by_label("Search").fill(f"service:{service} (level:error")
    page.get_by_label("Search").press("Enter")
    error = page.locator("#search-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("expected")
    expect(error.locator("mark")).to_have_count(1)
    shot(page, "41-explorer-query-error")

    # A facet filters.
    page.goto(f"{web_url}/explore?q=service:{service}&from=now-1h")
    page.get_by_role("list", name="level").get_by_role("button", name=re.compile(r"^error")).click()
    expect(page).to_have_url(re.compile(r"level%3Aerror"))
    expect(results).to_have_count(21)
    expect(page.locator("[data-results] tr.result td.col-level").filter(has_text="warn")).to_have_count(0)
    shot(page, "42-explorer-facet")

    # A row expands to every field, the metadata pretty-printed; the long message is folded.
    first = results.first
    expect(first.get_by_role("button", name=re.compile("show all"))).to_be_visible()
    first.click()
    details = page.locator("tr.detail:not([hidden])")
    expect(details.locator("pre.metadata")).to_contain_text('"tier": "gold"')
    expect(details.locator(".field", has_text="attr.customer.tier")).to_contain_text("gold")
    expect(details.locator(".field", has_text="request_id")).to_contain_text(request_id)
    shot(page, "43-explorer-row-expanded")

    # Its request id opens the pivot: every kind on one timeline.
    details.get_by_role("link", name=request_id).click()
    pivot = page.locator("[data-pivot]")
    expect(pivot.locator("tr.pivot-event")).to_have_count(3)
    expect(pivot).to_contain_text("3 events in the last 7 days: 1 api metric, 1 log, 1 security event")
    expect(pivot).to_contain_text("POST /pay -> 502 in 812.5 ms")
    shot(page, "44-explorer-pivot")
    pivot.get_by_role("link", name="Close").click()
    expect(pivot).to_be_hidden()

    # Context: the neighbours from the same service and instance.
    results.first.get_by_role("link", name="context").click()
    around = page.locator("[data-context]")
    expect(around.locator("tr.anchor")).to_have_count(1)
    expect(around.locator("tr.result")).to_have_count(11)  # the newest event on web-1: ten before, none after
    expect(around).to_contain_text("The 10 events before and 0 after")
    shot(page, "45-explorer-context")

    # Save the view and share it.
    page.goto(f"{web_url}/explore?q=service:{service} level:error&from=now-1h")
    page.get_by_role("button", name="Save view").click()
    page.get_by_label("View name").fill(f"{service} errors")
    page.get_by_label("Share with the team").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved the view “{service} errors”, shared with the team")
    expect(page.locator("[data-views] option", has_text=f"{service} errors")).to_have_count(1)
    shot(page, "46-explorer-saved-view")

    # Live tail: an event sent now appears; pause stops following.
    page.goto(f"{web_url}/explore?q=service:{service}&from=now-1h")
    page.get_by_role("button", name="Live tail").click()
    expect(page.locator("[data-explorer]")).to_have_attribute("data-tail", "open")
    marker = f"live event {uuid.uuid4().hex[:6]}"
    send(collector_url, ingest_key, [{"kind": "log", "timestamp": int(time.time() * 1000), "service": service,
                                      "level": "warn", "message": marker}])  # fmt: skip
    expect(page.locator("[data-tail-rows] tr.result", has_text=marker)).to_have_count(1, timeout=10_000)
    shot(page, "47-explorer-live-tail")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume live tail")).to_be_visible()
    expect(page.locator("[data-tail-state]")).to_contain_text("paused")

    # Nothing matches: the page says what to do.
    page.goto(f"{web_url}/explore?q=service:{service} zebrafish&from=now-15m")
    expect(page.locator("[data-results-empty]")).to_contain_text("Widen the time range")
    shot(page, "48-explorer-empty")
    assert errors == []
    context.close()

    # The dark theme; opened without a query string, the explorer returns to the last state used.
    dark = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = dark.new_page()
    sign_in_page(page, web_url, viewer, "/explore")
    expect(page).to_have_url(re.compile(rf"q=service%3A{service}\+zebrafish"))
    page.goto(f"{web_url}/explore?q=service:{service}&from=now-1h&columns=level,instance,message,request_id")
    expect(page.locator("[data-results] tr.result")).to_have_count(100)
    expect(page.locator("[data-results] th", has_text="request id")).to_have_count(1)
    drawn_histogram(page)
    shot(page, "49-explorer-dark")
    dark.close()

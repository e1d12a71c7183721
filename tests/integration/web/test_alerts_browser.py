"""The on-call person in real Chromium: add a webhook channel and test it, write a rule and see its preview chart
before saving, send events through the collector that breach it, watch it fire on the on-call page (the node's
scheduler evaluates it), acknowledge it, silence it. Every alerts page is saved under test-artifacts/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.integration.conftest import eventually
from tests.integration.receivers import Receiver, running_receiver
from tests.integration.test_alerts import SECRET, cpu, cpu_rule, post
from tests.integration.web.test_browser import browser, shot  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def sign_in(page: Page, web_url: str, person) -> None:
    page.goto(f"{web_url}/login")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_create_a_rule_with_its_preview_see_it_fire_acknowledge_and_silence_it(
    browser,  # noqa: F811 - test_browser's fixture, imported above
    web_url,
    admin,
    viewer,
    collector_url,
    ingest_key,
    receiver,
):
    uid = uuid.uuid4().hex[:6]
    service, name, channel = f"web-alert-{uid}", f"web-cpu-{uid}", f"web-hook-{uid}"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, web_url, admin)

    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="On call")).to_be_visible()

    # A channel, and its test button reaching the receiver.
    page.get_by_role("navigation", name="Alerts").get_by_role("link", name="Channels").click()
    page.get_by_label("Name").fill(channel)
    page.get_by_label("Type").select_option("webhook")
    page.get_by_label("URL or addresses").fill(receiver.url(f"/hook/{uid}"))
    page.get_by_label("Secret").fill(SECRET)
    page.get_by_role("button", name="Save channel").click()
    expect(page.get_by_role("status")).to_contain_text(f"Channel “{channel}” created")
    page.locator("tr", has_text=channel).get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("delivered")
    assert [r.json["kind"] for r in receiver.to(f"/hook/{uid}")] == ["test"]
    shot(page, "alerts-01-channels")

    # A breach already in the data, then the rule written with its preview.
    post(collector_url, ingest_key, [cpu(service, 96.0)])
    page.get_by_role("navigation", name="Alerts").get_by_role("link", name="Rules").click()
    expect(page.get_by_role("heading", name="Alert rules")).to_be_visible()
    shot(page, "alerts-02-rules")
    page.get_by_role("link", name="New rule").click()
    preview = page.locator("[data-preview]")
    # The template's own preview first: Plotly (4.8 MB) is parsed before the page's scripts run, which took
    # 16 s on its first load here with the machine's load at 37 (0.5 s once cached).
    expect(preview).to_have_attribute("data-state", re.compile("ready|error"), timeout=120_000)
    rule = cpu_rule(name, service, [channel], renotify="0s", description="CPU of the web test's service")
    page.get_by_label("Rule").fill(yaml.safe_dump(rule, sort_keys=False))

    def fired_in_preview() -> bool:
        page.get_by_role("button", name="Preview").click()
        expect(preview).to_have_attribute("data-state", "ready", timeout=20_000)
        return "would have fired 1 time" in page.locator("[data-preview-summary]").inner_text()

    eventually(fired_in_preview, timeout_s=30, interval_s=1)  # until the pipeline has written the event
    expect(page.locator("[data-preview-chart]")).to_have_attribute("data-drawn", "true")
    expect(page.locator("[data-preview-chart] .scatterlayer .trace")).to_have_count(1)
    expect(page.locator("[data-preview-summary]")).to_contain_text("sent 1 notification")
    expect(page.locator("[data-preview-timeline] li").first).to_contain_text("firing")
    shot(page, "alerts-03-rule-preview")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("status")).to_contain_text(f"Rule “{name}” created")
    expect(page).to_have_url(f"{web_url}/alerts/rules/{name}")

    # It fires: the on-call page shows it (reloaded as a person would).
    post(collector_url, ingest_key, [cpu(service, 97.0)])
    page.get_by_role("navigation", name="Alerts").get_by_role("link", name="On call").click()
    firing_row = page.locator("table.incidents").first.locator("tr", has_text=name)

    def shows_firing() -> bool:
        page.reload()
        return firing_row.count() == 1 and "firing" in firing_row.inner_text()

    eventually(shows_firing, timeout_s=30, interval_s=1)
    expect(page.get_by_role("link", name="Alerts").locator(".nav-badge")).to_be_visible()
    shot(page, "alerts-04-oncall-firing")
    assert eventually(lambda: receiver.to(f"/hook/{uid}")[1:], timeout_s=15)[0].json["kind"] == "firing"

    # Acknowledge, then silence for an hour, on the incident's page.
    firing_row.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=re.compile(f"Incident \\d+: {name}"))).to_be_visible()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("Acknowledged")
    expect(page.locator(".timeline .kind-acknowledge")).to_contain_text(admin.email)
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.get_by_label("Silence for").select_option("1h")
    page.get_by_label("Comment").fill("looking into it")
    page.get_by_role("button", name="Silence").click()
    expect(page.get_by_role("status")).to_contain_text("Silenced for 1h")
    expect(page.locator(".timeline .kind-firing")).to_be_visible()
    shot(page, "alerts-05-incident")

    page.get_by_role("navigation", name="Alerts").get_by_role("link", name="Silences").click()
    silence = page.locator("table.silences tr", has_text=f"rule={name}")
    expect(silence).to_contain_text("instance=i-1")
    expect(silence).to_contain_text("looking into it")
    shot(page, "alerts-06-silences")

    page.goto(f"{web_url}/alerts/rules/{name}")
    expect(page.locator(".rule-state").first).to_have_text("firing")
    expect(page.locator("[data-preview-chart]")).to_have_attribute("data-drawn", "true", timeout=20_000)
    shot(page, "alerts-07-rule")
    context.close()

    # A viewer in the dark theme reads the same pages, without the buttons that change anything.
    dark = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = dark.new_page()
    sign_in(page, web_url, viewer)
    page.goto(f"{web_url}/alerts")
    expect(page.locator("table.incidents").first.locator("tr", has_text=name)).to_contain_text("acked")
    shot(page, "alerts-08-oncall-viewer-dark")
    page.goto(f"{web_url}/alerts/rules/{name}")
    expect(page.get_by_role("button", name="Save rule")).to_have_count(0)
    expect(page.get_by_role("button", name="Disable")).to_have_count(0)
    dark.close()

"""The system, blockchain and security pages in real Chromium: every chart is drawn with data points, a drag over
a time chart moves the page's range, a panel whose query is refused shows why while the others render, and an
operator marks a security event investigated. Screenshots of every page go to test-artifacts/ (20-29)."""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.integration.conftest import eventually
from tests.integration.web.conftest import sign_in
from tests.integration.web.test_browser import browser, shot  # noqa: F401  (the fixture)
from tests.integration.web.test_health_pages import send, stamp

pytestmark = pytest.mark.integration

TAG = uuid.uuid4().hex[:6]
SERVICE = f"web-{TAG}"
CONTRACTS = ("0x" + "a1" * 20, "0x" + "b2" * 20)
IP = f"198.51.100.{random.randint(1, 254)}"


@pytest.fixture(scope="module")
def seeded(web_url, collector_url, ingest_key, admin) -> None:
    """An hour of two instances' gauges (one crossing its critical level, one gone quiet), two contracts' events
    with a gap, and open security events from one address, sent through the collector."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(7)
    events: list[dict[str, Any]] = []
    for minute in range(60, 0, -1):
        at = stamp(now - timedelta(minutes=minute))
        for instance, base in ((f"api-{TAG}-1", 55), (f"api-{TAG}-2", 30)):
            if instance.endswith("2") and minute < 15:
                continue  # this one stopped reporting a quarter of an hour ago
            hot = 25 * (minute < 12) + 20 * (minute < 4)  # the first instance climbs: warning, then critical
            cpu = base + hot + rng.uniform(-3, 3) if instance.endswith("1") else base + rng.uniform(-5, 5)
            events += [
                {"kind": "system_metric", "timestamp": at, "service": SERVICE, "instance": instance,
                 "metric_type": "cpu", "metric_name": "system.cpu.utilization", "value": round(min(cpu, 100), 1),
                 "unit": "percent"},
                {"kind": "system_metric", "timestamp": at, "service": SERVICE, "instance": instance,
                 "metric_type": "memory", "metric_name": "system.memory.utilization.used",
                 "value": round(base + 10 + rng.uniform(-2, 2), 1), "unit": "percent"},
                {"kind": "system_metric", "timestamp": at, "service": SERVICE, "instance": instance,
                 "metric_type": "load", "metric_name": "system.cpu.load_average.1m",
                 "value": round(rng.uniform(0.5, 3), 2), "unit": "thread"},
            ]  # fmt: skip
    block = 19_000_000
    for minute in range(50, 0, -1):
        block += 1 if minute != 20 else 40  # a jump of 40 blocks twenty minutes ago: 39 missed
        for contract, kind in ((CONTRACTS[0], "Transfer"), (CONTRACTS[1], rng.choice(("Swap", "Sync")))):
            events.append({
                "kind": "blockchain_event", "timestamp": stamp(now - timedelta(minutes=minute)), "service": SERVICE,
                "event_type": kind, "contract_address": contract, "transaction_hash": "0x" + uuid.uuid4().hex * 2,
                "block_number": block, "log_index": rng.randint(0, 40), "processed": True,
            })  # fmt: skip
    for minute, severity, kind in ((40, "high", "failed_login"), (25, "critical", "credential_stuffing"),
                                   (10, "critical", "failed_login"), (5, "medium", "rate_limit_exceeded")):  # fmt: skip
        events.append({
            "kind": "security_event", "timestamp": stamp(now - timedelta(minutes=minute)), "service": SERVICE,
            "event_type": kind, "severity": severity, "ip_address": IP, "user_id": f"user-{TAG}",
            "endpoint": "/v1/auth/login", "automatic_action_taken": "rate_limited" if severity == "medium" else "",
        })  # fmt: skip
    events.append({"kind": "log", "timestamp": stamp(now - timedelta(minutes=9)), "service": SERVICE, "level": "warn",
                   "message": f"login refused for {IP}: too many attempts", "ip_address": IP})  # fmt: skip
    for start in range(0, len(events), 1000):
        send(collector_url, ingest_key, events[start : start + 1000])
    reader = sign_in(web_url, admin)
    eventually(lambda: reader.get(f"{web_url}/api/v1/security/events", params={"ip": IP}, timeout=30).json()["matching"]
               == 4, timeout_s=90)  # fmt: skip

    def chain_written() -> bool:
        wanted = {"from": "now-2h", "contract": CONTRACTS[1], "to": stamp(datetime.now(UTC))}  # a fresh cache key
        return len(reader.get(f"{web_url}/api/v1/blockchain/latest", params=wanted, timeout=30).json()["data"]) == 50

    eventually(chain_written, timeout_s=90)


def signed_in(browser: Browser, web_url: str, person, dark: bool = False) -> Page:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark" if dark else "light")
    page = context.new_page()
    page.goto(f"{web_url}/login")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def drawn(page: Page, name: str) -> None:
    """The panel ``name`` is ready and Plotly drew its chart with data points."""
    panel = page.locator(f'[data-name="{name}"]')
    expect(panel).to_have_attribute("data-state", "ready", timeout=30_000)
    expect(panel.locator('.chart[data-drawn="true"]')).to_have_count(1)
    points = panel.locator(".scatterlayer .trace path.js-line, .barlayer .point path")
    expect(points.first).to_be_attached()


@pytest.fixture(scope="module")
def operator(make_person):
    return make_person("operator")


def test_system_page_charts_zoom_and_a_refused_panel(browser, web_url, seeded, operator):  # noqa: F811
    page = signed_in(browser, web_url, operator)
    page.goto(f"{web_url}/metrics/system?from=now-1h&service={SERVICE}")
    for metric in ("system.cpu.utilization", "system.memory.utilization.used", "system.cpu.load_average.1m"):
        name = f"system-{metric}"
        drawn(page, name)
    instances = page.locator('[data-name="instances"]')
    expect(instances).to_have_attribute("data-state", "ready")
    rows = instances.locator("tbody tr")
    expect(rows).to_have_count(2)  # a row per instance
    expect(rows.nth(0)).to_contain_text(f"api-{TAG}-2")  # it stopped reporting: first
    expect(rows.nth(0)).to_contain_text("stale")
    expect(rows.nth(1)).to_contain_text(f"api-{TAG}-1")
    expect(rows.nth(1)).to_contain_text("system.cpu.utilization")
    expect(rows.nth(1)).to_contain_text("critical")
    expect(page.locator('[data-name="system-system.cpu.utilization"] .shapelayer path')).to_have_count(
        2
    )  # warning, critical
    shot(page, "20-system-metrics")

    plot = page.locator('[data-name="system-system.cpu.utilization"] .nsewdrag').first
    box = plot.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"from=\d{4}-\d\d-\d\dT.*&to=\d{4}-"))
    drawn(page, "system-system.cpu.utilization")
    shot(page, "21-system-metrics-zoomed")

    page.goto(f"{web_url}/metrics/system?from=now-1h&service={SERVICE}&step=7")
    refused = page.locator('[data-name="system-system.cpu.utilization"]')
    expect(refused).to_have_attribute("data-state", "error", timeout=30_000)
    expect(refused.locator(".panel-error")).to_contain_text("step: must be a multiple of 60")
    expect(instances).to_have_attribute("data-state", "ready")
    expect(instances.locator("tbody tr").first).to_contain_text(f"api-{TAG}-2")
    shot(page, "22-system-metrics-panel-error")


def test_blockchain_page_in_both_themes(browser, web_url, seeded, operator):  # noqa: F811
    for dark, name in ((False, "23-blockchain"), (True, "24-blockchain-dark")):
        page = signed_in(browser, web_url, operator, dark=dark)
        page.goto(f"{web_url}/blockchain?from=now-1h")
        drawn(page, "blockchain-activity")
        drawn(page, "blockchain-blocks")
        gaps = page.locator('[data-name="blockchain-gaps"]')
        expect(gaps).to_have_attribute("data-state", "ready")
        expect(gaps.locator("tbody tr", has_text="a1a1a1").first).to_contain_text("39")
        latest = page.locator('[data-name="blockchain-latest"]')
        expect(latest.locator("tbody tr").first).to_contain_text("0x")
        shot(page, name)


def test_security_page_filter_investigate_and_the_address_history(browser, web_url, seeded, operator):  # noqa: F811
    page = signed_in(browser, web_url, operator)
    page.goto(f"{web_url}/security?from=now-1h")
    badge = page.get_by_role("navigation", name="Main").locator("a[href=\"/security\"] .nav-badge")
    expect(badge).to_be_visible()
    open_critical = int(badge.inner_text())
    page.get_by_label("IP address").fill(IP)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"ip={re.escape(IP)}"))
    drawn(page, "security-activity")
    types = page.locator('[data-name="security-types"]')
    expect(types).to_have_attribute("data-state", "ready")
    expect(types.locator("tbody tr", has_text="credential_stuffing")).to_contain_text("critical")
    rows = page.locator("table.security-events tbody tr")
    expect(rows).to_have_count(4)
    shot(page, "25-security-events")

    critical = rows.filter(has_text="credential_stuffing")
    critical.get_by_placeholder("Notes").fill("password spraying from a VPN exit; blocked at the edge")
    critical.get_by_role("button", name="Investigated").click()
    expect(page.get_by_role("status")).to_contain_text("Marked the event investigated.")
    expect(page).to_have_url(re.compile(rf"ip={re.escape(IP)}"))  # back on the same filtered list
    done = page.locator("table.security-events tbody tr", has_text="credential_stuffing")
    expect(done).to_contain_text("investigated")
    expect(done).to_contain_text("password spraying")
    expect(badge).to_have_text(str(open_critical - 1))
    drawn(page, "security-activity")
    expect(page.locator('[data-name="security-types"]')).to_have_attribute("data-state", "ready")
    shot(page, "26-security-investigated")

    page.get_by_role("link", name=IP).first.click()
    expect(page.get_by_role("heading", name=f"Address {IP}")).to_be_visible()
    expect(page.locator("table").first.locator("tbody tr")).to_have_count(4)
    expect(page.get_by_text("too many attempts")).to_be_visible()
    shot(page, "27-security-address")

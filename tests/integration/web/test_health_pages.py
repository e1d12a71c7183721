"""System metrics, blockchain events and security events sent through the collector appear in their panels
with the right values (threshold crossings, stale instances, block gaps, counts); a re-delivered batch changes
no panel; the investigation workflow updates PostgreSQL with its audit rows and a viewer cannot investigate.
Every JSON answer is validated against the OpenAPI document."""

from __future__ import annotations

import itertools
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from access import security_review
from tests.integration.conftest import eventually
from tests.integration.web.conftest import page_csrf, sign_in
from tests.integration.web.test_api import check, document  # noqa: F401  (the fixture)
from warehouse import postgres

pytestmark = pytest.mark.integration


def send(collector_url: str, key: str, events: list[dict[str, Any]]) -> None:
    r = requests.post(f"{collector_url}/v1/events", json=events, headers={"Authorization": f"Bearer {key}"},
                      timeout=15)  # fmt: skip
    assert r.status_code == 202 and r.json()["accepted"] == len(events), r.text


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def filled(buckets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in buckets if b["events"]]


def panel(browser: requests.Session, url: str, path: str, **params: str) -> dict[str, Any]:
    """A panel computed now: a ``to`` no earlier request used is a key the panel cache has never seen."""
    params.setdefault("from", "now-2h")
    params.setdefault("to", stamp(datetime.now(UTC) + timedelta(minutes=5)))
    r = browser.get(f"{url}/api/v1{path}", params=params, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["X-Panel-Cache"] == "miss"
    # The answer leaves through the app's hooks like any other: security headers and request id included.
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Request-ID"]
    return r.json()


@pytest.fixture(scope="module")
def viewer_browser(web_url, viewer) -> requests.Session:
    return sign_in(web_url, viewer)


# ------------------------------------------------------------------------------------------------- system


def test_system_metrics_levels_crossings_stale_instances_and_redelivery(
    web_url,
    collector_url,
    ingest_key,
    viewer_browser,
    document,  # noqa: F811
):
    tag = uuid.uuid4().hex[:8]
    service, hot, gone, marker = f"sys-{tag}", f"hot-{tag}", f"gone-{tag}", f"marker-{tag}"
    now = datetime.now(UTC)

    def sample(instance: str, at: datetime, metric: str, kind: str, value: float, **extra: Any) -> dict[str, Any]:
        return {"kind": "system_metric", "event_id": str(uuid.uuid4()), "timestamp": stamp(at), "service": service,
                "instance": instance, "metric_type": kind, "metric_name": metric, "value": value, "unit": "percent",
                **extra}  # fmt: skip

    batch = [
        sample(hot, now - timedelta(minutes=3), "system.cpu.utilization", "cpu", 50),
        sample(hot, now - timedelta(minutes=2), "system.cpu.utilization", "cpu", 60),
        sample(
            hot, now - timedelta(minutes=1), "system.cpu.utilization", "cpu", 97
        ),  # above the critical 95 (the setting)
        sample(
            hot, now - timedelta(minutes=1), "mem.used", "memory", 75, threshold_warning=70.0, threshold_critical=90.0
        ),  # fmt: skip
        sample(
            gone, now - timedelta(minutes=20), "system.cpu.utilization", "cpu", 10
        ),  # silent for 20 min: stale after 3
    ]
    send(collector_url, ingest_key, batch)

    def instances() -> list[dict[str, Any]]:
        answer = panel(viewer_browser, web_url, "/system/instances", service=service)
        return answer["data"] if len(answer["data"]) == 3 else []

    rows = eventually(instances, timeout_s=60)
    assert [(r["instance"], r["metric_name"], r["state"]) for r in rows] == [
        (gone, "system.cpu.utilization", "stale"),  # stopped reporting: first
        (hot, "system.cpu.utilization", "critical"),  # 97 of 95
        (hot, "mem.used", "warning"),  # 75 of the samples' own 70/90
    ]
    gone_cpu, hot_cpu, hot_mem = rows
    assert gone_cpu["stale"] and gone_cpu["value"] == 10
    assert (hot_cpu["value"], hot_cpu["peak"], hot_cpu["warning"], hot_cpu["critical"]) == (97, 97, 80, 95)
    assert hot_cpu["levels_from"] == "LOOKOUT_SYSTEM_THRESHOLDS" and hot_cpu["closeness"] == pytest.approx(97 / 95)
    assert (hot_mem["warning"], hot_mem["critical"], hot_mem["levels_from"]) == (70, 90, "the samples")
    answer = viewer_browser.get(f"{web_url}/api/v1/system/instances", params={"service": service}, timeout=30)
    check(document, "GET", "/api/v1/system/instances", answer, 200)
    # The table has a row per instance: its gauge closest to its levels, how many it reports, its state.
    texts = [[cell["text"] for cell in row.values()] for row in answer.json()["table"]["rows"]]
    assert [(t[0], t[1], t[5], t[7]) for t in texts] == [
        (gone, "system.cpu.utilization", "1", "stale"),
        (hot, "system.cpu.utilization", "2", "critical"),
    ]
    assert texts[1][2:5] == ["97.0%", "80.0% / 95.0%", "102%"]
    again = viewer_browser.get(f"{web_url}/api/v1/system/instances", params={"service": service}, timeout=30)
    assert again.headers["X-Panel-Cache"] == "hit" and again.content == answer.content

    series = panel(
        viewer_browser, web_url, "/system/series", service=service, metric="system.cpu.utilization", step="60"
    )
    wanted = {"service": service, "metric": "system.cpu.utilization"}
    check(document, "GET", "/api/v1/system/series",
          viewer_browser.get(f"{web_url}/api/v1/system/series", params=wanted, timeout=30), 200)  # fmt: skip
    assert (series["warning"], series["critical"], series["step"]) == (80, 95, 60)
    drawn = {trace["name"]: [y for y in trace["y"] if y is not None] for trace in series["figure"]["data"]}
    assert drawn == {gone: [10], hot: [50, 60, 97]}
    lines = sorted(shape["y0"] for shape in series["figure"]["layout"]["shapes"])
    assert lines == [80, 95]
    hot_points = [p for p in series["data"] if p["instance"] == hot]
    # Every minute of the 2 h 5 min range is a bucket; the ones without samples are gaps (null), not zeros.
    minutes = [datetime.fromisoformat(p["bucket"]) for p in hot_points]
    assert len(minutes) >= 125 and all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(minutes))
    assert [p["value"] for p in hot_points if p["value"] is not None] == [50, 60, 97]
    wanted = {"service": service, "metric": "system.cpu.utilization", "format": "csv", "step": "60"}
    csv = viewer_browser.get(f"{web_url}/api/v1/system/series", params=wanted, timeout=30)
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "service,instance,bucket,value,peak" and ",97.0,97.0" in csv.text

    # The same batch again (same event ids), and a marker behind it in the same record: once the marker
    # shows, the re-delivered events were written, and no number moved.
    send(
        collector_url,
        ingest_key,
        [*batch, sample(marker, now - timedelta(minutes=1), "system.cpu.utilization", "cpu", 1)],
    )

    def with_marker() -> list[dict[str, Any]]:
        answer = panel(viewer_browser, web_url, "/system/instances", service=service)
        return answer["data"] if len(answer["data"]) == 4 else []

    after = [r for r in eventually(with_marker, timeout_s=60) if r["instance"] != marker]
    assert after == rows
    series_after = panel(
        viewer_browser, web_url, "/system/series", service=service, metric="system.cpu.utilization", step="60"
    )
    assert {t["name"]: [y for y in t["y"] if y is not None] for t in series_after["figure"]["data"]} == {
        **drawn, marker: [1],
    }  # fmt: skip


def test_system_panels_refuse_bad_parameters_with_a_400(web_url, viewer_browser, document):  # noqa: F811
    for path, params, named in (
        ("/system/series", {"metric": "cpu", "step": "7"}, "step"),
        ("/system/series", {}, "metric"),
        ("/system/instances", {"from": "yesterday"}, "from"),
        ("/system/instances", {"from": "now-1h", "to": "now-2h"}, "from"),
        ("/system/instances", {"colour": "red"}, "colour"),
    ):
        r = viewer_browser.get(f"{web_url}/api/v1{path}", params=params, timeout=30)
        check(document, "GET", f"/api/v1{path}", r, 400)
        assert named in r.json()["error"], r.json()


# ------------------------------------------------------------------------------------------------- blockchain


def test_blockchain_panels_count_events_flag_gaps_and_ignore_redelivery(
    web_url,
    collector_url,
    ingest_key,
    viewer_browser,
    document,  # noqa: F811
):
    tag = uuid.uuid4().hex[:8]
    contract, other = "0x" + tag * 5, "0x" + uuid.uuid4().hex[:8] * 5
    service = f"chain-{tag}"
    now = datetime.now(UTC)

    def event(block: int, kind: str, address: str = contract, minutes_ago: float = 10) -> dict[str, Any]:
        return {"kind": "blockchain_event", "event_id": str(uuid.uuid4()), "service": service,
                "timestamp": stamp(now - timedelta(minutes=minutes_ago)), "event_type": kind,
                "contract_address": address, "transaction_hash": "0x" + uuid.uuid4().hex * 2, "block_number": block,
                "log_index": 0}  # fmt: skip

    # Blocks 100, 101, 102, then nothing until 110 (103 to 109 missed: 7 blocks), 111; two event types.
    batch = [event(100, "Transfer", minutes_ago=14), event(101, "Approval", minutes_ago=13),
             event(102, "Transfer", minutes_ago=12), event(110, "Transfer", minutes_ago=4),
             event(110, "Approval", minutes_ago=4), event(111, "Transfer", minutes_ago=3)]  # fmt: skip
    send(collector_url, ingest_key, batch)

    def contracts() -> list[dict[str, Any]]:
        return panel(viewer_browser, web_url, "/blockchain/contracts", contract=contract)["data"]

    (row,) = eventually(contracts, timeout_s=60)
    assert (row["events"], row["event_types"], row["first_block"], row["last_block"]) == (
        6, ["Approval", "Transfer"], 100, 111,
    )  # fmt: skip
    assert (row["gaps"], row["missing_blocks"]) == (1, 7)
    gaps = panel(viewer_browser, web_url, "/blockchain/gaps", contract=contract)
    assert [(g["before_block"], g["after_block"], g["missing"]) for g in gaps["data"]] == [(102, 110, 7)]
    assert gaps["max_gap"] == 1 and gaps["table"]["rows"][0]["between"]["text"] == "102 → 110"
    activity = panel(viewer_browser, web_url, "/blockchain/activity", contract=contract, step="300")
    totals = {t["name"]: sum(t["y"]) for t in activity["figure"]["data"]}
    assert totals == {"Approval": 2, "Transfer": 4}
    blocks = panel(viewer_browser, web_url, "/blockchain/blocks", contract=contract)
    assert sum(b["events"] for b in blocks["data"]) == 6 and blocks["figure"]["layout"]["xaxis"]["type"] == "-"
    latest = panel(viewer_browser, web_url, "/blockchain/latest", contract=contract)
    assert [e["block_number"] for e in latest["data"]][:1] == [111]
    assert {e["transaction_hash"] for e in latest["data"]} == {e["transaction_hash"] for e in batch}
    for path in ("/blockchain/contracts", "/blockchain/gaps", "/blockchain/activity", "/blockchain/blocks",
                 "/blockchain/latest"):  # fmt: skip
        r = viewer_browser.get(f"{web_url}/api/v1{path}", params={"contract": contract}, timeout=30)
        check(document, "GET", f"/api/v1{path}", r, 200)
    # A contract nothing came from: every panel answers empty, none fails (schemathesis once found a 500).
    for path in ("/blockchain/contracts", "/blockchain/gaps", "/blockchain/activity", "/blockchain/blocks",
                 "/blockchain/latest"):  # fmt: skip
        assert panel(viewer_browser, web_url, path, contract="0x" + "0" * 40)["data"] == []

    # Re-delivered, with a marker (another contract, same service, so the same record) behind it.
    send(collector_url, ingest_key, [*batch, event(5, "Transfer", other)])
    eventually(lambda: panel(viewer_browser, web_url, "/blockchain/contracts", contract=other)["data"], timeout_s=60)
    assert contracts() == [row]
    assert panel(viewer_browser, web_url, "/blockchain/gaps", contract=contract)["data"] == gaps["data"]
    again = panel(viewer_browser, web_url, "/blockchain/activity", contract=contract, step="300")
    # The range ends at "now", so a bucket may have been added at either end since: compare the filled ones.
    assert filled(again["data"]) == filled(activity["data"])


# ------------------------------------------------------------------------------------------------- security


def _badge(browser: requests.Session, url: str) -> int:
    page = browser.get(f"{url}/security", timeout=30).text
    found = re.search(r'href="/security"[^>]*>\s*Security\s*<span class="nav-badge"[^>]*>(\d+)<', page)
    return int(found.group(1)) if found else 0


def test_security_filters_ip_history_and_the_audited_investigation_workflow(
    web_url,
    web_settings,
    collector_url,
    ingest_key,
    make_person,
    viewer_browser,
    document,  # noqa: F811
):
    tag = uuid.uuid4().hex[:8]
    ip = f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"
    account, service = f"user-{tag}", f"auth-{tag}"
    now = datetime.now(UTC)

    def security(kind: str, severity: str, address: str = ip, minutes_ago: int = 5) -> dict[str, Any]:
        return {"kind": "security_event", "event_id": str(uuid.uuid4()), "service": service,
                "timestamp": stamp(now - timedelta(minutes=minutes_ago)), "event_type": kind, "severity": severity,
                "ip_address": address, "user_id": account, "endpoint": "/v1/auth/login"}  # fmt: skip

    first = security("failed_login", "critical")
    second = security("credential_stuffing", "critical", minutes_ago=4)
    third = security("failed_login", "low", minutes_ago=3)
    elsewhere = security("failed_login", "high", address="192.0.2.77")
    send(collector_url, ingest_key, [first, second, third, elsewhere])

    def log(message: str, **extra: Any) -> dict[str, Any]:
        return {"kind": "log", "event_id": str(uuid.uuid4()), "service": service, "timestamp": stamp(now),
                "level": "warn", "message": message, **extra}  # fmt: skip

    by_field, by_message = log("login refused", ip_address=ip), log(f"blocked {ip} after 5 attempts")
    by_metadata, not_it = log("proxy hop", metadata={"client_ip": ip}), log("hop", metadata={"client_ip": ip + "1"})
    send(collector_url, ingest_key, [by_field, by_message, by_metadata, not_it])

    operator = make_person("operator")
    ops = sign_in(web_url, operator)
    api = f"{web_url}/api/v1/security"
    eventually(lambda: ops.get(f"{api}/events", params={"account": account}, timeout=30).json()["matching"] == 4,
               timeout_s=60)  # fmt: skip
    r = ops.get(f"{api}/events", params={"ip": ip, "severity": "critical"}, timeout=30)
    check(document, "GET", "/api/v1/security/events", r, 200)
    assert {e["event_id"] for e in r.json()["events"]} == {first["event_id"], second["event_id"]}
    assert r.json()["matching"] == 2
    assert ops.get(f"{api}/events", params={"account": account, "state": "open"}, timeout=30).json()["matching"] == 4
    for params, named in (({"ip": "nope"}, "ip"), ({"severity": "urgent"}, "severity"), ({"state": "done"}, "state")):
        r = ops.get(f"{api}/events", params=params, timeout=30)
        check(document, "GET", "/api/v1/security/events", r, 400)
        assert named in r.json()["error"]

    history = ops.get(f"{api}/ip/{ip}", params={"from": "now-1h"}, timeout=30)
    check(document, "GET", "/api/v1/security/ip/{ip}", history, 200)

    def ip_history() -> dict[str, Any] | None:
        answer = ops.get(f"{api}/ip/{ip}", params={"from": "now-1h"}, timeout=30).json()
        return answer if len(answer["logs"]) == 3 else None

    found = eventually(ip_history, timeout_s=60)
    assert {log["event_id"] for log in found["logs"]} == {e["event_id"] for e in (by_field, by_message, by_metadata)}
    assert {e["event_id"] for e in found["events"]} == {e["event_id"] for e in (first, second, third)}
    assert found["logs_query"] == f'ip_address:"{ip}" OR "{ip}"' and found["explorer_url"].startswith("/explore?q=")

    # Other tests' critical events may still be arriving: the badge (counted at most every 5 s) must agree with
    # the table at some moment, not at the first look.
    def badge_agrees() -> tuple[int] | None:  # a tuple: a badge of 0 is an answer too
        shown = _badge(ops, web_url)
        return (shown,) if shown == security_review.open_critical(web_settings) else None

    (badge_before,) = eventually(badge_agrees, timeout_s=60)
    assert badge_before >= 2

    # A viewer cannot investigate, through the API or the page.
    viewer_csrf = {"X-CSRFToken": page_csrf(viewer_browser, web_url)}
    refused = viewer_browser.post(f"{api}/events/{first['event_id']}/investigation",
                                  json={"outcome": "investigated"}, headers=viewer_csrf, timeout=30)  # fmt: skip
    check(document, "POST", "/api/v1/security/events/{event_id}/investigation", refused, 403)
    page_refused = viewer_browser.post(f"{web_url}/security/events/{first['event_id']}/investigate",
                                       data={"outcome": "investigated", "csrf_token": viewer_csrf["X-CSRFToken"]},
                                       timeout=30, allow_redirects=False)  # fmt: skip
    assert page_refused.status_code == 403

    headers = {"X-CSRFToken": page_csrf(ops, web_url)}
    marked = ops.post(f"{api}/events/{first['event_id']}/investigation",
                      json={"outcome": "investigated", "notes": "blocked at the firewall"}, headers=headers,
                      timeout=30)  # fmt: skip
    check(document, "POST", "/api/v1/security/events/{event_id}/investigation", marked, 200)
    assert (marked.json()["investigated"], marked.json()["false_positive"], marked.json()["investigated_by"]) == (
        True, False, operator.email,
    )  # fmt: skip
    for body, status in (({"outcome": "closed"}, 400), ({"outcome": "investigated", "notes": "x" * 4001}, 400)):
        r = ops.post(f"{api}/events/{first['event_id']}/investigation", json=body, headers=headers, timeout=30)
        check(document, "POST", "/api/v1/security/events/{event_id}/investigation", r, status)
    missing = ops.post(f"{api}/events/{uuid.uuid4()}/investigation", json={"outcome": "investigated"},
                       headers=headers, timeout=30)  # fmt: skip
    check(document, "POST", "/api/v1/security/events/{event_id}/investigation", missing, 404)
    bad_id = ops.post(f"{api}/events/not-a-uuid/investigation", json={"outcome": "investigated"}, headers=headers,
                      timeout=30)  # fmt: skip
    check(document, "POST", "/api/v1/security/events/{event_id}/investigation", bad_id, 400)

    wanted = {"filter": {"ip": ip, "from": "now-1h"}, "outcome": "false_positive", "notes": "pen test"}
    bulk = ops.post(f"{api}/investigations", json=wanted, headers=headers, timeout=30)
    check(document, "POST", "/api/v1/security/investigations", bulk, 200)
    assert bulk.json() == {"marked": 2}  # the first keeps its outcome

    with postgres.connect(web_settings.postgres_dsn) as conn:
        rows = {str(r["event_id"]): r for r in conn.execute(
            "SELECT event_id, investigated, false_positive, investigated_by, investigation_notes, investigated_at "
            "FROM security_events WHERE user_id = %s", (account,)).fetchall()}  # fmt: skip
        audit = conn.execute(
            "SELECT action, resource_id, old_values, new_values, metadata, outcome FROM admin_audit_logs "
            "WHERE platform AND resource_type = 'security_event' AND admin_id = %s ORDER BY timestamp",
            (operator.email,),
        ).fetchall()
        denied = conn.execute(
            "SELECT count(*) AS n FROM admin_audit_logs WHERE platform AND outcome = 'denied' AND admin_id = %s "
            "AND action LIKE %s", (viewer_browser_email(viewer_browser, web_url), "POST security_events.%"),
        ).fetchone()["n"]  # fmt: skip
    one = rows[first["event_id"]]
    assert (one["investigated"], one["false_positive"], one["investigated_by"], one["investigation_notes"]) == (
        True, False, operator.email, "blocked at the firewall",
    )  # fmt: skip
    assert one["investigated_at"] is not None
    for event in (second, third):
        assert (rows[event["event_id"]]["false_positive"], rows[event["event_id"]]["investigation_notes"]) == (
            True, "pen test",
        )  # fmt: skip
    assert not rows[elsewhere["event_id"]]["investigated"]
    successes = [a for a in audit if a["outcome"] == "success"]
    assert [(a["action"], a["resource_id"]) for a in successes] == [
        ("security_event.investigated", first["event_id"]),
        ("security_event.bulk_false_positive", "filter"),
    ]
    assert successes[0]["old_values"]["investigated"] is False and successes[0]["new_values"]["investigated"] is True
    assert successes[1]["metadata"]["count"] == 2
    assert set(successes[1]["metadata"]["event_ids"]) == {second["event_id"], third["event_id"]}
    assert successes[1]["metadata"]["filter"]["ip"] == ip
    # Requests refused by their declaration change nothing and reach no mutation; the unknown event does.
    assert [(a["action"], a["outcome"]) for a in audit if a["outcome"] != "success"] == [
        ("security_event.investigated", "failure"),
    ]
    assert denied >= 1

    states = {
        state: ops.get(f"{api}/events", params={"account": account, "state": state}, timeout=30).json()["matching"]
        for state in ("open", "investigated", "false_positive")
    }
    assert states == {"open": 1, "investigated": 1, "false_positive": 2}
    # The two critical events are no longer open (above), and the badge counts what is.
    eventually(badge_agrees, timeout_s=60)

    # A re-delivered event (same id and time) neither comes back open nor counts twice; the marker sent
    # behind it in the same record shows it was written.
    marker = security("failed_login", "low", address="192.0.2.78")
    send(collector_url, ingest_key, [first, second, marker])
    eventually(lambda: ops.get(f"{api}/events", params={"account": account}, timeout=30).json()["matching"] == 5,
               timeout_s=60)  # fmt: skip
    again = {
        state: ops.get(f"{api}/events", params={"account": account, "state": state}, timeout=30).json()["matching"]
        for state in ("open", "investigated", "false_positive")
    }
    assert again == {"open": 2, "investigated": 1, "false_positive": 2}


def viewer_browser_email(browser: requests.Session, url: str) -> str:
    return browser.get(f"{url}/api/v1/me", timeout=10).json()["account"]["email"]


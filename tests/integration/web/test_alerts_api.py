"""The alerting JSON API through the real stack: rules created and previewed over HTTP, events through the
collector make them fire (the node's scheduler evaluates them), the incident is acknowledged and silenced,
and disabling or deleting a firing rule resolves its incident. Every response is validated against the
OpenAPI document."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.integration.conftest import eventually
from tests.integration.receivers import Receiver, running_receiver
from tests.integration.test_alerts import SECRET, cpu, cpu_rule, post
from tests.integration.web.conftest import page_csrf, sign_in
from tests.integration.web.test_api import check
from warehouse import postgres

pytestmark = pytest.mark.integration

API = "/api/v1/alerts"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture(scope="module")
def document(web_url, admin) -> dict:
    return sign_in(web_url, admin).get(f"{web_url}/api/v1/openapi.json", timeout=10).json()


@pytest.fixture(scope="module")
def operator(make_person):
    return make_person("operator")


def signed_in(web_url: str, person) -> tuple[requests.Session, dict[str, str]]:
    browser = sign_in(web_url, person)
    return browser, {"X-CSRFToken": page_csrf(browser, web_url)}


def add_channel(web_url: str, admin, receiver: Receiver, uid: str) -> str:
    browser, headers = signed_in(web_url, admin)
    definition = {"name": f"hook-{uid}", "type": "webhook", "url": receiver.url(f"/hook/{uid}"), "secret": SECRET}
    created = browser.post(f"{web_url}{API}/channels", json={"definition": definition}, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    return definition["name"]


def open_incident(browser: requests.Session, web_url: str, rule: str, status: str = "firing") -> dict | None:
    listed = browser.get(f"{web_url}{API}/incidents", params={"open": "true"}, timeout=10).json()["incidents"]
    return next((i for i in listed if i["rule"] == rule and i["status"] == status), None)


def test_rules_preview_incident_acknowledge_silence_and_channels_round_trip(
    web_url, admin, operator, viewer, document, collector_url, ingest_key, receiver, settings
):
    uid = uuid.uuid4().hex[:8]
    service, name = f"api-alert-{uid}", f"api-cpu-{uid}"
    channel = add_channel(web_url, admin, receiver, uid)
    browser, headers = signed_in(web_url, operator)
    url = web_url + API

    # Invalid rules are refused naming the field; an unknown channel too; viewers may not create.
    bad = browser.post(f"{url}/rules", json={"definition": {**cpu_rule(name, service, []), "for": "soon"}},
                       headers=headers)  # fmt: skip
    check(document, "POST", f"{API}/rules", bad, 400)
    assert "field 'for'" in bad.json()["error"]
    unknown = browser.post(f"{url}/rules", json={"definition": cpu_rule(name, service, ["nope"])}, headers=headers)
    check(document, "POST", f"{API}/rules", unknown, 400)
    assert "unknown channel 'nope'" in unknown.json()["error"]
    check(document, "POST", f"{API}/rules", browser.post(f"{url}/rules", json={"definition": "name: [unclosed"},
                                                         headers=headers), 400)  # fmt: skip
    v_browser, v_headers = signed_in(web_url, viewer)
    check(document, "POST", f"{API}/rules", v_browser.post(f"{url}/rules", json={"definition": cpu_rule(
        name, service, [channel])}, headers=v_headers), 403)  # fmt: skip

    # Preview before saving: the cpu series of the last 24 h, the threshold drawn, the breach found.
    post(collector_url, ingest_key, [cpu(service, 97.0)])
    definition = cpu_rule(name, service, [channel], renotify="0s")

    def previewed() -> dict | None:
        answer = browser.post(f"{url}/preview", json={"definition": definition, "span": "24h"}, headers=headers)
        check(document, "POST", f"{API}/preview", answer, 200)
        return answer.json() if answer.json()["data"] else None

    shown = eventually(previewed, timeout_s=30, interval_s=1)
    assert shown["data"][-1]["value"] == 97.0 and shown["data"][-1]["group_key"] == '{instance="i-1"}'
    assert shown["fired"] == 1 and [n["kind"] for n in shown["notifications"]] == ["firing"]
    assert [e["kind"] for e in shown["timeline"]] == ["firing"]
    layout = shown["figure"]["layout"]
    assert any(s["y0"] == 80 for s in layout["shapes"])  # the threshold line
    assert any(a["text"] == "firing" for a in layout["annotations"])  # the marker
    platform = browser.post(f"{url}/preview", json={"definition": {"name": "p", "threshold": 1,
                            "query": {"type": "platform", "metric": "dead_letters"}}}, headers=headers)  # fmt: skip
    check(document, "POST", f"{API}/preview", platform, 400)
    assert "no history" in platform.json()["error"]

    created = browser.post(f"{url}/rules", json={"definition": definition}, headers=headers)
    check(document, "POST", f"{API}/rules", created, 201)
    assert created.json()["definition"]["channels"] == [channel]
    check(document, "POST", f"{API}/rules", browser.post(f"{url}/rules", json={"definition": definition},
                                                         headers=headers), 409)  # fmt: skip

    # It fires: one incident, a signed webhook whose link opens the rule's page.
    post(collector_url, ingest_key, [cpu(service, 98.0)])
    incident = eventually(lambda: open_incident(browser, web_url, name), timeout_s=30)
    hook = eventually(lambda: receiver.to(f"/hook/{uid}"), timeout_s=15)[0].json
    assert hook["kind"] == "firing" and hook["link"] == f"{settings.public_url}/alerts/rules/{name}"
    page = browser.get(hook["link"].replace(settings.public_url, web_url), timeout=10)
    assert page.status_code == 200 and f"Rule {name}" in page.text
    listed = browser.get(f"{url}/rules")
    check(document, "GET", f"{API}/rules", listed, 200)
    mine = next(r for r in listed.json()["rules"] if r["name"] == name)
    assert (mine["state"], mine["firing"]) == ("firing", 1) and mine["last_evaluated_at"]
    check(document, "GET", f"{API}/oncall", browser.get(f"{url}/oncall"), 200)
    assert any(i["id"] == incident["id"] for i in browser.get(f"{url}/oncall").json()["firing"])

    detail = browser.get(f"{url}/incidents/{incident['id']}")
    check(document, "GET", f"{API}/incidents/{{incident_id}}", detail, 200)
    assert detail.json()["timeline"][0]["kind"] == "firing"
    check(document, "GET", f"{API}/incidents/{{incident_id}}", browser.get(f"{url}/incidents/999999999"), 404)

    acked = browser.post(f"{url}/incidents/{incident['id']}/acknowledge", headers=headers)
    check(document, "POST", f"{API}/incidents/{{incident_id}}/acknowledge", acked, 200)
    assert acked.json()["incident"]["acknowledged_by"] == operator.email
    assert "acknowledge" in [e["kind"] for e in acked.json()["timeline"]]
    again = browser.post(f"{url}/incidents/{incident['id']}/acknowledge", headers=headers)
    check(document, "POST", f"{API}/incidents/{{incident_id}}/acknowledge", again, 409)

    silenced = browser.post(f"{url}/incidents/{incident['id']}/silence", json={"duration": "1h", "comment": "db"},
                            headers=headers)  # fmt: skip
    check(document, "POST", f"{API}/incidents/{{incident_id}}/silence", silenced, 201)
    check(document, "POST", f"{API}/incidents/{{incident_id}}/silence", browser.post(
        f"{url}/incidents/{incident['id']}/silence", json={"duration": "31d"}, headers=headers), 400)  # fmt: skip
    silences = browser.get(f"{url}/silences")
    check(document, "GET", f"{API}/silences", silences, 200)
    mine = next(s for s in silences.json()["silences"] if s["id"] == silenced.json()["id"])
    assert mine["matchers"] == {"rule": name, "instance": "i-1"} and mine["author"] == operator.email
    check(document, "DELETE", f"{API}/silences/{{silence_id}}", browser.delete(
        f"{url}/silences/{mine['id']}", headers=headers), 204)  # fmt: skip
    check(document, "DELETE", f"{API}/silences/{{silence_id}}", browser.delete(
        f"{url}/silences/{mine['id']}", headers=headers), 404)  # fmt: skip

    # Channels: listed without their secret; operators may test but not change them.
    channels = browser.get(f"{url}/channels")
    check(document, "GET", f"{API}/channels", channels, 200)
    assert SECRET not in channels.text
    assert next(c for c in channels.json()["channels"] if c["name"] == channel)["has_secret"] is True
    tested = browser.post(f"{url}/channels/{channel}/test", headers=headers)
    check(document, "POST", f"{API}/channels/{{name}}/test", tested, 200)
    assert tested.json()["ok"] is True
    assert any(r.json["kind"] == "test" for r in receiver.to(f"/hook/{uid}"))
    check(document, "POST", f"{API}/channels/{{name}}/test", browser.post(f"{url}/channels/nope/test",
                                                                          headers=headers), 404)  # fmt: skip
    check(document, "PUT", f"{API}/channels/{{name}}", browser.put(f"{url}/channels/{channel}", json={
        "definition": {"type": "webhook", "url": "https://elsewhere.example/"}}, headers=headers), 403)  # fmt: skip

    with postgres.connect(settings.postgres_dsn) as conn:
        actions = [r["action"] for r in conn.execute(
            "SELECT action FROM admin_audit_logs WHERE admin_id = %s AND outcome = 'success' ORDER BY timestamp",
            (operator.email,)).fetchall()]  # fmt: skip
    for action in ("alert_rule.create", "alert_incident.acknowledge", "alert_silence.create", "alert_silence.expire"):
        assert action in actions


def test_disabling_or_deleting_a_firing_rule_resolves_its_incident(
    web_url, admin, operator, document, collector_url, ingest_key, receiver
):
    uid = uuid.uuid4().hex[:8]
    channel = add_channel(web_url, admin, receiver, uid)
    browser, headers = signed_in(web_url, operator)
    url = web_url + API
    names = {"disable": f"disable-me-{uid}", "delete": f"delete-me-{uid}"}
    for how, name in names.items():
        rule = cpu_rule(name, f"svc-{how}-{uid}", [channel], renotify="0s")
        assert browser.post(f"{url}/rules", json={"definition": rule}, headers=headers).status_code == 201
        post(collector_url, ingest_key, [cpu(f"svc-{how}-{uid}", 99.0)])
    incidents = {how: eventually(lambda n=name: open_incident(browser, web_url, n), timeout_s=30)
                 for how, name in names.items()}  # fmt: skip
    eventually(lambda: len([r for r in receiver.to(f"/hook/{uid}") if r.json["kind"] == "firing"]) == 2)

    disabled = browser.patch(f"{url}/rules/{names['disable']}", json={"enabled": False}, headers=headers)
    check(document, "PATCH", f"{API}/rules/{{name}}", disabled, 200)
    assert disabled.json()["rule"]["state"] == "disabled" and disabled.json()["rule"]["firing"] == 0
    deleted = browser.delete(f"{url}/rules/{names['delete']}", headers=headers)
    check(document, "DELETE", f"{API}/rules/{{name}}", deleted, 204)
    check(document, "GET", f"{API}/rules/{{name}}", browser.get(f"{url}/rules/{names['delete']}"), 404)

    for how, reason in (("disable", "rule disabled"), ("delete", "rule deleted")):
        shown = browser.get(f"{url}/incidents/{incidents[how]['id']}").json()
        assert shown["incident"]["status"] == "resolved" and shown["incident"]["resolved_at"]
        assert shown["incident"]["rule_deleted"] is (how == "delete")
        assert [(e["kind"], e["detail"]) for e in shown["timeline"]][-1] == ("resolved", reason)
    # Each announced incident gets its resolve notification.
    resolved = eventually(lambda: {r.json["rule"]["name"] for r in receiver.to(f"/hook/{uid}")
                                   if r.json["kind"] == "resolved"} == set(names.values()))  # fmt: skip
    assert resolved
    # Enabled again, the rule starts afresh: the breach that goes on opens a new incident.
    post(collector_url, ingest_key, [cpu(f"svc-disable-{uid}", 99.0)])
    enabled_again = browser.patch(f"{url}/rules/{names['disable']}", json={"enabled": True}, headers=headers)
    assert enabled_again.status_code == 200
    reopened = eventually(lambda: open_incident(browser, web_url, names["disable"]), timeout_s=30)
    assert reopened["id"] != incidents["disable"]["id"]  # a fresh incident: the old one stayed resolved

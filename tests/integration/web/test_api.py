"""The JSON API answers as its OpenAPI document says: every real response below is validated against the
schema the document gives for that operation and status."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from jsonschema import Draft202012Validator

from tests.integration.web.conftest import page_csrf, sign_in

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def document(web_url, admin) -> dict:
    browser = sign_in(web_url, admin)
    r = browser.get(f"{web_url}/api/v1/openapi.json", timeout=10)
    assert r.status_code == 200
    return r.json()


def check(document: dict, method: str, template: str, response: requests.Response, status: int) -> None:
    """The response has the declared status and matches the declared schema (the error schema for errors)."""
    assert response.status_code == status, response.text
    declared = document["paths"][template][method.lower()]["responses"][str(status)]
    if status == 204:
        assert not response.content
        return
    schema = declared["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert errors == [], errors


def test_keys_accounts_tokens_and_audit_round_trip(web_url, admin, document):
    browser = sign_in(web_url, admin)
    headers = {"X-CSRFToken": page_csrf(browser, web_url)}
    url = web_url + "/api/v1"

    check(document, "GET", "/api/v1/me", browser.get(f"{url}/me"), 200)
    name = f"api-{uuid.uuid4().hex[:6]}"
    created = browser.post(f"{url}/keys", json={"name": name, "scopes": ["ingest", "query"], "rate_limit_per_s": 50},
                           headers=headers)  # fmt: skip
    check(document, "POST", "/api/v1/keys", created, 201)
    key = created.json()
    assert key["secret"].startswith("lk_") and "query" in key["key"]["scopes"] and "log" in key["key"]["scopes"]
    listed = browser.get(f"{url}/keys")
    check(document, "GET", "/api/v1/keys", listed, 200)
    assert key["secret"] not in listed.text and name in listed.text
    check(document, "POST", "/api/v1/keys", browser.post(f"{url}/keys", json={"name": name, "scopes": ["log"]},
                                                         headers=headers), 409)  # fmt: skip
    check(document, "POST", "/api/v1/keys", browser.post(f"{url}/keys", json={"name": "x", "scopes": ["logs"]},
                                                         headers=headers), 400)  # fmt: skip
    check(document, "POST", "/api/v1/keys", browser.post(f"{url}/keys", data="not json", headers=headers), 400)
    revoked = browser.delete(f"{url}/keys/{key['key']['id']}", headers=headers)
    check(document, "DELETE", "/api/v1/keys/{key_id}", revoked, 204)
    check(document, "DELETE", "/api/v1/keys/{key_id}", browser.delete(f"{url}/keys/{key['key']['id']}",
                                                                      headers=headers), 404)  # fmt: skip

    email = f"api-{uuid.uuid4().hex[:6]}@example.com"
    account = browser.post(f"{url}/accounts", json={"email": email, "role": "viewer", "password": "x" * 16},
                           headers=headers)  # fmt: skip
    check(document, "POST", "/api/v1/accounts", account, 201)
    account_id = account.json()["id"]
    patched = browser.patch(f"{url}/accounts/{account_id}", json={"role": "operator"}, headers=headers)
    check(document, "PATCH", "/api/v1/accounts/{account_id}", patched, 200)
    assert patched.json()["role"] == "operator"
    check(document, "PATCH", "/api/v1/accounts/{account_id}", browser.patch(f"{url}/accounts/{account_id}",
          json={"role": "root"}, headers=headers), 400)  # fmt: skip
    check(document, "GET", "/api/v1/accounts", browser.get(f"{url}/accounts"), 200)
    check(document, "POST", "/api/v1/accounts/{account_id}/password", browser.post(
        f"{url}/accounts/{account_id}/password", json={"password": "y" * 16}, headers=headers), 204)  # fmt: skip

    expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    token = browser.post(f"{url}/tokens", json={"name": "ci", "expires_at": expires}, headers=headers)
    check(document, "POST", "/api/v1/tokens", token, 201)
    check(document, "GET", "/api/v1/tokens", browser.get(f"{url}/tokens"), 200)

    audit = browser.get(f"{url}/audit", params={"resource_type": "api_key", "resource_id": key["key"]["id"]})
    check(document, "GET", "/api/v1/audit", audit, 200)
    entries = audit.json()["entries"]
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("api_key.revoke", "failure"),  # the second revoke: refused, and audited as such
        ("api_key.revoke", "success"),
        ("api_key.create", "success"),
    ]
    assert "no active API key" in entries[0]["metadata"]["reason"]
    assert entries[1]["old_values"]["revoked"] is False and entries[1]["new_values"] == {"revoked": True}
    assert entries[2]["new_values"]["name"] == name and entries[2]["actor"] == admin.email
    assert all(e["session_id"] and re.fullmatch(r"[0-9a-f]{32}", e["request_id"]) for e in entries)
    check(document, "GET", "/api/v1/audit", browser.get(f"{url}/audit", params={"from": "last tuesday"}), 400)


def test_personal_tokens_act_with_the_accounts_role_and_stop_when_revoked(web_url, viewer, document, query_key):
    browser = sign_in(web_url, viewer)
    headers = {"X-CSRFToken": page_csrf(browser, web_url)}
    created = browser.post(f"{web_url}/api/v1/tokens", json={"name": f"t-{uuid.uuid4().hex[:6]}"}, headers=headers)
    secret, token_id = created.json()["secret"], created.json()["token"]["id"]
    bearer = {"Authorization": f"Bearer {secret}"}

    me = requests.get(f"{web_url}/api/v1/me", headers=bearer, timeout=10)
    check(document, "GET", "/api/v1/me", me, 200)
    assert me.json() == {**me.json(), "via": "token"} and me.json()["account"]["email"] == viewer.email
    assert "Set-Cookie" not in me.headers  # a token request starts no session
    logs = requests.get(f"{web_url}/api/v1/logs", params={"limit": 1}, headers=bearer, timeout=30)
    check(document, "GET", "/api/v1/logs", logs, 200)
    denied = requests.post(f"{web_url}/api/v1/keys", json={"name": "no", "scopes": ["log"]}, headers=bearer)
    check(document, "POST", "/api/v1/keys", denied, 403)
    listed = requests.get(f"{web_url}/api/v1/tokens", headers=bearer, timeout=10).json()["tokens"]
    assert any(t["id"] == token_id and t["last_used_at"] for t in listed)

    # A query-scoped API key reads logs, and nothing else.
    key = {"Authorization": f"Bearer {query_key}"}
    check(document, "GET", "/api/v1/logs", requests.get(f"{web_url}/api/v1/logs", headers=key, timeout=30), 200)
    check(document, "GET", "/api/v1/keys", requests.get(f"{web_url}/api/v1/keys", headers=key, timeout=10), 403)

    revoked = browser.delete(f"{web_url}/api/v1/tokens/{token_id}", headers=headers)
    check(document, "DELETE", "/api/v1/tokens/{token_id}", revoked, 204)
    check(document, "GET", "/api/v1/me", requests.get(f"{web_url}/api/v1/me", headers=bearer, timeout=10), 401)


def test_a_keys_accepted_events_of_the_last_24h_are_listed(web_url, admin, document, collector_url):
    browser = sign_in(web_url, admin)
    headers = {"X-CSRFToken": page_csrf(browser, web_url)}
    created = browser.post(f"{web_url}/api/v1/keys", json={"name": f"usage-{uuid.uuid4().hex[:6]}", "scopes": ["log"]},
                           headers=headers)  # fmt: skip
    key = created.json()
    now = datetime.now(UTC).isoformat()

    def send(count: int, bad: int = 0) -> None:
        events = [{"kind": "log", "timestamp": now, "service": "usage", "level": "info", "message": f"m{i}"}
                  for i in range(count)]  # fmt: skip
        events += [{"kind": "log", "service": "usage"}] * bad  # refused: not counted
        r = requests.post(f"{collector_url}/v1/events", json=events,
                          headers={"Authorization": f"Bearer {key['secret']}"}, timeout=10)  # fmt: skip
        assert r.status_code == 202 and r.json()["accepted"] == count, r.text

    def events_24h() -> int | None:
        listed = browser.get(f"{web_url}/api/v1/keys")
        check(document, "GET", "/api/v1/keys", listed, 200)
        return next(k["events_24h"] for k in listed.json()["keys"] if k["id"] == key["key"]["id"])

    assert events_24h() == 0
    send(3, bad=2)
    send(4)
    assert events_24h() == 7
    page = browser.get(f"{web_url}/keys")
    assert page.status_code == 200 and key["key"]["name"] in page.text and ">7</td>" in page.text

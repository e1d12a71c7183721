"""The dashboards' door, tried route by route from the Flask URL map: nobody anonymous gets in, a viewer
changes nothing, a mutation without its CSRF token is refused, sessions and tokens end when they must, and
login abuse is stopped and reported as security events in PostgreSQL."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
import requests

from access import accounts
from access.audit import Actor
from dashboards.app import create_app
from dashboards.security import MUTATING
from dashboards.sessions import COOKIE_NAME
from tests.integration.conftest import eventually
from tests.integration.web.conftest import PASSWORD, csrf_of, page_csrf, serve_app, sign_in
from warehouse import postgres

pytestmark = pytest.mark.integration

PUBLIC = {"auth.login", "ops.healthz", "ops.prometheus_metrics", "static", "assets.plotly_js"}


def _routes(app, *, mutating: bool | None = None):
    """(endpoint, method, concrete path) of every route, path parameters filled with 999999."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        path = re.sub(r"<(?:\w+:)?\w+>", "999999", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if mutating is None or (method in MUTATING) == mutating:
                yield rule.endpoint, method, path


@pytest.fixture(scope="module")
def app(web_settings):
    return create_app(web_settings)


def test_anonymous_is_refused_everywhere_but_login_health_and_assets(app, web_url):
    for endpoint, method, path in _routes(app):
        r = requests.request(method, web_url + path, allow_redirects=False, timeout=10)
        if path.startswith("/api/"):
            assert r.status_code == 401, (endpoint, method, r.status_code)
            assert r.headers["Content-Type"].startswith("application/json") and "error" in r.json()
        else:
            assert r.status_code == 302 and "/login?next=" in r.headers["Location"], (endpoint, method)
    for path in ("/login", "/healthz", "/metrics", "/static/lookout.css", "/static/lookout.js"):
        assert requests.get(web_url + path, timeout=10).status_code == 200, path


def test_a_viewer_cannot_mutate_anything_and_the_refusals_are_audited(app, web_url, make_person):
    viewer = make_person("viewer")  # its own, so the audit rows below are this test's alone
    browser = sign_in(web_url, viewer)
    token = page_csrf(browser, web_url)
    tried = []
    for endpoint, method, path in _routes(app, mutating=True):
        if app.view_functions[endpoint].access.self_service:
            continue
        r = browser.request(
            method, web_url + path, headers={"X-CSRFToken": token}, data={"csrf_token": token}, timeout=10
        )
        assert r.status_code == 403, (endpoint, method, r.status_code, r.text[:200])
        tried.append(f"{method} {endpoint}")
    assert len(tried) >= 12
    with postgres.connect(web_settings_dsn(app)) as conn:
        denied = conn.execute(
            "SELECT DISTINCT action FROM admin_audit_logs WHERE platform AND outcome = 'denied' AND admin_id = %s",
            (viewer.email,),
        ).fetchall()
    assert {row["action"] for row in denied} == set(tried)


def web_settings_dsn(app) -> str:
    return app.config["LOOKOUT_SETTINGS"].postgres_dsn


def test_mutations_without_a_csrf_token_are_refused(app, web_url, admin):
    browser = sign_in(web_url, admin)
    for endpoint, method, path in _routes(app, mutating=True):
        r = browser.request(method, web_url + path, json={}, timeout=10)
        assert r.status_code == 400 and "CSRF" in r.text, (endpoint, method, r.status_code)
    # The refused key creation created nothing.
    name = f"csrf-{uuid.uuid4().hex[:6]}"
    assert browser.post(f"{web_url}/keys", data={"name": name, "scopes": "log"}, timeout=10).status_code == 400
    assert browser.post(f"{web_url}/api/v1/keys", json={"name": name, "scopes": ["log"]}, timeout=10).status_code == 400
    assert name not in browser.get(f"{web_url}/keys?all=1", timeout=10).text
    # Login itself needs the token too (no login CSRF).
    r = requests.post(f"{web_url}/login", data={"email": admin.email, "password": admin.password}, timeout=10)
    assert r.status_code == 400


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_cannot_send_the_browser_off_site(web_url, admin, target):
    browser = requests.Session()
    page = browser.get(f"{web_url}/login", params={"next": target}, timeout=10)
    r = browser.post(
        f"{web_url}/login",
        data={"email": admin.email, "password": admin.password, "csrf_token": csrf_of(page.text), "next": target},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_next_keeps_a_local_page(web_url, admin):
    browser = requests.Session()
    first = browser.get(f"{web_url}/audit?action=api_key.create", timeout=10)
    assert first.url.startswith(f"{web_url}/login?next=")
    r = browser.post(
        f"{web_url}/login",
        data={
            "email": admin.email,
            "password": admin.password,
            "csrf_token": csrf_of(first.text),
            "next": "/audit?action=api_key.create",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert r.headers["Location"] == "/audit?action=api_key.create"


def test_the_session_cookie_flags_and_security_headers(web_url):
    r = requests.get(f"{web_url}/login", timeout=10)
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # LOOKOUT_PUBLIC_URL is not https here
    assert len(r.cookies[COOKIE_NAME]) >= 40  # the random id, nothing else
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["Referrer-Policy"] == "same-origin" and r.headers["X-Content-Type-Options"] == "nosniff"
    # Nothing the CSP would block: no inline script, no inline event handler.
    assert re.findall(r"<script[^>]*>", r.text) == ['<script src="/static/lookout.js" defer>']
    assert not re.search(r"\son[a-z]+=", r.text)


def test_cookies_are_secure_behind_https(web_settings):
    app = create_app(web_settings.with_(public_url="https://lookout.example.com"))
    url, stop = serve_app(app)
    try:
        cookie = requests.get(f"{url}/login", timeout=10).headers["Set-Cookie"]
    finally:
        stop()
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_pre_login_session_id_is_useless_after_login(web_url, admin):
    attacker_view = requests.get(f"{web_url}/login", timeout=10)
    planted = attacker_view.cookies[COOKIE_NAME]
    victim = requests.Session()
    victim.cookies.set(COOKIE_NAME, planted)
    answer = victim.post(
        f"{web_url}/login",
        data={"email": admin.email, "password": admin.password, "csrf_token": csrf_of(attacker_view.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    fresh = answer.cookies[COOKIE_NAME]
    assert fresh != planted
    signed_in = requests.get(f"{web_url}/keys", cookies={COOKIE_NAME: fresh}, allow_redirects=False, timeout=10)
    assert signed_in.status_code == 200
    stolen = requests.get(f"{web_url}/keys", cookies={COOKIE_NAME: planted}, allow_redirects=False, timeout=10)
    assert stolen.status_code == 302 and "/login" in stolen.headers["Location"]


def test_logout_and_sign_out_everywhere_end_sessions_on_the_server(web_url, make_person):
    person = make_person("viewer")
    first, second = sign_in(web_url, person), sign_in(web_url, person)
    kept_cookie = first.cookies[COOKIE_NAME]
    r = first.post(f"{web_url}/logout", data={"csrf_token": page_csrf(first, web_url)}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    replay = requests.get(f"{web_url}/api/v1/me", cookies={COOKIE_NAME: kept_cookie}, timeout=10)
    assert replay.status_code == 401
    assert second.get(f"{web_url}/api/v1/me", timeout=10).status_code == 200

    third = sign_in(web_url, person)
    r = third.post(f"{web_url}/logout/everywhere", data={"csrf_token": page_csrf(third, web_url)}, timeout=10)
    assert "Signed out everywhere" in r.text
    assert second.get(f"{web_url}/api/v1/me", timeout=10).status_code == 401
    assert third.get(f"{web_url}/api/v1/me", timeout=10).status_code == 401


def test_role_change_and_disabling_bite_at_once_on_sessions_and_tokens(web_url, web_settings, make_person, admin):
    person = make_person("admin")
    browser = sign_in(web_url, person)
    token = browser.post(
        f"{web_url}/api/v1/tokens",
        json={"name": "script"},
        headers={"X-CSRFToken": page_csrf(browser, web_url)},
        timeout=10,
    ).json()["secret"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{web_url}/api/v1/accounts", headers=bearer, timeout=10).status_code == 200

    accounts.set_role(web_settings, person.id, "viewer", Actor("tests"))
    assert browser.get(f"{web_url}/api/v1/me", timeout=10).status_code == 401  # its sessions ended
    assert requests.get(f"{web_url}/api/v1/accounts", headers=bearer, timeout=10).status_code == 403
    assert requests.get(f"{web_url}/api/v1/me", headers=bearer, timeout=10).json()["account"]["role"] == "viewer"

    again = sign_in(web_url, person)
    accounts.set_disabled(web_settings, person.id, True, Actor("tests"))
    assert again.get(f"{web_url}/api/v1/me", timeout=10).status_code == 401
    assert requests.get(f"{web_url}/api/v1/me", headers=bearer, timeout=10).status_code == 401
    refused = requests.Session()
    page = refused.get(f"{web_url}/login", timeout=10)
    r = refused.post(
        f"{web_url}/login",
        data={"email": person.email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        timeout=10,
    )
    assert r.status_code == 401


def _security_events(dsn: str, email: str) -> list[str]:
    with postgres.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_type FROM security_events WHERE service = 'lookout' AND metadata->>'email' = %s "
            "ORDER BY timestamp",
            (email,),
        ).fetchall()
    return [r["event_type"] for r in rows]


def _try_login(url: str, email: str, password: str) -> requests.Response:
    browser = requests.Session()
    page = browser.get(f"{url}/login", timeout=10)
    return browser.post(
        f"{url}/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        allow_redirects=False,
        timeout=10,
    )


def test_five_wrong_passwords_lock_the_account_and_reach_postgres_as_security_events(
    web_url, web_settings, make_person
):
    person = make_person("viewer")
    answers = [_try_login(web_url, person.email, "wrong password number x") for _ in range(5)]
    assert [a.status_code for a in answers] == [401] * 5
    locked = _try_login(web_url, person.email, person.password)
    assert locked.status_code == 401  # the right password, but locked
    unknown = _try_login(web_url, f"nobody-{uuid.uuid4().hex[:6]}@example.com", "whatever password")
    # The same words whether the account exists, is locked or the password is wrong.
    messages = {re.search(r'role="alert">([^<]+)<', a.text).group(1) for a in [*answers, locked, unknown]}
    assert len(messages) == 1

    events = eventually(
        # The six failed logins and the lock travel as separate events; wait for all of them.
        lambda: (e := _security_events(web_settings.postgres_dsn, person.email))
        and "account_locked" in e
        and e.count("failed_login") >= 6
        and e,
        timeout_s=30,
    )
    assert events.count("failed_login") == 6 and events.count("account_locked") == 1
    with postgres.connect(web_settings.postgres_dsn) as conn:
        row = conn.execute(
            "SELECT ip_address::text AS ip, user_agent, severity FROM security_events "
            "WHERE event_type = 'account_locked' AND metadata->>'email' = %s",
            (person.email,),
        ).fetchone()
        account = conn.execute("SELECT locked_until > now() AS locked FROM accounts WHERE id = %s", (person.id,))
        assert account.fetchone()["locked"]
    assert row["ip"].startswith("127.0.0.1") and row["user_agent"].startswith("python-requests")
    assert row["severity"] == "medium"


def test_one_address_is_throttled_whatever_the_account_and_it_reaches_postgres(web_settings, node):
    settings = web_settings.with_(login_ip_max_attempts=3, login_ip_window_s=60)
    import redis

    redis.Redis.from_url(settings.redis_url).delete("lookout:login-throttle:127.0.0.1")
    url, stop = serve_app(create_app(settings))
    email = f"throttle-{uuid.uuid4().hex[:6]}@example.com"
    try:
        statuses = [_try_login(url, email, "wrong password again").status_code for _ in range(5)]
        refused = _try_login(url, email, "wrong password again")
    finally:
        stop()
        redis.Redis.from_url(settings.redis_url).delete("lookout:login-throttle:127.0.0.1")
    assert statuses == [401, 401, 401, 429, 429]
    assert int(refused.headers["Retry-After"]) > 0 and "Too many sign-in attempts" in refused.text
    events = eventually(
        lambda: (e := _security_events(settings.postgres_dsn, email)) and "login_throttled" in e and e, timeout_s=30
    )
    assert events.count("login_throttled") == 1 and events.count("failed_login") == 3


def test_no_secret_reaches_logs_audit_rows_or_error_bodies(web_url, web_settings, admin, caplog):
    caplog.set_level(logging.INFO)
    for ours in ("lookout", "access", "dashboards", "app", "waitress"):
        caplog.set_level(logging.DEBUG, logger=ours)
    browser = sign_in(web_url, admin)
    headers = {"X-CSRFToken": page_csrf(browser, web_url)}
    key = browser.post(f"{web_url}/api/v1/keys", json={"name": f"s-{uuid.uuid4().hex[:6]}", "scopes": ["log"]},
                       headers=headers, timeout=10).json()  # fmt: skip
    token = browser.post(f"{web_url}/api/v1/tokens", json={"name": f"t-{uuid.uuid4().hex[:6]}"},
                         headers=headers, timeout=10).json()  # fmt: skip
    password = f"pw-{uuid.uuid4().hex}"
    email = f"s-{uuid.uuid4().hex[:6]}@example.com"
    created = browser.post(f"{web_url}/api/v1/accounts", json={"email": email, "role": "viewer", "password": password},
                           headers=headers, timeout=10)  # fmt: skip
    assert created.status_code == 201
    weak = browser.post(f"{web_url}/api/v1/accounts", json={"email": "w@example.com", "role": "viewer",
                        "password": "tiny-secret"}, headers=headers, timeout=10)  # fmt: skip
    assert weak.status_code == 400 and "tiny-secret" not in weak.text
    wrong = _try_login(web_url, email, "a-wrong-guess-1234")
    assert "a-wrong-guess-1234" not in wrong.text
    secrets = [key["secret"], token["secret"], password, "a-wrong-guess-1234", "tiny-secret"]
    with postgres.connect(web_settings.postgres_dsn) as conn:
        audit_text = str(conn.execute("SELECT * FROM admin_audit_logs WHERE platform").fetchall())
        events_text = str(conn.execute("SELECT * FROM security_events").fetchall())
    for secret in secrets:
        assert secret not in audit_text and secret not in events_text and secret not in caplog.text
    assert key["secret"][:10] in audit_text  # the prefix is recorded, so the check above looked at the right rows

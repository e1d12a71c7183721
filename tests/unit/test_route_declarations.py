"""Every route of the dashboards declares its access, and the OpenAPI document covers the JSON API.

Building the app opens no connection, so this runs without servers; the
integration tests (tests/integration/web/test_security.py) then try every route.
"""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator

from dashboards.app import create_app
from dashboards.security import MUTATING
from lookout.settings import Settings

PUBLIC = {"auth.login", "ops.healthz", "ops.prometheus_metrics", "static", "assets.plotly_js"}
SELF_SERVICE = {
    "auth.logout",
    "auth.logout_everywhere",
    "tokens.create",
    "tokens.revoke",
    "api.create_token",
    "api.revoke_token",
    # the explorer's saved views and last-used state: each account's own
    "api.create_view",
    "api.update_view",
    "api.delete_view",
    "api.remember_state",
}


@pytest.fixture(scope="module")
def app():
    return create_app(Settings.from_env({"LOOKOUT_PASSWORD_HASH_MEMORY_KIB": "1024"}))


def test_every_route_declares_its_access(app):
    undeclared = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "access", None) is None
    ]
    assert undeclared == []


def test_only_login_health_metrics_and_assets_are_public(app):
    public = {
        rule.endpoint for rule in app.url_map.iter_rules() if app.view_functions[rule.endpoint].access.role is None
    }
    assert public == PUBLIC


def test_self_service_mutations_are_exactly_the_callers_own_session_and_tokens(app):
    marked = {
        rule.endpoint for rule in app.url_map.iter_rules() if app.view_functions[rule.endpoint].access.self_service
    }
    assert marked == SELF_SERVICE
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint in SELF_SERVICE:
            continue
        if rule.methods & MUTATING:
            assert app.view_functions[rule.endpoint].access.role in ("operator", "admin"), rule.endpoint


def test_no_get_route_is_also_a_mutation_route(app):
    # A GET never changes state: a route answering GET handles POST only when it is the login form.
    mixed = [r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods and r.methods & MUTATING]
    assert mixed == ["auth.login"]


def test_the_openapi_document_covers_every_json_route_and_is_valid(app):
    document = app.extensions["lookout"].spec.document()
    assert document["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # <int:key_id>, <string:cursor> -> {name}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    roles = {op["x-required-role"] for item in document["paths"].values() for op in item.values()}
    assert roles <= {"viewer", "operator", "admin"}

"""The collector's OpenAPI document, without servers: it documents exactly the routes the app has, it is
OpenAPI that schemathesis can load, and its event schemas say what the contract says."""

from __future__ import annotations

import time

import schemathesis
from jsonschema import Draft202012Validator

from collector import openapi
from collector.app import create_app
from lookout.contract import KINDS, InvalidEvent, validate_event
from lookout.settings import Settings
from tests.unit.contract_samples import MINIMAL

SETTINGS = Settings.from_env({})
DOCUMENT = openapi.document(SETTINGS)
_AUTOMATIC = {"HEAD", "OPTIONS"}  # Flask adds them to every GET route


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]})


def test_every_route_of_the_app_is_documented_and_nothing_else():
    app = create_app(SETTINGS, services=object())  # type: ignore[arg-type] - routes only, no connections
    routed = {
        (rule.rule.replace("<index>", "{index}").replace("<service>", "{service}"), method.lower())
        for rule in app.url_map.iter_rules() if rule.endpoint != "static"
        for method in rule.methods - _AUTOMATIC
    }
    documented = {(path, method) for path, methods in DOCUMENT["paths"].items() for method in methods}
    assert documented - {("/", "head")} == routed


def test_schemathesis_loads_every_operation_and_each_declares_its_credentials():
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in DOCUMENT["paths"].values())
    public = {"/healthz", "/readyz", "/metrics", "/openapi.json"}
    for path, methods in DOCUMENT["paths"].items():
        for operation in methods.values():
            assert (operation["security"] == []) == (path in public), path


def test_the_limits_come_from_the_settings():
    small = openapi.document(SETTINGS.with_(max_events_per_request=7))
    batch = small["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    assert batch["maxItems"] == 7


def test_every_event_the_contract_accepts_matches_its_kind_schema_and_the_event_schema():
    now = int(time.time() * 1000)
    for kind in KINDS:
        event = {"kind": kind, "timestamp": now, "service": "payments", **MINIMAL[kind]}
        validate_event(event, now)
        assert list(_validator(openapi._schema_name(kind)).iter_errors(event)) == []
        assert list(_validator("Event").iter_errors(event)) == []


def test_a_kind_schema_refuses_what_the_contract_refuses():
    now = int(time.time() * 1000)
    for kind in KINDS:
        for broken in ({"service": "has space"}, {"kind": "nope"}, {"timestamp": "yesterday"}):
            event = {"kind": kind, "timestamp": now, "service": "payments", **MINIMAL[kind], **broken}
            try:
                validate_event(event, now)
                raise AssertionError(f"the contract accepted {event}")
            except InvalidEvent:
                pass
            assert list(_validator(openapi._schema_name(kind)).iter_errors(event)), event


def test_real_answers_match_their_declared_schemas():
    ok = {"accepted": 2, "rejected": 1, "errors": [{"index": 1, "error": "timestamp: required"}]}
    assert list(_validator("IngestResult").iter_errors(ok)) == []
    assert list(_validator("Error").iter_errors({"error": "invalid or revoked API key", "request_id": "ab"})) == []
    assert list(_validator("Error").iter_errors({"error": ""})), "an error names what is wrong"

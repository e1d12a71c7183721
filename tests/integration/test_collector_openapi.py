"""The collector's OpenAPI document against the collector itself, in process, with its real Kafka,
PostgreSQL and Redis: schemathesis sends generated requests (well-formed and not) to every documented
operation and checks that none is answered 5xx, that every answer matches its declared status, content
type, headers and schema, and that no operation that declares credentials answers without them.
"""

from __future__ import annotations

import base64

import orjson
import pytest
import schemathesis
from flask import Flask
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from collector import openapi
from collector.app import create_app
from lookout.settings import Settings
from tests.integration.api_fuzz import fuzz_every_operation

pytestmark = pytest.mark.integration

# Whether a batch's events are accepted depends on their content (the contract), not on the document:
# a refused event is an entry of a 202's errors, so neither check can judge an ingest answer.
EXCLUDED = [negative_data_rejection, positive_data_acceptance]


@pytest.fixture(scope="module")
def collector_app(settings: Settings) -> Flask:
    # A small body limit keeps generated bodies quick to send and lets the 413 paths be reached.
    return create_app(settings.with_(max_body_bytes=64 * 1024, max_events_per_request=50))


def test_every_operation_answers_as_documented(collector_app: Flask, ingest_key: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", collector_app)
    ran, failures = fuzz_every_operation(
        schema,
        lambda case: case.call_and_validate(headers={"Authorization": f"Bearer {ingest_key}"},
                                            excluded_checks=EXCLUDED),
        max_examples=8,
    )
    assert failures == [], "\n\n".join(failures)
    documented = {f"{method.upper()} {path}" for path, methods in schema.raw_schema["paths"].items()
                  for method in methods}
    # schemathesis leaves out the route it read the document from
    assert set(ran) == documented - {"GET /openapi.json"}


def test_the_served_document_is_the_one_built_from_the_settings(collector_app: Flask, settings: Settings) -> None:
    served = collector_app.test_client().get("/openapi.json")
    assert served.status_code == 200 and served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.json == orjson.loads(orjson.dumps(openapi.document(collector_app.config["LOOKOUT_SETTINGS"])))
    routed = {rule.rule.replace("<index>", "{index}").replace("<service>", "{service}")
              for rule in collector_app.url_map.iter_rules() if rule.endpoint != "static"}
    assert routed == set(served.json["paths"])


@pytest.mark.parametrize("path", ["/_bulk", "/loki/api/v1/push", "/v1/json"])
@pytest.mark.parametrize("authorization", ["Basic \x80", "ApiKey \x80\x81",
                                           "Basic " + base64.b64encode(b"\xff:k").decode()])
def test_a_credential_past_ascii_is_a_401_not_a_500(collector_app: Flask, path: str, authorization: str) -> None:
    # Once 500: base64 refused the non-ASCII header with a ValueError nobody caught (found by tests/fuzz).
    answer = collector_app.test_client().post(path, data=b"{}", headers={
        "Authorization": authorization, "Content-Type": "application/json"})
    assert answer.status_code == 401, answer.data


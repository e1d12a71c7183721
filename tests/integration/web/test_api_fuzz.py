"""The dashboards' JSON API fuzzed from its own OpenAPI document: every operation the served document lists
(read when the test runs, so routes added later are covered without a change here) gets generated
requests, well-formed and not, with an admin's personal token: no 5xx, every answer as declared (status,
content type, schema), and no operation answering a request whose credentials were taken away or
replaced by invalid ones.

The generated requests create, change and revoke accounts, keys and tokens with arbitrary ids, so they go
to an app on a PostgreSQL database of their own: the session's keys and accounts, which other tests use,
are out of their reach.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from access import accounts, tokens
from access.audit import Actor
from app.stack import Stack
from dashboards.app import create_app
from lookout.settings import Settings
from tests.integration.api_fuzz import fuzz_every_operation
from tests.integration.web.conftest import PASSWORD, serve_app
from warehouse.migrate import migrate_postgres

pytestmark = pytest.mark.integration

# Some rules are checked past the declarations (a token's expiry must be in the future, a name must be
# free, PATCH needs one of its optional fields), so a schema-valid request may
# rightly get a 400: every other check runs, negative_data_rejection (schema-invalid -> 4xx) included.
EXCLUDED = [positive_data_acceptance]


@pytest.fixture(scope="module")
def fuzz_settings(stack: Stack, web_settings: Settings) -> Settings:
    dsn = stack.postgres.ensure_database(f"lookout_fuzz_{uuid.uuid4().hex[:8]}")
    migrate_postgres(dsn)
    return web_settings.with_(postgres_dsn=dsn)


@pytest.fixture(scope="module")
def fuzz_url(node, fuzz_settings: Settings) -> Iterator[str]:
    url, stop = serve_app(create_app(fuzz_settings))
    yield url
    stop()


@pytest.fixture(scope="module")
def admin(fuzz_settings: Settings) -> accounts.Account:
    return accounts.create(fuzz_settings, "fuzz-admin@example.com", PASSWORD, "admin", Actor("tests"))


@pytest.fixture(scope="module")
def bearer(fuzz_settings: Settings, admin: accounts.Account) -> dict[str, str]:
    secret = tokens.create(fuzz_settings, admin.id, "schemathesis", None, Actor("tests")).secret
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("email", ["a\x00@example.com", "a@exa\x07mple.com", "a\ud800@example.com"])
def test_an_email_with_nul_or_control_characters_is_a_400(fuzz_url: str, bearer: dict[str, str], email: str):
    # Once 500: PostgreSQL refuses NUL in text (found by the test below).
    answer = requests.post(f"{fuzz_url}/api/v1/accounts", json={"email": email, "role": "viewer", "password": PASSWORD},
                           headers=bearer, timeout=30)
    assert answer.status_code == 400, answer.text
    assert "email" in answer.json()["error"]


def test_every_operation_answers_as_documented(fuzz_url: str, fuzz_settings: Settings, admin: accounts.Account,
                                               bearer: dict[str, str]) -> None:
    document = requests.get(f"{fuzz_url}/api/v1/openapi.json", headers=bearer, timeout=30)
    assert document.status_code == 200, document.text
    schema = schemathesis.openapi.from_dict(document.json())

    def restore_admin() -> None:
        # A generated PATCH may demote or disable the fuzzing admin once another admin exists; put it back
        # before each operation, so every operation is also tried with working credentials.
        accounts.set_disabled(fuzz_settings, admin.id, False, Actor("tests"))
        accounts.set_role(fuzz_settings, admin.id, "admin", Actor("tests"))

    ran, failures = fuzz_every_operation(
        schema,
        lambda case: case.call_and_validate(base_url=fuzz_url, headers=bearer, excluded_checks=EXCLUDED),
        max_examples=5,
        before_operation=restore_admin,
    )
    assert {"GET /api/v1/me", "POST /api/v1/keys", "GET /api/v1/logs"} <= set(ran)
    assert len(ran) == sum(len(methods) for methods in document.json()["paths"].values())
    assert failures == [], "\n\n".join(failures)

"""Error answers leak nothing and carry the security headers. Flask's test client, no servers: these paths
touch neither Redis nor a database."""

from __future__ import annotations

import pytest

from dashboards.app import create_app
from dashboards.security import public
from lookout.settings import Settings


@pytest.fixture(scope="module")
def client():
    app = create_app(Settings.from_env({"LOOKOUT_PASSWORD_HASH_MEMORY_KIB": "1024"}))

    @app.get("/boom")
    @public
    def boom() -> str:
        raise RuntimeError("database password is hunter2 at /srv/secret/config.py")

    @app.get("/api/v1/boom")
    @public
    def api_boom() -> str:
        raise RuntimeError("hunter2")

    return app.test_client()


def test_a_crash_answers_500_naming_only_the_request_id(client):
    r = client.get("/boom", headers={"X-Request-ID": "req-123"})
    assert r.status_code == 500 and b"Something went wrong" in r.data and b"req-123" in r.data
    for leak in (b"hunter2", b"Traceback", b"RuntimeError", b"/srv/secret"):
        assert leak not in r.data
    api = client.get("/api/v1/boom")
    assert api.status_code == 500 and b"hunter2" not in api.data and "error" in api.get_json()


def test_not_found_is_a_page_for_browsers_and_json_for_the_api(client):
    page = client.get("/nowhere")
    assert page.status_code == 404 and b"There is nothing at this address." in page.data
    api = client.get("/api/v1/nowhere")
    assert api.status_code == 404 and api.get_json() == {"error": "There is nothing at this address."}


def test_every_answer_carries_the_security_headers(client):
    for path in ("/boom", "/nowhere", "/healthz", "/static/lookout.css"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["Referrer-Policy"] == "same-origin" and headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/healthz").headers["Cache-Control"] == "no-store"


def test_a_bad_request_id_header_is_replaced(client):
    r = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert r.headers["X-Request-ID"] != "<script>alert(1)</script>" and len(r.headers["X-Request-ID"]) == 32

"""The dashboards served as in the node (waitress), with accounts of each role and signed-in clients.

The node fixture runs the pipeline, so security events the app sends reach PostgreSQL.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests

from access import accounts
from access.audit import Actor
from app.node import waitress_server
from app.stack.base import find_free_port
from dashboards.app import create_app
from lookout.settings import Settings

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    password: str
    role: str


@pytest.fixture(scope="session")
def web_settings(settings: Settings) -> Settings:
    # Every test signs in from 127.0.0.1: the per-address throttle gets its own test with its own app.
    return settings.with_(login_ip_max_attempts=100_000, secret_key="test-secret-key")


def serve_app(app: object) -> tuple[str, Callable[[], None]]:
    port, socket_map = find_free_port(), {}
    server = waitress_server(app, socket_map, "127.0.0.1", port, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def stop() -> None:
        server.task_dispatcher.shutdown(timeout=5)
        for channel in list(socket_map.values()):
            channel.handle_close()
        thread.join(5)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="session")
def web_url(node, web_settings: Settings) -> Iterator[str]:
    url, stop = serve_app(create_app(web_settings))
    yield url
    stop()


@pytest.fixture(scope="session")
def make_person(web_settings: Settings) -> Callable[[str], Person]:
    def make(role: str) -> Person:
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        account = accounts.create(web_settings, email, PASSWORD, role, Actor("tests"))
        return Person(account.id, email, PASSWORD, role)

    return make


@pytest.fixture(scope="session")
def admin(make_person) -> Person:
    return make_person("admin")


@pytest.fixture(scope="session")
def viewer(make_person) -> Person:
    return make_person("viewer")


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(url: str, person: Person, password: str | None = None) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{url}/login", timeout=10)
    answer = browser.post(
        f"{url}/login",
        data={"email": person.email, "password": password or person.password, "csrf_token": csrf_of(page.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    return browser


def page_csrf(browser: requests.Session, url: str) -> str:
    return csrf_of(browser.get(f"{url}/tokens", timeout=10).text)

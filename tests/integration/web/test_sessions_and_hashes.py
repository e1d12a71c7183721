"""Session lifetimes against the real Redis with an injected clock, and password hashes upgraded at sign-in."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
import redis

from access import db
from access.audit import Actor, entry
from access.sessions import SessionStore, StoredSession, new_id, ref
from tests.integration.web.conftest import sign_in
from warehouse import postgres
from warehouse.queries import audit

pytestmark = pytest.mark.integration


@pytest.fixture
def store(web_settings) -> SessionStore:
    return SessionStore(redis.Redis.from_url(web_settings.redis_url), idle_s=60, absolute_s=3600)


def test_a_session_ends_when_idle_and_at_its_absolute_lifetime(store):
    now = time.time()
    sid = new_id()
    assert store.save(sid, StoredSession(now, 41, {"_user_id": "41"}), now=now) == 60
    assert store.load(sid, now=now + 30).data == {"_user_id": "41"}
    # Near the end of its lifetime, the idle timeout is cut to what is left of it.
    assert store.save(sid, StoredSession(now, 41, {}), now=now + 3590) == 10
    assert store.load(sid, now=now + 3600) is None
    assert store.load(sid, now=now) is None  # deleted, not merely hidden


def test_idle_timeout_is_redis_expiry(store, web_settings):
    sid = new_id()
    store.save(sid, StoredSession(time.time(), None, {"csrf_token": "x"}))
    ttl = redis.Redis.from_url(web_settings.redis_url).ttl("lookout:session:" + ref(sid))
    assert 0 < ttl <= 60


def test_ending_an_accounts_sessions_keeps_the_one_asked_to_keep(store):
    now = time.time()
    kept, ended = new_id(), new_id()
    for sid in (kept, ended):
        store.save(sid, StoredSession(now, 977, {"_user_id": "977"}), now=now)

    assert store.delete_for_account(977, keep_ref=ref(kept)[:16]) == 1
    assert store.load(kept) is not None and store.load(ended) is None


def _scrypt(password: str) -> str:
    salt = b"fedcba9876543210"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_an_old_scrypt_password_signs_in_and_is_rehashed_with_argon2id(web_url, web_settings, make_person):
    person = make_person("viewer")
    with db.transaction(web_settings) as conn:
        conn.execute("UPDATE accounts SET password_hash = %s WHERE id = %s", (_scrypt(person.password), person.id))
        audit.record(conn, entry(Actor("tests"), "account.reset_password", "account", str(person.id)))
    sign_in(web_url, person)
    with postgres.connect(web_settings.postgres_dsn) as conn:
        stored = conn.execute("SELECT password_hash FROM accounts WHERE id = %s", (person.id,)).fetchone()
        rehash = conn.execute(
            "SELECT admin_id, old_values, new_values FROM admin_audit_logs "
            "WHERE platform AND action = 'account.password_rehash' AND resource_id = %s",
            (str(person.id),),
        ).fetchone()
    assert stored["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert rehash["admin_id"] == person.email
    assert rehash["old_values"] == {"algorithm": "scrypt n=16384,r=8,p=1"}
    assert rehash["new_values"] == {"algorithm": "argon2id m=65536,t=3,p=4"}
    sign_in(web_url, person)  # and the new hash verifies


def test_a_full_redis_answers_503_not_500_and_pages_return_once_it_has_room(web_url, web_settings, viewer):
    browser = sign_in(web_url, viewer)
    client = redis.Redis.from_url(web_settings.redis_url)
    before = client.config_get("maxmemory")["maxmemory"], client.config_get("maxmemory-policy")["maxmemory-policy"]
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")  # every write is refused with OOM; reads still work
    try:
        full = browser.get(f"{web_url}/api/v1/me", timeout=10)
    finally:
        client.config_set("maxmemory", before[0])
        client.config_set("maxmemory-policy", before[1])
    assert full.status_code == 503, full.text
    assert full.headers["Retry-After"] == "5"
    assert "Redis refused the write" in full.json()["error"]
    assert browser.get(f"{web_url}/api/v1/me", timeout=10).json()["account"]["email"] == viewer.email

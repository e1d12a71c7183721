"""Checking a login: the address throttle, the account lock, the password, and the security events.

Every refusal gives the same message whether or not the email exists, and an
unknown email still costs one password check, so neither the answer nor its
timing tells an attacker which accounts exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from access import db, lockout, passwords
from access.accounts import password_hasher
from access.audit import Actor, Change, audited
from access.security_events import SecurityEvents, login_event
from lookout.settings import Settings
from warehouse.queries import accounts
from warehouse.queries.accounts import Account

REFUSED = "Wrong email or password, or the account is locked for a while."
THROTTLED = "Too many sign-in attempts from your address. Try again in {minutes} min."


@dataclass(frozen=True)
class Client:
    ip: str | None
    user_agent: str
    endpoint: str


@dataclass(frozen=True)
class LoginResult:
    account: Account | None
    message: str = ""
    retry_after_s: int = 0


class LoginService:
    def __init__(self, settings: Settings, client: redis.Redis, events: SecurityEvents) -> None:
        self._settings = settings
        self._events = events
        self._throttle = lockout.LoginThrottle(client, settings.login_ip_max_attempts, settings.login_ip_window_s)
        self._hasher = password_hasher(settings)
        # Checked against when the email is unknown, so that answer takes as long as a wrong password.
        self._decoy = passwords.hash_password("decoy password, never valid", self._hasher)

    def login(self, email: str, password: str, client: Client) -> LoginResult:
        email = email.strip()[:254]
        throttle = self._throttle.hit(client.ip or "unknown")
        if not throttle.allowed:
            if throttle.first_refusal:
                self._emit("login_throttled", client, None, email, "throttled", {"attempts": throttle.attempts})
            minutes = -(-throttle.retry_after_s // 60)
            return LoginResult(None, THROTTLED.format(minutes=minutes), throttle.retry_after_s)
        now = datetime.now(UTC)
        with db.transaction(self._settings) as conn:
            found = accounts.find_by_email(conn, email, for_update=True)
            if found is None:
                passwords.verify(self._decoy, password, self._hasher)
                self._emit("failed_login", client, None, email, "", {"reason": "unknown_email"})
                return LoginResult(None, REFUSED)
            account, stored = found
            state = lockout.LockState(account.failed_login_attempts, account.locked_until)
            verified = passwords.verify(stored, password, self._hasher)
            signed_in = verified.ok and account.active and not state.locked(now)
            locked = False
            if signed_in:
                accounts.record_login(conn, account.id)
            elif not verified.ok and not state.locked(now):
                state, locked = lockout.after_failure(
                    state, now, self._settings.login_max_failures, self._settings.login_lock_s
                )
                accounts.record_failure(conn, account.id, state.failures, state.locked_until)
        # After the commit: the rehash is its own audited transaction and needs the row lock released.
        if signed_in:
            if verified.new_hash is not None:
                self._rehash(account, stored, verified.new_hash, client)
            return LoginResult(account)
        reason = "wrong_password" if not verified.ok else ("disabled" if not account.active else "locked")
        self._emit("failed_login", client, account.id, email, "", {"reason": reason})
        if locked:
            self._emit("account_locked", client, account.id, email, "locked", {"lock_s": self._settings.login_lock_s})
        return LoginResult(None, REFUSED)

    def _rehash(self, account: Account, stored: str, new_hash: str, client: Client) -> None:
        actor = Actor(account.email, account.id, client.ip, client.user_agent)

        def mutate(conn: object) -> Change[None]:
            accounts.set_password_hash(conn, account.id, new_hash)  # type: ignore[arg-type]
            old, new = passwords.algorithm(stored), passwords.algorithm(new_hash)
            return Change(None, str(account.id), old={"algorithm": old}, new={"algorithm": new})

        audited(self._settings, actor, "account.password_rehash", "account", mutate)

    def _emit(
        self, event_type: str, client: Client, account_id: int | None, email: str, action: str, indicators: dict
    ) -> None:
        self._events.emit(
            login_event(
                event_type,
                ip=client.ip,
                user_agent=client.user_agent,
                endpoint=client.endpoint,
                account_id=account_id,
                email=email,
                action_taken=action,
                indicators=indicators,
            )
        )

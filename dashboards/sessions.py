"""Flask's session, kept server-side in Redis (access.sessions): the cookie holds only a random id.

Flask-Login and Flask-WTF keep their state (the account id, the CSRF token) in
this session. ``rotate()`` gives the session a new id at sign-in, so an id
planted or seen before sign-in is worth nothing after it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import redis
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from access.sessions import SessionStore, StoredSession, new_id

COOKIE_NAME = "lookout_session"
log = logging.getLogger("lookout.dashboards.sessions")


def bearer_token(request: Request) -> str | None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return presented.strip() if scheme.lower() == "bearer" and presented.strip() else None


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, data: dict[str, Any], sid: str | None, created_at: float, stateless: bool = False) -> None:
        def on_update(_: CallbackDict) -> None:
            self.modified = True

        super().__init__(data, on_update)
        self.sid = sid
        self.created_at = created_at
        self.modified = False
        self.rotated = False
        self.stateless = stateless  # a bearer-token request: no cookie is read or written

    def rotate(self) -> None:
        """Start afresh under a new id (the old id is deleted when the response is saved)."""
        self.rotated = True
        self.modified = True


class RedisSessionInterface(SessionInterface):
    def __init__(self, store: SessionStore, secure: bool) -> None:
        self.store = store
        self.secure = secure

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if bearer_token(request) is not None:
            return ServerSession({}, None, time.time(), stateless=True)
        sid = request.cookies.get(COOKIE_NAME)
        if sid and len(sid) <= 128:
            stored = self.store.load(sid)
            if stored is not None:
                return ServerSession(stored.data, sid, stored.created_at)
        return ServerSession({}, None, time.time())

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        if session.stateless:
            return
        try:
            self._save(session, response)
        except redis.RedisError as exc:
            # This runs after the view, past the app's error handlers: answer the 503 they would have given
            # (Redis full or down) rather than let Flask turn the exception into a 500.
            log.warning("cannot save the session", extra={"error": str(exc)})
            _unavailable(response)

    def _save(self, session: ServerSession, response: Response) -> None:
        old_sid = session.sid
        if session.rotated and old_sid:
            self.store.delete(old_sid)
            session.sid, session.created_at = None, time.time()
        if not session:
            if old_sid:  # cleared (sign-out): forget it on both sides
                self.store.delete(old_sid)
                response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="Lax", secure=self.secure)
            return
        new = session.sid is None
        sid = session.sid or new_id()
        account_id = session.get("_user_id")
        stored = StoredSession(session.created_at, int(account_id) if account_id else None, dict(session))
        if self.store.save(sid, stored) and (new or session.rotated):
            response.set_cookie(COOKIE_NAME, sid, path="/", httponly=True, samesite="Lax", secure=self.secure)
        response.vary.add("Cookie")


def _unavailable(response: Response) -> None:
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    response.mimetype = "application/json"
    response.set_data(orjson.dumps({"error": "sessions are unavailable (Redis refused the write); retry shortly"}))

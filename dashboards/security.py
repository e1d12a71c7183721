"""Who is asking, and may they: every route declares its access next to it, one hook enforces it.

A route is either ``@public`` or ``@requires(role)``. ``self_service`` marks the
few mutations any signed-in account may make on itself (sign out, its own
tokens); ``api_key_scope`` lets a scoped API key in (the logs API with
``query`` keys). A route without a declaration is refused with 500 and fails
the security tests, so a new route cannot slip through unguarded.

Callers are a browser session (Flask-Login over the Redis session, CSRF
required on mutations), a personal token or an API key (``Authorization:
Bearer``; no cookie is read then, so no CSRF applies).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Request, Response, abort, current_app, g, jsonify, redirect, request, session, url_for
from flask_login import UserMixin, current_user
from flask_wtf.csrf import CSRFProtect

from access import accounts, tokens
from access.audit import Actor, record_attempt, session_ref
from access.auth import ApiKeyAuthenticator, AuthUnavailable
from access.auth import Principal as KeyPrincipal
from dashboards.sessions import bearer_token
from warehouse.queries.accounts import Account

F = TypeVar("F", bound=Callable[..., Any])
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Access:
    role: str | None  # None: public
    self_service: bool = False
    api_key_scope: str | None = None


def public(view: F) -> F:
    view.access = Access(None)  # type: ignore[attr-defined]
    return view


def requires(role: str, *, self_service: bool = False, api_key_scope: str | None = None) -> Callable[[F], F]:
    accounts.check_role(role)

    def mark(view: F) -> F:
        view.access = Access(role, self_service, api_key_scope)  # type: ignore[attr-defined]
        return view

    return mark


def declared_access(endpoint: str | None) -> Access | None:
    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, "access", None)


class User(UserMixin):
    """An account as Flask-Login sees it."""

    def __init__(self, account: Account, token_id: str = "") -> None:
        self.account = account
        self.token_id = token_id

    def get_id(self) -> str:
        return str(self.account.id)

    @property
    def role(self) -> str:
        return self.account.role


def actor() -> Actor:
    """The audit trail's view of the caller of this request."""
    user = current_user
    key: KeyPrincipal | None = g.get("api_key")
    if user.is_authenticated:
        name, account_id = user.account.email, user.account.id
    else:
        name, account_id = (f"api_key:{key.name}", None) if key else ("anonymous", None)
    sid = getattr(session, "sid", None)
    return Actor(
        name=name,
        account_id=account_id,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        session_ref=session_ref(sid) if sid else "",
        token_id=(user.token_id if user.is_authenticated else "") or (f"api_key:{key.key_id}" if key else ""),
        request_id=g.request_id,
    )


def wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def load_token_user(req: Request) -> User | None:
    """Flask-Login's request loader: a personal token in ``Authorization: Bearer``."""
    presented = bearer_token(req)
    if presented is None or not tokens.is_personal_token(presented):
        return None
    found = tokens.authenticate(current_app.config["LOOKOUT_SETTINGS"], presented)
    return User(found[0], f"token:{found[1].id}") if found else None


def install(app: Any, authenticator: ApiKeyAuthenticator, csrf: CSRFProtect) -> None:
    """The hooks that run before every view: request id, bearer authentication, access, CSRF."""

    @app.before_request
    def _request_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    @app.before_request
    def _enforce() -> Response | None:
        if request.endpoint is None:
            return None  # no such route: Flask answers 404
        rule = declared_access(request.endpoint)
        if rule is None:
            current_app.logger.error("route %s declares no access", request.endpoint)
            return json_error(500, "this route declares no access rule") if wants_json() else abort(500)
        if rule.role is None:
            if request.method in MUTATING:
                csrf.protect()
            return None
        presented = bearer_token(request)
        if presented is not None:
            refused = _bearer(presented, rule, authenticator)
            if refused is not None:
                return refused
        elif not current_user.is_authenticated:
            if wants_json():
                return json_error(
                    401, "sign in or send 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
                )
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if current_user.is_authenticated and not accounts.role_allows(current_user.role, rule.role):
            return _deny(f"needs the {rule.role} role")
        if request.method in MUTATING and presented is None:
            csrf.protect()
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if not request.path.startswith("/static/"):
            # Pages show secrets once (a new key): no cache may keep them.
            response.headers["Cache-Control"] = "no-store"
        return response


def _bearer(presented: str, rule: Access, authenticator: ApiKeyAuthenticator) -> Response | None:
    if tokens.is_personal_token(presented):
        # Flask-Login's request loader (load_token_user) has read it; the session is stateless here.
        if not current_user.is_authenticated:
            return json_error(401, "invalid, expired or revoked token", {"WWW-Authenticate": "Bearer"})
        return None
    try:
        key = authenticator.authenticate(presented)
    except AuthUnavailable:
        return json_error(503, "cannot verify API keys right now", {"Retry-After": "5"})
    if key is None:
        return json_error(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
    g.api_key = key
    if rule.api_key_scope is None or rule.api_key_scope not in key.scopes:
        needed = f"the '{rule.api_key_scope}' scope" if rule.api_key_scope else "a personal token or a session"
        return _deny(f"this API key lacks {needed}")
    return None


def _deny(reason: str) -> Response:
    record_attempt(
        current_app.config["LOOKOUT_SETTINGS"],
        actor(),
        f"{request.method} {request.endpoint}",
        "route",
        request.path,
        "denied",
        reason,
    )
    if wants_json():
        return json_error(403, f"forbidden: {reason}")
    abort(403)

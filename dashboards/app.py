"""The dashboards app: admin pages and the JSON API over the warehouse.

Built with an app factory (as in Flask's tutorial), one blueprint per area; in
single-node mode it runs in the node process under waitress, which owns the
one chDB engine. Access: dashboards/security.py; sessions: dashboards/sessions.py.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
from dataclasses import dataclass

import redis
from clickhouse_connect.driver.client import Client
from flask import Flask, Response, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from prometheus_client import CollectorRegistry
from werkzeug.exceptions import HTTPException

from access.accounts import role_allows
from access.auth import ApiKeyAuthenticator
from access.errors import AccessError
from access.login import LoginService
from access.security_events import KafkaSecurityEvents, SecurityEvents
from access.sessions import SessionStore
from dashboards import navigation, security
from dashboards.api_spec import ApiSpec, BadRequest
from dashboards.diff import changes
from dashboards.panel_cache import PanelCache
from dashboards.params import BadParameter
from dashboards.sessions import RedisSessionInterface
from dashboards.timerange import QUICK_RANGES
from dashboards.views.assets import PLOTLY_INLINE_STYLE_IDS, PLOTLY_VERSION
from lookout.settings import Settings
from warehouse import clickhouse
from warehouse.postgres import PostgresUnavailable

log = logging.getLogger("lookout.dashboards")


@dataclass
class Services:
    """What the views share, built once per app (``current_app.extensions["lookout"]``)."""

    settings: Settings
    login: LoginService
    sessions: SessionStore
    spec: ApiSpec
    registry: CollectorRegistry
    warehouse_local: threading.local
    redis: redis.Redis
    panel_cache: PanelCache

    def warehouse(self) -> Client:
        """One ClickHouse client per serving thread."""
        if getattr(self.warehouse_local, "client", None) is None:
            self.warehouse_local.client = clickhouse.connect(self.settings.clickhouse_dsn)
        return self.warehouse_local.client


def create_app(
    settings: Settings,
    metrics_registry: CollectorRegistry | None = None,
    security_events: SecurityEvents | None = None,
) -> Flask:
    """The app; ``metrics_registry`` holds what /metrics reports (the node adds the pipeline's)."""
    app = Flask(__name__)
    if not settings.secret_key:
        log.warning("LOOKOUT_SECRET_KEY is empty: using a random key, so open forms need a reload after a restart")
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        LOOKOUT_SETTINGS=settings,
        WTF_CSRF_CHECK_DEFAULT=False,  # security.install calls protect() once it knows who is asking
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as its session
        MAX_CONTENT_LENGTH=1024 * 1024,
        TEMPLATES_AUTO_RELOAD=False,
    )
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    store = SessionStore.from_settings(settings, client)
    app.session_interface = RedisSessionInterface(store, secure=settings.secure_cookies)
    spec = ApiSpec("Lookout", "1")
    app.extensions["lookout"] = Services(
        settings=settings,
        login=LoginService(settings, client, security_events or KafkaSecurityEvents(settings)),
        sessions=store,
        spec=spec,
        registry=metrics_registry or CollectorRegistry(),
        warehouse_local=threading.local(),
        redis=client,
        panel_cache=PanelCache(client, settings.panel_cache_ttl_s),
    )

    login_manager = LoginManager(app)
    login_manager.session_protection = None  # the session id is rotated at sign-in instead
    login_manager.user_loader(_load_session_user)
    login_manager.request_loader(security.load_token_user)
    csrf = CSRFProtect(app)
    authenticator = ApiKeyAuthenticator(settings.postgres_dsn, client, settings.api_key_cache_ttl_s)
    security.install(app, authenticator, csrf)
    serve_static = app.view_functions["static"]
    app.view_functions["static"] = security.public(functools.wraps(serve_static)(lambda **kw: serve_static(**kw)))

    from dashboards.views import (
        accounts,
        alerts,
        api,
        api_metrics,
        assets,
        audit,
        auth,
        blockchain,
        explorer,
        keys,
        ops,
        overview,
        security_events,
        system_metrics,
        tokens,
    )

    pages = (
        auth,
        ops,
        assets,
        overview,
        explorer,
        api_metrics,
        system_metrics,
        blockchain,
        security_events,
        alerts,
        accounts,
        keys,
        tokens,
        audit,
    )
    for module in pages:
        app.register_blueprint(module.bp)
    app.register_blueprint(api.build(spec))

    @app.context_processor
    def _shell() -> dict:
        from flask_login import current_user

        def nav_links() -> list[navigation.Link]:
            role = current_user.role if current_user.is_authenticated else ""
            return navigation.links(app, lambda needed: bool(role) and role_allows(role, needed))

        shell = {"quick_ranges": QUICK_RANGES, "nav_links": nav_links}
        shell["nav_badges"] = navigation.badges(app) if current_user.is_authenticated else {}
        return shell

    app.jinja_env.globals["changes"] = changes
    # A global, not a context variable: macros imported without context (macros.chart_scripts) still see it.
    app.jinja_env.globals["plotly_version"] = PLOTLY_VERSION
    app.jinja_env.globals["plotly_inline_style_ids"] = PLOTLY_INLINE_STYLE_IDS

    _errors(app)
    return app


def _load_session_user(account_id: str) -> security.User | None:
    from flask import current_app

    from access import accounts

    account = accounts.get_active(current_app.config["LOOKOUT_SETTINGS"], int(account_id))
    return security.User(account) if account else None


def _errors(app: Flask) -> None:
    def answer(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        if security.wants_json():
            return security.json_error(status, message, headers)
        page = render_template("error.html", status=status, message=message, request_id=_request_id())
        return Response(page, status=status, headers=headers or {})

    @app.errorhandler(BadParameter)
    @app.errorhandler(BadRequest)
    def _bad(exc: ValueError) -> Response:
        return answer(400, str(exc))

    @app.errorhandler(AccessError)
    def _refused(exc: AccessError) -> Response:
        return answer(exc.status, str(exc))

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Response:
        return answer(400, f"the form or request lacks a valid CSRF token ({exc.description}); reload and retry")

    @app.errorhandler(clickhouse.ClickHouseBadParameter)
    def _out_of_range(exc: clickhouse.ClickHouseBadParameter) -> Response:
        return answer(400, f"a parameter is out of the warehouse's range: {exc}")

    @app.errorhandler(clickhouse.ClickHouseUnavailable)
    @app.errorhandler(PostgresUnavailable)
    @app.errorhandler(redis.RedisError)
    def _down(exc: Exception) -> Response:
        log.warning("a backing service is unavailable", extra={"error": str(exc), "path": request.path})
        return answer(503, "a backing service is unavailable, retry shortly", {"Retry-After": "5"})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        messages = {
            403: "You do not have access to this page. Ask an admin if you need it.",
            404: "There is nothing at this address.",
            405: "This address does not accept that method.",
        }
        return answer(exc.code or 500, messages.get(exc.code or 500, exc.name))

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        # The body names only the request id: the trace stays in the log.
        log.exception("unhandled error", extra={"path": request.path, "request_id": _request_id()})
        return answer(500, "Something went wrong on our side. The error was logged.")


def _request_id() -> str:
    from flask import g

    return g.get("request_id", "")

"""The JSON API under /api/v1: the pages' twins, the logs search, and the OpenAPI document of all of them."""

from __future__ import annotations

import time
from datetime import UTC
from types import ModuleType

import orjson
from flask import Blueprint, Response, jsonify, request
from flask_login import current_user

from access import accounts, key_usage, keys, tokens
from access.errors import AccessError
from dashboards.api_spec import ApiSpec
from dashboards.models import access as models
from dashboards.params import log_query
from dashboards.security import actor, requires
from dashboards.views import (
    alerts_api,
    api_metrics,
    blockchain,
    explorer_api,
    overview,
    security_events,
    system_metrics,
)
from dashboards.views.audit import search
from dashboards.views.common import me, services, settings
from warehouse import clickhouse
from warehouse.queries import logs


def _key(key: object) -> models.ApiKeyOut:
    return models.ApiKeyOut.model_validate(key, from_attributes=True)


def _token(token: object) -> models.TokenOut:
    return models.TokenOut.model_validate(token, from_attributes=True)


# Each area's operations live beside its pages (``register(bp, spec)``); this blueprint gathers them under
# /api/v1 so the one OpenAPI document lists them all.
AREAS: tuple[ModuleType, ...] = (
    overview,
    explorer_api,
    api_metrics,
    system_metrics,
    blockchain,
    security_events,
    alerts_api,
)


def build(spec: ApiSpec) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    op = spec.operation

    @op(bp, "/me", "GET", summary="The signed-in account", role="viewer", tag="accounts", response=models.Me)
    def me_() -> models.Me:
        via = "token" if current_user.token_id else "session"
        return models.Me(account=models.AccountOut.of(me()), via=via)

    @op(bp, "/accounts", "GET", summary="List accounts", role="admin", tag="accounts", response=models.AccountList)
    def list_accounts() -> models.AccountList:
        return models.AccountList(accounts=[models.AccountOut.of(a) for a in accounts.list_all(settings())])

    @op(
        bp, "/accounts", "POST", summary="Create an account", role="admin", tag="accounts",
        body=models.AccountCreate, response=models.AccountOut, status=201,
    )  # fmt: skip
    def create_account(body: models.AccountCreate) -> models.AccountOut:
        created = accounts.create(settings(), body.email, body.password, body.role, actor())
        return models.AccountOut.of(created)

    @op(
        bp, "/accounts/<int:account_id>", "PATCH", summary="Change an account's role or disable/enable it",
        role="admin", tag="accounts", body=models.AccountUpdate, response=models.AccountOut,
    )  # fmt: skip
    def update_account(account_id: int, body: models.AccountUpdate) -> models.AccountOut:
        changed = None
        if body.role is not None:
            changed = accounts.set_role(settings(), account_id, body.role, actor())
        if body.disabled is not None:
            changed = accounts.set_disabled(settings(), account_id, body.disabled, actor())
        if changed is None:
            raise AccessError("send role and/or disabled")
        return models.AccountOut.of(changed)

    @op(
        bp, "/accounts/<int:account_id>/password", "POST", summary="Set a new password (ends the account's sessions)",
        role="admin", tag="accounts", body=models.PasswordReset,
    )  # fmt: skip
    def reset_password(account_id: int, body: models.PasswordReset) -> None:
        accounts.reset_password(settings(), account_id, body.password, actor())

    @op(bp, "/keys", "GET", summary="List API keys", role="viewer", tag="keys", response=models.ApiKeyList)
    def list_keys() -> models.ApiKeyList:
        listed = keys.list_keys(settings(), include_revoked=request.args.get("all") == "1")
        usage = key_usage.last_24h(services().redis, (k.id for k in listed), time.time())
        return models.ApiKeyList(keys=[_key(k).model_copy(update={"events_24h": usage[k.id]}) for k in listed])

    @op(
        bp, "/keys", "POST", summary="Create an API key (the secret is in this answer only)", role="admin",
        tag="keys", body=models.ApiKeyCreate, response=models.ApiKeyCreated, status=201,
    )  # fmt: skip
    def create_key(body: models.ApiKeyCreate) -> models.ApiKeyCreated:
        created = keys.create_key(settings(), body.name, keys.parse_scopes(body.scopes), body.rate_limit_per_s, actor())
        return models.ApiKeyCreated(key=_key(created.key), secret=created.secret)

    @op(bp, "/keys/<int:key_id>", "DELETE", summary="Revoke an API key", role="admin", tag="keys")
    def revoke_key(key_id: int) -> None:
        keys.revoke_key(settings(), key_id, actor())

    @op(bp, "/tokens", "GET", summary="Your personal tokens", role="viewer", tag="tokens", response=models.TokenList)
    def list_tokens() -> models.TokenList:
        return models.TokenList(tokens=[_token(t) for t in tokens.list_for(settings(), me().id)])

    @op(
        bp, "/tokens", "POST", summary="Create a personal token (the secret is in this answer only)",
        role="viewer", self_service=True, tag="tokens", body=models.TokenCreate, response=models.TokenCreated,
        status=201,
    )  # fmt: skip
    def create_token(body: models.TokenCreate) -> models.TokenCreated:
        created = tokens.create(settings(), me().id, body.name, body.expires_at, actor())
        return models.TokenCreated(token=_token(created.token), secret=created.secret)

    @op(
        bp, "/tokens/<int:token_id>", "DELETE", summary="Revoke one of your tokens", role="viewer",
        self_service=True, tag="tokens",
    )  # fmt: skip
    def revoke_token(token_id: int) -> None:
        tokens.revoke(settings(), me().id, token_id, actor())

    @op(
        bp, "/audit", "GET", summary="The audit trail, newest first", role="viewer", tag="audit",
        query=models.AuditFilter, response=models.AuditList,
    )  # fmt: skip
    def list_audit(query: models.AuditFilter) -> models.AuditList:
        return models.AuditList(
            entries=[models.AuditEntryOut.model_validate(row, from_attributes=True) for row in search(query)]
        )

    @op(
        bp, "/logs", "GET", summary="Search logs (also open to API keys with the query scope)", role="viewer",
        api_key_scope="query", tag="logs", query=models.LogsFilter, response=models.LogsPage,
    )  # fmt: skip
    def api_logs(query: models.LogsFilter) -> models.LogsPage:
        with clickhouse.translated():  # a parameter ClickHouse cannot represent is a 400, not a 500
            rows = logs.search(services().warehouse(), log_query(request.args))
        return models.LogsPage(logs=[_jsonable(row) for row in rows], count=len(rows))

    for area in AREAS:
        area.register(bp, spec)

    @bp.get("/openapi.json")
    @requires("viewer")
    def openapi() -> Response:
        return jsonify(spec.document())

    return bp


def _jsonable(row: dict) -> dict:
    out = dict(row)
    out["event_id"] = str(out["event_id"])
    ts = out["timestamp"]
    # chDB may hand DateTime64('UTC') back without its zone; the column is UTC either way.
    utc = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
    out["timestamp"] = utc.isoformat(timespec="milliseconds") + "Z"
    out["metadata"] = orjson.loads(out["metadata"]) if out.get("metadata") else {}
    return out

"""API keys: list (with last use), create (the key shown once), revoke."""

from __future__ import annotations

import time

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from access import key_usage, keys
from access.errors import AccessError
from dashboards.models.access import ApiKeyCreate
from dashboards.security import actor, requires
from dashboards.views.common import parse_form, services, settings

bp = Blueprint("keys", __name__, url_prefix="/keys")


def _page(status: int = 200, **extra: object) -> tuple[str, int]:
    show_all = request.args.get("all") == "1"
    listed = keys.list_keys(settings(), include_revoked=show_all)
    usage = key_usage.last_24h(services().redis, (key.id for key in listed), time.time())
    page = render_template("keys.html", keys=listed, usage=usage, show_all=show_all, scopes=keys.ALL_SCOPES, **extra)
    return page, status


@bp.get("")
@requires("viewer")
def index() -> tuple[str, int]:
    return _page()


@bp.post("")
@requires("admin")
def create() -> tuple[str, int]:
    form = request.form
    try:
        wanted = parse_form(
            ApiKeyCreate,
            {"name": form.get("name"), "scopes": form.getlist("scopes"), "rate_limit_per_s": form.get("rate_limit")},
        )
        created = keys.create_key(
            settings(), wanted.name, keys.parse_scopes(wanted.scopes), wanted.rate_limit_per_s, actor()
        )
    except AccessError as exc:
        return _page(exc.status, error=str(exc), form=form)
    # Rendered, not redirected: the secret must not travel through the session or a URL.
    return _page(201, created=created)


@bp.post("/<int:key_id>/revoke")
@requires("admin")
def revoke(key_id: int) -> Response | tuple[str, int]:
    try:
        key = keys.revoke_key(settings(), key_id, actor())
    except AccessError as exc:
        return _page(exc.status, error=str(exc))
    flash(f"Revoked the key “{key.name}”. It stops working within seconds.", "success")
    return redirect(url_for("keys.index"), 303)

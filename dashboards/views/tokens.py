"""Personal tokens: an account's own bearer tokens for the JSON API."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from access import tokens
from access.errors import AccessError
from dashboards.models.access import TokenCreate
from dashboards.params import BadParameter, parse_time
from dashboards.security import actor, requires
from dashboards.views.common import me, parse_form, settings

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


def _page(status: int = 200, **extra: object) -> tuple[str, int]:
    return render_template("tokens.html", tokens=tokens.list_for(settings(), me().id), **extra), status


@bp.get("")
@requires("viewer")
def index() -> tuple[str, int]:
    return _page()


@bp.post("")
@requires("viewer", self_service=True)
def create() -> tuple[str, int]:
    form = request.form
    try:
        raw_expiry = form.get("expires_on", "").strip()
        expires = parse_time("expires_on", raw_expiry + "T23:59:59Z") if raw_expiry else None
        wanted = parse_form(TokenCreate, {"name": form.get("name"), "expires_at": expires})
        created = tokens.create(settings(), me().id, wanted.name, wanted.expires_at, actor())
    except (AccessError, BadParameter) as exc:
        return _page(getattr(exc, "status", 400), error=str(exc), form=form)
    return _page(201, created=created)


@bp.post("/<int:token_id>/revoke")
@requires("viewer", self_service=True)
def revoke(token_id: int) -> Response | tuple[str, int]:
    try:
        token = tokens.revoke(settings(), me().id, token_id, actor())
    except AccessError as exc:
        return _page(exc.status, error=str(exc))
    flash(f"Revoked the token “{token.name}”.", "success")
    return redirect(url_for("tokens.index"), 303)

"""Accounts (admin): create, change role, disable/enable, reset a password."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from access import accounts
from access.errors import AccessError
from dashboards.models.access import AccountCreate, PasswordReset
from dashboards.security import actor, requires
from dashboards.views.common import me, parse_form, settings
from warehouse.queries.accounts import ROLES

bp = Blueprint("accounts", __name__, url_prefix="/admin/accounts")


def _page(status: int = 200, **extra: object) -> tuple[str, int]:
    listed = accounts.list_all(settings())
    now = datetime.now(UTC)
    return render_template("accounts.html", accounts=listed, roles=ROLES, me=me(), now=now, **extra), status


def _done(message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("accounts.index"), 303)


@bp.get("")
@requires("admin")
def index() -> tuple[str, int]:
    return _page()


@bp.post("")
@requires("admin")
def create() -> Response | tuple[str, int]:
    form = request.form
    try:
        wanted = parse_form(
            AccountCreate, {"email": form.get("email"), "role": form.get("role"), "password": form.get("password")}
        )
        created = accounts.create(settings(), wanted.email, wanted.password, wanted.role, actor())
    except AccessError as exc:
        return _page(exc.status, error=str(exc), form={"email": form.get("email"), "role": form.get("role")})
    return _done(f"Created {created.email} ({created.role}).")


@bp.post("/<int:account_id>/role")
@requires("admin")
def set_role(account_id: int) -> Response | tuple[str, int]:
    try:
        changed = accounts.set_role(settings(), account_id, request.form.get("role", ""), actor())
    except AccessError as exc:
        return _page(exc.status, error=str(exc))
    return _done(f"{changed.email} is now {changed.role}; their other sessions were ended.")


@bp.post("/<int:account_id>/disable")
@requires("admin")
def disable(account_id: int) -> Response | tuple[str, int]:
    try:
        changed = accounts.set_disabled(settings(), account_id, True, actor())
    except AccessError as exc:
        return _page(exc.status, error=str(exc))
    return _done(f"Disabled {changed.email}: their sessions and tokens stopped working.")


@bp.post("/<int:account_id>/enable")
@requires("admin")
def enable(account_id: int) -> Response | tuple[str, int]:
    try:
        changed = accounts.set_disabled(settings(), account_id, False, actor())
    except AccessError as exc:
        return _page(exc.status, error=str(exc))
    return _done(f"Enabled {changed.email}.")


@bp.post("/<int:account_id>/password")
@requires("admin")
def reset_password(account_id: int) -> Response | tuple[str, int]:
    try:
        wanted = parse_form(PasswordReset, {"password": request.form.get("password")})
        changed = accounts.reset_password(settings(), account_id, wanted.password, actor())
    except AccessError as exc:
        return _page(exc.status, error=str(exc))
    return _done(f"Set a new password for {changed.email}; their other sessions were ended.")

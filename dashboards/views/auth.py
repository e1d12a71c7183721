"""Sign in, sign out, sign out everywhere."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from access.login import Client
from dashboards.redirects import safe_next
from dashboards.security import User, public, requires
from dashboards.views.common import me, services

bp = Blueprint("auth", __name__)


@bp.get("/")
@requires("viewer")
def index() -> Response:
    return redirect(url_for("overview.index"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | str | tuple[str, int, dict[str, str]]:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url)
        return render_template("login.html", next=next_url, email="")
    email = request.form.get("email", "")
    client = Client(request.remote_addr, request.user_agent.string, request.path)
    result = services().login.login(email, request.form.get("password", ""), client)
    if result.account is None:
        status = 429 if result.retry_after_s else 401
        headers = {"Retry-After": str(result.retry_after_s)} if result.retry_after_s else {}
        return render_template("login.html", next=next_url, email=email, error=result.message), status, headers
    # A new session id at sign-in: an id known before (planted or seen) is worth nothing now.
    session.clear()
    session.rotate()  # type: ignore[attr-defined]
    login_user(User(result.account))
    return redirect(next_url)


@bp.post("/logout")
@requires("viewer", self_service=True)
def logout() -> Response:
    _end_this_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/logout/everywhere")
@requires("viewer", self_service=True)
def logout_everywhere() -> Response:
    ended = services().sessions.delete_for_account(me().id)
    _end_this_session()
    flash(f"Signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended).", "info")
    return redirect(url_for("auth.login"))


def _end_this_session() -> None:
    logout_user()
    session.clear()
    session.rotate()  # type: ignore[attr-defined]

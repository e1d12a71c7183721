"""The log explorer page (/explore): a shell whose script (static/explorer.js) reads /api/v1/explore.

The page's whole state is its URL's query string; opened without one, it returns to the state the account used
last (remembered by the page through PUT /api/v1/explore/last).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, redirect, render_template, request, url_for

from access import db
from dashboards.security import requires
from dashboards.views import explorer_state as state
from dashboards.views.common import me, settings
from warehouse.queries import explorer, saved_views

bp = Blueprint("explorer", __name__, url_prefix="/explore")


@bp.get("")
@requires("viewer")
def index() -> str | Response:
    if not request.args:
        with db.transaction(settings()) as conn:
            last = saved_views.last_state(conn, me().id)
        if last:
            return redirect(f"{url_for('explorer.index')}?{last}")
    span = state.time_range(request.args.get("from"), request.args.get("to"), datetime.now(UTC))
    return render_template(
        "explorer.html",
        span=span,
        query=request.args.get("q", ""),
        columns=explorer.COLUMNS,
        default_columns=explorer.DEFAULT_COLUMNS,
    )

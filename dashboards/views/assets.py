"""Plotly's JavaScript, served from the installed ``plotly`` package (4.8 MB, no CDN: the app works offline).

The address carries plotly's version, so the browser may keep it for a year and an upgrade changes the address.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from flask import Blueprint, Response, abort, send_file

from dashboards.security import public

bp = Blueprint("assets", __name__, url_prefix="/assets")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_VERSION = plotly.__version__


@bp.get("/plotly-<version>.min.js")
@public
def plotly_js(version: str) -> Response:
    if version != PLOTLY_VERSION:
        abort(404)
    response = send_file(PLOTLY_JS, mimetype="text/javascript", max_age=365 * 24 * 3600, conditional=True)
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response

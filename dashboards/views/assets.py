"""Plotly's JavaScript, served from the installed ``plotly`` package (4.8 MB, no CDN: the app works offline).

The address carries plotly's version, so the browser may keep it for a year and an upgrade changes the address.
"""

from __future__ import annotations

import re
from pathlib import Path

import plotly
from flask import Blueprint, Response, abort, send_file

from dashboards.security import public

bp = Blueprint("assets", __name__, url_prefix="/assets")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_VERSION = plotly.__version__


def inline_style_ids(script: str) -> tuple[str, ...]:
    """Ids of the <style> elements a bundled library inserts when the page has no element by that id yet.

    Plotly's bundle carries MapLibre's CSS this way (its id is a content hash, so it changes with plotly's
    version, hence read from the file). The CSP (style-src 'self') blocks such an element and the console
    reports it on every chart page; a placeholder holding the id makes the library skip it. Lookout draws no
    maps, so the rules are not needed.
    """
    pattern = r'document\.getElementById\("([\w-]+)"\)\)\{var \w+=document\.createElement\("style"\)'
    return tuple(dict.fromkeys(re.findall(pattern, script)))


PLOTLY_INLINE_STYLE_IDS = inline_style_ids(PLOTLY_JS.read_text(encoding="utf-8"))


@bp.get("/plotly-<version>.min.js")
@public
def plotly_js(version: str) -> Response:
    if version != PLOTLY_VERSION:
        abort(404)
    response = send_file(PLOTLY_JS, mimetype="text/javascript", max_age=365 * 24 * 3600, conditional=True)
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response

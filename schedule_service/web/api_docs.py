"""``/api/v1/docs``: the OpenAPI document as a browsable page (Swagger UI).

Swagger UI's files come from the ``flask-swagger-ui`` package and are served from here, so the
page needs no CDN and keeps the strict Content-Security-Policy: no inline script, its own
initialiser in ``static/api-docs.js``.
"""

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, abort, render_template, send_from_directory

bp = Blueprint("api_docs", __name__)

#: Swagger UI's distribution as the package ships it.
DIST = Path(flask_swagger_ui.__file__).parent / "dist"
#: The files the page loads; nothing else of the package is served.
ASSETS = frozenset({"swagger-ui.css", "index.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
#: The assets change only with the package's version: a day in caches is plenty.
ASSET_MAX_AGE = 24 * 3600


@bp.get("/api/v1/docs")
def docs():
    """The browsable API reference."""
    return render_template("api_docs.html")


@bp.get("/api/v1/docs/<asset>")
def asset(asset: str):
    if asset not in ASSETS:
        abort(404)
    return send_from_directory(DIST, asset, max_age=ASSET_MAX_AGE)

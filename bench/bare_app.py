"""The service's app plus a bare endpoint answering the same bytes as BENCH_BARE_PATH, for ratios."""

import os

from flask import Response

from schedule_service import create_app

app = create_app()
_body: dict[str, bytes] = {}


@app.get("/bare")
def bare() -> Response:
    """Return, without any work, the bytes the service answered once for BENCH_BARE_PATH."""
    if "body" not in _body:
        with app.test_client() as client:
            _body["body"] = client.get(os.environ["BENCH_BARE_PATH"]).data
    return Response(_body["body"], mimetype="application/json")

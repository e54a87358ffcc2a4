"""An attempt keeps what a target answered as its status line and a short, sanitised excerpt:
editors read the publish log, and whatever answered (a proxy's page, a hostile server) must not
fill it with pages of markup, control characters or credentials."""

from schedule_service.models import Target
from schedule_service.publishing.targets import adapter_for
from schedule_service.publishing.targets.base import RESPONSE_CHARS
from tests.publishing_support import SECRET
from tests.test_targets import delivery

HOSTILE = (
    "<!doctype html><html><head><style>body{}</style></head><body>\x1b[31m"
    '<h1>Gateway broke</h1><img src=x onerror="alert(1)">'
    '{"access_token": "sst_live_secret_value", "detail": "upstream timeout"}' + "padding " * 2000 + "</body></html>"
)


def test_a_hostile_answer_is_kept_as_a_short_plain_excerpt(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data(HOSTILE, status=502, content_type="text/html")
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook))
    status_line, _, body = outcome.response.partition("\n")
    assert status_line == "502 BAD GATEWAY"
    assert "Gateway broke" in body and "upstream timeout" in body
    assert len(body) <= RESPONSE_CHARS <= 200
    assert "<" not in body and "\x1b" not in body
    assert "sst_live_secret_value" not in outcome.response


def test_a_short_json_answer_stays_readable(httpserver):
    answer = '{"error": "signature expired"}'
    httpserver.expect_request("/hook", method="POST").respond_with_data(answer, status=400)
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=SECRET)
    assert adapter_for("webhook").publish(delivery(hook)).response == f"400 BAD REQUEST\n{answer}"

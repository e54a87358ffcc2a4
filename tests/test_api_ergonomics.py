"""What an integrator meets first: 428 without If-Match, a 401 that says how to send a token, an
overlap named in the channel's own time, a browsable API reference, and a README that works."""

import json
import re
import shlex
from pathlib import Path

import pytest
from sqlalchemy import select

from schedule_service.models import Channel, Slot
from tests.conftest import utc

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = "application/problem+json"


def test_changing_or_cancelling_a_slot_without_if_match_is_a_428_and_changes_nothing(
    client, session, editor, make_slot
):
    slot = make_slot(utc(2031, 11, 21, 21, 5))
    for response in (
        client.patch(f"/api/v1/slots/{slot.id}", json={"live": True}, headers=editor),
        client.delete(f"/api/v1/slots/{slot.id}", headers=editor),
    ):
        assert response.status_code == 428 and response.mimetype == PROBLEM
        assert "If-Match" in response.get_json()["detail"]
    session.expire_all()
    fresh = session.get(Slot, slot.id)
    assert (fresh.version, fresh.is_live, fresh.status) == (1, False, "scheduled")
    etag = client.get(f"/api/v1/slots/{slot.id}").headers["ETag"]
    moved = client.patch(f"/api/v1/slots/{slot.id}", json={"live": True}, headers={**editor, "If-Match": etag})
    assert moved.status_code == 200


def test_the_document_lists_428_and_412_for_slot_writes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for method in ("patch", "delete"):
        assert {"412", "428"} <= set(paths["/api/v1/slots/{slot_id}"][method]["responses"])


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "This needs a staff user."),
        ({"Authorization": "Bearer sst_not-a-token"}, "The token sent is not valid"),
        ({"Authorization": "Basic ZWQ6cHc="}, "The token sent is not valid"),
    ],
)
def test_a_write_without_a_good_token_is_a_401_saying_how_to_send_one(client, session, headers, says):
    body = {"slug": "mir", "name": "Mir", "timezone": "UTC"}
    response = client.post("/api/v1/channels", json=body, headers=headers)
    assert response.status_code == 401 and response.mimetype == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    detail = response.get_json()["detail"]
    assert detail.startswith(says) and "Authorization: Bearer TOKEN" in detail and "browser" not in detail
    if headers:
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert session.scalar(select(Channel)) is None


def test_the_overlap_409_names_the_slots_in_the_channels_time_and_in_utc(client, editor, make_slot):
    slot = make_slot(utc(2031, 11, 21, 21, 5))  # 00:05 Moscow time on the 22nd
    body = {"channel": "mir", "programme_id": slot.programme_id, "start_local": "2031-11-22T00:30"}
    response = client.post("/api/v1/slots", json=body, headers=editor)
    assert response.status_code == 409
    detail = response.get_json()["detail"]
    assert "2031-11-22 00:05–01:05 MSK" in detail and "2031-11-21 21:05–22:05 UTC" in detail
    assert str(slot.id) in detail


def test_the_api_reference_page_is_served_with_its_own_assets(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text  # no inline script
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for url in urls:
        with client.get(url) as asset:  # a file, streamed: close it
            assert asset.status_code == 200, url
    with client.get("/api/v1/docs/swagger-ui-bundle.js") as bundle:
        assert bundle.mimetype == "text/javascript" and b"SwaggerUIBundle" in bundle.data
    assert client.get("/api/v1/docs/oauth2-redirect.html").status_code == 404


def _first_curl(readme: str) -> tuple[str, dict]:
    block = re.search(r"```sh\n(.*?)```", readme.split("## Staff access", 1)[1], re.S).group(1)
    curl = block[block.index("curl") :].replace("\\\n", " ")
    words = shlex.split(curl.splitlines()[0])
    return words[-1], json.loads(words[words.index("-d") + 1])


def test_the_readmes_first_curl_example_works_on_the_demo(client, demo, editor):
    url, body = _first_curl((ROOT / "README.md").read_text())
    assert url == "http://127.0.0.1:8000/api/v1/channels"
    response = client.post("/api/v1/channels", json=body, headers=editor)
    assert response.status_code == 201, response.get_json()


def test_the_readme_links_only_to_files_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "../" not in readme
    for target in re.findall(r"\]\(([^)]+)\)", readme):
        assert (ROOT / target).is_file(), target

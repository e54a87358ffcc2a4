"""What the service refuses at the door, with a 4xx naming what is wrong, never a 500: text XML
cannot carry, oversized bodies, fields, maps and lists, instants outside 1900–2199, integers no
column holds, JSON nested too deep, and unique keys taken by a parallel request."""

import io
import json

import pytest
from sqlalchemy import func, select

from schedule_service import schedule
from schedule_service.models import Channel, Programme, Slot, Target
from schedule_service.web.api import BLUEPRINTS
from schedule_service.web.api.common import Blueprint
from tests.conftest import utc
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

PROBLEM = "application/problem+json"


def post_raw(client, url, body: str, headers, method="POST"):
    """Send ``body`` as it is: JSON text with escapes a dict could not hold (an unpaired surrogate)."""
    return client.open(url, method=method, data=body.encode(), headers=headers, content_type="application/json")


def refused(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    if field is not None:
        assert field in body["errors"], body
    return body


# Text XML cannot carry


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"slug": "ctrl", "name": "Ctrl\\u0001TV", "timezone": "UTC"}', "name"),
        ('{"slug": "ctrl", "name": "Ctrl", "timezone": "UTC", "names": {"ru": "\\ufffe"}}', "names.ru"),
        ('{"slug": "ctrl", "name": "Ctrl", "timezone": "UTC", "names": {"r\\u0007": "Мир"}}', "names.r\\u0007"),
        ('{"slug": "ctrl", "name": "Ctrl", "timezone": "UTC", "names": {"\\ud800": "Мир"}}', "names.\\ud800"),
        ('{"slug": "ctrl", "name": "Ctrl", "timezone": "UTC", "\\udfff": 1}', "\\udfff"),
        ('{"slug": "ctrl", "name": "\\ud800 lone", "timezone": "UTC"}', "name"),
    ],
)
def test_a_channel_with_text_xml_cannot_carry_is_refused_naming_the_field(client, session, editor, body, field):
    body = refused(post_raw(client, "/api/v1/channels", body, editor), 422, field)
    assert "U+" in body["errors"][field]
    assert session.scalar(select(func.count()).select_from(Channel)) == 0


def test_a_lone_surrogate_in_a_programme_title_is_a_422_on_every_engine(client, session, editor):
    response = post_raw(client, "/api/v1/programmes", '{"title": "Serzh \\udc00 Sargsyan"}', editor)
    assert "unpaired surrogate" in refused(response, 422, "title")["errors"]["title"]
    body = '{"title": "Ok", "guests": [{"name": "G\\u0002"}], "translations": {"ru": {"quote": "\\uffff"}}}'
    errors = refused(post_raw(client, "/api/v1/programmes", body, editor), 422)["errors"]
    assert set(errors) == {"guests.0.name", "translations.ru.quote"}
    assert session.scalar(select(func.count()).select_from(Programme)) == 0


def test_a_patch_and_a_promo_plan_are_checked_too(client, make_channel, make_programme, editor):
    make_channel("mir")
    programme = make_programme()
    refused(client.patch("/api/v1/channels/mir", json={"name": "M\x1bir"}, headers=editor), 422, "name")
    refused(client.patch(f"/api/v1/programmes/{programme.id}", json={"quote": "\x08"}, headers=editor), 422, "quote")
    plan = [{"name": "eve\x0c", "offset": "-PT10M", "targets": ["web"]}]
    refused(client.put("/api/v1/channels/mir/promo-plan", json=plan, headers=editor), 422, "0.name")


def test_tab_newline_and_every_plane_are_still_welcome(client, editor):
    summary = "Line one\n\tLine two\r\nЭксклюзив 🎬 \ue000"
    created = client.post("/api/v1/programmes", json={"title": "Fine", "summary": summary}, headers=editor)
    assert created.status_code == 201 and created.get_json()["summary"] == summary


def test_every_api_blueprint_checks_its_text():
    # A resource made from flask-smorest's own Blueprint would skip the text rules.
    assert all(isinstance(blp, Blueprint) for blp in BLUEPRINTS)


# Sizes


def test_a_body_over_the_limit_is_a_413_problem(app, client, editor):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    body = json.dumps({"title": "x", "summary": "y" * 20_000})
    body = refused(post_raw(client, "/api/v1/programmes", body, editor), 413)
    assert "10000 bytes" in body["detail"]
    refused(client.get("/healthz", data="[" + "0," * 10_000 + "0]", content_type="application/json"), 413)


def test_a_body_sent_without_a_length_is_cut_at_the_limit_too(app, client, editor):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    chunked = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", **editor}
    body = json.dumps({"title": "x", "summary": "y" * 20_000}).encode()
    # As a server that handles chunked bodies (waitress, gunicorn) tells the app.
    sent = client.post(
        "/api/v1/programmes", input_stream=io.BytesIO(body), headers=chunked, environ_overrides=TERMINATED
    )
    refused(sent, 413)
    deep = io.BytesIO(b"[" * 3000 + b"]" * 3000)
    assert client.get("/healthz", input_stream=deep, headers=chunked, environ_overrides=TERMINATED).status_code == 400


TERMINATED = {"wsgi.input_terminated": True}


def test_the_xmltv_upload_has_its_own_larger_limit(app, client, editor):
    app.config.update(MAX_CONTENT_LENGTH=1_000, XMLTV_UPLOAD_MAX_BYTES=50_000)
    guide = '<?xml version="1.0"?><tv>' + "<!-- padding -->" * 200 + "</tv>"
    headers = {**editor, "Content-Type": "application/xml"}
    assert 1_000 < len(guide) < 50_000
    answer = client.post("/api/v1/import/xmltv?dry_run=1", data=guide, headers=headers)
    assert answer.status_code != 413 and answer.status_code < 500
    app.config["XMLTV_UPLOAD_MAX_BYTES"] = 2_000
    refused(client.post("/api/v1/import/xmltv?dry_run=1", data=guide, headers=headers), 413)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"summary": "s" * 10_001}, "summary"),
        ({"quote": "q" * 10_001}, "quote"),
        ({"guests": [{"name": f"Guest {i}"} for i in range(101)]}, "guests"),
        ({"translations": {f"l{i:02d}": {"title": "t"} for i in range(101)}}, "translations"),
        ({"translations": {"ru": {"summary": "s" * 10_001}}}, "translations.ru.value.summary"),
    ],
)
def test_every_text_map_and_list_of_a_programme_has_a_maximum(client, editor, values, field):
    refused(client.post("/api/v1/programmes", json={"title": "T", **values}, headers=editor), 422, field)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"names": {f"l{i:02d}": "n" for i in range(101)}}, "names"),
        ({"names": {"ru": "n" * 201}}, "names.ru.value"),
        ({"languages": ["en"] * 101}, "languages"),
        ({"timezone": "E" * 65}, "timezone"),
    ],
)
def test_a_channels_maps_and_lists_have_a_maximum(client, editor, values, field):
    body = {"slug": "big", "name": "Big", "timezone": "UTC", **values}
    refused(client.post("/api/v1/channels", json=body, headers=editor), 422, field)


# Instants: 1900 to 2199


@pytest.fixture
def mir_and_show(make_channel, make_programme):
    return make_channel("mir"), make_programme()


@pytest.mark.parametrize(
    ("when", "field"),
    [
        ({"start": "0001-01-01T00:00:00+05:00"}, "start"),
        ({"start": "9999-12-31T23:00:00-05:00"}, "start"),
        ({"start": "1899-12-31T23:59:00+00:00"}, "start"),
        ({"start_local": "9999-12-31T23:00:00"}, "start_local"),
        ({"start_local": "0001-01-01T00:30:00"}, "start_local"),
        ({"start": "2031-11-21T21:05:00+00:00", "end": "2200-01-01T00:00:00+00:00"}, "end"),
        ({"start": "2199-12-31T23:30:00+00:00"}, "end"),  # the programme's hour ends in 2200
    ],
)
def test_slots_outside_1900_to_2199_are_refused(client, session, editor, mir_and_show, when, field):
    _, programme = mir_and_show
    body = {"channel": "mir", "programme_id": programme.id, **when}
    refused(client.post("/api/v1/slots", json=body, headers=editor), 422, field)
    assert session.scalar(select(func.count()).select_from(Slot)) == 0


def test_the_edges_of_the_range_are_accepted(client, editor, mir_and_show):
    _, programme = mir_and_show
    for start in ("1900-01-01T06:00:00+00:00", "2199-12-31T20:00:00+00:00"):
        body = {"channel": "mir", "programme_id": programme.id, "start": start}
        assert client.post("/api/v1/slots", json=body, headers=editor).status_code == 201


def test_a_patch_cannot_move_a_slot_out_of_the_range(client, editor, make_slot):
    slot = make_slot(utc(2031, 11, 21, 21, 5))
    headers = {**editor, "If-Match": slot.etag}
    for body, field in (
        ({"start_local": "9999-12-31T23:00:00"}, "start_local"),
        ({"start": "0001-01-01T00:00Z"}, "start"),
    ):
        refused(client.patch(f"/api/v1/slots/{slot.id}", json=body, headers=headers), 422, field)
    assert client.get(f"/slots/{slot.id}.ics").status_code == 200


def test_reads_outside_the_range_are_refused_not_crashed(client, make_channel):
    make_channel("mir")
    assert client.get("/api/v1/now?at=9999-12-31T23:59:59-12:00").status_code == 400
    assert client.get("/api/v1/channels/mir/schedule?date=0001-01-01").status_code == 400


# Integers and JSON the parser cannot take


@pytest.mark.parametrize("url", ["/healthz", "/api/v1/channels", "/api/v1/programmes", "/feeds/promos.json"])
def test_json_nested_a_thousand_deep_is_a_400_anywhere(client, editor, url):
    response = client.post(url, data="[" * 1000 + "]" * 1000, headers=editor, content_type="application/json")
    assert response.status_code == 400
    assert "nests deeper" in response.get_data(as_text=True)
    assert client.get(url, data='{"a":' * 100 + "1" + "}" * 100, content_type="application/json").status_code < 500


def test_an_integer_of_5000_digits_is_a_400(client, editor):
    response = post_raw(client, "/api/v1/programmes", '{"title": "T", "duration_minutes": ' + "9" * 5000 + "}", editor)
    assert "not valid JSON" in refused(response, 400)["detail"]
    assert client.get("/api/v1/slots?limit=" + "9" * 5000).status_code == 400


def test_a_huge_target_length_limit_is_a_422_not_a_driver_error(client, session, admin):
    body = {"name": "hook", "kind": "webhook", "url": "https://hooks.example.org/x", "max_length": 10**12}
    body["secret"] = "whsec_" + "A" * 40
    refused(client.post("/api/v1/targets", json=body, headers=admin), 422, "max_length")
    refused(client.patch("/api/v1/targets/web", json={"max_length": 2**31}, headers=admin), 422, "max_length")
    assert session.scalar(select(Target).where(Target.name == "web")).max_length is None


# Unique keys taken by a parallel request


def test_a_channel_slug_taken_meanwhile_is_a_409(client, session, editor, monkeypatch):
    client.post("/api/v1/channels", json={"slug": "mir", "name": "Mir", "timezone": "UTC"}, headers=editor)
    # As if the other request committed between this one's lookup and its insert.
    monkeypatch.setattr(schedule, "_unique_channel", lambda *a, **k: None)
    response = client.post("/api/v1/channels", json={"slug": "mir", "name": "Mir 2", "timezone": "UTC"}, headers=editor)
    assert "channel slug is already taken" in refused(response, 409)["detail"]
    assert session.scalars(select(Channel.name)).all() == ["Mir"]


def test_a_target_name_taken_meanwhile_is_a_409(client, session, admin, monkeypatch):
    from schedule_service.publishing import target_settings

    body = {"name": "hook", "kind": "webhook", "url": "https://hooks.example.org/x", "secret": "whsec_" + "A" * 40}
    assert client.post("/api/v1/targets", json=body, headers=admin).status_code == 201
    real = target_settings.select

    def blind(*args):  # the lookup for a taken name finds nothing, as it would in a race
        query = real(*args)
        return query.where(False) if args and args[0] is Target else query

    monkeypatch.setattr(target_settings, "select", blind)
    refused(client.post("/api/v1/targets", json=body, headers=admin), 409)


# Staff forms: the same rules, beside the field


@pytest.fixture
def staff(client, make_user):
    actions = StaffActions(client)
    make_user("ed@example.test", "editor")
    assert actions.login("ed@example.test").status_code == 302
    return actions


def test_a_staff_form_refuses_text_xml_cannot_carry_beside_its_field(staff, session):
    page = staff.post("/staff/programmes/new", {"title": "Bell\x07", "language": "en", "summary": "ok"})
    assert page.status_code == 422
    assert "U+0007" in page.text
    page = staff.post(
        "/staff/programmes/new",
        {"title": "Fine", "language": "en", "translations-0-lang": "ru", "translations-0-title": "\x01"},
    )
    assert page.status_code == 422 and "U+0001" in page.text
    assert session.scalar(select(func.count()).select_from(Programme)) == 0


def test_a_staff_form_caps_long_text_without_a_limit_of_its_own(staff, session):
    page = staff.post("/staff/programmes/new", {"title": "Long", "language": "en", "summary": "s" * 10_001})
    assert page.status_code == 422 and "At most 10000 characters" in page.text
    assert session.scalar(select(func.count()).select_from(Programme)) == 0


def test_the_staff_slot_form_refuses_a_programme_id_no_column_holds(staff, session, make_channel, make_programme):
    make_channel("mir")
    make_programme()
    form = {"programme_id": "99999999999999", "start_local": "2031-11-22T00:05", "fold": ""}
    page = staff.post("/staff/channels/mir/slots", form)
    assert page.status_code == 422
    assert session.scalar(select(func.count()).select_from(Slot)) == 0


def test_the_staff_slot_form_refuses_year_9999(staff, session, make_channel, make_programme):
    make_channel("mir")
    programme = make_programme()
    form = {"programme_id": str(programme.id), "start_local": "9999-12-31T23:00", "fold": ""}
    page = staff.post("/staff/channels/mir/slots", form)
    assert page.status_code == 422 and "from 1900 to 2199" in page.text
    assert session.scalar(select(func.count()).select_from(Slot)) == 0

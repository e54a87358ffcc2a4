"""Channels and programmes through the API: writes need staff, bad input is a problem."""

import pytest

from schedule_service.db import db
from schedule_service.models import Channel, Programme

MIR = {
    "slug": "mir",
    "name": "Mir",
    "names": {"ru": "Мир"},
    "timezone": "Europe/Moscow",
    "broadcast_day_start": "05:00",
}


def test_staff_add_a_channel_and_everyone_reads_it(client, editor):
    resp = client.post("/api/v1/channels", json=MIR, headers=editor)
    assert resp.status_code == 201
    assert resp.json["broadcast_day_start"] == "05:00"
    got = client.get("/api/v1/channels/mir")
    assert got.json["names"] == {"ru": "Мир"} and got.json["timezone"] == "Europe/Moscow"


def test_a_new_channel_starts_its_broadcast_day_at_six(client, editor):
    body = {k: v for k, v in MIR.items() if k != "broadcast_day_start"}
    assert client.post("/api/v1/channels", json=body, headers=editor).json["broadcast_day_start"] == "06:00"


def test_writes_without_a_token_are_401_and_change_nothing(client):
    resp = client.post("/api/v1/channels", json=MIR)
    assert resp.status_code == 401
    assert resp.content_type == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.session.query(Channel).count() == 0


def test_a_revoked_or_made_up_token_is_401(client):
    assert client.post("/api/v1/channels", json=MIR, headers={"Authorization": "Bearer sst_nope"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**MIR, "timezone": "Nowhere/Else"}, "timezone"),
        ({**MIR, "broadcast_day_start": "25:00"}, "broadcast_day_start"),
        ({**MIR, "slug": "Not A Slug"}, "slug"),
        ({**MIR, "colour": "red"}, "colour"),
        ({k: v for k, v in MIR.items() if k != "name"}, "name"),
    ],
)
def test_bad_channels_are_422_with_the_field_named(client, editor, body, field):
    resp = client.post("/api/v1/channels", json=body, headers=editor)
    assert resp.status_code == 422
    assert resp.content_type == "application/problem+json"
    assert field in resp.json["errors"]
    assert resp.json["status"] == 422 and resp.json["title"]
    assert db.session.query(Channel).count() == 0


def test_a_body_that_is_not_json_is_refused(client, editor):
    resp = client.post("/api/v1/channels", data="{not json", headers={**editor, "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.content_type == "application/problem+json"
    assert resp.json["detail"] == "The request body is not valid JSON."


def test_a_body_sent_as_another_type_is_refused_for_its_type_not_read_as_empty(client, editor):
    # `curl -d '{…}'` without -H sends a form type: say so, rather than "slug: missing".
    body = '{"slug": "mir", "name": "Mir", "timezone": "Europe/Moscow"}'
    for kind in ("application/x-www-form-urlencoded", "text/plain"):
        resp = client.post("/api/v1/channels", data=body, headers={**editor, "Content-Type": kind})
        assert resp.status_code == 415 and resp.content_type == "application/problem+json"
        assert kind in resp.json["detail"] and "application/json" in resp.json["detail"]
    assert client.get("/api/v1/channels").json["items"] == []
    limit = client.get("/api/v1/channels?limit=0")
    assert (
        limit.status_code == 400
        and limit.json["detail"] == "The query is not valid."
        and "limit" in limit.json["errors"]
    )


def test_text_with_a_nul_character_is_refused_by_name_not_failed_in_the_database(client, editor, make_channel):
    mir = make_channel("mir")
    body = {"title": "News\x00", "guests": [{"name": "A\x00B"}], "duration_minutes": 30}
    resp = client.post("/api/v1/programmes", json=body, headers=editor)
    assert resp.status_code == 422 and resp.content_type == "application/problem+json"
    assert set(resp.json["errors"]) == {"title", "guests.0.name"}
    assert db.session.query(Programme).count() == 0
    patched = client.patch("/api/v1/channels/mir", json={"name": "M\x00"}, headers=editor)
    assert patched.status_code == 422 and "name" in patched.json["errors"]
    assert client.get("/api/v1/channels/mir\x00").status_code == 404
    assert client.get("/api/v1/channels/mir/schedule", query_string={"tz": "UTC\x00"}).status_code == 400
    assert client.get("/channels/mir", query_string={"lang": "\x00"}).status_code == 400  # a page, not a 500
    db.session.refresh(mir)
    assert mir.name == "Mir"


def test_a_taken_slug_is_409(client, editor):
    client.post("/api/v1/channels", json=MIR, headers=editor)
    assert client.post("/api/v1/channels", json=MIR, headers=editor).status_code == 409


def test_a_taken_xmltv_id_is_409_naming_it_and_a_channel_keeps_its_own(client, editor):
    client.post("/api/v1/channels", json={**MIR, "xmltv_id": "mir.ru"}, headers=editor)
    other = {**MIR, "slug": "mir-2", "xmltv_id": "mir.ru"}
    taken = client.post("/api/v1/channels", json=other, headers=editor)
    assert taken.status_code == 409 and "xmltv_id 'mir.ru'" in taken.json["detail"]
    both = client.post("/api/v1/channels", json={**other, "slug": "mir"}, headers=editor)
    assert both.status_code == 409 and "slug 'mir'" in both.json["detail"]  # the slug is named first
    assert client.post("/api/v1/channels", json={**other, "xmltv_id": "mir2.ru"}, headers=editor).status_code == 201
    same = client.patch("/api/v1/channels/mir", json={"slug": "mir", "xmltv_id": "mir.ru"}, headers=editor)
    assert same.status_code == 200


def test_patch_changes_only_what_it_names(client, editor):
    client.post("/api/v1/channels", json=MIR, headers=editor)
    resp = client.patch("/api/v1/channels/mir", json={"broadcast_day_start": "06:00"}, headers=editor)
    assert resp.status_code == 200
    assert resp.json["broadcast_day_start"] == "06:00" and resp.json["timezone"] == "Europe/Moscow"


def test_unknown_channel_is_404(client):
    resp = client.get("/api/v1/channels/nope")
    assert resp.status_code == 404 and resp.content_type == "application/problem+json"


def test_collections_page_with_next_links(client, make_channel):
    for slug in ("a", "b", "c"):
        make_channel(slug)
    first = client.get("/api/v1/channels?limit=2").json
    assert [c["slug"] for c in first["items"]] == ["a", "b"]
    second = client.get(first["next"]).json
    assert [c["slug"] for c in second["items"]] == ["c"] and second["next"] is None
    assert client.get("/api/v1/channels?limit=5000").status_code == 400


PROGRAMME = {
    "title": "Serzh Sargsyan: the exclusive interview",
    "exclusive": True,
    "category": "interview",
    "guests": [{"name": "Serzh Sargsyan", "role": "President of Armenia"}],
    "duration_minutes": 60,
    "quote": "The collective security agreement is not directed against anyone.",
    "image_credit": "Press Service of the President of Russia",
    "translations": {"ru": {"title": "Серж Саргсян: эксклюзивное интервью"}},
}


def test_programmes_keep_guests_translations_and_the_exclusive_flag(client, editor):
    made = client.post("/api/v1/programmes", json=PROGRAMME, headers=editor)
    assert made.status_code == 201
    got = client.get(f"/api/v1/programmes/{made.json['id']}").json
    assert got["exclusive"] is True
    assert got["guests"] == [{"name": "Serzh Sargsyan", "role": "President of Armenia"}]
    assert got["translations"]["ru"]["title"] == "Серж Саргсян: эксклюзивное интервью"
    patched = client.patch(
        f"/api/v1/programmes/{made.json['id']}", json={"translations": {"ru": {"title": "Новое"}}}, headers=editor
    )
    empty = dict.fromkeys(("subtitle", "summary", "quote", "category", "image_alt", "guests"))
    assert patched.json["translations"] == {"ru": {"title": "Новое", **empty}}


RUSSIAN = {
    "title": "Серж Саргсян: эксклюзивное интервью",
    "category": "интервью",
    "image_alt": "Серж Саргсян в студии",
    "guests": [{"name": "Серж Саргсян", "role": "президент Армении"}],
}


def test_translated_guests_category_and_alt_text_round_trip_and_list_in_their_language(client, editor, make_slot):
    from tests.conftest import utc

    body = {**PROGRAMME, "image_alt": "Serzh Sargsyan in the studio", "translations": {"ru": RUSSIAN}}
    made = client.post("/api/v1/programmes", json=body, headers=editor)
    assert made.status_code == 201
    url = f"/api/v1/programmes/{made.json['id']}"
    got = client.get(url).json
    assert got["image_alt"] == "Serzh Sargsyan in the studio"
    assert got["translations"]["ru"] == {"subtitle": None, "summary": None, "quote": None, **RUSSIAN}
    # A client that sends only the fields it knows keeps the others.
    kept = client.patch(url, json={"translations": {"ru": {"title": RUSSIAN["title"]}}}, headers=editor).json
    assert kept["translations"]["ru"]["guests"] == RUSSIAN["guests"]
    assert kept["translations"]["ru"]["category"] == "интервью"
    # What a client read, sent back unchanged, changes nothing and leaves no audit entry.
    assert client.patch(url, json={"translations": got["translations"]}, headers=editor).json == got
    history = client.get(f"/api/v1/audit?entity=programme&id={made.json['id']}", headers=editor).json["items"]
    assert [entry["action"] for entry in history] == ["create"]

    make_slot(utc(2031, 1, 1, 18, 5), programme=db.session.get(Programme, made.json["id"]))
    listed = client.get("/api/v1/channels/mir/schedule?date=2031-01-01&lang=ru").json["slots"][0]["programme"]
    assert (listed["title"], listed["category"], listed["image_alt"]) == (
        "Серж Саргсян: эксклюзивное интервью",
        "интервью",
        "Серж Саргсян в студии",
    )
    assert listed["guests"] == [{"name": "Серж Саргсян", "role": "президент Армении"}]
    # A language without a translation falls back to the programme's own texts.
    english = client.get("/api/v1/channels/mir/schedule?date=2031-01-01&lang=en").json["slots"][0]["programme"]
    assert english["guests"] == PROGRAMME["guests"] and english["category"] == "interview"


def test_a_translated_guest_needs_a_name(client, editor):
    body = {**PROGRAMME, "translations": {"ru": {"guests": [{"role": "президент Армении"}]}}}
    refused = client.post("/api/v1/programmes", json=body, headers=editor)
    assert refused.status_code == 422
    assert "translations.ru.value.guests.0.name" in refused.json["errors"]


def test_a_programme_in_use_cannot_be_deleted(client, editor, make_slot):
    from tests.conftest import utc

    slot = make_slot(utc(2031, 1, 1, 20))
    assert client.delete(f"/api/v1/programmes/{slot.programme_id}", headers=editor).status_code == 409
    spare = client.post("/api/v1/programmes", json={"title": "Spare"}, headers=editor).json
    assert client.delete(f"/api/v1/programmes/{spare['id']}", headers=editor).status_code == 204
    assert db.session.get(Programme, spare["id"]) is None


def test_a_form_part_without_a_usable_name_is_refused_not_failed(client, editor):
    # Found by the schemathesis fuzz: a multipart part named "\r" reaches Flask with no name.
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="\r"\r\n\r\nnull\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\nTV schedule\r\n--{boundary}--\r\n'
    )
    resp = client.post(
        "/api/v1/import/xmltv",
        data=body,
        headers={**editor, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert 400 <= resp.status_code < 500 and resp.content_type == "application/problem+json"

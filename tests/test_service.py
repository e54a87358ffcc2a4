"""The service as a whole: health, the OpenAPI document, the CLI and the demo."""

from openapi_spec_validator import validate

from schedule_service.db import db
from schedule_service.models import Channel, Slot


def test_healthz_is_ok_with_nothing_due(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json["status"] == "ok" and "last_tick_at" in resp.json["scheduler"]


def test_the_openapi_document_is_valid_3_1_and_covers_the_api(client):
    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    for path in ("/api/v1/channels", "/api/v1/slots/{slot_id}", "/api/v1/channels/{slug}/schedule", "/api/v1/now"):
        assert path in doc["paths"], path
    assert doc["paths"]["/api/v1/slots"]["post"]["security"] == [{"bearer": []}]


def test_demo_loads_once(runner):
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    count = db.session.query(Slot).count()
    second = runner.invoke(args=["demo", "load"])
    assert "nothing changed" in second.output
    assert db.session.query(Slot).count() == count
    mir = db.session.query(Channel).filter_by(slug="mir").one()
    assert mir.names["ru"] == "Мир" and mir.timezone == "Europe/Moscow"


def test_demo_airs_the_exclusive_right_after_midnight_moscow(runner, client):
    runner.invoke(args=["demo", "load"])
    slots = client.get("/api/v1/slots?limit=1000").json["items"]
    exclusive = [s for s in slots if client.get(f"/api/v1/programmes/{s['programme_id']}").json["exclusive"]]
    assert len(exclusive) == 1
    assert exclusive[0]["start_local"][11:16] == "00:05"


def test_the_demo_loaded_in_the_small_hours_has_a_show_on_air_and_its_exclusive_the_next_night(session, client):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from schedule_service import clock
    from schedule_service.demo import load_demo

    at = datetime(2031, 11, 28, 2, 30, tzinfo=ZoneInfo("Europe/Moscow"))  # a Friday night, 02:30
    with clock.frozen(at):
        load_demo(session)
        session.commit()
    (mir,) = client.get("/api/v1/now", query_string={"at": at.isoformat()}).json["channels"]
    assert mir["now"]["programme"]["title"] == "Night Film: Moscow Does Not Believe in Tears"
    assert mir["next"]["start_local"] == "2031-11-28T03:00:00+03:00"
    slots = client.get("/api/v1/slots?limit=1000").json["items"]
    exclusive = [s for s in slots if client.get(f"/api/v1/programmes/{s['programme_id']}").json["exclusive"]]
    assert [s["start_local"] for s in exclusive] == ["2031-11-29T00:05:00+03:00"]  # the coming 00:05
    with clock.frozen(at):
        preview = client.get("/").text
    assert "Night Film" in preview


def test_users_and_tokens_from_the_cli(runner, client):
    made = runner.invoke(
        args=["users", "create", "Boss@Example.test", "--role", "admin"], input="long enough\nlong enough\n"
    )
    assert made.exit_code == 0, made.output
    token = runner.invoke(args=["tokens", "create", "boss@example.test", "--name", "ci"]).output.strip().split()[-1]
    resp = client.post(
        "/api/v1/channels",
        json={"slug": "x", "name": "X", "timezone": "UTC"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 201
    weak = runner.invoke(args=["users", "create", "w@example.test", "--role", "editor"], input="short\nshort\n")
    assert weak.exit_code != 0 and "8 characters" in weak.output


def test_a_script_pipes_the_new_users_password_as_one_line(runner, session):
    from schedule_service.auth import check_password, user_by_email

    # As `echo "$PASSWORD" | flask --app wsgi users create …` does: one line, no confirmation.
    made = runner.invoke(args=["users", "create", "ops@example.test", "--role", "editor"], input="  spaces kept  \n")
    assert made.exit_code == 0, made.output
    user = user_by_email(session, "ops@example.test")
    assert check_password(user, "  spaces kept  ") and not check_password(user, "spaces kept")
    empty = runner.invoke(args=["users", "create", "none@example.test", "--role", "editor"], input="")
    assert empty.exit_code != 0 and "stdin" in empty.output

"""The audit trail and API tokens through the API: who changed what, and tokens their owners control."""

from schedule_service.db import db
from schedule_service.models import ApiToken, AuditEntry
from tests.staff_actions import cheap_password_hashing  # noqa: F401

CHANNEL = {"slug": "mir", "name": "Mir", "timezone": "Europe/Moscow", "broadcast_day_start": "05:00"}


def test_creating_a_channel_leaves_an_entry_naming_the_token_owner(client, session, make_user):
    from schedule_service.auth import create_token

    user = make_user("ed@example.test", "editor")
    _, raw = create_token(session, user)
    session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.post("/api/v1/channels", json=CHANNEL, headers=headers).status_code == 201
    assert client.patch("/api/v1/channels/mir", json={"name": "Mir TV"}, headers=headers).status_code == 200

    trail = client.get("/api/v1/audit?entity=channel&id=mir", headers=headers).json
    assert [e["action"] for e in trail["items"]] == ["update", "create"]  # newest first
    update = trail["items"][0]
    assert update["actor"] == "ed@example.test"
    assert update["entity"] == "channel" and update["entity_id"] == "mir"
    assert update["changes"] == {"name": ["Mir", "Mir TV"]}
    assert update["at"].endswith("+00:00")
    assert trail["next"] is None


def test_the_trail_pages_back_in_time_without_gaps(client, editor, make_channel):
    for i in range(7):
        make_channel(f"ch{i}")
    seen, url = [], "/api/v1/audit?entity=channel&limit=3"
    while url:
        page = client.get(url, headers=editor).json
        seen += [e["entity_id"] for e in page["items"]]
        url = page["next"]
    assert seen == [f"ch{i}" for i in reversed(range(7))]


def test_the_trail_is_for_staff_only_and_never_writable(client, editor):
    assert client.get("/api/v1/audit").status_code == 401
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)("/api/v1/audit", json={}, headers=editor).status_code == 405


def test_bad_trail_queries_are_400(client, editor):
    resp = client.get("/api/v1/audit?limit=0", headers=editor)
    assert resp.status_code == 400 and "limit" in resp.json["errors"]
    assert client.get("/api/v1/audit?before=x", headers=editor).status_code == 400


def test_a_token_is_shown_once_works_and_stops_when_revoked(client, editor, session):
    made = client.post("/api/v1/tokens", json={"name": "playout"}, headers=editor)
    assert made.status_code == 201
    raw = made.json["token"]
    assert raw.startswith(made.json["prefix"])
    mine = {"Authorization": f"Bearer {raw}"}
    listed = client.get("/api/v1/tokens", headers=mine).json["items"]
    assert "token" not in listed[0]
    assert {t["name"] for t in listed} == {"api", "playout"}
    assert db.session.query(ApiToken).filter_by(token_hash=raw).count() == 0  # stored only hashed

    assert client.delete(f"/api/v1/tokens/{made.json['id']}", headers=editor).status_code == 204
    assert client.post("/api/v1/channels", json=CHANNEL, headers=mine).status_code == 401
    actions = [(e.action, e.entity) for e in session.query(AuditEntry).order_by(AuditEntry.id)]
    assert ("create", "token") in actions and ("revoke", "token") in actions


def test_staff_cannot_see_or_revoke_each_others_tokens_but_an_admin_can(client, auth_header):
    alice, bob, boss = auth_header("editor"), auth_header("editor"), auth_header("admin")
    bobs = client.get("/api/v1/tokens", headers=bob).json["items"][0]
    assert all(t["id"] != bobs["id"] for t in client.get("/api/v1/tokens", headers=alice).json["items"])
    assert client.delete(f"/api/v1/tokens/{bobs['id']}", headers=alice).status_code == 404
    assert len(client.get("/api/v1/tokens", headers=boss).json["items"]) == 3
    assert client.delete(f"/api/v1/tokens/{bobs['id']}", headers=boss).status_code == 204
    assert client.get("/api/v1/tokens", headers=bob).status_code == 401


def test_users_changes_are_audited_without_secrets(session, make_user):
    from schedule_service.auth import update_user

    boss = make_user("boss@example.test", "admin")
    ed = make_user("ed@example.test", "editor")
    update_user(session, ed, boss.email, role="admin", password="another horse")
    session.commit()
    entries = session.query(AuditEntry).filter_by(entity="user", entity_id=str(ed.id)).order_by(AuditEntry.id).all()
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].actor == "boss@example.test"
    assert entries[1].changes["role"] == ["editor", "admin"]
    assert "another horse" not in str(entries[1].changes) and ed.password_hash not in str(entries[1].changes)


def test_the_last_admin_cannot_be_demoted_or_deactivated(session, make_user):
    import pytest

    from schedule_service.auth import update_user

    boss = make_user("boss@example.test", "admin")
    with pytest.raises(ValueError, match="last active admin"):
        update_user(session, boss, boss.email, role="editor")
    with pytest.raises(ValueError, match="last active admin"):
        update_user(session, boss, boss.email, is_active=False)
    make_user("second@example.test", "admin")
    update_user(session, boss, boss.email, role="editor")
    assert boss.role == "editor"


def test_a_tokens_last_use_is_written_once_the_answer_is_out_and_at_most_once_a_minute(client, editor, session):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from schedule_service import clock

    def use(at: datetime) -> dict:
        with clock.frozen(at):
            resp = client.get("/api/v1/tokens", headers=editor)
            resp.close()  # the server closes the answer once it is sent; the use is written then
        return resp.json["items"][0]

    def last_used() -> datetime | None:
        session.rollback()  # the requests ran in this session: leave their snapshot (SQLite's WAL keeps it)
        value = session.scalars(select(ApiToken.last_used_at)).one()
        session.rollback()  # on SQLite a transaction outside a request holds the write lock: let it go
        return value

    first = datetime(2031, 11, 21, 20, 0, tzinfo=UTC)
    assert use(first)["last_used_at"] is None  # never used before this answer
    assert last_used() == first
    assert use(first + timedelta(seconds=40))["last_used_at"] == "2031-11-21T20:00:00+00:00"
    assert last_used() == first  # within the minute: no write
    use(first + timedelta(minutes=2))
    assert last_used() == first + timedelta(minutes=2)

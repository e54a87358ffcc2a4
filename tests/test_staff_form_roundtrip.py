"""Every staff edit form is lossless (SPEC §12): it shows each stored value, and Save unchanged changes nothing.

Each form is opened and read as a browser reads it (tests/html_forms.py), then posted back exactly
as it came; the API's representation of what it edits, the posts, and the audit trail must be
the same afterwards. A real edit through each form must still save and leave one audit entry.
"""

import base64
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import select

from schedule_service import auth, clock, schedule
from schedule_service.models import Programme, Slot, User
from schedule_service.models.programme import TRANSLATED
from schedule_service.promos import plan
from schedule_service.publishing import target_settings
from tests.conftest import LOADED
from tests.html_forms import read_form
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

SECRET = "whsec_" + base64.b64encode(b"round-trip-tests-signing-key-32b").decode()
ADMIN = "boss@example.test"


@dataclass
class Rich:
    """The demo with every kind of stored value the staff forms edit."""

    exclusive: Programme
    news: Programme
    slot: Slot
    odd_slot: Slot
    editor: User
    ids: dict = field(default_factory=dict)


@pytest.fixture
def rich(session, demo, make_user) -> Rich:
    """The demo, its exclusive with two guests and three translations, plans with several targets, odd values."""
    with clock.frozen(LOADED):
        make_user(ADMIN, "admin")
        editor = make_user("ed@example.test", "editor")
        mir = demo.channel
        schedule.update_channel(
            session, mir, {"names": {"en": "Mir", "ru": "Мир", "hy": "Միր"}, "languages": ["en", "ru", "hy"]}, "test"
        )
        exclusive = demo.programme
        schedule.update_programme(
            session,
            exclusive,
            {
                "subtitle": "Twenty-five years of the treaty",
                "summary": "First line.\nSecond line, after a newline.\n\nA paragraph.",
                "guests": [
                    {"name": "Serzh Sargsyan", "role": "President of Armenia"},
                    {"name": "Ivan Ivanov | host's guest", "role": None},
                ],
                "presenter": "Anna Petrova",
                "image_url": "https://img.example.org/sargsyan.jpg",
                "episode_num": "1/1",
                "translations": {
                    **{lang: {k: getattr(t, k) for k in TRANSLATED} for lang, t in exclusive.translations.items()},
                    "hy": {"title": "Սերժ Սարգսյան. բացառիկ հարցազրույց"},
                    "de": {
                        "title": "Sersch Sargsjan: das Exklusivinterview",
                        "quote": "Nicht gegen jemanden.",
                        "guests": [{"name": "Sersch Sargsjan", "role": None}, {"name": "Iwan Iwanow", "role": "Gast"}],
                    },
                },
            },
            "test",
        )
        target_settings.create_target(
            session,
            {
                "name": "hook",
                "kind": "webhook",
                "url": "http://127.0.0.1:9/hook",
                "secret": SECRET,
                "lang": "ru",
                "timezone": "Asia/Yerevan",
                "max_length": 500,
                "is_approval_required": True,
            },
            "test",
        )
        target_settings.create_target(
            session,
            {"name": "tg", "kind": "telegram", "token": "123456:bot-token", "chat_id": "@mirtv", "is_enabled": False},
            "test",
        )
        plan.set_channel_plan(
            session,
            mir,
            [
                {"name": "eve", "day": -1, "at_local": "19:30", "targets": ["web", "hook"], "template": "short"},
                {"name": "soon", "offset": "-PT15M", "targets": ["hook", "web"]},
            ],
            "test",
        )
        plan.set_programme_plan(
            session,
            exclusive,
            [
                {"name": "teaser", "offset": "-P1D", "targets": ["tg", "web"], "template": "default"},
                {"name": "tonight", "day": 0, "at_local": "18:00", "targets": ["web"]},
            ],
            "test",
        )
        news = session.scalar(select(Programme).where(Programme.title == "News"))
        # A slot of odd length, starting at seconds past the minute (the API allows both).
        odd = schedule.create_slot(
            session,
            mir,
            news,
            {"start_local": datetime(2031, 12, 15, 9, 0, 30), "duration_minutes": 47, "is_live": True},
            "test",
        )
        schedule.update_slot(session, odd, {"end": odd.end_at.replace(second=45)}, "test")
        session.commit()
    return Rich(exclusive=exclusive, news=news, slot=demo, odd_slot=odd, editor=editor)


@pytest.fixture
def staff(client, rich):
    actions = StaffActions(client)
    assert actions.login(ADMIN).status_code == 302
    return actions


@pytest.fixture
def api(app, session, rich):
    """Read the API as an integrator would, with a bearer token of its own."""
    user = session.scalar(select(User).where(User.email == ADMIN))
    _, raw = auth.create_token(session, user, "round-trip")
    session.commit()
    reader = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}

    def get(path: str):
        resp = reader.get(path, headers=headers)
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        return resp.get_json()

    return get


@dataclass(frozen=True)
class Case:
    """One edit form: its page, which form on it, the button, and the API reads of what it edits."""

    name: str
    page: str
    reads: tuple[str, ...]
    css: str = "main form[method=post]"
    submit: str | None = None


def _cases(rich: Rich) -> dict[str, Case]:
    ex, slot, odd, ed = rich.exclusive.id, rich.slot.id, rich.odd_slot.id, rich.editor.id
    return {
        case.name: case
        for case in (
            Case("programme", f"/staff/programmes/{ex}", (f"/api/v1/programmes/{ex}",), "main form.programme"),
            Case("programme without guests or a plan", f"/staff/programmes/{rich.news.id}", ()),
            Case("channel settings", "/staff/channels/mir/settings", ("/api/v1/channels/mir",)),
            Case("slot", f"/staff/slots/{slot}", (f"/api/v1/slots/{slot}",), f"form[action='/staff/slots/{slot}']"),
            Case("odd slot", f"/staff/slots/{odd}", (f"/api/v1/slots/{odd}",), f"form[action='/staff/slots/{odd}']"),
            Case("channel plan", "/staff/channels/mir/plan", ("/api/v1/channels/mir/promo-plan",), submit="save"),
            Case(
                "programme plan",
                f"/staff/programmes/{ex}/plan",
                (f"/api/v1/programmes/{ex}/promo-plan",),
                submit="save",
            ),
            Case(
                "programme following its channel's plan",
                f"/staff/programmes/{rich.news.id}/plan",
                (f"/api/v1/programmes/{rich.news.id}/promo-plan",),
                submit="save",
            ),
            Case("webhook target", "/staff/targets/hook", ("/api/v1/targets/hook",)),
            Case("telegram target", "/staff/targets/tg", ("/api/v1/targets/tg",)),
            Case("web target", "/staff/targets/web", ("/api/v1/targets/web",)),
            Case("user", "/staff/users", (), f"form[action='/staff/users/{ed}']"),
        )
    }


CASES = [
    "programme",
    "programme without guests or a plan",
    "channel settings",
    "slot",
    "odd slot",
    "channel plan",
    "programme plan",
    "programme following its channel's plan",
    "webhook target",
    "telegram target",
    "web target",
    "user",
]


def _state(api, session, rich: Rich, case: Case) -> dict:
    """Everything a save could touch, as the outside world sees it."""
    state = {path: api(path) for path in case.reads}
    state["programmes"] = api("/api/v1/programmes?limit=1000")
    state["channels"] = api("/api/v1/channels")
    state["slots"] = api("/api/v1/slots?limit=1000")
    state["targets"] = api("/api/v1/targets")
    state["posts"] = api("/api/v1/posts?limit=1000")
    state["audit"] = api("/api/v1/audit?limit=1000")
    state["last change"] = _last_cursor(api)  # the change feed's newest cursor
    session.expire_all()
    state["users"] = [
        (u.email, u.role, u.is_active, u.password_hash) for u in session.scalars(select(User).order_by(User.id))
    ]
    return state


def _open(staff, case: Case):
    page = staff.get(case.page)
    assert page.status_code == 200, page.text
    form = read_form(page.text, case.page, case.css, submit=case.submit)
    assert any(name.endswith("csrf_token") for name, _ in form.fields) and len(form.fields) > 3, form.fields
    return form


@pytest.mark.parametrize("name", CASES)
def test_saving_a_form_unchanged_changes_nothing(staff, api, session, rich, name):
    case = _cases(rich)[name]
    with clock.frozen(LOADED):
        before = _state(api, session, rich, case)
        form = _open(staff, case)
        resp = staff.client.post(form.action, data=form.data())
        assert resp.status_code == 302 and "/login" not in resp.location, resp.text
        assert _state(api, session, rich, case) == before


# What the forms show: every stored value, editable


def test_the_programme_form_shows_guests_and_every_translation(staff, rich):
    form = _open(staff, _cases(rich)["programme"])
    assert form.value("summary") == "First line.\r\nSecond line, after a newline.\r\n\r\nA paragraph."
    assert [form.value(f"guests-{i}-name") for i in (0, 1)] == ["Serzh Sargsyan", "Ivan Ivanov | host's guest"]
    assert [form.value(f"guests-{i}-role") for i in (0, 1)] == ["President of Armenia", ""]
    assert form.value("exclusive") == "y"
    langs = {form.value(f"translations-{i}-lang"): i for i in range(3)}
    assert set(langs) == {"de", "hy", "ru"}
    ru = langs["ru"]
    assert form.value(f"translations-{ru}-title") == "Серж Саргсян: эксклюзивное интервью"
    assert form.value(f"translations-{ru}-quote") == "Договор о коллективной безопасности ни против кого не направлен."
    assert form.value(f"translations-{langs['de']}-quote") == "Nicht gegen jemanden."
    assert form.value(f"translations-{ru}-category") == "интервью"
    assert form.value(f"translations-{ru}-guests-0-name") == "Серж Саргсян"
    assert form.value(f"translations-{ru}-guests-0-role") == "президент Армении"
    de = langs["de"]
    assert [form.value(f"translations-{de}-guests-{i}-name") for i in (0, 1)] == ["Sersch Sargsjan", "Iwan Iwanow"]
    assert [form.value(f"translations-{de}-guests-{i}-role") for i in (0, 1)] == ["", "Gast"]
    assert form.value("image_alt") == "Serzh Sargsyan in the Mir studio, speaking to the interviewer"
    assert not any("<built-in" in v or "{'name'" in v for _, v in form.fields)


def test_the_channel_form_shows_names_per_language_languages_and_the_day_start(staff, rich):
    form = _open(staff, _cases(rich)["channel settings"])
    names = {form.value(f"names-{i}-lang"): form.value(f"names-{i}-name") for i in range(3)}
    assert names == {"en": "Mir", "ru": "Мир", "hy": "Միր"}
    assert form.value("languages") == "en, ru, hy"
    assert form.value("broadcast_day_start") == "05:00"
    assert form.value("xmltv_id") == "mir.example"


def test_the_plan_form_shows_each_step_with_its_targets_and_template(staff, rich):
    form = _open(staff, _cases(rich)["channel plan"])
    assert [form.value(f"steps-{i}-name") for i in (0, 1)] == ["eve", "soon"]
    assert (form.value("steps-0-day"), form.value("steps-0-at_local"), form.value("steps-0-offset")) == (
        "-1",
        "19:30",
        "",
    )
    assert form.value("steps-1-offset") == "-PT15M"
    assert sorted(form.values("steps-0-targets")) == ["hook", "web"]
    assert sorted(form.values("steps-1-targets")) == ["hook", "web"]
    assert (form.value("steps-0-template"), form.value("steps-1-template")) == ("short", "")


def test_the_target_form_shows_its_settings_but_never_its_credentials(staff, rich):
    form = _open(staff, _cases(rich)["webhook target"])
    assert (form.value("url"), form.value("lang"), form.value("timezone")) == (
        "http://127.0.0.1:9/hook",
        "ru",
        "Asia/Yerevan",
    )
    assert form.value("max_length") == "500"
    assert form.value("requires_approval") == "y" and form.values("enabled") == ["y"]
    assert form.value("secret") == ""
    assert SECRET not in staff.get("/staff/targets/hook").text


def test_the_slot_form_shows_seconds_past_the_minute(staff, rich):
    form = _open(staff, _cases(rich)["odd slot"])
    assert form.value("start_local") == "2031-12-15T09:00:30"
    assert form.value("live") == "y" and form.values("premiere") == []


# A real edit still saves, and is audited once


EDITS = {
    "programme": (
        {
            "guests-1-role": "Host's guest",
            "translations-{ru}-subtitle": "25 лет договору",
            "translations-{ru}-guests-1-name": "Иван Иванов",
        },
        lambda api, r: (
            api(f"/api/v1/programmes/{r.exclusive.id}")["guests"][1]["role"],
            api(f"/api/v1/programmes/{r.exclusive.id}")["translations"]["ru"]["subtitle"],
            api(f"/api/v1/programmes/{r.exclusive.id}")["translations"]["ru"]["guests"],
        ),
        (
            "Host's guest",
            "25 лет договору",
            [{"name": "Серж Саргсян", "role": "президент Армении"}, {"name": "Иван Иванов", "role": None}],
        ),
    ),
    "channel settings": (
        {"names-{hy}-name": "Мир (Армения)", "broadcast_day_start": "06:00"},
        lambda api, r: (api("/api/v1/channels/mir")["names"]["hy"], api("/api/v1/channels/mir")["broadcast_day_start"]),
        ("Мир (Армения)", "06:00"),
    ),
    "odd slot": (
        {"duration_minutes": "30"},
        lambda api, r: api(f"/api/v1/slots/{r.odd_slot.id}")["duration_minutes"],
        30,
    ),
    "channel plan": (
        {"steps-1-offset": "-PT20M"},
        lambda api, r: api("/api/v1/channels/mir/promo-plan")[1],
        {"name": "soon", "offset": "-PT20M", "targets": ["hook", "web"]},
    ),
    "programme plan": (
        {"steps-1-at_local": "18:30"},
        lambda api, r: api(f"/api/v1/programmes/{r.exclusive.id}/promo-plan"),
        [
            {"name": "teaser", "offset": "-P1D", "targets": ["tg", "web"], "template": "default"},
            {"name": "tonight", "day": 0, "at_local": "18:30", "targets": ["web"]},
        ],
    ),
    "webhook target": (
        {"max_length": "400"},
        lambda api, r: api("/api/v1/targets/hook")["max_length"],
        400,
    ),
    "user": (
        {"u{ed}-role": "admin"},
        lambda api, r: r.editor.role,
        "admin",
    ),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edit_through_each_form_saves_and_is_audited_once(staff, api, session, rich, name):
    case = _cases(rich)[name]
    typed, read, expected = EDITS[name]
    with clock.frozen(LOADED):
        form = _open(staff, case)
        places = {"ed": rich.editor.id}
        if name == "programme":
            places["ru"] = next(n.split("-")[1] for n, v in form.fields if n.endswith("-lang") and v == "ru")
        if name == "channel settings":
            places["hy"] = next(n.split("-")[1] for n, v in form.fields if n.endswith("-lang") and v == "hy")
        typed = {k.format(**places): v for k, v in typed.items()}
        entries = api("/api/v1/audit?limit=1000")["items"]
        cursor = _last_cursor(api)
        resp = staff.client.post(form.action, data=form.changed(typed))
        assert resp.status_code in (302, 303), resp.text
        session.expire_all()
        assert read(api, rich) == expected
        new = api("/api/v1/audit?limit=1000")["items"][: -len(entries) or None]
        assert len(new) == 1 and new[0]["actor"] == ADMIN, new
        fed = {i["entity"] for i in api(f"/api/v1/changes?since={cursor}&limit=1000")["items"]}
        assert fed == FED.get(name, set())


#: What each form's edit shows in the change feed (SPEC §10): plans, targets and users are not in it;
#: a channel's new day start changes how each of its slots shows.
FED = {"programme": {"programme"}, "channel settings": {"channel", "slot"}, "odd slot": {"slot"}}


def _last_cursor(api) -> int:
    """The feed's newest cursor, followed from the beginning."""
    cursor = 0
    while items := api(f"/api/v1/changes?since={cursor}&limit=1000")["items"]:
        cursor = items[-1]["cursor"]
    return cursor


def test_a_stale_slot_edit_is_still_refused(staff, session, rich):
    """The slot form carries the version it showed: a save over someone else's change is refused."""
    case = _cases(rich)["slot"]
    with clock.frozen(LOADED):
        form = _open(staff, case)
        schedule.update_slot(session, rich.slot, {"is_live": True}, "other@example.test")
        session.commit()
        resp = staff.client.post(form.action, data=form.changed({"premiere": "y"}))
    assert resp.status_code == 412


def test_the_users_form_without_a_password_keeps_the_password(staff, session, rich):
    before = rich.editor.password_hash
    form = _open(staff, _cases(rich)["user"])
    assert form.value(f"u{rich.editor.id}-password") == ""
    staff.client.post(form.action, data=form.data())
    session.expire_all()
    assert rich.editor.password_hash == before


# The blank forms: rows to fill in without a script


def _blank(staff, path: str, css: str = "main form[method=post]"):
    page = staff.get(path)
    assert page.status_code == 200
    return read_form(page.text, path, css)


def test_a_new_programme_gets_guests_and_a_translation_through_the_blank_rows(staff, api):
    form = _blank(staff, "/staff/programmes/new", "main form.programme")
    assert form.value("translations-0-lang") == "ru"  # offered: the service's other language
    typed = {
        "title": "Vremya",
        "duration_minutes": "30",
        "guests-0-name": "Ekaterina Andreeva",
        "guests-0-role": "presenter",
        "guests-1-name": "Ivan Ivanov",
        "translations-0-title": "Время",
        "translations-0-summary": "Главное за день.\r\nИ погода.",
    }
    resp = staff.client.post(form.action, data=form.changed(typed))
    assert resp.status_code == 302, resp.text
    got = api(f"/api/v1/programmes/{resp.location.rsplit('/', 1)[1]}")
    assert got["guests"] == [{"name": "Ekaterina Andreeva", "role": "presenter"}, {"name": "Ivan Ivanov", "role": None}]
    assert got["translations"]["ru"]["title"] == "Время"
    assert got["translations"]["ru"]["summary"] == "Главное за день.\nИ погода."


def test_a_new_channel_gets_its_names_through_the_blank_rows(staff, api):
    form = _blank(staff, "/staff/new-channel")
    assert [form.value(f"names-{i}-lang") for i in range(3)] == ["en", "ru", ""]
    typed = {
        "slug": "pervyi",
        "name": "Channel One",
        "timezone": "Europe/Moscow",
        "names-1-name": "Первый канал",
        "names-2-lang": "hy",
        "names-2-name": "Առաջին ալիք",
        "languages": "ru, hy",
    }
    resp = staff.client.post(form.action, data=form.changed(typed))
    assert resp.status_code == 302, resp.text
    got = api("/api/v1/channels/pervyi")
    assert got["names"] == {"ru": "Первый канал", "hy": "Առաջին ալիք"} and got["languages"] == ["ru", "hy"]
    assert got["broadcast_day_start"] == "06:00"


def test_a_guest_role_without_a_name_is_refused_by_its_row(staff, rich):
    form = _open(staff, _cases(rich)["programme"])
    resp = staff.client.post(form.action, data=form.changed({"guests-2-role": "interpreter"}))
    assert resp.status_code == 422 and "A guest needs a name." in resp.text


# The operations under the forms: given what is there already, they write nothing


def test_the_api_given_back_what_it_showed_writes_nothing(app, session, rich):
    """PATCH or PUT each resource with its own GET: no change, no audit entry (the forms' operations)."""
    user = session.scalar(select(User).where(User.email == ADMIN))
    _, raw = auth.create_token(session, user, "writer")
    session.commit()
    client, auth_header = app.test_client(), {"Authorization": f"Bearer {raw}"}
    ex, slot = rich.exclusive.id, rich.odd_slot.id
    dump_only = {"id", "has_secret", "has_token", "limit", "created_at", "updated_at"}
    writes = [
        ("PATCH", f"/api/v1/programmes/{ex}", {}),
        ("PATCH", "/api/v1/channels/mir", {}),
        ("PATCH", "/api/v1/targets/hook", {}),
        ("PUT", "/api/v1/channels/mir/promo-plan", {}),
        ("PUT", f"/api/v1/programmes/{ex}/promo-plan", {}),
        ("PATCH", f"/api/v1/slots/{slot}", {"keep": ("programme_id", "start", "end", "premiere", "live", "status")}),
    ]
    with clock.frozen(LOADED):
        trail = client.get("/api/v1/audit?limit=1000", headers=auth_header).get_json()
        for method, path, how in writes:
            got = client.get(path, headers=auth_header)
            body = got.get_json()
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k not in dump_only and k in how.get("keep", body)}
            headers = {**auth_header, **({"If-Match": got.headers["ETag"]} if "ETag" in got.headers else {})}
            resp = client.open(path, method=method, json=body, headers=headers)
            assert resp.status_code == 200, (path, resp.get_json())
            assert client.get(path, headers=auth_header).get_json() == got.get_json(), path
        assert client.get("/api/v1/audit?limit=1000", headers=auth_header).get_json() == trail

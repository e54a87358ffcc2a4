"""The promo desk's staff pages: the calendar, bulk approval, a post's own template, previews per network, the log."""

import re
from datetime import timedelta

import pytest
from lxml import html
from sqlalchemy import select

from schedule_service import clock, schedule
from schedule_service.models import AuditEntry, Post, Target
from schedule_service.models.promo import HELD, PLANNED
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import BOT_TOKEN, webhook_sink
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

make_post, make_target, publish = support.make_post, support.make_target, support.publish

START = utc(2031, 11, 21, 21, 5)  # 00:05 Moscow on the 22nd
WEEK_BEFORE = utc(2031, 11, 15, 9, 0)
OWN = "ONLY ON {{ channel }}: {{ title }}, {{ when }}. {{ link }}"


@pytest.fixture(autouse=True)
def _week_before():
    with clock.frozen(WEEK_BEFORE):
        yield


def words(page: str) -> str:
    return re.sub(r"\s+", " ", html.fromstring(page).text_content())


@pytest.fixture
def staff(client, make_user):
    make_user("ed@example.test", "editor")
    actions = StaffActions(client)
    assert actions.login("ed@example.test").status_code == 302
    return actions


@pytest.fixture
def slot(make_channel, make_programme, make_slot, session):
    web = session.scalar(select(Target).where(Target.name == "web"))
    web.is_approval_required = True  # the slot's posts are held for a person
    session.commit()
    mir = make_channel("mir", name="Mir", timezone="Europe/Moscow", broadcast_day_start="05:00")
    interview = make_programme(
        "Serzh Sargsyan: the exclusive interview",
        is_exclusive=True,
        image_url="https://mir.example/sargsyan.jpg",
        summary="An hour with the former president. " * 30,
    )
    return make_slot(START, channel=mir, programme=interview)


def held_posts(session, slot):
    session.expire_all()
    return session.scalars(select(Post).where(Post.slot_id == slot.id, Post.status == HELD).order_by(Post.id)).all()


def post_entries(session, post):
    session.expire_all()
    return session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "post", AuditEntry.entity_id == str(post.id))
    ).all()


def test_the_calendar_shows_posts_by_day_channel_and_target_with_their_states(staff, session, slot):
    page = staff.get("/staff/desk?date=2031-11-20&days=3")
    assert page.status_code == 200
    doc = html.fromstring(page.text)
    assert "Times in Europe/Moscow." in words(page.text)
    headers = [th.text_content() for th in doc.cssselect("table.desk thead th")]
    assert headers[0] == "Day" and any("Mir" in h and "web" in h for h in headers)
    rows = {tr.cssselect("th")[0].text_content(): tr for tr in doc.cssselect("table.desk tbody tr")}
    assert list(rows) == ["Thu 20 Nov", "Fri 21 Nov", "Sat 22 Nov"]
    friday = rows["Fri 21 Nov"].text_content()
    assert "18:00 MSK Serzh Sargsyan" in friday and "held" in friday
    # each held post can be ticked for the bulk approval
    ticks = doc.cssselect("input[name=ids]")
    assert sorted(int(t.get("value")) for t in ticks) == [p.id for p in held_posts(session, slot)]
    # filters: another target shows nothing; the day before shows nothing
    assert "No posts in these days." in words(staff.get("/staff/desk?date=2031-11-20&target=nowhere&days=1").text)


def test_ticked_posts_are_approved_at_once_and_each_audited(staff, session, slot):
    first, second, *rest = held_posts(session, slot)
    resp = staff.post("/staff/desk/approve", {"ids": [str(first.id), str(second.id)], "next": "/staff/desk"})
    assert resp.status_code == 302 and resp.location == "/staff/desk"
    assert "Approved 2 posts." in words(staff.get("/staff/desk").text)
    session.expire_all()
    assert [session.get(Post, p.id).status for p in (first, second)] == [PLANNED, PLANNED]
    assert all(session.get(Post, p.id).status == HELD for p in rest)
    assert [e.action for p in (first, second) for e in post_entries(session, p)] == ["approve", "approve"]
    # ticking a post already approved says why, and changes nothing
    again = staff.post("/staff/desk/approve", {"ids": [str(first.id)]}, follow_redirects=True)
    assert "only a held post can be approved" in words(again.text)


def test_a_posts_template_form_saves_unchanged_without_a_trace_and_changes_when_edited(staff, session, slot):
    post = held_posts(session, slot)[0]
    url = f"/staff/desk/posts/{post.id}"
    page = staff.get(url)
    assert page.status_code == 200
    doc = html.fromstring(page.text)
    assert doc.cssselect("textarea#template")[0].text_content().strip() == ""
    # saving the form as shown changes nothing and writes no audit entry
    resp = staff.post(url, {"template": "", "action": "save"}, follow_redirects=True)
    assert "Nothing changed." in words(resp.text)
    assert post_entries(session, post) == []
    # previewing shows the new text on each target, saves nothing
    shown = staff.post(url, {"template": OWN, "action": "preview"})
    assert shown.status_code == 200 and "ONLY ON Mir: Serzh Sargsyan" in words(shown.text)
    session.expire_all()
    assert session.get(Post, post.id).own_template is None
    saved = staff.post(url, {"template": OWN, "action": "save"}, follow_redirects=True)
    assert f"Saved the template of post {post.id}." in words(saved.text)
    session.expire_all()
    assert session.get(Post, post.id).own_template == OWN
    assert html.fromstring(saved.text).cssselect("textarea#template")[0].text_content().strip() == OWN
    staff.post(url, {"template": OWN, "action": "save"})  # unchanged again: still one entry
    assert [e.action for e in post_entries(session, post)] == ["template"]
    # a template of several lines comes back from a browser with CRLF line breaks: the same template
    lines = OWN.replace(". ", ".\n")
    staff.post(url, {"template": lines, "action": "save"})
    again = staff.post(url, {"template": lines.replace("\n", "\r\n"), "action": "save"}, follow_redirects=True)
    assert "Nothing changed." in words(again.text)
    assert [e.action for e in post_entries(session, post)] == ["template", "template"]


def test_a_bad_or_too_long_template_is_explained_beside_it_and_not_saved(staff, session, slot, make_target):
    make_target("tg", "telegram", url="https://api.telegram.example", token=BOT_TOKEN, chat_id="@mir", max_length=200)
    post = held_posts(session, slot)[0]
    url = f"/staff/desk/posts/{post.id}"
    unknown = staff.post(url, {"template": "{{ title }} {{ nonsense }}", "action": "save"})
    assert unknown.status_code == 422 and "unknown placeholders: nonsense" in words(unknown.text)
    shown = staff.post(url, {"template": "x" * 300 + " {{ title }} {{ when }} {{ link }}", "action": "preview"})
    assert "Too long for tg:" in words(shown.text) and "at most 200" in words(shown.text)
    session.expire_all()
    assert session.get(Post, post.id).own_template is None


def test_previews_look_like_each_networks_post_with_length_picture_and_what_was_shortened(
    staff, session, slot, make_target
):
    make_target("tg", "telegram", url="https://api.telegram.example", token=BOT_TOKEN, chat_id="@mir")
    make_target("toots", "mastodon", url="https://social.example", token="t" * 30)
    post = held_posts(session, slot)[0]
    doc = html.fromstring(staff.get(f"/staff/desk/posts/{post.id}").text)
    telegram = doc.cssselect("figure.net-telegram")[0]
    assert telegram.cssselect("img.tg-photo")[0].get("src") == "https://mir.example/sargsyan.jpg"
    assert "Serzh Sargsyan" in telegram.cssselect(".tg-text")[0].text_content()
    # A photo's text is its caption: 1024 characters, so the long summary is shortened there.
    assert re.search(r"\d+ of 1024 characters", telegram.text_content())
    assert "the summary is shortened" in telegram.text_content()
    mastodon = doc.cssselect("figure.net-mastodon")[0]
    assert "of 500 characters" in mastodon.text_content()
    assert "the summary is shortened" in mastodon.text_content()  # 30 sentences do not fit 500
    assert len(mastodon.cssselect(".toot-text")[0].text_content()) <= 500
    web = doc.cssselect("figure.net-web")[0]
    assert "no limit" in web.text_content() and web.cssselect(".feed-item h3 a")


def test_the_desk_speaks_russian(staff, session, slot):
    post = held_posts(session, slot)[0]
    calendar = staff.get("/staff/desk?date=2031-11-21&days=1&lang=ru").text
    assert "Промо-стол" in calendar and "Одобрить отмеченные" in calendar and "придержан" in words(calendar)
    editor = staff.get(f"/staff/desk/posts/{post.id}?lang=ru").text
    assert "Собственный шаблон поста" in editor and "Время: Europe/Moscow." in editor


def test_the_publish_log_shows_what_went_out_after_the_slot_moved(
    staff, session, httpserver, make_channel, make_programme, make_slot, make_target, make_post, publish
):
    sink = webhook_sink(httpserver)
    quiet = make_channel("quiet", name="Quiet", timezone="Europe/Moscow", promo_plan=[])
    slot = make_slot(START, channel=quiet, programme=make_programme("Evening talk"))
    hook = make_target("hook", url=httpserver.url_for("/hook"))
    noon = utc(2031, 11, 21, 12)
    post = make_post(slot, hook, due_at=noon)
    with clock.frozen(noon):
        publish()
    with clock.frozen(noon + timedelta(hours=1)):
        schedule.update_slot(session, slot, {"start": START + timedelta(hours=1)}, "editor@example.test")
        session.commit()
        publish()
    first, second = (e["data"]["text"] for e in sink.events())
    log = html.fromstring(staff.get(f"/staff/posts?slot={slot.id}").text)
    row = log.cssselect(f"#post-{post.id}")[0]
    assert row.cssselect(".preview")[0].text_content() == first  # what went out, not the corrected text
    page = staff.get(f"/staff/posts/{post.id}").text
    assert first in html.fromstring(page).text_content()
    (correction,) = session.scalars(select(Post).where(Post.parent_id == post.id)).all()
    shown = html.fromstring(staff.get(f"/staff/posts/{correction.id}").text).text_content()
    assert second in shown and "It replaced:" in shown and first in shown


def test_a_post_says_why_it_waits_when_its_channel_is_paused_or_its_programme_embargoed(
    staff, session, slot, client, editor
):
    post = held_posts(session, slot)[0]
    page = f"/staff/desk/posts/{post.id}"
    assert "Waiting" not in words(staff.get(page).text)
    paused = client.post("/api/v1/channels/mir/promos/pause", json={"reason": "press office"}, headers=editor)
    assert paused.status_code == 200, paused.text
    assert "Waiting: the channel's promos are paused. press office" in words(staff.get(page).text)
    assert "Ждёт: промо канала приостановлены. press office" in words(staff.get(page + "?lang=ru").text)
    client.post("/api/v1/channels/mir/promos/resume", headers=editor)
    schedule.update_programme(session, slot.programme, {"embargo_until": START - timedelta(hours=3)}, "test")
    session.commit()
    assert "Waiting: the programme is under embargo until" in words(staff.get(page).text)

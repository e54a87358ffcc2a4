"""The staff pages of promos and publishing: plan editor with previews, approvals, publish log, targets."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from schedule_service import clock, schedule
from schedule_service.models import AuditEntry, Channel, Post, PostAttempt, Target
from schedule_service.models.promo import FAILED, HELD, PLANNED, PUBLISHED, UNKNOWN
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import SECRET
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

make_post, make_target = support.make_post, support.make_target

START = utc(2031, 11, 21, 21, 5)  # 00:05 Moscow on the 22nd: broadcast day the 21st
#: A week before START: its steps are within the planning horizon (14 days).
WEEK_BEFORE = utc(2031, 11, 15, 9, 0)


@pytest.fixture(autouse=True)
def _week_before():
    with clock.frozen(WEEK_BEFORE):
        yield


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&amp;", "&")


@pytest.fixture
def staff(client, make_user):
    make_user("ed@example.test", "editor")
    actions = StaffActions(client)
    assert actions.login("ed@example.test").status_code == 302
    return actions


@pytest.fixture
def boss(client, make_user):
    make_user("boss@example.test", "admin")
    actions = StaffActions(client)
    assert actions.login("boss@example.test").status_code == 302
    return actions


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", name="Mir", timezone="Europe/Moscow", broadcast_day_start="05:00")


@pytest.fixture
def interview(make_programme):
    return make_programme("Serzh Sargsyan: the exclusive interview", is_exclusive=True)


@pytest.fixture
def slot(make_slot, mir, interview):
    return make_slot(START, channel=mir, programme=interview)


@pytest.fixture
def approval_needed(session):
    """The built-in web target holds its posts for a person."""
    web = session.scalar(select(Target).where(Target.name == "web"))
    web.is_approval_required = True
    session.commit()
    return web


def plan_form(*steps, action="preview", preview_slot=None) -> dict:
    data = {"action": action}
    if preview_slot is not None:
        data["preview_slot"] = str(preview_slot)
    for i, step in enumerate(steps):
        for key, value in step.items():
            if key == "targets":
                data[f"steps-{i}-targets"] = value
            else:
                data[f"steps-{i}-{key}"] = "" if value is None else str(value)
    return data


# Promo plans


def test_a_channel_plan_previews_each_steps_when_phrase_for_a_coming_slot(staff, slot):
    page = staff.get("/staff/channels/mir/plan")
    assert page.status_code == 200
    text = words(page.text)
    assert "follows the service's default plan" in text
    # the default plan's steps, each as it would read when due
    assert "2031-11-21 18:00 MSK tonight right after midnight" in text
    assert "in 10 minutes" in text and "on air now" in text
    assert "Serzh Sargsyan: the exclusive interview" in text


def test_previewing_unsaved_steps_saves_nothing(staff, session, slot):
    resp = staff.post(
        "/staff/channels/mir/plan",
        plan_form({"name": "hour", "offset": "-PT1H", "targets": ["web"]}, preview_slot=slot.id),
    )
    assert resp.status_code == 200
    text = words(resp.text)
    assert "in 60 minutes" in text
    assert "2031-11-21 23:05 MSK" in text  # an exact hour before 00:05
    assert session.get(Channel, slot.channel_id).promo_plan is None


def test_saving_a_plan_replans_the_slots_posts_and_is_audited(staff, session, slot):
    resp = staff.post(
        "/staff/channels/mir/plan",
        plan_form(
            {"name": "eve", "day": 0, "at_local": "19:00", "targets": ["web"]},
            {"name": "soon", "offset": "-PT5M", "targets": ["web"], "template": "short"},
            action="save",
        ),
    )
    assert resp.status_code == 302
    session.expire_all()
    channel = session.get(Channel, slot.channel_id)
    assert [s["name"] for s in channel.promo_plan] == ["eve", "soon"]
    posts = session.scalars(select(Post).where(Post.slot_id == slot.id, Post.status == PLANNED)).all()
    assert sorted(p.step for p in posts) == ["eve", "soon"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "channel").order_by(AuditEntry.id.desc()))
    assert entry.first().actor == "ed@example.test"
    assert "19:00" in staff.get("/staff/channels/mir/plan").text  # the form shows what was saved


def test_a_bad_step_is_explained_in_its_row_and_nothing_is_saved(staff, session, slot):
    resp = staff.post(
        "/staff/channels/mir/plan",
        plan_form(
            {"name": "ok", "offset": "-PT5M", "targets": ["web"]},
            {"name": "bad", "offset": "soon", "targets": ["web"]},
            action="save",
        ),
    )
    assert resp.status_code == 422
    error = re.search(r'id="steps-1-offset-error"[^>]*>([^<]+)<', resp.text).group(1)
    assert "not an ISO 8601 duration" in error
    session.expire_all()
    assert session.get(Channel, slot.channel_id).promo_plan is None


def test_a_step_needs_a_target(staff, slot):
    resp = staff.post("/staff/channels/mir/plan", plan_form({"name": "lonely", "offset": "-PT5M"}, action="save"))
    assert resp.status_code == 422
    assert re.search(r'id="steps-0-targets-error"', resp.text)


def test_a_channel_goes_back_to_the_default_plan(staff, session, mir):
    schedule_plan = [{"name": "x", "offset": "-PT5M", "targets": ["web"]}]
    from schedule_service.promos import plan

    plan.set_channel_plan(session, mir, schedule_plan, "test")
    session.commit()
    assert staff.post("/staff/channels/mir/plan", {"action": "reset"}).status_code == 302
    session.expire_all()
    assert session.get(Channel, mir.id).promo_plan is None


def test_a_programme_of_its_own_with_no_steps_has_no_promos(staff, session, slot, interview):
    # Saving the empty form changes nothing (it goes on following its channel's plan); the button says it.
    assert "No promos for this programme" in staff.get(f"/staff/programmes/{interview.id}/plan").text
    resp = staff.post(f"/staff/programmes/{interview.id}/plan", {"action": "none"})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(type(interview), interview.id).promo_plan == []
    unsent = session.scalars(select(Post).where(Post.slot_id == slot.id, Post.status.in_((PLANNED, HELD)))).all()
    assert unsent == []
    assert "Serzh Sargsyan" in staff.get("/staff/plans").text  # listed among programmes with their own plan


# Approvals


def test_a_held_post_shows_its_text_and_is_approved_by_a_person(staff, session, approval_needed, slot):
    held = session.scalars(select(Post).where(Post.slot_id == slot.id, Post.status == HELD)).all()
    assert held, "the web target requires approval, so the slot's posts are held"
    page = staff.get("/staff/approvals")
    text = words(page.text)
    assert "tonight right after midnight" in text  # the 18:00 post's text as it will read
    post = next(p for p in held if p.step == "tonight")
    resp = staff.post(f"/staff/posts/{post.id}/approve", {"next": "/staff/approvals"})
    assert resp.status_code == 302 and resp.location == "/staff/approvals"
    session.refresh(post)
    assert post.status == PLANNED
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "post", AuditEntry.action == "approve")).one()
    assert entry.actor == "ed@example.test" and entry.changes["status"] == ["held", "planned"]
    history = words(staff.get(f"/staff/slots/{slot.id}").text).split("History", 1)[1]
    assert f"approve post {post.id}" in history  # the slot's page tells its posts' story too
    # approving it again is refused, in words, and changes nothing
    again = staff.post(f"/staff/posts/{post.id}/approve", {"next": "/staff/approvals"}, follow_redirects=True)
    assert "only a held post can be approved" in words(again.text)
    session.refresh(post)
    assert post.status == PLANNED


def test_a_planned_post_can_be_held(staff, session, slot):
    post = session.scalars(select(Post).where(Post.slot_id == slot.id, Post.step == "tonight")).one()
    assert staff.post(f"/staff/posts/{post.id}/hold").status_code == 302
    session.refresh(post)
    assert post.status == HELD


def test_post_actions_off_the_site_are_not_followed(staff, session, slot):
    post = session.scalars(select(Post).where(Post.slot_id == slot.id, Post.step == "tonight")).one()
    resp = staff.post(f"/staff/posts/{post.id}/hold", {"next": "https://evil.example/"})
    assert resp.location == f"/staff/posts/{post.id}"


# The publish log


def test_the_log_shows_every_post_with_its_attempts_errors_and_link(staff, session, slot, make_target, make_post):
    hook = make_target("hook", url="http://127.0.0.1:9/hook")
    failed = make_post(
        slot, hook, due_at=utc(2031, 11, 21, 12), step="a", status=FAILED, attempts=3, last_error="connection refused"
    )
    sent = make_post(
        slot,
        hook,
        due_at=utc(2031, 11, 21, 13),
        step="b",
        status=PUBLISHED,
        attempts=1,
        published_at=utc(2031, 11, 21, 13),
        external_url="https://social.example/@mir/1",
    )
    page = staff.get("/staff/posts")
    text = words(page.text)
    assert f"#{failed.id}" in text and "connection refused" in text and "failed" in text
    assert 'href="https://social.example/@mir/1"' in page.text
    only = words(staff.get("/staff/posts?status=failed").text)
    assert f"#{failed.id}" in only and f"#{sent.id}" not in only
    assert f"#{sent.id}" in words(staff.get(f"/staff/posts?target=hook&slot={slot.id}").text)


def test_a_failed_post_is_retried(staff, session, slot, make_target, make_post):
    hook = make_target("hook", url="http://127.0.0.1:9/hook")
    post = make_post(slot, hook, due_at=utc(2031, 11, 21, 12), status=FAILED, attempts=2, last_error="timeout")
    assert staff.post(f"/staff/posts/{post.id}/retry", {"next": "/staff/posts"}).status_code == 302
    session.refresh(post)
    assert post.status == PLANNED and post.last_error is None


def test_an_unknown_post_is_marked_published_where_a_person_found_it(staff, session, slot, make_target, make_post):
    tg = make_target("tg", kind="telegram", token="123:abc", chat_id="@mirtv")
    post = make_post(slot, tg, due_at=utc(2031, 11, 21, 12), status=UNKNOWN, attempts=1)
    session.add(PostAttempt(post_id=post.id, started_at=utc(2031, 11, 21, 12), outcome=UNKNOWN, worker="w1"))
    session.commit()
    detail = words(staff.get(f"/staff/posts/{post.id}").text)
    assert "unknown" in detail and "w1" in detail
    bad = staff.post(f"/staff/posts/{post.id}/published", {"url": "javascript:alert(1)"}, follow_redirects=True)
    assert "an http(s) URL" in words(bad.text)
    session.refresh(post)
    assert post.status == UNKNOWN
    resp = staff.post(f"/staff/posts/{post.id}/published", {"url": "https://t.me/mirtv/42"})
    assert resp.status_code == 302
    session.refresh(post)
    assert post.status == PUBLISHED and post.external_url == "https://t.me/mirtv/42"
    assert post.published_at == utc(2031, 11, 21, 12)


def test_an_unknown_post_id_is_404(staff):
    assert staff.get("/staff/posts/999").status_code == 404
    assert staff.post("/staff/posts/999/approve").status_code == 404


# Targets


def test_targets_are_for_admins(staff):
    assert staff.get("/staff/targets").status_code == 403


def test_an_admin_adds_a_target_and_is_told_what_it_lacks(boss, session):
    resp = boss.post("/staff/targets", {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"})
    assert resp.status_code == 422
    assert "Standard Webhooks signing secret" in re.search(r'id="secret-error"[^>]*>([^<]+)<', resp.text).group(1)
    assert session.scalar(select(Target).where(Target.name == "hook")) is None
    resp = boss.post(
        "/staff/targets",
        {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET, "enabled": "y"},
    )
    assert resp.status_code == 302
    hook = session.scalar(select(Target).where(Target.name == "hook"))
    assert hook.secret == SECRET and hook.is_enabled
    page = boss.get("/staff/targets/hook")
    assert SECRET not in page.text and "a secret is set" in page.text


def test_an_admin_adds_a_vk_community_target_from_the_form(boss, session):
    assert '<option value="vk">' in boss.get("/staff/targets").text
    form = {"name": "vk", "kind": "vk", "chat_id": "-226123", "token": "vk1.a.token", "enabled": "y"}
    resp = boss.post("/staff/targets", form)
    assert resp.status_code == 422 and "not the wall&#39;s -123456" in resp.text
    assert boss.post("/staff/targets", {**form, "chat_id": "226123"}).status_code == 302
    vk = session.scalar(select(Target).where(Target.name == "vk"))
    assert vk.kind == "vk" and vk.chat_id == "226123" and vk.token == "vk1.a.token" and vk.limit == 16384


def test_editing_a_target_keeps_its_secret_and_checks_its_limit(boss, session, make_target):
    hook = make_target("hook", url="http://127.0.0.1:9/hook")
    form = {"url": "http://127.0.0.1:9/other", "max_length": "40", "enabled": "y"}
    resp = boss.post("/staff/targets/hook", form)
    assert resp.status_code == 422 and "at least 50" in resp.text
    resp = boss.post("/staff/targets/hook", {**form, "max_length": "280"})
    assert resp.status_code == 302
    session.refresh(hook)
    assert hook.url == "http://127.0.0.1:9/other" and hook.max_length == 280 and hook.secret == SECRET
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "target").order_by(AuditEntry.id.desc()))
    assert entry.first().actor == "boss@example.test"


def test_a_target_with_a_publish_log_is_disabled_not_deleted(boss, session, slot, make_target, make_post):
    hook = make_target("hook", url="http://127.0.0.1:9/hook")
    make_post(slot, hook, due_at=utc(2031, 11, 21, 12))
    resp = boss.post("/staff/targets/hook/delete", follow_redirects=True)
    assert "disable it" in words(resp.text)
    assert session.scalar(select(Target).where(Target.name == "hook")) is not None


def test_the_slot_page_lists_its_posts_with_their_actions(staff, session, approval_needed, slot):
    page = staff.get(f"/staff/slots/{slot.id}")
    text = words(page.text)
    assert "held" in text and "Approve" in text and "Preview its promos" in text


def test_the_slot_page_shows_its_steps_to_come_made_or_not_yet(staff, session, mir, interview, make_slot):
    far = make_slot(START + timedelta(days=30), channel=mir, programme=interview)
    text = words(staff.get(f"/staff/slots/{far.id}").text)
    assert "Steps to come" in text and "made when it comes within 14 days" in text
    assert "ten-minutes" in text and "on-air" in text

    near = make_slot(START, channel=mir, programme=interview)
    page = staff.get(f"/staff/slots/{near.id}").text
    (post,) = [p for p in session.scalars(select(Post).where(Post.slot_id == near.id)) if p.step == "tonight"]
    assert f'href="/staff/posts/{post.id}"' in page and "made when it comes" not in words(page)


def test_a_slot_marked_promoted_on_its_page_gets_its_posts(staff, session, mir, make_programme, make_slot):
    news = make_slot(START, channel=mir, programme=make_programme("News", duration_minutes=30), is_promoted=False)
    page = staff.get(f"/staff/slots/{news.id}").text
    (box,) = re.findall(r'<input[^>]*name="promoted"[^>]*>', page)
    assert "checked" not in box
    form = {
        "programme_id": str(news.programme_id),
        "start_local": "2031-11-22T00:05",
        "fold": "",
        "duration_minutes": "30",
        "version": str(news.version),
        "promoted": "y",
    }
    assert staff.post(f"/staff/slots/{news.id}", form).status_code == 302
    assert session.scalars(select(Post).where(Post.slot_id == news.id)).all()
    (box,) = re.findall(r'<input[^>]*name="promoted"[^>]*>', staff.get(f"/staff/slots/{news.id}").text)
    assert "checked" in box


def test_schedule_write_that_makes_an_unfittable_promo_says_so(staff, session, mir, make_programme):
    # a title too long for a 50-character target: the slot is refused with the step named
    session.add(Target(name="tiny", kind="web", max_length=50))
    session.commit()
    schedule.update_channel(session, mir, {}, "test")
    from schedule_service.promos import plan

    plan.set_channel_plan(session, mir, [{"name": "soon", "offset": "-PT5M", "targets": ["tiny"]}], "test")
    session.commit()
    long = make_programme("A title far too long to fit into a fifty character promo at all", duration_minutes=30)
    resp = staff.post(
        "/staff/channels/mir/slots",
        {"programme_id": str(long.id), "start_local": "2031-11-22T00:05", "fold": "", "promoted": "y"},
    )
    assert resp.status_code == 422
    assert "soon" in words(resp.text)

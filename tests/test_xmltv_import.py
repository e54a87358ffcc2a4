"""XMLTV import (SPEC §7): real-world guides in, per-channel all or nothing, idempotent, never XXE."""

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from schedule_service import clock
from schedule_service.db import db
from schedule_service.interchange import import_jobs
from schedule_service.interchange import xmltv_import as xi
from schedule_service.models import AuditEntry, Channel, ImportJob, Post, Programme, Slot, Target
from schedule_service.models.slot import CANCELLED, SCHEDULED
from tests.conftest import need, utc
from tests.import_support import fail_planning

DATA = Path(__file__).resolve().parent / "data" / "xmltv"
# Copies of the public sample guides (see their README), kept in the repository so a clean
# clone tests them wherever it is checked out.
SAMPLES = Path(__file__).resolve().parent / "data" / "epg"
GREEK = SAMPLES / "gr_xmltv_GREECE_el_2020-10-24_dst.xml"
OMSK = SAMPLES / "ru_iptvx_12-omsk_2025-09.xml"


def run(session, source, **kwargs) -> xi.ImportReport:
    """Import like the CLI does: apply, then commit (or roll back a dry run)."""
    if isinstance(source, str):
        source = io.BytesIO(source.encode())
    elif isinstance(source, bytes):
        source = io.BytesIO(source)
    report = xi.import_xmltv(session, source, **kwargs)
    if kwargs.get("dry_run"):
        session.rollback()
    else:
        session.commit()
    return report


def line_of(path: Path, text: str, encoding: str = "utf-8") -> int:
    """The number of the first line of ``path`` holding ``text``."""
    for number, line in enumerate(path.read_text(encoding=encoding).splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} is not in {path}")


def slots_of(session, slug: str, status: str | None = SCHEDULED) -> list[Slot]:
    query = select(Slot).join(Channel).where(Channel.slug == slug).order_by(Slot.start_at)
    if status:
        query = query.where(Slot.status == status)
    return session.scalars(query).all()


def state(session) -> dict:
    """Everything an import could touch, to compare before and after."""
    return {
        "channels": session.execute(select(Channel.id, Channel.slug, Channel.updated_at).order_by(Channel.id)).all(),
        "programmes": session.execute(select(Programme.id, Programme.updated_at).order_by(Programme.id)).all(),
        "slots": session.execute(
            select(Slot.id, Slot.version, Slot.start_at, Slot.end_at, Slot.status, Slot.programme_id).order_by(Slot.id)
        ).all(),
        "posts": session.execute(select(Post.id, Post.status, Post.due_at, Post.updated_at).order_by(Post.id)).all(),
        "audit": session.scalar(select(func.count(AuditEntry.id))),
    }


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", name="Mir", timezone="Europe/Moscow", xmltv_id="mir.ru", broadcast_day_start="05:00")


# The good cases


def test_a_guide_becomes_programmes_and_slots_at_the_right_instants(session, client, mir):
    report = run(session, (DATA / "good.xml").read_bytes())

    assert report.ok and not report.bad_items
    assert [(c.channel, c.created, c.created_channel) for c in report.channels] == [
        ("mir", 3, False),
        ("first-channel", 2, True),
    ]
    news, interview, evening = slots_of(session, "mir")
    assert (news.start_at, news.end_at) == (utc(2031, 11, 21, 17, 0), utc(2031, 11, 21, 18, 0))  # +0300
    assert (interview.start_at, interview.end_at) == (utc(2031, 11, 21, 18, 5), utc(2031, 11, 21, 19, 5))  # +0000
    # No offset: a wall time in the channel's zone, Moscow.
    assert (evening.start_at, evening.end_at) == (utc(2031, 11, 21, 19, 5), utc(2031, 11, 21, 20, 5))
    assert interview.is_premiere and not news.is_premiere

    first = session.scalar(select(Channel).where(Channel.slug == "first-channel"))
    assert (first.xmltv_id, first.name, first.names, first.timezone) == (
        "First.Channel",
        "First Channel",
        {"en": "First Channel", "ru": "Первый канал"},
        "UTC",
    )
    late, later = slots_of(session, "first-channel")
    assert late.start_at == utc(2031, 11, 21, 20, 0)  # 15:00 -0500
    assert later.start_at == utc(2031, 11, 21, 21, 0)  # "Z"
    assert late.programme_id == later.programme_id  # two airings of one programme

    body = client.get(f"/api/v1/programmes/{interview.programme_id}").json
    assert body["title"] == "Серж Саргсян: эксклюзивное интервью"
    assert body["language"] == "ru"
    assert body["subtitle"] == "25 лет Договору о коллективной безопасности"
    assert body["translations"]["en"] == {
        "title": "Serzh Sargsyan: the exclusive interview",
        "subtitle": "25 years of the Collective Security Treaty",
        "summary": "The President of Armenia on the CSTO.",
        "quote": None,
        "category": None,
        "image_alt": None,
        "guests": None,
    }
    assert body["presenter"] == "Anna Presenter"
    assert body["guests"] == [{"name": "Serzh Sargsyan"}, {"name": "Another Guest", "role": "himself"}]
    assert body["category"] == "interview"
    assert body["episode_num"] == "S1E5"  # the on-screen form before xmltv_ns
    assert body["image_url"] == "https://example.test/sargsyan.jpg"

    news_body = client.get(f"/api/v1/programmes/{news.programme_id}").json
    assert (news_body["title"], news_body["summary"], news_body["category"]) == (
        "Новости",
        "Главное за день.",
        "новости",
    )
    assert news_body["translations"]["en"]["title"] == "News"
    assert news_body["translations"]["en"]["summary"] == "The day's news."
    assert news_body["translations"]["en"]["category"] == "news"  # <category lang="en"> beside the Russian one

    # One audit entry for the channel's run, none per slot (SPEC §8a); each slot names the run.
    runs = session.scalars(select(AuditEntry).where(AuditEntry.action == "import")).all()
    assert sorted(e.entity_id for e in runs) == ["first-channel", "mir"] and {e.actor for e in runs} == {"import"}
    (entry,) = [e for e in runs if e.entity_id == "mir"]
    assert entry.changes["created"] == [None, 3]
    assert session.scalars(select(AuditEntry).where(AuditEntry.entity == "slot")).all() == []
    assert {s.import_id for s in slots_of(session, "mir")} == {entry.id}


@pytest.mark.parametrize(
    ("name", "encoding", "title"),
    [("cp1251.xml", "windows-1251", "Доброе утро"), ("koi8r.xml", "koi8-r", "Жить здорово!")],
)
def test_an_encoding_declared_in_the_prolog_is_honoured(session, name, encoding, title):
    path = DATA / name
    assert title.encode("utf-8") not in path.read_bytes()  # really not UTF-8 on disk
    report = run(session, path.read_bytes())

    assert report.ok
    (slot,) = slots_of(session, "perviy")
    assert slot.programme.title == title
    assert slot.channel.names == {"ru": "Первый канал"}
    if name == "cp1251.xml":
        assert slot.programme.summary == "Утреннее шоу: «новости», погода и гости."


def test_a_missing_stop_ends_at_the_next_programme(session):
    path = DATA / "missing_stop.xml"
    report = run(session, path.read_bytes())

    first, second, third = slots_of(session, "nostop")
    assert first.end_at == second.start_at == utc(2031, 11, 21, 10, 45)
    assert second.end_at == third.start_at == utc(2031, 11, 21, 12, 0)
    # The last one has nothing after it to end it: left out, said so, the rest applied.
    assert report.ok and not report.bad_items
    assert [(w.line, "no stop" in w.message) for w in report.warnings] == [(line_of(path, "Last, with"), True)]
    assert report.channels[0].skipped == 1


def test_wall_times_in_a_dst_fold_follow_air_order_and_a_gap_is_a_bad_item(session):
    path = DATA / "dst_naive.xml"
    report = run(session, path.read_bytes(), channel_map=xi.load_channel_map(DATA / "channels.csv"), skip_bad=True)

    ard = session.scalar(select(Channel).where(Channel.slug == "ard"))
    assert (ard.timezone, ard.name, ard.xmltv_id) == ("Europe/Berlin", "Das Erste", "ard.de")
    spans = [(s.programme.title, s.start_at, s.end_at) for s in slots_of(session, "ard")]
    assert spans == [
        ("Vor der Umstellung", utc(2031, 10, 25, 23, 30), utc(2031, 10, 26, 0, 15)),  # CEST
        ("Erste 02:15", utc(2031, 10, 26, 0, 15), utc(2031, 10, 26, 0, 45)),  # the first 02:15
        ("Über die Umstellung", utc(2031, 10, 26, 0, 45), utc(2031, 10, 26, 1, 15)),  # ends at the second
        ("Zweite 02:15", utc(2031, 10, 26, 1, 15), utc(2031, 10, 26, 2, 0)),  # CET
    ]
    (gap,) = report.bad_items
    assert gap.line == line_of(path, "In der Lücke")
    assert "does not exist" in gap.message and "Europe/Berlin" in gap.message
    # The channel map left skip.me out on purpose: a warning, not an error, and no channel.
    assert [w.channel for w in report.warnings] == ["skip.me"]
    assert session.scalar(select(Channel).where(Channel.xmltv_id == "skip.me")) is None


def test_clumped_programmes_share_one_slot(session):
    guide = """<tv><channel id="c"><display-name>C</display-name></channel>
<programme start="20311121100000" stop="20311121103000" channel="c" clumpidx="0/2"><title>News</title></programme>
<programme start="20311121100000" stop="20311121103000" channel="c" clumpidx="1/2"><title>Weather</title></programme>
</tv>"""
    report = run(session, guide)

    assert [s.programme.title for s in slots_of(session, "c")] == ["News"]
    assert [(w.line, "clump" in w.message) for w in report.warnings] == [(3, True)]
    assert report.ok


# Idempotence and newer guides


def test_importing_the_same_file_twice_changes_nothing(session, mir):
    guide = (DATA / "good.xml").read_bytes()
    run(session, guide)
    before = state(session)

    again = run(session, guide)

    assert state(session) == before  # no new versions, programmes, posts or audit entries
    assert again.totals()["unchanged"] == 5
    assert again.totals()["created"] == again.totals()["updated"] == again.totals()["cancelled"] == 0
    assert again.programmes_created == again.programmes_updated == 0


def test_a_newer_file_moves_its_programmes_and_replaces_the_overlapped_slots(session, mir):
    run(session, (DATA / "good.xml").read_bytes())
    news, interview, evening = slots_of(session, "mir")
    interview.programme.quote = "The collective security agreement is not directed against anyone."
    interview.programme.is_exclusive = True
    news.programme.is_exclusive = True
    session.commit()

    report = run(session, (DATA / "newer.xml").read_bytes())

    (summary,) = report.channels
    assert (summary.created, summary.updated, summary.unchanged, summary.cancelled) == (2, 1, 1, 1)
    after = slots_of(session, "mir")
    assert [(s.programme.title, s.start_at) for s in after] == [
        ("Новости", utc(2031, 11, 21, 17, 15)),
        ("Футбол", utc(2031, 11, 21, 18, 5)),
        ("Вечер без смещения", utc(2031, 11, 21, 19, 5)),
        ("Ночные новости", utc(2031, 11, 21, 20, 5)),
    ]
    moved = after[0]
    assert (moved.id, moved.version, moved.end_at) == (news.id, 2, utc(2031, 11, 21, 18, 5))  # the same slot, moved
    assert (after[2].id, after[2].version) == (evening.id, 1)  # untouched
    session.refresh(interview)
    assert interview.status == CANCELLED
    # Promos follow the ordinary rules: nothing of the cancelled slot is still to be sent.
    assert not session.scalars(
        select(Post).where(Post.slot_id == interview.id, Post.status.in_(("planned", "held")))
    ).all()
    actions = session.execute(
        select(AuditEntry.action, AuditEntry.entity_id).where(AuditEntry.entity == "slot", AuditEntry.actor == "import")
    ).all()
    assert ("cancel", str(interview.id)) in actions and ("update", str(news.id)) in actions
    # Staff fields of the programmes survive: the guide says nothing about them.
    assert news.programme.is_exclusive
    # The older file again: the news moves back, the interview returns in a new slot.
    back = run(session, (DATA / "good.xml").read_bytes())
    assert back.channels[0].cancelled == 1  # football; the late news is past the older file's end
    assert [s.programme.title for s in slots_of(session, "mir")] == [
        "Новости",
        "Серж Саргсян: эксклюзивное интервью",
        "Вечер без смещения",
        "Ночные новости",
    ]
    assert slots_of(session, "mir")[1].programme.quote.startswith("The collective")


def test_a_reimport_keeps_programme_ids_and_updates_what_the_guide_changed(session, mir):
    path = DATA / "good.xml"
    run(session, path.read_bytes())
    ids = {s.programme.title: s.programme_id for s in slots_of(session, "mir")}

    changed = path.read_text().replace("The President of Armenia on the CSTO.", "An interview on the CSTO.")
    report = run(session, changed)

    assert {s.programme.title: s.programme_id for s in slots_of(session, "mir")} == ids
    assert report.programmes_updated == 1 and report.totals()["updated"] == 1
    interview = session.get(Programme, ids["Серж Саргсян: эксклюзивное интервью"])
    assert interview.translations["en"].summary == "An interview on the CSTO."
    (entry,) = session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "programme", AuditEntry.action == "update")
    ).all()
    assert entry.actor == "import" and "translations" in entry.changes


def test_a_slot_entered_by_hand_that_the_guide_repeats_is_kept(session, mir, make_programme, make_slot):
    news = make_programme("Новости", language="ru", is_exclusive=True)
    by_hand = make_slot(utc(2031, 11, 21, 17, 0), channel=mir, programme=news, duration_minutes=50)
    other = make_slot(utc(2031, 11, 21, 18, 5), channel=mir, programme=make_programme("Hand-made film"))

    report = run(session, (DATA / "good.xml").read_bytes())

    session.refresh(by_hand)
    session.refresh(other)
    # Same title at the same start: the staff's slot and programme stay, retimed to the guide.
    assert (by_hand.status, by_hand.programme_id, by_hand.end_at) == (SCHEDULED, news.id, utc(2031, 11, 21, 18, 0))
    assert other.status == CANCELLED  # the interview replaces it
    assert session.scalar(select(func.count(Programme.id)).where(Programme.title == "Новости")) == 1
    assert report.channels[0].updated == 1 and report.channels[0].cancelled == 1
    before = state(session)
    run(session, (DATA / "good.xml").read_bytes())
    assert state(session) == before


def test_a_guide_this_service_exported_comes_back_without_a_change(session):
    from schedule_service.clock import now
    from schedule_service.demo import load_demo
    from schedule_service.interchange.xmltv_export import document

    load_demo(session)
    session.scalar(select(Channel).where(Channel.slug == "mir")).xmltv_id = None  # as a channel made by hand
    session.commit()
    guide = document(session, now(), 7, "http://schedule.test")
    assert b'channel="mir.schedule.test"' in guide  # a channel without xmltv_id, under our host
    before = state(session)

    report = run(session, guide, own_hosts=("schedule.test",))

    # Every showing the guide carries (the demo's week reaches back before now) comes back unchanged.
    assert report.ok and report.totals()["unchanged"] == guide.count(b"<programme ") > 0
    assert state(session) == before
    assert session.scalars(select(Channel.slug)).all() == ["mir"]


def test_a_channel_map_points_a_guide_channel_at_an_existing_channel(session, make_channel):
    make_channel("mir24", timezone="Europe/Moscow")
    mapping = xi.load_channel_map(io.StringIO(json.dumps({"12-omsk": "mir24"})))
    guide = """<tv><programme start="20311121100000 +0300" stop="20311121110000 +0300" channel="12-omsk">
<title>Mapped</title></programme></tv>"""
    report = run(session, guide, channel_map=mapping)

    assert report.ok and [c.channel for c in report.channels] == ["mir24"]
    assert [s.programme.title for s in slots_of(session, "mir24")] == ["Mapped"]


# Bad input


def test_bad_items_are_reported_by_line_and_keep_their_whole_channel_out(session):
    path = DATA / "bad.xml"
    report = run(session, path.read_bytes())

    got = {(b.line, b.channel) for b in report.bad_items}
    assert got == {
        (line_of(path, "Stop before start"), "alpha"),
        (line_of(path, "Overlapping"), "alpha"),
        (line_of(path, "Unparsable time"), "beta"),
        (line_of(path, "Unknown channel"), "gamma"),
    }
    messages = {b.line: b.message for b in report.bad_items}
    assert "before start" in messages[line_of(path, "Stop before start")]
    assert f"line {line_of(path, 'Alpha two')}" in messages[line_of(path, "Overlapping")]
    assert "unparsable time" in messages[line_of(path, "Unparsable time")]
    assert "unknown channel 'gamma'" in messages[line_of(path, "Unknown channel")]
    # alpha and beta: all or nothing, so nothing, not even the channel; delta is fine.
    assert {c.channel: c.applied for c in report.channels} == {"alpha": False, "beta": False, "delta": True}
    assert session.scalars(select(Channel.slug).order_by(Channel.slug)).all() == ["delta"]
    assert [s.programme.title for s in slots_of(session, "delta")] == ["Delta one"]
    assert not report.ok


def test_skip_bad_applies_the_good_items_of_a_channel_with_bad_ones(session):
    report = run(session, (DATA / "bad.xml").read_bytes(), skip_bad=True)

    assert [s.programme.title for s in slots_of(session, "alpha")] == ["Alpha one", "Alpha two"]
    assert [s.programme.title for s in slots_of(session, "beta")] == ["Beta one"]
    assert len(report.bad_items) == 4 and report.ok
    assert {c.channel: (c.created, c.skipped) for c in report.channels} == {
        "alpha": (2, 2),
        "beta": (1, 1),
        "delta": (1, 0),
    }


def test_a_programme_the_schedule_refuses_is_a_bad_item_of_its_own(session):
    # The web target allows 150 characters here: a title longer than that leaves no room for the
    # when-phrase and the link, so the ordinary rules refuse that programme's slot.
    session.scalar(select(Target).where(Target.name == "web")).max_length = 150
    session.commit()
    long = "Unpromotable " + "and far too long " * 9
    # Premieres, so promoted; imported a week ahead, so their posts are made now.
    guide = f"""<tv><channel id="r"><display-name>R</display-name></channel>
<programme start="20311121100000" stop="20311121110000" channel="r"><title>Fine</title><premiere/></programme>
<programme start="20311121110000" stop="20311121120000" channel="r"><title>{long}</title><premiere/></programme>
<programme start="20311121120000" stop="20311121130000" channel="r"><title>Also fine</title><premiere/></programme>
</tv>"""
    with clock.frozen(utc(2031, 11, 14)):
        whole = run(session, guide)
    assert [(b.line, "target 'web' allows 150" in b.message) for b in whole.bad_items] == [(3, True)]
    assert not whole.channels[0].applied
    assert session.scalar(select(func.count(Channel.id))) == 0  # the savepoint took the channel too

    with clock.frozen(utc(2031, 11, 14)):
        skipping = run(session, guide, skip_bad=True)
    assert [s.programme.title for s in slots_of(session, "r")] == ["Fine", "Also fine"]
    assert all(s.is_premiere for s in slots_of(session, "r"))
    assert skipping.ok and skipping.channels[0].created == 2 and skipping.channels[0].skipped == 1


def _guide_at(start, titles) -> str:
    """A guide of channel "x.tv": one programme per (title, hours from ``start``, minutes long)."""
    items = "".join(
        f'<programme start="{start + timedelta(hours=h):%Y%m%d%H%M%S} +0000" '
        f'stop="{start + timedelta(hours=h, minutes=m):%Y%m%d%H%M%S} +0000" channel="x.tv">'
        f"<title>{title}</title><sub-title>One</sub-title><desc>{'A long summary. ' * 40}</desc></programme>\n"
        for title, h, m in titles
    )
    return f'<tv><channel id="x.tv"><display-name>X</display-name></channel>\n{items}</tv>'


def _posts_and_trail(session, channel) -> list:
    """The channel's slots with their posts, ids left out, to compare two channels."""
    out = []
    for slot in slots_of(session, channel.slug):
        posts = session.scalars(select(Post).where(Post.slot_id == slot.id).order_by(Post.id)).all()
        out.append(
            (
                slot.programme_id,
                slot.start_at,
                slot.end_at,
                slot.version,
                [
                    (
                        p.step,
                        p.target.name,
                        p.action,
                        p.status,
                        p.due_at,
                        p.valid_until,
                        p.lang,
                        p.template,
                        p.idempotency_key.replace(f"slot-{slot.id}-", "slot-N-"),
                        # Only a target with a length limit has each blurb rendered when planned;
                        # the others get their text when sent.
                        p.text.replace(f"/slots/{slot.id}", "/slots/N") if p.target.limit is not None else None,
                    )
                    for p in posts
                ],
            )
        )
    return out


def test_new_slots_get_the_audit_entries_and_posts_making_them_one_by_one_would(session, make_channel):
    from schedule_service import schedule
    from schedule_service.clock import now

    session.add_all(
        [
            Target(name="hook", kind="webhook", url="http://127.0.0.1:9/hook", is_approval_required=True),
            Target(name="b-web", kind="web"),
            Target(name="toot", kind="mastodon", url="http://127.0.0.1:9", lang="ru", timezone="Asia/Omsk"),
        ]
    )
    plan = [
        {"name": "eve", "day": -1, "at_local": "18:00", "targets": ["web", "hook"]},
        {"name": "soon", "offset": "-PT10M", "targets": ["hook", "toot"], "template": "short"},
        # "a-b" on "web" and "a" on "b-web" spell the same key: the second counts up.
        {"name": "a-b", "offset": "-PT20M", "targets": ["web"]},
        {"name": "a", "offset": "-PT30M", "targets": ["b-web"]},
        {"name": "gone", "offset": "-PT40M", "targets": ["web"]},
    ]
    settings = dict(
        name="X",
        timezone="Europe/Moscow",
        broadcast_day_start="05:00",
        promo_plan=plan,
        languages=["ru"],
        promote="all",
    )
    x = make_channel("x", xmltv_id="x.tv", is_exclusive_approval_required=True, **settings)
    y = make_channel("y", is_exclusive_approval_required=True, **settings)
    session.commit()
    start = (now() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    first = [("Soon", -1, 50), ("Later", 1, 45), ("Tomorrow", 26, 60), ("Soon", 30, 50)]

    def one_by_one(slots):
        for slot in slots:
            schedule.create_slot(session, y, slot.programme, {"start": slot.start_at, "end": slot.end_at}, "import")
        session.commit()

    report = run(session, _guide_at(start, first))
    assert report.channels[0].created == 4 and report.programmes_created == 3
    one_by_one(slots_of(session, "x"))
    # A programme already there that the staff made exclusive: its new slot's posts are held.
    slots_of(session, "x")[-1].programme.is_exclusive = True
    session.commit()
    second = run(session, _guide_at(start, [*first, ("Soon", 50, 50)]))
    assert second.channels[0].created == 1 and second.channels[0].unchanged == 4
    one_by_one(slots_of(session, "x")[-1:])

    imported = _posts_and_trail(session, x)
    assert imported == _posts_and_trail(session, y)
    # The cases above happen: a past step left out, a counted-up key, holds, a rendered text.
    posts = [p for *_, ps in imported for p in ps]
    assert len(imported[0][-1]) < len(imported[-1][-1])
    assert any(p[8].endswith("-publish-2") for p in posts)
    assert {p[3] for p in posts if p[1] == "web" and p[2]} >= {"planned", "held"}
    assert all(p[3] == "held" for p in posts if p[1] == "hook")
    assert all(p[9] for p in posts if p[1] == "toot")


def test_imported_posts_read_as_they_will_when_due_in_the_api_and_on_the_staff_page(
    session, client, editor, make_channel, make_slot, make_user
):
    from schedule_service.clock import now
    from tests.staff_actions import StaffActions

    make_channel("x", name="X", xmltv_id="x.tv", timezone="Europe/Moscow", broadcast_day_start="05:00", promote="all")
    by_hand = make_channel("y", name="X", timezone="Europe/Moscow", broadcast_day_start="05:00")
    start = (now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    run(session, _guide_at(start, [("Evening news", 0, 30)]))
    (slot,) = slots_of(session, "x")
    twin = make_slot(start, channel=by_hand, programme=slot.programme, end=slot.end_at)  # one by one: text stored

    def texts(slot_id):
        items = client.get("/api/v1/posts", query_string={"slot_id": slot_id}, headers=editor).json["items"]
        return [(p["step"], p["target"], p["text"].replace(f"/slots/{slot_id}", "/slots/N")) for p in items]

    imported = texts(slot.id)
    assert imported and imported == texts(twin.id)
    assert all("Evening news" in text for *_, text in imported)
    # Text is made when sent: imports store it for few posts, and the others read as they will.
    post = session.scalars(select(Post).where(Post.slot_id == slot.id, Post.text.is_(None))).first()
    staff = StaffActions(client)
    assert staff.login(make_user("ed@example.test", "editor").email).status_code == 302
    page = staff.get(f"/staff/posts/{post.id}").text
    assert "as it will read when due" in page and "Evening news" in page
    # The slot's page shows the import run that made it, with the file's checksum.
    assert "sha256" in staff.get(f"/staff/slots/{slot.id}").text


def test_slots_made_in_bulk_are_refused_where_one_by_one_they_would_be(session, mir, make_programme, make_slot):
    from schedule_service import schedule

    there = make_slot(utc(2031, 11, 21, 10, 0), channel=mir)
    new = make_programme("New")

    def at(hour, minutes=60):
        return {"start": utc(2031, 11, 21, hour), "end": utc(2031, 11, 21, hour) + timedelta(minutes=minutes)}

    with pytest.raises(schedule.SlotRefused) as clash:
        schedule.create_slots(session, mir, [(new, at(8)), (new, at(10, 30))], "import")
    assert clash.value.index == 1 and isinstance(clash.value.error, schedule.Conflict)
    assert f"slot(s) {there.id} " in str(clash.value)
    session.rollback()
    with pytest.raises(schedule.SlotRefused) as each_other:
        schedule.create_slots(session, mir, [(new, at(12, 90)), (new, at(13))], "import")
    assert each_other.value.index == 1 and isinstance(each_other.value.error, schedule.Conflict)
    session.rollback()
    assert [s.id for s in slots_of(session, "mir")] == [there.id]


def test_an_import_bumps_the_schedule_generation_and_an_unchanged_one_does_not(session, mir):
    from schedule_service.models.generation import current

    before = current(session)
    run(session, (DATA / "good.xml").read_bytes())
    after = current(session)
    assert after > before
    run(session, (DATA / "good.xml").read_bytes())
    assert current(session) == after


def test_a_file_that_is_not_xml_is_refused_with_its_line_and_nothing_applied(session):
    path = DATA / "broken.xml"
    with pytest.raises(xi.GuideRefused) as refused:
        run(session, path.read_bytes())
    assert refused.value.line == line_of(path, "Unclosed") and "not well-formed" in refused.value.message
    assert session.scalar(select(func.count(Channel.id))) == 0

    with pytest.raises(xi.GuideRefused, match="empty"):
        run(session, b"")
    with pytest.raises(xi.GuideRefused, match="root element is <html>"):
        run(session, "<html><body>not a guide</body></html>")


def test_entity_tricks_are_refused_and_nothing_is_read_or_fetched(session, tmp_path, httpserver):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    httpserver.expect_request("/evil.dtd").respond_with_data('<!ENTITY leak "LEAKED">')
    xxe_file = f"""<?xml version="1.0"?>
<!DOCTYPE tv [ <!ENTITY xxe SYSTEM "file://{secret}"> ]>
<tv><channel id="x"><display-name>&xxe;</display-name></channel>
<programme start="20311121100000 +0000" stop="20311121110000 +0000" channel="x"><title>&xxe;</title></programme></tv>"""
    xxe_http = xxe_file.replace(f"file://{secret}", httpserver.url_for("/secret"))
    parameter = f"""<?xml version="1.0"?>
<!DOCTYPE tv [ <!ENTITY % remote SYSTEM "{httpserver.url_for("/evil.dtd")}"> %remote; ]>
<tv><programme start="20311121100000" stop="20311121110000" channel="x"><title>&leak;</title></programme></tv>"""

    for guide in (xxe_file, xxe_http, parameter, (DATA / "billion_laughs.xml").read_text()):
        with pytest.raises(xi.GuideRefused, match="declares entities"):
            run(session, guide)

    assert httpserver.log == []
    assert session.scalar(select(func.count(Channel.id))) == 0
    assert session.scalar(select(func.count(Programme.id))) == 0


def test_a_remote_dtd_is_never_fetched(session, httpserver):
    guide = f"""<?xml version="1.0"?>
<!DOCTYPE tv SYSTEM "{httpserver.url_for("/xmltv.dtd")}">
<tv><channel id="d"><display-name>D</display-name></channel>
<programme start="20311121100000 +0000" stop="20311121110000 +0000" channel="d"><title>Fine</title></programme></tv>"""
    report = run(session, guide)
    assert report.ok and len(slots_of(session, "d")) == 1
    assert httpserver.log == []


def test_a_dry_run_counts_everything_and_saves_nothing(session, mir):
    report = run(session, (DATA / "good.xml").read_bytes(), dry_run=True)

    assert report.dry_run and report.totals()["created"] == 5
    assert session.scalar(select(func.count(Slot.id))) == 0
    assert session.scalars(select(Channel.slug)).all() == ["mir"]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("20201025033000 +0300", ((2020, 10, 25, 3, 30, 0), 3 * 3600)),
        ("20201025033000 +0200", ((2020, 10, 25, 3, 30, 0), 2 * 3600)),
        ("202010250330 -0530", ((2020, 10, 25, 3, 30, 0), -(5 * 3600 + 30 * 60))),
        ("2020102503", ((2020, 10, 25, 3, 0, 0), None)),
        ("20201025", ((2020, 10, 25, 0, 0, 0), None)),
        ("200007281733 BST", ((2000, 7, 28, 17, 33, 0), 3600)),
        ("20201025033000+03:00", ((2020, 10, 25, 3, 30, 0), 3 * 3600)),
    ],
)
def test_xmltv_times(text, want):
    parsed = xi.parse_time(text)
    assert (parsed[:6], parsed[6]) == want


@pytest.mark.parametrize("text", ["", "2020-10-25 03:30", "20201325000000 +0000", "20201025033000 XYZ", "tomorrow"])
def test_xmltv_times_that_are_not(text):
    with pytest.raises(ValueError):
        xi.parse_time(text)


# The sample guides from public sources


def test_the_greek_sample_across_the_dst_switch(session):
    need(GREEK.exists(), f"the sample guide {GREEK} is not there")
    report = run(session, GREEK.read_bytes())

    assert len(report.channels) == 96  # 110 declared, 14 without programmes
    stop_before_start = {(b.line, b.channel) for b in report.bad_items}
    assert stop_before_start == {(8945, "25"), (25709, "100")}
    assert all("before start" in b.message for b in report.bad_items)
    assert {c.channel for c in report.channels if not c.applied} == {"25", "100"}
    assert session.scalar(select(func.count(Channel.id))) == 94
    # "start 03:30 +0300, stop 03:30 +0200" is an hour long.
    line = line_of(GREEK, 'start="20201025033000 +0300" stop="20201025033000 +0200"')
    slot = session.scalar(select(Slot).where(Slot.start_at == utc(2020, 10, 25, 0, 30)).limit(1))
    assert slot is not None and slot.end_at - slot.start_at == timedelta(hours=1), line

    # With --skip-bad the two channels come in without their one bad programme each; the
    # other 94 are as they were.
    skipping = run(session, GREEK.read_bytes(), skip_bad=True)
    assert skipping.ok and skipping.applied_channels == 96
    kept_out = sum(c.skipped for c in report.channels if not c.applied)
    assert kept_out == 7 + 14  # every programme of channels 25 and 100
    assert skipping.totals()["created"] == kept_out - 2 and skipping.totals()["skipped"] == 2
    assert skipping.totals()["unchanged"] == 1606 - (kept_out - 2)
    before = state(session)

    again = run(session, GREEK.read_bytes(), skip_bad=True)

    assert state(session) == before
    assert again.totals()["unchanged"] == 1606


def test_the_omsk_sample_in_moscow_time_on_an_omsk_channel(session, client):
    need(OMSK.exists(), f"the sample guide {OMSK} is not there")
    mapping = {"12-omsk": {"slug": "omsk-12", "timezone": "Asia/Omsk", "languages": ["ru"]}}
    report = run(session, OMSK.read_bytes(), channel_map=xi.load_channel_map(io.StringIO(json.dumps(mapping))))

    assert report.ok and report.totals()["created"] == 230
    channel = client.get("/api/v1/channels/omsk-12").json
    assert (channel["name"], channel["timezone"], channel["xmltv_id"]) == ("12 канал Омск", "Asia/Omsk", "12-omsk")
    first = slots_of(session, "omsk-12")[0]
    # 01:45 +0300 is 22:45 UTC, 04:45 on the Omsk wall clock.
    assert first.start_at == utc(2025, 9, 21, 22, 45)
    assert client.get(f"/api/v1/slots/{first.id}").json["start_local"] == "2025-09-22T04:45:00+06:00"
    assert first.programme.title == "д/с Необыкновенные люди" and first.programme.language == "ru"
    assert first.programme.summary.startswith("В этом документальном цикле")  # <desc> before <title>


# The command line


def test_cli_imports_and_prints_a_summary(runner, mir):
    result = runner.invoke(args=["xmltv", "import", str(DATA / "good.xml")])

    assert result.exit_code == 0, result.output
    assert "first-channel" in result.stdout and "new channel" in result.stdout
    assert len(slots_of(db.session, "mir")) == 3

    piped = runner.invoke(args=["xmltv", "import", "-"], input=(DATA / "good.xml").read_bytes())
    assert piped.exit_code == 0, piped.output
    total = next(line for line in piped.stdout.splitlines() if line.startswith("total"))
    assert total.split() == ["total", "0", "0", "5", "0", "0"]  # created updated unchanged cancelled skipped


def test_cli_reports_bad_items_on_stderr_and_exits_non_zero(runner):
    path = DATA / "bad.xml"
    result = runner.invoke(args=["xmltv", "import", str(path)])

    assert result.exit_code == 1
    assert f"{path}:{line_of(path, 'Stop before start')}: error: alpha:" in result.stderr
    assert f"{path}:{line_of(path, 'Unknown channel')}: error: gamma:" in result.stderr
    assert "NOT APPLIED" in result.stdout

    skipped = runner.invoke(args=["xmltv", "import", str(path), "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output
    assert f"{path}:{line_of(path, 'Overlapping')}: skipped: alpha:" in skipped.stderr


def test_cli_dry_run_channel_map_and_refusals(runner, tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"12-omsk": {"slug": "omsk", "timezone": "Asia/Omsk"}}))
    guide = tmp_path / "guide.xml"
    guide.write_text(
        '<tv><programme start="20311121100000 +0300" stop="20311121110000 +0300" channel="12-omsk">'
        "<title>T</title></programme></tv>"
    )
    dry = runner.invoke(args=["xmltv", "import", str(guide), "--channel-map", str(mapping), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing saved" in dry.stdout
    assert db.session.scalar(select(func.count(Channel.id))) == 0

    real = runner.invoke(args=["xmltv", "import", str(guide), "--channel-map", str(mapping)])
    assert real.exit_code == 0, real.output
    assert db.session.scalar(select(Channel.timezone).where(Channel.slug == "omsk")) == "Asia/Omsk"

    laughs = runner.invoke(args=["xmltv", "import", str(DATA / "billion_laughs.xml")])
    assert laughs.exit_code == 1 and "refused" in laughs.stderr and "entities" in laughs.stderr

    bad_map = tmp_path / "bad.csv"
    bad_map.write_text("12-omsk,Not A Slug\n")
    wrong = runner.invoke(args=["xmltv", "import", str(guide), "--channel-map", str(bad_map)])
    assert wrong.exit_code == 2 and "not a slug" in wrong.stderr


TWO_CHANNELS = """<tv><channel id="one"><display-name>One</display-name></channel>
<channel id="two"><display-name>Two</display-name></channel>
<programme start="20311121100000" stop="20311121110000" channel="one"><title>Fine</title></programme>
<programme start="20311121100000" stop="20311121110000" channel="two"><title>Boom</title></programme></tv>"""


def test_cli_commits_as_it_goes_so_a_crash_keeps_what_was_done(runner, tmp_path, monkeypatch):
    from schedule_service.promos import plan

    monkeypatch.setattr(xi, "COMMIT_EVERY", 0.0)  # every channel is past the interval: a commit each
    real_plan = fail_planning(monkeypatch, "two")
    guide = tmp_path / "guide.xml"
    guide.write_text(TWO_CHANNELS)
    result = runner.invoke(args=["xmltv", "import", str(guide)])

    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    db.session.rollback()
    assert [s.programme.title for s in slots_of(db.session, "one")] == ["Fine"]
    assert db.session.scalar(select(Channel).where(Channel.slug == "two")) is None
    # Importing again finishes the job and leaves channel one as it was.
    monkeypatch.setattr(plan, "plan_bulk", real_plan)
    again = runner.invoke(args=["xmltv", "import", str(guide)])
    assert again.exit_code == 0, again.output
    assert [s.programme.title for s in slots_of(db.session, "two")] == ["Boom"]
    assert len(slots_of(db.session, "one")) == 1


def test_cli_commits_the_channels_of_one_interval_together(runner, tmp_path, monkeypatch):
    from schedule_service.promos import plan

    monkeypatch.setattr(xi, "COMMIT_EVERY", 3600.0)  # both channels fall in one interval
    real_plan = fail_planning(monkeypatch, "two")
    guide = tmp_path / "guide.xml"
    guide.write_text(TWO_CHANNELS)
    result = runner.invoke(args=["xmltv", "import", str(guide)])

    # Channel one was done but not yet committed: the crash takes it back whole, nothing half made.
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    db.session.rollback()
    assert db.session.scalars(select(Channel.slug).where(Channel.slug.in_(["one", "two"]))).all() == []
    assert db.session.scalar(select(func.count()).select_from(Programme)) == 0
    monkeypatch.setattr(plan, "plan_bulk", real_plan)
    again = runner.invoke(args=["xmltv", "import", str(guide)])
    assert again.exit_code == 0, again.output
    assert [s.programme.title for s in slots_of(db.session, "one")] == ["Fine"]
    assert [s.programme.title for s in slots_of(db.session, "two")] == ["Boom"]


# The HTTP API: a request queues a job, a scheduler process runs it (see test_import_jobs.py)


def queued(client, headers, body, query: str = "", **kwargs):
    """Post a guide: 202 at once, the job's URL in Location, nothing imported yet."""
    resp = client.post(f"/api/v1/import/xmltv{query}", data=body, headers=headers, **kwargs)
    assert resp.status_code == 202, resp.json
    assert resp.headers["Location"] == f"/api/v1/imports/{resp.json['id']}"
    assert resp.json["status"] == "queued"
    return resp


def finished(client, headers, resp) -> dict:
    """Run the queued jobs as the scheduler's import job does; the job as the API then shows it."""
    import_jobs.run_pending(db.session, "test-scheduler", timedelta(minutes=5))
    job = client.get(resp.headers["Location"], headers=headers)
    assert job.status_code == 200
    assert job.json["status"] in ("done", "failed")
    return job.json


def test_api_imports_a_posted_guide(client, editor, mir):
    resp = queued(client, editor, (DATA / "good.xml").read_bytes(), content_type="application/xml")
    assert slots_of(db.session, "mir") == []  # not in the request

    job = finished(client, editor, resp)
    assert job["status"] == "done" and job["progress"] == {"channels_done": 2, "channels_total": 2}
    report = job["summary"]
    assert report["ok"] and report["totals"]["created"] == 5
    assert [c["channel"] for c in report["channels"]] == ["mir", "first-channel"]
    assert len(slots_of(db.session, "mir")) == 3

    again = queued(client, editor, (DATA / "good.xml").read_bytes(), content_type="text/xml")
    report = finished(client, editor, again)["summary"]
    assert report["totals"]["unchanged"] == 5 and report["totals"]["created"] == 0


def test_api_takes_a_form_with_a_channel_map_and_a_dry_run(client, editor):
    mapping = json.dumps({"ard.de": {"slug": "ard", "timezone": "Europe/Berlin"}, "skip.me": None})
    form = {
        "file": (io.BytesIO((DATA / "dst_naive.xml").read_bytes()), "guide.xml"),
        "channel_map": (io.BytesIO(mapping.encode()), "map.json"),
    }
    resp = queued(client, editor, form, "?dry_run=1&skip_bad=1", content_type="multipart/form-data")
    assert resp.json["file"]["name"] == "guide.xml" and resp.json["dry_run"]

    job = finished(client, editor, resp)
    assert job["status"] == "done"
    assert job["summary"]["dry_run"] and job["summary"]["totals"]["created"] == 4
    assert job["summary"]["bad_items"][0]["line"] == line_of(DATA / "dst_naive.xml", "In der Lücke")
    assert db.session.scalar(select(func.count(Channel.id))) == 0


def test_api_lists_bad_items_by_line_and_the_job_fails_when_nothing_applies(client, editor):
    path = DATA / "bad.xml"
    partly = finished(client, editor, queued(client, editor, path.read_bytes(), content_type="application/xml"))
    assert partly["status"] == "done"
    assert not partly["summary"]["ok"] and partly["summary"]["rejected_channels"] == 2
    assert {b["line"] for b in partly["summary"]["bad_items"]} == {
        line_of(path, t) for t in ("Stop before start", "Overlapping", "Unparsable time", "Unknown channel")
    }

    only_bad = path.read_text().replace('channel="delta"', 'channel="alpha"')
    job = finished(client, editor, queued(client, editor, only_bad, content_type="application/xml"))
    assert job["status"] == "failed"
    assert "nothing was imported" in job["error"]["detail"]
    assert f"line {line_of(path, 'Stop before start')}" in job["error"]["errors"]
    assert len(job["error"]["bad_items"]) == 4
    assert db.session.scalars(select(Channel.slug)).all() == ["delta"]  # from the first post only


def test_api_jobs_of_files_that_are_not_guides_fail_with_the_line(client, editor):
    broken = finished(
        client, editor, queued(client, editor, (DATA / "broken.xml").read_bytes(), content_type="application/xml")
    )
    assert broken["status"] == "failed"
    assert f"line {line_of(DATA / 'broken.xml', 'Unclosed')}" in broken["error"]["errors"]

    laughs = finished(
        client,
        editor,
        queued(client, editor, (DATA / "billion_laughs.xml").read_bytes(), content_type="application/xml"),
    )
    assert laughs["status"] == "failed" and "entities" in laughs["error"]["detail"]


def test_api_refuses_at_once_what_is_no_file_at_all(client, editor, session):
    as_json = client.post("/api/v1/import/xmltv", json={"tv": []}, headers=editor)
    assert as_json.status_code == 415

    empty = client.post("/api/v1/import/xmltv", data=b"", content_type="application/xml", headers=editor)
    assert empty.status_code == 422 and "empty" in empty.json["detail"]

    no_file = client.post("/api/v1/import/xmltv", data={"x": "1"}, content_type="multipart/form-data", headers=editor)
    assert no_file.status_code == 422 and "file" in no_file.json["errors"]
    assert session.scalar(select(func.count(ImportJob.id))) == 0


def test_api_import_and_its_jobs_are_for_staff(client, editor):
    resp = client.post("/api/v1/import/xmltv", data=(DATA / "good.xml").read_bytes(), content_type="application/xml")
    assert resp.status_code == 401
    assert db.session.scalar(select(func.count(Channel.id))) == 0

    job = queued(client, editor, (DATA / "good.xml").read_bytes(), content_type="application/xml")
    assert client.get(job.headers["Location"]).status_code == 401
    assert client.get("/api/v1/imports/999999", headers=editor).status_code == 404


def test_imported_premieres_are_promoted_and_far_ones_wait_for_the_horizon(session):
    from schedule_service.promos import plan

    guide = """<tv><channel id="r"><display-name>R</display-name></channel>
<programme start="20311121100000" stop="20311121110000" channel="r"><title>Film</title><premiere/></programme>
<programme start="20311121110000" stop="20311121120000" channel="r"><title>News</title></programme>
<programme start="20311221100000" stop="20311221110000" channel="r"><title>Later film</title><premiere/></programme>
</tv>"""
    with clock.frozen(utc(2031, 11, 14)):
        run(session, guide)
    film, news, later = slots_of(session, "r")
    assert (film.is_premiere, news.is_premiere, later.is_premiere) == (True, False, True)
    made = {slot_id for slot_id in session.scalars(select(Post.slot_id))}
    assert made == {film.id}  # news is no highlight; the later film is beyond the horizon
    assert film.plan_at is None and news.plan_at is None and later.plan_at is not None

    with clock.frozen(later.plan_at):
        assert plan.plan_due(session) == 1
        session.commit()
    assert {p.step for p in session.scalars(select(Post).where(Post.slot_id == later.id))} == {
        "day-before",
        "ten-minutes",
        "on-air",
    }  # "tonight at 18:00" would come after 10:00


def test_an_import_run_is_one_audit_entry_per_channel_shown_in_what_it_made(session, client, editor, tmp_path):
    import hashlib

    guide = tmp_path / "guide.xml"
    guide.write_text(
        """<tv><channel id="a"><display-name>A</display-name></channel>
<channel id="b"><display-name>B</display-name></channel>
<programme start="20311121100000" stop="20311121110000" channel="a"><title>One</title></programme>
<programme start="20311121110000" stop="20311121120000" channel="a"><title>Two</title></programme>
<programme start="20311121100000" stop="20311121110000" channel="b"><title>Three</title></programme>
</tv>
"""
    )
    xi.import_xmltv(session, guide)
    session.commit()
    runs = session.scalars(select(AuditEntry).where(AuditEntry.action == "import").order_by(AuditEntry.id)).all()
    assert [(r.actor, r.entity, r.entity_id) for r in runs] == [("import", "channel", "a"), ("import", "channel", "b")]
    assert runs[0].changes == {
        "created": [None, 2],
        "changed": [None, 0],
        "cancelled": [None, 0],
        "file": [None, "guide.xml"],
        "sha256": [None, hashlib.sha256(guide.read_bytes()).hexdigest()],
    }

    def history(entity, entity_id):
        query = {"entity": entity, "id": entity_id}
        return client.get("/api/v1/audit", query_string=query, headers=editor).json["items"]

    one, two = slots_of(session, "a")
    # The run's entry comes first (its id is older), so newest first it follows what it made.
    # The run is the one entry of what it made (SPEC §8a: one entry per channel per run).
    assert [(e["action"], e["entity"], e["entity_id"]) for e in history("slot", one.id)] == [("import", "channel", "a")]
    assert history("slot", one.id)[0]["changes"]["file"] == [None, "guide.xml"]
    assert [e["id"] for e in history("programme", one.programme_id)] == [runs[0].id]

    # A newer guide moves "Two": its history shows that run; "One", unchanged, keeps the first.
    guide.write_text(guide.read_text().replace("20311121120000", "20311121123000"))
    xi.import_xmltv(session, guide)
    session.commit()
    *old, newer = session.scalars(select(AuditEntry).where(AuditEntry.action == "import").order_by(AuditEntry.id))
    assert old == runs  # channel b did not change: no entry of its own (SPEC §7)
    assert newer.entity_id == "a" and newer.changes["changed"] == [None, 1]
    assert [(e["action"], e["entity"]) for e in history("slot", two.id)] == [("update", "slot"), ("import", "channel")]
    assert [e["id"] for e in history("slot", two.id) if e["action"] == "import"] == [newer.id]
    assert [e["id"] for e in history("slot", one.id) if e["action"] == "import"] == [runs[0].id]

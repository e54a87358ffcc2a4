"""Promo blurbs: per-language templates, the when-phrase at the moment of reading, per-target limits."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from jinja2.exceptions import SecurityError

from config.default import PUBLIC_URL
from schedule_service.models import Channel, Post, Programme, ProgrammeTranslation, Slot, Target
from schedule_service.promos import render
from schedule_service.promos.render import BadTemplate, PromoNotTrue, TooLong, post_lang, render_post, render_slot

MOSCOW = ZoneInfo("Europe/Moscow")
#: Outside an app, links use the configured default PUBLIC_URL.
LINK = f"{PUBLIC_URL.rstrip('/')}/slots/7"
START = datetime(2031, 11, 22, 0, 5, tzinfo=MOSCOW)
EVENING = datetime(2031, 11, 21, 18, 0, tzinfo=MOSCOW)
QUOTE = "The collective security agreement is not directed against anyone."
SUMMARY = (
    "On the 25th anniversary of the Collective Security Treaty and the 15th of the CSTO, "
    "the President of Armenia speaks to Mir about the alliance and its future."
)


def make_slot(**programme_values) -> Slot:
    """An unsaved slot of the demo's exclusive interview on Mir: rendering needs no database."""
    channel = Channel(
        slug="mir",
        name="Mir",
        names={"ru": "Мир"},
        timezone="Europe/Moscow",
        broadcast_day_start=time(5),
        languages=["ru", "en"],
    )
    values = {
        "title": "Serzh Sargsyan: the exclusive interview",
        "summary": SUMMARY,
        "is_exclusive": True,
        "guests": [{"name": "Serzh Sargsyan", "role": "President of Armenia"}],
        "quote": QUOTE,
        "language": "en",
        **programme_values,
    }
    programme = Programme(**values)
    programme.translations["ru"] = ProgrammeTranslation(
        lang="ru",
        title="Серж Саргсян: эксклюзивное интервью",
        quote="Договор ни против кого не направлен.",
        guests=[{"name": "Серж Саргсян", "role": "президент Армении"}],
    )
    return Slot(id=7, channel=channel, programme=programme, start_at=START, end_at=START + timedelta(hours=1))


def target(kind: str = "web", **values) -> Target:
    return Target(name=values.pop("name", kind), kind=kind, **values)


def test_the_english_blurb_has_every_part_and_the_when_phrase_of_the_moment():
    out = render_slot(make_slot(), target(), "en", EVENING)
    assert out.when == "tonight right after midnight"
    assert out.text.splitlines() == [
        # the programme leads; its title says "exclusive" already, and names its guest
        "Serzh Sargsyan: the exclusive interview — watch tonight right after midnight on Mir.",
        f"“{QUOTE}”",
        SUMMARY,
        LINK,
    ]
    assert out.length == len(out.text) and out.limit is None
    assert out.title == "Serzh Sargsyan: the exclusive interview"
    assert out.link == LINK


def test_the_russian_blurb_is_russian_and_leaves_out_what_is_only_in_english():
    out = render_slot(make_slot(), target(), "ru", EVENING)
    assert out.when == "сегодня сразу после полуночи"
    assert out.text.startswith("Серж Саргсян: эксклюзивное интервью — смотрите сегодня сразу после полуночи")
    assert "на телеканале «Мир»" in out.text
    assert "«Договор ни против кого не направлен.»" in out.text
    assert SUMMARY not in out.text  # no Russian summary: none rather than English in a Russian post
    assert out.title == "Серж Саргсян: эксклюзивное интервью"


def test_a_guest_without_a_russian_name_keeps_the_programmes_own():
    slot = make_slot()
    slot.programme.translations["ru"].guests = None
    out = render_slot(slot, target(), "ru", EVENING)
    assert out.text.splitlines()[1] == "Гость: Serzh Sargsyan, President of Armenia."
    english = render_slot(make_slot(), target(), "en", EVENING)
    assert english.text.startswith("Serzh Sargsyan: the exclusive interview — watch")


def test_the_text_follows_the_moment_it_is_read():
    slot = make_slot()
    assert "in 10 minutes" in render_slot(slot, target(), "en", START - timedelta(minutes=10)).text
    now_on = render_slot(slot, target(), "en", START + timedelta(minutes=5))
    assert now_on.when == "on air now" and "— on air now on Mir." in now_on.text
    assert "уже в эфире" in render_slot(slot, target(), "ru", START + timedelta(minutes=5)).text


def test_not_exclusive_says_no_exclusive_and_no_guest_puts_the_title_first():
    out = render_slot(make_slot(is_exclusive=False, guests=[]), target(), "en", EVENING)
    assert "exclusive:" not in out.text.lower()
    assert out.text.startswith("Serzh Sargsyan: the exclusive interview — watch tonight")


def test_the_audience_zone_is_the_targets_else_the_channels():
    slot = make_slot()
    assert render_slot(slot, target(timezone="Asia/Kolkata"), "en", EVENING).when == "tonight at 02:35"
    assert render_slot(slot, target(), "en", EVENING).when == "tonight right after midnight"


def test_after_the_end_or_when_cancelled_no_promo_is_true():
    slot = make_slot()
    with pytest.raises(PromoNotTrue):
        render_slot(slot, target(), "en", START + timedelta(hours=1))
    slot.status = "cancelled"
    with pytest.raises(PromoNotTrue, match="cancelled"):
        render_slot(slot, target(), "en", EVENING)


# Limits


def test_mastodon_drops_the_quote_before_touching_the_summary():
    # Just too long with the quote, fits without it.
    full = render_slot(make_slot(), target(), "en", EVENING).text
    limit = len(full) - 5
    out = render_slot(make_slot(), target("mastodon", max_length=limit), "en", EVENING)
    assert QUOTE not in out.text and SUMMARY in out.text
    assert out.length <= limit and out.limit == limit


def test_a_long_summary_is_shortened_with_an_ellipsis_to_mastodons_500():
    summary = " ".join(["The alliance, its history and its future."] * 40)
    out = render_slot(make_slot(summary=summary), target("mastodon"), "en", EVENING)
    assert out.limit == 500 and out.length <= 500
    assert out.length >= 480  # the room left is used, not thrown away
    assert QUOTE not in out.text
    body = out.text.splitlines()
    shortened = body[1]
    assert shortened.endswith("…") and summary.startswith(shortened[:-1])
    assert not shortened[:-1].endswith(" ")  # cut at a word, not inside one
    # Title, when-phrase and link stay whole.
    assert body[0] == "Serzh Sargsyan: the exclusive interview — watch tonight right after midnight on Mir."
    assert body[-1] == LINK


def test_a_blurb_that_cannot_fit_is_refused_in_words():
    title = "A very long title " * 30
    with pytest.raises(TooLong, match=r"needs \d+ characters.*'mastodon' allows 500"):
        render_slot(make_slot(title=title.strip()), target("mastodon"), "en", EVENING)


def test_telegram_counts_utf16_units_like_telegram_does():
    summary = "🎬" * 3000  # 2 UTF-16 units each
    out = render_slot(make_slot(summary=summary, quote=None), target("telegram"), "en", EVENING)
    assert out.limit == 4096 and out.length <= 4096
    assert out.length == len(out.text.encode("utf-16-le")) // 2
    assert len(out.text) < 4096 // 2 + 200  # characters, far fewer than the limit


def test_a_generous_limit_leaves_the_text_alone():
    out = render_slot(make_slot(), target("telegram"), "en", EVENING)
    assert QUOTE in out.text and SUMMARY in out.text


# Templates, languages, posts


def test_a_step_may_ask_for_another_template():
    out = render_slot(make_slot(), target(), "ru", EVENING, template="short")
    assert out.text == (f"Серж Саргсян: эксклюзивное интервью — сегодня сразу после полуночи, телеканал «Мир» {LINK}")


@pytest.mark.parametrize("name", ["missing", "../en/default", "Default"])
def test_an_unknown_template_is_refused(name):
    with pytest.raises(BadTemplate):
        render_slot(make_slot(), target(), "en", EVENING, template=name)


def test_templates_run_sandboxed():
    evil = render._environment().from_string("{{ title.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        evil.render(title="x")


def test_the_language_of_a_post_is_the_targets_then_the_channels_then_english():
    channel = make_slot().channel
    assert post_lang(target(lang="en"), channel) == "en"
    assert post_lang(target(), channel) == "ru"  # the channel's first language
    assert post_lang(target(lang="de"), channel) == "ru"  # no promos in German: the channel's
    channel.languages = []
    assert post_lang(target(), channel) == "en"


def test_render_post_renders_the_posts_slot_target_language_and_template():
    slot = make_slot()
    post = Post(slot=slot, target=target("mastodon"), lang="ru", template="short", step="tonight")
    out = render_post(post, START - timedelta(minutes=2))
    assert out.when == "через 2 минуты"
    assert out.limit == 500
    assert out.text == render_slot(slot, post.target, "ru", START - timedelta(minutes=2), "short").text


def test_the_link_uses_the_public_url(app):
    out = render_slot(make_slot(), target(), "en", EVENING)
    assert out.link == "http://schedule.test/slots/7" and out.text.endswith(out.link)

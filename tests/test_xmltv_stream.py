"""A big first import on SQLite applies each channel as soon as the file is read that far (SPEC §7).

Another process reads the guide part by part while this one applies the channels whose
programmes are all read. Whatever the file, the outcome is the one-reader import's: the same
schedule, promo posts and report; a file refused as a whole leaves the data as it was; and when
the scan of the bytes misled the applier, everything is applied again from the start.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from schedule_service.interchange import xmltv_import as xi
from schedule_service.interchange import xmltv_parts
from schedule_service.models import AuditEntry, Channel, Programme, Slot
from schedule_service.models.promo import Post
from tests.conftest import _empty

CHANNELS = 5
EACH = 10


@pytest.fixture(autouse=True, params=["applied as read", "read ahead"])
def small_parts(request, monkeypatch):
    """The test guides are small: cut them into parts of a few programmes each. The reader
    reads them faster than a channel is applied; "applied as read" has the applier take each
    part only when it has no channel left to apply, as when the reader is slower."""
    monkeypatch.setattr(xmltv_parts, "MIN_SIZE", 1000)
    monkeypatch.setattr(xmltv_parts, "STREAM_FIRST", 1500)
    monkeypatch.setattr(xmltv_parts, "STREAM_PART", 1800)
    monkeypatch.setattr(xmltv_parts, "_SCAN_CHUNK", 997)  # the scan's rounds end inside attributes too
    monkeypatch.setattr(xmltv_parts, "_SCAN_TAIL", 200)
    if request.param == "applied as read":
        monkeypatch.setattr(xmltv_parts.GuideStream, "has_next", lambda self: False)


def guide_text(*, channels: str | None = None, extra: dict[int, str] | None = None) -> str:
    """CHANNELS channels of EACH programmes, tomorrow (inside the planning horizon), every fourth
    a premiere; the titles in Russian on even channels and in English as well on odd ones."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE tv SYSTEM "xmltv.dtd">\n<tv>\n']
    if channels is None:
        channels = "".join(
            f'  <channel id="ch{c}.tv">\n    <display-name lang="ru">Канал {c}</display-name>\n  </channel>\n'
            for c in range(CHANNELS)
        )
    parts.append(channels)
    for c in range(CHANNELS):
        for i in range(EACH):
            at = start + timedelta(hours=i)
            parts.append(
                f'  <programme start="{at:%Y%m%d%H%M%S} +0000" stop="{at + timedelta(minutes=50):%Y%m%d%H%M%S} +0000" '
                f'channel="ch{c}.tv">\n    <title lang="ru">Передача {c}-{i}</title>\n'
                + (f'    <title lang="en">Show {c}-{i}</title>\n' if c % 2 else "")
                + ("    <premiere/>\n" if i % 4 == 0 else "")
                + "  </programme>\n"
            )
            parts.append((extra or {}).get(c * EACH + i, ""))
    parts.append("</tv>\n")
    return "".join(parts)


def snapshot(session) -> dict:
    """What the import made, without ids (which depend on the order channels are applied in)."""
    session.rollback()
    key_of = dict(session.execute(select(Programme.id, Programme.import_key)).all())
    slug_of = dict(session.execute(select(Channel.id, Channel.slug)).all())
    slot_of = {s.id: (slug_of[s.channel_id], s.start_at) for s in session.scalars(select(Slot))}
    return {
        "channels": sorted(
            (c.slug, c.name, c.xmltv_id, c.timezone, tuple(c.languages), tuple(sorted(c.names.items())))
            for c in session.scalars(select(Channel))
        ),
        "programmes": sorted((p.import_key, p.title, p.language) for p in session.scalars(select(Programme))),
        "slots": sorted(
            (slug_of[s.channel_id], key_of[s.programme_id], s.start_at, s.end_at, s.is_premiere, s.plan_at)
            for s in session.scalars(select(Slot))
        ),
        "posts": sorted(
            (slot_of[p.slot_id], p.step, p.target_id, p.due_at, p.lang, re.sub(r"/slots/\d+", "/slots/N", p.text or ""))
            for p in session.scalars(select(Post))
        ),
        "import runs": sorted(
            (a.entity_id, tuple(sorted((k, tuple(v)) for k, v in a.changes.items())))
            for a in session.scalars(select(AuditEntry).where(AuditEntry.action == "import"))
        ),
    }


def described(report) -> tuple:
    return (
        report.programmes,
        report.programmes_created,
        report.programmes_updated,
        [
            (c.channel, c.created, c.updated, c.cancelled, c.skipped, c.applied, c.created_channel)
            for c in report.channels
        ],
        [str(b) for b in report.bad_items],
        [str(w) for w in report.warnings],
    )


def one_reader(session, path, **options) -> tuple:
    with xi.read_guide(path) as guide:
        report = xi.apply_guide(session, guide, end_channel=session.commit, **options)
    session.commit()
    return described(report), snapshot(session)


def streamed(session, path, **options) -> tuple:
    stream = xi.stream_guide(path)
    assert stream is not None, "the guide was not streamed"
    with stream:
        report = xi.apply_stream(session, stream, end_channel=session.commit, **options)
    session.commit()
    return described(report), snapshot(session)


def both(app, session, path, **options):
    """The one-reader import and the streamed one, each on an empty database."""
    expected = one_reader(session, path, **options)
    emptied(app, session)
    return expected, streamed(session, path, **options)


def emptied(app, session) -> None:
    session.rollback()
    _empty(app)


def test_a_streamed_import_makes_what_one_reader_makes(app, session, tmp_path):
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(), encoding="utf-8")
    with xi.stream_guide(path) as stream:
        assert len(stream._spans) >= 4  # read in several parts, one after the other

    expected, got = both(app, session, path)

    assert got == expected
    report, made = got
    assert report[1] == CHANNELS * EACH and len(made["channels"]) == CHANNELS
    assert made["posts"]  # the premieres are promoted
    # A new channel's languages come from all its titles, read in any part.
    assert [langs for _, _, _, _, langs, _ in made["channels"]] == [("ru",)] * CHANNELS


def test_the_parts_joined_are_the_guide_one_reader_reads(tmp_path):
    bad = '  <programme start="20310101000000 +0000" stop="20310101010000 +0000" channel="ch3.tv"></programme>\n'
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(extra={7: "\n\n  <!-- lines -->\n", 33: bad}), encoding="utf-8")

    with xi.read_guide(path) as one, xi.stream_guide(path) as stream:
        while not stream.done:
            assert stream.next()
        streamed = stream.guide
        assert len(stream._spans) >= 4
        assert [(c.id, c.line, c.programmes, dict(c.title_langs)) for c in streamed.channels.values()] == [
            (c.id, c.line, c.programmes, dict(c.title_langs)) for c in one.channels.values()
        ]
        assert streamed.bad_items == one.bad_items and streamed.bad_items[0].line > 1
        chans = list(one.channels)
        assert list(streamed.items(chans)) == list(one.items(chans))  # the same lines and order


def test_the_scan_read_in_small_rounds_finds_what_one_read_finds(tmp_path, monkeypatch):
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(extra={12: "  <!-- channel='ch4.tv' -->\n"}), encoding="utf-8")
    with open(path, "rb") as f:
        cuts = xmltv_parts._stream_cuts(f, path.stat().st_size)
    assert len(cuts) >= 3
    rounds = xmltv_parts._scan_channels(path, cuts)
    monkeypatch.setattr(xmltv_parts, "_SCAN_CHUNK", 1 << 24)
    whole = xmltv_parts._scan_channels(path, cuts)

    assert rounds == whole
    last, count = whole
    assert count == CHANNELS * EACH + 1  # the comment's attribute too: it only delays ch4
    data = path.read_bytes()
    for c in range(CHANNELS):  # the part of each channel's last mention: the cuts before it
        at = max(data.rfind(f'channel="ch{c}.tv"'.encode()), data.rfind(f"channel='ch{c}.tv'".encode()))
        assert last[f"ch{c}.tv"] == sum(1 for cut in cuts if cut <= at)


def test_bad_items_and_a_channel_map_are_reported_as_one_reader_reports_them(app, session, tmp_path):
    bad = '  <programme start="20310101000000 +0000" stop="20310101010000 +0000" channel="ch3.tv"></programme>\n'
    late_comment = '  <!-- ch1 again: channel="ch1.tv" -->\n'  # the scan sees ch1 later than it is
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(extra={33: bad, 45: late_comment}), encoding="utf-8")
    second = xi.MapEntry("second", "Второй", "Europe/Moscow", ("ru",))
    # ch4 left out; ch1 and ch3 into one service channel, whose programmes overlap.
    mapping = {
        "ch4.tv": xi.MapEntry(None),
        "ch2.tv": second,
        "ch1.tv": xi.MapEntry("odd"),
        "ch3.tv": xi.MapEntry("odd"),
    }

    for skip_bad in (False, True):
        emptied(app, session)
        expected, got = both(app, session, path, channel_map=mapping, skip_bad=skip_bad)
        assert got == expected
        report, _ = got
        assert any("ch3.tv" in b for b in report[4]) and any("left out by the channel map" in w for w in report[5])
        assert [c[0] for c in report[3]] == ["ch0-tv", "odd", "second"]
        assert any("overlaps the programme at line" in b for b in report[4])  # ch1's and ch3's, one channel


def test_a_file_refused_at_its_end_leaves_the_data_as_it_was(app, session, tmp_path):
    path = tmp_path / "guide.xml"
    text = guide_text().replace("</tv>\n", '<programme channel="ch0.tv" start="2031">\n</tv>\n')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(xi.GuideRefused) as one:
        xi.read_guide(path)

    stream = xi.stream_guide(path)
    with pytest.raises(xi.GuideRefused) as refused, stream:
        xi.apply_stream(session, stream, end_channel=session.commit)

    session.rollback()
    assert session.scalars(select(Channel)).all() == []  # channels applied early were rolled back
    assert (refused.value.line, refused.value.message) == (one.value.line, one.value.message)


def test_when_the_scan_misleads_everything_is_applied_again_from_the_start(app, session, tmp_path, monkeypatch):
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(), encoding="utf-8")
    real_scan = xmltv_parts._scan_channels

    def every_channel_in_the_first_part(data, cuts):
        last, count = real_scan(data, cuts)
        return dict.fromkeys(last, 0), count

    expected = one_reader(session, path)
    emptied(app, session)
    monkeypatch.setattr(xmltv_parts, "_scan_channels", every_channel_in_the_first_part)
    monkeypatch.setattr(xmltv_parts.GuideStream, "has_next", lambda self: False)
    applied_early = []
    real_apply = xi._apply_targets
    monkeypatch.setattr(xi, "_apply_targets", lambda *a, **k: applied_early.append(a[2]) or real_apply(*a, **k))

    assert streamed(session, path) == expected
    # Each channel was applied before its programmes were all read, then all again from the start.
    assert [[t.slug for t in targets] for targets in applied_early] == [
        *([f"ch{c}-tv"] for c in range(CHANNELS)),
        [f"ch{c}-tv" for c in range(CHANNELS)],
    ]


@pytest.mark.parametrize(
    "text",
    [
        # A channel declared after the first part: which service channel it is needs the whole file.
        guide_text(channels="", extra={49: '  <channel id="ch0.tv"><display-name>Late</display-name></channel>\n'}),
        # A channel id the scan cannot read as the parser does.
        guide_text().replace('channel="ch4.tv"', 'channel="ch&#52;.tv"'),
    ],
    ids=["channel declared late", "id with a reference"],
)
def test_a_guide_the_scan_cannot_follow_is_read_whole(tmp_path, text):
    path = tmp_path / "guide.xml"
    path.write_text(text, encoding="utf-8")
    assert xi.stream_guide(path) is None


def test_programmes_of_an_undeclared_channel_wait_for_the_whole_file(app, session, tmp_path):
    extra = {5: '  <programme start="20311120000000 +0000" stop="20311120010000 +0000" channel="nobody.tv">'
             "<title>Who</title></programme>\n"}  # fmt: skip
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(extra=extra), encoding="utf-8")

    expected, got = both(app, session, path)

    assert got == expected
    assert any("unknown channel 'nobody.tv'" in b for b in got[0][4])


def test_the_cli_streams_a_big_file_on_sqlite_and_its_memo_holds(session, tmp_path, runner, monkeypatch):
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(), encoding="utf-8")
    streams = []
    real = xi.stream_guide
    monkeypatch.setattr(xi, "stream_guide", lambda *a, **k: streams.append(real(*a, **k)) or streams[-1])

    result = runner.invoke(args=["xmltv", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert re.search(rf"{CHANNELS * EACH} programmes read; {CHANNELS} channels applied", result.output)
    # SQLite's one writer applies it as it is read; PostgreSQL applies it in two processes once read.
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    assert [s is not None for s in streams] == ([True] if on_sqlite else [])
    again = runner.invoke(args=["xmltv", "import", str(path)])
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_the_collector_is_off_while_the_command_imports_and_back_on_after_even_after_a_fault():
    import gc

    assert gc.isenabled()
    with xi.collector_paused():
        assert not gc.isenabled()
        with xi.collector_paused():  # nested: the inner one leaves it as it found it
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), xi.collector_paused():
        raise RuntimeError("a fault")
    assert gc.isenabled()
    gc.disable()
    try:
        with xi.collector_paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()

"""A big import on PostgreSQL is applied by two processes at once, with what one process would give (SPEC §7)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from schedule_service.db import db
from schedule_service.interchange import xmltv_import as xi
from schedule_service.models import AuditEntry, Channel, Programme, Slot
from schedule_service.models.change import Change
from tests.import_support import fail_planning

CHANNELS = 6


@pytest.fixture
def big_enough(monkeypatch):
    """Any guide counts as big: the test guides are small."""
    monkeypatch.setattr(xi, "PARALLEL_MIN_PROGRAMMES", 1)


def guide_text(programmes_each: int = 12) -> str:
    start = datetime(2031, 11, 20, tzinfo=UTC)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<tv>\n']
    for c in range(CHANNELS):
        parts.append(f'<channel id="ch{c}.tv"><display-name lang="ru">Канал {c}</display-name></channel>\n')
    for c in range(CHANNELS):
        for i in range(programmes_each):
            at = start + timedelta(hours=i)
            parts.append(
                f'<programme start="{at:%Y%m%d%H%M%S} +0000" stop="{at + timedelta(minutes=50):%Y%m%d%H%M%S} +0000" '
                f'channel="ch{c}.tv"><title lang="ru">Передача {c}-{i}</title>'
                + ("<premiere/>" if i % 4 == 0 else "")
                + "</programme>\n"
            )
    parts.append("</tv>\n")
    return "".join(parts)


def counts(session) -> dict[str, int]:
    def count(model, *where):
        return session.scalar(select(func.count()).select_from(model).where(*where))

    return {
        "channels": count(Channel),
        "programmes": count(Programme),
        "slots": count(Slot),
        "changes": count(Change, Change.seq.is_not(None)),
        "unnumbered": count(Change, Change.seq.is_(None)),
        "import runs": count(AuditEntry, AuditEntry.action == "import"),
    }


def test_two_processes_apply_a_big_guide_as_one_would_and_its_memo_holds(pg_app, tmp_path, big_enough):
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(), encoding="utf-8")
    runner = pg_app.test_cli_runner()

    result = runner.invoke(args=["xmltv", "import", str(path)])

    assert result.exit_code == 0, result.output
    session = db.session
    session.rollback()
    assert counts(session) == {
        "channels": CHANNELS,
        "programmes": CHANNELS * 12,
        "slots": CHANNELS * 12,
        "changes": CHANNELS + 2 * CHANNELS * 12,  # every channel, programme and slot made, numbered
        "unnumbered": 0,
        "import runs": CHANNELS,
    }
    # The report lists the channels in the guide's order, whichever process applied them.
    lines = [line.split()[0] for line in result.output.splitlines() if re.match(r"ch\d-tv ", line)]
    assert lines == [f"ch{c}-tv" for c in range(CHANNELS)]
    # Both processes' commits are the import's own: the same file again is known at once.
    again = runner.invoke(args=["xmltv", "import", str(path)])
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_the_report_says_two_processes_applied_it(pg_app, tmp_path, big_enough):
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(), encoding="utf-8")
    session = db.session

    with xi.read_guide(path) as guide:
        report = xi.apply_guide(session, guide, end_channel=session.commit, processes=2)
    session.commit()

    assert report.processes == 2 and report.ok
    assert [c.channel for c in report.channels] == [f"ch{c}-tv" for c in range(CHANNELS)]
    assert report.programmes_created == CHANNELS * 12
    assert all(c.created == 12 for c in report.channels)


def test_a_failing_helper_fails_the_import_and_keeps_what_was_committed(pg_app, tmp_path, big_enough, monkeypatch):
    from schedule_service.promos import plan

    real_plan = fail_planning(monkeypatch, "ch3-tv")  # in the helper's share (every second channel)
    monkeypatch.setattr(xi, "COMMIT_EVERY", 0.0)  # a commit after each channel
    path = tmp_path / "guide.xml"
    path.write_text(guide_text(), encoding="utf-8")
    session = db.session

    with xi.read_guide(path) as guide, pytest.raises(xi.ApplyFailed, match="the database went away"):
        xi.apply_guide(session, guide, end_channel=session.commit, end_every=0.0, processes=2)
    session.rollback()

    made = set(session.scalars(select(Channel.slug)))
    assert {"ch0-tv", "ch2-tv", "ch4-tv", "ch1-tv"} <= made  # the parent's share, and the helper's before
    assert "ch3-tv" not in made and "ch5-tv" not in made
    # Importing again finishes the rest.
    monkeypatch.setattr(plan, "plan_bulk", real_plan)
    with xi.read_guide(path) as guide:
        report = xi.apply_guide(session, guide, end_channel=session.commit, processes=2)
    session.commit()
    assert report.ok and set(session.scalars(select(Channel.slug))) == {f"ch{c}-tv" for c in range(CHANNELS)}

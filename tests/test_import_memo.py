"""The same guide again (SPEC §7: re-importing the same file changes nothing), known without reading it.

Both engines. The shortcut is taken only when it is exact: the same bytes and options as the
last completed import, and no change at all committed since; anything else reads the file.
"""

from pathlib import Path

import pytest
from sqlalchemy import select

from schedule_service import schedule
from schedule_service.db import db
from schedule_service.interchange import import_memo
from schedule_service.interchange import xmltv_import as xi
from schedule_service.models import Channel, ImportJob, Programme, Slot
from schedule_service.models.change import last_seq

DATA = Path(__file__).resolve().parent / "data" / "xmltv"
SAME = "the same file as the last import, and nothing changed since: nothing to do"


@pytest.fixture
def mir(make_channel):
    return make_channel("mir", name="Mir", timezone="Europe/Moscow", xmltv_id="mir.ru", broadcast_day_start="05:00")


def totals(result) -> list[str]:
    return next(line for line in result.stdout.splitlines() if line.startswith("total")).split()


def imported(runner, *args):
    result = runner.invoke(args=["xmltv", "import", str(DATA / "good.xml"), *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_same_file_again_is_known_to_change_nothing_and_says_so_with_the_same_summary(runner, mir, session):
    first = imported(runner)
    assert SAME not in first.stdout and totals(first) == ["total", "5", "0", "0", "0", "0"]
    cursor = last_seq(session)
    again = imported(runner)
    assert SAME in again.stdout
    assert totals(again) == ["total", "0", "0", "5", "0", "0"]  # created updated unchanged cancelled skipped
    assert "5 programmes read; 2 channels applied, 0 left out; programmes created 0, updated 0" in again.stdout
    assert last_seq(session) == cursor  # nothing written
    assert SAME in imported(runner).stdout  # and again


def test_a_change_since_takes_the_full_path_which_puts_the_guide_back(runner, mir, session):
    imported(runner)
    show = session.scalars(select(Programme).join(Slot).join(Channel).where(Channel.slug == "mir")).first()
    title = show.title
    schedule.update_programme(session, show, {"title": "Edited by hand"}, "ed@example.test")
    session.commit()
    again = imported(runner)
    assert SAME not in again.stdout
    session.expire_all()
    assert session.get(Programme, show.id).title == title  # the file's title, as a full re-import does
    assert SAME in imported(runner).stdout  # that run left its own memo


def test_other_options_or_a_dry_run_read_the_guide_and_the_same_bytes_from_stdin_are_known(runner, mir):
    imported(runner)
    assert SAME not in imported(runner, "--skip-bad").stdout  # other options: read again
    assert SAME in imported(runner, "--skip-bad").stdout
    assert SAME not in imported(runner, "--dry-run").stdout
    piped = runner.invoke(args=["xmltv", "import", "-"], input=(DATA / "good.xml").read_bytes())
    assert piped.exit_code == 0 and SAME in piped.stdout


def test_a_stream_that_cannot_be_rewound_is_not_hashed_ahead():
    import os

    read_end, write_end = os.pipe()
    os.write(write_end, b"<tv/>")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert import_memo.file_sha256(pipe) is None
        assert pipe.read() == b"<tv/>"  # nothing taken from it


def test_a_change_committed_by_another_writer_during_an_import_leaves_no_memo(session, mir):
    from sqlalchemy.orm import Session

    key = import_memo.key_of("f" * 64, channel_map=None, skip_bad=False, timezone="UTC", own_hosts=())
    mark = import_memo.begin(db.session)
    with open(DATA / "good.xml", "rb") as f, xi.read_guide(f) as guide:
        report = xi.apply_guide(db.session, guide, end_channel=db.session.commit)
    db.session.commit()
    with Session(db.engine) as other:  # another writer commits between the import's end and its memo
        schedule.create_programme(other, {"title": "Someone else's show"}, "ed@example.test")
        other.commit()
    assert import_memo.remember(db.session, key, mark, report) is False
    assert import_memo.recall(db.session, key) is None


def test_an_upload_of_the_same_guide_again_is_done_at_once_with_every_programme_unchanged(session, monkeypatch):
    import io
    from datetime import timedelta

    from schedule_service.interchange import import_jobs

    def queued():
        job = import_jobs.queue_import(session, io.BytesIO(body), created_by="ed@example.test", file_name="good.xml")
        session.commit()
        return job.id

    body = (DATA / "good.xml").read_bytes()
    first = queued()
    assert import_jobs.run_pending(session, "s1", timedelta(minutes=5)) == 1
    reads = []
    real_read = xi.read_guide
    monkeypatch.setattr(xi, "read_guide", lambda *a, **k: reads.append(1) or real_read(*a, **k))
    second = queued()
    assert import_jobs.run_pending(session, "s1", timedelta(minutes=5)) == 1
    session.expire_all()
    done = [import_jobs.representation(session.get(ImportJob, i)) for i in (first, second)]
    assert [d["status"] for d in done] == ["done", "done"] and reads == []  # the second never read the file
    assert done[1]["summary"]["totals"] == {**done[0]["summary"]["totals"], "created": 0, "unchanged": 5}

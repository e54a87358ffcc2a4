"""The same guide again, known without reading it: an exact shortcut for an unchanged re-import.

A completed import whose file and options hash to ``key`` leaves an :class:`ImportMemo` with
the change feed's last cursor before it began (``seq_from``) and after its last commit
(``seq_to``). It is kept only when every change committed in that span was the import's own
(the count of cursors in the span equals the rows its commits numbered), so no other writer's
change hides in it. Importing the same bytes with the same options again is then known to
change nothing exactly when no change at all has been committed since (the feed's last cursor
is still ``seq_to``): every write to a channel, programme, translation or slot is in the feed
(SPEC §10), and cursors are given in commit order, so a later change can only come after it.
The import itself does not depend on the time it runs (the planning horizon's sweep makes the
posts of slots that come within it later), so in that case its result would be what is there.

Anything else (another file, other options, a change since, a dry run, a run with bad items or
warnings) takes the full path, which reads the file and compares every programme.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import IO

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from schedule_service.interchange.xmltv_import import ChannelReport, ImportReport
from schedule_service.models import ImportMemo
from schedule_service.models.change import last_seq, numbered_between, numbered_by


def file_sha256(file: IO[bytes], progress=None) -> str | None:
    """SHA-256 of a seekable binary file's bytes, read from the start and rewound; None if it cannot be."""
    try:
        if not file.seekable():
            return None
        start = file.tell()
    except (AttributeError, OSError, ValueError):
        return None
    digest = hashlib.sha256()
    while chunk := file.read(1 << 20):
        digest.update(chunk)
        if progress:
            progress(len(chunk))
    file.seek(start)
    return digest.hexdigest()


def key_of(sha256: str, **options) -> str:
    """The memo key: the file's hash and the options (channel map, skip_bad, zone, own hosts) it is read with."""
    text = json.dumps({"sha256": sha256, **options}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Mark:
    """Where the feed stood when an import began, and what this session had numbered by then."""

    seq: int
    numbered: int


def begin(session: Session) -> Mark:
    mark = Mark(last_seq(session), numbered_by(session))
    session.rollback()  # end the read: the import's own transactions follow
    return mark


def remember(session: Session, key: str, mark: Mark, report: ImportReport) -> bool:
    """After a completed import's last commit: keep its memo if it qualifies; commit. True when kept."""
    if report.dry_run or report.bad_items or report.warnings or not report.ok:
        return False
    seq_to = last_seq(session)
    own = numbered_by(session) - mark.numbered
    if numbered_between(session, mark.seq, seq_to) != own:
        session.rollback()  # another writer committed during the import: nothing to promise
        return False
    # One memo a key: an older one can never match again (the feed has moved past it).
    session.execute(delete(ImportMemo).where(ImportMemo.key == key))
    session.add(ImportMemo(key=key, seq_from=mark.seq, seq_to=seq_to, report=_as_unchanged(report)))
    session.commit()
    return True


def recall(session: Session, key: str) -> ImportReport | None:
    """The report of importing the file of ``key`` again when it would change nothing; else None."""
    memo = session.scalar(select(ImportMemo).where(ImportMemo.key == key))
    found = None
    if memo is not None and last_seq(session) == memo.seq_to:
        stored = memo.report
        found = ImportReport(
            skip_bad=stored["skip_bad"],
            programmes=stored["programmes"],
            channels=[ChannelReport(**c) for c in stored["channels"]],
        )
    session.rollback()
    return found


def _as_unchanged(report: ImportReport) -> dict:
    """The report a second run gives: each channel's programmes all unchanged, nothing created or cancelled."""
    channels = []
    for c in report.channels:
        channels.append(
            {
                "channel": c.channel,
                "xmltv_ids": list(c.xmltv_ids),
                "applied": c.applied,
                "unchanged": c.created + c.updated + c.unchanged,
                "skipped": c.skipped,
            }
        )
    return {"skip_bad": report.skip_bad, "programmes": report.programmes, "channels": channels}

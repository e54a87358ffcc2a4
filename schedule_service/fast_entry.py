"""Fast entry: many slots at once (repeat a slot, copy days, paste a day's lineup), all or nothing.

Each operation first works out every slot it would make and every scheduled slot in the way;
with any in the way, or on a dry run, it writes nothing. Otherwise each slot is made by
:func:`schedule.create_slot`, as a single write would be: overlap refusal, audit, promo planning.
Like the other operations they flush and never commit.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schedule_service import schedule
from schedule_service.broadcast_time import WallTimeError, broadcast_day, day_bounds, to_instant
from schedule_service.clock import now
from schedule_service.models import Channel, Programme, ProgrammeTranslation, Slot
from schedule_service.models.slot import SCHEDULED
from schedule_service.schedule import Invalid

EVERY = ("day", "weekday", "week")
#: How far ahead a repeat or a copy may reach, in days.
MAX_DAYS_AHEAD = 366
MAX_LINES = 200
MAX_TITLE = 300
#: How far from today the days given may be (as the grid's ?date=).
MAX_DAYS_AWAY = 3660
#: "HH:MM Title", also "HH.MM Title" as Russian listings write it; a last line "HH:MM" alone ends the day.
LINE = re.compile(r"^(\d{1,2})[:.](\d{2})(?:\s+(\S.*))?$")
#: What XML 1.0 cannot carry (titles go out in XMLTV and feeds), and lone surrogates.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass
class Proposed:
    """A slot fast entry would make, shaped like a Slot so the slots API can show it before it exists."""

    channel: Channel
    programme: Programme | None  #: None: a programme the lineup makes from ``title``
    title: str
    start_at: datetime
    end_at: datetime
    is_live: bool = False
    is_premiere: bool = False
    #: The lineup line it came from (1-based), to point at it.
    line: int | None = None
    status: str = SCHEDULED
    id: None = None
    version: None = None

    @property
    def programme_id(self) -> int | None:
        return self.programme.id if self.programme is not None else None

    @property
    def broadcast_day(self) -> date:
        return broadcast_day(self.start_at, self.channel.zone, self.channel.broadcast_day_start)


@dataclass
class Clash:
    """A slot that cannot be made: where it would start, and the scheduled slots in the way."""

    proposed: Proposed
    slots: list[Slot]

    @property
    def start(self) -> datetime:
        return self.proposed.start_at


@dataclass
class Outcome:
    """What an operation made (``applied``) or would make, and every clash that stops it."""

    created: list = field(default_factory=list)  #: Slot rows when applied, else Proposed
    conflicts: list[Clash] = field(default_factory=list)
    applied: bool = False
    #: Titles of the programmes the lineup made (or would make), in order.
    new_titles: list[str] = field(default_factory=list)


# Repeat a slot


def repeat_slot(session: Session, slot: Slot, every: str, until: date, actor: str, dry_run: bool = False) -> Outcome:
    """Repeat ``slot`` at the same wall time every day, weekday or week up to broadcast day ``until``.

    Repeats are reruns, so never premieres; a live slot's repeats are live. Weekdays are the
    broadcast days Monday to Friday, so a late show on Friday night (after midnight) repeats too.
    """
    if every not in EVERY:
        raise Invalid({"every": _("one of %(choices)s", choices=", ".join(EVERY))})
    if slot.is_cancelled:
        raise Invalid({"slot": _("a cancelled slot is not repeated; put it back on the schedule first")})
    channel = slot.channel
    tz = channel.zone
    first = broadcast_day(slot.start_at, tz, channel.broadcast_day_start)
    if until <= first:
        raise Invalid({"until": _("a broadcast day after the slot's own (%(day)s)", day=first.isoformat())})
    if (until - first).days > MAX_DAYS_AHEAD:
        raise Invalid({"until": _("at most %(days)s days after the slot's broadcast day", days=MAX_DAYS_AHEAD)})
    length = slot.end_at - slot.start_at
    if length > timedelta(days=7 if every == "week" else 1):
        raise Invalid({"every": _("the slot is longer than the time between its repeats")})
    wall = slot.start_at.astimezone(tz)
    problems: list[str] = []
    proposals = []
    for offset in range(1, (until - first).days + 1):
        day = first + timedelta(days=offset)
        if (every == "week" and offset % 7) or (every == "weekday" and day.weekday() >= 5):
            continue
        start = _moved(wall, offset, tz, problems)
        if start is not None:
            proposals.append(
                Proposed(channel, slot.programme, slot.programme.title, start, start + length, slot.is_live)
            )
    if problems:
        raise Invalid({"until": "; ".join(problems)})
    if not proposals:
        raise Invalid({"until": f"no {every} falls between {first.isoformat()} and {until.isoformat()}"})
    return _make(session, channel, proposals, actor, dry_run)


# Copy broadcast days


def copy_days(
    session: Session, channel: Channel, source: date, onto: date, days: int, actor: str, dry_run: bool = False
) -> Outcome:
    """Copy the scheduled slots of broadcast days ``source…`` onto ``onto…``, at the same wall times.

    Each copy keeps its programme, length and live flag; copies are not premieres.
    """
    if not 1 <= days <= 7:
        raise Invalid({"days": _("from 1 (a day) to 7 (a week)")})
    _near("from", source)
    _near("to", onto)
    shift = (onto - source).days
    if shift == 0:
        raise Invalid({"to": _("other days than the ones copied")})
    if abs(shift) > MAX_DAYS_AHEAD:
        raise Invalid({"to": _("at most %(days)s days from the days copied", days=MAX_DAYS_AHEAD)})
    tz, day_start = channel.zone, channel.broadcast_day_start
    lo = day_bounds(source, tz, day_start)[0]
    hi = day_bounds(source + timedelta(days=days - 1), tz, day_start)[1]
    sources = session.scalars(
        select(Slot)
        .where(Slot.channel_id == channel.id, Slot.status == SCHEDULED, Slot.start_at >= lo, Slot.start_at < hi)
        .order_by(Slot.start_at)
    ).all()
    if not sources:
        last = source + timedelta(days=days - 1)
        span = source.isoformat() if days == 1 else f"{source.isoformat()} to {last.isoformat()}"
        raise Invalid({"from": _("nothing is scheduled on %(span)s to copy", span=span)})
    problems: list[str] = []
    proposals = []
    for slot in sources:
        start = _moved(slot.start_at.astimezone(tz), shift, tz, problems)
        if start is not None:
            end = start + (slot.end_at - slot.start_at)
            proposals.append(Proposed(channel, slot.programme, slot.programme.title, start, end, slot.is_live))
    if problems:
        raise Invalid({"to": "; ".join(problems)})
    return _make(session, channel, proposals, actor, dry_run)


# Paste a day's lineup


@dataclass
class Line:
    number: int
    wall: datetime
    title: str | None  #: None on a last line that only says when the day's last programme ends


def paste_lineup(
    session: Session, channel: Channel, day: date, text: str, actor: str, dry_run: bool = False
) -> Outcome:
    """Schedule a day from lines "HH:MM Title": wall times on broadcast day ``day`` (before the day's
    start: after midnight), each slot ending where the next begins, the last after its programme's
    duration, or at a last line "HH:MM" with no title. Titles are matched to programmes (also by a
    translated title); unknown ones are made.
    """
    _near("date", day)
    lines = read_lineup(channel, day, text)
    tz = channel.zone
    problems: list[str] = []
    starts = []
    for line in lines:
        try:
            starts.append(to_instant(line.wall, tz))
        except WallTimeError as e:
            problems.append(_("line %(number)s: %(problem)s", number=line.number, problem=e))
            starts.append(None)
    if problems:
        raise Invalid({"text": "; ".join(problems)})
    for (a, start_a), (b, start_b) in pairwise(zip(lines, starts, strict=True)):
        if start_b <= start_a:
            problems.append(
                _(
                    "line %(number)s: %(time)s is not after %(before)s on the line above",
                    number=b.number,
                    time=f"{b.wall:%H:%M}",
                    before=f"{a.wall:%H:%M}",
                )
            )
    if problems:
        raise Invalid({"text": "; ".join(problems)})
    found = match_programmes(session, channel, [line.title for line in lines if line.title is not None])
    if lines[-1].title is None:  # the time the day's last programme ends
        ends = starts[1:]
        lines, starts = lines[:-1], starts[:-1]
    else:
        last = found.get(_key(lines[-1].title))
        if last is None or not last.duration_minutes:
            facts = {"number": lines[-1].number, "title": repr(lines[-1].title), "time": f"{lines[-1].wall:%H:%M}"}
            if last is None:
                why = _(
                    "line %(number)s: %(title)s is new, so its end is unknown; end the list with a line holding "
                    "only the time it ends (%(time)s + its length)",
                    **facts,
                )
            else:
                why = _(
                    "line %(number)s: %(title)s has no duration, so its end is unknown; end the list with a line "
                    "holding only the time it ends (%(time)s + its length)",
                    **facts,
                )
            raise Invalid({"text": why})
        ends = [*starts[1:], starts[-1] + timedelta(minutes=last.duration_minutes)]
    proposals = [
        Proposed(channel, found.get(_key(line.title)), line.title, start, end, line=line.number)
        for line, start, end in zip(lines, starts, ends, strict=True)
    ]
    new_titles = list(dict.fromkeys(p.title for p in proposals if p.programme is None))
    outcome = _make(session, channel, proposals, actor, dry_run, new_titles)
    outcome.new_titles = new_titles
    return outcome


def read_lineup(channel: Channel, day: date, text: str) -> list[Line]:
    """The lines of a pasted lineup as wall times on broadcast day ``day``; bad lines refused by number."""
    lines, problems = [], []
    for number, raw in enumerate((text or "").splitlines(), 1):
        raw = raw.strip()
        if not raw:
            continue
        match = LINE.match(raw)
        if match is None:
            problems.append(_("line %(number)s: %(text)s is not HH:MM and a title", number=number, text=repr(raw[:60])))
            continue
        hour, minute, title = int(match[1]), int(match[2]), match[3] and match[3].strip()
        if hour > 23 or minute > 59:
            problems.append(
                _("line %(number)s: %(time)s is not a time of day", number=number, time=f"{match[1]}:{match[2]}")
            )
            continue
        if title is not None and NOT_XML.search(title):
            problems.append(
                _("line %(number)s: the title holds a control character or a lone surrogate", number=number)
            )
            continue
        if title is not None and len(title) > MAX_TITLE:
            problems.append(
                _("line %(number)s: a title has at most %(most)s characters", number=number, most=MAX_TITLE)
            )
            continue
        clock = time(hour, minute)
        date_ = day + timedelta(days=1) if clock < channel.broadcast_day_start else day
        lines.append(Line(number, datetime.combine(date_, clock), title))
    problems += [
        _(
            "line %(number)s: a time alone only ends the list (where the last programme ends); give the title",
            number=line.number,
        )
        for line in lines[:-1]
        if line.title is None
    ]
    if problems:
        raise Invalid({"text": "; ".join(problems)})
    if not any(line.title for line in lines):
        raise Invalid({"text": _("give one line per programme: HH:MM and its title")})
    if len(lines) > MAX_LINES:
        raise Invalid({"text": _("at most %(most)s lines at once", most=MAX_LINES)})
    return lines


def match_programmes(session: Session, channel: Channel, titles: list[str]) -> dict[str, Programme]:
    """The programme each title names, by title or a translated title, in any case; keyed by :func:`_key`.

    Of several with one title, the one this channel aired last, else the oldest.
    """
    wanted = {_key(t) for t in titles}
    # SQLite's lower() knows only ASCII: ask for the spellings people type, then compare casefolded.
    spellings = {v for t in titles for v in (t, t.lower(), t.upper(), t.capitalize(), t.title())}
    by_title = select(Programme.id).where(Programme.title.in_(spellings) | func.lower(Programme.title).in_(spellings))
    translated = select(ProgrammeTranslation.programme_id).where(
        ProgrammeTranslation.title.in_(spellings) | func.lower(ProgrammeTranslation.title).in_(spellings)
    )
    candidates = session.scalars(
        select(Programme).where(Programme.id.in_(by_title) | Programme.id.in_(translated)).order_by(Programme.id)
    ).all()
    if not candidates:
        return {}
    aired = dict(
        session.execute(
            select(Slot.programme_id, func.max(Slot.start_at))
            .where(Slot.channel_id == channel.id, Slot.programme_id.in_([p.id for p in candidates]))
            .group_by(Slot.programme_id)
        ).all()
    )
    found: dict[str, Programme] = {}
    for programme in sorted(candidates, key=lambda p: (aired.get(p.id) is None, _negated(aired.get(p.id)), p.id)):
        names = [programme.title, *(t.title for t in programme.translations.values() if t.title)]
        for name in names:
            key = _key(name)
            if key in wanted:
                found.setdefault(key, programme)
    return found


def _negated(instant: datetime | None) -> float:
    return -instant.timestamp() if instant is not None else 0.0


def _key(title: str) -> str:
    return " ".join(title.split()).casefold()


# Shared


def _near(field: str, day: date) -> None:
    if abs((day - now().date()).days) > MAX_DAYS_AWAY:
        raise Invalid({field: "more than ten years from today"})


def _moved(wall: datetime, days: int, tz: ZoneInfo, problems: list[str]) -> datetime | None:
    """The instant of wall time ``wall`` moved by ``days`` days, or None with the reason added to ``problems``.

    A wall time that happens twice there takes the same one of the two as the original did, if it
    was itself ambiguous; otherwise it is refused, as SPEC §4 refuses any ambiguous wall time.
    """
    naive = wall.replace(tzinfo=None)
    ambiguous = wall.replace(fold=0).utcoffset() != wall.replace(fold=1).utcoffset()
    try:
        return to_instant(naive + timedelta(days=days), tz, wall.fold if ambiguous else None)
    except WallTimeError as e:
        problems.append(str(e))
        return None


def _make(
    session: Session,
    channel: Channel,
    proposals: list[Proposed],
    actor: str,
    dry_run: bool,
    new_titles: list[str] = (),
) -> Outcome:
    """List every clash; unless there is one or this is a dry run, make every slot (and new programme)."""
    for a, b in pairwise(sorted(proposals, key=lambda p: p.start_at)):
        if b.start_at < a.end_at:
            raise Invalid(
                {"slots": f"{a.title} at {_wall(a)} would run into {b.title} at {_wall(b)} (the clocks skip an hour)"}
            )
    # No lock yet: create_slot takes it and checks again, so a slot added meanwhile still refuses the lot.
    conflicts = [
        Clash(p, clash) for p in proposals if (clash := schedule.overlapping(session, channel, p.start_at, p.end_at))
    ]
    if conflicts or dry_run:
        return Outcome(created=proposals, conflicts=conflicts)
    made: dict[str, Programme] = {}
    for title in new_titles:
        values = {"title": title}
        if channel.languages:
            values["language"] = channel.languages[0]  # a pasted title is in the channel's language
        made[_key(title)] = schedule.create_programme(session, values, actor)
    slots = []
    for p in proposals:
        programme = p.programme or made[_key(p.title)]
        values = {"start": p.start_at, "end": p.end_at, "is_live": p.is_live, "is_premiere": p.is_premiere}
        slots.append(schedule.create_slot(session, channel, programme, values, actor))
    return Outcome(created=slots, applied=True)


def _wall(p: Proposed) -> str:
    return f"{p.start_at.astimezone(p.channel.zone):%Y-%m-%d %H:%M}"

"""Embargo (SPEC §8b): what the public may know of a programme at an instant.

Every public output (pages, JSON-LD and share cards, the unauthenticated JSON reads, XMLTV,
iCalendar, the promo feeds) shows programmes through :func:`public_programme` or
:func:`public_slot`, the one place that decides. Before a programme's ``embargo_until`` it is
shown as a stand-in: the channel's ``embargo_title`` in each language, no subtitle, summary,
guests, quote, category, presenter, episode, exclusive flag or picture. Staff reads use the
real rows.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schedule_service.clock import now
from schedule_service.models.programme import ProgrammeTraits

#: What an embargoed programme is called where its channel says nothing else.
DEFAULT_TITLES = {"en": "Special programme", "ru": "Спецпроект"}


def embargo_titles(channel: Any) -> dict[str, str]:
    """The channel's embargo title in every language it has one in, defaults included."""
    return {**DEFAULT_TITLES, **(getattr(channel, "embargo_title", None) or {})}


def is_embargoed(programme: Any, at: datetime) -> bool:
    """Whether nothing about ``programme`` may leave the service at ``at``."""
    until = getattr(programme, "embargo_until", None)
    return until is not None and until > at


@dataclass(frozen=True, slots=True)
class _Title:
    """A stand-in's texts in one language: the title alone."""

    lang: str
    title: str | None
    subtitle: None = None
    summary: None = None
    quote: None = None
    category: None = None
    image_alt: None = None
    guests: None = None


@dataclass(frozen=True, slots=True)
class EmbargoedProgramme(ProgrammeTraits):
    """A programme as the public sees it before its embargo ends: the channel's stand-in title only."""

    id: int
    title: str
    language: str
    duration_minutes: int | None
    embargo_until: datetime
    translations: dict[str, _Title] = field(default_factory=dict)
    subtitle: None = None
    summary: None = None
    category: None = None
    guests: tuple = ()
    presenter: None = None
    is_exclusive: bool = False
    quote: None = None
    image_url: None = None
    image_alt: None = None
    image_credit: None = None
    image_hash: None = None
    episode_num: None = None
    is_embargoed: bool = True


def public_programme(programme: Any, channel: Any, at: datetime | None = None) -> Any:
    """``programme`` as the public may see it on ``channel`` (None: the defaults) at ``at`` (default now).

    The embargo ends at a real instant, whatever instant a read asks about: the default is the
    clock's now, never a listing's ``?at=``.
    """
    if not is_embargoed(programme, at or now()):
        return programme
    titles = embargo_titles(channel)
    languages = list(getattr(channel, "languages", None) or []) or [programme.language]
    own = languages[0] if languages[0] in titles else "en"
    return EmbargoedProgramme(
        id=programme.id,
        title=titles[own],
        language=own,
        duration_minutes=programme.duration_minutes,
        embargo_until=programme.embargo_until,
        translations={lang: _Title(lang, title) for lang, title in titles.items() if lang != own},
    )


class PublicSlot:
    """A slot whose programme is shown as the public may see it; everything else is the slot's own."""

    __slots__ = ("_slot", "programme")

    def __init__(self, slot: Any, programme: Any):
        self._slot = slot
        self.programme = programme

    def __getattr__(self, name: str) -> Any:
        return getattr(self._slot, name)


def public_slot(slot: Any, at: datetime | None = None) -> Any:
    """``slot`` as the public may see it at ``at`` (default now): itself, or with its programme's stand-in."""
    at = at or now()
    if slot is None or not is_embargoed(slot.programme, at):
        return slot
    return PublicSlot(slot, public_programme(slot.programme, slot.channel, at))


def public_programme_alone(session: Session, programme: Any, at: datetime | None = None) -> Any:
    """``programme`` read on its own (no showing at hand) as the public may see it at ``at``.

    Its stand-in takes the title of the channel of its first showing (the defaults without one).
    """
    at = at or now()
    if not is_embargoed(programme, at):
        return programme
    from schedule_service.models import Slot

    first = session.scalar(select(Slot).where(Slot.programme_id == programme.id).order_by(Slot.start_at).limit(1))
    return public_programme(programme, first.channel if first is not None else None, at)


def public_slots(slots, at: datetime | None = None) -> list:
    return [public_slot(s, at) for s in slots]


def next_embargo_end(session: Session, at: datetime) -> datetime | None:
    """The soonest embargo still to end after ``at``: public reads change at that instant."""
    from schedule_service.models import Programme

    return session.scalar(select(func.min(Programme.embargo_until)).where(Programme.embargo_until > at))


#: How far back a lifted embargo is still announced (a scheduler down longer than this is a bigger problem).
ANNOUNCE_WINDOW = timedelta(days=7)


def announce_lifted(session: Session, at: datetime | None = None) -> int:
    """Put an ``update`` of each programme whose embargo ended by ``at`` into the change feed, once.

    The instant passing writes nothing, so without this a consumer that read the stand-in would
    never fetch the real programme (SPEC §10). "Once" is kept by the feed itself: a programme
    is announced while it has no change recorded since its embargo ended. Returns how many.
    """
    from schedule_service.models import Programme
    from schedule_service.models.change import UPDATE, Change, record

    at = at or now()
    announced_since = (
        select(Change.id)
        .where(Change.entity == "programme", Change.entity_id == Programme.id, Change.at >= Programme.embargo_until)
        .exists()
    )
    lifted = session.scalars(
        select(Programme.id).where(
            Programme.embargo_until <= at, Programme.embargo_until > at - ANNOUNCE_WINDOW, ~announced_since
        )
    ).all()
    return record(session, [("programme", pid, UPDATE) for pid in lifted])

"""The kill switch (SPEC §8b): pause every unsent promo of a channel at once, resume it.

A pause is the channel's row: claims skip the channel's posts while it holds, and a post
claimed before it is given back where its attempt would be written (see :mod:`.holds`). The
row is locked for update here, so that check cannot miss a pause that committed first.
Nothing is re-planned: the posts keep their due times and, once the pause ends (``resume`` or
its ``until``), each goes out if it is still true, else expires by the ordinary rules.
Operations flush and never commit.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from schedule_service import audit
from schedule_service.clock import now
from schedule_service.errors import Invalid
from schedule_service.models import Channel

#: The longest reason kept.
REASON_MAX = 500
#: Why a pause is refused (the staff pages say these in the reader's language).
NO_REASON = "Say why the promos stop; the staff home shows it."
UNTIL_PASSED = "A pause must end in the future (or send null: until resumed)."


def _locked(session: Session, channel: Channel) -> Channel:
    query = select(Channel).where(Channel.id == channel.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def _state(channel: Channel) -> dict:
    return {
        "paused_at": audit.plain(channel.promos_paused_at),
        "until": audit.plain(channel.promos_paused_until),
        "reason": channel.promos_paused_reason,
    }


def pause_promos(session: Session, channel: Channel, until: datetime | None, reason: str, actor: str) -> Channel:
    """Stop every unsent post of ``channel`` until resumed or ``until``; pausing again sets until and reason."""
    at = now()
    errors = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = NO_REASON
    elif len(reason) > REASON_MAX:
        errors["reason"] = f"at most {REASON_MAX} characters"
    if until is not None and until <= at:
        errors["until"] = UNTIL_PASSED
    if errors:
        raise Invalid(errors)
    channel = _locked(session, channel)
    before = _state(channel)
    if channel.is_paused(at) and (until, reason) == (channel.promos_paused_until, channel.promos_paused_reason):
        return channel  # the same pause again (a form saved unchanged): nothing to write
    if not channel.is_paused(at):
        channel.promos_paused_at = at
    channel.promos_paused_until = until
    channel.promos_paused_reason = reason
    channel.promos_paused_by = actor
    session.flush()
    audit.record(session, actor, "pause_promos", "channel", channel.slug, audit.diff(before, _state(channel)))
    return channel


def resume_promos(session: Session, channel: Channel, actor: str) -> Channel:
    """End the channel's pause: its held posts go out if still true, else expire."""
    channel = _locked(session, channel)
    if channel.promos_paused_at is None:
        return channel
    before = _state(channel)
    was_paused = channel.is_paused(now())
    channel.promos_paused_at = channel.promos_paused_until = None
    channel.promos_paused_reason = channel.promos_paused_by = None
    session.flush()
    if was_paused:  # one whose until passed had ended already: nothing to say
        audit.record(session, actor, "resume_promos", "channel", channel.slug, audit.diff(before, _state(channel)))
    return channel

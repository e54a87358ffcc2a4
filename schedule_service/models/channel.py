from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime
from schedule_service.models.edition import Edition

# What a channel promotes (SPEC §8a).
HIGHLIGHTS = "highlights"
ALL = "all"
NONE = "none"
PROMOTE = (HIGHLIGHTS, ALL, NONE)


class ChannelTraits:
    """What a channel knows from its own columns; shared by the ORM row and listings' light rows."""

    __slots__ = ()

    timezone: str
    name: str
    names: dict[str, str] | None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def name_in(self, lang: str | None) -> str:
        return (self.names or {}).get(lang or "", self.name)


class Channel(ChannelTraits, Base):
    __tablename__ = "channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Localised names, {lang: name}; ``name`` is the fallback.
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: IANA zone of the channel's wall clock.
    timezone: Mapped[str] = mapped_column(String(64))
    #: Local time at which a broadcast day begins; earlier times belong to the day before.
    broadcast_day_start: Mapped[time] = mapped_column(Time, default=time(6, 0))
    xmltv_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The channel's promo plan steps; None means the service's default plan.
    promo_plan: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: Which slots get promo posts: "highlights" (promoted, premiere, exclusive), "all" or "none".
    promote: Mapped[str] = mapped_column(String(16), default=HIGHLIGHTS, server_default=HIGHLIGHTS)
    #: Hold promos of exclusive programmes for a person's approval.
    is_exclusive_approval_required: Mapped[bool] = mapped_column(default=False)
    #: What an embargoed programme's slots are called in public, {lang: title} (SPEC §8b).
    embargo_title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: The kill switch (SPEC §8b): since when the channel's promos are paused; None when not.
    promos_paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: When a pause ends by itself; None: until someone resumes.
    promos_paused_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    promos_paused_reason: Mapped[str | None] = mapped_column(String(500))
    promos_paused_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, onupdate=now)

    #: Its regional editions (SPEC §9), in the order staff gave them.
    #: Loaded when asked for (lists that show them ask with selectinload): every slot read joins
    #: its channel, and must not pay a query for editions it never shows.
    editions: Mapped[list[Edition]] = relationship(
        order_by=Edition.position, cascade="all, delete-orphan", lazy="select", passive_deletes=True
    )

    def is_paused(self, at: datetime) -> bool:
        """Whether the kill switch holds the channel's promos at ``at``."""
        return self.promos_paused_at is not None and (self.promos_paused_until is None or self.promos_paused_until > at)

    def __repr__(self) -> str:
        return f"<Channel {self.slug}>"

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime
from schedule_service.models.channel import Channel
from schedule_service.models.programme import Programme

SCHEDULED = "scheduled"
CANCELLED = "cancelled"


class SlotTraits:
    """What a slot knows from its own columns; shared by the ORM row and listings' light rows."""

    __slots__ = ()

    id: int
    status: str
    version: int

    @property
    def is_cancelled(self) -> bool:
        return self.status == CANCELLED

    @property
    def etag(self) -> str:
        return f'"slot-{self.id}-v{self.version}"'


class Slot(SlotTraits, Base):
    __tablename__ = "slot"
    __table_args__ = (
        Index("ix_slot_channel_start", "channel_id", "start_at"),
        # Scheduled slots only, by channel and end, covering now/next's columns on PostgreSQL
        # (see listings.now_next).
        Index(
            "ix_slot_scheduled_channel_end",
            "channel_id",
            "end_at",
            postgresql_where=text("status = 'scheduled'"),
            postgresql_include=["id", "programme_id", "start_at", "is_premiere", "is_live", "is_promoted", "version"],
            sqlite_where=text("status = 'scheduled'"),
        ),
        Index(
            "ix_slot_plan_at",
            "plan_at",
            postgresql_where=text("plan_at IS NOT NULL"),
            sqlite_where=text("plan_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    is_premiere: Mapped[bool] = mapped_column(default=False)
    is_live: Mapped[bool] = mapped_column(default=False)
    #: Marked by staff for promotion on a channel that promotes its highlights (SPEC §8a).
    is_promoted: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default=SCHEDULED)
    #: When the horizon sweep is to make the slot's posts (its first step less PROMO_HORIZON);
    #: null once they are made, or when its plan gives it none.
    plan_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The import run (its audit entry) that created or last changed the slot.
    import_id: Mapped[int | None]
    #: Grows by one on every change: the ETag, and the iCalendar SEQUENCE.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, onupdate=now)

    channel: Mapped[Channel] = relationship(lazy="joined")
    programme: Mapped[Programme] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Slot {self.id} {self.channel_id} {self.start_at:%Y-%m-%dT%H:%MZ}>"

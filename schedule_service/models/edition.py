from datetime import timedelta

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from schedule_service.db import Base


class Edition(Base):
    """A time-shifted feed of a channel for another region (SPEC §9): the channel's slots, moved by ``shift``."""

    __tablename__ = "edition"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"), index=True)
    #: Unique across channels and editions: an edition is a channel to its viewers.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Localised names, {lang: name}; ``name`` is the fallback.
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: IANA zone of the edition's audience; broadcast days are counted in it.
    timezone: Mapped[str] = mapped_column(String(64))
    #: Seconds added to the channel's instants (negative: the region sees the programme earlier).
    shift_seconds: Mapped[int] = mapped_column(default=0)
    #: The edition's place in its channel's list, as staff gave it.
    position: Mapped[int] = mapped_column(default=0)

    @property
    def shift(self) -> timedelta:
        return timedelta(seconds=self.shift_seconds)

    def __repr__(self) -> str:
        return f"<Edition {self.slug} of {self.channel_id} {self.shift_seconds:+d}s>"

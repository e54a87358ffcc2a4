from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime

KINDS = ("web", "webhook", "mastodon", "telegram", "vk")
#: Length limits of the networks, used when a target sets none.
DEFAULT_MAX_LENGTH = {"web": None, "webhook": None, "mastodon": 500, "telegram": 4096, "vk": 16384}


class Target(Base):
    """A place promos are published to."""

    __tablename__ = "target"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(String(1000))
    #: Write-only credentials: the webhook signing secret, the Mastodon, Telegram or VK token.
    secret: Mapped[str | None] = mapped_column(Text)
    token: Mapped[str | None] = mapped_column(Text)
    #: The Telegram chat, or the VK community's (positive) id.
    chat_id: Mapped[str | None] = mapped_column(String(200))
    lang: Mapped[str | None] = mapped_column(String(16))
    #: The audience's zone for when-phrases; the channel's when unset.
    timezone: Mapped[str | None] = mapped_column(String(64))
    max_length: Mapped[int | None]
    is_approval_required: Mapped[bool] = mapped_column(default=False)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    #: The slug of the regional edition whose air times and zone its posts follow (SPEC §9), on
    #: that edition's channel; None: the channel's own. Named like plan steps name targets.
    edition: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, onupdate=now)

    @property
    def limit(self) -> int | None:
        return self.max_length if self.max_length is not None else DEFAULT_MAX_LENGTH.get(self.kind)

    def __repr__(self) -> str:
        return f"<Target {self.name} {self.kind}>"

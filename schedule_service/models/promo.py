from datetime import datetime
from enum import StrEnum, nonmember

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime
from schedule_service.models.slot import Slot
from schedule_service.models.target import Target


class PostStatus(StrEnum):
    """A post's state (SPEC §8), and the groups the service asks about."""

    PLANNED = "planned"
    HELD = "held"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    CORRECTED = "corrected"
    WITHDRAWN = "withdrawn"

    # In the class body the names above are still their text: the groups hold text.

    #: Not yet sent: moving the slot moves them, cancelling it revokes them.
    UNSENT = nonmember((PLANNED, HELD, FAILED))
    #: Out there, or may be: a move or a cancellation corrects or withdraws them.
    SENT = nonmember((PUBLISHING, PUBLISHED, UNKNOWN, CORRECTED))
    #: Out there for certain: what a correction or a withdrawal acts on.
    OUT_THERE = nonmember((PUBLISHED, CORRECTED))
    #: Waiting for a person: approve, retry, or decide what happened (the publish log's and /healthz's).
    NEEDS_PERSON = nonmember((HELD, FAILED, UNKNOWN, EXPIRED))
    #: What a scheduler may claim (a failed one once its retry is due).
    CLAIMABLE = nonmember((PLANNED, FAILED))


# The states as plain text, for queries and rows (drivers bind text, not enums).
PLANNED, HELD, PUBLISHING, PUBLISHED, FAILED, UNKNOWN, EXPIRED, REVOKED, CORRECTED, WITHDRAWN = (
    str(s.value) for s in PostStatus
)
STATUSES = tuple(str(s.value) for s in PostStatus)

# What a post does at its target.
PUBLISH = "publish"
CORRECT = "correct"
WITHDRAW = "withdraw"


class Post(Base):
    """One promo for one (slot, plan step, target): an outbox row with a due time."""

    __tablename__ = "post"
    __table_args__ = (
        # The scheduler's hot query: the due rows among the few that are still to send.
        Index(
            "ix_post_due",
            "due_at",
            postgresql_where=text("status IN ('planned', 'failed', 'publishing')"),
            sqlite_where=text("status IN ('planned', 'failed', 'publishing')"),
        ),
        Index("ix_post_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("target.id", ondelete="CASCADE"), index=True)
    #: The plan step that made this post.
    step: Mapped[str] = mapped_column(String(100))
    #: publish, correct or withdraw.
    action: Mapped[str] = mapped_column(String(16), default=PUBLISH)
    #: For a correction or withdrawal: the published post it acts on.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    #: Stable across retries and processes; the target deduplicates on it.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: The step's template name, if it asks for one other than the default.
    template: Mapped[str | None] = mapped_column(String(100))
    #: A template of this post's own (Jinja source, set on the promo desk); rendered when sent.
    own_template: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(16), default="en")
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Past this instant the text would be false: the post expires instead of going out.
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default=PLANNED)
    attempts: Mapped[int] = mapped_column(default=0)
    #: When a failed post may be tried again.
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(300))
    external_url: Mapped[str | None] = mapped_column(String(1000))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The text as sent (or last rendered).
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, onupdate=now)

    slot: Mapped[Slot] = relationship(lazy="joined")
    target: Mapped[Target] = relationship(lazy="joined")
    parent: Mapped["Post | None"] = relationship(remote_side=[id])
    attempt_log: Mapped[list["PostAttempt"]] = relationship(
        back_populates="post", order_by="PostAttempt.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Post {self.id} {self.action} {self.status} due {self.due_at:%Y-%m-%dT%H:%M:%SZ}>"


class PostAttempt(Base):
    """One try at sending a post: written before the call, completed after it."""

    __tablename__ = "post_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: None while the call is under way; then published, failed, unknown.
    outcome: Mapped[str | None] = mapped_column(String(16))
    response: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))
    #: The exact text this attempt sent (None for a withdrawal, which says nothing new).
    text: Mapped[str | None] = mapped_column(Text)
    #: The picture this attempt sent, if the delivery carried one.
    picture_url: Mapped[str | None] = mapped_column(String(1000))
    #: For a correction: the text out there that it replaced.
    replaced_text: Mapped[str | None] = mapped_column(Text)

    post: Mapped[Post] = relationship(back_populates="attempt_log")

    def __repr__(self) -> str:
        return f"<PostAttempt {self.post_id} {self.outcome}>"


class FeedItem(Base):
    """An item of the service's own promo feed: what the web target publishes."""

    __tablename__ = "feed_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The publishing post's idempotency key: a redelivery finds the item already there.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slot.id", ondelete="SET NULL"), index=True)
    lang: Mapped[str] = mapped_column(String(16), default="en")
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(1000))
    image_url: Mapped[str | None] = mapped_column(String(1000))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    is_withdrawn: Mapped[bool] = mapped_column(default=False)

    def __repr__(self) -> str:
        return f"<FeedItem {self.idempotency_key}>"


class SchedulerHeartbeat(Base):
    """The last tick of each scheduler process: the dead-man's switch behind /healthz."""

    __tablename__ = "scheduler_heartbeat"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_tick_at: Mapped[datetime] = mapped_column(UtcDateTime)

    def __repr__(self) -> str:
        return f"<SchedulerHeartbeat {self.worker} {self.last_tick_at}>"

"""An XMLTV import as a job: the uploaded file, its progress and its report (SPEC §7)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)


class ImportJob(Base):
    __tablename__ = "import_job"
    __table_args__ = (
        # The scheduler looks for work among the few unfinished jobs only.
        Index(
            "ix_import_job_unfinished",
            "status",
            "lease_until",
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    #: Check and count, write nothing but the job itself.
    is_dry_run: Mapped[bool] = mapped_column(default=False)
    #: Leave bad programmes out instead of their whole channel.
    is_skip_bad: Mapped[bool] = mapped_column(default=False)
    #: IANA zone of channels the import creates.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: Host names this service exports its channels under, as the request that queued it saw them.
    own_hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: {xmltv id: {"slug", "name", "timezone", "languages"} or None (left out)}.
    channel_map: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    #: Email of the staff user who queued it.
    created_by: Mapped[str] = mapped_column(String(320))
    channels_done: Mapped[int] = mapped_column(default=0)
    channels_total: Mapped[int | None] = mapped_column()
    #: The per-channel report, growing channel by channel while the job runs.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Why a failed job failed: {"detail", "errors": {"line N": message}, "bad_items"}.
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The scheduler process running it, and until when its claim holds without a sign of life.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Claims so far; a job whose processes keep dying fails rather than loop.
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def is_finished(self) -> bool:
        return self.status in (DONE, FAILED)

    def __repr__(self) -> str:
        return f"<ImportJob {self.id} {self.status}{' dry run' if self.is_dry_run else ''}>"


class ImportFileChunk(Base):
    """A piece of a job's uploaded file, kept until the job is done (pieces keep memory flat)."""

    __tablename__ = "import_file_chunk"

    job_id: Mapped[int] = mapped_column(ForeignKey("import_job.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

    def __repr__(self) -> str:
        return f"<ImportFileChunk {self.job_id}#{self.seq}>"

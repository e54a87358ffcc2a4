"""What an import that changed the schedule last left behind, so the same file again is known at once."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime


class ImportMemo(Base):
    """One completed import: its file and options (``key``), and the change feed's span it wrote."""

    __tablename__ = "import_memo"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the file's bytes and of the options it was imported with.
    key: Mapped[str] = mapped_column(String(64), index=True)
    #: The change feed's last cursor before the import began, and after its last commit.
    seq_from: Mapped[int] = mapped_column(BigInteger)
    seq_to: Mapped[int] = mapped_column(BigInteger)
    #: The report an unchanged run of the same file gives (every programme unchanged).
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)

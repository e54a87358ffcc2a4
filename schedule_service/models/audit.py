from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime

#: Columns whose API name differs: the trail speaks the API's field names (SPEC §6).
API_NAMES = {
    "start_at": "start",
    "end_at": "end",
    "is_premiere": "premiere",
    "is_live": "live",
    "is_promoted": "promoted",
    "is_exclusive": "exclusive",
    "is_approval_required": "requires_approval",
    "is_enabled": "enabled",
}


class AuditEntry(Base):
    """One change to one entity; rows are only ever inserted."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, index=True)
    #: A user's email, or "system" / "import".
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    #: {field: [old, new]}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The import run (its entry for the channel) that made this change, when an import made it.
    import_id: Mapped[int | None]

    @property
    def shown_changes(self) -> dict[str, Any]:
        """The changes under the API's field names (stored under the columns' own)."""
        return {API_NAMES.get(field, field): pair for field, pair in (self.changes or {}).items()}

    def __repr__(self) -> str:
        return f"<AuditEntry {self.action} {self.entity} {self.entity_id} by {self.actor}>"

"""Instants as the API writes them: RFC 3339, with or without the zone they are shown in."""

from datetime import UTC, datetime


def rfc3339(value: datetime | None) -> str | None:
    """An instant as RFC 3339; UTC unless it already carries the zone it should be shown in."""
    return value.isoformat() if value is not None else None


def rfc3339_utc(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None

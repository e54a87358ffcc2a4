"""The one source of "now"; tests freeze it with :func:`frozen`."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """Return the current instant, aware, in UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


@contextmanager
def frozen(at: datetime) -> Iterator[datetime]:
    """Make :func:`now` answer ``at`` inside the block."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze at an aware instant")
    previous, _frozen = _frozen, at.astimezone(UTC)
    try:
        yield _frozen
    finally:
        _frozen = previous

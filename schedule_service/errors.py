"""The domain's errors: what a write refuses, and why, in words. Imported by all, importing nothing of ours."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schedule_service.models import Slot


class ScheduleError(Exception):
    """A write the schedule refuses; the message says why in words."""


class Invalid(ScheduleError):
    """Input that is not valid; ``errors`` is {field: message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class Conflict(ScheduleError):
    """The write clashes with what is there (a taken slug, slots in the way)."""

    def __init__(self, message: str, slots: "list[Slot] | None" = None):
        super().__init__(message)
        self.slots = slots or []


class SlotRefused(ScheduleError):
    """One of the slots given to ``schedule.create_slots`` was refused; ``index`` says which."""

    def __init__(self, index: int, error: ScheduleError):
        super().__init__(str(error))
        self.index, self.error = index, error


class StaleVersion(ScheduleError):
    """The write was based on an older version of the slot than the current one."""

    def __init__(self, slot: "Slot"):
        super().__init__(f"slot {slot.id} changed since you read it: it is at version {slot.version} now")
        self.slot = slot

"""Promo plans → post rows; re-planning when a slot moves; revoking when it is cancelled."""

from sqlalchemy.orm import Session

from schedule_service.models import Slot


def plan_slot(session: Session, slot: Slot) -> list:
    """Plan the posts of a new (or restored) slot from its plan."""
    return []


def replan_slot(session: Session, slot: Slot) -> None:
    """Move the unsent posts of a slot that moved; queue corrections for sent ones."""


def revoke_slot(session: Session, slot: Slot) -> None:
    """Revoke the unsent posts of a cancelled slot; queue withdrawals for sent ones."""

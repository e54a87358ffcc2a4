"""What the import tests share: a planner that fails on one channel, as a lost database would."""

from schedule_service.promos import plan


def fail_planning(monkeypatch, slug: str, error: BaseException | None = None):
    """Make planning the new slots of channel ``slug`` raise ``error`` (by default, as a lost
    database would); return the real planner, to put back with ``monkeypatch.setattr``."""
    real_plan = plan.plan_bulk

    def plan_bulk(session, channel, slots):
        if channel.slug == slug:
            raise error if error is not None else RuntimeError("the database went away")
        return real_plan(session, channel, slots)

    monkeypatch.setattr(plan, "plan_bulk", plan_bulk)
    return real_plan

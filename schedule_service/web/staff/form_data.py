"""What each staff edit form shows: the API's representation of the thing, shaped as the form's data.

A form is never given the ORM object: WTForms lets an object's attributes win over keyword data,
and shows a list or a dict as its Python repr. Starting from the API's dict, the form shows what
an integrator reads, value for value.
"""

from datetime import datetime
from typing import Any

from schedule_service.models import Channel, Post, Programme, Slot, Target, User
from schedule_service.web.api.channels import ChannelSchema
from schedule_service.web.api.posts import PostSchema
from schedule_service.web.api.programmes import ProgrammeSchema
from schedule_service.web.api.promos import StepSchema
from schedule_service.web.api.slot_out import SlotOut
from schedule_service.web.api.targets import TargetSchema


def programme_data(programme: Programme) -> dict[str, Any]:
    """The programme as GET /api/v1/programmes/{id} has it; translations as rows by language."""
    data = ProgrammeSchema().dump(programme)
    data["translations"] = [{"lang": lang, **fields} for lang, fields in sorted(data["translations"].items())]
    return data


def channel_data(channel: Channel) -> dict[str, Any]:
    """The channel as GET /api/v1/channels/{slug} has it; names as rows, languages as "en, ru"."""
    data = ChannelSchema().dump(channel)
    data["names"] = [{"lang": lang, "name": name} for lang, name in (data.get("names") or {}).items()]
    data["languages"] = ", ".join(data.get("languages") or [])
    data["editions"] = [
        {**e, "names": "\n".join(f"{lang}: {name}" for lang, name in (e.get("names") or {}).items())}
        for e in data.get("editions") or []
    ]
    data["embargo_title"] = [
        {"lang": lang, "title": title} for lang, title in sorted((data.get("embargo_title") or {}).items())
    ]
    return data


def slot_data(slot: Slot) -> dict[str, Any]:
    """The slot as GET /api/v1/slots/{id} has it, its start as the channel's wall clock (and which, if twice)."""
    data = SlotOut().dump(slot)
    wall = datetime.fromisoformat(data["start"]).astimezone(slot.channel.zone)
    ambiguous = wall.replace(fold=0).utcoffset() != wall.replace(fold=1).utcoffset()
    return {
        "programme_id": data["programme_id"],
        "start_local": wall.replace(tzinfo=None),
        "fold": str(wall.fold) if ambiguous else "",
        "duration_minutes": data["duration_minutes"],
        "premiere": data["premiere"],
        "live": data["live"],
        "promoted": data["promoted"],
        "version": str(data["version"]),
    }


def plan_data(steps: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The steps as GET …/promo-plan has them, one row each."""
    rows = []
    for step in StepSchema(many=True).dump(steps or []):
        rows.append(
            {
                "name": step.get("name"),
                "offset": step.get("offset") or "",
                "day": step.get("day"),
                "at_local": step.get("at_local") or "",
                "targets": step.get("targets") or [],
                "template": step.get("template") or "",
            }
        )
    return {"steps": rows}


def target_data(target: Target) -> dict[str, Any]:
    """The target as GET /api/v1/targets/{name} has it; its write-only credentials stay empty."""
    data = TargetSchema().dump(target)
    data["lang"] = data.get("lang") or ""
    data["edition"] = data.get("edition") or ""
    return data


def user_data(user: User) -> dict[str, Any]:
    """A user's role and activity; the password is write-only."""
    return {"role": user.role, "active": user.is_active}


def post_template_data(post: Post) -> dict[str, Any]:
    """The post's own template as GET /api/v1/posts/{id} has it; none as empty."""
    return {"template": PostSchema(only=("template",)).dump(post)["template"] or ""}

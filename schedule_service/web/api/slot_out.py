"""A slot as the API shows it; apart from slots.py so that the refusals in common.py can show one."""

from marshmallow import Schema, fields

from schedule_service.broadcast_time import broadcast_day
from schedule_service.web.api.instants import rfc3339, rfc3339_utc


class SlotOut(Schema):
    id = fields.Integer()
    version = fields.Integer()
    channel = fields.Function(lambda s: s.channel.slug)
    programme_id = fields.Integer()
    start = fields.Function(lambda s: rfc3339_utc(s.start_at))
    end = fields.Function(lambda s: rfc3339_utc(s.end_at))
    start_local = fields.Function(lambda s: rfc3339(s.start_at.astimezone(s.channel.zone)))
    end_local = fields.Function(lambda s: rfc3339(s.end_at.astimezone(s.channel.zone)))
    broadcast_day = fields.Function(
        lambda s: broadcast_day(s.start_at, s.channel.zone, s.channel.broadcast_day_start).isoformat()
    )
    duration_minutes = fields.Function(lambda s: int((s.end_at - s.start_at).total_seconds() // 60))
    premiere = fields.Boolean(attribute="is_premiere")
    live = fields.Boolean(attribute="is_live")
    promoted = fields.Boolean(attribute="is_promoted")
    status = fields.String()

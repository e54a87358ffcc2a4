"""The kill switch: pause and resume a channel's promos (SPEC §8b)."""

from marshmallow import Schema, fields, validate

from schedule_service.auth import actor, require
from schedule_service.publishing import kill_switch
from schedule_service.web.api.channels import channel_or_404, pause_state
from schedule_service.web.api.common import Blueprint, supported_time, write

blp = Blueprint(
    "kill_switch", __name__, url_prefix="/api/v1/channels", description="Pause and resume a channel's promos"
)


class PauseIn(Schema):
    until = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        validate=supported_time,
        metadata={"description": "when the pause ends by itself; null: until resumed"},
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=kill_switch.REASON_MAX),
        metadata={"description": "why; the staff home shows it beside the channel"},
    )


class PauseState(Schema):
    at = fields.String(metadata={"description": "since when"})
    until = fields.String(allow_none=True)
    reason = fields.String()
    by = fields.String(allow_none=True, metadata={"description": "who paused"})


class PausedOut(Schema):
    channel = fields.String(metadata={"description": "the channel's slug"})
    promos_paused = fields.Nested(PauseState, allow_none=True, metadata={"description": "null: not paused"})


def _out(channel) -> dict:
    return {"channel": channel.slug, "promos_paused": pause_state(channel)}


@blp.route("/<slug>/promos/pause", methods=["POST"])
@require("editor")
@blp.arguments(PauseIn)
@blp.response(200, PausedOut)
def pause(values, slug):
    """Stop every unsent promo of the channel at once, one already claimed by a scheduler included.

    Nothing of the channel goes out until ``resume`` or ``until``; then each post goes out if it
    is still true, else it expires. Pausing a paused channel sets its ``until`` and ``reason``.
    """
    channel = channel_or_404(slug)
    return _out(write(kill_switch.pause_promos, channel, values["until"], values["reason"], actor()))


@blp.route("/<slug>/promos/resume", methods=["POST"])
@require("editor")
@blp.response(200, PausedOut)
def resume(slug):
    """Let the channel's promos go out again: each held post goes out if still true, else expires."""
    channel = channel_or_404(slug)
    return _out(write(kill_switch.resume_promos, channel, actor()))

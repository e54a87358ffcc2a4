"""Channels: read by all, written by staff."""

import re

from flask import has_request_context
from flask.views import MethodView
from marshmallow import Schema, fields, post_load, validate
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from schedule_service import editions, listings, schedule, text_rules
from schedule_service.auth import actor, current_staff, require
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Channel
from schedule_service.models.channel import PROMOTE
from schedule_service.web.api.common import Blueprint, DayTime, PageArgs, page_schema, paginate, write
from schedule_service.web.api.instants import rfc3339_utc
from schedule_service.web.errors import problem

blp = Blueprint("channels", __name__, url_prefix="/api/v1/channels", description="TV channels")

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class Shift(fields.String):
    """An edition's shift: an ISO 8601 duration out, a string in (checked by ``editions``)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else editions.format_shift(value)


class NamedSchema(Schema):
    """What a channel and its editions are both known by: a slug, a name and its translations."""

    slug = fields.String(required=True, validate=validate.Regexp(SLUG, error="lowercase letters, digits and -"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    names = fields.Dict(
        keys=fields.String(validate=validate.Length(min=2, max=16)),
        values=fields.String(validate=validate.Length(min=1, max=200)),
        validate=validate.Length(max=text_rules.ENTRIES),
    )


class EditionSchema(NamedSchema):
    timezone = fields.String(required=True, validate=validate.Length(max=64), metadata={"description": "IANA zone"})
    shift = Shift(
        required=True,
        metadata={"description": 'ISO 8601 duration added to the channel\'s instants, e.g. "-PT4H" (earlier)'},
    )


class ChannelSchema(NamedSchema):
    id = fields.Integer(dump_only=True)
    timezone = fields.String(
        required=True, validate=validate.Length(max=64), metadata={"description": "IANA zone, e.g. Europe/Moscow"}
    )
    broadcast_day_start = DayTime(metadata={"description": 'local "HH:MM" at which a broadcast day begins'})
    xmltv_id = fields.String(allow_none=True, validate=validate.Length(max=200))
    languages = fields.List(
        fields.String(validate=validate.Length(min=2, max=16)), validate=validate.Length(max=text_rules.ENTRIES)
    )
    promote = fields.String(
        validate=validate.OneOf(PROMOTE),
        metadata={
            "description": "which slots get promo posts: `highlights` (slots marked `promoted`, premieres and "
            "exclusives; the default), `all`, or `none`",
        },
    )
    editions = fields.List(
        fields.Nested(EditionSchema),
        validate=validate.Length(max=editions.MAX_EDITIONS),
        metadata={"description": "regional editions: the schedule moved by `shift`, in their own zone (SPEC §9)"},
    )
    edition_of = fields.String(
        dump_only=True, metadata={"description": "on an edition read as a channel: the slug of the channel it shifts"}
    )
    shift = Shift(dump_only=True, metadata={"description": "on an edition read as a channel: its shift"})
    embargo_title = fields.Dict(
        keys=fields.String(validate=validate.Length(min=2, max=16)),
        values=fields.String(validate=validate.Length(min=1, max=300)),
        validate=validate.Length(max=text_rules.ENTRIES),
        metadata={
            "description": "{lang: title}: what an embargoed programme's slots are called in public before its "
            '`embargo_until` (SPEC §8b); a language left out says "Special programme" (en) / "Спецпроект" (ru)',
        },
    )
    promos_paused = fields.Method(
        "_promos_paused",
        "_read_only",
        allow_none=True,
        metadata={
            "type": "object",
            "readOnly": True,
            "description": "the kill switch (SPEC §8b): null while the channel's promos go out, else "
            "{`at`, `until` (null: until resumed), `reason`, `by` (the staff member; null to readers who are not "
            "staff)}; a pause whose `until` passed shows null. Written only by `POST …/promos/pause` and `…/resume`; "
            "sent back in a PATCH it is ignored",
        },
    )

    def _promos_paused(self, channel):
        return pause_state(channel)

    def _read_only(self, value):
        return value

    @post_load
    def _not_written_here(self, data, **kwargs):
        # Sent back as read, it changes nothing: the kill switch has endpoints of its own.
        data.pop("promos_paused", None)
        return data


def pause_state(channel) -> dict | None:
    """The channel's pause as the API shows it, or None while its promos go out."""
    at = getattr(channel, "promos_paused_at", None)
    until = getattr(channel, "promos_paused_until", None)
    if at is None or (until is not None and until <= now()):
        return None
    return {
        "at": rfc3339_utc(at),
        "until": rfc3339_utc(until) if until is not None else None,
        "reason": channel.promos_paused_reason,
        "by": channel.promos_paused_by if has_request_context() and current_staff() is not None else None,
    }


ChannelPage = page_schema(ChannelSchema, "ChannelPage")


def channel_or_404(slug: str) -> Channel:
    channel = db.session.scalar(select(Channel).where(Channel.slug == slug))
    if channel is None:
        raise problem(404, f"there is no channel {slug!r}")
    return channel


def channel_or_edition_or_404(slug: str) -> Channel | listings.EditionChannel:
    """The channel, or the edition (as a channel) answering to ``slug``."""
    found = listings.channel_by_slug(db.session, slug)
    if found is None:
        raise problem(404, f"there is no channel {slug!r}")
    return found


@blp.route("")
class Channels(MethodView):
    @blp.arguments(PageArgs, location="query", error_status_code=400)
    @blp.response(200, ChannelPage)
    def get(self, args):
        """List channels."""
        return paginate(select(Channel).options(selectinload(Channel.editions)), Channel.id, args, "channels.Channels")

    @require("editor")
    @blp.arguments(ChannelSchema)
    @blp.response(201, ChannelSchema)
    def post(self, values):
        """Add a channel."""
        return write(schedule.create_channel, values, actor())


@blp.route("/<slug>")
class ChannelItem(MethodView):
    @blp.response(200, ChannelSchema)
    def get(self, slug):
        """One channel, or one edition as a channel (with ``edition_of`` and ``shift``)."""
        return channel_or_edition_or_404(slug)

    @require("editor")
    @blp.arguments(ChannelSchema(partial=True))
    @blp.response(200, ChannelSchema)
    def patch(self, values, slug):
        """Change a channel."""
        return write(schedule.update_channel, channel_or_404(slug), values, actor())

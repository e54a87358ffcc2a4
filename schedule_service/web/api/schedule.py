"""Listings: a channel's schedule by broadcast day or range, and now/next on every channel."""

from datetime import date, datetime, timedelta

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from schedule_service import editions, listings
from schedule_service.auth import current_staff
from schedule_service.broadcast_time import broadcast_day, zone
from schedule_service.db import db
from schedule_service.embargo import public_slot
from schedule_service.models.programme import TRANSLATED
from schedule_service.web.api.channels import ChannelSchema, channel_or_edition_or_404
from schedule_service.web.api.common import Blueprint, supported_time
from schedule_service.web.api.instants import rfc3339
from schedule_service.web.api.programmes import ProgrammeSchema
from schedule_service.web.api.slot_out import SlotOut
from schedule_service.web.caching import kept_programmes, public, request_now, schedule_generation
from schedule_service.web.errors import problem

blp = Blueprint("listings", __name__, url_prefix="/api/v1", description="Schedules and now/next")

#: How far from today a broadcast day may be asked for.
MAX_DAYS_AWAY = 3660


class ListingArgs(Schema):
    date = fields.Date(validate=supported_time, metadata={"description": "broadcast day; default today's"})
    from_ = fields.AwareDateTime(data_key="from", validate=supported_time)
    to = fields.AwareDateTime(validate=supported_time)
    tz = fields.String(metadata={"description": "IANA zone for the *_tz times; default the channel's"})
    lang = fields.String(validate=validate.Length(min=2, max=16))


class NowArgs(Schema):
    at = fields.AwareDateTime(validate=supported_time, metadata={"description": "the instant; default now"})
    tz = fields.String()
    lang = fields.String(validate=validate.Length(min=2, max=16))


class ListedProgramme(ProgrammeSchema):
    lang = fields.String(metadata={"description": "with ?lang=: the language the texts are in"})


class ListedSlot(SlotOut):
    """A slot as listed (documentation only): its times also in the asked zone, its programme inlined."""

    start_tz = fields.String(metadata={"description": "start in the asked zone (tz), else the channel's"})
    end_tz = fields.String()
    programme = fields.Nested(ListedProgramme)


class ScheduleOut(Schema):
    channel = fields.Nested(ChannelSchema)
    from_ = fields.String(data_key="from")
    to = fields.String()
    tz = fields.String()
    slots = fields.List(fields.Nested(ListedSlot))


class ChannelNowNext(Schema):
    channel = fields.Nested(ChannelSchema)
    now = fields.Nested(ListedSlot, allow_none=True)
    next = fields.Nested(ListedSlot, allow_none=True)


class NowOut(Schema):
    at = fields.String()
    channels = fields.List(fields.Nested(ChannelNowNext))


# Schemas are built once: building one costs more than dumping a slot with it.
SLOT_OUT = SlotOut()
PROGRAMME_OUT = ProgrammeSchema()
CHANNEL_OUT = ChannelSchema()


def listed_slot(slot, tz, lang: str | None) -> dict:
    """A slot as listed: its fields, its times in ``tz``, its programme inlined in ``lang``.

    Staff (a session or a token) see an embargoed programme; anyone else its stand-in.
    """
    if current_staff() is None:
        slot = public_slot(slot)
    out = SLOT_OUT.dump(slot)
    out["start_tz"] = rfc3339(slot.start_at.astimezone(tz))
    out["end_tz"] = rfc3339(slot.end_at.astimezone(tz))
    programme = PROGRAMME_OUT.dump(slot.programme)
    if lang:
        for field in TRANSLATED:
            programme[field] = slot.programme.text(field, lang)
        programme["lang"] = lang if lang in slot.programme.translations else slot.programme.language
    out["programme"] = programme
    return out


def _zone_arg(name: str | None, default):
    if not name:
        return default
    try:
        return zone(name)
    except ValueError as e:
        raise problem(400, str(e), {"tz": str(e)}) from e


@blp.route("/channels/<slug>/schedule")
class ChannelSchedule(MethodView):
    @public(resolution=60)  # cached per schedule generation; "today" is read once a minute
    @blp.arguments(ListingArgs, location="query", error_status_code=400)
    @blp.alt_response(200, schema=ScheduleOut, success=True)  # the body is built by hand, for speed
    def get(self, args, slug):
        """A channel's (or an edition's) schedule for a broadcast day (``date``) or a range (``from``, ``to``)."""
        channel = channel_or_edition_or_404(slug)
        tz = _zone_arg(args.get("tz"), channel.zone)
        if args.get("from_") or args.get("to"):
            if args.get("date"):
                raise problem(400, "give date or from/to, not both")
            if not (args.get("from_") and args.get("to")):
                raise problem(400, "a range needs both from and to")
            start, end = args["from_"], args["to"]
            if end <= start:
                raise problem(400, "to must be after from", {"to": "must be after from"})
            if end - start > timedelta(days=current_app.config["MAX_RANGE_DAYS"]):
                raise problem(400, f"a range may span at most {current_app.config['MAX_RANGE_DAYS']} days")
        else:
            day = args.get("date") or broadcast_day(request_now(), channel.zone, channel.broadcast_day_start)
            if abs((day - date.today()).days) > MAX_DAYS_AWAY:
                raise problem(400, f"{day} is too far from today", {"date": "out of range"})
            start, end = listings.day_range_of(channel, day)
        slots = listings.slots_of(db.session, channel, start, end)
        return {
            "channel": CHANNEL_OUT.dump(channel),
            "from": rfc3339(start),
            "to": rfc3339(end),
            "tz": tz.key,
            "slots": [listed_slot(s, tz, args.get("lang")) for s in slots],
        }


@blp.route("/now")
class NowNext(MethodView):
    @public(resolution=1)  # cached per schedule generation and second
    @blp.arguments(NowArgs, location="query", error_status_code=400)
    @blp.alt_response(200, schema=NowOut, success=True)  # the body is built by hand, for speed
    def get(self, args):
        """What is on air on every channel at ``at`` (default now), and what comes next."""
        at: datetime = args.get("at") or request_now()
        lang = args.get("lang")
        rows = listings.now_next(db.session, at, kept_programmes(), schedule_generation())
        shifted = listings.all_editions(db.session)
        of_channel: dict[str, list] = {}
        for edition in shifted:
            of_channel.setdefault(edition.edition_of, []).append(editions.serialise(edition))
        items = []
        for row in rows:
            tz = _zone_arg(args.get("tz"), row.channel.zone)
            items.append(
                {
                    "channel": CHANNEL_OUT.dump(row.channel) | {"editions": of_channel.get(row.channel.slug, [])},
                    "now": listed_slot(row.now, tz, lang) if row.now else None,
                    "next": listed_slot(row.next, tz, lang) if row.next else None,
                }
            )
        # Each edition is a channel to its viewers: an entry of its own, its slots moved by its shift.
        for edition in shifted:
            row = listings.edition_now_next(db.session, edition, at)
            tz = _zone_arg(args.get("tz"), edition.zone)
            items.append(
                {
                    "channel": CHANNEL_OUT.dump(edition),
                    "now": listed_slot(row.now, tz, lang) if row.now else None,
                    "next": listed_slot(row.next, tz, lang) if row.next else None,
                }
            )
        items.sort(key=lambda item: item["channel"]["slug"])
        return {"at": rfc3339(at), "channels": items}

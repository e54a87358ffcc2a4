"""Promo plans of channels and programmes, and previews of any slot's blurb at any moment."""

from dataclasses import asdict

from flask import jsonify
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from schedule_service.auth import actor, require
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import Programme, Slot, Target
from schedule_service.promos import plan
from schedule_service.promos.render import BadTemplate, PromoNotTrue, TooLong, post_lang, render_slot
from schedule_service.promos.when_phrase import languages
from schedule_service.publishing.post_picture import expected_limit
from schedule_service.web.api.channels import channel_or_404
from schedule_service.web.api.common import ID_RANGE, Blueprint, get_or_404, supported_time, write
from schedule_service.web.errors import problem

blp = Blueprint("promos", __name__, url_prefix="/api/v1", description="Promo plans and previews")


class StepSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(max=64),
        metadata={"description": "unique in the plan; part of each post's key"},
    )
    offset = fields.String(
        validate=validate.Length(max=40),
        metadata={
            "description": 'exact ISO 8601 duration from air time, negative before: "-PT10M"',
            "example": "-PT10M",
        },
    )
    day = fields.Integer(
        validate=validate.Range(min=-366, max=366),
        metadata={"description": "days from the slot's broadcast day (-1 = the day before)"},
    )
    at_local = fields.String(
        validate=validate.Length(max=5),
        metadata={"description": 'wall time "HH:MM" in the audience\'s zone', "example": "18:00"},
    )
    targets = fields.List(
        fields.String(validate=validate.Length(max=64)), required=True, validate=validate.Length(min=1, max=50)
    )
    template = fields.String(
        validate=validate.Length(max=100), metadata={"description": "blurb template name; the default one when absent"}
    )


PLAN_DOC = (
    "A list of steps, each with `offset` or `day` + `at_local`. Setting a plan re-plans the unsent "
    "posts of every slot it applies to that has yet to end."
)


def _set(setter, owner, steps):
    return write(setter, owner, steps, actor())


@blp.route("/channels/<slug>/promo-plan")
class ChannelPlan(MethodView):
    @require("editor")
    @blp.response(200, StepSchema(many=True))
    def get(self, slug):
        """A channel's promo plan (the service's default plan when it has set none)."""
        channel = channel_or_404(slug)
        return channel.promo_plan if channel.promo_plan is not None else plan.DEFAULT_PLAN

    @require("editor")
    @blp.arguments(StepSchema(many=True), description=PLAN_DOC)
    @blp.response(200, StepSchema(many=True))
    def put(self, steps, slug):
        """Replace a channel's promo plan; 422 names each bad field as `<step index>.<field>`."""
        return _set(plan.set_channel_plan, channel_or_404(slug), steps)

    @require("editor")
    @blp.response(204)
    def delete(self, slug):
        """Go back to the service's default plan."""
        _set(plan.set_channel_plan, channel_or_404(slug), None)


@blp.route("/programmes/<int:programme_id>/promo-plan")
class ProgrammePlan(MethodView):
    @require("editor")
    @blp.response(
        200,
        StepSchema(many=True),
        description="The programme's own steps, or `null` when it follows its channels' plans.",
    )
    # The document must allow the null as well as the list (OpenAPI 3.1: a JSON Schema type list).
    @blp.doc(
        responses={
            200: {
                "content": {
                    "application/json": {
                        "schema": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/Step"}}
                    }
                }
            }
        }
    )
    def get(self, programme_id):
        """A programme's own promo plan, which replaces its channels' plans; null when it has none."""
        programme = get_or_404(Programme, programme_id, "programme")
        if programme.promo_plan is None:
            return jsonify(None)
        return programme.promo_plan

    @require("editor")
    @blp.arguments(StepSchema(many=True), description=PLAN_DOC)
    @blp.response(200, StepSchema(many=True))
    def put(self, steps, programme_id):
        """Give a programme its own promo plan (an empty list: no promos for it)."""
        return _set(plan.set_programme_plan, get_or_404(Programme, programme_id, "programme"), steps)

    @require("editor")
    @blp.response(204)
    def delete(self, programme_id):
        """Drop a programme's own plan, so its channels' plans apply again."""
        _set(plan.set_programme_plan, get_or_404(Programme, programme_id, "programme"), None)


class ComingStep(Schema):
    step = fields.String()
    target = fields.String()
    edition = fields.String(
        allow_none=True, metadata={"description": "the target's regional edition; null: the channel's own air time"}
    )
    due_at = fields.AwareDateTime()
    post_id = fields.Integer(
        allow_none=True, metadata={"description": "null while the slot is beyond the planning horizon"}
    )
    status = fields.String(allow_none=True, metadata={"description": "the post's status, once it is made"})


@blp.route("/slots/<int:slot_id>/promos")
class SlotPromos(MethodView):
    @require("editor")
    @blp.response(200, ComingStep(many=True))
    def get(self, slot_id):
        """The steps still to come that the slot's plan gives it, with their posts once made."""
        return plan.coming_steps(db.session, get_or_404(Slot, slot_id, "slot"))


class PreviewIn(Schema):
    slot_id = fields.Integer(required=True, validate=ID_RANGE)
    at = fields.AwareDateTime(
        load_default=None, validate=supported_time, metadata={"description": "the moment of reading; default now"}
    )
    lang = fields.String(
        load_default=None,
        validate=validate.Length(max=16),
        metadata={"description": "default: the target's, else the channel's"},
    )
    target = fields.String(
        load_default="web",
        validate=validate.Length(max=64),
        metadata={"description": "target name; its limit and zone apply"},
    )
    template = fields.String(
        load_default=None, validate=validate.Length(max=100), metadata={"description": "blurb template name"}
    )


class PreviewOut(Schema):
    text = fields.String()
    when = fields.String(metadata={"description": "the when-phrase in the text"})
    length = fields.Integer(metadata={"description": "as the target counts it"})
    limit = fields.Integer(allow_none=True, metadata={"description": "the target's limit; null: none"})
    title = fields.String()
    link = fields.String()
    lang = fields.String()
    target = fields.String()
    at = fields.String()
    shortened = fields.List(
        fields.String(),
        metadata={"description": 'what was cut to fit: "quote" (left out), "summary" (shortened or left out)'},
    )


@blp.route("/promos/preview")
class Preview(MethodView):
    @require("editor")
    @blp.arguments(PreviewIn)
    @blp.response(200, PreviewOut)
    def post(self, args):
        """Render a slot's blurb as it would read at `at`, with the code the sender uses."""
        slot = db.session.get(Slot, args["slot_id"])
        if slot is None:
            raise problem(422, f"there is no slot {args['slot_id']}", {"slot_id": "no such slot"})
        target = db.session.scalar(db.select(Target).where(Target.name == args["target"]))
        if target is None:
            raise problem(422, f"there is no target {args['target']!r}", {"target": "no such target"})
        lang = args["lang"] or post_lang(target, slot.channel)
        if lang not in languages():
            msg = f"no promos in {lang!r}; there are: {', '.join(languages())}"
            raise problem(422, msg, {"lang": msg})
        at = args["at"] or now()
        try:
            limit = expected_limit(target, slot.programme)  # a caption beside the picture, if it has one
            rendered = render_slot(slot, target, lang, at, args["template"], limit)
        except PromoNotTrue as e:
            raise problem(422, str(e), {"at": str(e)}) from e
        except TooLong as e:
            raise problem(422, str(e), {"target": str(e)}, length=e.length, limit=e.limit) from e
        except BadTemplate as e:
            raise problem(422, str(e), {"template": str(e)}) from e
        return {**asdict(rendered), "lang": lang, "target": target.name, "at": at.isoformat()}

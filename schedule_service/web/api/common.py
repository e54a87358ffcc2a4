"""What the API resources share: pagination, lookups, domain errors → problems, field types."""

from datetime import datetime, time
from typing import Any

import flask_smorest
from flask import request, url_for
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import Select
from webargs.flaskparser import FlaskParser

from schedule_service import text_rules
from schedule_service.broadcast_time import SUPPORTED, supported
from schedule_service.db import db
from schedule_service.schedule import Conflict, Invalid, ScheduleError, StaleVersion
from schedule_service.web.api.slot_out import SlotOut
from schedule_service.web.errors import Problem, problem


class TextCheckingParser(FlaskParser):
    """webargs' parser, refusing text the service cannot store before any schema loads it."""

    def pre_load(self, location_data, *, schema, req, location):
        found = text_rules.bad_text(dict(location_data) if location != "json" else location_data)
        if found:
            raise ValidationError(found)
        return location_data


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint whose arguments (bodies and queries) pass the text rules:
    a character XML cannot carry, an unpaired surrogate or an overlong string is a 422 naming
    the field, for every field of every resource. Every API module makes its blueprint from this."""

    ARGUMENTS_PARSER = TextCheckingParser()


def supported_time(value) -> None:
    """Refuse an instant, wall time or date outside the years the service keeps (a 422, not an overflow)."""
    if not supported(value):
        raise ValidationError(f"Not {SUPPORTED}.")


DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: The largest id a row can have (PostgreSQL's integer); larger ones would be a driver error, not a 4xx.
ID_RANGE = validate.Range(min=0, max=text_rules.MAX_INT)


class PageArgs(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    after = fields.Integer(
        load_default=None, validate=ID_RANGE, metadata={"description": "id of the last item already seen"}
    )


def page_schema(item: type[Schema] | Schema, name: str) -> type[Schema]:
    """A ``{"items": [...], "next": URL | null}`` schema around ``item``."""
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(item)), "next": fields.String(allow_none=True)}, name=name
    )


def paginate(query: Select, id_column, args: dict[str, Any], endpoint: str, **url_args) -> dict[str, Any]:
    """One page of ``query`` by ascending id after ``args['after']``, with a link to the next page."""
    limit = args.get("limit") or DEFAULT_LIMIT
    if args.get("after") is not None:
        query = query.where(id_column > args["after"])
    rows = db.session.scalars(query.order_by(id_column).limit(limit + 1)).unique().all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_url = None
    if more:
        extra = {k: v for k, v in request.args.items() if k not in ("after", "limit")}
        extra.update(url_args)
        next_url = url_for(endpoint, limit=limit, after=rows[-1].id, _external=True, **extra)
    return {"items": rows, "next": next_url}


def get_or_404(model, ident, what: str):
    obj = db.session.get(model, ident)
    if obj is None:
        raise problem(404, f"there is no {what} {ident}")
    return obj


def as_problem(error: ScheduleError) -> Problem:
    """Map a refused schedule write to its HTTP problem."""
    if isinstance(error, Invalid):
        return problem(422, _("The request has fields that are not valid."), error.errors)
    if isinstance(error, StaleVersion):
        return problem(412, str(error), current=SlotOut().dump(error.slot))
    if isinstance(error, Conflict):
        extra = {"conflicts": SlotOut(many=True).dump(error.slots)} if error.slots else {}
        return problem(409, str(error), **extra)
    return problem(400, str(error))


def write(operation, *args, **kwargs):
    """Run a schedule operation and commit; a refused write rolls back and becomes a problem."""
    try:
        result = operation(db.session, *args, **kwargs)
        db.session.commit()
    except ScheduleError as e:
        db.session.rollback()
        raise as_problem(e) from e
    return result


class DayTime(fields.Field):
    """A local time of day as "HH:MM"."""

    def _serialize(self, value: time | None, attr, obj, **kwargs):
        return None if value is None else value.strftime("%H:%M")

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return datetime.strptime(value, "%H:%M").time()
        except (TypeError, ValueError) as e:
            raise ValidationError("Not a time of day as HH:MM.") from e

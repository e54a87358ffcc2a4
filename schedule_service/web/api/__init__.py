"""The JSON API under /api/v1, one module per resource, documented by flask-smorest."""

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import request

from schedule_service.web.api import (
    audit,
    changes,
    channels,
    fast_entry,
    imports,
    kill_switch,
    post_actions,
    posts,
    programmes,
    promos,
    schedule,
    slots,
    targets,
    tokens,
)
from schedule_service.web.api.problems import ProblemApi
from schedule_service.web.errors import problem

BLUEPRINTS = [channels.blp, programmes.blp, slots.blp, schedule.blp, audit.blp, tokens.blp, promos.blp, posts.blp]
BLUEPRINTS += [targets.blp, post_actions.blp]
BLUEPRINTS += [imports.blp, imports.jobs_blp, fast_entry.blp]
BLUEPRINTS += [kill_switch.blp, changes.blp]


#: Endpoints whose bodies are not JSON: a picture comes as itself or as multipart.
NOT_JSON = {"programmes.ProgrammePicture"}


def _json_bodies_only() -> None:
    """A body that is not JSON is refused for its type, not read as a body without fields."""
    if request.endpoint in NOT_JSON:
        return
    if request.method in ("POST", "PUT", "PATCH") and request.content_length and not request.is_json:
        sent = request.mimetype or "no Content-Type"
        raise problem(415, f"Send the body as JSON (Content-Type: application/json), not {sent}.")


for _blueprint in BLUEPRINTS:
    if _blueprint is not imports.blp:  # guides come as XML (see imports.py)
        _blueprint.before_request(_json_bodies_only)


def schema_name(schema) -> str:
    """Component names for the OpenAPI document: partial (PATCH) schemas get their own."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial:
        name += "Patch"
    return name


api = ProblemApi(spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)})

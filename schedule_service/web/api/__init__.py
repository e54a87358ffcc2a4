"""The JSON API under /api/v1, one module per resource, documented by flask-smorest."""

from apispec.ext.marshmallow import MarshmallowPlugin

from schedule_service.web.api import (
    audit,
    channels,
    imports,
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

BLUEPRINTS = [channels.blp, programmes.blp, slots.blp, schedule.blp, audit.blp, tokens.blp, promos.blp, posts.blp]
BLUEPRINTS += [targets.blp, post_actions.blp]
BLUEPRINTS += [imports.blp]


def schema_name(schema) -> str:
    """Component names for the OpenAPI document: partial (PATCH) schemas get their own."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial:
        name += "Patch"
    return name


api = ProblemApi(spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)})

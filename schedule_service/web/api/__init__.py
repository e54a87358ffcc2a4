"""The JSON API under /api/v1, one module per resource, documented by flask-smorest."""

from apispec.ext.marshmallow import MarshmallowPlugin
from flask_smorest import Api

from schedule_service.web.api import channels, programmes, schedule, slots

BLUEPRINTS = [channels.blp, programmes.blp, slots.blp, schedule.blp]


def schema_name(schema) -> str:
    """Component names for the OpenAPI document: partial (PATCH) schemas get their own."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial:
        name += "Patch"
    return name


api = Api(spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)})

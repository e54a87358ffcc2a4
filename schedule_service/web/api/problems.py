"""The API's error responses in the OpenAPI document: RFC 9457 problem details, as sent."""

import http

from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields

from schedule_service.web.errors import PROBLEM


class ProblemSchema(Schema):
    """What web/errors.py sends for every error: RFC 9457 problem details."""

    type = fields.String(metadata={"description": "a URI for the kind of problem; about:blank for plain HTTP ones"})
    title = fields.String(metadata={"description": "the status code's phrase"})
    status = fields.Integer()
    detail = fields.String(metadata={"description": "what went wrong, in words"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "for validation: {field: message}"},
    )
    conflicts = fields.List(fields.Dict(), metadata={"description": "409 on slots: the slots in the way"})
    current = fields.Dict(metadata={"description": "412 on slots: the slot as it is now"})


class ProblemApi(Api):
    """flask-smorest's Api, documenting errors as ``application/problem+json`` problems."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        # As flask-smorest's own, but with the content type the error handler really sends.
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any other error, as problem details", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

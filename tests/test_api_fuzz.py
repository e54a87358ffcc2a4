"""Schemathesis against /api/v1/openapi.json, in process through the WSGI app: whatever a client
sends, the API never answers 500 and every answer is what its OpenAPI document says it is."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import utc
from tests.staff_actions import cheap_password_hashing  # noqa: F401

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

#: Examples per operation: enough to hit the edges of each schema, few enough to keep the
#: whole fuzz run (about 40 operations, two database engines) well under two minutes.
EXAMPLES = 8


def _schema():
    """The document as the app serves it (no database is needed to render it)."""
    from schedule_service import create_app

    app = create_app({"SCHEDULE_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


schema = _schema()


@pytest.fixture
def fuzz_app(app, make_slot):
    """The app on the engine under test, with something to find: a channel, a programme, a slot."""
    make_slot(utc(2031, 11, 21, 21, 5))
    return app


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis folder in the tree; each run explores afresh
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case, fuzz_app, admin):
    case.call_and_validate(app=fuzz_app, headers=admin, checks=CHECKS)

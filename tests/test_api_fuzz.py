"""Schemathesis against /api/v1/openapi.json, in process through the WSGI app: whatever a client
sends, the API never answers 500 and every answer is what its OpenAPI document says it is.

A second run salts every request with the extremes that once gave 500s (issue 17): instants at
the ends of the calendar, integers no column holds, control characters, unpaired surrogates and
deep nesting, in place of what the document would send. Parallel duplicates need real threads:
they are in test_parallel_duplicates.py.
"""

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
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
#: Salted examples per operation: each replaces one field, so every field of a write gets its turn.
EXTREME_EXAMPLES = 20


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


# The extremes


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


INSTANTS = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:00:00",
    "0001-01-01T00:30:00",
    "1899-12-31T23:59:59Z",
    "2200-01-01T00:00:00Z",
    "0001-01-01",
    "9999-12-31",
]
INTEGERS = [99999999999999, 2**31, -(2**63), 10**100, -1]
TEXTS = ["Ctrl\u0001TV", "bell\x07", "\ufffe\uffff", "lone \ud800 surrogate", "\udfff", "x" * 20_000]
#: Past any document's depth, within what the test's own JSON encoder can write (the parser's own
#: limit, about 1,000 levels, is in test_input_rules.py, sent as raw text).
DEEP = _nested(200)
ANYTHING = [*INSTANTS, *INTEGERS, *TEXTS, 1e308, DEEP]
#: A URL cannot carry an unpaired surrogate at all (it has no UTF-8 form), nor a nested list.
IN_A_QUERY = [str(v) for v in [*INSTANTS, *INTEGERS, *TEXTS] if not re.search("[\ud800-\udfff]", str(v))]
#: What the fuzz app holds (fuzz_app): references to it let a salted write reach the domain's checks.
KNOWN = {"channel": "mir", "programme_id": 1, "slot_id": 1}


def _extremes_for(value) -> list:
    if isinstance(value, bool) or value is None:
        return ANYTHING
    if isinstance(value, int):
        return INTEGERS
    if isinstance(value, str):
        return INSTANTS if re.match(r"\d{4}-\d\d-\d\d", value) else [*TEXTS, *INSTANTS]
    return ANYTHING


def _leaves(value, path=()):
    """The paths to every leaf of a JSON document (an empty list or object counts as one)."""
    if isinstance(value, dict) and value:
        return [leaf for key, sub in value.items() for leaf in _leaves(sub, (*path, key))]
    if isinstance(value, list) and value:
        return [leaf for i, sub in enumerate(value) for leaf in _leaves(sub, (*path, i))]
    return [path]


@st.composite
def _salted(draw, document, properties: dict):
    """``document`` with references to what exists and one field, of the document or of its
    schema's top level, set to an extreme of its kind."""
    document = json.loads(json.dumps(document))  # a copy to change
    if isinstance(document, dict):
        document.update({key: KNOWN[key] for key in set(KNOWN) & set(document)})
    fields = [key for key in properties if key not in KNOWN]
    if isinstance(document, dict) and fields and draw(st.integers(0, 3)):  # mostly a field the schema names
        key = draw(st.sampled_from(fields))
        node, extremes = document, _extremes_for_schema(properties[key])
    else:
        leaves = [p for p in _leaves(document) if not (len(p) == 1 and p[0] in KNOWN)]
        path = draw(st.sampled_from(leaves)) if leaves else ()
        if not path:
            return draw(st.sampled_from([DEEP, *TEXTS]))
        node = document
        for key in path[:-1]:
            node = node[key]
        key, extremes = path[-1], _extremes_for(node[path[-1]])
    node[key] = draw(st.sampled_from(extremes))
    if isinstance(node, dict) and draw(st.integers(0, 3)):
        # Often the least a client would send: the extreme beside the references, so nothing
        # else refuses the write before the extreme reaches the code it might break.
        for other in set(node) - {key, *KNOWN}:
            del node[other]
    return document


def _extremes_for_schema(schema: dict) -> list:
    kinds = schema.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if schema.get("format") in ("date-time", "date"):
        return INSTANTS
    if "integer" in kinds:
        return INTEGERS
    if "string" in kinds:
        return [*TEXTS, *INSTANTS]
    return ANYTHING


def _body_properties(context) -> dict:
    for body in context.operation.body:
        schema = body.definition.get("schema", {})
        if "properties" in schema:
            return schema["properties"]
        if "properties" in schema.get("items", {}):
            return schema["items"]["properties"]
    return {}


extremes = _schema()
extremes.config.phases.update(phases=["fuzzing"])  # every case salted: the document's own edges are above


#: Texts a body of raw bytes (a picture) can carry: it has no way to send an unpaired surrogate.
IN_BYTES = [text for text in TEXTS if not re.search("[\ud800-\udfff]", text)]


@extremes.hook
def flatmap_body(context, body):
    if not isinstance(body, dict | list):
        if all(b.media_type == "application/json" for b in context.operation.body):
            return st.sampled_from([body, DEEP, *TEXTS])
        return st.sampled_from([body, *IN_BYTES])
    salted = _salted(body, _body_properties(context))
    if all(b.media_type == "application/json" for b in context.operation.body):
        return salted
    # A form or a file has no way to carry an unpaired surrogate (no UTF-8 form): only JSON can.
    return salted.map(lambda doc: json.loads(re.sub(r"\\ud[89a-f][0-9a-f]{2}", "?", json.dumps(doc))))


@extremes.hook
def flatmap_query(context, query):
    if not query:
        return st.just(query)
    return st.fixed_dictionaries({key: st.sampled_from([str(value), *IN_A_QUERY]) for key, value in query.items()})


@extremes.parametrize()
@settings(max_examples=EXTREME_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_extremes_get_a_4xx_never_a_500(case, fuzz_app, admin):
    case.call_and_validate(app=fuzz_app, headers={**admin, "If-Match": "*"}, checks=[not_a_server_error])

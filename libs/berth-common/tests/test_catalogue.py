"""The event catalogue is generated from the schemas: every type is in it, its example and
its JSON Schema agree with the pydantic schema, and docs/events.md is up to date."""
from __future__ import annotations

import logging
from pathlib import Path

import jsonschema
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from berth_common import catalogue, events as ev
from berth_common.service import TraceIdFilter

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("event_type", sorted(ev.EVENT_TYPES))
def test_example_validates_against_both_schemas(event_type):
    example = catalogue.example_envelope(event_type)
    schema = catalogue.json_schema(event_type)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(example, schema, cls=jsonschema.Draft202012Validator)
    assert isinstance(ev.Envelope.model_validate(example).payload(), ev.EVENT_TYPES[event_type])


def test_schemas_refuse_what_the_models_refuse():
    schema = catalogue.json_schema(ev.ReleaseDeployed.type)
    bad = catalogue.example_envelope(ev.ReleaseDeployed.type)
    del bad["data"]["release_id"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    other_type = {**catalogue.example_envelope(ev.ReleaseDeployed.type), "type": ev.ReleaseFailed.type}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(other_type, schema)
    # unknown fields are tolerated, as consumers must tolerate them
    extra = catalogue.example_envelope(ev.ReleaseDeployed.type)
    extra["data"]["added_later"] = 1
    jsonschema.validate(extra, schema)


def test_every_type_is_described():
    entries = catalogue.catalogue()
    assert [e["type"] for e in entries] == sorted(ev.EVENT_TYPES)
    for e in entries:
        assert e["description"] and e["producer"] in ev.PRODUCERS and e["fields"][0]["name"] == "app"


def test_docs_events_md_is_generated_from_the_schemas():
    assert (ROOT / "docs" / "events.md").read_text() == catalogue.markdown(), \
        "regenerate: python -m berth_common.catalogue > docs/events.md"


def test_log_lines_in_a_span_carry_the_trace_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    TraceIdFilter().filter(record)
    assert record.trace_suffix == ""
    span = TracerProvider().get_tracer("t").start_span("s")
    with trace.use_span(span):
        TraceIdFilter().filter(record)
    assert record.trace_suffix == f" trace_id={format(span.get_span_context().trace_id, '032x')}"

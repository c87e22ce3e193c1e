import json

import pytest

from berth_common import events as ev


def test_every_event_type_is_versioned_and_owned_by_one_stream():
    seen = {}
    for t, cls in ev.EVENT_TYPES.items():
        assert t.startswith("berth.") and t.rsplit(".", 1)[1].startswith("v")
        assert cls.producer in ev.PRODUCERS
        seen.setdefault(t, []).append(ev.stream_name(cls.producer))
    assert all(len(v) == 1 for v in seen.values())
    subjects = [s for p in ev.PRODUCERS for s in ev.stream_subjects(p)]
    assert len(subjects) == len(set(subjects)) == len(ev.EVENT_TYPES)


def test_envelope_is_cloudevents_and_round_trips():
    data = ev.BuildCompleted(app="a", build_id="b1", image="img", stack="python", process_types={"web": "x"})
    env = ev.envelope(data, traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    body = json.loads(env.model_dump_json())
    assert body["specversion"] == "1.0" and body["source"] == "berth/builder"
    assert body["type"] == "berth.build.completed.v1" and body["subject"] == "a"
    assert {"id", "time", "data", "traceparent"} <= set(body)
    parsed = ev.Envelope.model_validate_json(env.model_dump_json())
    assert parsed.payload() == data


def test_consumers_tolerate_unknown_fields():
    env = ev.envelope(ev.AppCreated(app="a"))
    raw = json.loads(env.model_dump_json())
    raw["newfield"] = 1
    raw["data"]["added_later"] = {"x": 1}
    payload = ev.Envelope.model_validate(raw).payload()
    assert payload.app == "a"


def test_schema_violations_and_unknown_types_are_invalid():
    env = ev.envelope(ev.AppCreated(app="a"))
    bad = env.model_copy(update={"data": {"nope": 1}})
    with pytest.raises(ev.InvalidEvent):
        bad.payload()
    with pytest.raises(ev.InvalidEvent):
        env.model_copy(update={"type": "berth.unknown.v1"}).payload()

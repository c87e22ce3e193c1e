import json
from datetime import datetime, timezone

import pytest

from berth_common import events as ev
from berth_logger.domain.lines import (
    MAX_LINE_CHARS, ContainerMeta, InvalidLine, LineShaper, from_stream, ns_to_datetime,
    since_param, split_docker_line,
)

NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)
META = ContainerMeta(container="c1", app="shop", process="web", instance="shop.web.1")


def test_docker_timestamp_is_split_from_the_text():
    ns, text = split_docker_line("2024-05-01T12:00:00.123456789Z hello world")
    assert text == "hello world"
    assert ns == int(datetime(2024, 5, 1, 12, tzinfo=timezone.utc).timestamp()) * 10**9 + 123456789
    assert ns_to_datetime(ns) == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def test_short_fractions_zones_and_empty_lines():
    ns, text = split_docker_line("2024-05-01T12:00:00.5Z ")
    assert ns % 10**9 == 500_000_000 and text == ""
    ns2, _ = split_docker_line("2024-05-01T14:00:00+02:00 x")
    assert ns2 == ns - 500_000_000
    ns3, text3 = split_docker_line("2024-05-01T12:00:00Z  indented")
    assert text3 == " indented"


def test_a_line_without_timestamp_is_invalid():
    with pytest.raises(InvalidLine):
        split_docker_line("hello")


def test_since_param_keeps_nanoseconds():
    assert since_param(1_714_564_800_000_000_042) == "1714564800.000000042"


def test_shaper_splits_frames_into_lines_per_stream():
    s = LineShaper(META)
    out = s.feed("stdout", b"2024-05-01T12:00:00.000000001Z one\n2024-05-01T12:00:00.0000")
    assert [l.line for l in out] == ["one"]
    out += s.feed("stderr", b"2024-05-01T12:00:00.000000002Z oops\n")
    out += s.feed("stdout", b"00003Z two\r\n")
    out += s.feed("stdout", b"2024-05-01T12:00:00.000000004Z no newline")
    out += s.flush()
    assert [(l.stream, l.line) for l in out] == [
        ("stdout", "one"), ("stderr", "oops"), ("stdout", "two"), ("stdout", "no newline")]
    assert all((l.source, l.app, l.process, l.instance, l.container) == ("app", "shop", "web", "shop.web.1", "c1")
               for l in out)
    assert [l.docker_ns % 10 for l in out] == [1, 2, 3, 4]


def test_lines_with_the_same_nanosecond_get_increasing_offsets_and_rereads_repeat_them():
    chunk = (b"2024-05-01T12:00:00.000000001Z a\n2024-05-01T12:00:00.000000001Z b\n"
             b"2024-05-01T12:00:00.000000002Z c\n")
    first = LineShaper(META).feed("stdout", chunk)
    assert [(l.docker_ns % 10, l.docker_offset) for l in first] == [(1, 0), (1, 1), (2, 0)]
    # A re-read from the same point produces the same keys, so storage drops them.
    again = LineShaper(META).feed("stdout", chunk)
    assert [(l.docker_ns, l.docker_offset) for l in again] == [(l.docker_ns, l.docker_offset) for l in first]


def test_shaper_cleans_text():
    [l] = LineShaper(META).feed("stdout", b"2024-05-01T12:00:00Z a\x00b \xff\n")
    assert l.line == "a\ufffdb \ufffd"
    [long] = LineShaper(META).feed("stdout", b"2024-05-01T12:00:00Z " + b"x" * (MAX_LINE_CHARS + 10) + b"\n")
    assert long.line.startswith("x" * MAX_LINE_CHARS) and long.line.endswith("[truncated]")


def test_container_labels_must_name_a_valid_app():
    meta = ContainerMeta.from_labels("c2", {"berth.app": "shop", "berth.process": "worker",
                                            "berth.instance": "shop.worker.2", "berth.release": "3"})
    assert (meta.app, meta.process, meta.instance, meta.release) == ("shop", "worker", "shop.worker.2", "3")
    with pytest.raises(InvalidLine):
        ContainerMeta.from_labels("c3", {"berth.app": "Not An App"})


def test_stream_lines_keep_their_fields_and_sequence():
    payload = ev.LogLine(app="shop", source="build", line="Step 1/3", time="2024-05-01T12:00:00+00:00").model_dump_json()
    line = from_stream(payload.encode(), 42, NOW)
    assert (line.app, line.source, line.line, line.stream_seq) == ("shop", "build", "Step 1/3", 42)
    assert line.time == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    # A missing or broken time is the time of ingestion.
    raw = json.dumps({"app": "shop", "source": "router", "line": "GET /", "time": "yesterday"}).encode()
    assert from_stream(raw, 43, NOW).time == NOW


@pytest.mark.parametrize("payload", [
    b"not json", b'{"source": "build", "line": "x"}', b'{"app": "../etc", "source": "build", "line": "x"}',
    b'{"app": "shop", "source": "elsewhere", "line": "x"}',
])
def test_bad_stream_lines_are_refused(payload):
    with pytest.raises(InvalidLine):
        from_stream(payload, 1, NOW)

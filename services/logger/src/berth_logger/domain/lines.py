"""Shaping log lines: what is stored for a line from the logs stream or from a container,
and what tailing clients and queries get back. No I/O here."""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from berth_common import events as ev
from berth_common.names import InvalidAppName, validate_app_name

# Longer lines are cut: a runaway line must not take a row of megabytes.
MAX_LINE_CHARS = 32 * 1024
TRUNCATED = " …[truncated]"


class InvalidLine(ValueError):
    pass


@dataclass(frozen=True)
class NewLine:
    """A line to store. Exactly one idempotency key is set: `stream_seq` (the JetStream
    stream sequence of a stream-ingested line) or (`container`, `docker_ns`, `docker_offset`)
    for a container line, so storing the same line twice keeps one row."""

    app: str
    time: datetime
    source: str
    line: str
    process: str | None = None
    instance: str | None = None
    stream: str | None = None  # stdout / stderr for container lines
    stream_seq: int | None = None
    container: str | None = None
    docker_ns: int | None = None
    docker_offset: int | None = None


def clean_text(text: str) -> str:
    # Postgres text cannot hold NUL; a trailing CR comes from CRLF output.
    text = text.replace("\x00", "\ufffd").rstrip("\r")
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + TRUNCATED
    return text


def parse_time(value: str | None, default: datetime) -> datetime:
    """ISO-8601 time of a LogLine; a missing, unparsable or naive time falls back."""
    if not value:
        return default
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return default
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def from_stream(payload: bytes, stream_seq: int, now: datetime) -> NewLine:
    """A line published on `berth.logs.<app>.<source>` (a plain LogLine JSON)."""
    try:
        msg = ev.LogLine.model_validate_json(payload)
    except ValueError as e:
        raise InvalidLine(f"not a log line: {e}") from e
    try:
        validate_app_name(msg.app)
    except InvalidAppName as e:
        raise InvalidLine(str(e)) from e
    if msg.source not in ev.LOG_SOURCES:
        raise InvalidLine(f"unknown log source {msg.source!r}")
    return NewLine(
        app=msg.app, time=parse_time(msg.time, now), source=msg.source, line=clean_text(msg.line),
        process=msg.process, instance=msg.instance, stream_seq=stream_seq,
    )


# --- container output ----------------------------------------------------------------------

# Docker prefixes each line with RFC3339Nano (`2024-05-01T12:00:00.123456789Z `) when asked
# for timestamps; the fraction and the zone vary with the daemon's formatting.
_DOCKER_TS = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def split_docker_line(raw: str) -> tuple[int, str]:
    """`<timestamp> <text>` -> (unix nanoseconds, text)."""
    m = _DOCKER_TS.match(raw)
    if not m:
        raise InvalidLine(f"no docker timestamp in {raw[:60]!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, zone = m.group(7) or "", m.group(8)
    if zone == "Z":
        tz = timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    whole = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    seconds = int((whole - _EPOCH).total_seconds())
    ns = seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)
    return ns, raw[m.end():]


def ns_to_datetime(ns: int) -> datetime:
    """Postgres keeps microseconds; the full nanoseconds stay in the idempotency key."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def since_param(ns: int) -> str:
    """Docker's `since` accepts `<seconds>.<nanoseconds>`."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


@dataclass(frozen=True)
class ContainerMeta:
    container: str
    app: str
    process: str | None
    instance: str | None
    release: str | None = None

    @classmethod
    def from_labels(cls, container_id: str, labels: dict[str, str]) -> "ContainerMeta":
        try:
            app = validate_app_name(labels.get("berth.app"))
        except InvalidAppName as e:
            raise InvalidLine(f"container {container_id[:12]}: {e}") from e
        return cls(container=container_id, app=app, process=labels.get("berth.process"),
                   instance=labels.get("berth.instance"), release=labels.get("berth.release"))


class LineShaper:
    """Turns the bytes of one container's log stream into NewLines.

    Frames may split or join lines, so bytes are buffered per stream (stdout/stderr) until a
    newline. Each line's key is (container, docker nanoseconds, offset), the offset counting
    earlier lines with the same nanosecond; re-reading from any timestamp therefore yields
    the same keys for the lines at or after it, which is what makes a re-read harmless."""

    _REMEMBERED = 1024

    def __init__(self, meta: ContainerMeta):
        self.meta = meta
        self._buffers: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self._seen: OrderedDict[int, int] = OrderedDict()

    def feed(self, stream: str, data: bytes) -> list[NewLine]:
        buf = self._buffers[stream] + data
        *complete, rest = buf.split(b"\n")
        self._buffers[stream] = rest
        return [line for raw in complete if (line := self._shape(stream, raw)) is not None]

    def flush(self) -> list[NewLine]:
        out = []
        for stream, rest in self._buffers.items():
            if rest:
                line = self._shape(stream, rest)
                if line is not None:
                    out.append(line)
            self._buffers[stream] = b""
        return out

    def _shape(self, stream: str, raw: bytes) -> NewLine | None:
        try:
            ns, text = split_docker_line(raw.decode("utf-8", errors="replace"))
        except InvalidLine:
            return None  # not a log line (should not happen with timestamps on)
        offset = self._seen.get(ns, -1) + 1
        self._seen[ns] = offset
        self._seen.move_to_end(ns)
        while len(self._seen) > self._REMEMBERED:
            self._seen.popitem(last=False)
        m = self.meta
        return NewLine(
            app=m.app, time=ns_to_datetime(ns), source="app", line=clean_text(text),
            process=m.process, instance=m.instance, stream=stream,
            container=m.container, docker_ns=ns, docker_offset=offset,
        )


# --- what clients see ------------------------------------------------------------------------

def line_json(row: Any) -> dict[str, Any]:
    """A stored line as queries and tails return it: the LogLine fields plus `id`
    (and `stream` for container lines)."""
    out = {
        "id": row["id"], "time": row["time"].isoformat(), "app": row["app"], "source": row["source"],
        "process": row["process"], "instance": row["instance"], "line": row["line"],
    }
    if row["stream"]:
        out["stream"] = row["stream"]
    return out


def tail_subject(app: str) -> str:
    return f"berth.logtail.{app}"

"""The `berth.logger.query` request: validation in one place."""
from __future__ import annotations

import json
from dataclasses import dataclass

from berth_common import events as ev
from berth_common.names import InvalidAppName, InvalidDyno, validate_app_name, validate_dyno

DEFAULT_LINES = 100
MAX_LINES = 10_000


class BadQuery(ValueError):
    pass


@dataclass(frozen=True)
class LogQuery:
    """Without `after_id`: the `lines` most recent lines. With it: the `lines` oldest lines
    whose id is greater, so a client can page forward without gaps. Either way oldest first."""

    app: str
    lines: int = DEFAULT_LINES
    source: str | None = None
    after_id: int | None = None
    dyno: str | None = None  # berth_common.names.dyno_matches


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadQuery(f"{name} must be an integer")
    return value


def parse_query(raw: bytes) -> LogQuery:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadQuery("request must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadQuery("request must be a JSON object")
    try:
        app = validate_app_name(body.get("app"))
    except InvalidAppName as e:
        raise BadQuery(str(e)) from None
    lines = body.get("lines")
    lines = DEFAULT_LINES if lines is None else _int(lines, "lines")
    if lines < 1:
        raise BadQuery("lines must be at least 1")
    lines = min(lines, MAX_LINES)
    source = body.get("source")
    if source is not None and source not in ev.LOG_SOURCES:
        raise BadQuery(f"source must be one of {', '.join(ev.LOG_SOURCES)}")
    after_id = body.get("after_id")
    if after_id is not None:
        after_id = _int(after_id, "after_id")
        if after_id < 0:
            raise BadQuery("after_id must not be negative")
    dyno = body.get("dyno")
    if dyno is not None:
        try:
            dyno = validate_dyno(dyno)
        except InvalidDyno as e:
            raise BadQuery(str(e)) from None
    return LogQuery(app=app, lines=lines, source=source, after_id=after_id, dyno=dyno)

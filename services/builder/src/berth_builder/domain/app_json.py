"""app.json (the Heroku/Dokku convention) at the top of the source. Pure: it sees the
file's text and returns what the platform uses of it, or raises AppJsonError naming the
field that is wrong.

Used today: `healthchecks`, in Dokku's format, per process type:

    {"healthchecks": {"web": [{"type": "startup", "name": "ready", "path": "/health",
                               "content": "ok", "attempts": 3, "timeout": 5, "wait": 2,
                               "initialDelay": 0}]}}

Each check is normalized to all of these keys (defaults: type `startup`, path `/`,
content None (any 2xx/3xx answer passes), attempts 3, timeout 5 s, wait 1 s between
attempts, initialDelay 0 s, name `<type> <path>`). Dokku fields Berth does not run
(`command`, `httpHeaders`, `port`, ...) are dropped with a note in the build output.
And `formation`, the initial scale per process type (Heroku's and Dokku's format; `size`
has no meaning here and is noted as ignored):

    {"formation": {"web": {"quantity": 2}, "worker": {"quantity": 1}}}

The api applies it to process types that have no scale yet (a first deploy, a new type);
a scale set with `ps:scale` always wins. Everything else in app.json (`name`, `env`,
`scripts`, ...) is ignored for now.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .builds import BuildError

CHECK_TYPES = ("startup", "liveness", "readiness")
DEFAULTS = {"type": "startup", "path": "/", "content": None, "attempts": 3, "timeout": 5,
            "wait": 1, "initialDelay": 0}
_KNOWN = {"type", "name", "path", "content", "attempts", "timeout", "wait", "initialDelay"}
_PROCESS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # as in the Procfile


class AppJsonError(BuildError):
    """app.json cannot be used; the message names the field ("app.json: healthchecks.web[0].path ...")."""


MAX_QUANTITY = 100  # as `ps:scale` allows


@dataclass(frozen=True)
class AppJson:
    healthchecks: dict[str, list[dict]] = field(default_factory=dict)
    formation: dict[str, int] = field(default_factory=dict)  # process type -> initial quantity
    notes: list[str] = field(default_factory=list)  # things ignored, for the build output


def parse_app_json(text: str) -> AppJson:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise AppJsonError(f"app.json: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(doc, dict):
        raise AppJsonError(f"app.json: must be a JSON object, got {_kind(doc)}")
    notes: list[str] = []
    healthchecks = _healthchecks(doc.get("healthchecks"), notes)
    formation = _formation(doc.get("formation"), notes)
    return AppJson(healthchecks, formation, notes)


def _formation(value, notes: list[str]) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AppJsonError(f"app.json: formation must be an object of process type -> {{\"quantity\": N}}, "
                           f"got {_kind(value)}")
    result: dict[str, int] = {}
    for process, entry in value.items():
        where = _process_key("formation", process)
        if not isinstance(entry, dict):
            raise AppJsonError(f"app.json: {where} must be an object like {{\"quantity\": 1}}, got {_kind(entry)}")
        if "quantity" in entry:
            quantity = entry["quantity"]
            if not _is_int(quantity) or not 0 <= quantity <= MAX_QUANTITY:
                raise AppJsonError(f"app.json: {where}.quantity must be an integer from 0 to {MAX_QUANTITY}, "
                                   f"got {quantity!r}")
            result[process] = quantity
        ignored = sorted(set(entry) - {"quantity"})
        if ignored:
            notes.append(f"app.json: {where}: ignoring field(s) Berth does not support: {', '.join(ignored)} "
                         "(set memory and CPUs with `berth ps:resize`)")
    return result


def _process_key(section: str, process: str) -> str:
    """Where a process type's entry is (`healthchecks.web`), once its name is checked."""
    where = f"{section}.{process}"
    if not _PROCESS_NAME.match(process):
        raise AppJsonError(f"app.json: {where}: invalid process type name {process!r} "
                           "(use letters, digits, '_' and '-')")
    return where


def _healthchecks(value, notes: list[str]) -> dict[str, list[dict]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AppJsonError(f"app.json: healthchecks must be an object of process type -> list of checks, "
                           f"got {_kind(value)}")
    result: dict[str, list[dict]] = {}
    for process, checks in value.items():
        where = _process_key("healthchecks", process)
        if not isinstance(checks, list):
            raise AppJsonError(f"app.json: {where} must be a list of checks, got {_kind(checks)}")
        result[process] = [_check(f"{where}[{i}]", check, notes) for i, check in enumerate(checks)]
    return result


def _check(where: str, check, notes: list[str]) -> dict:
    if not isinstance(check, dict):
        raise AppJsonError(f"app.json: {where} must be an object, got {_kind(check)}")
    out = dict(DEFAULTS)
    kind = check.get("type", DEFAULTS["type"])
    if kind not in CHECK_TYPES:
        raise AppJsonError(f"app.json: {where}.type must be one of {', '.join(CHECK_TYPES)}, got {kind!r}")
    out["type"] = kind
    path = check.get("path", DEFAULTS["path"])
    if not isinstance(path, str) or not path.startswith("/"):
        raise AppJsonError(f"app.json: {where}.path must be a string starting with '/', got {path!r}")
    out["path"] = path
    content = check.get("content")
    if content is not None and not isinstance(content, str):
        raise AppJsonError(f"app.json: {where}.content must be a string, got {_kind(content)}")
    out["content"] = content
    attempts = check.get("attempts", DEFAULTS["attempts"])
    if not _is_int(attempts) or attempts < 1:
        raise AppJsonError(f"app.json: {where}.attempts must be an integer >= 1, got {attempts!r}")
    out["attempts"] = attempts
    timeout = check.get("timeout", DEFAULTS["timeout"])
    if not _is_number(timeout) or timeout <= 0:
        raise AppJsonError(f"app.json: {where}.timeout must be a number of seconds > 0, got {timeout!r}")
    out["timeout"] = timeout
    for key in ("wait", "initialDelay"):
        value = check.get(key, DEFAULTS[key])
        if not _is_number(value) or value < 0:
            raise AppJsonError(f"app.json: {where}.{key} must be a number of seconds >= 0, got {value!r}")
        out[key] = value
    name = check.get("name", f"{kind} {path}")
    if not isinstance(name, str):
        raise AppJsonError(f"app.json: {where}.name must be a string, got {_kind(name)}")
    out["name"] = name
    ignored = sorted(set(check) - _KNOWN)
    if ignored:
        notes.append(f"app.json: {where}: ignoring field(s) Berth does not support: {', '.join(ignored)}")
    return out


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)

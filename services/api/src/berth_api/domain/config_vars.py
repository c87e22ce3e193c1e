"""Rules for config vars and their changes (no I/O)."""
from __future__ import annotations

import re

from .errors import ApiError

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED = {"PORT", "DYNO"}  # set by the platform for every instance
MAX_VALUE = 32 * 1024


def validate_changes(body: dict) -> dict[str, str | None]:
    """A PATCH body: {KEY: "value"} sets, {KEY: null} unsets."""
    if not body:
        raise ApiError("no config vars given: send {\"KEY\": \"value\"} to set, {\"KEY\": null} to unset",
                       id="invalid_config_var", status=422)
    out: dict[str, str | None] = {}
    for key, value in body.items():
        if not KEY.fullmatch(key) or len(key) > 200:
            raise ApiError(f"config var name {key!r} is invalid: use letters, digits and _, not starting with a digit",
                           id="invalid_config_var", status=422)
        if key in RESERVED:
            raise ApiError(f"config var {key} is set by Berth and cannot be changed", id="invalid_config_var", status=422)
        if value is not None and not isinstance(value, str):
            raise ApiError(f"config var {key} must be a string (or null to unset), not {type(value).__name__}",
                           id="invalid_config_var", status=422)
        if value is not None and len(value) > MAX_VALUE:
            raise ApiError(f"config var {key} is longer than {MAX_VALUE} characters", id="invalid_config_var", status=422)
        out[key] = value
    return out


def describe_change(before: dict[str, str], changes: dict[str, str | None]) -> str | None:
    """Heroku-style release description, or None when nothing changes."""
    set_keys = sorted(k for k, v in changes.items() if v is not None and before.get(k) != v)
    unset_keys = sorted(k for k, v in changes.items() if v is None and k in before)
    parts = []
    if set_keys:
        parts.append("Set " + ", ".join(set_keys))
    if unset_keys:
        parts.append(("unset " if parts else "Unset ") + ", ".join(unset_keys))
    return "; ".join(parts) or None

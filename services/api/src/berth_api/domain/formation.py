"""Rules for the formation: how many instances of each process type, and their size."""
from __future__ import annotations

import re

from .errors import ApiError

MAX_QUANTITY = 100
MEMORY = re.compile(r"(\d+)([mg])")
NOT_SCALABLE = {"release"}  # the release phase runs once per release, not as a process


def memory_mb(value: str) -> int:
    m = MEMORY.fullmatch(value)
    if not m:
        raise ValueError(value)
    return int(m.group(1)) * (1024 if m.group(2) == "g" else 1)


def parse_updates(body: dict, process_types: set[str]) -> list[dict]:
    """Heroku's body {"updates": [{"type": "web", "quantity": 3, "memory": "256m", "cpus": 0.5}]}."""
    updates = body.get("updates")
    if not isinstance(updates, list) or not updates:
        raise ApiError('send {"updates": [{"type": "web", "quantity": 2}]}', id="invalid_formation", status=422)
    out = []
    for u in updates:
        if not isinstance(u, dict):
            raise ApiError("each update must be an object", id="invalid_formation", status=422)
        unknown = set(u) - {"type", "quantity", "memory", "cpus", "size"}
        if unknown:
            raise ApiError(f"unknown field(s) in update: {', '.join(sorted(unknown))}", id="invalid_formation", status=422)
        ptype = u.get("type")
        if ptype in NOT_SCALABLE:
            raise ApiError(f"{ptype!r} is the release phase: it runs once per release and cannot be scaled",
                           id="invalid_formation", status=422)
        if ptype not in process_types:
            known = ", ".join(sorted(process_types - NOT_SCALABLE)) or "none yet"
            raise ApiError(f"no process type {ptype!r} in the current release (it has: {known})",
                           id="invalid_formation", status=422)
        item = {"type": ptype}
        if "quantity" in u:
            q = u["quantity"]
            if not isinstance(q, int) or isinstance(q, bool) or not 0 <= q <= MAX_QUANTITY:
                raise ApiError(f"quantity of {ptype} must be a whole number from 0 to {MAX_QUANTITY}",
                               id="invalid_formation", status=422)
            item["quantity"] = q
        if u.get("memory") is not None:
            try:
                mb = memory_mb(str(u["memory"]))
            except ValueError:
                raise ApiError(f"memory of {ptype} must look like 256m or 1g", id="invalid_formation", status=422)
            if not 16 <= mb <= 65536:
                raise ApiError(f"memory of {ptype} must be from 16m to 64g", id="invalid_formation", status=422)
            item["memory"] = str(u["memory"])
        if u.get("cpus") is not None:
            c = u["cpus"]
            if not isinstance(c, (int, float)) or isinstance(c, bool) or not 0.01 <= c <= 64:
                raise ApiError(f"cpus of {ptype} must be a number from 0.01 to 64", id="invalid_formation", status=422)
            item["cpus"] = float(c)
        if len(item) == 1:
            raise ApiError(f"update for {ptype} changes nothing: give quantity, memory or cpus",
                           id="invalid_formation", status=422)
        out.append(item)
    return out

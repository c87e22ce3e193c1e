"""Procfile parsing: `name: command` per line, as Heroku defines it.

Comments (`#`) and blank lines are ignored. A bad line is an error naming its line number,
because a Procfile that half-parses would silently drop a process type.
"""
from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class ProcfileError(ValueError):
    pass


def parse_procfile(text: str) -> dict[str, str]:
    """Return {process type: command}; raise ProcfileError("Procfile line N: ...")."""
    types: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            raise ProcfileError(f"Procfile line {number}: expected `name: command`, got {raw.strip()!r}")
        name, command = (part.strip() for part in line.split(":", 1))
        if not _NAME.match(name):
            raise ProcfileError(
                f"Procfile line {number}: invalid process type name {name!r} "
                "(use letters, digits, '_' and '-')"
            )
        if name in types:
            raise ProcfileError(f"Procfile line {number}: process type {name!r} is declared twice")
        if not command:
            raise ProcfileError(f"Procfile line {number}: process type {name!r} has an empty command")
        types[name] = command
    return types

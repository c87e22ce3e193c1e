"""Every SQL statement of the scheduler, named."""
from __future__ import annotations

import asyncpg

from ..domain.model import Desired, ReleaseSpec

# A newer release replaces the target; an older or repeated one changes nothing.
SET_TARGET = """
INSERT INTO apps (name, target, traceparent) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET target = EXCLUDED.target, traceparent = EXCLUDED.traceparent, updated_at = now()
WHERE apps.target IS NULL OR (apps.target->>'version')::int < (EXCLUDED.target->>'version')::int
"""
MARK_DELETED = """
INSERT INTO apps (name, deleted) VALUES ($1, true)
ON CONFLICT (name) DO UPDATE SET deleted = true, updated_at = now()
"""
SELECT_APP = "SELECT * FROM apps WHERE name = $1"
LOCK_APP = "SELECT * FROM apps WHERE name = $1 FOR UPDATE"
SELECT_APP_NAMES = "SELECT name FROM apps"
SET_DEPLOYED = "UPDATE apps SET deployed = $2, updated_at = now() WHERE name = $1"
SET_FAILED = "UPDATE apps SET failed_version = $2, updated_at = now() WHERE name = $1"
SET_ANNOUNCED = "UPDATE apps SET announced = $2, updated_at = now() WHERE name = $1"
DELETE_APP = "DELETE FROM apps WHERE name = $1 AND deleted"


def to_desired(row: asyncpg.Record) -> Desired:
    return Desired(
        app=row["name"], target=ReleaseSpec.from_json(row["target"]),
        deployed=ReleaseSpec.from_json(row["deployed"]), failed_version=row["failed_version"],
        formation=row["formation"] or {}, announced=row["announced"], deleted=row["deleted"],
        traceparent=row["traceparent"],
    )

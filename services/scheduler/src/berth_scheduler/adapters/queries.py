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
SET_FORMATION = """
INSERT INTO apps (name, formation) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET formation = EXCLUDED.formation, updated_at = now()
"""
ADD_RESTART = """
INSERT INTO apps (name, restart_pending) VALUES ($1, jsonb_build_array($2::text))
ON CONFLICT (name) DO UPDATE SET restart_pending = apps.restart_pending || jsonb_build_array($2::text), updated_at = now()
"""
CLEAR_RESTARTS = "UPDATE apps SET restart_pending = '[]' WHERE name = $1"
MARK_DELETED = """
INSERT INTO apps (name, deleted) VALUES ($1, true)
ON CONFLICT (name) DO UPDATE SET deleted = true, updated_at = now()
"""
SELECT_APP = "SELECT * FROM apps WHERE name = $1"
LOCK_APP = "SELECT * FROM apps WHERE name = $1 FOR UPDATE"
SELECT_APP_NAMES = "SELECT name FROM apps"
SET_DEPLOYED = "UPDATE apps SET deployed = $2, updated_at = now() WHERE name = $1"
SET_FAILED = "UPDATE apps SET failed_version = $2, updated_at = now() WHERE name = $1"
SET_RELEASE_PHASE_DONE = "UPDATE apps SET release_phase_version = $2 WHERE name = $1"
SET_ANNOUNCED = "UPDATE apps SET announced = $2, updated_at = now() WHERE name = $1"
DELETE_APP = "DELETE FROM apps WHERE name = $1 AND deleted"

CRASHES_OF_APP = "SELECT * FROM crashes WHERE app = $1"
CRASH_COUNT = "SELECT restarts FROM crashes WHERE app = $1 AND process = $2 AND index = $3"
# $5: the crash count now, $6: the backoff before the next start (domain.model.backoff_seconds)
RECORD_CRASH = """
INSERT INTO crashes (app, process, index, restarts, last_exit_code, last_crash_at, next_start_at)
VALUES ($1, $2, $3, $5, $4, now(), now() + make_interval(secs => $6::float8))
ON CONFLICT (app, process, index) DO UPDATE SET
    restarts = EXCLUDED.restarts, last_exit_code = EXCLUDED.last_exit_code, last_crash_at = now(),
    next_start_at = EXCLUDED.next_start_at
RETURNING *
"""
CLEAR_CRASH = "DELETE FROM crashes WHERE app = $1 AND process = $2 AND index = $3"
CLEAR_CRASHES = "DELETE FROM crashes WHERE app = $1"


def to_desired(row: asyncpg.Record) -> Desired:
    return Desired(
        app=row["name"], target=ReleaseSpec.from_json(row["target"]),
        deployed=ReleaseSpec.from_json(row["deployed"]), failed_version=row["failed_version"],
        formation=row["formation"] or {}, announced=row["announced"], deleted=row["deleted"],
        traceparent=row["traceparent"], release_phase_version=row["release_phase_version"],
        restart_pending=list(row["restart_pending"] or []),
    )

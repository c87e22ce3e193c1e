"""The builds table: every statement is a named constant, the functions only run them."""
from __future__ import annotations

import asyncpg

RECORD_QUEUED = """
INSERT INTO builds (id, app, status, source_object, source_version, traceparent)
VALUES ($1, $2, 'queued', $3, $4, $5)
ON CONFLICT (id) DO NOTHING
"""

# A builder that was killed left its builds `building`; at start-up they go back to the
# queue (one builder process owns the queue, so nothing else can be running them).
REQUEUE_INTERRUPTED = """
UPDATE builds SET status = 'queued' WHERE status = 'building' RETURNING id
"""

NEXT_QUEUED = """
SELECT id, traceparent FROM builds WHERE status = 'queued' ORDER BY created_at, id LIMIT 1
"""

# Compare-and-set: only one worker wins a queued build. `restarted` tells a re-run of an
# interrupted build (it had started before) from a first start.
MARK_BUILDING = """
WITH old AS (
    SELECT id, started_at FROM builds WHERE id = $1 AND status = 'queued' FOR UPDATE
)
UPDATE builds b SET status = 'building', started_at = now()
FROM old WHERE b.id = old.id
RETURNING b.id, b.app, b.source_object, b.traceparent, old.started_at IS NOT NULL AS restarted
"""

MARK_SUCCEEDED = """
UPDATE builds SET status = 'succeeded', stack = $2, image = $3, process_types = $4,
                  healthchecks = $5, finished_at = now()
WHERE id = $1 AND status = 'building'
"""

MARK_FAILED = """
UPDATE builds SET status = 'failed', stack = $2, reason = $3, finished_at = now()
WHERE id = $1 AND status = 'building'
"""

GET = "SELECT * FROM builds WHERE id = $1"


async def record_queued(conn: asyncpg.Connection, build_id: str, app: str, source_object: str,
                        source_version: str | None, traceparent: str | None) -> None:
    await conn.execute(RECORD_QUEUED, build_id, app, source_object, source_version, traceparent)


async def requeue_interrupted(pool: asyncpg.Pool) -> list[str]:
    return [r["id"] for r in await pool.fetch(REQUEUE_INTERRUPTED)]


async def next_queued(pool: asyncpg.Pool) -> asyncpg.Record | None:
    return await pool.fetchrow(NEXT_QUEUED)


async def mark_building(conn: asyncpg.Connection, build_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(MARK_BUILDING, build_id)


async def mark_succeeded(conn: asyncpg.Connection, build_id: str, stack: str, image: str,
                         process_types: dict[str, str | None], healthchecks: dict[str, list[dict]]) -> bool:
    return await conn.execute(MARK_SUCCEEDED, build_id, stack, image, process_types, healthchecks) == "UPDATE 1"


async def mark_failed(conn: asyncpg.Connection, build_id: str, stack: str | None, reason: str) -> bool:
    return await conn.execute(MARK_FAILED, build_id, stack, reason) == "UPDATE 1"


async def get(pool_or_conn, build_id: str) -> asyncpg.Record | None:
    return await pool_or_conn.fetchrow(GET, build_id)

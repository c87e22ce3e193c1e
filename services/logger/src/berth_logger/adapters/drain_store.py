"""The drains table: every SQL statement about drains, named, with the functions that run them."""
from __future__ import annotations

import uuid

import asyncpg

from ..domain.drains import DRAINED_SOURCES, MAX_DRAINS_PER_APP, new_token

DRAIN_COLUMNS = "id, app, url, token, sent_up_to, created_at, last_sent_at, last_error, last_error_at"
SELECT_DRAINS_OF_APP = f"SELECT {DRAIN_COLUMNS} FROM drains WHERE app = $1 ORDER BY created_at"
SELECT_ALL_DRAINS = f"SELECT {DRAIN_COLUMNS} FROM drains"
SELECT_DRAIN = f"SELECT {DRAIN_COLUMNS} FROM drains WHERE id = $1"
COUNT_DRAINS_OF_APP = "SELECT count(*) FROM drains WHERE app = $1"
# A new drain gets the lines stored from now on, as on Heroku.
INSERT_DRAIN = f"""
INSERT INTO drains (id, app, url, token, sent_up_to)
VALUES ($1, $2, $3, $4, (SELECT coalesce(max(id), 0) FROM log_lines WHERE app = $2))
ON CONFLICT (app, url) DO NOTHING RETURNING {DRAIN_COLUMNS}"""
DELETE_DRAIN = f"DELETE FROM drains WHERE app = $1 AND (id::text = $2 OR token = $2 OR url = $2) RETURNING {DRAIN_COLUMNS}"
DELETE_APP_DRAINS = "DELETE FROM drains WHERE app = $1"
LINES_TO_SEND = """
SELECT id, time, source, process, instance, stream, line FROM log_lines
WHERE app = $1 AND id > $2 AND source = ANY($3::text[])
ORDER BY id LIMIT $4"""
MARK_SENT = "UPDATE drains SET sent_up_to = $2, last_sent_at = now(), last_error = NULL WHERE id = $1 AND sent_up_to < $2"
MARK_FAILED = "UPDATE drains SET last_error = $2, last_error_at = now() WHERE id = $1"


class TooManyDrains(Exception):
    pass


async def drains_of(pool: asyncpg.Pool, app: str) -> list[asyncpg.Record]:
    return await pool.fetch(SELECT_DRAINS_OF_APP, app)


async def all_drains(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(SELECT_ALL_DRAINS)


async def drain(pool: asyncpg.Pool, drain_id) -> asyncpg.Record | None:
    return await pool.fetchrow(SELECT_DRAIN, drain_id)


async def add(pool: asyncpg.Pool, app: str, url: str) -> asyncpg.Record | None:
    """The new drain, or None when the app already drains to this URL."""
    async with pool.acquire() as conn, conn.transaction():
        # Serialise adds per app so the limit holds (a transaction-scoped advisory lock).
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('berth-drains:' || $1))", app)
        if await conn.fetchval(COUNT_DRAINS_OF_APP, app) >= MAX_DRAINS_PER_APP:
            raise TooManyDrains(f"{app} has {MAX_DRAINS_PER_APP} drains already, the most it may have")
        return await conn.fetchrow(INSERT_DRAIN, uuid.uuid4(), app, url, new_token())


async def remove(pool: asyncpg.Pool, app: str, key: str) -> asyncpg.Record | None:
    """Remove the app's drain given by id, token or URL."""
    return await pool.fetchrow(DELETE_DRAIN, app, key)


async def delete_app_drains(conn: asyncpg.Connection, app: str) -> None:
    await conn.execute(DELETE_APP_DRAINS, app)


async def lines_to_send(pool: asyncpg.Pool, app: str, after_id: int, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(LINES_TO_SEND, app, after_id, list(DRAINED_SOURCES), limit)


async def mark_sent(pool: asyncpg.Pool, drain_id, up_to: int) -> None:
    await pool.execute(MARK_SENT, drain_id, up_to)


async def mark_failed(pool: asyncpg.Pool, drain_id, error: str) -> None:
    await pool.execute(MARK_FAILED, drain_id, error[:500])

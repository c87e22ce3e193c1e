"""The router's tables: apps (one route each) and their endpoints. Every statement is a
named constant; callers pass the connection of their transaction."""
from __future__ import annotations

from datetime import datetime

import asyncpg

from ..domain.routes import Route, build_routes

SELECT_APPS = "SELECT name, maintenance FROM apps ORDER BY name"
SET_MAINTENANCE = "UPDATE apps SET maintenance = $2 WHERE name = $1"

SELECT_ENDPOINTS = "SELECT app, instance, host, port FROM endpoints ORDER BY app, instance"

INSERT_APP = "INSERT INTO apps (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"

DELETE_APP = "DELETE FROM apps WHERE name = $1"

DELETE_ENDPOINTS = "DELETE FROM endpoints WHERE app = $1"

SELECT_APP_INSTANCES = "SELECT instance FROM endpoints WHERE app = $1"

SELECT_DOMAINS = "SELECT app, hostname FROM domains ORDER BY hostname"

# The newest event decides which app a host name belongs to.
UPSERT_DOMAIN = "INSERT INTO domains (hostname, app) VALUES ($1, $2) ON CONFLICT (hostname) DO UPDATE SET app = $2"

DELETE_DOMAIN = "DELETE FROM domains WHERE hostname = $1 AND app = $2"

DELETE_APP_DOMAINS = "DELETE FROM domains WHERE app = $1"

INSERT_ENDPOINT = "INSERT INTO endpoints (app, instance, host, port) VALUES ($1, $2, $3, $4)"

# Records the time of the newest endpoint set (or deletion) seen for an app; returns a row
# only when `$2` is not older than what is recorded, i.e. when the change should apply.
CLAIM_ENDPOINT_SET = """
INSERT INTO endpoint_sets (app, changed_at) VALUES ($1, $2)
ON CONFLICT (app) DO UPDATE SET changed_at = EXCLUDED.changed_at
    WHERE endpoint_sets.changed_at <= EXCLUDED.changed_at
RETURNING true
"""


async def load_routes(conn: asyncpg.Connection | asyncpg.Pool, base_domain: str) -> list[Route]:
    rows = await conn.fetch(SELECT_APPS)
    endpoints = [(r["app"], r["instance"], r["host"], r["port"]) for r in await conn.fetch(SELECT_ENDPOINTS)]
    domains = [(r["app"], r["hostname"]) for r in await conn.fetch(SELECT_DOMAINS)]
    return build_routes([r["name"] for r in rows], endpoints, base_domain, domains,
                        {r["name"] for r in rows if r["maintenance"]})


async def set_maintenance(conn: asyncpg.Connection, app: str, on: bool) -> None:
    await conn.execute(SET_MAINTENANCE, app, on)


async def add_domain(conn: asyncpg.Connection, app: str, hostname: str) -> None:
    await conn.execute(UPSERT_DOMAIN, hostname, app)


async def remove_domain(conn: asyncpg.Connection, app: str, hostname: str) -> None:
    await conn.execute(DELETE_DOMAIN, hostname, app)


async def add_app(conn: asyncpg.Connection, app: str) -> None:
    await conn.execute(INSERT_APP, app)


async def delete_app(conn: asyncpg.Connection, app: str, at: datetime) -> None:
    await conn.execute(DELETE_APP, app)
    await conn.execute(DELETE_ENDPOINTS, app)
    await conn.execute(DELETE_APP_DOMAINS, app)
    # a tombstone: endpoint sets from before the deletion are stale if they arrive late
    await conn.fetchval(CLAIM_ENDPOINT_SET, app, at)


async def replace_endpoints(conn: asyncpg.Connection, app: str, at: datetime,
                            endpoints: list[tuple[str, str, int]]) -> bool:
    """Replace the app's endpoint set; False (and nothing changed) if a newer one is recorded."""
    if not await conn.fetchval(CLAIM_ENDPOINT_SET, app, at):
        return False
    await conn.execute(DELETE_ENDPOINTS, app)
    if endpoints:
        await conn.executemany(INSERT_ENDPOINT, [(app, i, h, p) for i, h, p in endpoints])
    return True

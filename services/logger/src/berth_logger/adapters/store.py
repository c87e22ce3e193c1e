"""Postgres: the log_lines table. Every statement is a named constant."""
from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from ..domain.lines import NewLine
from ..domain.query import LogQuery
from ..domain.retention import Retention

INSERT_LINES = """
INSERT INTO log_lines (app, time, source, process, instance, stream, line,
                       stream_seq, container, docker_ns, docker_offset)
SELECT app, time, source, process, instance, stream, line, stream_seq, container, docker_ns, docker_offset
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::bigint[], $9::text[], $10::bigint[], $11::int[])
     WITH ORDINALITY AS l(app, time, source, process, instance, stream, line,
                          stream_seq, container, docker_ns, docker_offset, n)
ORDER BY n
ON CONFLICT DO NOTHING
RETURNING id, app, time, source, process, instance, stream, line
"""

# The `lines` most recent, returned oldest first.
# $4: a dyno filter, as berth_common.names.dyno_matches decides it.
_FILTERS = """app = $1 AND ($2::text IS NULL OR source = $2)
    AND ($4::text IS NULL OR process = $4 OR instance = $4 OR starts_with(instance, $4 || '.'))"""

RECENT_LINES = f"""
SELECT * FROM (
    SELECT id, app, time, source, process, instance, stream, line FROM log_lines
    WHERE {_FILTERS}
    ORDER BY id DESC LIMIT $3
) recent ORDER BY id
"""

LINES_AFTER = f"""
SELECT id, app, time, source, process, instance, stream, line FROM log_lines
WHERE {_FILTERS} AND id > $5
ORDER BY id LIMIT $3
"""

# Where to resume following a container after a restart of the logger.
LAST_CONTAINER_NS = "SELECT max(docker_ns) FROM log_lines WHERE container = $1"

DELETE_APP_LINES = "DELETE FROM log_lines WHERE app = $1"

DELETE_EXPIRED = "DELETE FROM log_lines WHERE time < $1"

# Per app, the id of the newest line beyond the `max` most recent; it and everything older go.
DELETE_EXCESS = """
DELETE FROM log_lines l
USING (
    SELECT a.app, (SELECT x.id FROM log_lines x WHERE x.app = a.app
                   ORDER BY x.id DESC OFFSET $1 LIMIT 1) AS cutoff
    FROM (SELECT DISTINCT app FROM log_lines) a
) c
WHERE l.app = c.app AND c.cutoff IS NOT NULL AND l.id <= c.cutoff
"""


class LineStore:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool
        # One insert at a time: ids then commit in the order they are assigned, so a reader
        # paging with `after_id` never skips a line that committed late.
        self._lock = asyncio.Lock()

    async def insert(self, lines: list[NewLine]) -> list[asyncpg.Record]:
        """Store lines, ignoring ones already stored; returns the new rows in id order."""
        if not lines:
            return []
        cols = [[getattr(l, f) for l in lines] for f in (
            "app", "time", "source", "process", "instance", "stream", "line",
            "stream_seq", "container", "docker_ns", "docker_offset")]
        async with self._lock:
            rows = await self._pool.fetch(INSERT_LINES, *cols)
        return sorted(rows, key=lambda r: r["id"])

    async def query(self, q: LogQuery) -> list[asyncpg.Record]:
        if q.after_id is None:
            return await self._pool.fetch(RECENT_LINES, q.app, q.source, q.lines, q.dyno)
        return await self._pool.fetch(LINES_AFTER, q.app, q.source, q.lines, q.dyno, q.after_id)

    async def last_container_ns(self, container: str) -> int | None:
        return await self._pool.fetchval(LAST_CONTAINER_NS, container)

    async def apply_retention(self, retention: Retention, now: datetime) -> tuple[int, int]:
        """Delete expired and excess lines; returns (expired, excess) counts."""
        expired = await self._pool.execute(DELETE_EXPIRED, retention.oldest_kept(now))
        excess = await self._pool.execute(DELETE_EXCESS, retention.max_lines_per_app)
        return _count(expired), _count(excess)


async def delete_app_lines(conn: asyncpg.Connection, app: str) -> int:
    return _count(await conn.execute(DELETE_APP_LINES, app))


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])

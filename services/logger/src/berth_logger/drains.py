"""Forwarding to log drains: one task per drain reads the app's lines after the drain's
position (`sent_up_to`), sends them in batches, and moves the position on only once a
batch has arrived, so a drain gets every line at least once, across restarts of the
logger. A drain that fails is tried again with backoff (1 s doubling to a minute), its
error kept for `berth drains`; a slow or dead drain delays no other."""
from __future__ import annotations

import asyncio
import logging

import asyncpg

from berth_common.tasks import cancel_all

from .adapters import drain_store
from .adapters.drain_senders import DrainError, DrainSenders
from .domain.drains import frames, parse_drain_url

log = logging.getLogger("berth.logger.drains")

POLL_S = 0.5
SYNC_S = 2.0
MAX_BACKOFF_S = 60.0


class Forwarder:
    def __init__(self, pool: asyncpg.Pool, senders: DrainSenders, batch: int = 500):
        self.pool, self.senders, self.batch = pool, senders, batch
        self.tasks: dict = {}
        self.changed = asyncio.Event()

    async def run(self) -> None:
        """Keep one task per drain in the table (drains come and go through requests)."""
        try:
            while True:
                drains = {d["id"]: d for d in await drain_store.all_drains(self.pool)}
                for drain_id, d in drains.items():
                    if drain_id not in self.tasks or self.tasks[drain_id].done():
                        self.tasks[drain_id] = asyncio.create_task(self._forward(drain_id), name=f"drain {d['token']}")
                for drain_id in [i for i in self.tasks if i not in drains]:
                    await cancel_all([self.tasks.pop(drain_id)])
                self.changed.clear()
                try:
                    await asyncio.wait_for(self.changed.wait(), SYNC_S)
                except asyncio.TimeoutError:
                    pass
        finally:
            await cancel_all(list(self.tasks.values()))
            await self.senders.close()

    async def _forward(self, drain_id) -> None:
        """This task is the drain's only sender, so its position is kept here after one read;
        a drain that is removed is cancelled by `run`."""
        d = await drain_store.drain(self.pool, drain_id)
        if d is None:
            return
        url, token, position = parse_drain_url(d["url"]), d["token"], d["sent_up_to"]
        backoff = 0.0
        while True:
            rows = await drain_store.lines_to_send(self.pool, d["app"], position, self.batch)
            if not rows:
                await asyncio.sleep(POLL_S)
                continue
            try:
                await self.senders.send(url, token, frames(token, rows), len(rows))
            except DrainError as e:
                backoff = min(MAX_BACKOFF_S, max(1.0, backoff * 2))
                log.warning("drain %s of %s: %s; trying again in %.0f s", token, d["app"], e, backoff)
                await drain_store.mark_failed(self.pool, drain_id, str(e))
                await asyncio.sleep(backoff)
                continue
            backoff = 0.0
            position = rows[-1]["id"]
            await drain_store.mark_sent(self.pool, drain_id, position)

"""Webhooks: record a delivery for every subscription an event matches, then send them.

Recording: one durable consumer per event type (`api-webhooks-<type>`); the delivery rows
are written in the transaction of the consumer's inbox row, so a redelivered event records
nothing twice and a crash between the two cannot lose one.

Sending is level-triggered from the `webhook_deliveries` table (like the reconcilers): a
dispatcher looks for subscriptions with something due, and each gets its own queue — one
task that sends that subscription's due deliveries one after another. A slow or dead
endpoint therefore only delays its own deliveries; the others go on in their own tasks.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime

import asyncpg
from aiohttp import web

from berth_common import bus, events as ev
from berth_common.secrets import unseal
from berth_common.service import POOL
from berth_common.tasks import cancel_all

from ..adapters import queries as q
from ..adapters import webhook_queries as wq
from berth_common.egress import AllowList, Guard, platform_addresses

from ..adapters.webhook_sender import Sender
from ..domain.webhooks import backoff_seconds, delivery_headers, external_envelope, group_of

log = logging.getLogger(__name__)

GUARD = web.AppKey("webhook_guard", Guard)


# --- recording ---------------------------------------------------------------------------

def delivery_body(env: ev.Envelope) -> str:
    return json.dumps(external_envelope(env.model_dump(mode="json")), separators=(",", ":"))


def record_deliveries(retry_hours: float):
    async def on_event(conn: asyncpg.Connection, env: ev.Envelope, data: ev.EventData) -> None:
        try:
            happened = datetime.fromisoformat(env.time)
        except ValueError:
            happened = datetime.now().astimezone()
        hooks = await conn.fetch(wq.MATCHING_WEBHOOKS, env.subject, group_of(env.type), happened)
        if not hooks:
            return
        body = delivery_body(env)
        for hook in hooks:
            await conn.execute(wq.INSERT_DELIVERY, q.new_id(), hook["id"], env.id, env.type, body,
                               retry_hours * 3600)
        await conn.execute(wq.NOTIFY_DELIVERIES)
    return on_event


def consumer_name(event_type: str) -> str:
    # durable names may not contain dots
    return "webhooks-" + event_type.replace(".", "-")


def subscriptions(retry_hours: float) -> list[bus.Subscription]:
    handler = record_deliveries(retry_hours)
    # New events only: a subscription gets what happens after it was made, and the first
    # start of this consumer must not replay the streams' whole retention.
    return [bus.Subscription(consumer_name(t), t, handler, deliver_new_only=True) for t in sorted(ev.EVENT_TYPES)]


# --- sending -----------------------------------------------------------------------------

class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, sender: Sender, *, timeout_s: float, base_s: float, cap_s: float,
                 concurrency: int, poll_s: float = 1.0):
        self.pool, self.sender = pool, sender
        self.base_s, self.cap_s = base_s, cap_s
        self.lease_s = timeout_s + 30  # longer than any one try
        self.poll_s = poll_s
        self.slots = asyncio.Semaphore(concurrency)
        self.queues: dict = {}  # webhook id -> its running task
        self.wake = asyncio.Event()

    async def run(self) -> None:
        listener = await self.pool.acquire()

        def on_notify(*_):
            self.wake.set()

        await listener.add_listener("berth_webhooks", on_notify)
        try:
            while True:
                try:
                    for row in await self.pool.fetch(wq.DUE_WEBHOOKS):
                        self._start_queue(row["webhook_id"])
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook dispatcher failed; retrying")
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass
        finally:
            await cancel_all(list(self.queues.values()))
            await listener.remove_listener("berth_webhooks", on_notify)
            await self.pool.release(listener)

    def _start_queue(self, webhook_id) -> None:
        if webhook_id in self.queues:
            return
        task = asyncio.create_task(self._drain(webhook_id), name=f"webhook-{webhook_id}")
        self.queues[webhook_id] = task
        task.add_done_callback(lambda _t: self.queues.pop(webhook_id, None))

    async def _drain(self, webhook_id) -> None:
        """Send a subscription's due deliveries, oldest first, until none is due."""
        while True:
            try:
                async with self.slots:  # bounds concurrent sends, taken per try for fairness
                    sent = await self.send_next(webhook_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook %s: sending failed", webhook_id)
                return
            if not sent:
                return

    async def send_next(self, webhook_id) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            delivery = await conn.fetchrow(wq.CLAIM_DELIVERY, webhook_id, self.lease_s)
            hook = await conn.fetchrow(wq.WEBHOOK_FOR_SENDING, webhook_id) if delivery else None
        if delivery is None or hook is None:
            return False
        secrets = [unseal(hook["secret_sealed"])]
        if hook["previous_sealed"] and hook["previous_valid"]:
            secrets.append(unseal(hook["previous_sealed"]))
        msg_id = f"msg_{delivery['id'].hex}"
        headers = delivery_headers(secrets, msg_id, int(time.time()), delivery["body"])
        result = await self.sender.post(hook["url"], headers, delivery["body"])
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(wq.INSERT_ATTEMPT, delivery["id"], result.status_code, result.duration_ms, result.error)
            if result.ok:
                await conn.execute(wq.MARK_DELIVERED, delivery["id"], result.status_code)
            else:
                delay = backoff_seconds(delivery["attempts"] + 1, self.base_s, self.cap_s)
                await conn.execute(wq.MARK_FAILED, delivery["id"], result.status_code, result.error, delay)
        if not result.ok:
            log.info("webhook delivery %s to %s failed (try %d): %s", delivery["id"], hook["url"],
                     delivery["attempts"] + 1, result.error)
        return True


def delivery_worker(settings):
    """The background task (service.background) that sends due deliveries."""
    async def run_webhook_deliveries(app: web.Application) -> None:
        sender = Sender(app[GUARD], settings.webhook_timeout_s)
        try:
            await DeliveryWorker(app[POOL], sender, timeout_s=settings.webhook_timeout_s,
                                 base_s=settings.webhook_retry_base_s, cap_s=settings.webhook_retry_max_s,
                                 concurrency=settings.webhook_concurrency).run()
        finally:
            await sender.close()
    return run_webhook_deliveries


def make_guard(settings) -> Guard:
    return Guard(AllowList.parse(settings.webhook_allow_hosts), platform_addresses())

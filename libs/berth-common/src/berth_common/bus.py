"""NATS JetStream plumbing: stream declaration (once, at deploy time), the transactional
outbox and its relay, and durable pull consumers whose inbox makes redelivery harmless."""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import asyncpg
import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from opentelemetry import trace

from . import events as ev
from .telemetry import context_from_traceparent, current_traceparent, tracer

log = logging.getLogger(__name__)


async def connect(url: str, name: str) -> nats.NATS:
    return await nats.connect(
        url, name=f"berth-{name}", max_reconnect_attempts=-1, reconnect_time_wait=1,
    )


async def serve(nc: nats.NATS, subject: str, cb, queue: str = ""):
    """Answer core NATS requests on `subject`. Returns once the server has the subscription
    (a flush), so a request sent from any other connection after this finds a responder."""
    sub = await nc.subscribe(subject, queue=queue, cb=cb)
    await nc.flush()
    return sub


# --- streams: declared here and nowhere else --------------------------------------------

LOG_MAX_AGE_S = 7 * 24 * 3600
LOG_MAX_BYTES = 512 * 1024 * 1024


async def declare_streams(js: JetStreamContext) -> None:
    """Create or update every stream and the source object store. Idempotent; run at deploy
    time (`berth up`, the compose stack's init step, tests), never by a consumer."""
    configs = [
        StreamConfig(
            name=ev.stream_name(p), subjects=ev.stream_subjects(p), storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS, max_age=30 * 24 * 3600, duplicate_window=120,
        )
        for p in ev.PRODUCERS
    ]
    configs.append(StreamConfig(
        name=ev.LOGS_STREAM, subjects=["berth.logs.>"], storage=StorageType.FILE,
        max_age=LOG_MAX_AGE_S, max_bytes=LOG_MAX_BYTES,
    ))
    for cfg in configs:
        try:
            await js.stream_info(cfg.name)
            await js.update_stream(cfg)
        except NotFoundError:
            await js.add_stream(cfg)
    try:
        await js.object_store(ev.SOURCES_BUCKET)
    except Exception:
        await js.create_object_store(ev.SOURCES_BUCKET)


# --- outbox ----------------------------------------------------------------------------

async def add_to_outbox(conn: asyncpg.Connection, data: ev.EventData) -> ev.Envelope:
    """Record an event in the caller's transaction; the relay publishes it after commit."""
    if not conn.is_in_transaction():
        raise RuntimeError("add_to_outbox must run inside the transaction of the state change")
    env = ev.envelope(data, traceparent=current_traceparent())
    await conn.execute(
        "INSERT INTO outbox (event_id, subject, body, traceparent) VALUES ($1, $2, $3, $4)",
        env.id, env.type, env.model_dump(mode="json"), env.traceparent,
    )
    await conn.execute("SELECT pg_notify('berth_outbox', '')")
    return env


# Rows are taken only once no transaction older than them is still open, so a row that
# commits late is never skipped by a relay that already moved past its sequence number.
_PENDING = """
SELECT seq, event_id, subject, body, traceparent FROM outbox
WHERE published_at IS NULL AND tx < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY seq LIMIT 100
"""


async def run_outbox_relay(pool: asyncpg.Pool, js: JetStreamContext, poll_s: float = 1.0) -> None:
    wake = asyncio.Event()
    listener = await pool.acquire()

    def on_notify(*_):
        wake.set()

    await listener.add_listener("berth_outbox", on_notify)
    try:
        while True:
            try:
                published = await _relay_once(pool, js)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                published = 0
                await asyncio.sleep(1)
            if published:
                continue
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), poll_s)
            except asyncio.TimeoutError:
                pass
    finally:
        await listener.remove_listener("berth_outbox", on_notify)
        await pool.release(listener)


async def _relay_once(pool: asyncpg.Pool, js: JetStreamContext) -> int:
    rows = await pool.fetch(_PENDING)
    for row in rows:
        headers = {"Nats-Msg-Id": str(row["event_id"])}
        if row["traceparent"]:
            headers["traceparent"] = row["traceparent"]
        ack = await js.publish(row["subject"], json.dumps(row["body"]).encode(), headers=headers)
        if ack.duplicate:
            log.info("event %s was already published (relay restarted after publish)", row["event_id"])
        await pool.execute("UPDATE outbox SET published_at = now() WHERE seq = $1", row["seq"])
    return len(rows)


# --- consumers -------------------------------------------------------------------------

Handler = Callable[[asyncpg.Connection, ev.Envelope, ev.EventData], Awaitable[None]]


@dataclass
class Subscription:
    """A durable pull consumer of one event type. The handler runs in a transaction together
    with the inbox row; `after_commit` (if any) runs once the effect is committed."""

    name: str
    event_type: str
    handler: Handler
    after_commit: Callable[[ev.EventData], None] | None = None
    max_deliver: int = 5
    ack_wait_s: float = 60
    deliver_new_only: bool = False
    batch: int = field(default=10)


async def run_subscription(service: str, pool: asyncpg.Pool, js: JetStreamContext, sub: Subscription) -> None:
    durable = f"{service}-{sub.name}"
    cfg = ConsumerConfig(
        durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_deliver=sub.max_deliver,
        ack_wait=sub.ack_wait_s, filter_subject=sub.event_type,
        deliver_policy=DeliverPolicy.NEW if sub.deliver_new_only else DeliverPolicy.ALL,
    )
    psub = await js.pull_subscribe(sub.event_type, durable=durable, stream=ev.stream_for_type(sub.event_type), config=cfg)
    try:
        await _consume(durable, pool, sub, psub)
    finally:
        # Unsubscribe so that draining the connection on shutdown does not wait on a fetch.
        try:
            await psub.unsubscribe()
        except Exception:  # noqa: BLE001 - connection may already be closed
            pass


async def _consume(durable: str, pool: asyncpg.Pool, sub: Subscription, psub) -> None:
    while True:
        try:
            msgs = await psub.fetch(sub.batch, timeout=2)
        except asyncio.TimeoutError:  # nothing to fetch (nats' TimeoutError is one too)
            continue
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: fetch failed; retrying", durable)
            await asyncio.sleep(1)
            continue
        for msg in msgs:
            await _handle(durable, pool, sub, msg)


async def _handle(durable: str, pool: asyncpg.Pool, sub: Subscription, msg) -> None:
    deliveries = msg.metadata.num_delivered if msg.metadata else 1
    traceparent = (msg.headers or {}).get("traceparent")
    span_ctx = context_from_traceparent(traceparent)
    with tracer().start_as_current_span(
        f"consume {sub.event_type}", context=span_ctx, kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.destination.name": msg.subject,
                    "messaging.consumer.group.name": durable},
    ) as span:
        try:
            env = ev.Envelope.model_validate_json(msg.data)
            data = env.payload()
        except (ValueError, ev.InvalidEvent) as e:
            # A message that can never be parsed is poison from the first delivery.
            await _dead_letter(pool, durable, msg, f"invalid event: {e}", deliveries)
            await msg.term()
            return
        span.set_attribute("berth.app", env.subject)
        try:
            async with pool.acquire() as conn, conn.transaction():
                first = await conn.fetchval(
                    "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING RETURNING true", durable, env.id,
                )
                if first:
                    await sub.handler(conn, env, data)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            span.record_exception(e)
            if deliveries >= sub.max_deliver:
                log.exception("%s: event %s failed %d times; kept as a dead letter", durable, env.id, deliveries)
                await _dead_letter(pool, durable, msg, repr(e), deliveries)
                await msg.term()
            else:
                log.warning("%s: event %s failed (delivery %d): %r", durable, env.id, deliveries, e)
                await msg.nak(delay=min(2 ** deliveries, 30))
            return
        await msg.ack()
        if first and sub.after_commit:
            sub.after_commit(data)


async def _dead_letter(pool: asyncpg.Pool, durable: str, msg, error: str, deliveries: int) -> None:
    await pool.execute(
        "INSERT INTO dead_letters (consumer, subject, body, error, deliveries) VALUES ($1, $2, $3, $4, $5)",
        durable, msg.subject, msg.data.decode(errors="replace"), error, deliveries,
    )


# --- log lines -------------------------------------------------------------------------

async def publish_log(js: JetStreamContext, line: ev.LogLine) -> None:
    """Log lines are not state changes: published straight to the logs stream, no outbox."""
    await js.publish(ev.log_subject(line.app, line.source), line.model_dump_json().encode())

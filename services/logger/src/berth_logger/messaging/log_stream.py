"""Lines from the BERTH_LOGS stream (build output, router access lines, platform messages):
a durable pull consumer, stored in batches. The stream sequence is each line's key, so a
redelivered message is stored once."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone
from typing import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from berth_common import events as ev

from ..domain.lines import InvalidLine, NewLine, from_stream

log = logging.getLogger(__name__)

DURABLE = "logger-lines"
SUBJECTS = "berth.logs.>"

Sink = Callable[[list[NewLine]], Awaitable[None]]


async def consume_log_stream(js: JetStreamContext, sink: Sink, batch: int = 200) -> None:
    cfg = ConsumerConfig(
        durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        filter_subject=SUBJECTS, ack_wait=60, max_ack_pending=max(1000, batch * 4),
    )
    psub = await js.pull_subscribe(SUBJECTS, durable=DURABLE, stream=ev.LOGS_STREAM, config=cfg)
    try:
        while True:
            try:
                msgs = await psub.fetch(batch, timeout=2)
            except asyncio.TimeoutError:  # nats' TimeoutError is one too: nothing new
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: fetch failed; retrying", DURABLE)
                await asyncio.sleep(1)
                continue
            await _store_batch(msgs, sink)
    finally:
        # A message that arrives for a cancelled fetch would otherwise sit in the inbox and
        # make the connection's drain wait for it until its timeout. The durable stays.
        with contextlib.suppress(Exception):
            await psub.unsubscribe()


async def _store_batch(msgs, sink: Sink) -> None:
    now = datetime.now(timezone.utc)
    lines, good, bad = [], [], []
    for msg in msgs:
        try:
            lines.append(from_stream(msg.data, msg.metadata.sequence.stream, now))
            good.append(msg)
        except InvalidLine as e:
            log.warning("dropping message %s on %s: %s", msg.metadata.sequence.stream, msg.subject, e)
            bad.append(msg)
    for msg in bad:
        await msg.term()  # it can never be stored; redelivering it would not help
    try:
        await sink(lines)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("storing %d stream lines failed; they will be redelivered", len(lines))
        for msg in good:
            await msg.nak(delay=2)
        return
    for msg in good:
        await msg.ack()

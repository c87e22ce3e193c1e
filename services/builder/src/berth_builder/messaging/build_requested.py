"""berth.build.requested.v1 → a queued build. The handler only records the build (the bus
runs it in one transaction with the inbox row, so a redelivery changes nothing); the
worker does the building, woken once the row is committed."""
from __future__ import annotations

from typing import Callable

import asyncpg

from berth_common import bus, events
from berth_common.telemetry import current_traceparent

from ..adapters import builds_repo


def subscription(wake: Callable[[], None]) -> bus.Subscription:
    async def handle(conn: asyncpg.Connection, env: events.Envelope, data: events.EventData) -> None:
        assert isinstance(data, events.BuildRequested)
        # The build runs later, in the worker, inside the trace of the request that asked
        # for it: the envelope's traceparent (else the consume span's) is kept with the row.
        await builds_repo.record_queued(
            conn, data.build_id, data.app, data.source_object, data.source_version,
            env.traceparent or current_traceparent(),
        )

    return bus.Subscription(
        name="build-requested", event_type=events.BuildRequested.type, handler=handle,
        after_commit=lambda _data: wake(),
    )

"""Stopping asyncio tasks for certain."""
from __future__ import annotations

import asyncio


async def cancel_all(tasks: list[asyncio.Task], recheck_s: float = 1.0) -> None:
    """Cancel tasks and wait until every one has ended. A task still running after
    `recheck_s` is cancelled again: on Python 3.11 `asyncio.wait_for` (inside nats-py's
    fetch, for one) drops a cancellation that lands as its inner future completes, and a
    consumer loop would then go on forever."""
    pending = set(tasks)
    for t in pending:
        t.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=recheck_s)
        for t in pending:
            t.cancel()
    for t in tasks:
        if not t.cancelled():
            t.exception()  # retrieved here; the task's guard has logged it

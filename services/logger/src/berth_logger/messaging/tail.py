"""Live tails: every stored line is published on core NATS `berth.logtail.<app>`."""
from __future__ import annotations

import json
import logging

from nats.aio.client import Client as NATS

from ..domain.lines import line_json, tail_subject

log = logging.getLogger(__name__)


async def publish_tail(nc: NATS, rows) -> None:
    """Best effort: a tail is live output, not a record; the row is already stored."""
    for row in rows:
        try:
            await nc.publish(tail_subject(row["app"]), json.dumps(line_json(row)).encode())
        except Exception:  # noqa: BLE001 - e.g. disconnected; tails resume with new lines
            log.warning("publishing a tail line for %s failed", row["app"], exc_info=True)
            return

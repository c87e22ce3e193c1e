"""`berth.logger.query` (core NATS request/reply): recent lines of one app."""
from __future__ import annotations

import json
import logging

from nats.aio.client import Client as NATS

from berth_common import bus

from ..adapters.store import LineStore
from ..domain.lines import line_json
from ..domain.query import BadQuery, parse_query

log = logging.getLogger(__name__)

SUBJECT = "berth.logger.query"
QUEUE = "logger"  # replicas of the logger share the requests


async def answer(store: LineStore, data: bytes) -> dict:
    try:
        q = parse_query(data)
    except BadQuery as e:
        return {"error": str(e)}
    rows = await store.query(q)
    return {"lines": [line_json(r) for r in rows]}


async def serve_queries(nc: NATS, store: LineStore):
    async def on_request(msg) -> None:
        try:
            reply = await answer(store, msg.data)
        except Exception as e:  # noqa: BLE001 - the requester gets an answer, not a timeout
            log.exception("log query failed")
            reply = {"error": f"query failed: {e.__class__.__name__}"}
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    return await bus.serve(nc, SUBJECT, on_request, queue=QUEUE)

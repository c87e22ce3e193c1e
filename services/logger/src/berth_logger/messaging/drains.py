"""`berth.logger.drains` (core NATS request/reply): the api's way to list, add and remove an
app's log drains, which the logger owns.

    {"op": "list", "app": A}                 -> {"drains": [...]}
    {"op": "add", "app": A, "url": U}        -> {"drain": {...}}     (or {"error", "status"})
    {"op": "remove", "app": A, "drain": K}   -> {"drain": {...}}     K: id, token or URL
"""
from __future__ import annotations

import json
import logging

import asyncpg
from nats.aio.client import Client as NATS

from berth_common import bus
from berth_common.names import InvalidAppName, validate_app_name

from ..adapters import drain_store
from ..adapters.drain_senders import DrainSenders
from ..domain.drains import InvalidDrain, parse_drain_url, public_url

log = logging.getLogger(__name__)

SUBJECT = "berth.logger.drains"


def drain_json(d: asyncpg.Record) -> dict:
    return {"id": str(d["id"]), "app": d["app"], "url": public_url(d["url"]), "token": d["token"],
            "created_at": d["created_at"].isoformat(),
            "last_sent_at": d["last_sent_at"].isoformat() if d["last_sent_at"] else None,
            "last_error": d["last_error"],
            "last_error_at": d["last_error_at"].isoformat() if d["last_error_at"] else None}


def _error(message: str, status: int = 422, id: str = "invalid_drain") -> dict:
    return {"error": message, "status": status, "id": id}


async def answer(pool: asyncpg.Pool, senders: DrainSenders, body: dict, on_change) -> dict:
    try:
        app = validate_app_name(body.get("app"))
    except InvalidAppName as e:
        return _error(str(e))
    op = body.get("op")
    if op == "list":
        return {"drains": [drain_json(d) for d in await drain_store.drains_of(pool, app)]}
    if op == "add":
        try:
            url = parse_drain_url(body.get("url"))
        except InvalidDrain as e:
            return _error(str(e))
        reason = await senders.refusal(url)
        if reason:
            return _error(f"drain URL refused: {reason}", id="drain_url_refused")
        try:
            d = await drain_store.add(pool, app, url.url)
        except drain_store.TooManyDrains as e:
            return _error(str(e), status=409, id="too_many_drains")
        if d is None:
            return _error(f"{app} already drains to {public_url(url.url)}", status=409, id="drain_exists")
        on_change()
        return {"drain": drain_json(d)}
    if op == "remove":
        key = body.get("drain")
        if not isinstance(key, str) or not key:
            return _error("give the drain to remove: its id, token or URL")
        d = await drain_store.remove(pool, app, key)
        if d is None:
            return _error(f"{app} has no drain {key!r}", status=404, id="drain_not_found")
        await senders.forget(d["token"])
        on_change()
        return {"drain": drain_json(d)}
    return _error('op must be "list", "add" or "remove"')


async def serve_drain_requests(nc: NATS, pool: asyncpg.Pool, senders: DrainSenders, on_change):
    async def on_request(msg) -> None:
        try:
            body = json.loads(msg.data)
            reply = await answer(pool, senders, body if isinstance(body, dict) else {}, on_change)
        except Exception as e:  # noqa: BLE001 - the requester gets an answer, not a timeout
            log.exception("drain request failed")
            reply = {"error": f"drain request failed: {e.__class__.__name__}", "status": 500, "id": "internal_error"}
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    return await bus.serve(nc, SUBJECT, on_request, queue="logger")

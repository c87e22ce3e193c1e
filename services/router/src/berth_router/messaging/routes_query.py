"""Request/reply for the scheduler (core NATS): which servers does HAProxy run for an app
right now, and in which state. The scheduler asks before it stops an old instance (it must
be gone from HAProxy) and after it starts a new one (it must be `ready`).

    request  berth.router.routes  {"app": "web"}
    reply    {"app": "web", "servers": [{"instance": "...", "address": "ip:port",
                                         "state": "ready" | "drain" | "maint"}]}
    error    {"app": "web" | null, "error": "..."}
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Awaitable, Callable

from nats.aio.client import Client as NATS

from berth_common import bus
from berth_common.names import InvalidAppName, validate_app_name

ROUTES_SUBJECT = "berth.router.routes"

log = logging.getLogger("berth.router.routes_query")


async def answer(payload: bytes, live_servers: Callable[[str], Awaitable[list[dict]]]) -> dict:
    try:
        request = json.loads(payload or b"{}")
        app = validate_app_name(request.get("app") if isinstance(request, dict) else None)
    except (ValueError, InvalidAppName) as e:
        return {"app": None, "error": f"bad request: {e}"}
    try:
        return {"app": app, "servers": await live_servers(app)}
    except Exception as e:  # noqa: BLE001 - the requester gets the reason
        log.warning("routes query for %s failed: %s", app, e)
        return {"app": app, "error": f"HAProxy unavailable: {e}"}


async def serve_routes_queries(nc: NATS, live_servers: Callable[[str], Awaitable[list[dict]]]) -> None:
    async def on_request(msg) -> None:
        reply = await answer(msg.data, live_servers)
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    sub = await bus.serve(nc, ROUTES_SUBJECT, on_request)
    try:
        await asyncio.Future()  # until cancelled with the app
    finally:
        try:
            await sub.unsubscribe()
        except Exception:  # noqa: BLE001 - NATS may already be closing
            pass

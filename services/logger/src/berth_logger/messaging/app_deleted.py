"""berth.app.deleted.v1: a deleted app's lines and drains go with it."""
from __future__ import annotations

import logging

import asyncpg

from berth_common import bus
from berth_common import events as ev

from ..adapters.drain_store import delete_app_drains
from ..adapters.store import delete_app_lines

log = logging.getLogger(__name__)


async def on_app_deleted(conn: asyncpg.Connection, env: ev.Envelope, data: ev.EventData) -> None:
    removed = await delete_app_lines(conn, data.app)
    await delete_app_drains(conn, data.app)
    log.info("app %s deleted: removed %d log lines and its drains", data.app, removed)


SUBSCRIPTIONS = [
    bus.Subscription(name="app-deleted", event_type=ev.AppDeleted.type, handler=on_app_deleted),
]

"""Wiring of the api service: pool, bus, routes, consumers, relay."""
from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from berth_common import service

from .adapters import queries as q
from .config import Settings
from .domain.tokens import hash_token, new_token
from .http import middleware
from .http.routes import setup_routes
from .http.views import SETTINGS
from .messaging import webhook_dispatch
from .messaging.handlers import SUBSCRIPTIONS

log = logging.getLogger("berth.api")


async def ensure_admin(pool, settings: Settings) -> None:
    """On first start, create the admin user and its token. A token from BERTH_ADMIN_TOKEN is
    used as given; otherwise one is generated and shown once, here, in the log."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE users IN EXCLUSIVE MODE")
        if await conn.fetchval(q.COUNT_USERS):
            return
        token = settings.admin_token or new_token()
        user_id = q.new_id()
        await conn.execute(q.INSERT_USER, user_id, "admin@berth.local", True)
        await conn.execute(q.INSERT_TOKEN, q.new_id(), user_id, hash_token(token), "first admin token")
    if not settings.admin_token:
        log.warning("created the admin user; its token (shown once): %s", token)
    else:
        log.info("created the admin user with the token from BERTH_ADMIN_TOKEN")


def init_app(settings: Settings) -> web.Application:
    app = service.base_app(settings.common, schema="api", migrations_dir=Path(__file__).parent / "migrations",
                           middlewares=[middleware.errors, middleware.auth])
    app[SETTINGS] = settings

    async def admin_ctx(app: web.Application):
        await ensure_admin(app[service.POOL], settings)
        yield

    app.cleanup_ctx.append(admin_ctx)
    app[webhook_dispatch.GUARD] = webhook_dispatch.make_guard(settings)
    # The api owns webhooks: it records a delivery for every event of every producer that a
    # subscription includes, and sends them from the table.
    subs = SUBSCRIPTIONS + webhook_dispatch.subscriptions(settings.webhook_retry_hours)
    service.background(app, service.relay, service.subscriptions("api", subs),
                       webhook_dispatch.delivery_worker(settings))
    setup_routes(app)
    return app


def main() -> None:
    settings = Settings.from_env()
    service.run(init_app(settings), settings.common)

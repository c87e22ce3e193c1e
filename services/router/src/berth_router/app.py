"""Wiring of the router service: Postgres (its `router` schema), NATS, the event consumers
that keep the routes tables, the HAProxy data plane supervised and converged to those
tables, the access-log listener, and the `berth.router.routes` query for the scheduler."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from berth_common import service
from berth_common.settings import CommonSettings

from .adapters.access_log_listener import AccessLogListener
from .config import RouterSettings
from .dataplane import DataPlane
from .domain.first_requests import FirstRequests
from .messaging import handlers
from .messaging.routes_query import serve_routes_queries

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

ROUTER_SETTINGS = web.AppKey("router_settings", RouterSettings)
DATAPLANE = web.AppKey("dataplane", DataPlane)
ACCESS_LOG = web.AppKey("access_log", AccessLogListener)
FIRST_REQUESTS = web.AppKey("first_requests", FirstRequests)


async def access_log_ctx(app: web.Application):
    # before the data plane: HAProxy's configuration names this listener's address
    listener = AccessLogListener(app[service.JS], first_requests=app[FIRST_REQUESTS])
    await listener.start()
    app[ACCESS_LOG] = listener
    yield
    await listener.stop()


async def run_dataplane(app: web.Application) -> None:
    await app[DATAPLANE].run(app[service.POOL], app[ACCESS_LOG].address)


async def routes_queries(app: web.Application) -> None:
    await serve_routes_queries(app[service.NC], app[DATAPLANE].live_servers)


def create_app(common: CommonSettings, settings: RouterSettings) -> web.Application:
    app = service.base_app(common, schema="router", migrations_dir=MIGRATIONS_DIR)
    app[ROUTER_SETTINGS] = settings
    wake = asyncio.Event()
    app[DATAPLANE] = DataPlane(settings, wake)
    app[FIRST_REQUESTS] = FirstRequests()
    app.cleanup_ctx.append(access_log_ctx)
    service.background(
        app,
        service.relay,
        service.subscriptions("router", handlers.subscriptions(wake.set, app[FIRST_REQUESTS])),
        run_dataplane,
        routes_queries,
    )
    return app


def main() -> None:
    common = CommonSettings.from_env("router", default_health_port=5003)
    service.run(create_app(common, RouterSettings.from_env()), common)

"""Wiring: the logger's application — pool and NATS from base_app, the line store, the
logs-stream consumer, container log collection, queries, retention and app.deleted."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web

from berth_common import service
from berth_common.egress import AllowList, Guard, platform_addresses
from berth_common.labels import platform_filters

from .adapters.docker_logs import ContainerLogCollector
from .adapters.drain_senders import DrainSenders
from .adapters.store import LineStore
from .config import LoggerSettings
from .drains import Forwarder
from .domain.lines import NewLine
from .messaging.app_deleted import SUBSCRIPTIONS
from .messaging.drains import serve_drain_requests
from .messaging.log_stream import consume_log_stream
from .messaging.query import serve_queries
from .messaging.tail import publish_tail

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

LOGGER_SETTINGS = web.AppKey("logger_settings", LoggerSettings)
STORE = web.AppKey("store", LineStore)
COLLECTOR = web.AppKey("collector", ContainerLogCollector)
FORWARDER = web.AppKey("forwarder", Forwarder)


async def store_lines(app: web.Application, lines: list[NewLine]) -> None:
    """The one way lines are stored: insert (duplicates dropped), then tail the new rows."""
    rows = await app[STORE].insert(lines)
    await publish_tail(app[service.NC], rows)


async def store_context(app: web.Application):
    app[STORE] = LineStore(app[service.POOL])
    guard = Guard(AllowList.parse(app[LOGGER_SETTINGS].drain_allow_hosts, "BERTH_LOG_DRAIN_ALLOW_HOSTS"),
                  platform_addresses())
    senders = DrainSenders(guard)
    app[FORWARDER] = Forwarder(app[service.POOL], senders)
    subs = [await serve_queries(app[service.NC], app[STORE]),
            await serve_drain_requests(app[service.NC], app[service.POOL], senders, app[FORWARDER].changed.set)]
    yield
    for sub in subs:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def drain_forwarder(app: web.Application) -> None:
    await app[FORWARDER].run()


async def log_stream_consumer(app: web.Application) -> None:
    await consume_log_stream(app[service.JS], lambda lines: store_lines(app, lines),
                             batch=app[LOGGER_SETTINGS].batch)


async def retention_sweep(app: web.Application) -> None:
    settings = app[LOGGER_SETTINGS]
    while True:
        try:
            expired, excess = await app[STORE].apply_retention(settings.retention, datetime.now(timezone.utc))
            if expired or excess:
                log.info("retention removed %d expired and %d excess lines", expired, excess)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention sweep failed")
        await asyncio.sleep(settings.retention_interval_s)


def create_app(settings: LoggerSettings) -> web.Application:
    app = service.base_app(settings.common, schema="logger", migrations_dir=MIGRATIONS_DIR)
    app[LOGGER_SETTINGS] = settings
    app.cleanup_ctx.append(store_context)
    tasks = [log_stream_consumer, retention_sweep, drain_forwarder, service.subscriptions("logger", SUBSCRIPTIONS)]
    if settings.collect_docker:
        collector = ContainerLogCollector(
            sink=lambda lines: store_lines(app, lines),
            last_stored=lambda container: app[STORE].last_container_ns(container),
            labels=platform_filters(settings.common.platform_id),
        )
        app[COLLECTOR] = collector

        async def container_logs(app: web.Application) -> None:
            await collector.run()

        tasks.append(container_logs)
    service.background(app, *tasks)
    return app


def main() -> None:
    settings = LoggerSettings.from_env()
    service.run(create_app(settings), settings.common)

"""Wiring of the scheduler service: pool, bus, consumers, relay, reconciler, requests."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from berth_common import service

from .adapters.docker_runtime import DockerRuntime
from .config import Settings
from .messaging import requests
from .messaging.handlers import subscriptions
from .reconciler import Reconciler

RECONCILER = web.AppKey("reconciler", Reconciler)


def init_app(settings: Settings) -> web.Application:
    app = service.base_app(settings.common, schema="scheduler", migrations_dir=Path(__file__).parent / "migrations")

    async def reconciler_ctx(app: web.Application):
        runtime = DockerRuntime(memory=settings.memory, cpus=settings.cpus, pids=settings.pids,
                                network_peers=settings.network_peers, platform_id=settings.common.platform_id,
                                subnet_pool=settings.subnet_pool)
        app[RECONCILER] = Reconciler(settings, app[service.POOL], app[service.NC], runtime)
        yield

    app.cleanup_ctx.append(reconciler_ctx)

    async def reconcile_loop(app: web.Application) -> None:
        await app[RECONCILER].run()

    async def consumers(app: web.Application) -> None:
        await service.subscriptions("scheduler", subscriptions(app[RECONCILER].wake))(app)

    async def answer_requests(app: web.Application) -> None:
        await requests.serve(app[RECONCILER])

    service.background(app, service.relay, consumers, reconcile_loop, answer_requests)
    return app


def main() -> None:
    settings = Settings.from_env()
    service.run(init_app(settings), settings.common)

"""Wiring: the common service shape (migrations, pool, NATS, /healthz) plus the outbox
relay, the build.requested consumer and the build worker, for the app's lifetime."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from berth_common import service
from berth_common.settings import CommonSettings

from . import config
from .adapters.docker_engine import DockerEngine
from .config import BuilderSettings
from .messaging import build_requested
from .worker import BuildWorker

BUILDER_SETTINGS = web.AppKey("builder_settings", BuilderSettings)
DOCKER = web.AppKey("docker", DockerEngine)
WORKER = web.AppKey("worker", BuildWorker)

MIGRATIONS = Path(__file__).parent / "migrations"


def init_app(common: CommonSettings, settings: BuilderSettings, docker_engine: DockerEngine | None = None) -> web.Application:
    app = service.base_app(common, schema="builder", migrations_dir=MIGRATIONS)
    app[BUILDER_SETTINGS] = settings
    app[DOCKER] = docker_engine or DockerEngine()

    async def docker_context(app: web.Application):
        yield
        app[DOCKER].close()

    app.cleanup_ctx.append(docker_context)

    async def worker(app: web.Application) -> None:
        await app[WORKER].run()

    # The worker exists before the consumer starts, so a consumer's wake-up always has a
    # worker to reach; the worker looks at the queue at start anyway.
    async def make_worker(app: web.Application):
        app[WORKER] = BuildWorker(app[service.POOL], app[service.JS], app[DOCKER], settings)
        yield

    app.cleanup_ctx.append(make_worker)
    consumers = service.subscriptions("builder", [build_requested.subscription(lambda: app[WORKER].wake())])
    service.background(app, service.relay, consumers, worker)
    return app


def main() -> None:
    common, settings = config.load()
    service.run(init_app(common, settings), common)

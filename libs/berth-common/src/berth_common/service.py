"""The shape every service shares: an aiohttp application with `/healthz`, resources opened
and closed in `cleanup_ctx` (Postgres pool after migrations, NATS, background tasks), HTTP
spans, and a clean stop on SIGTERM (aiohttp's run_app: cleanup contexts run in reverse)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Awaitable, Callable

import asyncpg
from aiohttp import web
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from opentelemetry import trace

from . import bus, db
from .settings import CommonSettings
from .tasks import cancel_all
from .telemetry import context_from_traceparent, setup_tracing, trace_id_hex, tracer

SETTINGS = web.AppKey("settings", CommonSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
NC = web.AppKey("nc", NATS)
JS = web.AppKey("js", JetStreamContext)


class TraceIdFilter(logging.Filter):
    """Adds ` trace_id=<id>` to a log line written while a span is active, so a line can be
    found from the X-Trace-Id of a response or a trace in the viewer, and the other way round."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace_id = trace_id_hex()
        record.trace_suffix = f" trace_id={trace_id}" if trace_id else ""
        return True


def setup_logging(service: str) -> None:
    logging.basicConfig(
        level=os.environ.get("BERTH_LOG_LEVEL", "INFO"), stream=sys.stderr,
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s%(trace_suffix)s",
    )
    # On the handlers, not a logger: a logger's filters miss records propagated from children.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, TraceIdFilter) for f in handler.filters):
            handler.addFilter(TraceIdFilter())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


@web.middleware
async def tracing_middleware(request: web.Request, handler):
    ctx = context_from_traceparent(request.headers.get("traceparent"))
    name = f"{request.method} {request.match_info.route.resource.canonical if request.match_info.route.resource else request.path}"
    with tracer().start_as_current_span(name, context=ctx, kind=trace.SpanKind.SERVER,
                                        attributes={"http.request.method": request.method, "url.path": request.path}) as span:
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            span.set_attribute("http.response.status_code", e.status)
            e.headers["X-Trace-Id"] = trace_id_hex() or ""
            raise
        span.set_attribute("http.response.status_code", resp.status)
        if not resp.prepared:
            resp.headers["X-Trace-Id"] = trace_id_hex() or ""
        return resp


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    checks = {}
    if POOL in app:
        try:
            await app[POOL].fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as e:  # noqa: BLE001 - reported, not raised
            checks["postgres"] = f"error: {e}"
    if NC in app:
        checks["nats"] = "ok" if app[NC].is_connected else "disconnected"
    ok = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)


def base_app(settings: CommonSettings, schema: str, migrations_dir: Path, middlewares=()) -> web.Application:
    setup_logging(settings.service)
    setup_tracing(settings.service, settings.traces_file)
    app = web.Application(middlewares=[tracing_middleware, *middlewares], client_max_size=1024**3)
    app[SETTINGS] = settings
    app.router.add_get("/healthz", healthz)

    async def pg_context(app: web.Application):
        await db.migrate(settings.database_url, schema, migrations_dir)
        app[POOL] = await db.create_pool(settings.database_url, schema)
        yield
        await app[POOL].close()

    async def nats_context(app: web.Application):
        nc = await bus.connect(settings.nats_url, settings.service)
        app[NC] = nc
        app[JS] = nc.jetstream()
        yield
        with contextlib.suppress(Exception):
            await nc.drain()

    app.cleanup_ctx.append(pg_context)
    app.cleanup_ctx.append(nats_context)
    return app


def background(app: web.Application, *factories: Callable[[web.Application], Awaitable[None]]) -> None:
    """Run long-lived tasks (consumers, relay, reconcilers) for the app's lifetime; on
    shutdown they are cancelled and awaited before NATS and the pool close.

    A task that stops by itself leaves the service half-working (healthy, but deaf to its
    events), so it stops the whole service instead, cleanly (SIGTERM to itself), for its
    supervisor (`berth up`, the compose restart policy) to start it afresh."""

    async def ctx(app: web.Application):
        log = logging.getLogger("berth.background")

        async def guard(factory):
            try:
                await factory(app)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s failed", getattr(factory, "__name__", factory))
                _stop_service()
                raise
            log.error("background task %s ended", getattr(factory, "__name__", factory))
            _stop_service()

        tasks = [asyncio.create_task(guard(f), name=getattr(f, "__name__", "task")) for f in factories]
        yield
        await cancel_all(tasks)

    app.cleanup_ctx.append(ctx)


_RUNNING_AS_SERVICE = False


def _stop_service() -> None:
    """In a service process (started by `run`), stop it cleanly so its supervisor restarts
    it; an app embedded elsewhere (tests) only logs."""
    if _RUNNING_AS_SERVICE:
        logging.getLogger("berth.background").error("stopping the service for its supervisor to restart it")
        os.kill(os.getpid(), signal.SIGTERM)


def relay(app: web.Application) -> Awaitable[None]:
    return bus.run_outbox_relay(app[POOL], app[JS])


def subscriptions(service: str, subs: list[bus.Subscription]):
    async def run_all(app: web.Application) -> None:
        await asyncio.gather(*(bus.run_subscription(service, app[POOL], app[JS], s) for s in subs))
    run_all.__name__ = f"{service}-consumers"
    return run_all


def run(app: web.Application, settings: CommonSettings) -> None:
    global _RUNNING_AS_SERVICE
    _RUNNING_AS_SERVICE = True
    web.run_app(app, host=settings.health_host, port=settings.health_port, print=None,
                shutdown_timeout=10, access_log=None)

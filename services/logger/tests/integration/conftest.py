"""Helpers for running the logger in-process against the session's NATS and Postgres."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid

import docker
import pytest
from aiohttp import web

from berth_cli.platform import free_port
from berth_common import bus
from berth_common.settings import CommonSettings
from berth_logger.app import COLLECTOR, create_app
from berth_logger.config import LoggerSettings
from berth_logger.domain.retention import Retention


PLATFORM_ID = "logger-tests"  # only containers labelled with it are ours (berth_common.labels)


def settings_for(nats_url: str, database_url: str, **kw) -> LoggerSettings:
    common = CommonSettings(service="logger", nats_url=nats_url, database_url=database_url,
                            health_port=free_port(), health_host="127.0.0.1", traces_file=None,
                            platform_id=PLATFORM_ID)
    return LoggerSettings(common=common, **{"retention": Retention(), **kw})


@contextlib.asynccontextmanager
async def running_logger(settings: LoggerSettings):
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.common.health_host, settings.common.health_port)
    await site.start()
    try:
        if COLLECTOR in app:
            await asyncio.wait_for(app[COLLECTOR].watching.wait(), 20)
        yield app
    finally:
        await runner.cleanup()


@pytest.fixture
def app_name() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
async def nc(nats_url, streams):
    conn = await bus.connect(nats_url, "logger-tests")
    yield conn
    await conn.close()


async def query(nc, **body) -> dict:
    msg = await nc.request("berth.logger.query", json.dumps(body).encode(), timeout=10)
    return json.loads(msg.data)


async def wait_for(check, timeout: float = 20, interval: float = 0.2):
    """Poll an async `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)


@pytest.fixture
async def docker_client():
    client = await asyncio.to_thread(docker.from_env)
    created = []
    client.created = created
    yield client
    for c in created:
        with contextlib.suppress(docker.errors.NotFound):
            await asyncio.to_thread(c.remove, force=True)
    await asyncio.to_thread(client.close)


async def run_container(client, app: str, script: str, process: str = "web", n: int = 1):
    labels = {"berth.platform": PLATFORM_ID, "berth.app": app, "berth.process": process, "berth.instance": f"{app}.{process}.{n}",
              "berth.release": "1"}
    c = await asyncio.to_thread(
        client.containers.run, "berth/python:bookworm", ["python3", "-u", "-c", script],
        labels=labels, detach=True, network_mode="none",
    )
    client.created.append(c)
    return c

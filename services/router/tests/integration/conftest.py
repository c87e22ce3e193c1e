"""A router started in-process (aiohttp AppRunner) against the session's NATS and Postgres,
with a real HAProxy on a free port, and tiny aiohttp upstreams standing in for app
instances."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from berth_cli.platform import free_port
from berth_common import events
from berth_common.settings import CommonSettings
from berth_router.app import DATAPLANE, create_app
from berth_router.config import RouterSettings, default_haproxy_binary

BASE_DOMAIN = "berth.test"


class Upstream:
    """An app instance: answers with its name and the request headers it saw."""

    def __init__(self, name: str):
        self.name = name
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def start(self) -> "Upstream":
        async def handle(request: web.Request) -> web.Response:
            if request.path == "/slow":
                await asyncio.sleep(1.5)
            return web.json_response({"name": self.name, "path": request.path_qs, "headers": dict(request.headers)})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    def endpoint(self) -> events.Endpoint:
        return events.Endpoint(instance=self.name, host="127.0.0.1", port=self.port)


class Router:
    def __init__(self, nats_url: str, database_url: str, data_dir: Path):
        self.settings = RouterSettings(
            http_port=free_port(), bind="127.0.0.1", base_domain=BASE_DOMAIN, data_dir=data_dir,
            haproxy_binary=default_haproxy_binary(), drain_seconds=3, converge_seconds=1,
        )
        self.common = CommonSettings(service="router", nats_url=nats_url, database_url=database_url,
                                     health_port=free_port(), health_host="127.0.0.1", traces_file=None)
        self.runner: web.AppRunner | None = None
        self.app: web.Application | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    @property
    def dataplane(self):
        return self.app[DATAPLANE]

    async def start(self) -> None:
        self.app = create_app(self.common, self.settings)
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.common.health_port).start()

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    def kill_leftovers(self) -> None:
        pid_file = self.settings.data_dir / "haproxy.pid"
        with contextlib.suppress(Exception):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


@pytest.fixture(scope="module")
async def router(nats_url, database_url, streams, tmp_path_factory):
    r = Router(nats_url, database_url, tmp_path_factory.mktemp("router"))
    await r.start()
    try:
        yield r
    finally:
        await r.stop()
        r.kill_leftovers()


@pytest.fixture(scope="module")
async def nc(nats_url):
    from berth_common import bus

    conn = await bus.connect(nats_url, "router-tests")
    yield conn
    await conn.close()


async def publish(js, data: events.EventData) -> None:
    env = events.envelope(data)
    ack = await js.publish(data.type, env.model_dump_json().encode(), headers={"Nats-Msg-Id": env.id})
    assert not ack.duplicate


async def get(url: str, host: str, path: str = "/", **kw) -> tuple[int, str, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.get(url + path, headers={"Host": host, **kw.pop("headers", {})}, **kw) as resp:
            body = await resp.text()
            return resp.status, body, dict(resp.headers)


async def eventually(check, timeout: float = 20, interval: float = 0.1):
    """Retry `check` (an async callable returning a truthy value or raising) until it passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            error = AssertionError(f"{check} stayed falsy")
        except (AssertionError, aiohttp.ClientError, OSError) as e:
            error = e
        if asyncio.get_running_loop().time() > deadline:
            raise error
        await asyncio.sleep(interval)


async def routes_query(nc, app: str) -> dict:
    msg = await nc.request("berth.router.routes", json.dumps({"app": app}).encode(), timeout=5)
    return json.loads(msg.data)
